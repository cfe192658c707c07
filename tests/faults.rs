//! Faults of the machine under the helper: a corrupt, full or read-only state directory. Each
//! gets one clear line, and what was already stored is neither lost nor hidden.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, reason = "helpers of tests: a failed step should fail the test")]

mod support;

use std::process::Command;

use support::{TestEnv, assert_success, our_only_line, stderr, stdout};

const GET_OLD: &str = "protocol=https\nhost=old.example.com\n\n";
const OLD_ANSWER: &str = "username=alice\npassword=old-secret\n";
const STORE_NEW: &str = "protocol=https\nhost=new.example.com\nusername=bob\npassword=new-secret\n\n";
const GET_NEW: &str = "protocol=https\nhost=new.example.com\n\n";

/// An environment with one stored credential, and the daemon started by a get that read it.
fn env_with_credential() -> TestEnv {
    let env = TestEnv::with_credential("https://alice:old-secret@old.example.com");
    assert_eq!(stdout(&env.helper(&["get"], GET_OLD)), OLD_ANSWER);
    env
}

#[test]
fn a_corrupt_metadata_file_is_reported_once_kept_aside_and_the_rest_still_works() {
    let env = env_with_credential();
    env.approve("https://carol:other-secret@other.example.com");
    let metadata = env.host_file("old.example.com");
    let name = metadata.file_name().unwrap().to_string_lossy().into_owned();
    let corrupt = b"{\"version\":2,\"credentials\":[{\"host\":".to_vec();
    std::fs::write(&metadata, &corrupt).unwrap();

    // The daemon that holds the old file in memory notices the change on the next request.
    let out = env.helper(&["get"], GET_OLD);
    assert_eq!(stdout(&out), "");
    let line = our_only_line(&out);
    assert!(line.contains(&format!("{name} was corrupt")) && line.contains("it is kept as"), "{line}");
    let aside: Vec<_> = std::fs::read_dir(metadata.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(&format!("{name}.corrupt-")))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), corrupt, "kept byte for byte");
    assert!(line.contains(&*aside[0].to_string_lossy()), "the line says where: {line}");
    // Only that host's: the others are answered as before.
    assert_eq!(env.fill("https://other.example.com"), ("carol".into(), "other-secret".into()));

    // Then the rest works: new credentials are kept, and quietly.
    let out = env.helper(&["get"], GET_OLD);
    assert_eq!((stdout(&out).as_str(), stderr(&out).as_str()), ("", ""), "reported once");
    assert_success(&env.helper(&["store"], STORE_NEW), "store");
    assert_eq!(stdout(&env.helper(&["get"], GET_NEW)), "username=bob\npassword=new-secret\n");
}

/// A state file that is not a file: a FIFO (reading it waits for a writer that never comes)
/// or a link to a device that never ends (`/dev/zero`). The daemon and the helper would wait on
/// it, and git with them: it is set aside unread, one line says so, and the next request
/// starts afresh.
#[test]
fn a_state_file_that_is_not_a_regular_file_is_set_aside_unread() {
    let env = env_with_credential();
    let accounts = env.state_dir().join("accounts.json");
    assert!(Command::new("mkfifo").arg(&accounts).status().unwrap().success());
    let out = env.helper(&["get"], GET_OLD);
    let line = our_only_line(&out);
    assert!(line.contains("accounts.json was corrupt (it is not a regular file); it is kept as"), "{line}");
    assert_eq!(stdout(&env.helper(&["get"], GET_OLD)), OLD_ANSWER, "afresh: the rest still answers");

    // A host's file, linked to a device that never ends.
    let credentials = env.host_file("old.example.com");
    let name = credentials.file_name().unwrap().to_str().unwrap().to_owned();
    let kept = env.path("kept.json");
    std::fs::rename(&credentials, &kept).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &credentials).unwrap();
    let out = env.helper(&["get"], GET_OLD);
    let line = our_only_line(&out);
    assert!(line.contains(&format!("{name} was corrupt (it is a symbolic link); it is kept as")), "{line}");
    // The daemon still answers (it did not wait on the file), and the file put back serves.
    std::fs::rename(&kept, &credentials).unwrap();
    assert_eq!(stdout(&env.helper(&["get"], GET_OLD)), OLD_ANSWER);
    assert!(env.daemon_pid().is_some());
}

#[test]
fn a_full_state_directory_refuses_new_credentials_clearly_and_keeps_the_old_ones() {
    faulty_state_dir(
        "full",
        r#"mount -t tmpfs -o size=64k,mode=0700 tmpfs "$fresh"
           cp -a "$state/." "$fresh/"
           mount --bind "$fresh" "$state"
           cat /dev/zero > "$state/filler" 2>/dev/null || true"#,
        "No space left on device",
    );
}

#[test]
fn a_read_only_state_directory_refuses_new_credentials_clearly_and_keeps_the_old_ones() {
    faulty_state_dir(
        "read-only",
        r#"mount --bind "$state" "$state"
           mount -o remount,bind,ro "$state""#,
        "Read-only file system",
    );
}

/// Stores a credential and reads the old one back in a mount namespace where `setup` has made
/// the state directory faulty (`$state`; `$fresh` is an empty directory to mount on).
fn faulty_state_dir(fault: &str, setup: &str, cause: &str) {
    if !can_mount() {
        return;
    }
    let env = env_with_credential();
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = state_files(&env);
    let io = env.path("io");
    std::fs::create_dir(&io).unwrap();
    std::fs::write(io.join("store.in"), STORE_NEW).unwrap();
    std::fs::write(io.join("get-old.in"), GET_OLD).unwrap();
    std::fs::write(io.join("get-new.in"), GET_NEW).unwrap();
    let script = format!(
        r#"set -e
           state="$1"; bin="$2"; io="$3"; fresh="$(mktemp -d)"
           {setup}
           for step in store get-old get-new; do
             "$bin" ${{step%%-*}} < "$io/$step.in" > "$io/$step.out" 2> "$io/$step.err" && echo 0 > "$io/$step.rc" || echo $? > "$io/$step.rc"
           done"#
    );
    let mut cmd = env.command("unshare");
    // In-process: a daemon would outlive the namespace its state directory was faulty in.
    cmd.env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1").args(["--mount", "bash", "-c", &script, "bash"]);
    cmd.arg(env.state_dir()).arg(env.bin()).arg(&io);
    assert_success(&support::run(cmd, ""), fault);
    let read = |name: &str| std::fs::read_to_string(io.join(name)).unwrap();

    assert_ne!(read("store.rc").trim(), "0", "{fault}: the store failed");
    let err = read("store.err");
    assert_eq!(err.lines().count(), 1, "{fault}: one line: {err}");
    assert!(err.starts_with("git-credential-azdo: failed to ") && err.contains(cause), "{fault}: {err}");
    assert!(!err.contains("new-secret"), "{fault}: {err}");
    assert_eq!(read("get-old.out"), OLD_ANSWER, "{fault}: the old credential is still there");
    assert_eq!(read("get-old.err"), "", "{fault}");
    assert_eq!(read("get-new.out"), "", "{fault}: nothing half-stored answers");

    // Outside the namespace, the state directory is exactly as it was.
    assert_eq!(state_files(&env), before, "{fault}");
}

/// Every file under the state directory, with its content.
fn state_files(env: &TestEnv) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    fn walk(dir: &std::path::Path, files: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
        for path in std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()) {
            if path.is_dir() {
                walk(&path, files);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path, bytes));
            }
        }
    }
    let mut files = Vec::new();
    walk(&env.state_dir(), &mut files);
    files.sort();
    files
}

/// Whether this test may make mount namespaces: CI runs as root with util-linux's unshare.
fn can_mount() -> bool {
    let probe = Command::new("unshare").args(["--mount", "true"]).output();
    if probe.is_ok_and(|out| out.status.success()) {
        return true;
    }
    support::skip("needs root and unshare to make a mount namespace");
    false
}
