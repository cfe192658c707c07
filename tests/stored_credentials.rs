//! Stored credentials through real `git credential fill | approve | reject`, with the daemon.
//! git's own tests of helpers (matching users, overwriting, erasing) run in `git_protocol.rs`.

// git runs the helper named by support::TestEnv::git through its shell, which would take the
// backslashes of a Windows path for escapes: Unix only. The Windows build's end-to-end tests are
// in tests/windows.rs.
#![cfg(unix)]

mod support;

use support::{TestEnv, assert_answered_nothing, assert_success, stderr, stdout};

#[test]
fn approve_then_fill_returns_the_credential_and_stderr_stays_silent() {
    let env = TestEnv::new();
    env.approve("https://alice:s3cret@example.com/repo.git");
    let out = env.git(&["credential", "fill"], "url=https://example.com/repo.git\n\n");
    assert_success(&out, "fill");
    assert_eq!(stdout(&out), "protocol=https\nhost=example.com\nusername=alice\npassword=s3cret\n");
    assert_eq!(stderr(&out), "", "stderr must be empty on success");
    assert!(env.daemon_pid().is_some(), "the helper started the daemon");
}

#[test]
fn exact_match_on_protocol_host_and_port() {
    let env = TestEnv::new();
    env.approve("https://alice:one@example.com");
    env.approve("https://bob:two@example.com:8443");
    env.approve("http://carol:three@example.com");
    assert_eq!(env.fill("https://example.com"), ("alice".into(), "one".into()));
    assert_eq!(env.fill("https://example.com:8443"), ("bob".into(), "two".into()));
    assert_eq!(env.fill("http://example.com"), ("carol".into(), "three".into()));
    env.fill_nothing("https://other.example.com");
    env.fill_nothing("https://example.com:9000");
}

#[test]
fn paths_match_when_git_sends_them() {
    let mut env = TestEnv::new();
    std::fs::write(env.path("gitconfig"), "[credential]\n\tuseHttpPath = true\n").unwrap();
    env.set_env("GIT_CONFIG_GLOBAL", env.path("gitconfig"));
    env.approve("https://alice:pa@example.com/org-a/repo.git");
    env.approve("https://bob:pb@example.com/org-b/repo.git");
    assert_eq!(env.fill("https://example.com/org-a/repo.git"), ("alice".into(), "pa".into()));
    assert_eq!(env.fill("https://example.com/org-b/repo.git"), ("bob".into(), "pb".into()));
    env.fill_nothing("https://example.com/org-c/repo.git");
}

#[test]
fn reject_without_username_erases_every_user_of_the_host() {
    let env = TestEnv::new();
    env.approve("https://alice:pa@example.com");
    env.approve("https://bob:pb@example.com");
    env.approve("https://carol:pc@other.example.com");
    let out = env.git(&["credential", "reject"], "protocol=https\nhost=example.com\n\n");
    assert_success(&out, "reject");
    env.fill_nothing("https://example.com");
    assert_eq!(env.fill("https://other.example.com"), ("carol".into(), "pc".into()));
}

#[test]
fn expiry_and_refresh_token_are_kept_and_expired_credentials_are_not_returned() {
    let env = TestEnv::new();
    let future = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let approve = format!(
        "protocol=https\nhost=example.com\nusername=alice\npassword=pw\npassword_expiry_utc={future}\n\
         oauth_refresh_token=refresh-me\n\n"
    );
    assert_success(&env.git(&["credential", "approve"], &approve), "approve");
    let out = env.helper(&["get"], "protocol=https\nhost=example.com\n\n");
    assert_success(&out, "get");
    assert_eq!(
        stdout(&out),
        format!("username=alice\npassword=pw\npassword_expiry_utc={future}\noauth_refresh_token=refresh-me\n")
    );

    // git itself never stores an expired credential; make one expire in place.
    let meta_path = env.host_file("example.com");
    let meta = std::fs::read_to_string(&meta_path).unwrap();
    std::fs::write(&meta_path, meta.replace(&future.to_string(), "1000")).unwrap();
    let out = env.helper(&["get"], "protocol=https\nhost=example.com\n\n");
    assert_answered_nothing(&out, "an expired credential is not returned");
}

#[test]
fn authtype_credentials_only_with_the_capability() {
    let env = TestEnv::new();
    let store = "capability[]=authtype\nprotocol=https\nhost=example.com\nauthtype=Bearer\ncredential=tok\n\n";
    assert_success(&env.helper(&["store"], store), "store");

    let plain = env.helper(&["get"], "protocol=https\nhost=example.com\n\n");
    assert_answered_nothing(&plain, "not given to a request without capability[]=authtype");

    let capable = env.helper(&["get"], "capability[]=authtype\nprotocol=https\nhost=example.com\n\n");
    assert_eq!(stdout(&capable), "capability[]=authtype\nauthtype=Bearer\ncredential=tok\n");

    // Without the capability in the store request, git's authtype fields are not kept.
    let env = TestEnv::new();
    assert_success(&env.helper(&["store"], "protocol=https\nhost=h\nauthtype=Bearer\ncredential=tok\n\n"), "store");
    let capable = env.helper(&["get"], "capability[]=authtype\nprotocol=https\nhost=h\n\n");
    assert_answered_nothing(&capable, "git's authtype fields were not kept");
}

#[test]
fn ephemeral_credentials_are_never_stored() {
    let env = TestEnv::new();
    let store = "capability[]=authtype\nprotocol=https\nhost=h\nauthtype=Bearer\ncredential=tok\nephemeral=1\n\n";
    assert_success(&env.helper(&["store"], store), "store");
    assert_success(&env.helper(&["store"], "protocol=https\nhost=h\nusername=u\npassword=p\nephemeral=1\n\n"), "store");
    let out = env.helper(&["get"], "capability[]=authtype\nprotocol=https\nhost=h\n\n");
    assert_answered_nothing(&out, "nothing ephemeral was stored");
}

#[test]
fn missing_protocol_or_host_gets_nothing() {
    let env = TestEnv::new();
    env.approve("https://alice:pw@example.com");
    for request in ["host=example.com\n\n", "protocol=https\n\n", "protocol=https\nhost=\n\n"] {
        assert_answered_nothing(&env.helper(&["get"], request), request);
    }
    // Nor does erase without a host erase anything.
    assert_success(&env.helper(&["erase"], "protocol=https\n\n"), "erase");
    assert_eq!(env.fill("https://example.com"), ("alice".into(), "pw".into()));
}

#[test]
fn unknown_actions_are_ignored_silently() {
    let env = TestEnv::new();
    let out = env.helper(&["frobnicate"], "protocol=https\nhost=example.com\n\n");
    assert_answered_nothing(&out, "frobnicate");
}

#[test]
fn malformed_input_is_one_line_on_stderr_and_echoes_nothing() {
    let env = TestEnv::new();
    let out = env.helper(&["get"], "protocol=https\nhost=example.com\nhunter2-is-my-password\n\n");
    assert!(!out.status.success());
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("git-credential-azdo: ") && err.contains("line 3"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");

    let out = env.helper(&["store"], "protocol=https\nhost=h\nusername=u\npassword=a\rb\n\n");
    assert!(stderr(&out).contains("CR"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("a\rb"));
}

#[test]
fn stored_secrets_never_reach_status_or_logs() {
    let mut env = TestEnv::new();
    let log = env.path("trace.log");
    env.set_env("GIT_CREDENTIAL_AZDO_LOG", "trace");
    env.set_env("GIT_CREDENTIAL_AZDO_LOG_FILE", &log);
    env.approve("https://alice:Pa55-unique-secret@example.com/x");
    env.approve("https://bob:Second-unique-secret@example.com/y");
    env.reject("https://bob:Second-unique-secret@example.com/y");
    env.fill("https://example.com");
    let status = env.helper(&["status"], "");
    let status_json = env.helper(&["status", "--json"], "");
    assert!(stdout(&status).contains("https://alice@example.com"), "{}", stdout(&status));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("daemon started"), "the trace was written: {logged}");
    for text in [stdout(&status), stdout(&status_json), logged] {
        assert!(!text.contains("unique-secret"), "a secret leaked: {text}");
    }
}

/// git stores the credential it used after every operation that worked: when it is kept already,
/// nothing is written (by the daemon, or by a helper answering in-process); a new password is.
#[test]
#[cfg(unix)]
fn storing_again_what_is_kept_writes_nothing() {
    let mut env = TestEnv::new();
    env.approve("https://alice:s3cret@example.com");
    let files = |env: &TestEnv| {
        let mut all = Vec::new();
        for dir in ["credentials", "secrets"] {
            for entry in std::fs::read_dir(env.state_dir().join(dir)).unwrap() {
                let path = entry.unwrap().path();
                let meta = std::fs::metadata(&path).unwrap();
                all.push((path, meta.modified().unwrap(), std::os::unix::fs::MetadataExt::ino(&meta)));
            }
        }
        all.sort();
        all
    };
    let before = files(&env);
    assert_eq!(before.len(), 2, "{before:?}");
    // As after a fetch: git's get, then its store of the answer.
    assert_eq!(env.fill("https://example.com"), ("alice".into(), "s3cret".into()));
    env.approve("https://alice:s3cret@example.com");
    env.set_env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1");
    env.approve("https://alice:s3cret@example.com");
    assert_eq!(files(&env), before, "nothing was written");

    env.approve("https://alice:changed@example.com");
    assert_ne!(files(&env), before);
    assert_eq!(env.fill("https://example.com"), ("alice".into(), "changed".into()));
}
