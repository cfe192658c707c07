//! [`Vault`]: the secret stores in order of preference, and the one rule for falling back
//! from the keyring to the owner-only file.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Backend, FileStore, KeyringStore, SecretStore, StoreError};
use crate::config::StoreChoice;
use crate::secret::Secret;

/// Where secrets go and where they may be found. New secrets go to the first store; each
/// caller records which [`Backend`] took a secret, so it is looked up there later even when
/// the preferred store has become reachable (or unreachable) since.
#[derive(Debug)]
pub struct Vault {
    stores: Vec<Arc<dyn SecretStore>>,
    /// Whether a keyring that is unavailable may fall back to the next store (the user did not
    /// insist on the keyring).
    fallback: bool,
    /// Why new secrets go to the owner-only file, when they do.
    file_reason: Option<FileReason>,
}

/// Why secrets go to the owner-only file rather than the OS keyring, for `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "why", content = "detail")]
pub enum FileReason {
    /// The user chose it (`GIT_CREDENTIAL_AZDO_STORE=file`).
    Chosen,
    /// No keyring could be reached (`auto`): what trying one said.
    NoKeyring(String),
}

impl Vault {
    /// The stores `choice` asks for, with the owner-only file in `state_dir`, which is created
    /// (0700) when missing: it also holds the metadata that names the secrets.
    pub fn open(state_dir: &Path, choice: StoreChoice) -> Result<Self, StoreError> {
        crate::fs::ensure_private_dir(state_dir).map_err(|source| StoreError::Io {
            action: "create",
            path: state_dir.to_owned(),
            source,
        })?;
        let file: Arc<dyn SecretStore> = Arc::new(FileStore::new(state_dir));
        Ok(match choice {
            StoreChoice::File => Self { file_reason: Some(FileReason::Chosen), ..Self::with_stores(vec![file], false) },
            StoreChoice::Keyring => Self::with_stores(vec![Arc::new(KeyringStore::platform()?), file], false),
            StoreChoice::Auto => match KeyringStore::platform() {
                Ok(keyring) => Self::with_stores(vec![Arc::new(keyring), file], true),
                Err(e) => {
                    tracing::debug!(error = %e, "no usable keyring; secrets go to the owner-only file");
                    let detail = crate::entra::printable(&e.to_string(), 300);
                    Self { file_reason: Some(FileReason::NoKeyring(detail)), ..Self::with_stores(vec![file], false) }
                }
            },
        })
    }

    /// A vault over explicit stores, the first receiving new secrets.
    ///
    /// # Panics
    /// When `stores` is empty.
    pub fn with_stores(stores: Vec<Arc<dyn SecretStore>>, fallback: bool) -> Self {
        assert!(!stores.is_empty(), "a vault needs a secret store");
        Self { stores, fallback, file_reason: None }
    }

    /// Why new secrets go to the owner-only file, when they do because of how the vault was
    /// opened.
    pub fn file_reason(&self) -> Option<&FileReason> {
        self.file_reason.as_ref()
    }

    /// Where new secrets are kept.
    pub fn backend(&self) -> Backend {
        self.stores[0].backend()
    }

    /// Saves a secret in the first store that takes it; returns which one did.
    pub fn put(&self, key: &str, secret: &Secret) -> Result<Backend, StoreError> {
        let mut last = None;
        for store in &self.stores {
            match store.set(key, secret) {
                Ok(()) => return Ok(store.backend()),
                Err(e @ StoreError::Unavailable { .. }) if self.fallback => {
                    tracing::warn!(error = %e, "keeping the secret in the next store instead");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(StoreError::Unavailable { backend: self.backend(), reason: "no store".into() }))
    }

    /// The secret `key` in `backend`, `None` when there is none.
    pub fn get(&self, backend: Backend, key: &str) -> Result<Option<Secret>, StoreError> {
        self.store_for(backend)?.get(key)
    }

    /// Best effort: a secret left behind is unreachable without the metadata that named it, and
    /// the operation that dropped it has already succeeded.
    pub fn forget(&self, backend: Backend, key: &str) {
        if let Err(e) = self.delete(backend, key) {
            tracing::warn!(error = %e, %backend, "failed to delete a stored secret");
        }
    }

    /// Deletes the secret under `key` (nothing to delete is fine).
    pub fn delete(&self, backend: Backend, key: &str) -> Result<(), StoreError> {
        self.store_for(backend).and_then(|s| s.delete(key))
    }

    fn store_for(&self, backend: Backend) -> Result<&Arc<dyn SecretStore>, StoreError> {
        self.stores
            .iter()
            .find(|s| s.backend() == backend)
            .ok_or_else(|| StoreError::Unavailable { backend, reason: "it is not reachable from this process".into() })
    }
}
