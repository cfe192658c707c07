//! `git-credential-azdo`: parse the command line, dispatch, and report errors once, on one line.

use std::process::ExitCode;

use clap::Parser;
use git_credential_azdo::cli::{Cli, Command};
use git_credential_azdo::config::Config;
use git_credential_azdo::git::helper::{self, Action};
use git_credential_azdo::{commands, logging};

fn main() -> ExitCode {
    logging::init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole cause chain on one line.
            eprintln!("git-credential-azdo: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn level(system: bool) -> commands::install::Level {
    if system { commands::install::Level::System } else { commands::install::Level::Global }
}

/// git's own invocations (`git-credential-azdo get`, nothing else on the line) skip building the
/// whole command line's parser: git runs us on every fetch, pull and push, and clap's set-up
/// costs a measurable part of a warm `get` (see BENCHMARKS.md).
fn git_action() -> Option<Action> {
    let mut args = std::env::args_os().skip(1);
    let action = match args.next()?.to_str()? {
        "get" => Action::Get,
        "store" => Action::Store,
        "erase" => Action::Erase,
        _ => return None,
    };
    args.next().is_none().then_some(action)
}

/// `git-credential-azdo daemon` alone, as a helper starts it, also skips the parser: the pages
/// of code a process touches stay in its resident memory, and the daemon lives for hours.
fn is_plain_daemon() -> bool {
    let mut args = std::env::args_os().skip(1);
    args.next().is_some_and(|arg| arg == "daemon") && args.next().is_none()
}

fn run() -> anyhow::Result<()> {
    if let Some(action) = git_action() {
        return helper::run(action, &Config::from_env()?, std::io::stdin().lock(), std::io::stdout().lock());
    }
    if is_plain_daemon() {
        return commands::daemon::run(&Config::from_env()?, None);
    }
    let cli = Cli::parse();
    match cli.command {
        // git's documentation: a helper ignores actions it does not know, silently.
        Command::Unknown(_) => return Ok(()),
        Command::Completions { shell } => return commands::generate::completions(shell),
        Command::Man { command, dir } => return commands::generate::man(&command, dir.as_deref()),
        _ => {}
    }
    let mut config = Config::from_env()?;
    if let Some(socket) = cli.socket {
        config.socket = Some(socket);
    }
    let action = match cli.command {
        Command::Get => Action::Get,
        Command::Store => Action::Store,
        Command::Erase => Action::Erase,
        Command::Unknown(_) | Command::Completions { .. } | Command::Man { .. } => return Ok(()),
        Command::Daemon { action } => return commands::daemon::run(&config, action),
        Command::Status { json } => return commands::status::run(&config, json),
        Command::Token(args) => return commands::token::run(&config, &args),
        Command::Pat { action } => return commands::pats::run(&config.with_git_config()?, &action),
        Command::Login(args) => return commands::login::run(&config.with_git_config()?, &args),
        Command::Logout(args) => return commands::logout::run(&config, &args),
        Command::Accounts { json } => return commands::accounts::list(&config, json),
        Command::Bind { organization, account } => return commands::accounts::bind(&config, &organization, &account),
        Command::Unbind { organization } => return commands::accounts::unbind(&config, &organization),
        Command::Install { system, servers, no_import } => {
            return commands::install::install(&config, level(system), &servers, !no_import);
        }
        Command::Uninstall { system } => return commands::install::uninstall(&config, level(system)),
    };
    helper::run(action, &config, std::io::stdin().lock(), std::io::stdout().lock())
}
