//! The command line's generated companions: `--version`, shell completions and the man page
//! come from the same definitions as the parser, so they name every command.

#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use support::{TestEnv, assert_success, stderr, stdout};

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

#[test]
fn log_lines_are_coloured_on_a_terminal_only_never_in_a_pipe_or_the_log_file() {
    let mut env = TestEnv::new();
    env.set_env("GIT_CREDENTIAL_AZDO_LOG", "debug");
    env.set_env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1");
    let request = "protocol=https\nhost=example.com\n\n";

    // stderr as git captures it: a pipe.
    let mut cmd = env.command(env.bin());
    cmd.env_remove("NO_COLOR").arg("get");
    let piped = support::run(cmd, request);
    assert_success(&piped, "get");
    let text = stderr(&piped);
    assert!(text.contains("DEBUG"), "there are log lines to look at: {text}");
    assert!(!text.contains('\x1b'), "no escape codes in a pipe: {text:?}");

    // The log file.
    let log = env.path("azdo.log");
    env.set_env("GIT_CREDENTIAL_AZDO_LOG_FILE", &log);
    let mut cmd = env.command(env.bin());
    cmd.env_remove("NO_COLOR").arg("get");
    assert_success(&support::run(cmd, request), "get with a log file");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("DEBUG") && !text.contains('\x1b'), "a plain log file: {text:?}");
    env.remove_env("GIT_CREDENTIAL_AZDO_LOG_FILE");

    // A terminal (util-linux's `script` gives the command one): coloured, unless NO_COLOR.
    if std::process::Command::new("script").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must install bsdutils' script (see .ci/run)");
        eprintln!("skipped the terminal half: no `script` here");
        return;
    }
    let on_a_terminal = |no_color: bool| {
        let line = format!("printf 'protocol=https\\nhost=example.com\\n\\n' | '{}' get", env.bin().display());
        let mut cmd = env.command("script");
        cmd.env_remove("NO_COLOR").args(["-qec", &line, "/dev/null"]);
        if no_color {
            cmd.env("NO_COLOR", "1");
        }
        let out = support::run(cmd, "");
        assert_success(&out, "get on a terminal");
        stdout(&out)
    };
    let text = on_a_terminal(false);
    assert!(text.contains("DEBUG") && text.contains("\x1b["), "coloured on a terminal: {text:?}");
    let text = on_a_terminal(true);
    assert!(text.contains("DEBUG") && !text.contains('\x1b'), "NO_COLOR is honoured: {text:?}");
}
