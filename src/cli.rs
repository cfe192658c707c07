//! The command line, as clap definitions only.

use std::ffi::OsString;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "git-credential-azdo", version, about, long_about = None)]
#[command(after_help = "Configure git with: git config --global credential.helper azdo")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// git's credential-helper action: print a credential for the request on stdin.
    Get,
    /// git's credential-helper action: keep the credential on stdin.
    Store,
    /// git's credential-helper action: forget the credential on stdin.
    Erase,
    /// Run the daemon in the foreground (as a service manager would), or control it.
    Daemon {
        #[command(subcommand)]
        action: Option<DaemonAction>,
    },
    /// Show the daemon, the secret store and what is stored (never secrets).
    Status {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Actions git may add in the future: ignored, as git's documentation asks of helpers.
    #[command(external_subcommand)]
    Unknown(Vec<OsString>),
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum DaemonAction {
    /// Run in the foreground (the default).
    Run,
    /// Ask the running daemon to exit.
    Stop,
}
