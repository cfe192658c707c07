//! A [`SecretStore`] in one owner-only JSON file, for machines without a usable keyring.
//!
//! The file is mode 0600 in a 0700 directory and is replaced atomically on every change, under
//! an exclusive lock so that the daemon and an in-process helper never lose each other's writes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Backend, SecretStore, StoreError};
use crate::secret::Secret;

const FORMAT_VERSION: u32 = 1;

#[derive(Debug)]
pub struct FileStore {
    path: PathBuf,
    lock_path: PathBuf,
}

#[derive(Default, Serialize, Deserialize)]
struct SecretsFile {
    version: u32,
    secrets: BTreeMap<String, Secret>,
}

impl FileStore {
    /// A store in `dir`, which must already be private (see [`crate::fs::ensure_private_dir`]).
    pub fn new(dir: &Path) -> Self {
        Self { path: dir.join("secrets.json"), lock_path: dir.join("secrets.lock") }
    }

    fn load(&self) -> Result<SecretsFile, StoreError> {
        super::read_state(&self.path, FORMAT_VERSION, |file: &SecretsFile| file.version)
    }

    fn update(&self, change: impl FnOnce(&mut BTreeMap<String, Secret>) -> bool) -> Result<(), StoreError> {
        let _lock = lock_exclusive(&self.lock_path)?;
        let mut file = self.load()?;
        if !change(&mut file.secrets) {
            return Ok(());
        }
        file.version = FORMAT_VERSION;
        let json = serde_json::to_vec(&file).map_err(|e| StoreError::Failed {
            backend: Backend::File,
            action: "encode secrets",
            reason: e.to_string(),
        })?;
        let json = zeroize::Zeroizing::new(json);
        crate::fs::write_atomic(&self.path, &json).map_err(|source| StoreError::Io {
            action: "write",
            path: self.path.clone(),
            source,
        })
    }
}

/// Takes an exclusive lock on `path` (created if needed), held until the file is dropped.
pub(crate) fn lock_exclusive(path: &Path) -> Result<std::fs::File, StoreError> {
    let io = |source| StoreError::Io { action: "lock", path: path.to_owned(), source };
    let file = crate::fs::open_lock_file(path).map_err(io)?;
    file.lock().map_err(io)?;
    Ok(file)
}

impl SecretStore for FileStore {
    fn backend(&self) -> Backend {
        Backend::File
    }

    fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        Ok(self.load()?.secrets.remove(key))
    }

    fn set(&self, key: &str, secret: &Secret) -> Result<(), StoreError> {
        self.update(|secrets| {
            secrets.insert(key.to_owned(), secret.clone());
            true
        })
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.update(|secrets| secrets.remove(key).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_deletes() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new(tmp.path());
        assert!(store.get("k").unwrap().is_none());
        store.set("k", &Secret::new("v1")).unwrap();
        store.set("other", &Secret::new("v2")).unwrap();
        assert_eq!(store.get("k").unwrap().unwrap().expose(), "v1");
        store.delete("k").unwrap();
        store.delete("never-there").unwrap();
        assert!(store.get("k").unwrap().is_none());
        assert_eq!(FileStore::new(tmp.path()).get("other").unwrap().unwrap().expose(), "v2");
    }

    #[test]
    #[cfg(unix)]
    fn the_file_is_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new(tmp.path());
        store.set("k", &Secret::new("v")).unwrap();
        let mode = std::fs::metadata(tmp.path().join("secrets.json")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_corrupt_file_is_reported_without_its_secrets_and_kept_aside() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("secrets.json");
        let corrupt = b"{\"version\":1,\"secrets\":{\"k\":\"hunter2\"";
        std::fs::write(&path, corrupt).unwrap();
        let store = FileStore::new(tmp.path());
        let err = store.set("k2", &Secret::new("v")).unwrap_err();
        let message = err.to_string();
        let StoreError::SetAside { aside, .. } = &err else { panic!("{message}") };
        assert!(message.contains("secrets.json") && !message.contains("hunter2"), "{message}");
        assert_eq!(std::fs::read(aside).unwrap(), corrupt);
        #[cfg(unix)]
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(aside).unwrap().permissions()) & 0o777,
            0o600
        );

        store.set("k2", &Secret::new("v")).unwrap();
        assert_eq!(store.get("k2").unwrap().map(|s| s.expose().to_owned()).as_deref(), Some("v"));
    }
}
