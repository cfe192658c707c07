//! The command line, as clap definitions only.

use std::ffi::OsString;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "git-credential-azdo", version, about, long_about = None)]
#[command(
    after_help = "Set up git with: git-credential-azdo install; then: git-credential-azdo login --org ORGANIZATION"
)]
pub struct Cli {
    /// The daemon's socket, when it is not this machine's usual one: another machine's daemon
    /// forwarded here (`ssh -R`, a devcontainer mount, WSL). No daemon is started then.
    #[arg(long, global = true, value_name = "PATH", env = "GIT_CREDENTIAL_AZDO_SOCKET", hide_env_values = true)]
    pub socket: Option<std::path::PathBuf>,
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
    /// Configure git to ask this helper for Azure DevOps (dev.azure.com and *.visualstudio.com,
    /// plus any --url), ahead of the other helpers there and leaving them for every other host.
    Install {
        /// Change the machine's git configuration instead of yours (needs an administrator).
        #[arg(long)]
        system: bool,
        /// Also an Azure DevOps Server (repeatable), as in `https://tfs.example.com`.
        #[arg(long = "url", value_name = "URL")]
        servers: Vec<String>,
    },
    /// Remove what `install` added to git's configuration (and nothing else).
    Uninstall {
        /// The machine's git configuration instead of yours.
        #[arg(long)]
        system: bool,
    },
    /// Run the daemon in the foreground (as a service manager would), or control it.
    Daemon {
        #[command(subcommand)]
        action: Option<DaemonAction>,
    },
    /// Sign in to Microsoft Entra ID for Azure DevOps (browser, or a device code where no
    /// browser can be used) and bind organizations to the account; or, with --pat, add a
    /// personal access token for an organization or an Azure DevOps Server collection.
    Login(LoginArgs),
    /// Forget a signed-in account, an organization's or collection's PAT, or everything kept
    /// (accounts, PATs and what git stored), deleting the secrets from the store.
    Logout(LogoutArgs),
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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), for `man -l -`.
    Man,
    /// Actions git may add in the future: ignored, as git's documentation asks of helpers.
    #[command(external_subcommand)]
    Unknown(Vec<OsString>),
}

#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// An organization to bind to the account (repeatable), or, with --pat, the one the PAT
    /// is for.
    #[arg(long = "org", value_name = "ORGANIZATION")]
    pub organizations: Vec<String>,
    /// The Entra tenant (id or domain) to sign in to; by default the first organization's.
    #[arg(long, conflicts_with = "pat")]
    pub tenant: Option<String>,
    /// Sign in with a device code shown here, to be entered on another device.
    #[arg(long, conflicts_with_all = ["browser", "pat"])]
    pub device: bool,
    /// Sign in with the browser even where it looks unusable (no display, SSH).
    #[arg(long, conflicts_with = "pat")]
    pub browser: bool,
    /// Add a personal access token instead of signing in. It is read from stdin when that is
    /// not a terminal, else prompted for without echo; never give it as an argument.
    #[arg(long)]
    pub pat: bool,
    /// With --pat: the Azure DevOps Server collection (or Services organization) URL the PAT
    /// is for, as in `https://tfs.example.com/tfs/DefaultCollection`.
    #[arg(long, value_name = "URL", requires = "pat", conflicts_with = "organizations")]
    pub url: Option<String>,
    /// With --pat: the day the PAT expires (YYYY-MM-DD), so that `status` warns before then.
    #[arg(long, value_name = "DATE", requires = "pat")]
    pub expires: Option<String>,
}

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["account", "pat", "all"]))]
pub struct LogoutArgs {
    /// The account to sign out (its sign-in name, as `accounts` lists it).
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// Remove a PAT: the one for --org or --url.
    #[arg(long)]
    pub pat: bool,
    /// With --pat: the organization whose PAT to remove.
    #[arg(long = "org", value_name = "ORGANIZATION", requires = "pat", conflicts_with = "url")]
    pub organization: Option<String>,
    /// With --pat: the Azure DevOps Server collection (or organization) URL whose PAT to remove.
    #[arg(long, value_name = "URL", requires = "pat")]
    pub url: Option<String>,
    /// Everything: every account, every PAT, and every credential git stored.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum DaemonAction {
    /// Run in the foreground (the default).
    Run,
    /// Ask the running daemon to exit.
    Stop,
}
