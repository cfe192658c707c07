//! The command line's generated companions: `--version`, shell completions and the man page
//! come from the same definitions as the parser, so they name every command.

#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use support::{TestEnv, assert_success, stdout};

const COMMANDS: &[&str] =
    &["install", "uninstall", "login", "logout", "accounts", "status", "daemon", "completions", "token", "pat"];
/// Subcommands that the completion scripts complete too.
const PAT_ACTIONS: &[&str] = &["create", "list", "revoke"];

#[test]
fn version_completions_and_man_page_cover_every_command() {
    let env = TestEnv::new();
    let version = env.helper(&["--version"], "");
    assert_success(&version, "--version");
    assert_eq!(stdout(&version), format!("git-credential-azdo {}\n", env!("CARGO_PKG_VERSION")));

    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = env.helper(&["completions", shell], "");
        assert_success(&out, shell);
        let script = stdout(&out);
        for command in COMMANDS.iter().chain(PAT_ACTIONS) {
            assert!(script.contains(command), "{shell} completes {command}");
        }
    }
    let bash = stdout(&env.helper(&["completions", "bash"], ""));
    let checked = std::process::Command::new("bash").args(["-n", "-c", &bash]).status().unwrap();
    assert!(checked.success(), "the bash script parses");

    let man = env.helper(&["man"], "");
    assert_success(&man, "man");
    let page = stdout(&man);
    assert!(page.starts_with(".ie") && page.contains(".TH git-credential-azdo 1"), "a roff page");
    for command in COMMANDS {
        assert!(page.contains(command), "the man page names {command}");
    }
}
