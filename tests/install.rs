//! `install` and `uninstall` against real git configuration files, checked by real git: after
//! `install`, a plain `git clone` and `git push` find the helper with no other setting, another
//! helper that would answer a stale password is not asked for Azure DevOps but still answers for
//! every other host, and `uninstall` gives back the file as it was.

// The sign-in's "browser" (support::world::test_browser) and other stand-ins are shell scripts:
// Unix only. The Windows build's end-to-end tests are in tests/windows.rs.
#![cfg(unix)]
#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use std::path::Path;
use std::process::Output;

use support::git_server::Auth;
use support::world::{CONTOSO_TENANT, FABRIKAM_TENANT, World};
use support::{BIN, assert_success, stdout};

/// A helper the user had before: it answers every host with a password Azure DevOps refuses.
const STALE_HELPER: &str = "[credential]\n\thelper = \"!f() { echo username=stale; echo password=stale; }; f\"\n";

fn world_with_a_pat() -> World {
    let w = World::contoso();
    let pat = w.pats.issue("contoso", "Alice", true);
    assert_success(&w.login_pat(&["--org", "contoso"], &pat), "login --pat");
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
    let out = w.commit_and_push_with(dir, |args| w.env.git_as_configured(args, ""));
    assert_success(&out, "git push through the installed helper");
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

/// Runs `git config` in the test's environment, from `dir`.
fn git_config(w: &World, dir: &Path, args: &[&str]) -> String {
    let mut cmd = w.env.command("git");
    cmd.current_dir(dir).arg("config").args(args);
    let out = support::run(cmd, "");
    assert_success(&out, &format!("git config {args:?}"));
    stdout(&out)
}

/// Git Credential Manager's global configuration, written as it writes it: `configure` adds an
/// empty helper and its own path, and useHttpPath for dev.azure.com; the first `get` of an
/// organization binds the account that signed in (and caches the authority); the user may
/// have chosen a credential type.
fn configure_gcm(w: &World, credential_type: Option<&str>) {
    let home = w.env.path("home");
    git_config(w, &home, &["--global", "--add", "credential.helper", ""]);
    git_config(w, &home, &["--global", "--add", "credential.helper", "/usr/local/bin/git-credential-manager"]);
    git_config(w, &home, &["--global", "credential.https://dev.azure.com.useHttpPath", "true"]);
    for (organization, user, tenant) in
        [("Contoso", "alice@contoso.com", CONTOSO_TENANT), ("fabrikam", "bob@fabrikam.com", FABRIKAM_TENANT)]
    {
        git_config(w, &home, &["--global", &format!("credential.azrepos:org/{organization}.username"), user]);
        let authority = format!("https://login.microsoftonline.com/{tenant}");
        git_config(
            w,
            &home,
            &["--global", &format!("credential.azrepos:org/{organization}.azureAuthority"), &authority],
        );
    }
    if let Some(kind) = credential_type {
        git_config(w, &home, &["--global", "credential.azreposCredentialType", kind]);
    }
}

fn install_from(w: &World, dir: &Path, args: &[&str]) -> String {
    let mut cmd = w.env.command(BIN);
    cmd.current_dir(dir).arg("install").args(args);
    let out = support::run(cmd, "");
    assert_success(&out, "install");
    assert_eq!(support::stderr(&out), "", "install is quiet on stderr");
    stdout(&out)
}

#[test]
fn install_imports_git_credential_managers_bindings_and_credential_type_and_leaves_its_settings() {
    let w = World::two_tenants();
    // Alice is signed in here (no organization bound); Bob is not.
    assert_success(&w.login(&[]), "login");
    configure_gcm(&w, Some("oauth"));
    // A repository where GCM bound contoso to another account, and told fabrikam not to
    // inherit the global binding.
    let repo = w.env.path("home/work");
    std::fs::create_dir_all(&repo).unwrap();
    assert_success(
        &support::run(
            {
                let mut c = w.env.command("git");
                c.current_dir(&repo).args(["init", "-q"]);
                c
            },
            "",
        ),
        "git init",
    );
    git_config(&w, &repo, &["remote.origin.url", &w.url("contoso")]);
    git_config(&w, &repo, &["--local", "credential.azrepos:org/contoso.username", "carol@contoso.com"]);
    git_config(&w, &repo, &["--local", "credential.azrepos:org/fabrikam.username", ""]);
    let global = w.env.path("gitconfig");
    let before = std::fs::read_to_string(&global).unwrap();
    let local_before = std::fs::read_to_string(repo.join(".git/config")).unwrap();

    let text = install_from(&w, &repo, &[]);
    assert!(text.contains("Found Git Credential Manager (credential.helper = /usr/local/bin/git-credential-manager, in the global git config): git now asks git-credential-azdo ahead of it"), "{text}");
    assert!(text.contains("  contoso: bound to alice@contoso.com, as in Git Credential Manager\n"), "{text}");
    assert!(text.contains("  fabrikam: bob@fabrikam.com, who must sign in here"), "{text}");
    assert!(text.contains("  git-credential-azdo login --org fabrikam   (as bob@fabrikam.com)\n"), "{text}");
    let local_key = format!("credential.http://{}/contoso.username", w.devops.addr);
    assert!(
        text.contains(&format!("  contoso, in this repository: carol@contoso.com ({local_key} = carol@contoso.com")),
        "{text}"
    );
    assert!(text.contains("  fabrikam, in this repository: Git Credential Manager's \"do not inherit\""), "{text}");
    assert!(text.contains("  git-credential-azdo login   (as carol@contoso.com, for this repository)\n"), "{text}");
    assert!(
        text.contains("  credential.azreposCredentialType = oauth: azdo.auth = oauth (only Entra ID tokens answer"),
        "{text}"
    );
    assert!(!text.contains("Next, sign in: git-credential-azdo login --org ORGANIZATION"), "{text}");

    // What was imported: our binding, our choice, git's key in the repository.
    let accounts = stdout(&w.env.helper(&["accounts"], ""));
    assert!(
        accounts.contains("alice@contoso.com  tenant") && accounts.contains("organizations: contoso "),
        "{accounts}"
    );
    assert_eq!(git_config(&w, &repo, &["--global", "azdo.auth"]), "oauth\n");
    assert_eq!(git_config(&w, &repo, &["--local", &local_key]), "carol@contoso.com\n");
    // GCM's own settings are as they were.
    let installed = std::fs::read_to_string(&global).unwrap();
    assert!(installed.starts_with(&before), "{installed}");
    assert!(std::fs::read_to_string(repo.join(".git/config")).unwrap().starts_with(&local_before));
    // git clones through us, as Alice, the account bound to contoso.
    clone_and_push(&w, "clone");
    assert!(
        w.devops.auth_log().contains(&Auth::Accepted("Bearer alice@contoso.com".into())),
        "{:?}",
        w.devops.auth_log()
    );

    // Bob signs in with the command given: fabrikam is his. Then install has nothing more to do.
    w.entra.with(|s| s.next_user = 1);
    assert_success(&w.login(&["--org", "fabrikam"]), "login as bob");
    let again = install_from(&w, &repo, &[]);
    assert!(again.starts_with("Already installed"), "{again}");
    assert!(!again.contains("must sign in") && !again.contains("bound to"), "nothing left to import: {again}");
    assert!(again.contains("azdo.auth is set to oauth already, and kept"), "{again}");
    assert_eq!(std::fs::read_to_string(&global).unwrap(), installed, "the second install wrote nothing");

    // uninstall leaves GCM's settings as they were; the imported choice stays, as accounts do.
    assert_success(&w.env.helper(&["uninstall"], ""), "uninstall");
    assert_eq!(std::fs::read_to_string(&global).unwrap(), format!("{before}[azdo]\n\tauth = oauth\n"));
}

#[test]
fn gcms_default_credential_type_imports_no_choice_and_no_import_imports_nothing() {
    let mut w = World::alice_and_contoso();
    assert_success(&w.login(&[]), "login");
    configure_gcm(&w, None);
    // Git for Windows names GCM in the machine's file.
    let system = w.env.path("system-gitconfig");
    std::fs::write(&system, "[credential]\n\thelper = manager\n").unwrap();
    w.env.set_env("GIT_CONFIG_SYSTEM", &system);
    w.env.set_env("GIT_CONFIG_NOSYSTEM", "0");
    let global = w.env.path("gitconfig");
    let before = std::fs::read_to_string(&global).unwrap();
    let home = w.env.path("home");

    let text = install_from(&w, &home, &["--no-import"]);
    assert!(
        text.contains("Found Git Credential Manager (credential.helper = manager, in the system git config; credential.helper = /usr/local/bin/git-credential-manager, in the global git config)"),
        "{text}"
    );
    assert!(text.contains("were not imported (--no-import)") && !text.contains("bound to"), "{text}");
    assert!(stdout(&w.env.helper(&["accounts"], "")).contains("organizations: none bound"));

    let text = install_from(&w, &home, &[]);
    assert!(text.contains("Git Credential Manager made PATs with your sign-in (its default)"), "{text}");
    assert!(text.contains("azdo.auth stays auto"), "{text}");
    assert!(text.contains("  contoso: bound to alice@contoso.com"), "{text}");
    // Not `pat`: nothing is written, and Alice's Entra token answers.
    let unset = w.env.command("git").args(["config", "--global", "--get", "azdo.auth"]).status().unwrap();
    assert_eq!(unset.code(), Some(1), "azdo.auth is not set");
    clone_and_push(&w, "clone");

    assert_success(&w.env.helper(&["uninstall"], ""), "uninstall");
    assert_eq!(std::fs::read_to_string(&global).unwrap(), before, "exactly GCM's file, as it was");
}
