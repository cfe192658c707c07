//! The Windows build end to end, driven as git drives it (git's credential protocol on the
//! helper's stdin and stdout): the daemon started on demand and reached over its named pipe,
//! one daemon however many helpers race to start it, a daemon of another version replaced,
//! `daemon stop`, a secret too large for one Credential Manager item, and the pipe's owner-only
//! descriptor. CI runs it under Wine (`.ci/cross`); see the README for what Wine does not model.
#![cfg(windows)]
#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use git_credential_azdo::ipc::{Hello, frame};
use interprocess::local_socket::traits::{Listener as _, Stream as _};
use interprocess::local_socket::{ListenerOptions, Name, Stream};
use support::{TestEnv, assert_success, stderr, stdout, wait_for};

const GET: &str = "protocol=https\nhost=example.com\n\n";
const STORE: &str = "protocol=https\nhost=example.com\nusername=alice\npassword=pw\n\n";
const ANSWER: &str = "username=alice\npassword=pw\n";
/// Processes start slowly under Wine: waits are generous, and bounded.
const SETTLE: Duration = Duration::from_secs(20);

/// An environment with one stored credential and no daemon running.
fn env_with_credential() -> TestEnv {
    let mut env = TestEnv::new();
    env.set_env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1");
    assert_quiet(&env.helper(&["store"], STORE), "store without a daemon");
    assert!(!env.daemon_running());
    env.remove_env("GIT_CREDENTIAL_AZDO_NO_DAEMON");
    env
}

fn assert_quiet(out: &std::process::Output, what: &str) {
    assert_success(out, what);
    assert_eq!(stderr(out), "", "{what}: nothing on stderr");
}

/// The name of the daemon's pipe in `env`, as the helper derives it.
fn pipe_name(env: &TestEnv) -> Name<'static> {
    let mut config = git_credential_azdo::config::Config::from_env().unwrap();
    config.runtime_dir = env.runtime_dir();
    config.socket = None;
    git_credential_azdo::ipc::socket_name(&config).unwrap()
}

#[test]
fn the_first_helper_starts_the_daemon_and_store_get_erase_go_over_its_pipe() {
    let env = TestEnv::new();
    assert!(!env.daemon_running());
    // git's `store` after a successful clone: it starts the daemon, which keeps the credential.
    let out = env.helper(&["store"], STORE);
    assert_quiet(&out, "store");
    assert_eq!(stdout(&out), "");
    assert!(env.daemon_running(), "the helper started a daemon");
    let pid = env.daemon_pid().expect("the daemon answers status");

    // Right away, as git does on its next command, and again: each helper exits cleanly.
    for _ in 0..10 {
        let out = env.helper(&["get"], GET);
        assert_quiet(&out, "get right after the store that started the daemon");
        assert_eq!(stdout(&out), ANSWER);
    }

    let out = env.helper(&["erase"], STORE);
    assert_quiet(&out, "erase");
    let out = env.helper(&["get"], GET);
    assert_quiet(&out, "get after erase");
    assert_eq!(stdout(&out), "", "erased");
    assert_eq!(env.daemon_pid(), Some(pid), "one daemon served them all");
}

#[test]
fn racing_helpers_start_exactly_one_daemon() {
    let mut env = env_with_credential();
    let log = env.path("helpers.log");
    env.set_env("GIT_CREDENTIAL_AZDO_LOG", "debug");
    env.set_env("GIT_CREDENTIAL_AZDO_LOG_FILE", &log);
    // Processes start slowly under Wine: all are started first, waiting for git's request, and
    // then all are given it at once.
    let mut helpers: Vec<_> = (0..8)
        .map(|_| {
            let mut cmd = env.command(env.bin());
            cmd.arg("get").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in &mut helpers {
        child.stdin.take().unwrap().write_all(GET.as_bytes()).unwrap();
    }
    for child in helpers {
        let out = child.wait_with_output().unwrap();
        assert_quiet(&out, "a racing get");
        assert_eq!(stdout(&out), ANSWER);
    }
    // Windows has no /proc: the processes tell. Every daemon a helper started either took the
    // lock ("daemon started") or found it taken and left.
    let count = |what: &str| std::fs::read_to_string(&log).unwrap_or_default().matches(what).count();
    wait_for("every daemon started to serve or leave", SETTLE, || {
        count("started the daemon") == count("daemon started") + count("another daemon holds")
    });
    assert!(count("started the daemon") >= 1, "{}", std::fs::read_to_string(&log).unwrap());
    assert_eq!(count("daemon started"), 1, "{}", std::fs::read_to_string(&log).unwrap());
    assert!(env.daemon_running());
}

#[test]
fn a_daemon_of_another_protocol_version_is_replaced() {
    let env = env_with_credential();
    // An "old" daemon: holds the lock and the pipe, speaks protocol 0, exits when asked.
    std::fs::create_dir_all(env.runtime_dir()).unwrap();
    let lock = std::fs::File::create(env.runtime_dir().join("daemon.lock")).unwrap();
    lock.lock().unwrap();
    // Named as the daemon, as a real one names itself: the helper talks only to that process.
    std::fs::write(env.runtime_dir().join("daemon.pid"), std::process::id().to_string()).unwrap();
    let listener = ListenerOptions::new().name(pipe_name(&env)).create_sync().unwrap();
    let old = std::thread::spawn(move || {
        let mut stream = listener.accept().unwrap();
        let hello: Hello = frame::read_sync(&mut stream).unwrap();
        let old_hello = Hello { protocol: 0, version: "0.0.1".into(), pid: 1, replace_on_mismatch: false };
        frame::write_sync(&mut stream, &old_hello).unwrap();
        // Exit as a real daemon would: pipe closed, lock released.
        drop(stream);
        drop(listener);
        drop(lock);
        hello
    });

    let out = env.helper(&["get"], GET);
    assert_quiet(&out, "get");
    assert_eq!(stdout(&out), ANSWER);
    let hello = old.join().unwrap();
    assert!(hello.replace_on_mismatch, "the helper asked the old daemon to make way");
    let status = env.helper(&["status", "--json"], "");
    assert!(stdout(&status).contains(&format!("\"protocol\": {}", git_credential_azdo::ipc::PROTOCOL_VERSION)));
    assert!(env.daemon_pid().is_some(), "a current daemon took over");
}

#[test]
fn daemon_stop_stops_the_daemon() {
    let env = env_with_credential();
    assert_eq!(stdout(&env.helper(&["get"], GET)), ANSWER);
    assert!(env.daemon_running());
    let out = env.helper(&["daemon", "stop"], "");
    assert_quiet(&out, "daemon stop");
    assert_eq!(stdout(&out), "the daemon is stopping\n");
    wait_for("the daemon to exit", SETTLE, || !env.daemon_running());
    assert_eq!(stdout(&env.helper(&["daemon", "stop"], "")), "no daemon is running\n");
    // The next helper starts a new one.
    assert_eq!(stdout(&env.helper(&["get"], GET)), ANSWER);
    assert!(env.daemon_running());
}

#[test]
fn a_secret_too_large_for_one_credential_manager_item_is_split_and_joined() {
    let mut env = TestEnv::new();
    env.set_env("GIT_CREDENTIAL_AZDO_STORE", "keyring");
    // Entra refresh tokens can exceed the 2,560 bytes one item holds.
    let password: String = (0..6000).map(|i| char::from(b'a' + u8::try_from(i % 26).unwrap())).collect();
    let host = format!("split-{}.example.com", std::process::id());
    let store = format!("protocol=https\nhost={host}\nusername=alice\npassword={password}\n\n");
    assert_quiet(&env.helper(&["store"], &store), "store");
    let out = env.helper(&["get"], &format!("protocol=https\nhost={host}\n\n"));
    assert_quiet(&out, "get");
    assert_eq!(stdout(&out), format!("username=alice\npassword={password}\n"));

    // In Credential Manager: the main item says how many parts follow, each within the limit.
    let key = format!("git:https://alice@{host}/");
    let item = |name: &str| keyring::Entry::new(git_credential_azdo::store::KEYRING_SERVICE, name).unwrap();
    let main = item(&key).get_secret().unwrap();
    assert_eq!(main, b"\0git-credential-azdo-chunks:3");
    let parts: Vec<Vec<u8>> = (1..=3).map(|i| item(&format!("{key}#{i}")).get_secret().unwrap()).collect();
    assert!(parts.iter().all(|part| part.len() <= 2560), "each part fits an item");
    let joined: serde_json::Value = serde_json::from_slice(&parts.concat()).unwrap();
    assert_eq!(joined["password"], password.as_str());
    assert!(matches!(item(&format!("{key}#4")).get_secret(), Err(keyring::Error::NoEntry)));

    assert_quiet(&env.helper(&["erase"], &store), "erase");
    for name in [key.clone(), format!("{key}#1"), format!("{key}#3")] {
        assert!(matches!(item(&name).get_secret(), Err(keyring::Error::NoEntry)), "{name} is gone");
    }
}

/// The daemon's pipe admits its owner. That it refuses everyone else is Windows's part: Wine
/// runs every process as one user and does not check a pipe's DACL when it is opened (a pipe
/// that grants only SYSTEM opens there too), so this is all of it that runs under Wine.
#[test]
fn the_daemons_pipe_descriptor_admits_its_owner() {
    use interprocess::local_socket::{GenericNamespaced, ToNsName};
    use interprocess::os::windows::local_socket::ListenerOptionsExt;
    use interprocess::os::windows::security_descriptor::SecurityDescriptor;
    let sddl = widestring::U16CString::from_str(git_credential_azdo::daemon::PIPE_SDDL).unwrap();
    let descriptor = SecurityDescriptor::deserialize(&sddl).unwrap();
    let name = || format!("owner-only-{}", std::process::id()).to_ns_name::<GenericNamespaced>().unwrap();
    let listener = ListenerOptions::new().name(name()).security_descriptor(descriptor).create_sync().unwrap();
    let server = std::thread::spawn(move || {
        let mut stream = listener.accept().unwrap();
        frame::write_sync(&mut stream, &Hello::ours(false)).unwrap();
    });
    let mut client = Stream::connect(name()).expect("the owner opens the pipe");
    let hello: Hello = frame::read_sync(&mut client).unwrap();
    assert_eq!(hello.pid, std::process::id());
    server.join().unwrap();
}
