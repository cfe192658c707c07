//! The keyring backend against a real Secret Service (gnome-keyring on a private D-Bus session,
//! as `.ci/run` provides). Skipped only outside CI when no session bus is reachable.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, reason = "helpers of tests: a failed step should fail the test")]

mod support;

use std::process::Command;

use git_credential_azdo::secret::Secret;
use git_credential_azdo::store::{KEYRING_SERVICE, KeyringStore, SecretStore};
use support::{TestEnv, stdout};

fn secret_service_available() -> bool {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "CI must run the tests with a Secret Service (see .ci/run)");
    eprintln!("skipped: no D-Bus session bus; run under dbus-run-session with gnome-keyring");
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
    assert_eq!(env.fill(&format!("https://{host}")), Some(("alice".into(), "Keyring-only-secret".into())));

    let status = stdout(&env.helper(&["status"], ""));
    assert!(status.contains("store:   keyring") && status.contains("password in keyring"), "{status}");
    for entry in std::fs::read_dir(env.state_dir()).unwrap() {
        let text = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&text).contains("Keyring-only-secret"), "a secret reached a file");
    }
    let key = format!("git:https://alice@{host}/");
    assert!(secret_tool_search(&key).contains(&key));

    env.reject(&format!("https://alice:Keyring-only-secret@{host}"));
    assert_eq!(env.fill(&format!("https://{host}")), None);
    assert!(!secret_tool_search(&key).contains(&key), "erase removed the keyring item");
}
