//! The OS keyring as a [`SecretStore`]: Secret Service on Linux and BSD, Keychain on macOS,
//! Credential Manager on Windows, through the `keyring` crate.
//!
//! Windows Credential Manager holds at most 2,560 bytes per item, and Entra refresh tokens can
//! be larger, so a secret over the platform's limit is split across numbered items
//! (`key#1`, `key#2`, ...) and the main item records how many there are.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::Duration;

use keyring_core::{CredentialStore, Entry};
use zeroize::Zeroizing;

use super::{Backend, SecretStore, StoreError};
use crate::secret::Secret;

/// The keyring "service" every item of ours is filed under.
pub const SERVICE: &str = "git-credential-azdo";

/// The largest secret kept in one item, where the platform has a limit.
#[cfg(windows)]
const PLATFORM_CHUNK: Option<usize> = Some(2048);
#[cfg(not(windows))]
const PLATFORM_CHUNK: Option<usize> = None;

/// Marks a main item whose secret is split; NUL never occurs in our secrets.
const CHUNKED: &str = "\0git-credential-azdo-chunks:";

/// How long one keyring operation may take. A Secret Service, Keychain or Credential Manager
/// answers in milliseconds; one that is stopped or hung (a D-Bus call has no deadline of its
/// own) must not hang git: the operation is then given up, and the keyring is unavailable.
const KEYRING_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct KeyringStore {
    store: Arc<CredentialStore>,
    chunk_size: Option<usize>,
    /// Calls given up on (see [`within`]) that have not returned yet, shared by the clones.
    stuck: Arc<AtomicUsize>,
}

impl std::fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringStore").field("vendor", &self.store.vendor()).finish_non_exhaustive()
    }
}

impl KeyringStore {
    /// The platform's keyring. Fails when there is none this process can reach (no session
    /// bus on a headless Linux machine, for example).
    pub fn platform() -> Result<Self, StoreError> {
        within(KEYRING_TIMEOUT, "open the keyring", &Arc::default(), || {
            if let Err(e) = keyring::Entry::store_status() {
                return Err(StoreError::Unavailable { backend: Backend::Keyring, reason: describe(e) });
            }
            let store = keyring_core::get_default_store().ok_or_else(|| StoreError::Unavailable {
                backend: Backend::Keyring,
                reason: "no keyring is known on this platform".into(),
            })?;
            Ok(Self::with_store(store, PLATFORM_CHUNK))
        })
    }

    /// A store over any keyring-core store, e.g. `keyring_core::mock::Store` in tests.
    pub fn with_store(store: Arc<CredentialStore>, chunk_size: Option<usize>) -> Self {
        Self { store, chunk_size, stuck: Arc::default() }
    }

    fn entry(&self, key: &str) -> Result<Entry, StoreError> {
        self.store.build(SERVICE, key, None).map_err(|e| self.failed("open an item", &e))
    }

    fn failed(&self, action: &'static str, e: &keyring_core::Error) -> StoreError {
        let _ = self;
        match e {
            keyring_core::Error::NoStorageAccess(_) | keyring_core::Error::NoDefaultStore => {
                StoreError::Unavailable { backend: Backend::Keyring, reason: describe(e) }
            }
            _ => StoreError::Failed { backend: Backend::Keyring, action, reason: describe(e) },
        }
    }

    /// The raw content of one item, or `None` when it does not exist.
    fn read(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        match self.entry(key)?.get_secret() {
            Ok(bytes) => Ok(Some(Zeroizing::new(bytes))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.failed("read a secret", &e)),
        }
    }

    fn write(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.entry(key)?.set_secret(bytes).map_err(|e| self.failed("save a secret", &e))
    }

    fn remove(&self, key: &str) -> Result<(), StoreError> {
        match self.entry(key)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(self.failed("delete a secret", &e)),
        }
    }

    /// How many chunk items the main item `bytes` says follow it.
    fn chunk_count(bytes: &[u8]) -> Option<usize> {
        let rest = bytes.strip_prefix(CHUNKED.as_bytes())?;
        std::str::from_utf8(rest).ok()?.parse().ok()
    }

    fn remove_chunks(&self, key: &str, count: usize) -> Result<(), StoreError> {
        (1..=count).try_for_each(|i| self.remove(&format!("{key}#{i}")))
    }
}

/// `work` (a keyring call), on a thread of its own, given up after `timeout`: the thread is
/// left to finish whenever the keyring answers, and the call counts as the keyring being
/// unavailable. While a call given up on has not returned (`stuck` counts them), the keyring is
/// taken to be unavailable at once: each call would wait as long again, and leave one more
/// thread waiting on the keyring.
fn within<T: Send + 'static>(
    timeout: Duration,
    action: &'static str,
    stuck: &Arc<AtomicUsize>,
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    const RUNNING: u8 = 0;
    const DONE: u8 = 1;
    const GIVEN_UP: u8 = 2;
    if stuck.load(Ordering::SeqCst) > 0 {
        return Err(StoreError::Unavailable {
            backend: Backend::Keyring,
            reason: format!("it has not answered an earlier call yet (to {action})"),
        });
    }
    let state = Arc::new(AtomicU8::new(RUNNING));
    let (done, result) = std::sync::mpsc::channel();
    let (worker_state, worker_stuck) = (state.clone(), stuck.clone());
    std::thread::Builder::new()
        .name("keyring".into())
        .spawn(move || {
            let _ = done.send(work());
            if worker_state.swap(DONE, Ordering::SeqCst) == GIVEN_UP {
                worker_stuck.fetch_sub(1, Ordering::SeqCst);
            }
        })
        .map_err(|e| StoreError::Failed { backend: Backend::Keyring, action, reason: e.to_string() })?;
    if let Ok(answer) = result.recv_timeout(timeout) {
        return answer;
    }
    // Counted before it is marked given up, so that the worker's count down never comes first.
    stuck.fetch_add(1, Ordering::SeqCst);
    if state.compare_exchange(RUNNING, GIVEN_UP, Ordering::SeqCst, Ordering::SeqCst).is_err() {
        // It answered just now: its answer is in the channel.
        stuck.fetch_sub(1, Ordering::SeqCst);
        if let Ok(answer) = result.recv() {
            return answer;
        }
    }
    Err(StoreError::Unavailable {
        backend: Backend::Keyring,
        reason: format!("it did not answer within {} s (to {action})", timeout.as_secs_f32()),
    })
}

/// A keyring error in words that cannot contain secret data.
fn describe(e: &keyring_core::Error) -> String {
    match e {
        keyring_core::Error::BadEncoding(_) => "an item is not valid UTF-8".into(),
        keyring_core::Error::BadDataFormat(..) => "an item is malformed".into(),
        other => other.to_string(),
    }
}

impl SecretStore for KeyringStore {
    fn backend(&self) -> Backend {
        Backend::Keyring
    }

    fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        let (this, key) = (self.clone(), key.to_owned());
        within(KEYRING_TIMEOUT, "read a secret", &self.stuck, move || this.get_now(&key))
    }

    fn set(&self, key: &str, secret: &Secret) -> Result<(), StoreError> {
        let (this, key, secret) = (self.clone(), key.to_owned(), secret.clone());
        within(KEYRING_TIMEOUT, "save a secret", &self.stuck, move || this.set_now(&key, &secret))
    }

    fn delete(&self, key: &str) -> Result<(), StoreError> {
        let (this, key) = (self.clone(), key.to_owned());
        within(KEYRING_TIMEOUT, "delete a secret", &self.stuck, move || this.delete_now(&key))
    }
}

/// The operations themselves, without a deadline.
impl KeyringStore {
    fn get_now(&self, key: &str) -> Result<Option<Secret>, StoreError> {
        let Some(main) = self.read(key)? else { return Ok(None) };
        let bytes = match Self::chunk_count(&main) {
            None => main,
            Some(count) => {
                let mut joined = Zeroizing::new(Vec::new());
                for i in 1..=count {
                    let chunk = self.read(&format!("{key}#{i}"))?.ok_or_else(|| StoreError::Failed {
                        backend: Backend::Keyring,
                        action: "read a secret",
                        reason: format!("part {i} of {count} of {key} is missing"),
                    })?;
                    joined.extend_from_slice(&chunk);
                }
                joined
            }
        };
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| StoreError::Failed {
            backend: Backend::Keyring,
            action: "read a secret",
            reason: format!("{key} is not valid UTF-8"),
        })?;
        Ok(Some(Secret::new(text)))
    }

    fn set_now(&self, key: &str, secret: &Secret) -> Result<(), StoreError> {
        let bytes = secret.expose().as_bytes();
        let old_chunks = match self.chunk_size {
            Some(_) => self.read(key)?.and_then(|old| Self::chunk_count(&old)).unwrap_or(0),
            None => 0,
        };
        match self.chunk_size {
            Some(size) if bytes.len() > size => {
                let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
                for (i, chunk) in chunks.iter().enumerate() {
                    self.write(&format!("{key}#{}", i + 1), chunk)?;
                }
                self.write(key, format!("{CHUNKED}{}", chunks.len()).as_bytes())?;
                if old_chunks > chunks.len() {
                    (chunks.len() + 1..=old_chunks).try_for_each(|i| self.remove(&format!("{key}#{i}")))?;
                }
            }
            _ => {
                self.write(key, bytes)?;
                self.remove_chunks(key, old_chunks)?;
            }
        }
        Ok(())
    }

    fn delete_now(&self, key: &str) -> Result<(), StoreError> {
        if let Some(count) = self.read(key)?.and_then(|main| Self::chunk_count(&main)) {
            self.remove_chunks(key, count)?;
        }
        self.remove(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mock(chunk: Option<usize>) -> (KeyringStore, Arc<CredentialStore>) {
        let store: Arc<CredentialStore> = keyring_core::mock::Store::new().unwrap();
        (KeyringStore::with_store(store.clone(), chunk), store)
    }

    #[test]
    fn round_trips_through_a_keyring() {
        let (store, _) = mock(None);
        assert!(store.get("git:https://h").unwrap().is_none());
        store.set("git:https://h", &Secret::new("v")).unwrap();
        assert_eq!(store.get("git:https://h").unwrap().unwrap().expose(), "v");
        store.delete("git:https://h").unwrap();
        store.delete("git:https://h").unwrap();
        assert!(store.get("git:https://h").unwrap().is_none());
    }

    #[test]
    fn secrets_over_the_item_limit_are_split_and_joined() {
        let (store, raw) = mock(Some(10));
        let big = "0123456789abcdefghijKLMNO";
        store.set("k", &Secret::new(big)).unwrap();
        assert_eq!(store.get("k").unwrap().unwrap().expose(), big);
        let part = |i: usize| raw.build(SERVICE, &format!("k#{i}"), None).unwrap().get_secret();
        assert_eq!(part(3).unwrap(), b"KLMNO", "the third item holds the tail");

        // Shrinking below the limit removes the parts.
        store.set("k", &Secret::new("small")).unwrap();
        assert_eq!(store.get("k").unwrap().unwrap().expose(), "small");
        assert!(matches!(part(1), Err(keyring_core::Error::NoEntry)));

        store.set("k", &Secret::new(big)).unwrap();
        store.delete("k").unwrap();
        assert!(store.get("k").unwrap().is_none());
        assert!(matches!(part(2), Err(keyring_core::Error::NoEntry)));
    }

    #[test]
    fn a_keyring_that_does_not_answer_is_given_up_as_unavailable() {
        // A keyring that answers after 10 s at the latest: a wait past the deadline would end
        // with its answer (and the test failed), not with the test hung.
        let stuck = Arc::default();
        let started = std::time::Instant::now();
        let (release, hung) = std::sync::mpsc::channel::<()>();
        let result = within(Duration::from_millis(100), "read a secret", &stuck, move || {
            let _ = hung.recv_timeout(Duration::from_secs(10));
            Ok(())
        });
        let waited = started.elapsed();
        let err = result.unwrap_err();
        assert!(waited >= Duration::from_millis(100) && waited < Duration::from_secs(5), "{waited:?}");
        assert!(matches!(err, StoreError::Unavailable { backend: Backend::Keyring, .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "the keyring store is unavailable: it did not answer within 0.1 s (to read a secret)"
        );
        // While that call has not returned, others are not even started: no waiting, and no
        // thread left waiting on the keyring for each.
        let ran = Arc::new(AtomicUsize::new(0));
        let counted = ran.clone();
        let err = within(Duration::from_secs(5), "save a secret", &stuck, move || {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the keyring store is unavailable: it has not answered an earlier call yet (to save a secret)"
        );
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        // Once it has answered, the keyring is asked again.
        drop(release);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while stuck.load(Ordering::SeqCst) > 0 {
            assert!(std::time::Instant::now() < deadline, "the stuck call returned");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(within(Duration::from_secs(5), "read a secret", &stuck, || Ok(7)).unwrap(), 7);
    }

    #[test]
    fn a_locked_keyring_is_reported_as_unavailable() {
        let (store, raw) = mock(None);
        let entry = raw.build(SERVICE, "k", None).unwrap();
        let cred: &keyring_core::mock::Cred = entry.as_any().downcast_ref().unwrap();
        cred.set_error(keyring_core::Error::NoStorageAccess("locked".into()));
        let err = store.get("k").unwrap_err();
        assert!(matches!(err, StoreError::Unavailable { backend: Backend::Keyring, .. }), "{err}");
    }
}
