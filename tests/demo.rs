//! The whole flow a user goes through, narrated: run it to watch git-credential-azdo work
//! without an Azure DevOps organization of your own.
//!
//! ```sh
//! cargo test --test demo -- --nocapture
//! ```
//!
//! Everything runs on 127.0.0.1 in a throwaway home directory: a fake Microsoft Entra ID, a fake
//! Azure DevOps (real `git http-backend` behind a front that checks credentials as Azure DevOps
//! does), real git, and the helper as built. It is also a test: every step is checked.

// The sign-in's "browser" (support::world::test_browser) and other stand-ins are shell scripts:
// Unix only. The Windows build's end-to-end tests are in tests/windows.rs.
#![cfg(unix)]
#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]
#![allow(clippy::print_stdout, reason = "the narration is the point; cargo test shows it with --nocapture")]

mod support;

use support::git_server::Auth;
use support::world::World;
use support::{assert_success, stdout};

fn say(text: &str) {
    println!("\n>> {text}");
}

fn show(output: &str) {
    for line in output.lines() {
        println!("   | {line}");
    }
}

#[test]
fn demo_sign_in_clone_and_push_against_local_fakes() {
    let w = World::alice_and_contoso();
    say(&format!(
        "A fake Entra ID listens on {} and a fake Azure DevOps on http://{}, with the repository {}.",
        w.entra.url(),
        w.devops.addr,
        w.url("contoso")
    ));
    say(&format!("A throwaway home directory stands in for yours: {}", w.env.path("home").display()));
    // Only what `install` writes configures git here.
    std::fs::write(w.env.path("gitconfig"), "").unwrap();

    say("git-credential-azdo install   (configures git to ask the helper for Azure DevOps)");
    let out = w.env.helper(&["install"], "");
    assert_success(&out, "install");
    show(&stdout(&out));
    show(&std::fs::read_to_string(w.env.path("gitconfig")).unwrap());

    say("git-credential-azdo login --org contoso   (a stand-in browser signs in as alice and consents)");
    let out = w.login(&["--org", "contoso"]);
    assert_success(&out, "login");
    show(&stdout(&out));
    assert!(stdout(&out).contains("Signed in as alice@contoso.com"));

    say("git clone, with no credential in sight: git asks the helper, which asks its daemon");
    let clone = w.env.path("repo");
    let out = w.env.git_as_configured(&["clone", &w.url("contoso"), clone.to_str().unwrap()], "");
    assert_success(&out, "git clone");
    show(&support::stderr(&out));

    say("git push of a new commit");
    std::fs::write(clone.join("hello.txt"), "hello from the demo\n").unwrap();
    let git = |args: &[&str]| {
        let mut full =
            vec!["-C", clone.to_str().unwrap(), "-c", "user.name=Alice", "-c", "user.email=alice@contoso.com"];
        full.extend_from_slice(args);
        w.env.git_as_configured(&full, "")
    };
    assert_success(&git(&["add", "hello.txt"]), "git add");
    assert_success(&git(&["commit", "-q", "-m", "Hello from the demo"]), "git commit");
    let out = git(&["push", "origin", "main"]);
    assert_success(&out, "git push");
    show(&support::stderr(&out));

    let log = w.devops.auth_log();
    assert!(log.contains(&Auth::Accepted("Bearer alice@contoso.com".into())), "{log:?}");
    let bearer = log.iter().filter(|a| **a == Auth::Accepted("Bearer alice@contoso.com".into())).count();
    say(&format!(
        "Azure DevOps accepted {bearer} requests with an Entra ID access token of alice@contoso.com, sent by git \
         as a Bearer token. The access token lived only in the daemon's memory and in git's; never on disk, in \
         a log, or on a command line."
    ));

    say("git-credential-azdo status");
    let out = w.env.helper(&["status"], "");
    assert_success(&out, "status");
    show(&stdout(&out));
    assert!(stdout(&out).contains("daemon:  running"));
    assert!(stdout(&out).ends_with("attention: nothing; all is well\n"));

    say("Done. Everything above ran on 127.0.0.1 and is gone when this test ends.");
}
