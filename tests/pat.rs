//! Personal access tokens end to end: `login --pat` for a Services organization and for Azure
//! DevOps Server collections, real git cloning and pushing with them, refused PATs, and which
//! credential answers when an organization has both an Entra account and a PAT.

// The sign-in's "browser" (support::world::test_browser) and other stand-ins are shell scripts:
// Unix only. The Windows build's end-to-end tests are in tests/windows.rs.
#![cfg(unix)]
#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use support::devops::PatState;
use support::git_server::{Auth, GitServer};
use support::world::{CONTOSO_TENANT, World, one_line};
use support::{assert_success, make_repo, stderr, stdout};

/// The organization contoso, offering `Negotiate` and `NTLM` beside `Bearer` and `Basic`, as
/// IIS does for Server collections (Services do not, but a PAT must go as Basic either way:
/// curl prefers the Windows schemes when given a username and password).
fn contoso() -> World {
    let w = World::contoso();
    w.pats.offer_windows_auth();
    w
}

fn status(w: &World) -> String {
    let out = w.env.helper(&["status"], "");
    assert_success(&out, "status");
    stdout(&out)
}

#[test]
fn login_pat_then_clone_and_push_over_basic() {
    let w = contoso();
    let pat = w.pats.issue("contoso", "Alice Smith", true);
    let out = w.login_pat(&["--org", "contoso"], &pat);
    assert_success(&out, "login --pat");
    let text = stdout(&out);
    assert!(text.contains("Code (Read & Write)") && text.contains("1 December 2026"), "what a PAT needs: {text}");
    assert!(text.contains("Saved the PAT for contoso (it belongs to Alice Smith)"), "{text}");
    assert_eq!(stderr(&out), "");
    let accounts = std::fs::read_to_string(w.env.state_dir().join("accounts.json")).unwrap();
    assert!(accounts.contains("contoso") && !accounts.contains(&pat), "no secret in {accounts}");

    w.clone_and_push_quietly("contoso", "clone");
    let log = w.devops.auth_log();
    assert!(log.contains(&Auth::Accepted("Basic Alice Smith".into())), "{log:?}");
    assert!(!log.iter().any(|a| matches!(a, Auth::Refused(_))), "{log:?}");
    let stored = w.env.stored_credentials();
    assert!(!stored.contains("contoso"), "git's store of our PAT is not kept twice: {stored}");

    // The same organization's visualstudio.com address is served the same PAT.
    let host = format!("contoso.visualstudio.com:{}", w.devops.addr.port());
    let out = w.env.helper(&["get"], &format!("protocol=http\nhost={host}\npath=proj/_git/repo\n\n"));
    assert_eq!(stdout(&out), format!("username=pat\npassword={pat}\n"));
    // Another organization is not.
    let out = w.env.helper(&["get"], &format!("protocol=http\nhost={}\npath=fabrikam/p\n\n", w.devops.addr));
    let line = support::refusal(&out);
    assert!(line.contains("no account is signed in for the Azure DevOps organization fabrikam"), "{line}");
}

#[test]
fn a_pat_that_azure_devops_does_not_confirm_is_not_saved() {
    let w = contoso();
    let expired = w.pats.issue("contoso", "Alice", true);
    w.pats.set_state(&expired, PatState::Expired);
    let out = w.login_pat(&["--org", "contoso"], &expired);
    assert!(!out.status.success());
    let line = one_line(&stderr(&out)).to_owned();
    assert!(line.contains("refused the PAT for contoso (HTTP 401)") && line.contains("expired"), "{line}");
    assert!(line.ends_with("the PAT was not saved") && !line.contains(&expired), "{line}");

    let page = w.pats.issue("contoso", "Alice", true);
    w.pats.set_state(&page, PatState::SignInPage);
    let line = one_line(&stderr(&w.login_pat(&["--org", "contoso"], &page))).to_owned();
    assert!(line.contains("sign-in page (HTTP 203)"), "{line}");

    let other = w.pats.issue("fabrikam", "Alice", true);
    let line = one_line(&stderr(&w.login_pat(&["--org", "contoso"], &other))).to_owned();
    assert!(line.contains("another organization"), "a PAT for another organization: {line}");

    let out = w.login_pat(&["--org", "contoso"], "");
    assert!(one_line(&stderr(&out)).contains("no PAT was given"));
    assert!(status(&w).contains("PATs:    none"));
}

#[test]
fn a_refused_pat_is_removed_and_the_user_told_once() {
    let w = contoso();
    let pat = w.pats.issue("contoso", "Alice", true);
    assert_success(&w.login_pat(&["--org", "contoso"], &pat), "login --pat");
    assert_success(&w.clone_repo("contoso", "clone"), "git clone");

    w.pats.set_state(&pat, PatState::Expired);
    let line = support::refusal_through_git(&w.clone_repo("contoso", "again"));
    assert!(
        line.contains("refused the PAT for contoso")
            && line.contains("removed")
            && line.ends_with("add a new one with: git-credential-azdo login --pat --org contoso"),
        "{line}"
    );
    assert!(status(&w).contains("PATs:    none"), "removed");

    let line = support::refusal_through_git(&w.clone_repo("contoso", "third"));
    assert!(!line.contains("refused"), "told once: {line}");

    // A PAT is removed only when Azure DevOps says it is no good: not when it cannot be asked.
    let fresh = w.pats.issue("contoso", "Alice", true);
    assert_success(&w.login_pat(&["--org", "contoso"], &fresh), "a new PAT");
    w.pats.set_state(&fresh, PatState::Expired);
    w.pats.set_connection_data_down(true);
    let line = support::refusal_through_git(&w.clone_repo("contoso", "unconfirmed"));
    assert!(line.contains("could not be asked why, so it was kept"), "{line}");
    assert!(status(&w).contains("contoso (Alice)"), "kept");
    w.pats.set_connection_data_down(false);
    assert!(support::refusal_through_git(&w.clone_repo("contoso", "unconfirmed")).contains("it was removed"));

    let fresh = w.pats.issue("contoso", "Alice", true);
    assert_success(&w.login_pat(&["--org", "contoso"], &fresh), "a new PAT");
    assert_success(&w.clone_repo("contoso", "fourth"), "git clone with the new PAT");
}

#[test]
fn a_pat_without_write_access_is_kept_when_a_push_is_refused() {
    let w = contoso();
    let read_only = w.pats.issue("contoso", "Alice", false);
    assert_success(&w.login_pat(&["--org", "contoso"], &read_only), "login --pat");
    assert_success(&w.clone_repo("contoso", "clone"), "git clone");
    let line = support::refusal_through_git(&w.commit_and_push("clone"));
    assert!(line.contains("accepts the PAT for contoso but refused it") && line.contains("Code"), "{line}");
    assert!(status(&w).contains("contoso (Alice)"), "kept: it still reads");
    assert_success(&w.clone_repo("contoso", "again"), "git clone");
}

/// A fake Azure DevOps Server with a collection under `/tfs/` and one without.
fn server(w: &World) -> GitServer {
    let root = w.env.path("server");
    for collection in ["tfs/DefaultCollection", "Main"] {
        make_repo(&w.env, &root.join(format!("{collection}/proj/_git")), "repo");
    }
    support::devops::start_server(&root, &w.pats, &["/tfs/DefaultCollection", "/Main"])
}

#[test]
fn server_collections_with_and_without_tfs_get_their_own_pat() {
    let w = World::new(&[], &[]);
    let tfs = server(&w);
    let default_collection = format!("http://{}/tfs/DefaultCollection", tfs.addr);
    let main = format!("http://{}/Main", tfs.addr);
    let default_pat = w.pats.issue("/tfs/DefaultCollection", "Carol", true);
    let main_pat = w.pats.issue("/Main", "Carol", true);

    // A repository URL names its collection.
    let out = w.login_pat(&["--url", &format!("{default_collection}/proj/_git/repo")], &default_pat);
    assert_success(&out, "login --pat --url");
    let text = stdout(&out);
    assert!(text.contains(&format!("Saved the PAT for {default_collection} (it belongs to Carol)")), "{text}");
    assert!(text.contains("plain http"), "a warning for http: {text}");
    assert!(text.contains(&format!("git now asks git-credential-azdo for http://{}", tfs.addr)), "{text}");
    let config = std::fs::read_to_string(w.env.path("gitconfig")).unwrap();
    assert!(config.contains(&format!("[credential \"http://{}/\"]", tfs.addr)), "the server's section: {config}");

    // git finds us for the server through what `login --pat` configured, with no other setting.
    let clone = |collection: &str, dir: &str| {
        let url = format!("{collection}/proj/_git/repo");
        w.env.git_as_configured(&["clone", "-q", &url, w.env.path(dir).to_str().unwrap()], "")
    };
    assert_success(&clone(&default_collection, "default"), "git clone");
    assert_success(&w.commit_and_push("default"), "git push");
    // No PAT for /Main: git gets nothing, and the other collection's PAT is not sent there.
    assert!(!clone(&main, "main-without").status.success());
    let misdirected = Auth::Refused(format!("Basic {default_pat}"));
    assert!(!tfs.auth_log().contains(&misdirected), "the PAT of one collection never goes to another");

    assert_success(&w.login_pat(&["--url", &main], &main_pat), "login --pat for /Main");
    assert_success(&clone(&main, "main"), "git clone");
    assert_success(&w.commit_and_push("main"), "git push");
    let listed = status(&w);
    assert!(listed.contains(&default_collection) && listed.contains(&main), "{listed}");
}

#[test]
fn a_tfs_collection_on_the_azure_devops_url_is_a_collection_not_an_organization() {
    let mut w = World::new(&[], &[]);
    let tfs = server(&w);
    // The Azure DevOps URL and the Server are one address (a server given as the Azure DevOps
    // URL, or a test's fake): `/tfs/DefaultCollection` is not an organization named `tfs`.
    w.env.set_env("GIT_CREDENTIAL_AZDO_DEVOPS_URL", format!("http://{}", tfs.addr));
    let collection = format!("http://{}/tfs/DefaultCollection", tfs.addr);
    let pat = w.pats.issue("/tfs/DefaultCollection", "Carol", true);
    let out = w.login_pat(&["--url", &format!("{collection}/proj/_git/repo")], &pat);
    assert_success(&out, "login --pat --url");
    let text = stdout(&out);
    assert!(text.contains(&format!("Saved the PAT for {collection} (it belongs to Carol)")), "{text}");
    assert!(!text.contains("PAT for tfs"), "{text}");
    let url = format!("{collection}/proj/_git/repo");
    let out = w.env.git(&["clone", "-q", &url, w.env.path("clone").to_str().unwrap()], "");
    assert_success(&out, "git clone from the collection");
    assert!(tfs.auth_log().contains(&Auth::Accepted("Basic Carol".into())), "{:?}", tfs.auth_log());
}

#[test]
fn an_organizations_entra_account_and_pat_answer_as_the_setting_says() {
    let w = World::new(
        &[("alice@contoso.com", CONTOSO_TENANT)],
        &[("contoso", CONTOSO_TENANT), ("fabrikam", CONTOSO_TENANT)],
    );
    assert_success(&w.login(&["--org", "contoso"]), "login");
    let pat = w.pats.issue("contoso", "Alice", true);
    let out = w.login_pat(&["--org", "contoso"], &pat);
    assert_success(&out, "login --pat");
    let key = format!("azdo.http://{}/contoso.auth", w.devops.addr);
    assert!(stdout(&out).contains(&format!("run: git config --global {key} pat")), "{}", stdout(&out));
    w.start_daemon();
    let url = w.url("contoso");
    let password = || w.env.fill(&url).1;

    // By default the account bound to the organization answers.
    assert_eq!(w.owner(&password()).as_deref(), Some("alice@contoso.com"));
    // The running daemon follows a change to the global git config at once.
    let config = |value: &str| {
        let out = w.env.git(&["config", "--global", &key, value], "");
        assert_success(&out, "git config");
    };
    config("pat");
    assert_eq!(password(), pat);
    assert_success(&w.env.git(&["clone", "-q", &url, w.env.path("clone").to_str().unwrap()], ""), "clone with the PAT");
    config("oauth");
    assert_eq!(w.owner(&password()).as_deref(), Some("alice@contoso.com"));

    // An account that is not bound to an organization comes after the organization's PAT.
    let fabrikam_pat = w.pats.issue("fabrikam", "Alice", true);
    assert_success(&w.login_pat(&["--org", "fabrikam"], &fabrikam_pat), "login --pat");
    assert_eq!(w.env.fill(&w.url("fabrikam")).1, fabrikam_pat);
    // And when the bound account must sign in again, its PAT still answers.
    config("auto");
    w.entra.revoke("alice@contoso.com");
    let given = w.env.fill(&url);
    w.reject(&url, &given);
    assert_eq!(password(), pat, "the PAT answers while the account cannot");
}

#[test]
fn status_lists_pats_with_age_and_warns_before_one_expires() {
    let w = contoso();
    let pat = w.pats.issue("contoso", "Alice", true);
    let soon = (chrono::Utc::now().date_naive() + chrono::Days::new(3)).format("%Y-%m-%d").to_string();
    let out = w.login_pat(&["--org", "contoso", "--expires", &soon], &pat);
    assert_success(&out, "login --pat --expires");
    assert!(stdout(&out).contains(&format!("It expires on {soon}")), "{}", stdout(&out));
    let listed = status(&w);
    assert!(listed.contains(&format!("contoso (Alice)  added 0 min ago, in file, expires on {soon}")), "{listed}");
    assert!(listed.contains("warning: it expires soon; renew it in Azure DevOps, then run: git-credential-azdo login --pat --org contoso"), "{listed}");
    assert!(!listed.contains(&pat), "never the value");
    let json = stdout(&w.env.helper(&["status", "--json"], ""));
    assert!(json.contains("\"pats\"") && !json.contains(&pat), "{json}");
}

#[test]
#[cfg(target_os = "linux")] // util-linux's `script`, GNU `stty -F` and /proc
fn in_a_terminal_the_pat_is_prompted_for_without_echo() {
    use std::io::{Read as _, Write as _};
    let w = contoso();
    let pat = w.pats.issue("contoso", "Alice", true);
    // `script` gives the command a terminal; the PAT is typed once the prompt shows, as a
    // person would (typed earlier, the terminal would echo it before the prompt turns echo off).
    let mut cmd = w.env.command("script");
    cmd.args(["-qec", &format!("{} login --pat --org contoso", support::BIN), "/dev/null"]);
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (chunks, received) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buffer = [0; 4096];
        while let Ok(n @ 1..) = stdout.read(&mut buffer) {
            let _ = chunks.send(buffer[..n].to_vec());
        }
    });
    let mut screen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !String::from_utf8_lossy(&screen).contains("PAT for contoso: ") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok(chunk) = received.recv_timeout(left) else {
            let _ = child.kill();
            panic!("no prompt: {}", String::from_utf8_lossy(&screen));
        };
        screen.extend(chunk);
    }
    // The prompt shows before echo is turned off: type once the terminal says it is off.
    support::wait_for("echo off", std::time::Duration::from_secs(20), || echo_is_off(&w));
    child.stdin.take().unwrap().write_all(format!("{pat}\n").as_bytes()).unwrap();
    let finished = support::wait_for_exit(&mut child, std::time::Duration::from_secs(20));
    reader.join().unwrap();
    screen.extend(received.try_iter().flatten());
    let screen = String::from_utf8_lossy(&screen).into_owned();
    assert!(finished.success(), "login --pat in a terminal: {screen}");
    assert!(!screen.contains(&pat), "the PAT is not echoed: {screen}");
    assert!(screen.contains("Saved the PAT for contoso"), "{screen}");
}

/// Whether the terminal of the running `login` has echo turned off (`stty -a` says `-echo`).
#[cfg(target_os = "linux")]
fn echo_is_off(w: &World) -> bool {
    w.env.processes("login").iter().any(|pid| {
        let Ok(tty) = std::fs::read_link(format!("/proc/{pid}/fd/0")) else { return false };
        let Ok(out) = std::process::Command::new("stty").arg("-F").arg(&tty).arg("-a").output() else { return false };
        String::from_utf8_lossy(&out.stdout).split_whitespace().any(|flag| flag == "-echo")
    })
}

#[test]
fn no_pat_reaches_the_logs_or_status_at_the_most_verbose_level() {
    let mut w = contoso();
    let log = w.env.path("trace.log");
    w.env.set_env("GIT_CREDENTIAL_AZDO_LOG", "trace");
    w.env.set_env("GIT_CREDENTIAL_AZDO_LOG_FILE", &log);
    let refused = w.pats.issue("contoso", "Alice", true);
    w.pats.set_state(&refused, PatState::Expired);
    assert!(!w.login_pat(&["--org", "contoso"], &refused).status.success());
    let pat = w.pats.issue("contoso", "Alice", true);
    assert_success(&w.login_pat(&["--org", "contoso"], &pat), "login --pat");
    assert_success(&w.clone_repo("contoso", "clone"), "git clone");
    w.pats.set_state(&pat, PatState::Expired);
    assert!(!w.clone_repo("contoso", "again").status.success());
    let status = stdout(&w.env.helper(&["status", "--json"], ""));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("removing a refused PAT"), "the trace was written: {logged}");
    for secret in [&refused, &pat] {
        assert!(!logged.contains(secret.as_str()), "a PAT leaked into the log");
        assert!(!status.contains(secret.as_str()), "a PAT leaked into status");
    }
}
