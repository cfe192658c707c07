//! Entra ID sign-in and tokens end to end: real git, the helper and its daemon, a fake Entra and
//! a fake Azure DevOps (real `git http-backend` behind a front that checks tokens).

// The sign-in's "browser" (support::world::test_browser) and other stand-ins are shell scripts:
// Unix only. The Windows build's end-to-end tests are in tests/windows.rs.
#![cfg(unix)]
#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use std::time::{Duration, Instant};

use git_credential_azdo::ipc::client::HELLO_TIMEOUT;
use support::git_server::Auth;
use support::world::{ALICE, CONTOSO_TENANT, FABRIKAM_TENANT, World, one_line};
use support::{assert_success, stderr, stdout, wait_for};

#[test]
fn browser_sign_in_then_clone_and_push_with_bearer_tokens() {
    let w = World::alice_and_contoso();
    let out = w.login(&["--org", "contoso"]);
    assert_success(&out, "login");
    let text = stdout(&out);
    assert!(text.contains("/oauth2/v2.0/authorize?"), "the sign-in page is printed too: {text}");
    assert!(text.contains("Signed in as alice@contoso.com"), "{text}");
    assert!(text.contains("Organizations bound to it: contoso."), "{text}");
    assert_eq!(stderr(&out), "");
    assert_eq!(w.entra.with(|s| s.grants("authorization_code")), 1);
    assert_eq!(w.entra.with(|s| s.tenants_seen.clone()), [CONTOSO_TENANT; 2], "the organization's tenant, discovered");
    let accounts = std::fs::read_to_string(w.env.state_dir().join("accounts.json")).unwrap();
    assert!(accounts.contains("alice@contoso.com") && !accounts.contains("rt-"), "no secret in {accounts}");

    w.clone_and_push_quietly("contoso", "clone");

    let log = w.devops.auth_log();
    assert!(log.contains(&Auth::Accepted("Bearer alice@contoso.com".into())), "git sent a Bearer token: {log:?}");
    assert!(!log.iter().any(|a| matches!(a, Auth::Refused(_))), "{log:?}");
    assert_eq!(w.refreshes(), 1, "the daemon refreshed once and served every request from its cache");
    assert!(!text.contains("Warning"), "the token was confirmed for contoso: {text}");

    // Entra rotated the refresh token: the newest replaced the one from the sign-in.
    let secrets = w.env.stored_secrets();
    let latest = w.entra.with(|s| s.latest_refresh_token()).unwrap();
    assert!(secrets.contains(&latest), "the newest refresh token is kept");
    assert_eq!(secrets.matches("rt-").count(), 1, "and only it");
}

/// Any local user can connect to the loopback port the browser is sent back to. Connections
/// that send nothing (forty, made before the browser comes back) do not hold up the sign-in:
/// they are read side by side with the browser's.
#[test]
fn connections_to_the_redirect_port_that_send_nothing_do_not_hold_up_the_sign_in() {
    let mut w = World::new(&[("alice@contoso.com", CONTOSO_TENANT)], &[("contoso", CONTOSO_TENANT)]);
    let browser = w.env.path("loiterers-then-browser.sh");
    std::fs::write(
        &browser,
        "#!/bin/sh\nexec python3 - \"$1\" >/dev/null 2>&1 <<'EOF'\n\
import socket, sys, urllib.parse, urllib.request as u\n\
url = sys.argv[1]\n\
redirect = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)['redirect_uri'][0]\n\
port = urllib.parse.urlparse(redirect).port\n\
held = [socket.create_connection(('127.0.0.1', port)) for _ in range(40)]\n\
u.build_opener(u.ProxyHandler({})).open(url, timeout=20).read()\n\
EOF\n",
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&browser, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    w.env.set_env("GIT_CREDENTIAL_AZDO_BROWSER", &browser);
    let started = Instant::now();
    let out = w.login(&["--org", "contoso"]);
    assert_success(&out, "login");
    assert!(stdout(&out).contains("Signed in as alice@contoso.com"), "{}", stdout(&out));
    // Read one after the other, each would have held it up for 5 s.
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[test]
fn without_the_authtype_capability_the_token_is_the_password() {
    let w = World::alice_signed_in();
    let host = w.devops.addr.to_string();
    let request = format!("protocol=http\nhost={host}\npath=contoso/proj/_git/repo\n\n");
    let out = w.env.helper(&["get"], &request);
    assert_success(&out, "get");
    let answer = stdout(&out);
    let password = answer.lines().find_map(|l| l.strip_prefix("password=")).expect("a password");
    assert!(answer.contains("username=alice@contoso.com\n"), "{answer}");
    assert!(answer.lines().any(|l| l.starts_with("password_expiry_utc=")), "{answer}");
    assert!(!answer.contains("authtype") && !answer.contains("ephemeral"), "{answer}");
    assert_eq!(w.owner(password).as_deref(), Some("alice@contoso.com"));

    let with_caps = format!("capability[]=authtype\n{request}");
    let answer = stdout(&w.env.helper(&["get"], &with_caps));
    assert!(answer.starts_with("capability[]=authtype\n"), "{answer}");
    assert!(answer.contains("authtype=Bearer\n") && answer.contains("ephemeral=1\n"), "{answer}");
    assert!(answer.contains(&format!("credential={password}\n")), "the cached token: {answer}");
    assert!(!answer.contains("password="), "{answer}");

    // git stores what worked on every helper; our token must not end up stored.
    let store = format!("{request}username=alice@contoso.com\npassword={password}\n");
    assert_success(&w.env.helper(&["store"], &store), "store");
    let status = stdout(&w.env.helper(&["status", "--json"], ""));
    assert!(status.contains("\"credentials\": []"), "{status}");
}

#[test]
fn device_code_sign_in_polls_until_the_user_has_entered_the_code() {
    let mut w = World::alice_and_contoso();
    // The authority from git's configuration rather than the environment.
    w.env.remove_env("AZURE_AUTHORITY_HOST");
    let config = std::fs::read_to_string(w.env.path("gitconfig")).unwrap();
    std::fs::write(w.env.path("gitconfig"), format!("{config}[azdo]\n\tauthorityHost = {}\n", w.entra.url())).unwrap();
    w.entra.with(|s| s.device_script = ["authorization_pending", "slow_down", ""].map(String::from).into());
    let out = w.login(&["--device", "--org", "contoso"]);
    assert_success(&out, "login --device");
    let text = stdout(&out);
    assert!(text.contains("open https://microsoft.com/devicelogin and enter the code FAKE[31mCODE"), "{text}");
    assert!(!text.contains('\u{1b}'), "control characters from the server are removed: {text:?}");
    assert!(text.contains("Signed in as alice@contoso.com"), "{text}");
    assert_eq!(w.entra.with(|s| s.grants("device_code")), 3, "pending, slow_down, then the token");
    assert_success(&w.clone_repo("contoso", "clone"), "git clone");
}

#[test]
fn a_declined_or_expired_device_code_is_reported_with_entras_words() {
    let w = World::alice_and_contoso();
    for error in ["authorization_declined", "expired_token"] {
        w.entra.with(|s| s.device_script = [error.to_owned()].into());
        let out = w.login(&["--device", "--org", "contoso"]);
        assert!(!out.status.success());
        let line = one_line(&stderr(&out)).to_owned();
        assert!(line.starts_with("git-credential-azdo: sign-in failed: Entra ID refused: "), "{line}");
        assert!(line.contains(error) && line.contains("AADSTS"), "{line}");
    }
    assert!(!w.env.state_dir().join("accounts.json").exists(), "nothing kept");
}

#[test]
fn short_lived_tokens_are_refreshed_ahead_without_the_user_waiting() {
    let w = World::alice_signed_in();
    w.entra.with(|s| s.lifetime = Duration::from_secs(6));
    let url = w.url("contoso");
    let (_, first) = w.env.fill(&url);
    assert_eq!(w.refreshes(), 1);
    // The daemon refreshes a recently used account's token a third of its lifetime early, with
    // no get asking.
    wait_for("a refresh ahead of expiry", Duration::from_secs(15), || w.refreshes() >= 2);
    // Entra counts the request as it arrives; the daemon serves the new token once it has it
    // (and has kept the rotated refresh token). Until then, git gets the first, still valid.
    let mut second = first.clone();
    wait_for("the token refreshed ahead to be served", Duration::from_secs(15), || {
        second = w.env.fill(&url).1;
        second != first
    });
    assert_eq!(w.refreshes(), 2, "served from the cache: no get waited on Entra");
    assert_eq!(w.owner(&second).as_deref(), Some("alice@contoso.com"));
}

#[test]
fn a_daemon_waiting_on_entra_says_hello_at_once_so_the_helper_waits_for_it() {
    let w = World::alice_signed_in();
    w.start_daemon();
    // Longer than the helper waits for a hello: a daemon that held its hello back until the
    // answer was ready would be taken for a stuck one, and the helper would ask Entra itself.
    w.entra.with(|s| s.token_delay = HELLO_TIMEOUT + Duration::from_millis(500));
    let (_, token) = w.env.fill(&w.url("contoso"));
    assert_eq!(w.owner(&token).as_deref(), Some("alice@contoso.com"));
    assert_eq!(w.refreshes(), 1, "only the daemon asked Entra");
}

#[test]
fn the_helper_still_answers_when_the_daemon_is_killed_in_the_middle_of_a_request() {
    let w = World::alice_signed_in();
    w.start_daemon();
    let first = w.env.daemon_pid().unwrap();
    // Entra holds token requests until the daemon is dead: it cannot have had its answer.
    w.entra.with(|s| s.hold_tokens = true);
    let asked = || w.entra.with(|s| s.tenants_seen.len());
    let before = asked();
    let (_, token) = std::thread::scope(|scope| {
        let fill = scope.spawn(|| w.env.fill(&w.url("contoso")));
        // The daemon has the helper's request and waits on Entra for the token.
        wait_for("the daemon to ask Entra", Duration::from_secs(10), || asked() > before);
        std::process::Command::new("kill").args(["-9", &first.to_string()]).status().unwrap();
        wait_for("the daemon to die", Duration::from_secs(10), || !support::process_alive(first));
        w.entra.with(|s| s.hold_tokens = false);
        fill.join().unwrap()
    });
    assert_eq!(w.owner(&token).as_deref(), Some(ALICE));
    assert_eq!(asked() - before, 2, "the dead daemon's request, then the one that answered git");
}

#[test]
#[cfg(target_os = "linux")]
fn a_cached_token_survives_a_jump_of_the_wall_clock() {
    let Some(libfaketime) = libfaketime() else { return };
    let mut w = World::alice_signed_in();
    // git, the helper and the daemon read the wall clock through libfaketime, from this file;
    // their monotonic clocks stay real, as they do when a real clock is set.
    let clock = w.env.path("clock");
    std::fs::write(&clock, "-2h").unwrap();
    w.env.set_env("LD_PRELOAD", libfaketime);
    w.env.set_env("FAKETIME_TIMESTAMP_FILE", &clock);
    w.env.set_env("FAKETIME_NO_CACHE", "1");
    w.env.set_env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    let url = w.url("contoso");
    let (_, first) = w.env.fill(&url);

    // The clock is set right: two hours forward, past the hour-long token's expiry as first
    // stated. git would drop a token whose stated expiry is now in the past.
    std::fs::write(&clock, "+0").unwrap();
    let (_, second) = w.env.fill(&url);
    assert_eq!(second, first);
    assert_eq!(w.refreshes(), 1, "served from the cache");
    let out = w.env.git_fill(&url);
    let expiry: u64 =
        stdout(&out).lines().find_map(|l| l.strip_prefix("password_expiry_utc=")).expect("an expiry").parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    assert!(expiry > now + 50 * 60 && expiry <= now + 60 * 60, "{expiry} is about an hour from {now}");
}

/// Debian's libfaketime, which `.ci/run` installs.
#[cfg(target_os = "linux")]
fn libfaketime() -> Option<std::path::PathBuf> {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .map(|entry| entry.unwrap().path().join("faketime/libfaketime.so.1"))
        .find(|path| path.exists());
    if found.is_none() {
        support::skip("needs libfaketime (Debian's faketime)");
    }
    found
}

/// The helper's deadline in the two tests below (`GIT_CREDENTIAL_AZDO_TIMEOUT`).
const DEADLINE: Duration = Duration::from_secs(3);

/// git's fill for `url` with Entra not answering: nothing, and one line of the helper's saying
/// to try again, within the helper's deadline. Returns the helper's debug log.
///
/// The deadline counts from the helper's start, so the helper's run is taken as git measures it
/// (its trace2 events: git's own start and end are no part of it), with 0.75 s for the exec and
/// exit that the deadline does not count (a tenth of a second on two busy cores). git's whole
/// wait is only bounded, generously. The regressions these tests are for cost 1.5 s more
/// (an answer in-process given a budget of its own, not what is left), or 15 s and more.
fn nothing_within_the_deadline(w: &mut World, url: &str) -> String {
    let log = w.env.path("helper.log");
    w.env.set_env("GIT_CREDENTIAL_AZDO_LOG", "debug");
    w.env.set_env("GIT_CREDENTIAL_AZDO_LOG_FILE", &log);
    let asked = Instant::now();
    let (out, helpers) = w.env.git_fill_traced(url);
    let waited = asked.elapsed();
    w.env.remove_env("GIT_CREDENTIAL_AZDO_LOG");
    w.env.remove_env("GIT_CREDENTIAL_AZDO_LOG_FILE");
    let line = support::refusal_through_git(&out);
    assert!(line.contains("alice@contoso.com") && line.ends_with("try again in a moment"), "{line}");
    let [(_, helper_ran)] = helpers[..] else { panic!("one helper: {helpers:?}") };
    assert!(helper_ran < DEADLINE + Duration::from_millis(750), "the helper ran {helper_ran:?}, past its deadline");
    assert!(waited < DEADLINE + Duration::from_secs(5), "git waited {waited:?}");
    std::fs::read_to_string(&log).unwrap_or_default()
}

#[test]
fn through_an_entra_outage_the_cached_token_is_served_and_git_never_waits_past_the_deadline() {
    let mut w = World::alice_signed_in();
    let url = w.url("contoso");
    // The daemon keeps its own deadline, 30 s (and 18 s for a refresh); the helpers git runs
    // from now on have 3 s, which they pass on with each request.
    let daemon_log = w.env.path("daemon.log");
    w.env.set_env("GIT_CREDENTIAL_AZDO_TIMEOUT", "30");
    w.env.set_env("GIT_CREDENTIAL_AZDO_LOG", "debug");
    w.env.set_env("GIT_CREDENTIAL_AZDO_LOG_FILE", &daemon_log);
    w.start_daemon();
    w.env.remove_env("GIT_CREDENTIAL_AZDO_LOG");
    w.env.remove_env("GIT_CREDENTIAL_AZDO_LOG_FILE");
    w.env.set_env("GIT_CREDENTIAL_AZDO_TIMEOUT", DEADLINE.as_secs().to_string());
    let given = w.env.fill(&url);

    // Entra stops answering: the cached token is still served.
    w.entra.with(|s| s.token_delay = Duration::from_secs(60));
    assert_eq!(w.env.fill(&url), given);
    assert_eq!(w.refreshes(), 1, "from the cache");

    // git rejects it (revoked, say): no valid token is left. git gets nothing and one line
    // saying why, within the helper's deadline; the daemon gave up on Entra within the budget
    // the helper gave it, and answered.
    w.reject(&url, &given);
    let said = nothing_within_the_deadline(&mut w, &url);
    assert!(!said.contains("answering without the daemon"), "{said}");
    let daemon_said = std::fs::read_to_string(&daemon_log).unwrap();
    assert!(daemon_said.contains("refresh failed"), "{daemon_said}");

    // The outage ends: the next get refreshes.
    w.entra.with(|s| s.token_delay = Duration::ZERO);
    let (_, after) = w.env.fill(&url);
    assert_ne!(after, given.1);
    assert_eq!(w.owner(&after).as_deref(), Some(ALICE));
}

#[test]
#[cfg(unix)]
fn a_daemon_that_stalls_after_its_hello_still_leaves_git_an_answer_within_the_deadline() {
    use std::os::unix::fs::PermissionsExt;
    let mut w = World::alice_signed_in();
    w.env.set_env("GIT_CREDENTIAL_AZDO_TIMEOUT", DEADLINE.as_secs().to_string());
    w.entra.with(|s| s.token_delay = Duration::from_secs(60));
    // A daemon (holding the lock, so none replaces it) that says hello and then nothing, for
    // 20 s.
    std::fs::create_dir_all(w.env.runtime_dir()).unwrap();
    std::fs::set_permissions(w.env.runtime_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let lock = std::fs::File::create(w.env.runtime_dir().join("daemon.lock")).unwrap();
    lock.lock().unwrap();
    let listener = std::os::unix::net::UnixListener::bind(w.env.socket()).unwrap();
    listener.set_nonblocking(true).unwrap();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let stalled = std::thread::spawn(move || {
        let mut held = Vec::new();
        let start = Instant::now();
        while finished.try_recv().is_err() && start.elapsed() < Duration::from_secs(20) {
            if let Ok((mut stream, _)) = listener.accept() {
                stream.set_nonblocking(false).unwrap();
                git_credential_azdo::ipc::frame::write_sync(&mut stream, &git_credential_azdo::ipc::Hello::ours(false))
                    .unwrap();
                held.push(stream);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        held.len()
    });

    // The helper waits for the answer until all but its reserve of the deadline is gone, then
    // answers by itself with only what is left: no token, and one line, within the deadline.
    let url = w.url("contoso");
    let said = nothing_within_the_deadline(&mut w, &url);
    assert!(said.contains("answering without the daemon"), "{said}");
    done.send(()).unwrap();
    assert_eq!(stalled.join().unwrap(), 1, "the helper asked the stalled daemon first");
    drop(lock);
}

#[test]
fn hostile_token_answers_get_one_clear_line_and_leak_nothing() {
    let w = World::alice_signed_in();
    let url = w.url("contoso");
    let refresh_token = w.entra.with(|s| s.latest_refresh_token()).unwrap();
    let huge = format!("{{\"access_token\":\"{}\"}}", "x".repeat(2 << 20));
    let answers = [
        // A captive portal's page, with a success status and no JSON.
        (200, "<html><body>Sign in to the hotel Wi-Fi</body></html>".to_owned()),
        // JSON of the wrong shape, and malformed JSON.
        (200, r#"{"token_type":"Bearer","expires_in":"soon"}"#.to_owned()),
        (400, r#"{"error":"invalid_request","error_codes":[9002313],"#.to_owned()),
        // A body far larger than any token answer.
        (200, huge),
    ];
    for (status, body) in answers {
        w.entra.with(|s| s.fail_next.extend(std::iter::repeat_n((status, None, body.clone()), 20)));
        let out = w.env.git_fill(&url);
        w.entra.with(|s| s.fail_next.clear());
        let line = support::refusal_through_git(&out);
        assert!(line.contains("alice@contoso.com") && line.len() < 400, "{line}");
        assert!(line.contains("Entra ID sent an answer that could not be understood"), "{line}");
        assert!(!line.contains("hotel") && !line.contains(&refresh_token), "{line}");
    }
    // None of them cost the account: the next good answer serves git.
    let (_, token) = w.env.fill(&url);
    assert_eq!(w.owner(&token).as_deref(), Some("alice@contoso.com"));
}

#[test]
fn transient_entra_failures_are_retried_within_the_deadline() {
    let w = World::alice_signed_in();
    w.entra.with(|s| {
        s.fail_next.push_back((503, None, "<html>busy</html>".into()));
        s.fail_next.push_back((429, Some(1), String::new()));
    });
    let (_, token) = w.env.fill(&w.url("contoso"));
    assert_eq!(w.owner(&token).as_deref(), Some("alice@contoso.com"));
    assert_eq!(w.refreshes(), 3);
}

#[test]
fn a_rejected_token_is_dropped_and_the_next_get_refreshes() {
    let w = World::alice_signed_in();
    let url = w.url("contoso");
    let given = w.env.fill(&url);
    w.reject(&url, &given);
    let first = given.1;
    let (_, second) = w.env.fill(&url);
    assert_ne!(first, second);
    assert_eq!(w.refreshes(), 2, "the refresh token was kept and used");
}

#[test]
fn a_revoked_refresh_token_names_the_account_and_the_command_and_git_fails_fast() {
    let w = World::alice_signed_in();
    let url = w.url("contoso");
    let given = w.env.fill(&url);
    w.entra.revoke("alice@contoso.com");
    // Azure DevOps refuses the token (it was revoked too): git erases it.
    w.reject(&url, &given);

    let out = w.clone_repo("contoso", "clone");
    let line = support::refusal_through_git(&out);
    assert!(
        line.contains("alice@contoso.com must sign in again for contoso")
            && line.contains("invalid_grant (AADSTS50173, suberror bad_token)")
            && line.ends_with("run: git-credential-azdo login --org contoso"),
        "{line}"
    );
    let refreshes = w.refreshes();
    let out = w.env.helper(&["get"], &format!("protocol=http\nhost={}\npath=contoso/p\n\n", w.devops.addr));
    assert!(support::refusal(&out).contains("must sign in again"));
    assert_eq!(w.refreshes(), refreshes, "no request to Entra until the user signs in again");

    assert_success(&w.login(&["--org", "contoso"]), "login again");
    w.env.fill(&url); // a new sign-in clears the mark
}

#[test]
fn visualstudio_com_remotes_are_served_for_their_organization() {
    let w = World::alice_signed_in();
    let port = w.devops.addr.port();
    let url = format!("http://contoso.visualstudio.com:{port}/DefaultCollection/proj/_git/repo");
    let resolve = format!("http.curloptResolve=contoso.visualstudio.com:{port}:127.0.0.1");
    let out = w.env.git(&["-c", &resolve, "clone", "-q", &url, w.env.path("clone").to_str().unwrap()], "");
    assert_success(&out, "git clone from visualstudio.com");
    assert!(w.devops.auth_log().contains(&Auth::Accepted("Bearer alice@contoso.com".into())));
}

#[test]
fn two_accounts_in_two_tenants_each_serve_their_own_organization() {
    let w = World::two_tenants();
    assert_success(&w.login(&["--org", "contoso"]), "login alice");
    w.entra.with(|s| s.next_user = 1);
    assert_success(&w.login(&["--org", "fabrikam"]), "login bob");

    let owner = |organization: &str| w.owner(&w.env.fill(&w.url(organization)).1);
    assert_eq!(owner("contoso").as_deref(), Some("alice@contoso.com"));
    assert_eq!(owner("fabrikam").as_deref(), Some("bob@fabrikam.com"));
    assert_success(&w.clone_repo("fabrikam", "fabrikam"), "clone fabrikam");

    let listed = stdout(&w.env.helper(&["accounts"], ""));
    assert!(listed.contains("alice@contoso.com") && listed.contains("organizations: contoso"), "{listed}");
    assert!(listed.contains("bob@fabrikam.com") && listed.contains("organizations: fabrikam"), "{listed}");
    assert!(listed.contains("token expires in"), "{listed}");

    // Without bindings, the organization's tenant (asked of Azure DevOps) picks the account.
    assert_success(&w.env.helper(&["unbind", "--org", "contoso"], ""), "unbind");
    assert_success(&w.env.helper(&["unbind", "--org", "fabrikam"], ""), "unbind");
    assert_eq!(owner("fabrikam").as_deref(), Some("bob@fabrikam.com"));
    assert_eq!(owner("contoso").as_deref(), Some("alice@contoso.com"));
    // A bound organization follows its binding, and a username in the URL names the account.
    // The token is then contoso's tenant's, which Entra gives bob only as a guest there.
    w.entra.with(|s| s.invite("bob@fabrikam.com", CONTOSO_TENANT));
    assert_success(&w.env.helper(&["bind", "--org", "contoso", "--account", "bob@fabrikam.com"], ""), "bind");
    let out = w.env.helper(&["get"], &format!("protocol=http\nhost={}\npath=contoso/p\n\n", w.devops.addr));
    assert!(stdout(&out).contains("username=bob@fabrikam.com\n"));
    let hinted = format!("protocol=http\nhost={}\npath=contoso/p\nusername=alice@contoso.com\n\n", w.devops.addr);
    assert!(stdout(&w.env.helper(&["get"], &hinted)).contains("username=alice@contoso.com\n"));
}

#[test]
fn without_an_account_or_a_path_git_gets_nothing_and_one_line_saying_what_to_run() {
    let w = World::alice_and_contoso();
    let out = w.env.git(
        &["-c", "credential.useHttpPath=false", "credential", "fill"],
        &format!("url=http://{}\n\n", w.devops.addr),
    );
    assert!(!out.status.success());
    let text = stderr(&out);
    let remedy = format!("run: git config --global credential.http://{}.useHttpPath true", w.devops.addr);
    assert!(text.contains(&remedy), "{text}");

    let out = w.clone_repo("contoso", "clone");
    assert!(!out.status.success());
    let text = stderr(&out);
    assert!(
        text.contains("git-credential-azdo: no account is signed in for the Azure DevOps organization contoso; run: git-credential-azdo login --org contoso"),
        "{text}"
    );
    assert!(w.entra.with(|s| s.tenants_seen.is_empty()), "not interactive: Entra is not asked anything");
}

#[test]
fn a_push_in_a_terminal_signs_in_on_the_spot() {
    let mut w = World::alice_and_contoso();
    w.env.set_env("GIT_TERMINAL_PROMPT", "1");
    let work = w.env.path("work");
    std::fs::create_dir_all(&work).unwrap();
    let git = |args: &[&str]| {
        let mut cmd = w.env.command("git");
        cmd.current_dir(&work).args(["-c", "user.name=T", "-c", "user.email=t@example.com"]).args(args);
        support::run(cmd, "")
    };
    assert_success(&git(&["init", "-q", "-b", "feature"]), "git init");
    std::fs::write(work.join("F"), "feature\n").unwrap();
    assert_success(&git(&["add", "F"]), "git add");
    assert_success(&git(&["commit", "-q", "-m", "feature"]), "git commit");
    let push =
        format!("git -c credential.helper= -c credential.helper={} push -q {} feature", support::BIN, w.url("contoso"));
    // `script` gives git and the helper a terminal, as a user's shell would.
    let mut cmd = w.env.command("script");
    cmd.current_dir(&work).args(["-qec", &push, "/dev/null"]);
    let out = support::run(cmd, "");
    let text = stdout(&out);
    assert_success(&out, &format!("git push in a terminal: {text}"));
    assert!(text.contains("no account is signed in for the Azure DevOps organization contoso; signing in."), "{text}");
    assert!(text.contains("Signed in as alice@contoso.com."), "{text}");
    let log = {
        let mut cmd = w.env.command("git");
        cmd.args([
            "--git-dir",
            w.devops.root.join("contoso/proj/_git/repo").to_str().unwrap(),
            "log",
            "--format=%s",
            "-1",
            "feature",
        ]);
        support::run(cmd, "")
    };
    assert_eq!(stdout(&log).trim(), "feature", "the push reached the server");
    w.env.fill(&w.url("contoso")); // and the account stays signed in
}

#[test]
fn login_warns_when_the_new_account_cannot_reach_an_organization() {
    let w = World::new(&[("alice@contoso.com", CONTOSO_TENANT)], &[("fabrikam", FABRIKAM_TENANT)]);
    let out = w.login(&["--org", "fabrikam", "--tenant", CONTOSO_TENANT]);
    assert_success(&out, "login");
    let text = stdout(&out);
    assert!(
        text.contains("Warning: alice@contoso.com cannot reach fabrikam yet: Azure DevOps refused it (HTTP 401)"),
        "{text}"
    );
    assert!(text.contains("Organizations bound to it: fabrikam."), "the binding is kept: {text}");
}

#[test]
fn no_token_reaches_the_logs_at_the_most_verbose_level() {
    let mut w = World::alice_and_contoso();
    let log = w.env.path("trace.log");
    w.env.set_env("GIT_CREDENTIAL_AZDO_LOG", "debug");
    w.env.set_env("GIT_CREDENTIAL_AZDO_LOG_FILE", &log);
    assert_success(&w.login(&["--org", "contoso"]), "login");
    w.entra.with(|s| s.fail_next.push_back((503, None, String::new())));
    assert_success(&w.clone_repo("contoso", "clone"), "git clone");
    let url = w.url("contoso");
    let given = w.env.fill(&url);
    w.reject(&url, &given);
    w.env.fill(&url);
    let status = stdout(&w.env.helper(&["status", "--json"], ""));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("refreshed") && logged.contains("retrying"), "the trace was written: {logged}");
    let secrets = w.entra.with(|s| s.issued_secrets());
    assert!(secrets.len() >= 6, "{secrets:?}");
    for secret in secrets {
        assert!(!logged.contains(&secret), "{secret} leaked into the log");
        assert!(!status.contains(&secret), "{secret} leaked into status");
    }
}

#[test]
#[cfg(unix)]
fn a_browser_command_with_arguments_is_run_as_git_runs_its_editor() {
    let mut w = World::alice_and_contoso();
    // A browser that records its arguments, then follows the page as the test browser does.
    let browser = support::world::test_browser(&w.env);
    let seen = w.env.path("browser-args");
    std::fs::create_dir_all(w.env.path("my browser")).unwrap();
    let wrapper = w.env.script(
        "my browser/open-it",
        &format!(
            "printf '%s\\n' \"$@\" > '{}'\nfor last; do :; done\nexec '{}' \"$last\"\n",
            seen.display(),
            browser.display()
        ),
    );

    // Quoted as for core.editor, with options and a variable the shell expands.
    w.env.set_env("BROWSER_PROFILE", "work");
    w.env.set_env(
        "GIT_CREDENTIAL_AZDO_BROWSER",
        format!("'{}' --new-window -P \"$BROWSER_PROFILE\"", wrapper.display()),
    );
    let out = w.login(&["--org", "contoso"]);
    assert_success(&out, "login with a browser command line");
    let args = std::fs::read_to_string(&seen).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(args[..3], ["--new-window", "-P", "work"], "{args:?}");
    assert!(args[3].contains("/oauth2/v2.0/authorize?") && args.len() == 4, "then the page: {args:?}");

    // A path with spaces given whole, unquoted, is that program.
    w.env.set_env("GIT_CREDENTIAL_AZDO_BROWSER", &wrapper);
    assert_success(&w.login(&["--org", "contoso"]), "login with an unquoted path");
    assert_eq!(std::fs::read_to_string(&seen).unwrap().lines().count(), 1, "only the page");
}

#[test]
fn a_browser_that_cannot_be_started_fails_the_sign_in_at_once_in_one_line() {
    let mut w = World::alice_and_contoso();
    let missing = w.env.path("no-such-browser");
    // Run directly, and through the shell (its arguments make it a command line): neither can
    // start, and the sign-in ends now, not after the five minutes it gives a person. (A wait
    // would run into the 30 s every command is given here, and fail the test.)
    for (value, why) in [
        (missing.display().to_string(), "No such file or directory"),
        (format!("{} --new-window", missing.display()), "the command was not found (exit status 127)"),
        ("false".to_owned(), "it exited with exit status: 1"),
    ] {
        w.env.set_env("GIT_CREDENTIAL_AZDO_BROWSER", &value);
        let out = w.login(&["--org", "contoso"]);
        assert!(!out.status.success(), "{value}");
        let line = support::our_only_line(&out);
        assert!(line.contains(&format!("the browser command `{value}` failed: ")), "{line}");
        assert!(line.contains(why) && line.contains("GIT_CREDENTIAL_AZDO_BROWSER"), "{line}");
        assert!(line.contains("login --device"), "{line}");
    }
    assert!(w.entra.with(|s| s.grants("authorization_code")) == 0, "nobody signed in");
}

/// An address on loopback where nothing listens: connecting is refused at once, as when the
/// network is down.
fn nowhere() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", listener.local_addr().unwrap())
}

#[test]
fn login_without_a_network_says_what_to_check() {
    let mut w = World::alice_and_contoso();
    let (entra, devops) = (nowhere(), nowhere());
    w.env.set_env("AZURE_AUTHORITY_HOST", &entra);
    w.env.set_env("GIT_CREDENTIAL_AZDO_DEVOPS_URL", &devops);
    for proxy in
        ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"]
    {
        w.env.set_env(proxy, "");
    }
    let out = w.login(&["--device", "--org", "contoso"]);
    assert!(!out.status.success());
    // Azure DevOps, asked for the organization's tenant: a warning, and the sign-in goes on.
    let warning = stdout(&out);
    assert!(warning.contains("Warning: Azure DevOps could not be asked for the tenant of contoso"), "{warning}");
    assert!(warning.contains(&format!("can this machine reach {devops}?")), "{warning}");
    assert!(warning.contains("none is set (git's http.proxy, http_proxy, ALL_PROXY)"), "{warning}");
    assert!(
        warning.contains(&format!(
            "GIT_CREDENTIAL_AZDO_DEVOPS_URL (or azdo.devopsUrl): {devops} is not the usual https://dev.azure.com"
        )),
        "{warning}"
    );
    // Entra ID: the error, and what to check.
    let line = support::our_only_line(&out);
    assert!(line.contains("Entra ID could not be reached"), "{line}");
    assert!(
        line.contains(&format!("check the network (can this machine reach {entra}?) and the proxy: none is set")),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "AZURE_AUTHORITY_HOST (or azdo.authorityHost): {entra} is not the usual https://login.microsoftonline.com"
        )),
        "{line}"
    );

    // The proxy in use (git's, as git takes it), without its password.
    let proxy = format!("http://me:proxy-secret@{}", nowhere().trim_start_matches("http://"));
    let config = w.env.path("gitconfig");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}[http]\n\tproxy = {proxy}\n")).unwrap();
    let line = support::our_only_line(&w.login(&["--device", "--org", "contoso"]));
    assert!(
        line.contains("the proxy: http://me@127.0.0.1:") && line.contains(" is used (git's http.proxy, else"),
        "{line}"
    );
    assert!(!line.contains("proxy-secret"), "{line}");

    // A PAT cannot be checked either: not saved, and the same advice.
    let out = w.login_pat(&["--org", "contoso"], "a-pat");
    let line = support::our_only_line(&out);
    assert!(line.contains("the PAT was not saved; check the network"), "{line}");
}
