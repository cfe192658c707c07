//! A [`SecretStore`] in owner-only files, for machines without a usable keyring.
//!
//! Each secret is one small file in `secrets/` (0600 in 0700 directories), named by a digest of
//! its key and holding the key beside the secret; it is replaced atomically when the secret
//! changes and removed when it goes. A change costs the same however many secrets are kept,
//! and reading one secret reads no other. Writers hold `secrets.lock`, so that removing
//! everything (`logout --all`) and the one-time migration never race a write; readers take no
//! lock.
//!
//! Before this layout every secret was in one file, `secrets.json`, rewritten whole on every
//! change. Such a file is migrated the first time it is seen, under the lock: each secret is
//! written to its own file (unless one is there already, which is newer), then `secrets.json`
//! is replaced by an empty file of format 2, which tells an older version of this program that
//! it cannot read what is here instead of letting it start afresh. A crash in the middle leaves
//! `secrets.json` as it was, and the next process does the migration again.

use std::collections::BTreeMap;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Backend, SecretStore, StoreError};
use crate::secret::Secret;

/// The format of one secret's file.
const FORMAT_VERSION: u32 = 2;
/// The format of `secrets.json` when it held every secret.
const LEGACY_VERSION: u32 = 1;

/// The directory of the secrets' files, in the state directory.
pub const SECRETS_DIR: &str = "secrets";

#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    legacy_path: PathBuf,
    lock_path: PathBuf,
    /// Whether `secrets.json` was found migrated (or absent) by this process.
    migrated: AtomicBool,
}

/// One secret's file.
#[derive(Serialize, Deserialize)]
struct SecretFile {
    version: u32,
    key: String,
    secret: Secret,
}

/// `secrets.json`: every secret (format 1), or nothing (format 2: migrated).
#[derive(Default, Serialize, Deserialize)]
struct LegacyFile {
    version: u32,
    secrets: BTreeMap<String, Secret>,
}

impl FileStore {
    /// A store in `dir` (the state directory), which must already be private (see
    /// [`crate::fs::ensure_private_dir`]); its `secrets/` directory is made when needed.
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.join(SECRETS_DIR),
            legacy_path: dir.join("secrets.json"),
            lock_path: dir.join("secrets.lock"),
            migrated: AtomicBool::new(false),
        }
    }

    fn path_for(&self, key: &str) -> PathBuf {
        self.dir.join(super::file_name_for(key))
    }

    /// Migrates `secrets.json` if this process has not seen it migrated yet. Takes the lock only
    /// when there is something to migrate; `locked` says the caller holds it.
    fn ensure_migrated(&self, locked: bool) -> Result<(), StoreError> {
        if self.migrated.load(Ordering::Acquire) {
            return Ok(());
        }
        let legacy = |path: &Path| super::read_state_file(path, FORMAT_VERSION, |f: &LegacyFile| f.version);
        if legacy(&self.legacy_path)?.is_none_or(|file| file.version != LEGACY_VERSION) {
            self.migrated.store(true, Ordering::Release);
            return Ok(());
        }
        let _lock = if locked { None } else { Some(lock_exclusive(&self.lock_path)?) };
        // Read again under the lock: another process may have migrated it meanwhile.
        if let Some(file) = legacy(&self.legacy_path)?.filter(|file| file.version == LEGACY_VERSION) {
            self.ensure_dir()?;
            let count = file.secrets.len();
            for (key, secret) in file.secrets {
                let path = self.path_for(&key);
                // One there already was written by this version, after the file was: newer.
                if !path.exists() {
                    Self::write(&path, key, secret)?;
                }
            }
            let stub = serde_json::to_vec(&LegacyFile { version: FORMAT_VERSION, secrets: BTreeMap::new() })
                .map_err(|e| encoding(&e))?;
            crate::fs::write_atomic(&self.legacy_path, &stub).map_err(|source| StoreError::Io {
                action: "write",
                path: self.legacy_path.clone(),
                source,
            })?;
            tracing::info!(secrets = count, path = %self.legacy_path.display(), "moved the secrets to one file each");
        }
        self.migrated.store(true, Ordering::Release);
        Ok(())
    }

    fn ensure_dir(&self) -> Result<(), StoreError> {
        crate::fs::ensure_private_dir(&self.dir).map_err(|source| StoreError::Io {
            action: "create",
            path: self.dir.clone(),
            source,
        })
    }

    fn write(path: &Path, key: String, secret: Secret) -> Result<(), StoreError> {
        let file = SecretFile { version: FORMAT_VERSION, key, secret };
        let json = zeroize::Zeroizing::new(serde_json::to_vec(&file).map_err(|e| encoding(&e))?);
        crate::fs::write_atomic(path, &json).map_err(|source| StoreError::Io {
            action: "write",
            path: path.to_owned(),
            source,
        })
    }

    /// Removes every secret, whatever holds it: the secrets' files, the copies of them (and of
    /// `secrets.json`) that were set aside as corrupt, what crashes left, and a `secrets.json`
    /// not migrated yet. Leaves an empty `secrets.json` of the current format.
    pub fn remove_all(&self) -> Result<(), StoreError> {
        let _lock = lock_exclusive(&self.lock_path)?;
        let io = |path: &Path, source| StoreError::Io { action: "remove", path: path.to_owned(), source };
        let remove = |path: &Path| match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path, e)),
            _ => Ok(()),
        };
        match std::fs::read_dir(&self.dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.map_err(|e| io(&self.dir, e))?;
                    if entry.file_type().map_err(|e| io(&entry.path(), e))?.is_file() {
                        remove(&entry.path())?;
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&self.dir, e)),
        }
        let state_dir = self.legacy_path.parent().unwrap_or(Path::new("."));
        let name = self.legacy_path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let aside = format!("{name}.corrupt-");
        for entry in std::fs::read_dir(state_dir).map_err(|e| io(state_dir, e))? {
            let entry = entry.map_err(|e| io(state_dir, e))?;
            if entry.file_name().to_string_lossy().starts_with(&aside) {
                remove(&entry.path())?;
            }
        }
        let stub = serde_json::to_vec(&LegacyFile { version: FORMAT_VERSION, secrets: BTreeMap::new() })
            .map_err(|e| encoding(&e))?;
        crate::fs::write_atomic(&self.legacy_path, &stub).map_err(|e| io(&self.legacy_path, e))?;
        self.migrated.store(true, Ordering::Release);
        Ok(())
    }
}

fn encoding(e: &serde_json::Error) -> StoreError {
    StoreError::Failed { backend: Backend::File, action: "encode secrets", reason: e.to_string() }
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
        self.ensure_migrated(false)?;
        let path = self.path_for(key);
        let file = super::read_state_file(&path, FORMAT_VERSION, |f: &SecretFile| f.version)?;
        // Another key's file (copied by hand): not this key's secret.
        Ok(file.filter(|f| f.key == key).map(|f| f.secret))
    }

    fn set(&self, key: &str, secret: &Secret) -> Result<(), StoreError> {
        let _lock = lock_exclusive(&self.lock_path)?;
        self.ensure_migrated(true)?;
        self.ensure_dir()?;
        Self::write(&self.path_for(key), key.to_owned(), secret.clone())
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let _lock = lock_exclusive(&self.lock_path)?;
        self.ensure_migrated(true)?;
        let path = self.path_for(key);
        crate::fs::remove_durably(&path).map_err(|source| StoreError::Io { action: "remove", path, source })
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
    fn the_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new(tmp.path());
        store.set("k", &Secret::new("v")).unwrap();
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&store.dir), 0o700);
        assert_eq!(mode(&store.path_for("k")), 0o600);
    }

    /// The names of the files in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        names
    }

    #[test]
    fn each_secret_is_a_file_of_its_own_and_a_change_touches_no_other() {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::new(tmp.path());
        store.set("git:https://a@one/", &Secret::new("secret-one")).unwrap();
        store.set("git:https://b@two/", &Secret::new("secret-two")).unwrap();
        let one = store.path_for("git:https://a@one/");
        let two = store.path_for("git:https://b@two/");
        let text = std::fs::read_to_string(&one).unwrap();
        assert!(text.contains("git:https://a@one/") && text.contains("secret-one") && !text.contains("secret-two"));
        let inode = |path: &Path| crate::fs::fingerprint(path).unwrap().unwrap();
        let before = inode(&two);

        store.set("git:https://a@one/", &Secret::new("secret-one-changed")).unwrap();
        assert_eq!(inode(&two), before, "the other secret's file was not written");
        assert!(!std::fs::read_to_string(&one).unwrap().contains("\"secret-one\""), "the old value is gone");
        store.delete("git:https://a@one/").unwrap();
        assert!(!one.exists());
        assert_eq!(store.get("git:https://b@two/").unwrap().unwrap().expose(), "secret-two");
        assert!(!tmp.path().join("secrets.json").exists(), "nothing to migrate: no file of the old format");

        // A file copied by hand under another key's name is not that key's secret.
        std::fs::copy(&two, &one).unwrap();
        assert!(store.get("git:https://a@one/").unwrap().is_none());
    }

    #[test]
    fn a_secrets_file_of_the_old_format_is_migrated_and_nothing_is_lost() {
        let tmp = tempfile::tempdir().unwrap();
        // As version 1 wrote it.
        let legacy = r#"{"version":1,"secrets":{"entra:abc.def":"rt-1","git:https://u@h/":"{\"password\":\"pw\"}","pat:contoso":"pat-1","newer":"old-value"}}"#;
        std::fs::write(tmp.path().join("secrets.json"), legacy).unwrap();
        // A secret this version wrote already (a migration cut short, say): newer, kept.
        let store = FileStore::new(tmp.path());
        store.migrated.store(true, Ordering::Release);
        store.set("newer", &Secret::new("new-value")).unwrap();

        let store = FileStore::new(tmp.path());
        assert_eq!(store.get("entra:abc.def").unwrap().unwrap().expose(), "rt-1");
        assert_eq!(store.get("git:https://u@h/").unwrap().unwrap().expose(), "{\"password\":\"pw\"}");
        assert_eq!(store.get("pat:contoso").unwrap().unwrap().expose(), "pat-1");
        assert_eq!(store.get("newer").unwrap().unwrap().expose(), "new-value");
        assert_eq!(names(&store.dir).len(), 4);
        // secrets.json is left as an empty file of the new format, which version 1 refuses.
        let stub = std::fs::read_to_string(tmp.path().join("secrets.json")).unwrap();
        assert_eq!(stub, r#"{"version":2,"secrets":{}}"#);
        // Once: another process finds it migrated.
        let again = FileStore::new(tmp.path());
        again.set("k", &Secret::new("v")).unwrap();
        assert_eq!(again.get("pat:contoso").unwrap().unwrap().expose(), "pat-1");
    }

    #[test]
    fn remove_all_leaves_no_secret_anywhere() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("secrets.json"), r#"{"version":1,"secrets":{"a":"hunter1"}}"#).unwrap();
        std::fs::write(tmp.path().join("secrets.json.corrupt-1"), "hunter2").unwrap();
        std::fs::write(tmp.path().join("accounts.json"), "{}").unwrap();
        let store = FileStore::new(tmp.path());
        store.set("b", &Secret::new("hunter3")).unwrap();
        std::fs::write(store.dir.join(format!("{}.corrupt-1", super::super::file_name_for("c"))), "hunter4").unwrap();
        store.remove_all().unwrap();
        assert_eq!(names(&store.dir), Vec::<String>::new());
        assert_eq!(names(tmp.path()), ["accounts.json", "secrets", "secrets.json", "secrets.lock"]);
        assert!(!std::fs::read_to_string(tmp.path().join("secrets.json")).unwrap().contains("hunter"));
        assert!(store.get("a").unwrap().is_none() && store.get("b").unwrap().is_none());
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

        // So is one secret's file: the others are untouched.
        store.set("k3", &Secret::new("v3")).unwrap();
        std::fs::write(store.path_for("k2"), b"{\"version\":2,\"key\":\"k2\",\"secret\":\"hunter3").unwrap();
        let err = store.get("k2").unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, StoreError::SetAside { .. }) && !message.contains("hunter3"), "{message}");
        assert!(store.get("k2").unwrap().is_none(), "reported once");
        assert_eq!(store.get("k3").unwrap().unwrap().expose(), "v3");
    }
}
