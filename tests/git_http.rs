//! Real git over HTTP against `git http-backend` behind a Basic-auth front.

// git runs the helper named by support::TestEnv::git through its shell, which would take the
// backslashes of a Windows path for escapes: Unix only. The Windows build's end-to-end tests are
// in tests/windows.rs.
#![cfg(unix)]

mod support;

use support::git_server::{Auth, GitServer};
use support::{TestEnv, assert_success, make_repo, stderr};

/// A server for `repo.git` that accepts only `alice:{password}`, and an environment in which
/// git has stored `alice:{stored}` for it. Returns the repository's URL too.
fn served_repo(password: &str, stored: &str) -> (TestEnv, GitServer, String) {
    let env = TestEnv::new();
    let repos = env.path("repos");
    make_repo(&env, &repos, "repo.git");
    let server = GitServer::start(&repos, &[("alice", password)]);
    let url = server.url("repo.git");
    env.approve(&url.replace("http://", &format!("http://alice:{stored}@")));
    (env, server, url)
}

#[test]
fn clone_and_push_with_a_stored_credential() {
    let (env, server, url) = served_repo("correct-horse", "correct-horse");

    let clone_dir = env.path("clone");
    let out = env.git(&["clone", "-q", &url, clone_dir.to_str().unwrap()], "");
    assert_success(&out, "git clone");
    assert_eq!(stderr(&out), "", "nothing from us reaches the user");
    assert_eq!(std::fs::read_to_string(clone_dir.join("README")).unwrap(), "hello\n");

    assert_success(&support::commit_and_push(&clone_dir, |args| env.git(args, "")), "git push");

    let log = {
        let mut cmd = env.command("git");
        cmd.args(["--git-dir", server.root.join("repo.git").to_str().unwrap(), "log", "--format=%s", "-1"]);
        support::run(cmd, "")
    };
    assert_eq!(support::stdout(&log).trim(), "push me", "the push reached the server");
    assert!(server.auth_log().iter().any(|a| *a == Auth::Accepted("alice".into())));
    assert!(!server.auth_log().iter().any(|a| matches!(a, Auth::Refused(_))));
}

#[test]
fn a_rejected_password_is_erased_by_git() {
    let (env, server, url) = served_repo("right", "wrong");
    assert_eq!(env.fill(&url), ("alice".into(), "wrong".into()), "stored before the clone");

    let out = env.git(&["clone", "-q", &url, env.path("clone").to_str().unwrap()], "");
    assert!(!out.status.success(), "a wrong password cannot clone");
    assert!(server.auth_log().contains(&Auth::Refused("alice:wrong".into())), "{:?}", server.auth_log());
    env.fill_nothing(&url); // git called erase and the wrong credential is gone
}
