//! A [`SecretStore`] in one owner-only JSON file, for machines without a usable keyring.
//!
//! The file is mode 0600 in a 0700 directory and is replaced atomically on every change, under
//! an exclusive lock so that the daemon and an in-process helper never lose each other's writes.

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

impl FileStore {
    /// Removes the secrets file, whatever it holds, and the copies of it that were set aside
    /// as corrupt (they hold secrets too).
    pub fn remove_all(&self) -> Result<(), StoreError> {
        let _lock = lock_exclusive(&self.lock_path)?;
        let io = |path: &Path, source| StoreError::Io { action: "remove", path: path.to_owned(), source };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let aside = format!("{name}.corrupt-");
        let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io(dir, e))?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if file_name == name || file_name.starts_with(&aside) {
                match std::fs::remove_file(entry.path()) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&entry.path(), e)),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// How long a state file's lock is waited for. A holder keeps it for the milliseconds a write
/// takes; one that holds it longer is stuck (stopped, say, or on a hung disk), and waiting on
/// would make git wait. Well inside the helper's deadline (10 s by default).
pub const LOCK_WAIT: Duration = Duration::from_secs(2);

/// Takes an exclusive lock on `path` (created if needed), held until the file is dropped,
/// waiting at most [`LOCK_WAIT`]. The holder writes its pid into the file, so that one that
/// cannot get the lock can say who holds it.
pub(crate) fn lock_exclusive(path: &Path) -> Result<std::fs::File, StoreError> {
    lock_within(path, LOCK_WAIT)
}

fn lock_within(path: &Path, wait: Duration) -> Result<std::fs::File, StoreError> {
    let io = |source| StoreError::Io { action: "lock", path: path.to_owned(), source };
    let mut file = crate::fs::open_lock_file(path).map_err(io)?;
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(1);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(pause.min(deadline.saturating_duration_since(Instant::now())));
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked { path: path.to_owned(), waited: wait, holder: holder(&mut file) });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
    }
    // Best effort: the pid only makes a message more helpful.
    let _ = file.set_len(0).and_then(|()| file.write_all(std::process::id().to_string().as_bytes()));
    Ok(file)
}

/// The pid the lock's holder wrote into it, when there is one.
fn holder(file: &mut std::fs::File) -> Option<u32> {
    let mut text = String::new();
    file.seek(std::io::SeekFrom::Start(0)).ok()?;
    file.take(32).read_to_string(&mut text).ok()?;
    text.trim().parse().ok()
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
    fn a_lock_held_too_long_is_given_up_with_the_file_and_its_holder() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("secrets.lock");
        let held = lock_within(&path, Duration::ZERO).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), std::process::id().to_string(), "the holder's pid");
        // Held until told, or for 10 s: a wait past the deadline would end with the lock taken
        // (and the test failed), not with the test hung.
        let (release, told) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let _ = told.recv_timeout(Duration::from_secs(10));
            drop(held);
        });
        let started = Instant::now();
        let error = lock_within(&path, Duration::from_millis(200)).unwrap_err();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(200) && waited < Duration::from_secs(5), "{waited:?}");
        assert_eq!(
            error.to_string(),
            format!(
                "{} is held by another process (pid {}) for more than 0.2 s; if it is stuck, end it",
                path.display(),
                std::process::id()
            )
        );
        release.send(()).unwrap();
        holder.join().unwrap();
        lock_within(&path, Duration::ZERO).unwrap();
        // A lock file without a pid (an older version's): no pid to name.
        std::fs::write(&path, "").unwrap();
        let _held = lock_within(&path, Duration::ZERO).unwrap();
        std::fs::write(&path, "not a pid").unwrap();
        let error = lock_within(&path, Duration::ZERO).unwrap_err().to_string();
        assert!(error.ends_with("is held by another process for more than 0 s; if it is stuck, end it"), "{error}");
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
