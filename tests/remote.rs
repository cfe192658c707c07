//! A remote environment (an SSH session, a container, WSL) using the host's daemon through a
//! forwarded socket: it authenticates with the host's accounts, without a sign-in or a daemon of
//! its own.

// The sign-in's "browser" (support::world::test_browser) and other stand-ins are shell scripts:
// Unix only. The Windows build's end-to-end tests are in tests/windows.rs.
#![cfg(unix)]
#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use support::world::World;
use support::{BIN, TestEnv, assert_success, stdout};

/// Forwards connections from `at` to the socket `to`, as `ssh -R at:to` does: each connection
/// is relayed byte for byte in both directions.
fn forward(at: &Path, to: PathBuf) {
    let listener = UnixListener::bind(at).unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(host) = UnixStream::connect(&to) else { continue };
            let (mut client_in, mut host_out) = (client.try_clone().unwrap(), host.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut client_in, &mut host_out);
                let _ = host_out.shutdown(std::net::Shutdown::Write);
            });
            let (mut host_in, mut client_out) = (host, client);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut host_in, &mut client_out);
                let _ = client_out.shutdown(std::net::Shutdown::Write);
            });
        }
    });
}

/// Another machine's user environment, reaching the same (fake) Azure DevOps, with nothing
/// signed in and no keyring.
fn remote(w: &World, socket: Option<&Path>) -> TestEnv {
    let mut env = TestEnv::new();
    env.set_env("AZURE_AUTHORITY_HOST", w.entra.url());
    env.set_env("GIT_CREDENTIAL_AZDO_DEVOPS_URL", format!("http://{}", w.devops.addr));
    if let Some(socket) = socket {
        env.set_env("GIT_CREDENTIAL_AZDO_SOCKET", socket);
    }
    std::fs::write(env.path("gitconfig"), format!("[credential \"http://{}\"]\n\tuseHttpPath = true\n", w.devops.addr))
        .unwrap();
    env
}

fn signed_in_host() -> World {
    let w = World::alice_and_contoso();
    assert_success(&w.login(&["--org", "contoso"]), "login on the host");
    w.start_daemon();
    w
}

#[test]
fn a_container_clones_through_the_hosts_forwarded_daemon_socket() {
    let w = signed_in_host();
    let forwarded = w.env.path("forwarded.sock");
    forward(&forwarded, w.env.socket());
    let container = remote(&w, Some(&forwarded));

    let target = container.path("clone");
    let out = container.git(&["clone", "-q", &w.url("contoso"), target.to_str().unwrap()], "");
    assert_success(&out, "git clone in the container");
    assert_eq!(support::stderr(&out), "", "nothing from us reaches the user");
    assert!(target.join("README").exists());
    let (user, token) = container.fill(&w.url("contoso"));
    assert_eq!(user, "alice@contoso.com");
    assert_eq!(w.owner(&token).as_deref(), Some("alice@contoso.com"), "the host's account answered");

    assert!(!container.state_dir().join("accounts.json").exists(), "no sign-in in the container");
    assert!(!container.runtime_dir().join("daemon.lock").exists(), "no daemon of its own");
    #[cfg(target_os = "linux")]
    assert!(container.processes("daemon").is_empty());
}

#[test]
fn the_socket_can_be_given_on_the_helper_line_instead() {
    let w = signed_in_host();
    let forwarded = w.env.path("forwarded.sock");
    forward(&forwarded, w.env.socket());
    let container = remote(&w, None);
    let helper = format!("credential.helper={BIN} --socket {}", forwarded.display());
    let out =
        container.git_as_configured(&["-c", &helper, "credential", "fill"], &format!("url={}\n\n", w.url("contoso")));
    assert_success(&out, "git credential fill");
    assert!(stdout(&out).contains("username=alice@contoso.com\n"), "{}", stdout(&out));
    #[cfg(target_os = "linux")]
    assert!(container.processes("daemon").is_empty());
}

#[test]
fn an_unreachable_forwarded_socket_answers_nothing_and_starts_no_daemon() {
    let w = signed_in_host();
    let container = remote(&w, Some(&w.env.path("nobody-listens.sock")));
    let out =
        container.helper(&["get"], &format!("protocol=http\nhost={}\npath=contoso/proj/_git/repo\n\n", w.devops.addr));
    // The container has no account of its own.
    let line = support::refusal(&out);
    assert!(line.contains("no account is signed in for the Azure DevOps organization contoso"), "{line}");
    assert!(!container.runtime_dir().join("daemon.lock").exists(), "no daemon was started");
    #[cfg(target_os = "linux")]
    assert!(container.processes("daemon").is_empty());
}
