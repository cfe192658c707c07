//! Where secrets live: the [`SecretStore`] trait and its backends, and [`CredentialStore`], the
//! credentials git asked us to keep.
//!
//! Only this module touches the keyring or the secrets file. Secrets are addressed by a key
//! that names what they are for (`git:https://user@host/path`), so a keyring browser shows
//! something meaningful; what is stored for which host and user is also kept, without secrets,
//! in a metadata file beside them, so listing never has to enumerate the keyring.

mod credentials;
mod file;
mod keyring;
mod memory;
mod vault;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

pub use credentials::{CredentialStore, StoredSummary};
pub use file::FileStore;
pub use keyring::{KeyringStore, SERVICE as KEYRING_SERVICE};
pub use memory::MemoryStore;
pub use vault::Vault;

pub(crate) use file::lock_exclusive;

/// Which kind of store holds a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The OS keyring: Secret Service, macOS Keychain or Windows Credential Manager.
    Keyring,
    /// An owner-only file, for machines without a usable keyring.
    File,
    /// Process memory; for tests.
    Memory,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Keyring => "keyring",
            Self::File => "file",
            Self::Memory => "memory",
        })
    }
}

/// Errors of the secret stores. Messages never include a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend cannot be used now (no keyring on this machine, a locked keyring).
    #[error("the {backend} store is unavailable: {reason}")]
    Unavailable { backend: Backend, reason: String },
    /// The backend failed while in use.
    #[error("the {backend} store failed to {action}: {reason}")]
    Failed { backend: Backend, action: &'static str, reason: String },
    #[error("failed to {action} {path}")]
    Io {
        action: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A state file could not be understood; it is left as it is for the user to inspect.
    #[error("{path} is corrupt ({reason}); move it aside to start afresh")]
    Corrupt { path: std::path::PathBuf, reason: String },
}

/// A place to keep secrets by key. Implementations block: call them off async threads.
pub trait SecretStore: Send + Sync + fmt::Debug {
    fn backend(&self) -> Backend;
    fn get(&self, key: &str) -> Result<Option<Secret>, StoreError>;
    fn set(&self, key: &str, secret: &Secret) -> Result<(), StoreError>;
    /// Removes the secret; a key that holds nothing is not an error.
    fn delete(&self, key: &str) -> Result<(), StoreError>;
}

/// Runs blocking store work (the keyring, file locks) on a blocking thread, off the async
/// workers: the keyring's Linux backend must not run on a runtime thread.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(StoreError::Failed { backend: Backend::File, action: "run store work", reason: e.to_string() })
    })
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
