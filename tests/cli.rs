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
    assert!(page.contains(".SH ENVIRONMENT") && page.contains(".SH FILES"), "the top page's own sections");
    for command in COMMANDS {
        assert!(
            page.contains(&format!("git\\-credential\\-azdo\\-{command}(1)")),
            "the man page names {command}'s page"
        );
    }

    // A page per subcommand, with its options; all of them into a directory, for packages.
    let login = stdout(&env.helper(&["man", "login"], ""));
    assert!(login.contains(".TH git-credential-azdo-login 1") && login.contains("\\-\\-device"), "{login}");
    let create = stdout(&env.helper(&["man", "pat", "create"], ""));
    assert!(create.contains(".TH git-credential-azdo-pat-create 1") && create.contains("\\-\\-scope"), "{create}");
    let unknown = env.helper(&["man", "nope"], "");
    assert!(!unknown.status.success() && stderr(&unknown).contains("has no subcommand nope"));
    let dir = env.path("man1");
    let written = env.helper(&["man", "--dir", dir.to_str().unwrap()], "");
    assert_success(&written, "man --dir");
    assert_eq!(std::fs::read_to_string(dir.join("git-credential-azdo.1")).unwrap(), page);
    assert_eq!(std::fs::read_to_string(dir.join("git-credential-azdo-login.1")).unwrap(), login);
    for command in COMMANDS.iter().chain(["pat-create", "pat-list", "pat-revoke", "daemon-stop"].iter()) {
        let file = dir.join(format!("git-credential-azdo-{command}.1"));
        assert!(stdout(&written).contains(&*file.to_string_lossy()), "{} was written", file.display());
        assert!(file.is_file(), "{}", file.display());
    }
    if !std::process::Command::new("man").arg("--version").output().is_ok_and(|o| o.status.success()) {
        return support::skip("its last check needs man (Debian's man-db)");
    }
    // man(1) reads every page as roff.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let out = std::process::Command::new("man")
            .arg("-l")
            .arg(&path)
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .output()
            .unwrap();
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "{}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The environment variables the program reads, as string literals in its source.
fn variables_in_the_source() -> Vec<String> {
    const OURS: [&str; 6] = ["GIT_CREDENTIAL_AZDO_", "GIT_SSL_", "AZURE_", "SYSTEM_", "ACTIONS_", "IDENTITY_"];
    let mut found = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/src"))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for literal in text.split('"').skip(1).step_by(2) {
                let is_name = !literal.is_empty() && literal.chars().all(|c| c.is_ascii_uppercase() || c == '_');
                // `GIT_CREDENTIAL_AZDO_TEST_*`: hooks of the tests, not for users.
                let ours = OURS.iter().any(|p| literal.starts_with(p)) && !literal.contains("_TEST_");
                if is_name && ours && !literal.ends_with('_') {
                    found.push(literal.to_owned());
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn every_environment_variable_read_is_in_the_man_page_and_the_readme() {
    let variables = variables_in_the_source();
    assert!(variables.len() > 25 && variables.contains(&"GIT_CREDENTIAL_AZDO_BROWSER".to_owned()), "{variables:?}");
    let env = TestEnv::new();
    let page = stdout(&env.helper(&["man"], ""));
    let environment = &page[page.find(".SH ENVIRONMENT").unwrap()..page.find(".SH FILES").unwrap()];
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for variable in variables.iter().map(String::as_str).chain(["NO_COLOR", "GIT_TERMINAL_PROMPT", "HTTPS_PROXY"]) {
        assert!(environment.contains(variable), "ENVIRONMENT lists {variable}");
        assert!(readme.contains(variable), "the README names {variable}");
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
        return support::skip("its terminal half needs util-linux's script (Debian's bsdutils)");
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
