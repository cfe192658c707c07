//! Stopped and killed processes: a lock held by a stopped process does not hang git, and what
//! a `kill -9` in the middle of a write leaves (temporary copies of the secrets file) is
//! removed by the next daemon and by `logout`.
//!
//! The processes are stopped exactly in the middle of a write by the debug build's test hook
//! (`GIT_CREDENTIAL_AZDO_TEST_STOP_WRITING`, see `fs::write_atomic`): no timing is guessed.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::{TestEnv, assert_success, our_lines, stderr, stdout, wait_for};

const STOP_WRITING: &str = "GIT_CREDENTIAL_AZDO_TEST_STOP_WRITING";
/// The helper's deadline (`GIT_CREDENTIAL_AZDO_TIMEOUT`'s default).
const DEADLINE: Duration = Duration::from_secs(10);

/// A credential for `host` as git approves it.
fn credential(host: &str, password: &str) -> String {
    format!("protocol=https\nhost={host}\nusername=u\npassword={password}\n\n")
}

/// Starts the helper's `store` of `input`, answered in-process, stopping itself when it writes
/// `file` (or a file in the directory `file`); returns once it has stopped there.
fn store_stopped_writing(env: &TestEnv, file: &str, input: &str) -> Child {
    stopped_writing(env, "store", file, input)
}

/// [`store_stopped_writing`] for any `action`.
fn stopped_writing(env: &TestEnv, action: &str, file: &str, input: &str) -> Child {
    let mut cmd = env.command(support::BIN);
    cmd.arg(action).env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1").env(STOP_WRITING, file);
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    wait_until_stopped(child.id(), file);
    child
}

/// Waits until process `pid` is stopped (state `T` in /proc).
fn wait_until_stopped(pid: u32, file: &str) {
    let stopped = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('T')))
    };
    // The hook exists in debug builds only, which `cargo test` makes.
    wait_for(&format!("the process to stop writing {file} (a debug build's test hook)"), DEADLINE, stopped);
}

/// Kills process `pid` (stopped, perhaps) when dropped, so that a failed test leaves nothing
/// behind.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", &self.0.to_string()]).status();
    }
}

fn signal(pid: u32, signal: &str) {
    assert!(Command::new("kill").args([signal, &pid.to_string()]).status().unwrap().success());
}

/// The temporary files in `dir` and the directories in it, with their content.
fn temporary_files(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()) {
        if entry.file_type().unwrap().is_dir() {
            found.extend(temporary_files(&entry.path()));
        } else if entry.file_name().to_string_lossy().starts_with(".tmp-") {
            found.push((
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(entry.path()).unwrap(),
            ));
        }
    }
    found.sort();
    found
}

/// Every file under `dir` that holds `secret`.
fn files_holding(dir: &Path, secret: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_holding(&path, secret));
        } else if std::fs::read(&path).unwrap().windows(secret.len()).any(|w| w == secret.as_bytes()) {
            found.push(path.display().to_string());
        }
    }
    found
}

/// Real git with the helper (in-process when `in_process`), which must end within the helper's
/// deadline: else git and the helper it runs (its process group) are killed, and the test fails
/// rather than hangs.
fn git_within(env: &TestEnv, args: &[&str], stdin: &str, in_process: bool) -> Output {
    use std::os::unix::process::CommandExt as _;
    let mut cmd = env.command("git");
    if in_process {
        cmd.env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1");
    }
    cmd.args(["-c", "credential.helper=", "-c"]).arg(format!("credential.helper={}", support::BIN)).args(args);
    cmd.process_group(0).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let group = child.id();
    let (done, output) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(child.wait_with_output()));
    if let Ok(out) = output.recv_timeout(DEADLINE) {
        return out.unwrap();
    }
    let _ = Command::new("kill").args(["-KILL", &format!("-{group}")]).status();
    panic!("git {args:?} ran past the helper's deadline ({:?}) and was killed", started.elapsed());
}

fn fill(env: &TestEnv, host: &str) -> Output {
    git_within(env, &["credential", "fill"], &format!("url=https://{host}\n\n"), false)
}

fn approve(env: &TestEnv, url: &str, in_process: bool) -> Output {
    git_within(env, &["credential", "approve"], &format!("url={url}\n\n"), in_process)
}

/// git's approve of a credential while a stopped process holds the lock: within the deadline,
/// one line naming the lock file and its holder; nothing stored is lost or changed.
fn approve_while_locked(env: &TestEnv, host: &str, lock: &str, holder: u32) {
    let out = approve(env, &format!("https://u:late@{host}"), false);
    let ours = our_lines(&out);
    assert_eq!(ours.len(), 1, "{}", stderr(&out));
    assert!(
        ours[0].contains(&format!("{lock} is held by another process (pid {holder}) for more than 2 s")),
        "{}",
        ours[0]
    );
}

#[test]
fn a_lock_held_by_a_stopped_process_does_not_hang_git() {
    let env = TestEnv::new();
    assert_success(&env.helper(&["store"], &credential("one.example.com", "pw-one")), "store");
    // A daemon runs, and a helper answering in-process stops in the middle of a store: while
    // writing the host's file it holds credentials.lock; while writing the secret's, both.
    assert_eq!(
        stdout(&fill(&env, "one.example.com")),
        "protocol=https\nhost=one.example.com\nusername=u\npassword=pw-one\n"
    );
    let daemon = env.daemon_pid().expect("a daemon runs");
    for (file, lock) in [("credentials", "credentials.lock"), ("secrets", "secrets.lock")] {
        let host = format!("{file}.example.com");
        let stopped = store_stopped_writing(&env, file, &credential(&host, "pw-stopped"));
        let holder = stopped.id();
        let _guard = KillOnDrop(holder);

        // Through the daemon, and in-process.
        approve_while_locked(&env, "late.example.com", "credentials.lock", holder);
        let out = approve(&env, "https://u:late@late.example.com", true);
        let ours = our_lines(&out);
        assert!(ours.len() == 1 && ours[0].contains("credentials.lock is held"), "{}", stderr(&out));
        // Reading takes no lock: git's fills are answered at once, by the daemon and in-process.
        let out = fill(&env, "one.example.com");
        assert!(stdout(&out).contains("password=pw-one\n"), "{}", stderr(&out));
        assert_eq!(stderr(&out), "", "{lock}");

        // The stopped process goes on: what it stored is there, and nothing else changed.
        signal(holder, "-CONT");
        let finished = support::output_within(stopped, Duration::from_secs(30));
        assert_success(&finished, "the stopped store, continued");
        assert!(stdout(&fill(&env, &host)).contains("password=pw-stopped\n"));
        assert!(stdout(&fill(&env, "one.example.com")).contains("password=pw-one\n"));
        env.fill_nothing("https://late.example.com"); // the approve that timed out stored nothing
        assert!(temporary_files(&env.state_dir()).is_empty(), "{lock}");
    }
    assert_eq!(env.daemon_pid(), Some(daemon));
}

#[test]
fn a_daemon_stopped_in_the_middle_of_a_store_does_not_hang_git() {
    let mut env = TestEnv::new();
    env.set_env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1");
    assert_success(&env.helper(&["store"], &credential("one.example.com", "pw-one")), "store");
    env.remove_env("GIT_CREDENTIAL_AZDO_NO_DAEMON");
    // A daemon that stops itself while writing the secrets file of a store, holding
    // credentials.lock and secrets.lock. It is this test's child: a stopped daemon whose parent
    // exits is continued by the kernel (an orphaned process group), as one started by a helper
    // would be.
    let mut cmd = env.command(support::BIN);
    cmd.arg("daemon").env(STOP_WRITING, "secrets").stdin(Stdio::null()).stdout(Stdio::null());
    let mut daemon = cmd.stderr(Stdio::null()).spawn().unwrap();
    wait_for("the daemon's socket", DEADLINE, || env.socket().exists());
    let pid = daemon.id();
    let _guard = KillOnDrop(pid);

    let out = approve(&env, "https://u:pw-two@two.example.com", false);
    wait_until_stopped(pid, "secrets");
    // The helper gave up on the stopped daemon, and on the lock it holds, in one line.
    let ours = our_lines(&out);
    assert_eq!(ours.len(), 1, "{}", stderr(&out));
    assert!(ours[0].contains(&format!("credentials.lock is held by another process (pid {pid})")), "{}", ours[0]);

    let out = fill(&env, "one.example.com");
    assert!(stdout(&out).contains("password=pw-one\n"), "answered in-process: {}", stderr(&out));
    approve_while_locked(&env, "late.example.com", "credentials.lock", pid);

    // The daemon goes on and finishes the store it had begun: nothing is lost.
    signal(pid, "-CONT");
    wait_for("the stored credential", DEADLINE, || {
        stdout(&fill(&env, "two.example.com")).contains("password=pw-two\n")
    });
    assert!(stdout(&fill(&env, "one.example.com")).contains("password=pw-one\n"));
    assert_eq!(env.daemon_pid(), Some(pid));
    signal(pid, "-TERM");
    assert!(support::wait_for_exit(&mut daemon, DEADLINE).success());
}

#[test]
fn a_kill_in_the_middle_of_a_write_leaves_no_secret_behind() {
    let env = TestEnv::new();
    assert_success(&env.helper(&["store"], &credential("one.example.com", "secret-one")), "store");
    assert_success(&env.helper(&["daemon", "stop"], ""), "daemon stop");
    wait_for("the daemon to exit", DEADLINE, || env.daemon_pid().is_none());

    // kill -9 while a secret's file is being written: the temporary file, with that secret in
    // it (and no other), stays behind.
    let killed = store_stopped_writing(&env, "secrets", &credential("two.example.com", "secret-two"));
    let leftovers = temporary_files(&env.state_dir());
    assert_eq!(leftovers.len(), 1, "{leftovers:?}");
    assert!(leftovers[0].1.contains("secret-two") && !leftovers[0].1.contains("secret-one"), "that secret only");
    signal(killed.id(), "-KILL");
    let _ = killed.wait_with_output();
    assert_eq!(temporary_files(&env.state_dir()).len(), 1, "kill -9 leaves it");

    // The next daemon removes it before it serves.
    let out = fill(&env, "one.example.com");
    assert!(stdout(&out).contains("password=secret-one\n") && stderr(&out).is_empty(), "{}", stderr(&out));
    assert!(env.daemon_pid().is_some(), "a daemon answered");
    assert_eq!(temporary_files(&env.state_dir()), Vec::<(String, String)>::new());
    env.fill_nothing("https://two.example.com"); // the killed store did not happen

    // Killed again, while the daemon runs, after the secret was written and before its host's
    // file was (the secret is left without a name), and a corrupt secret's file set aside with a
    // secret in it: `logout --all` leaves no secret anywhere in the state directory.
    assert_success(&env.helper(&["store"], &credential("three.example.com", "secret-three")), "store");
    let killed = store_stopped_writing(&env, "credentials", &credential("four.example.com", "secret-four"));
    signal(killed.id(), "-KILL");
    let _ = killed.wait_with_output();
    assert_eq!(temporary_files(&env.state_dir()).len(), 1);
    assert!(!files_holding(&env.state_dir(), "secret-four").is_empty());
    let three = files_holding(&env.state_dir().join("secrets"), "secret-three");
    assert_eq!(three.len(), 1, "{three:?}");
    let whole = std::fs::read_to_string(&three[0]).unwrap();
    std::fs::write(&three[0], format!("{}\"secret-five\"", &whole[..whole.len() / 2])).unwrap();
    // Read by a helper answering in-process (the daemon has the secret in memory).
    let mut cmd = env.command(support::BIN);
    cmd.arg("get").env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1");
    let out = support::run(cmd, "protocol=https\nhost=three.example.com\n\n");
    assert!(stderr(&out).contains("it is kept as"), "set aside: {}", stderr(&out));
    assert_success(&env.helper(&["store"], &credential("six.example.com", "secret-six")), "store");
    assert!(!files_holding(&env.state_dir(), "secret-five").is_empty());

    let out = env.helper(&["logout", "--all"], "");
    assert_success(&out, "logout --all");
    for secret in ["secret-one", "secret-two", "secret-three", "secret-four", "secret-five", "secret-six"] {
        assert_eq!(files_holding(&env.state_dir(), secret), Vec::<String>::new(), "{secret}");
    }
    assert_eq!(temporary_files(&env.state_dir()), Vec::<(String, String)>::new());
}

/// git's erase of one of a host's two credentials, killed while it writes the host's file: the
/// secret it erases is forgotten only once no file names it, so what is stored stays whole
/// (the erase did not happen) rather than an entry left without its secret.
#[test]
fn a_kill_in_the_middle_of_an_erase_leaves_the_credential_whole() {
    let env = TestEnv::new();
    let stored = |user: &str| format!("protocol=https\nhost=one.example.com\nusername={user}\npassword=pw-{user}\n\n");
    for user in ["alice", "bob"] {
        assert_success(&env.helper(&["store"], &stored(user)), "store");
    }
    assert_success(&env.helper(&["daemon", "stop"], ""), "daemon stop");
    wait_for("the daemon to exit", DEADLINE, || env.daemon_pid().is_none());

    let killed = stopped_writing(&env, "erase", "credentials", &stored("alice"));
    signal(killed.id(), "-KILL");
    let _ = killed.wait_with_output();

    let out = env.helper(&["get"], "protocol=https\nhost=one.example.com\nusername=alice\n\n");
    assert_eq!(stdout(&out), "username=alice\npassword=pw-alice\n", "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    let out = env.helper(&["get"], "protocol=https\nhost=one.example.com\nusername=bob\n\n");
    assert_eq!(stdout(&out), "username=bob\npassword=pw-bob\n", "{}", stderr(&out));
}

/// The state files as version 1 of this program left them: every host's credentials in
/// `credentials.json`, every secret in `secrets.json`.
fn write_version_1_state(env: &TestEnv, hosts: &[&str]) {
    let entries: Vec<String> = hosts
        .iter()
        .map(|host| {
            format!(
                r#"{{"protocol":"https","host":"{host}","username":"u","has_password":true,"has_credential":false,"has_refresh_token":false,"backend":"file","stored_at":1700000000}}"#
            )
        })
        .collect();
    let secrets: Vec<String> =
        hosts.iter().map(|host| format!(r#""git:https://u@{host}/":"{{\"password\":\"pw-{host}\"}}""#)).collect();
    let state = env.state_dir();
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("credentials.json"), format!(r#"{{"version":1,"credentials":[{}]}}"#, entries.join(",")))
        .unwrap();
    std::fs::write(state.join("secrets.json"), format!(r#"{{"version":1,"secrets":{{{}}}}}"#, secrets.join(",")))
        .unwrap();
}

#[test]
fn a_kill_in_the_middle_of_the_migration_to_a_file_per_host_loses_nothing() {
    let env = TestEnv::new();
    let hosts = ["one.example.com", "two.example.com", "three.example.com"];
    write_version_1_state(&env, &hosts);
    let get = "protocol=https\nhost=two.example.com\n\n";

    // kill -9 while the first host's file is written, then while the first secret's is.
    for (step, dir) in ["credentials", "secrets"].into_iter().enumerate() {
        let killed = stopped_writing(&env, "get", dir, get);
        signal(killed.id(), "-KILL");
        let _ = killed.wait_with_output();
        assert_eq!(temporary_files(&env.state_dir()).len(), step + 1, "{dir}");
        let legacy = std::fs::read_to_string(env.state_dir().join(format!("{dir}.json"))).unwrap();
        assert!(legacy.starts_with(r#"{"version":1,"#), "{dir}.json is as it was until its migration is done");
    }

    // The next process migrates again, and git gets every credential as before.
    for host in hosts {
        assert_eq!(env.fill(&format!("https://{host}")), ("u".into(), format!("pw-{host}")), "{host}");
    }
    for (name, stub) in
        [("credentials.json", r#"{"version":2,"credentials":[]}"#), ("secrets.json", r#"{"version":2,"secrets":{}}"#)]
    {
        assert_eq!(std::fs::read_to_string(env.state_dir().join(name)).unwrap(), stub, "{name}");
    }
    assert!(env.daemon_pid().is_some(), "the daemon answered, and removed what the kills left");
    assert_eq!(temporary_files(&env.state_dir()), Vec::<(String, String)>::new());
    for host in hosts {
        assert_eq!(files_holding(&env.state_dir(), &format!("pw-{host}")).len(), 1, "one copy of each secret");
    }
}
