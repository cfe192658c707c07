//! Azure DevOps Server behind IIS with Windows authentication: the fake offers `Negotiate`,
//! `NTLM` and `Basic` and refuses an NTLM attempt, as IIS does. Given a username and password,
//! git's curl picks NTLM and the PAT is refused; given the PAT as a ready Basic credential
//! (git 2.46 and later announce `capability[]=authtype`), git sends Basic and nothing else.

#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

#[cfg(unix)]
use std::path::PathBuf;

use base64::Engine as _;
use support::git_server::{Auth, GitServer};
use support::world::World;
use support::{assert_success, make_repo, stdout};

/// A server with a collection `/tfs/DefaultCollection` and a PAT of Carol's kept for it.
fn server_with_a_pat(w: &World) -> (GitServer, String, String) {
    let root = w.env.path("server");
    make_repo(&w.env, &root.join("tfs/DefaultCollection/proj/_git"), "repo");
    let tfs = support::devops::start_server(&root, &w.pats, &["/tfs/DefaultCollection"]);
    let collection = format!("http://{}/tfs/DefaultCollection", tfs.addr);
    let pat = w.pats.issue("/tfs/DefaultCollection", "Carol", true);
    (tfs, collection, pat)
}

fn windows_attempts(server: &GitServer) -> usize {
    server.auth_log().iter().filter(|a| matches!(a, Auth::Refused(s) if s == "NTLM" || s == "Negotiate")).count()
}

#[test]
fn a_pat_goes_to_a_server_offering_windows_authentication_as_basic() {
    let w = World::new(&[], &[]);
    let (tfs, collection, pat) = server_with_a_pat(&w);
    let out = w.login_pat(&["--url", &collection], &pat);
    assert_success(&out, "login --pat --url");
    assert!(!stdout(&out).contains("Windows authentication"), "git 2.46+ needs no warning: {}", stdout(&out));

    let url = format!("{collection}/proj/_git/repo");
    let out = w.env.git_as_configured(&["clone", "-q", &url, w.env.path("clone").to_str().unwrap()], "");
    assert_success(&out, "git clone");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_success(&w.commit_and_push("clone"), "git push");
    assert!(tfs.auth_log().contains(&Auth::Accepted("Basic Carol".into())));
    assert_eq!(windows_attempts(&tfs), 0, "curl never tried NTLM: {:?}", tfs.auth_log());

    // What git is given: the Authorization value whole, not to be stored.
    let request =
        format!("capability[]=authtype\nprotocol=http\nhost={}\npath=tfs/DefaultCollection/proj\n\n", tfs.addr);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("pat:{pat}"));
    let answer = stdout(&w.env.helper(&["get"], &request));
    assert_eq!(answer, format!("capability[]=authtype\nauthtype=Basic\ncredential={basic}\nephemeral=1\n"));
    // git hands it back to erase when refused: the PAT inside it is recognized (and kept, as
    // Azure DevOps still accepts it).
    let erase = format!(
        "capability[]=authtype\nauthtype=Basic\ncredential={basic}\nprotocol=http\nhost={}\npath=tfs/DefaultCollection/proj\n\n",
        tfs.addr
    );
    let out = w.env.helper(&["erase"], &erase);
    let line = support::our_only_line(&out);
    assert!(line.contains("Azure DevOps accepts the PAT for") && !line.contains("Windows"), "{line}");
}

#[test]
fn an_organizations_pat_goes_as_basic_even_where_windows_authentication_is_offered() {
    let w = World::contoso();
    w.pats.offer_windows_auth();
    let pat = w.pats.issue("contoso", "Alice", true);
    assert_success(&w.login_pat(&["--org", "contoso"], &pat), "login --pat");
    w.clone_and_push_quietly("contoso", "clone");
    assert!(w.devops.auth_log().contains(&Auth::Accepted("Basic Alice".into())));
    assert_eq!(windows_attempts(&w.devops), 0);
}

/// A git older than 2.46 (Debian 12's /usr/bin/git is 2.39), which answers no capabilities.
#[cfg(unix)]
fn old_git() -> Option<PathBuf> {
    let git = PathBuf::from("/usr/bin/git");
    let out = std::process::Command::new(&git).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let minor: u32 = text.strip_prefix("git version 2.")?.split('.').next()?.parse().ok()?;
    (minor < 46).then_some(git)
}

#[test]
#[cfg(unix)]
fn with_a_git_before_2_46_the_windows_authentication_is_named_and_the_fix_said() {
    let Some(git) = old_git() else {
        return support::skip("needs a git before 2.46 at /usr/bin/git (Debian 12's git package)");
    };
    let mut w = World::new(&[], &[]);
    let (tfs, collection, pat) = server_with_a_pat(&w);
    // `login --pat` runs the old git.
    let bin = w.env.path("old-git");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(&git, bin.join("git")).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    w.env.set_env("PATH", path);
    let out = w.login_pat(&["--url", &collection], &pat);
    assert_success(&out, "login --pat --url");
    let text = stdout(&out);
    let origin = format!("http://{}", tfs.addr);
    assert!(
        text.contains(&format!(
            "Warning: {origin} offers Windows authentication (NTLM) before Basic, and git 2.39 would send the PAT \
             with NTLM, which the server refuses: use git 2.46 or later"
        )),
        "{text}"
    );

    let url = format!("{collection}/proj/_git/repo");
    let out = w.env.git_as_configured(&["clone", "-q", &url, w.env.path("clone").to_str().unwrap()], "");
    assert!(windows_attempts(&tfs) > 0, "{:?}", tfs.auth_log());
    let line = support::refusal_through_git(&out);
    assert!(
        line.contains(
            "offers Windows authentication (NTLM, Negotiate) before Basic, so git sent the PAT, which \
             Azure DevOps accepts, as a Windows password"
        ) && line.contains("use git 2.46 or later"),
        "not the PAT's scopes: {line}"
    );
    assert!(stdout(&w.env.helper(&["status"], "")).contains(&collection), "the PAT is kept");
}
