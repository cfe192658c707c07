//! The keyring backend against a real Secret Service (gnome-keyring on a private D-Bus session,
//! as `.ci/run` provides). Skipped only outside CI when no session bus is reachable.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, reason = "helpers of tests: a failed step should fail the test")]

mod support;

use std::process::Command;

use git_credential_azdo::secret::Secret;
use git_credential_azdo::store::{KEYRING_SERVICE, KeyringStore, SecretStore};
use support::{TestEnv, assert_success, our_only_line, stderr, stdout};

fn secret_service_available() -> bool {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        return true;
    }
    support::skip("no D-Bus session bus; run under dbus-run-session with gnome-keyring");
    false
}

/// The attributes of our items in the Secret Service, as `secret-tool` reports them.
fn secret_tool_search(key: &str) -> String {
    let out = Command::new("secret-tool")
        .args(["search", "--all", "service", KEYRING_SERVICE, "username", key])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

#[test]
fn keyring_store_round_trips_small_and_large_secrets() {
    if !secret_service_available() {
        return;
    }
    let store = KeyringStore::platform().unwrap();
    let key = format!("git:https://test-{}@keyring.example/", std::process::id());
    for size in [6, 3_000, 1 << 20] {
        let value: String = (0..size).map(|i: usize| char::from(b'a' + u8::try_from(i % 26).unwrap())).collect();
        store.set(&key, &Secret::new(value.clone())).unwrap();
        assert_eq!(store.get(&key).unwrap().unwrap().expose(), value, "{size} bytes");
    }
    assert!(secret_tool_search(&key).contains(&key), "the item is filed under our service");
    store.delete(&key).unwrap();
    assert!(store.get(&key).unwrap().is_none());
    store.delete(&key).unwrap();
}

#[test]
fn git_credentials_live_in_the_keyring_and_never_in_a_file() {
    if !secret_service_available() {
        return;
    }
    let mut env = TestEnv::new();
    env.set_env("GIT_CREDENTIAL_AZDO_STORE", "keyring");
    env.set_env("DBUS_SESSION_BUS_ADDRESS", std::env::var_os("DBUS_SESSION_BUS_ADDRESS").unwrap());
    let host = format!("kr-{}.example.com", std::process::id());
    env.approve(&format!("https://alice:Keyring-only-secret@{host}"));
    assert_eq!(env.fill(&format!("https://{host}")), ("alice".into(), "Keyring-only-secret".into()));

    let status = stdout(&env.helper(&["status"], ""));
    assert!(status.contains("store:   keyring") && status.contains("password in keyring"), "{status}");
    for path in std::fs::read_dir(env.state_dir()).unwrap().map(|e| e.unwrap().path()) {
        let text = if path.is_dir() { support::files_text(&path) } else { std::fs::read_to_string(&path).unwrap() };
        assert!(!text.contains("Keyring-only-secret"), "a secret reached a file: {}", path.display());
    }
    assert!(env.stored_credentials().contains(&host), "what is kept is said in the host's file");
    let key = format!("git:https://alice@{host}/");
    assert!(secret_tool_search(&key).contains(&key));

    env.reject(&format!("https://alice:Keyring-only-secret@{host}"));
    env.fill_nothing(&format!("https://{host}"));
    assert!(!secret_tool_search(&key).contains(&key), "erase removed the keyring item");
}

/// A private session bus with no service activation: a Secret Service that stops stays gone.
struct PrivateBus {
    dir: tempfile::TempDir,
    address: String,
    bus: std::process::Child,
    keyring: Option<std::process::Child>,
}

impl PrivateBus {
    fn start() -> Option<Self> {
        let have = |tool: &str| Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
        if !have("dbus-daemon") || !have("gnome-keyring-daemon") {
            support::skip("needs dbus-daemon and gnome-keyring-daemon");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>session</type><listen>unix:path={}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/><allow own="*"/></policy>
</busconfig>"#,
                socket.display()
            ),
        )
        .unwrap();
        let bus = Command::new("dbus-daemon")
            .arg("--nofork")
            .arg(format!("--config-file={}", config.display()))
            // It warns that it cannot raise its descriptor limit in a container: harmless.
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        support::wait_for("the bus", std::time::Duration::from_secs(10), || socket.exists());
        let address = format!("unix:path={}", socket.display());
        let mut this = Self { dir, address, bus, keyring: None };
        this.start_keyring();
        Some(this)
    }

    /// Starts (again) an unlocked gnome-keyring with the same data.
    fn start_keyring(&mut self) {
        use std::io::Write;
        let mut keyring = Command::new("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("XDG_DATA_HOME", self.dir.path().join("data"))
            .env("XDG_RUNTIME_DIR", self.dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        keyring.stdin.take().unwrap().write_all(b"test-keyring-password").unwrap();
        self.keyring = Some(keyring);
        let address = self.address.clone();
        support::wait_for("the Secret Service", std::time::Duration::from_secs(10), || {
            Command::new("secret-tool")
                .args(["search", "service", "probe"])
                .env("DBUS_SESSION_BUS_ADDRESS", &address)
                .output()
                .is_ok_and(|o| o.status.success())
        });
    }

    fn stop_keyring(&mut self) {
        if let Some(mut keyring) = self.keyring.take() {
            keyring.kill().unwrap();
            keyring.wait().unwrap();
        }
    }
}

impl Drop for PrivateBus {
    fn drop(&mut self) {
        self.stop_keyring();
        let _ = self.bus.kill();
        let _ = self.bus.wait();
    }
}

#[test]
fn a_keyring_that_goes_away_while_the_daemon_runs_costs_one_clear_line_and_comes_back() {
    let Some(mut bus) = PrivateBus::start() else { return };
    let mut env = TestEnv::new();
    env.set_env("GIT_CREDENTIAL_AZDO_STORE", "keyring");
    env.set_env("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    env.approve("https://alice:kept-in-the-keyring@kr.example.com");
    let get = "protocol=https\nhost=kr.example.com\n\n";
    let answer = "username=alice\npassword=kept-in-the-keyring\n";
    assert_eq!(stdout(&env.helper(&["get"], get)), answer);
    let daemon = env.daemon_pid().unwrap();

    bus.stop_keyring();
    // The daemon still has the secret in memory: git is served.
    let out = env.helper(&["get"], get);
    assert_eq!((stdout(&out).as_str(), stderr(&out).as_str()), (answer, ""));
    // A new secret has nowhere to go: one line says so, and echoes nothing.
    let out = env.helper(&["store"], "protocol=https\nhost=other.example.com\nusername=bob\npassword=pb-new\n\n");
    let line = our_only_line(&out);
    assert!(line.contains("the keyring store failed to save a secret") && !line.contains("pb-new"), "{line}");
    assert_eq!(env.daemon_pid(), Some(daemon), "the daemon keeps serving");

    // A daemon started while the keyring is away cannot open it, and says so.
    assert_success(&env.helper(&["daemon", "stop"], ""), "daemon stop");
    support::wait_for("the daemon to stop", std::time::Duration::from_secs(10), || env.daemon_pid().is_none());
    let out = env.helper(&["get"], get);
    assert_eq!(stdout(&out), "");
    assert!(our_only_line(&out).contains("the keyring store is unavailable"), "{}", stderr(&out));

    // The keyring is back: so is everything in it, with no restart.
    bus.start_keyring();
    let out = env.helper(&["get"], get);
    assert_eq!((stdout(&out).as_str(), stderr(&out).as_str()), (answer, ""));
}

#[test]
fn a_stopped_keyring_does_not_hang_git() {
    let Some(bus) = PrivateBus::start() else { return };
    let mut env = TestEnv::new();
    env.set_env("GIT_CREDENTIAL_AZDO_STORE", "keyring");
    env.set_env("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    // A helper's deadline far beyond the keyring's 2 s: a keyring call bounded only by the
    // deadline would take far longer than the 10 s allowed below.
    env.set_env("GIT_CREDENTIAL_AZDO_TIMEOUT", "25");
    env.approve("https://alice:kept-in-the-keyring@kr.example.com");
    let get = "protocol=https\nhost=kr.example.com\n\n";
    let answer = "username=alice\npassword=kept-in-the-keyring\n";
    assert_eq!(stdout(&env.helper(&["get"], get)), answer);
    let keyring = bus.keyring.as_ref().unwrap().id();
    let signal = |signal: &str| {
        assert!(Command::new("kill").args([signal, &keyring.to_string()]).status().unwrap().success());
    };
    // The keyring's 2 s: every answer, or the line saying why there is none, comes long before
    // the helper's deadline.
    let timed = |args: &[&str], input: &str| {
        let started = std::time::Instant::now();
        let out = env.helper(args, input);
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{args:?} took {:?}", started.elapsed());
        out
    };

    // Stopped (SIGSTOP), its D-Bus calls are never answered.
    signal("-STOP");
    let out = timed(&["get"], get);
    assert_eq!((stdout(&out).as_str(), stderr(&out).as_str()), (answer, ""), "the daemon's memory serves");
    let out = timed(&["store"], "protocol=https\nhost=other.example.com\nusername=bob\npassword=pb-new\n\n");
    let line = our_only_line(&out);
    assert!(line.contains("the keyring store is unavailable: it did not answer within 2 s"), "{line}");
    // Without the daemon's memory: one line, not a hang, in the daemon and in-process.
    assert_success(&env.helper(&["daemon", "stop"], ""), "daemon stop");
    support::wait_for("the daemon to stop", std::time::Duration::from_secs(10), || env.daemon_pid().is_none());
    let out = timed(&["get"], get);
    assert_eq!(stdout(&out), "");
    assert!(our_only_line(&out).contains("did not answer within 2 s"), "{}", stderr(&out));

    signal("-CONT");
    let out = env.helper(&["get"], get);
    assert_eq!((stdout(&out).as_str(), stderr(&out).as_str()), (answer, ""));
}

#[test]
fn status_says_why_secrets_are_in_the_file_and_how_to_get_the_keyring() {
    let mut env = TestEnv::new();
    // The user's choice (the tests' environment chooses the file).
    let status = stdout(&env.helper(&["status"], ""));
    assert!(status.contains("store:   file"), "{status}");
    assert!(
        status.contains("because GIT_CREDENTIAL_AZDO_STORE=file chooses it; to use the keyring, unset it"),
        "{status}"
    );

    // No Secret Service to reach: said, by the daemon as by the in-process answer.
    env.set_env("GIT_CREDENTIAL_AZDO_STORE", "auto");
    env.set_env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", env.path("no-bus").display()));
    for daemon in [false, true] {
        if daemon {
            assert_success(&env.helper(&["get"], "protocol=https\nhost=example.com\n\n"), "get");
            support::wait_for("the daemon", std::time::Duration::from_secs(10), || env.daemon_pid().is_some());
        }
        let status = stdout(&env.helper(&["status"], ""));
        assert_eq!(status.contains("daemon:  running"), daemon, "{status}");
        assert!(status.contains("store:   file"), "{status}");
        assert!(status.contains("because a Secret Service (the desktop keyring) could not be reached: "), "{status}");
        assert!(status.contains("to use the keyring, run one in your session"), "{status}");
        assert!(!status.contains("chooses it"), "{status}");
        let json = stdout(&env.helper(&["status", "--json"], ""));
        assert!(json.contains("\"why\": \"no_keyring\""), "{json}");
    }
}

/// A keyring stopped for good while git keeps asking for secrets the daemon has not read yet:
/// the first call is given up after 2 s; the next ones do not wait on the keyring again, and
/// leave no thread each waiting on it for ever.
#[test]
#[cfg(target_os = "linux")]
fn a_stopped_keyring_is_not_waited_on_again_for_every_request() {
    let Some(bus) = PrivateBus::start() else { return };
    let mut env = TestEnv::new();
    env.set_env("GIT_CREDENTIAL_AZDO_STORE", "keyring");
    env.set_env("DBUS_SESSION_BUS_ADDRESS", &bus.address);
    let hosts: Vec<String> = (0..6).map(|n| format!("kr{n}.example.com")).collect();
    for host in &hosts {
        env.approve(&format!("https://alice:secret-{host}@{host}"));
    }
    // A daemon that has read none of them yet.
    assert_success(&env.helper(&["daemon", "stop"], ""), "daemon stop");
    support::wait_for("the daemon to stop", std::time::Duration::from_secs(10), || env.daemon_pid().is_none());
    assert_eq!(stdout(&env.helper(&["get"], "protocol=https\nhost=elsewhere.example.com\n\n")), "");
    let daemon = env.daemon_pid().expect("a daemon");
    let threads = || std::fs::read_dir(format!("/proc/{daemon}/task")).unwrap().count();
    let before = threads();

    let keyring = bus.keyring.as_ref().unwrap().id();
    assert!(Command::new("kill").args(["-STOP", &keyring.to_string()]).status().unwrap().success());
    for host in &hosts {
        let out = env.helper(&["get"], &format!("protocol=https\nhost={host}\n\n"));
        assert_eq!(stdout(&out), "", "{host}: the secret cannot be had");
    }
    let grown = threads().saturating_sub(before);
    assert!(grown <= 2, "{grown} more threads, of which all but the first call's wait on the keyring for ever");
    assert!(Command::new("kill").args(["-CONT", &keyring.to_string()]).status().unwrap().success());
    // Once it answers again, so does everything in it.
    support::wait_for("the keyring to serve again", std::time::Duration::from_secs(10), || {
        stdout(&env.helper(&["get"], "protocol=https\nhost=kr0.example.com\n\n")).contains("password=secret-kr0")
    });
}
