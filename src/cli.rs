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
    /// Sign in to Microsoft Entra ID for Azure DevOps (browser, or a device code where no
    /// browser can be used) and bind organizations to the account.
    Login(LoginArgs),
    /// List the signed-in accounts, their organizations and when their tokens expire.
    Accounts {
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Have an organization answered by a given account.
    Bind {
        /// The organization (as in `https://dev.azure.com/ORGANIZATION`).
        #[arg(long = "org", value_name = "ORGANIZATION")]
        organization: String,
        /// The account's sign-in name (as `accounts` lists it).
        #[arg(long)]
        account: String,
    },
    /// Remove an organization's binding.
    Unbind {
        #[arg(long = "org", value_name = "ORGANIZATION")]
        organization: String,
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

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// An organization to bind to the account (repeatable).
    #[arg(long = "org", value_name = "ORGANIZATION")]
    pub organizations: Vec<String>,
    /// The Entra tenant (id or domain) to sign in to; by default the first organization's.
    #[arg(long)]
    pub tenant: Option<String>,
    /// Sign in with a device code shown here, to be entered on another device.
    #[arg(long, conflicts_with = "browser")]
    pub device: bool,
    /// Sign in with the browser even where it looks unusable (no display, SSH).
    #[arg(long)]
    pub browser: bool,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum DaemonAction {
    /// Run in the foreground (the default).
    Run,
    /// Ask the running daemon to exit.
    Stop,
}
