//! The helper <-> daemon protocol.
//!
//! A connection carries one exchange: the client sends a [`Hello`] and a [`Request`] back to
//! back, the daemon answers with its own [`Hello`] and, when the protocol versions agree, a
//! [`Response`]. Every message is one frame: a 4-byte big-endian length, then that many bytes of
//! JSON. [`Hello`] never changes shape, so any two versions can tell that they differ; when they
//! do, the daemon answers only its `Hello`, exits if the client asked it to, and the helper starts
//! a daemon of its own version.

pub mod client;
pub mod frame;

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::accounts::Pat;
use crate::azdo::Scope;
use crate::git::Credential;
use crate::identity::MachineSources;
use crate::secret::Secret;
use crate::store::{Backend, FileReason, StoredSummary};

/// The version of [`Request`] and [`Response`]. Bump it on any change to their shape, and on a
/// change of the state files' format (10: a file per host and per secret), so that a helper
/// replaces a daemon that would go on writing the old ones.
pub const PROTOCOL_VERSION: u32 = 10;

/// What the helper keeps of its deadline to take the daemon's answer and print it for git;
/// the daemon is given the rest ([`Request::Get`]'s `budget_ms`, set by [`Request::within`]).
pub const ANSWER_RESERVE: Duration = Duration::from_millis(300);

/// The first frame in each direction. Its shape is frozen for all versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub protocol: u32,
    /// The sender's program version, for `status`.
    pub version: String,
    pub pid: u32,
    /// From a client: when the versions differ, the daemon should exit so that the client can
    /// start one of its own version.
    #[serde(default)]
    pub replace_on_mismatch: bool,
}

impl Hello {
    pub fn ours(replace_on_mismatch: bool) -> Self {
        Self {
            protocol: PROTOCOL_VERSION,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            replace_on_mismatch,
        }
    }
}

fn is_empty(machine: &MachineSources) -> bool {
    machine == &MachineSources::default()
}

/// What a client asks the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// git's `get`: answered by [`Response::Credential`]. `machine` is what the environment of
    /// the asking git configures (a pipeline's, a pod's), which the daemon does not share.
    Get {
        credential: Credential,
        #[serde(default, skip_serializing_if = "is_empty")]
        machine: MachineSources,
        /// How long the answer may take, in milliseconds from when the request is read: what
        /// is left of the helper's deadline. `None`: the answering side's own default.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget_ms: Option<u64>,
    },
    /// git's `store`: answered by [`Response::Done`].
    Store { credential: Credential },
    /// git's `erase`: answered by [`Response::Done`].
    Erase { credential: Credential },
    /// An access token for the organization `credential` names (as git would name it), chosen
    /// exactly as for a `get` of it with `machine`: answered by [`Response::Token`].
    Token {
        credential: Credential,
        #[serde(default, skip_serializing_if = "is_empty")]
        machine: MachineSources,
        /// Only an Entra token will do, whatever `azdo.<url>.auth` chooses for git (as with
        /// `oauth`): the PAT API needs one.
        #[serde(default)]
        entra_only: bool,
        /// As [`Request::Get`]'s.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        budget_ms: Option<u64>,
    },
    /// What the daemon is and keeps: answered by [`Response::Status`].
    Status,
    /// Forget accounts, PATs or everything: answered by [`Response::LoggedOut`].
    Logout { target: LogoutTarget },
    /// Exit after answering [`Response::Done`].
    Shutdown,
}

impl Request {
    /// This request, to be answered by the daemon by `deadline`: a `get` (or `token`) is given
    /// what is left until then, less [`ANSWER_RESERVE`].
    #[must_use]
    pub fn within(&self, deadline: Instant) -> Self {
        self.within_reserving(deadline, ANSWER_RESERVE)
    }

    /// This request, to be answered by `deadline`, keeping `reserve` of what is left for
    /// whatever comes after the answer.
    #[must_use]
    pub fn within_reserving(&self, deadline: Instant, reserve: Duration) -> Self {
        let mut request = self.clone();
        if let Self::Get { budget_ms, .. } | Self::Token { budget_ms, .. } = &mut request {
            let left = deadline.saturating_duration_since(Instant::now()).saturating_sub(reserve);
            *budget_ms = Some(u64::try_from(left.as_millis()).unwrap_or(u64::MAX));
        }
        request
    }
}

/// What `logout` removes, secrets included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LogoutTarget {
    /// The Entra account a sign-in name (or account id) names.
    Account { selector: String },
    /// The PAT of an organization or collection.
    Pat { scope: Scope },
    /// Every account, PAT and credential git stored.
    All,
}

/// What the daemon answers.
#[allow(
    clippy::large_enum_variant,
    reason = "one response per connection: boxing would save nothing (allow, not expect: whether it fires changes with the size of each variant)"
)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    /// The credential for a `get`, or `None` when we have nothing for it; then `miss` says
    /// why, when the user can do something about it.
    Credential {
        credential: Option<Credential>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        miss: Option<Miss>,
    },
    /// A `store`, `erase` or `shutdown` was carried out.
    Done,
    /// git's `erase` of a non-interactive identity's token (dropped from the cache): what it
    /// was and what to check.
    MachineRefused { source: String, remedy: String },
    /// git's `erase` of a PAT that Azure DevOps refused, and what became of it.
    PatRefused { scope: Scope, outcome: PatOutcome, windows_auth: bool },
    /// git's `erase` of an account's token that Azure DevOps refused for `organization` (no
    /// claims challenge): `again` when a token fetched after an earlier refusal was refused
    /// too, so that the account is not used for the organization for a while.
    AccountRefused { organization: String, username: String, again: bool },
    /// git's `erase` of a token refused with a claims challenge (continuous access evaluation):
    /// the next `get` for the organization asks Entra for a token with those claims.
    ClaimsChallenge { organization: String, username: String },
    /// The answer to [`Request::Logout`]: what was removed (nothing, when the target named
    /// nothing we keep).
    LoggedOut { accounts: Vec<String>, pats: Vec<Scope>, credentials: usize },
    /// The answer to [`Request::Token`], for `organization`.
    Token { organization: String, answer: TokenAnswer },
    /// The answer to [`Request::Status`].
    Status { status: StatusReport },
    /// The request failed; `message` is one line for the user.
    Error { kind: ErrorKind, message: String },
}

/// Why an Azure DevOps request got no credential. The helper words it for the user, and may
/// sign in interactively for the last two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Miss {
    /// The remote's path names the organization or collection, and git was not told to send
    /// it: `credential.{origin}.useHttpPath` is not set.
    NeedsHttpPath { origin: String },
    /// Azure DevOps Services over plain http (`origin`): no token is sent there.
    InsecureRemote { origin: String },
    /// Azure Pipelines' job token answers only for its own organization or collection (`own`),
    /// not for this one.
    PipelineElsewhere { own: Scope, organization: String },
    /// The user chose a PAT for the organization or collection, and none is kept (any more).
    NoPat { scope: Scope },
    /// A non-interactive identity could not give a token.
    Identity { source: String, reason: String, remedy: String },
    /// A non-interactive identity is half configured, and nothing else answered.
    MachineSetup { problem: String },
    /// The account's token could not be refreshed for now (Entra unreachable or failing).
    Unavailable { organization: String, username: String, reason: String },
    /// No account answers for the organization.
    NoAccount { organization: String, tenant: Option<String> },
    /// The account that answers for the organization must sign in again; `claims` are those of
    /// the challenge the sign-in must satisfy, if any.
    NeedsSignIn {
        organization: String,
        username: String,
        reason: String,
        tenant: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        claims: Option<String>,
    },
    /// The organization's tenant is known, and no signed-in account is of it (`accounts` are,
    /// of other tenants): a token is not sent to an organization of another tenant unless the
    /// user bound the account to it.
    OtherTenant { organization: String, tenant: String, accounts: Vec<String> },
    /// The account chosen for the organization is of another tenant, and the organization's
    /// tenant gives it no token (it is not, or no longer, a guest there).
    TenantRefused { organization: String, username: String, tenant: String, reason: String },
    /// Azure DevOps refused the account's tokens for the organization twice in a row: it is not
    /// used there for a while.
    Refused { organization: String, username: String },
}

/// What answers an organization for [`Request::Token`]: a token, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TokenAnswer {
    /// A signed-in Entra account's access token.
    Account { token: Secret, expires_utc: u64, username: String, tenant_id: String },
    /// A non-interactive identity's token: an Entra token, or a pipeline's job token (its
    /// expiry unknown). `name` says which, as errors name it; `azure_cli` when it is the Azure
    /// CLI's sign-in, which may be a person's.
    Identity { token: Secret, expires_utc: Option<u64>, name: String, azure_cli: bool },
    /// A PAT answers (`what` names it), which is not given out as a token; `chosen` when
    /// `azdo.<url>.auth` chose PATs, `instead_of` why the account that comes first could not
    /// answer.
    Pat { what: String, chosen: bool, instead_of: Option<Miss> },
    /// A credential git stored answers, which is not a token.
    Stored,
    /// Nothing answers, and why when the user can do something about it.
    Missed { miss: Option<Miss> },
}

/// What became of a PAT that Azure DevOps refused for a repository, once asked about the PAT
/// itself (`connectionData`, no side effects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatOutcome {
    /// Refused there too (expired, revoked, another organization's): removed.
    Removed,
    /// Accepted there: kept; it lacks a scope or access for the repository.
    KeptValid,
    /// Azure DevOps could not be asked: kept rather than lost to a network blip.
    KeptUnconfirmed,
}

/// Why a request failed, for a client that must decide what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request itself was unacceptable.
    BadRequest,
    /// The secret or metadata store failed.
    Store,
    /// No answer could be had within the request's budget.
    TimedOut,
}

/// What `status` shows: never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReport {
    /// `None` when the report was made in-process because no daemon runs.
    pub daemon: Option<DaemonInfo>,
    /// Where new secrets are kept.
    pub backend: Backend,
    /// Why that is the owner-only file, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_store: Option<FileReason>,
    pub credentials: Vec<StoredSummary>,
    #[serde(default)]
    pub accounts: Vec<AccountStatus>,
    #[serde(default)]
    pub pats: Vec<Pat>,
}

/// One Entra account in `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountStatus {
    pub username: String,
    pub tenant_id: String,
    pub organizations: Vec<String>,
    /// When the daemon's cached access token expires (unix seconds), if it has one.
    pub token_expires_utc: Option<u64>,
    /// Why the account must sign in again, if it must.
    pub needs_sign_in: Option<String>,
    /// Where its refresh token is kept.
    pub backend: Backend,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub pid: u32,
    pub version: String,
    pub protocol: u32,
    pub uptime_secs: u64,
    pub socket: String,
}

/// The local socket name for `config`: a file in the private runtime directory on Unix, a named
/// pipe per user on Windows.
pub fn socket_name(config: &crate::config::Config) -> std::io::Result<interprocess::local_socket::Name<'static>> {
    #[cfg(unix)]
    {
        use interprocess::local_socket::{GenericFilePath, ToFsName};
        Ok(config.socket_path().to_fs_name::<GenericFilePath>()?.into_owned())
    }
    #[cfg(windows)]
    {
        use interprocess::local_socket::{GenericNamespaced, ToNsName};
        if let Some(name) = config.socket.as_ref().and_then(|s| s.file_name()) {
            return Ok(name.to_ns_name::<GenericNamespaced>()?.into_owned());
        }
        Ok(pipe_name(&config.runtime_dir).to_ns_name::<GenericNamespaced>()?.into_owned())
    }
}

/// The runtime directory is per user, so its digest names this user's pipe: a digest that every
/// build computes alike (std's `DefaultHasher` may change between Rust releases), so that a
/// helper finds, and can replace, the daemon of any other version.
#[cfg(windows)]
fn pipe_name(runtime_dir: &std::path::Path) -> String {
    use sha2::Digest as _;
    use std::fmt::Write as _;
    let digest = sha2::Sha256::digest(runtime_dir.to_string_lossy().as_bytes());
    let mut name = String::from("git-credential-azdo-");
    for byte in &digest[..8] {
        let _ = write!(name, "{byte:02x}");
    }
    name
}

#[cfg(all(test, windows))]
mod tests {
    #[test]
    fn the_pipe_name_is_the_same_in_every_build() {
        let name =
            super::pipe_name(std::path::Path::new(r"C:\Users\alice\AppData\Local\git-credential-azdo\cache\run"));
        assert_eq!(name, "git-credential-azdo-8d3a23a0d8334ed8");
    }
}
