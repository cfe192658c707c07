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
    /// plus any --url), ahead of the other helpers there and leaving them for every other host;
    /// and import Git Credential Manager's organization bindings and credential type.
    Install {
        /// Change the machine's git configuration instead of yours (needs an administrator).
        #[arg(long)]
        system: bool,
        /// Also an Azure DevOps Server (repeatable), as in `https://tfs.example.com`.
        #[arg(long = "url", value_name = "URL")]
        servers: Vec<String>,
        /// Leave Git Credential Manager's organization bindings and credential type alone
        /// (by default they are imported; GCM's own settings are never changed).
        #[arg(long)]
        no_import: bool,
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
    /// Print an access token for Azure DevOps on stdout, for scripts that call its REST API
    /// (`curl -H "Authorization: Bearer $(git-credential-azdo token --org contoso)" ...`): the
    /// Entra token git would be given for the organization, chosen by the same rules. It is a
    /// secret. Never a PAT.
    Token(TokenArgs),
    /// Create, list and revoke your personal access tokens in Azure DevOps (for tools that need
    /// a PAT), signed in as for git.
    Pat {
        #[command(subcommand)]
        action: PatAction,
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
    /// Print the manual page (roff), for `man -l -`: the top page, or a subcommand's
    /// (`man login`, `man pat create`); or, with --dir, write every page into a directory.
    Man {
        /// The subcommand whose page to print (`login`, or `pat create`).
        #[arg(value_name = "SUBCOMMAND")]
        command: Vec<String>,
        /// Write every page (git-credential-azdo.1, git-credential-azdo-login.1, ...) into DIR,
        /// for a package's man1 directory.
        #[arg(long, value_name = "DIR", conflicts_with = "command")]
        dir: Option<std::path::PathBuf>,
    },
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

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["organization", "url"]))]
pub struct TokenArgs {
    /// The organization (as in `https://dev.azure.com/ORGANIZATION`).
    #[arg(long = "org", value_name = "ORGANIZATION")]
    pub organization: Option<String>,
    /// Or a repository's (or the organization's) URL, as git sees it: a user name in it chooses
    /// the account, as it does for git.
    #[arg(value_name = "URL")]
    pub url: Option<String>,
    /// Print the token, when it expires, the account and the organization as JSON.
    #[arg(long)]
    pub json: bool,
}

/// What `pat` does.
#[derive(Debug, Subcommand)]
pub enum PatAction {
    /// Create a PAT for one organization and print it, once: Azure DevOps never shows it again.
    Create(PatCreateArgs),
    /// List your PATs for an organization: name, scopes, expiry and id, never their values.
    List {
        /// The organization (as in `https://dev.azure.com/ORGANIZATION`).
        #[arg(long = "org", value_name = "ORGANIZATION")]
        organization: String,
        /// Also the expired and revoked ones.
        #[arg(long)]
        all: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke one of your PATs in Azure DevOps; the PAT kept for git is forgotten if it is that one.
    Revoke(PatRevokeArgs),
}

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("lifetime").args(["days", "expires"]))]
pub struct PatCreateArgs {
    /// The organization the PAT is for (and only it).
    #[arg(long = "org", value_name = "ORGANIZATION")]
    pub organization: String,
    /// What the PAT may do (repeatable, or comma-separated): code:read, code:write, code:manage,
    /// work:read, work:write, build:read, build:execute, release:read, release:execute,
    /// packaging:read, packaging:write, project:read, wiki:read, test:read, analytics:read, ...
    /// (area:read|write|manage), or Azure DevOps's own names (`vso.code_write`).
    #[arg(long = "scope", value_name = "SCOPE", required = true, long_help = crate::azdo::pat_api::scope_help())]
    pub scopes: Vec<String>,
    /// Days until it expires (1 to 365).
    #[arg(long, value_name = "N")]
    pub days: Option<u32>,
    /// The day it expires (YYYY-MM-DD, at most a year ahead), instead of --days. [default: 30 days]
    #[arg(long, value_name = "DATE")]
    pub expires: Option<String>,
    /// Its name in Azure DevOps. [default: git-credential-azdo YYYY-MM-DD]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Also keep it as the organization's PAT for git (replacing the one kept), with its expiry.
    #[arg(long)]
    pub keep: bool,
    /// Print the PAT with its name, id, scopes and expiry as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("which").required(true).args(["id", "name"]))]
pub struct PatRevokeArgs {
    /// The organization.
    #[arg(long = "org", value_name = "ORGANIZATION")]
    pub organization: String,
    /// The PAT's id, as `pat list` shows it.
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// The PAT's name; several active PATs of that name are an error (revoke by id then).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum DaemonAction {
    /// Run in the foreground (the default).
    Run,
    /// Ask the running daemon to exit.
    Stop,
}
