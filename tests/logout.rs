//! `logout`: an account, a PAT, or everything goes, secrets included, and the running daemon
//! stops answering with what it had cached.

// The sign-in's "browser" (support::world::test_browser) and other stand-ins are shell scripts:
// Unix only. The Windows build's end-to-end tests are in tests/windows.rs.
#![cfg(unix)]
#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use support::world::{CONTOSO_TENANT, FABRIKAM_TENANT, World};
use support::{assert_success, stderr, stdout};

const ALICE: &str = "alice@contoso.com";

/// Alice signed in for contoso, a PAT for fabrikam, a password git stored for another host,
/// and a daemon that has served all three.
fn world() -> (World, String) {
    let w = World::new(&[(ALICE, CONTOSO_TENANT)], &[("contoso", CONTOSO_TENANT), ("fabrikam", FABRIKAM_TENANT)]);
    assert_success(&w.login(&["--org", "contoso"]), "login");
    let pat = w.pats.issue("fabrikam", "Bob", true);
    assert_success(&w.login_pat(&["--org", "fabrikam"], &pat), "login --pat");
    w.start_daemon();
    w.env.approve("https://bob:hunter2@example.com/repo");
    w.env.fill(&w.url("contoso")); // the daemon caches alice's token
    assert_eq!(w.env.fill(&w.url("fabrikam")), ("pat".into(), pat.clone()));
    (w, pat)
}

/// Every file in the state directory, as text.
fn state_files(w: &World) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(w.env.state_dir()).unwrap().flatten() {
        if entry.path().is_dir() {
            all.push_str(&support::files_text(&entry.path()));
        } else {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap_or_default()));
        }
    }
    all
}

#[test]
fn logout_of_an_account_deletes_its_refresh_token_and_the_daemon_stops_serving_it() {
    let (w, pat) = world();
    let refresh_token = w.entra.with(|s| s.latest_refresh_token()).unwrap();
    assert!(state_files(&w).contains(&refresh_token), "the file store holds it (tests use the file store)");

    let out = w.env.helper(&["logout", "--account", ALICE], "");
    assert_success(&out, "logout --account");
    assert_eq!(
        stdout(&out),
        format!("Signed out {ALICE}: its refresh token is deleted and its organizations unbound.\n")
    );
    assert_eq!(stderr(&out), "");
    assert!(!state_files(&w).contains(&refresh_token), "the refresh token is gone from the store");
    assert!(w.env.daemon_pid().is_some(), "the running daemon did it");
    // Its cached token is no longer served.
    let line = w.env.fill_refused(&w.url("contoso"));
    assert!(line.contains("no account is signed in for the Azure DevOps organization contoso"), "{line}");
    assert_eq!(w.env.fill(&w.url("fabrikam")), ("pat".into(), pat), "the PAT stays");

    let again = w.env.helper(&["logout", "--account", ALICE], "");
    assert!(!again.status.success());
    assert_eq!(
        stderr(&again),
        format!("git-credential-azdo: no signed-in account is named {ALICE}; see: git-credential-azdo accounts\n")
    );
}

#[test]
fn logout_of_a_pat_deletes_it_even_without_a_daemon() {
    let (w, pat) = world();
    assert_success(&w.env.helper(&["daemon", "stop"], ""), "daemon stop");
    support::wait_for("the daemon to exit", std::time::Duration::from_secs(10), || w.env.daemon_pid().is_none());

    let out = w.env.helper(&["logout", "--pat", "--org", "https://dev.azure.com/fabrikam"], "");
    assert_success(&out, "logout --pat");
    assert!(stdout(&out).starts_with("Removed the PAT for fabrikam."), "{}", stdout(&out));
    assert!(!state_files(&w).contains(&pat), "the PAT is gone from the store");
    // The only account is still offered as a guess; the PAT is not.
    let (_, token) = w.env.fill(&w.url("fabrikam"));
    assert_eq!(w.owner(&token).as_deref(), Some(ALICE));
    w.env.fill(&w.url("contoso")); // the account stays

    let none = w.env.helper(&["logout", "--pat", "--org", "fabrikam"], "");
    assert_eq!(stderr(&none), "git-credential-azdo: no PAT is kept for fabrikam; see: git-credential-azdo status\n");
}

#[test]
fn logout_all_removes_every_account_pat_and_stored_credential() {
    let (w, pat) = world();
    let secrets = w.entra.with(|s| s.issued_secrets());

    let out = w.env.helper(&["logout", "--all"], "");
    assert_success(&out, "logout --all");
    let text = stdout(&out);
    assert!(text.contains(&format!("Signed out {ALICE}")), "{text}");
    assert!(text.contains("Removed the PAT for fabrikam"), "{text}");
    assert!(text.contains("Removed 1 credential(s) git had stored."), "{text}");
    let files = state_files(&w);
    for secret in secrets.iter().chain([&pat, &"hunter2".to_owned()]) {
        assert!(!files.contains(secret.as_str()), "no secret is left in the state directory");
    }
    for organization in ["contoso", "fabrikam"] {
        let line = w.env.fill_refused(&w.url(organization));
        assert!(line.contains(&format!("no account is signed in for the Azure DevOps organization {organization}")));
    }
    w.env.fill_nothing("https://example.com/repo");

    let again = w.env.helper(&["logout", "--all"], "");
    assert_eq!(stdout(&again), "Nothing was kept; nothing to remove.\n");
}

#[test]
fn logout_says_what_it_needs() {
    let w = World::new(&[], &[]);
    let out = w.env.helper(&["logout"], "");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--account"), "{}", stderr(&out));
    let out = w.env.helper(&["logout", "--org", "contoso"], "");
    assert!(!out.status.success(), "--org alone would be ambiguous: --pat says it is the PAT");
}
