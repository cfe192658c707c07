//! Test support: an isolated user environment for the built binary and real git, and a git
//! HTTP server (real `git http-backend` behind a small front that checks Basic credentials).
#![allow(dead_code, reason = "each test binary uses a different part of the support module")]
#![allow(clippy::unwrap_used, reason = "test support: a failed set-up step should fail the test at once")]
#![allow(unreachable_pub, reason = "shared by several test crates, each using part of it")]

pub mod devops;
pub mod entra;
pub mod git_server;
pub mod proxy;
pub mod scale;
mod server;
pub mod vssps;
pub mod world;

pub use server::Server;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_git-credential-azdo");

/// The text of every file in `dir` (none when there is no such directory), one a line.
pub fn files_text(dir: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(dir) else { return String::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files.iter().map(|p| std::fs::read_to_string(p).unwrap() + "\n").collect()
}

/// A throwaway home: HOME, XDG directories and git's global config all point into a temporary
/// directory, and the helper keeps secrets in its owner-only file (tests never touch the
/// developer's keyring). Dropping it stops the daemon it may have started.
pub struct TestEnv {
    pub root: tempfile::TempDir,
    extra_env: Vec<(String, OsString)>,
    bin: PathBuf,
}

impl TestEnv {
    pub fn new() -> Self {
        let root = tempfile::Builder::new().prefix("azdo").tempdir().expect("temp dir");
        for dir in ["home", "run", "data", "cache", "config"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(root.path().join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        std::fs::write(root.path().join("gitconfig"), "").unwrap();
        Self { root, extra_env: Vec::new(), bin: PathBuf::from(BIN) }
    }

    /// The helper binary that [`Self::helper`] and [`Self::git`] run: cargo's build of it
    /// unless a benchmark chose another.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    pub fn set_bin(&mut self, bin: PathBuf) {
        self.bin = bin;
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// The daemon's private runtime directory.
    pub fn runtime_dir(&self) -> PathBuf {
        self.path("run/git-credential-azdo")
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime_dir().join("daemon.sock")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("data/git-credential-azdo")
    }

    /// What the owner-only file store holds: the text of every secret's file, one a line.
    pub fn stored_secrets(&self) -> String {
        files_text(&self.state_dir().join("secrets"))
    }

    /// What is kept of the credentials git stored, without secrets: the text of every host's
    /// file, one a line.
    pub fn stored_credentials(&self) -> String {
        files_text(&self.state_dir().join("credentials"))
    }

    /// The file that keeps the credentials stored for `host` (https).
    pub fn host_file(&self, host: &str) -> PathBuf {
        let dir = self.state_dir().join("credentials");
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(&format!("\"host\": \"{host}\""))))
            .unwrap_or_else(|| panic!("no file in {} for {host}", dir.display()))
    }

    pub fn set_env(&mut self, key: &str, value: impl Into<OsString>) {
        self.extra_env.push((key.to_owned(), value.into()));
    }

    pub fn remove_env(&mut self, key: &str) {
        self.extra_env.retain(|(k, _)| k != key);
    }

    /// An executable shell script `name` in this environment's root, running `body`.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        path
    }

    /// A command `name` (a shell script running `body`) ahead of every other on the PATH of
    /// the commands this environment runs: a stub of a tool.
    pub fn stub_command(&mut self, name: &str, body: &str) -> PathBuf {
        let bin = self.path("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let stub = self.script(&format!("bin/{name}"), body);
        if !self.extra_env.iter().any(|(key, _)| key == "PATH") {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let paths = std::iter::once(bin).chain(std::env::split_paths(&path));
            self.set_env("PATH", std::env::join_paths(paths).unwrap());
        }
        stub
    }

    /// A command with this environment and nothing of the developer's git or helper settings.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("GIT_") || key.starts_with("XDG_") || key.ends_with("ASKPASS") {
                cmd.env_remove(&*key);
            }
        }
        cmd.env("HOME", self.path("home"))
            .env("XDG_RUNTIME_DIR", self.path("run"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.path("gitconfig"))
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CREDENTIAL_AZDO_STORE", "file")
            .env("GIT_CREDENTIAL_AZDO_IDLE_TIMEOUT", "120")
            .current_dir(self.path("home"));
        // Windows finds a user's folders by asking the system, not the XDG variables.
        #[cfg(windows)]
        cmd.env("GIT_CREDENTIAL_AZDO_RUNTIME_DIR", self.runtime_dir())
            .env("GIT_CREDENTIAL_AZDO_STATE_DIR", self.state_dir());
        for (key, value) in &self.extra_env {
            cmd.env(key, value);
        }
        cmd
    }

    /// Runs the helper binary with `args`, `stdin` as its input; waits at most 30 s.
    pub fn helper(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = self.command(&self.bin);
        cmd.args(args);
        run(cmd, stdin)
    }

    /// Runs real git with our helper as the only credential helper.
    pub fn git(&self, args: &[&str], stdin: &str) -> Output {
        run(self.git_command(args), stdin)
    }

    /// The command [`Self::git`] runs.
    pub fn git_command(&self, args: &[&str]) -> Command {
        let mut cmd = self.command("git");
        cmd.args(["-c", "credential.helper=", "-c"]).arg(format!("credential.helper={}", self.bin.display()));
        cmd.args(["-c", "credential.interactive=false"]).args(args);
        cmd
    }

    /// Runs real git with only the helpers the environment's git config names.
    pub fn git_as_configured(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = self.command("git");
        cmd.args(["-c", "credential.interactive=false"]).args(args);
        run(cmd, stdin)
    }

    /// An environment with `url`'s credential stored (`https://user:password@host`, as git's
    /// approve takes it), in-process: no daemon runs yet.
    pub fn with_credential(url: &str) -> Self {
        let mut env = Self::new();
        env.set_env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1");
        env.approve(url);
        env.remove_env("GIT_CREDENTIAL_AZDO_NO_DAEMON");
        assert_eq!(env.daemon_pid(), None, "stored in-process");
        env
    }

    /// `git credential fill` for `url`, as git runs the helper: everything git printed.
    pub fn git_fill(&self, url: &str) -> Output {
        self.git(&["credential", "fill"], &format!("url={url}\n\n"))
    }

    /// The (username, password) that `git credential fill` got for `url`. Fails the test, with
    /// all that git and the helper said, when git got none.
    pub fn fill(&self, url: &str) -> (String, String) {
        match self.filled(url) {
            Filled::Credential(username, password) => (username, password),
            other => panic!("expected a credential: {other}"),
        }
    }

    /// `git credential fill` for `url` gets nothing, and only because no helper had anything:
    /// git's own line saying it cannot prompt, nothing from the helper, which exited 0. A
    /// helper that failed, panicked or said why it had nothing fails the test, as does a
    /// credential.
    pub fn fill_nothing(&self, url: &str) {
        match self.filled(url) {
            Filled::Nothing => {}
            other => panic!("expected nothing, and no word from the helper: {other}"),
        }
    }

    /// `git credential fill` for `url` gets nothing, and the helper says why in one line (and
    /// fails, as it does when it has nothing to give for Azure DevOps): that line.
    pub fn fill_refused(&self, url: &str) -> String {
        match self.filled(url) {
            Filled::Refused(line) => line,
            other => panic!("expected nothing, and one line from the helper: {other}"),
        }
    }

    /// `git credential fill` for `url`, as git runs the helper: everything git printed, and for
    /// each helper git ran, its exit code and how long it ran, as git measured them (its trace2
    /// events): from starting the helper to its exit and the end of its output, without git's
    /// own start and end.
    pub fn git_fill_traced(&self, url: &str) -> (Output, Vec<(i64, Duration)>) {
        let events = tempfile::NamedTempFile::new_in(self.root.path()).unwrap();
        let mut cmd = self.git_command(&["credential", "fill"]);
        cmd.env("GIT_TRACE2_EVENT", events.path());
        let out = run(cmd, &format!("url={url}\n\n"));
        (out, helpers_run(&std::fs::read_to_string(events.path()).unwrap()))
    }

    /// What `git credential fill` got for `url`. A helper that git ran and that failed other
    /// than by refusing in one line (a panic, a signal, a failure without a word, more than a
    /// line) is [`Filled::Broken`]. The helpers' exit codes, which git ignores, come from git's
    /// own trace2 events.
    pub fn filled(&self, url: &str) -> Filled {
        let (out, helpers) = self.git_fill_traced(url);
        let exits: Vec<i64> = helpers.iter().map(|(code, _)| *code).collect();
        let (text, err) = (stdout(&out), stderr(&out));
        let ours = our_lines(&out);
        // What git says when no helper gave it a credential and it may not prompt.
        let git_gave_up = |line: &str| {
            line == "fatal: unable to get password from user"
                || (line.starts_with("fatal: could not read ") && line.ends_with(": terminal prompts disabled"))
        };
        let others: Vec<&str> = err.lines().filter(|l| !l.starts_with("git-credential-azdo:")).collect();
        let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).map(str::to_owned);
        match (out.status.code(), exits.as_slice(), ours.as_slice(), others.as_slice()) {
            (Some(0), [0], [], []) => match (field("username"), field("password")) {
                (Some(username), Some(password)) => Filled::Credential(username, password),
                _ => Filled::Broken(describe_fill(url, &out, &exits)),
            },
            (Some(128), [0], [], [fatal]) if text.is_empty() && git_gave_up(fatal) => Filled::Nothing,
            (Some(128), [1], [line], [fatal]) if text.is_empty() && git_gave_up(fatal) => Filled::Refused(line.clone()),
            _ => Filled::Broken(describe_fill(url, &out, &exits)),
        }
    }

    pub fn approve(&self, url: &str) {
        let out = self.git(&["credential", "approve"], &format!("url={url}\n\n"));
        assert_success(&out, "git credential approve");
    }

    pub fn reject(&self, url: &str) {
        let out = self.git(&["credential", "reject"], &format!("url={url}\n\n"));
        assert_success(&out, "git credential reject");
    }

    /// The pid of the daemon holding the lock, if one is alive.
    #[cfg(unix)]
    pub fn daemon_pid(&self) -> Option<u32> {
        self.last_daemon_pid().filter(|&pid| process_alive(pid))
    }

    /// The pid the last daemon wrote in its lock, whether it still runs or not.
    pub fn last_daemon_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.runtime_dir().join("daemon.lock")).ok()?;
        text.trim().parse().ok()
    }

    /// The pid of the daemon holding the lock, if one is alive, as it reports it: Windows lets
    /// nobody else read a file its holder locked.
    #[cfg(windows)]
    pub fn daemon_pid(&self) -> Option<u32> {
        if !self.daemon_running() {
            return None;
        }
        let out = self.helper(&["status", "--json"], "");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        report["daemon"]["pid"].as_u64().and_then(|pid| u32::try_from(pid).ok())
    }

    /// Whether a daemon holds the daemon lock: it does for as long as it lives, however it ends.
    pub fn daemon_running(&self) -> bool {
        let Ok(lock) = std::fs::File::open(self.runtime_dir().join("daemon.lock")) else { return false };
        matches!(lock.try_lock(), Err(std::fs::TryLockError::WouldBlock))
    }

    /// Processes running our daemon for this environment (Linux: read from /proc).
    #[cfg(target_os = "linux")]
    pub fn daemon_processes(&self) -> Vec<u32> {
        self.processes("daemon")
    }

    /// Processes running `git-credential-azdo {subcommand}` for this environment (Linux: read
    /// from /proc).
    #[cfg(target_os = "linux")]
    pub fn processes(&self, subcommand: &str) -> Vec<u32> {
        let marker = format!("XDG_RUNTIME_DIR={}", self.path("run").display());
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            if args.len() < 2 || !args[0].ends_with(b"git-credential-azdo") || args[1] != subcommand.as_bytes() {
                continue;
            }
            let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
            if environ.split(|&b| b == 0).any(|var| var == marker.as_bytes()) {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.daemon_pid() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        // No signals on Windows: the daemon is asked to stop.
        #[cfg(windows)]
        if self.daemon_running() {
            let _ = self.command(&self.bin).args(["daemon", "stop"]).output();
        }
    }
}

/// An HTTP client for a test's own requests to the fakes (on loopback, no proxy).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap()
}

/// The variable that, outside CI, lets a test this machine cannot run pass as skipped.
pub const ALLOW_SKIP: &str = "GIT_CREDENTIAL_AZDO_TEST_ALLOW_SKIP";

/// A test that this machine cannot run (it lacks a tool, a D-Bus session, or root) ends here:
/// it fails, saying why, because a test that did not run has not passed. Outside CI, with
/// `GIT_CREDENTIAL_AZDO_TEST_ALLOW_SKIP=1`, it passes instead and says `SKIPPED` on the
/// terminal (past the harness's capture, so it shows among the results). Under `CI` it always
/// fails: CI must provide everything (`.ci/run`).
pub fn skip(reason: &str) {
    let test = std::thread::current().name().unwrap_or("this test").to_owned();
    let ci = std::env::var_os("CI").is_some();
    if ci || std::env::var(ALLOW_SKIP).map_or(true, |v| v != "1") {
        let how = if ci {
            "CI must provide it (see .ci/run)".to_owned()
        } else {
            format!("run the tests as CI does (README, Development), or set {ALLOW_SKIP}=1 to let it pass as skipped")
        };
        panic!("{test} cannot run on this machine: {reason}; {how}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason} (passes only because {ALLOW_SKIP}=1)");
}

/// Waits until `condition` holds, failing the test after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(target_os = "linux")]
pub fn process_alive(pid: u32) -> bool {
    // A zombie has exited; only its table entry remains.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Elsewhere on Unix, a signal 0 finds the process (a zombie too: the daemons the tests start
/// are not their children, and init reaps them).
#[cfg(all(unix, not(target_os = "linux")))]
pub fn process_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else { return false };
    rustix::process::test_kill_process(pid).is_ok()
}

/// What `git credential fill` got: a credential, quietly; nothing, with only git's own line; or
/// nothing, with the helper's one line saying why.
#[derive(Debug, PartialEq, Eq)]
pub enum Filled {
    Credential(String, String),
    Nothing,
    Refused(String),
    /// Anything else: the helper broke (or git did). What git and the helper said.
    Broken(String),
}

impl std::fmt::Display for Filled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Credential(username, _) => write!(f, "a credential, of {username}"),
            Self::Nothing => write!(f, "nothing, and no word from the helper"),
            Self::Refused(line) => write!(f, "nothing, and the helper's line {line:?}"),
            Self::Broken(said) => write!(f, "the helper broke: {said}"),
        }
    }
}

fn describe_fill(url: &str, out: &Output, exits: &[i64]) -> String {
    format!(
        "git credential fill for {url}: {}, the helpers' exit codes {exits:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The exit code (128 + the signal for one killed by a signal) and run time of each process
/// that git ran, from git's trace2 event stream (`GIT_TRACE2_EVENT`); processes that git's
/// children ran are not counted.
fn helpers_run(events: &str) -> Vec<(i64, Duration)> {
    events
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|event| event["event"] == "child_exit" && event["sid"].as_str().is_some_and(|sid| !sid.contains('/')))
        .map(|event| (event["code"].as_i64().unwrap(), Duration::from_secs_f64(event["t_rel"].as_f64().unwrap())))
        .collect()
}

/// Runs `cmd` with `stdin`, killing it if it runs over 30 seconds: no test may hang.
pub fn run(mut cmd: Command, stdin: &str) -> Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let output = output_within(child, Duration::from_secs(30));
    writer.join().unwrap();
    output
}

/// Waits for `child` to exit and collects its output, killing it and failing the test if it
/// runs over `limit`.
pub fn output_within(child: std::process::Child, limit: Duration) -> Output {
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let overran = finished.recv_timeout(limit).is_err();
        if overran {
            #[cfg(unix)]
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            #[cfg(windows)]
            let _ = Command::new("taskkill").args(["/F", "/PID", &pid.to_string()]).status();
        }
        overran
    });
    let output = child.wait_with_output().expect("wait");
    let _ = done.send(());
    assert!(!watchdog.join().unwrap(), "the command ran over {limit:?} and was killed");
    output
}

/// Waits for `child` to exit, killing it and failing the test after `limit`.
pub fn wait_for_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the command ran over {limit:?} and was killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Our lines in the stderr of git (or of the helper), among whatever git printed.
pub fn our_lines(out: &Output) -> Vec<String> {
    stderr(out).lines().filter(|l| l.starts_with("git-credential-azdo:")).map(str::to_owned).collect()
}

/// The helper's stderr, checked to be exactly one line of ours.
pub fn our_only_line(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("git-credential-azdo: "), "{err}");
    err.trim_end().to_owned()
}

/// The helper answered nothing, and quietly (as when no store or account has anything for the
/// request): it exited 0 and printed nothing at all.
pub fn assert_answered_nothing(out: &Output, what: &str) {
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "{what}: expected no answer and silence, got {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The helper's `get` answered nothing and said why: it failed, printed nothing for git, and
/// one line of ours, which is returned.
pub fn refusal(out: &Output) -> String {
    assert!(
        !out.status.success() && out.stdout.is_empty(),
        "expected a refusal, got {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    our_only_line(out)
}

/// git got nothing from the helper, which said why: git failed, printed nothing on stdout, and
/// the helper one line among git's, which is returned.
pub fn refusal_through_git(out: &Output) -> String {
    let ours = our_lines(out);
    assert!(
        !out.status.success() && out.stdout.is_empty() && ours.len() == 1,
        "expected nothing, and one line from the helper; got {}:\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ours[0].clone()
}

/// Commits a new file in the clone at `dir` and pushes it, each git command run by `git` (given
/// `-C dir` and an author): the push's output.
pub fn commit_and_push(dir: &Path, git: impl Fn(&[&str]) -> Output) -> Output {
    let git = |args: &[&str]| {
        let mut full = vec!["-C", dir.to_str().unwrap(), "-c", "user.name=T", "-c", "user.email=t@example.com"];
        full.extend_from_slice(args);
        git(&full)
    };
    std::fs::write(dir.join("NEW"), "pushed\n").unwrap();
    assert_success(&git(&["add", "NEW"]), "git add");
    assert_success(&git(&["commit", "-q", "-m", "push me"]), "git commit");
    git(&["push", "-q", "origin", "main"])
}

/// Creates an empty bare repository `name` under `root` with one commit on `main`.
pub fn make_repo(env: &TestEnv, root: &Path, name: &str) {
    let work = env.path("seed");
    let git = |args: &[&str], dir: &Path| {
        let mut cmd = env.command("git");
        cmd.current_dir(dir).args(["-c", "user.name=Seed", "-c", "user.email=seed@example.com"]).args(args);
        let out = run(cmd, "");
        assert_success(&out, &format!("git {args:?}"));
    };
    std::fs::create_dir_all(&work).unwrap();
    git(&["init", "-q", "-b", "main"], &work);
    std::fs::write(work.join("README"), "hello\n").unwrap();
    git(&["add", "README"], &work);
    git(&["commit", "-q", "-m", "seed"], &work);
    let bare = root.join(name);
    git(&["clone", "-q", "--bare", work.to_str().unwrap(), bare.to_str().unwrap()], &work);
    std::fs::remove_dir_all(&work).unwrap();
}
