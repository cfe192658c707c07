//! `install` and `uninstall` against real git configuration files, checked by real git: after
//! `install`, a plain `git clone` and `git push` find the helper with no other setting, another
//! helper that would answer a stale password is not asked for Azure DevOps but still answers for
//! every other host, and `uninstall` gives back the file as it was.

#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use std::path::Path;
use std::process::Output;

use support::git_server::Auth;
use support::world::{CONTOSO_TENANT, World};
use support::{BIN, assert_success, stdout};

/// A helper the user had before: it answers every host with a password Azure DevOps refuses.
const STALE_HELPER: &str = "[credential]\n\thelper = \"!f() { echo username=stale; echo password=stale; }; f\"\n";

fn world_with_a_pat() -> World {
    let w = World::new(&[], &[("contoso", CONTOSO_TENANT)]);
    let pat = w.pats.issue("contoso", "Alice", true);
    assert_success(&w.env.helper(&["login", "--pat", "--org", "contoso"], &format!("{pat}\n")), "login --pat");
    w
}

fn helper_from(w: &World, program: &Path, args: &[&str]) -> Output {
    let mut cmd = w.env.command(program);
    cmd.args(args);
    support::run(cmd, "")
}

/// What git's configured helpers answer for `url`: the username, if any.
fn username_for(w: &World, url: &str) -> Option<String> {
    let out = w.env.git_as_configured(&["credential", "fill"], &format!("url={url}\n\n"));
    stdout(&out).lines().find_map(|l| l.strip_prefix("username=")).map(str::to_owned)
}

fn clone_and_push(w: &World, dir: &str) {
    let target = w.env.path(dir);
    let out = w.env.git_as_configured(&["clone", "-q", &w.url("contoso"), target.to_str().unwrap()], "");
    assert_success(&out, "git clone through the installed helper");
    assert_eq!(support::stderr(&out), "", "nothing from us reaches the user");
    std::fs::write(target.join("NEW"), "pushed\n").unwrap();
    let git = |args: &[&str]| {
        let mut full = vec!["-C", target.to_str().unwrap(), "-c", "user.name=T", "-c", "user.email=t@example.com"];
        full.extend_from_slice(args);
        w.env.git_as_configured(&full, "")
    };
    assert_success(&git(&["add", "NEW"]), "git add");
    assert_success(&git(&["commit", "-q", "-m", "push me"]), "git commit");
    assert_success(&git(&["push", "-q", "origin", "main"]), "git push through the installed helper");
}

#[test]
fn install_puts_us_first_for_azure_devops_only_and_uninstall_restores_the_file() {
    let w = world_with_a_pat();
    let config = w.env.path("gitconfig");
    std::fs::write(&config, STALE_HELPER).unwrap();
    let repo = w.url("contoso");
    assert_eq!(username_for(&w, &repo).as_deref(), Some("stale"), "before: the stale helper answers");
    let not_asked = format!(
        "git does not ask git-credential-azdo for http://{}\n    run: git-credential-azdo install",
        w.devops.addr
    );
    assert!(stdout(&w.env.helper(&["status"], "")).contains(&not_asked), "status says what to run");

    let out = w.env.helper(&["install"], "");
    assert_success(&out, "install");
    let text = stdout(&out);
    assert!(text.contains(&format!("git now asks {BIN} for http://{}", w.devops.addr)), "{text}");
    assert!(text.contains("login --org"), "the next step: {text}");
    assert_eq!(support::stderr(&out), "");
    let installed = std::fs::read_to_string(&config).unwrap();
    assert!(installed.starts_with(STALE_HELPER), "the user's lines are untouched: {installed}");
    assert!(installed.contains(&format!("[credential \"http://{}/\"]", w.devops.addr)), "{installed}");
    assert!(installed.contains("[credential \"http://*.visualstudio.com:"), "{installed}");

    // Idempotent: a second install changes nothing and says so.
    let again = w.env.helper(&["install"], "");
    assert!(stdout(&again).starts_with("Already installed"), "{}", stdout(&again));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), installed);

    let status = stdout(&w.env.helper(&["status"], ""));
    assert!(status.ends_with("attention: nothing; all is well\n"), "{status}");
    clone_and_push(&w, "clone");
    let log = w.devops.auth_log();
    assert!(log.contains(&Auth::Accepted("Basic Alice".into())), "{log:?}");
    assert!(!log.contains(&Auth::Refused("Basic stale".into())), "the stale helper is never asked: {log:?}");
    assert_eq!(username_for(&w, &repo).as_deref(), Some("pat"));
    assert_eq!(username_for(&w, "https://example.com/repo").as_deref(), Some("stale"), "other hosts keep it");

    let out = w.env.helper(&["uninstall"], "");
    assert_success(&out, "uninstall");
    assert!(stdout(&out).contains("git no longer asks"), "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), STALE_HELPER, "exactly what was there");
    assert_eq!(username_for(&w, &repo).as_deref(), Some("stale"));
    let again = w.env.helper(&["uninstall"], "");
    assert_success(&again, "uninstall again");
    assert!(stdout(&again).starts_with("Nothing to remove"), "{}", stdout(&again));
}

#[test]
fn install_system_writes_the_machine_config_and_keeps_the_users_own() {
    let mut w = world_with_a_pat();
    let system = w.env.path("system-gitconfig");
    w.env.set_env("GIT_CONFIG_SYSTEM", &system);
    w.env.set_env("GIT_CONFIG_NOSYSTEM", "0");
    // The user's own helper, in the global file read after the system's.
    std::fs::write(w.env.path("gitconfig"), STALE_HELPER).unwrap();

    assert_success(&w.env.helper(&["install", "--system"], ""), "install --system");
    let text = std::fs::read_to_string(&system).unwrap();
    assert!(text.contains(&format!("[credential \"http://{}/\"]", w.devops.addr)), "{text}");
    assert_eq!(std::fs::read_to_string(w.env.path("gitconfig")).unwrap(), STALE_HELPER);
    // Ours is asked first; the user's, configured later, comes after and is not needed.
    clone_and_push(&w, "clone");

    assert_success(&w.env.helper(&["uninstall", "--system"], ""), "uninstall --system");
    assert!(!system.exists(), "install created the machine's file; uninstall removes it, empty");
}

#[test]
fn an_install_path_with_spaces_is_run_directly_by_git() {
    let w = world_with_a_pat();
    let dir = w.env.path("Program Files (x86)/it's here");
    std::fs::create_dir_all(&dir).unwrap();
    let program = dir.join("git-credential-azdo");
    std::fs::copy(BIN, &program).unwrap();
    std::fs::write(w.env.path("gitconfig"), "").unwrap();

    assert_success(&helper_from(&w, &program, &["install"]), "install from a path with spaces");
    let text = std::fs::read_to_string(w.env.path("gitconfig")).unwrap();
    assert!(text.contains(r"Program\\ Files\\ \\(x86\\)/it\\'s\\ here/git-credential-azdo"), "escaped: {text}");
    clone_and_push(&w, "clone");
    assert_eq!(username_for(&w, &w.url("contoso")).as_deref(), Some("pat"));
}

#[test]
fn uninstall_removes_a_config_file_that_install_created_and_left_empty_and_no_other() {
    let env = support::TestEnv::new();
    let config = env.path("gitconfig");
    let run = |args: &[&str]| {
        let out = env.helper(args, "");
        assert_success(&out, &args.join(" "));
        stdout(&out)
    };

    // No file before install: none after uninstall.
    std::fs::remove_file(&config).unwrap();
    run(&["install"]);
    assert!(std::fs::read_to_string(&config).unwrap().contains("git-credential-azdo"));
    run(&["install"]);
    let text = run(&["uninstall"]);
    assert!(
        text.contains(&format!("Removed {}: install created it, and it is empty now.", config.display())),
        "{text}"
    );
    assert!(!config.exists(), "no empty file is left where there was none");

    // An empty file before install: the same empty file after.
    std::fs::write(&config, "").unwrap();
    run(&["install"]);
    assert!(!run(&["uninstall"]).contains("Removed"));
    assert_eq!(std::fs::read_to_string(&config).unwrap(), "", "the file that was there stays");

    // Created by install, but the user has put a setting (or a comment) in it since: kept.
    for own in ["[user]\n\tname = Alice\n", "# my settings\n"] {
        std::fs::remove_file(&config).unwrap();
        run(&["install"]);
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(&config, format!("{own}{text}")).unwrap();
        assert!(!run(&["uninstall"]).contains("Removed"));
        assert_eq!(std::fs::read_to_string(&config).unwrap(), own, "the user's lines stay");
        // And the next install into that file does not count it as created.
        run(&["install"]);
        run(&["uninstall"]);
        assert_eq!(std::fs::read_to_string(&config).unwrap(), own);
    }
}
