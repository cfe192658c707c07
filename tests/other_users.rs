//! Another local user standing in for the daemon: squatting the runtime directory the helper
//! falls back to in the temporary directory, or the path a forwarded socket is expected at.
//! Nothing of the victim's reaches them, and git still gets its answer.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use support::{TestEnv, assert_success, our_lines, stderr, stdout, wait_for};

/// The other user: nobody.
const OTHER: &str = "65534";

/// A daemon of another user's making: listens on `socket` (made in a new directory open to
/// everyone when `make_dir`), writes how many bytes each connection sent to `log`, and answers
/// every connection as a daemon would, with a password of its choosing.
const IMPOSTOR: &str = r#"
import json, os, socket, struct, sys
path, log, protocol, make_dir = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
if make_dir:
    os.mkdir(os.path.dirname(path))
    os.chmod(os.path.dirname(path), 0o777)
s = socket.socket(socket.AF_UNIX)
s.bind(path)
os.chmod(path, 0o777)
s.listen(16)
open(log, "w").close()
os.chmod(log, 0o666)
def frame(o):
    b = json.dumps(o).encode()
    return struct.pack(">I", len(b)) + b
while True:
    c, _ = s.accept()
    c.settimeout(2)
    got = b""
    try:
        while len(got) < 8:
            chunk = c.recv(65536)
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    with open(log, "a") as f:
        f.write("%d\n" % len(got))
    try:
        c.sendall(frame({"protocol": protocol, "version": "0", "pid": 1})
                  + frame({"type": "credential", "credential": {"username": "u", "password": "impostor-pw"}}))
    except OSError:
        pass
    c.close()
"#;

/// Whether this machine can act as a second user: root, util-linux's setpriv, Debian's python3
/// (readable by any user).
fn can_switch_user() -> bool {
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0);
    let setpriv = Command::new("setpriv").arg("--version").output().is_ok_and(|o| o.status.success());
    if root && setpriv && Path::new("/usr/bin/python3").exists() {
        return true;
    }
    support::skip("needs root, setpriv and /usr/bin/python3 to act as a second user");
    false
}

/// The impostor, run as the other user; returns once it listens.
struct Impostor {
    child: Child,
    log: PathBuf,
}

impl Impostor {
    fn start(socket: &Path, log: PathBuf, make_dir: bool) -> Self {
        let mut cmd = Command::new("setpriv");
        cmd.args([&format!("--reuid={OTHER}"), &format!("--regid={OTHER}"), "--clear-groups"]);
        cmd.args(["/usr/bin/python3", "-c", IMPOSTOR]).arg(socket).arg(&log);
        cmd.arg(git_credential_azdo::ipc::PROTOCOL_VERSION.to_string()).arg(if make_dir { "1" } else { "0" });
        let child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        wait_for("the impostor to listen", Duration::from_secs(10), || log.exists());
        Self { child, log }
    }

    /// The bytes each connection sent, in order.
    fn received(&self) -> Vec<usize> {
        std::fs::read_to_string(&self.log).unwrap().lines().map(|l| l.parse().unwrap()).collect()
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A victim's machine as in a container or CI: no `XDG_RUNTIME_DIR`, and a home whose cache
/// directory is too long for a socket path, so that the runtime directory falls back to
/// `$TMPDIR/git-credential-azdo-<uid>`. `$TMPDIR` is a directory like /tmp: open to all, sticky.
struct Victim {
    env: TestEnv,
    tmp: PathBuf,
}

impl Victim {
    fn new() -> Self {
        let mut env = TestEnv::new();
        std::fs::set_permissions(env.root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let tmp = env.path("tmp");
        std::fs::create_dir(&tmp).unwrap();
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let home = env.path(&format!("home/{}", "long-home-directory-name/".repeat(4)));
        std::fs::create_dir_all(&home).unwrap();
        env.set_env("HOME", &home);
        env.set_env("TMPDIR", &tmp);
        Self { env, tmp }
    }

    /// The runtime directory the helper falls back to.
    fn fallback_dir(&self) -> PathBuf {
        self.tmp.join(format!("git-credential-azdo-{}", rustix::process::geteuid().as_raw()))
    }

    /// Real git with the helper, in the victim's environment (no XDG directories but data).
    fn git(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = self.env.command("git");
        cmd.env_remove("XDG_RUNTIME_DIR").env_remove("XDG_CACHE_HOME");
        cmd.args(["-c", "credential.helper=", "-c"]).arg(format!("credential.helper={}", support::BIN));
        cmd.args(["-c", "credential.interactive=false"]).args(args);
        support::run(cmd, stdin)
    }

    fn approve(&self, url: &str) -> Output {
        self.git(&["credential", "approve"], &format!("url={url}\n\n"))
    }

    fn fill(&self, url: &str) -> Output {
        self.git(&["credential", "fill"], &format!("url={url}\n\n"))
    }

    /// The helper's `args`, in the victim's environment.
    fn helper(&self, args: &[&str]) -> Output {
        let mut cmd = self.env.command(support::BIN);
        cmd.env_remove("XDG_RUNTIME_DIR").env_remove("XDG_CACHE_HOME").args(args);
        support::run(cmd, "")
    }
}

/// The fallback to the temporary directory, with no other user about: git is answered quietly
/// through a daemon there, and `status` says where it is and why, so it is never a silent one.
#[test]
fn the_fallback_runtime_directory_serves_quietly_and_status_says_why() {
    let victim = Victim::new();
    let dir = victim.fallback_dir();
    let out = victim.approve("https://u:victim-secret@example.com");
    assert_success(&out, "git credential approve");
    assert_eq!(our_lines(&out), Vec::<String>::new());
    let out = victim.fill("https://example.com");
    assert!(stdout(&out).contains("password=victim-secret\n") && our_lines(&out).is_empty(), "{}", stderr(&out));
    assert!(dir.join("daemon.lock").exists(), "the daemon runs in {}", dir.display());

    let status = victim.helper(&["status"]);
    assert_success(&status, "status");
    let line = stdout(&status).lines().find(|l| l.starts_with("runtime: ")).map(str::to_owned);
    let line = line.unwrap_or_else(|| panic!("no runtime line: {}", stdout(&status)));
    assert!(line.starts_with(&format!("runtime: {} (in the temporary directory, as ", dir.display())), "{line}");
    assert!(
        line.contains("is too long a path for a socket") && line.contains("GIT_CREDENTIAL_AZDO_RUNTIME_DIR"),
        "{line}"
    );
    let _ = victim.helper(&["daemon", "stop"]);
}

/// git's answer and our one line about the socket.
fn answered_in_process(out: &Output, password: &str, about: &str) {
    assert_success(out, "git credential fill");
    assert!(stdout(out).contains(&format!("password={password}\n")), "{}", stdout(out));
    let ours = our_lines(out);
    assert_eq!(ours.len(), 1, "{}", stderr(out));
    assert!(ours[0].contains(about) && ours[0].ends_with("; answering without the daemon"), "{}", ours[0]);
}

#[test]
fn another_user_squatting_the_fallback_runtime_directory_gets_nothing() {
    if !can_switch_user() {
        return;
    }
    let victim = Victim::new();
    let dir = victim.fallback_dir();
    let impostor = Impostor::start(&dir.join("daemon.sock"), victim.tmp.join("impostor.log"), true);

    // The victim's store and get, as git runs them: the directory is not theirs, so the
    // daemon is not used at all, and the helper answers in-process from the victim's store.
    let out = victim.approve("https://u:victim-secret@example.com");
    let ours = our_lines(&out);
    assert_eq!(ours.len(), 1, "{}", stderr(&out));
    let why = format!("{} belongs to user {OTHER}, not to user 0", dir.display());
    assert!(ours[0].contains(&why), "{}", ours[0]);
    answered_in_process(&victim.fill("https://example.com"), "victim-secret", &why);

    assert_eq!(impostor.received(), Vec::<usize>::new(), "not one connection reached the other user");
    assert!(!dir.join("daemon.lock").exists(), "no daemon was started there");
    assert!(victim.env.stored_secrets().contains("victim-secret"), "stored in the victim's store");
}

#[test]
fn a_fallback_runtime_directory_open_to_others_is_not_used() {
    if !can_switch_user() {
        return;
    }
    // The victim's own directory, made open to everyone (by anyone's mistake): another user
    // may have put their socket in it.
    let victim = Victim::new();
    let dir = victim.fallback_dir();
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let impostor = Impostor::start(&dir.join("daemon.sock"), victim.tmp.join("impostor.log"), false);

    assert_eq!(our_lines(&victim.approve("https://u:victim-secret@example.com")).len(), 1);
    let why = format!("{} is writable by other users (mode 777)", dir.display());
    answered_in_process(&victim.fill("https://example.com"), "victim-secret", &why);
    assert_eq!(impostor.received(), Vec::<usize>::new());
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o777, "left as it was");
}

#[test]
fn another_user_listening_where_a_forwarded_socket_is_expected_gets_nothing() {
    if !can_switch_user() {
        return;
    }
    let mut victim = Victim::new();
    assert_success(&victim.approve("https://u:victim-secret@example.com"), "approve");
    // Before ssh binds the forwarded socket, another user listens at its path.
    let forwarded = victim.tmp.join("azdo.sock");
    let impostor = Impostor::start(&forwarded, victim.tmp.join("impostor.log"), false);
    victim.env.set_env("GIT_CREDENTIAL_AZDO_SOCKET", &forwarded);

    let why = format!("{} is served by user {OTHER}, not by user 0", forwarded.display());
    answered_in_process(&victim.fill("https://example.com"), "victim-secret", &why);
    let out = victim.approve("https://u:second-secret@other.example.com");
    assert!(our_lines(&out).first().is_some_and(|line| line.contains(&why)), "{}", stderr(&out));
    // The helper connected (that is how it learns who listens) and sent nothing.
    let received = impostor.received();
    assert!(!received.is_empty() && received.iter().all(|&n| n == 0), "{received:?}");
    // The same with --socket on the helper's line.
    victim.env.remove_env("GIT_CREDENTIAL_AZDO_SOCKET");
    let helper = format!("{} --socket {}", support::BIN, forwarded.display());
    let mut cmd = victim.env.command("git");
    cmd.env_remove("XDG_RUNTIME_DIR").args(["-c", "credential.helper=", "-c", &format!("credential.helper={helper}")]);
    cmd.args(["credential", "fill"]);
    let out = support::run(cmd, "url=https://other.example.com\n\n");
    answered_in_process(&out, "second-secret", &why);
    assert!(impostor.received().iter().all(|&n| n == 0), "{:?}", impostor.received());
}

/// A directory another user could replace on the way to the runtime directory: a shared
/// `$TMPDIR` writable by all but not sticky (anyone may rename what is in it and put their
/// own in its place), or an `$XDG_RUNTIME_DIR` that is another user's. The helper makes
/// nothing there, says why in one line, and git gets its answer.
#[test]
fn a_runtime_directory_another_user_could_replace_is_not_used() {
    if !can_switch_user() {
        return;
    }
    let mut victim = Victim::new();
    std::fs::set_permissions(&victim.tmp, std::fs::Permissions::from_mode(0o777)).unwrap();
    let dir = victim.fallback_dir();
    let out = victim.approve("https://u:victim-secret@example.com");
    let why = format!(
        "{} could be replaced by another user: {} is writable by all users and not sticky (mode 777)",
        dir.display(),
        victim.tmp.display()
    );
    assert_eq!(our_lines(&out), [format!("git-credential-azdo: {why}; answering without the daemon")]);
    answered_in_process(&victim.fill("https://example.com"), "victim-secret", &why);
    assert!(!dir.exists(), "nothing was made there");

    // $XDG_RUNTIME_DIR set to a directory of another user's, which the victim may write in
    // (sticky, but its owner may still rename what is in it).
    let theirs = victim.env.path("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(OTHER.parse().unwrap()), Some(OTHER.parse().unwrap())).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o1777)).unwrap();
    victim.env.set_env("XDG_RUNTIME_DIR", &theirs);
    let mut cmd = victim.env.command("git");
    cmd.args(["-c", "credential.helper=", "-c"]).arg(format!("credential.helper={}", support::BIN));
    cmd.args(["credential", "fill"]);
    let out = support::run(cmd, "url=https://example.com\n\n");
    let why = format!(
        "{} could be replaced by another user: {} belongs to user {OTHER}",
        theirs.join("git-credential-azdo").display(),
        theirs.display()
    );
    answered_in_process(&out, "victim-secret", &why);
    assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0, "nothing was made there");
}

/// The state directory (secrets included) under a directory of another user's: nothing is
/// kept there, and the store says why in one line.
#[test]
fn a_state_directory_another_user_could_replace_is_not_used() {
    if !can_switch_user() {
        return;
    }
    let mut victim = Victim::new();
    let theirs = victim.env.path("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(OTHER.parse().unwrap()), Some(OTHER.parse().unwrap())).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o1777)).unwrap();
    victim.env.set_env("GIT_CREDENTIAL_AZDO_STATE_DIR", theirs.join("state"));
    let out = victim.approve("https://u:victim-secret@example.com");
    let ours = our_lines(&out);
    assert_eq!(ours.len(), 1, "{}", stderr(&out));
    let why = format!("{} belongs to user {OTHER}", theirs.display());
    assert!(ours[0].contains("could be replaced by another user") && ours[0].contains(&why), "{}", ours[0]);
    assert_eq!(std::fs::read_dir(&theirs).unwrap().count(), 0, "nothing was made there");
}

/// A log file another user made in the shared temporary directory for the victim to write
/// into, or a link there to a file of theirs: the victim's logs do not go to it, and one line
/// says so.
#[test]
fn a_log_file_another_user_made_or_linked_is_not_written_to() {
    if !can_switch_user() {
        return;
    }
    let mut victim = Victim::new();
    let theirs = victim.tmp.join("azdo.log");
    std::fs::write(&theirs, "").unwrap();
    std::os::unix::fs::chown(&theirs, Some(OTHER.parse().unwrap()), Some(OTHER.parse().unwrap())).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o666)).unwrap();
    let link = victim.tmp.join("link.log");
    std::os::unix::fs::symlink(&theirs, &link).unwrap();
    victim.env.set_env("GIT_CREDENTIAL_AZDO_LOG", "trace");
    for log in [&theirs, &link] {
        victim.env.set_env("GIT_CREDENTIAL_AZDO_LOG_FILE", log);
        let out = victim.approve("https://u:victim-secret@example.com");
        assert_success(&out, "git credential approve");
        let ours = our_lines(&out);
        assert!(ours.iter().any(|l| l.contains(&format!("not logging to {}", log.display()))), "{}", stderr(&out));
        assert_eq!(std::fs::read_to_string(&theirs).unwrap(), "", "nothing was written to their file");
    }
}
