//! Credentials that git asked us to keep (`git credential approve`, the `store` action), with the
//! semantics of git's own credential-store and credential-cache helpers.
//!
//! The metadata (which protocol, host, path and user; which backend; when it expires) is one
//! small JSON file per protocol and host in `credentials/`, replaced atomically under
//! `credentials.lock`, so that a change costs the same however many hosts are kept. The secrets
//! themselves (password, OAuth refresh token, `authtype` credential) are one item per
//! credential in a [`SecretStore`]. The daemon keeps the hosts it was asked about in memory
//! (at most [`MAX_CACHED_HOSTS`]) and notices, by the file's identity, when an in-process helper
//! changed one behind its back. A `store` of what is kept already writes nothing.
//!
//! Before this layout every host's metadata was in one file, `credentials.json`. Such a file is
//! migrated the first time it is seen, under the lock: each host's entries are written to the
//! host's file (unless there is one already, which is newer), then `credentials.json` is
//! replaced by an empty file of format 2, which an older version of this program refuses to use
//! rather than starting afresh. A crash in the middle leaves `credentials.json` as it was, and the
//! next process migrates again.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use serde::{Deserialize, Serialize};

use super::{Backend, SecretStore, StoreError, Vault, unix_now};
use crate::config::StoreChoice;
use crate::git::{Capabilities, Credential};
use crate::secret::Secret;

/// The format of a host's file.
const FORMAT_VERSION: u32 = 2;
/// The format of `credentials.json` when it held every host.
const LEGACY_VERSION: u32 = 1;

/// The directory of the hosts' files, in the state directory.
pub const CREDENTIALS_DIR: &str = "credentials";

/// The most hosts whose credentials the daemon keeps in memory; the least recently used go
/// first. Each is a file read away, so memory does not grow with what git stored.
pub const MAX_CACHED_HOSTS: usize = 128;

/// The credentials we keep for git, for every host.
#[derive(Debug)]
pub struct CredentialStore {
    dir: PathBuf,
    legacy_path: PathBuf,
    lock_path: PathBuf,
    vault: Arc<Vault>,
    cache: Mutex<Cache>,
}

/// What one stored credential is, without its secrets. Safe to log and to list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSummary {
    pub protocol: String,
    pub host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_expiry_utc: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authtype: Option<String>,
    pub has_password: bool,
    pub has_credential: bool,
    pub has_refresh_token: bool,
    pub backend: Backend,
    /// Unix seconds.
    pub stored_at: u64,
}

/// One host's file: its entries, most recently stored first.
#[derive(Serialize, Deserialize)]
struct HostFile {
    version: u32,
    protocol: String,
    host: String,
    credentials: Vec<StoredSummary>,
}

/// `credentials.json`: every host's entries (format 1), or none (format 2: migrated).
#[derive(Default, Serialize, Deserialize)]
struct LegacyFile {
    version: u32,
    credentials: Vec<StoredSummary>,
}

/// The secret half of a stored credential, kept as one item.
#[derive(Default, PartialEq, Eq, Serialize, Deserialize)]
struct SecretFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oauth_refresh_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credential: Option<Secret>,
}

/// What a host's entries were read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Loaded {
    /// Nothing yet, or the file may differ from the cache (after a failed write).
    #[default]
    Unknown,
    /// No file existed.
    NoFile,
    File(crate::fs::Fingerprint),
}

/// (protocol, host).
type HostKey = (String, String);

/// One host's entries, most recently stored first, and the secrets of those read so far.
#[derive(Debug, Default)]
struct Host {
    loaded: Loaded,
    entries: Vec<StoredSummary>,
    secrets: HashMap<String, Arc<SecretFields>>,
    /// When it was last used, on [`Cache::clock`].
    used: u64,
}

#[derive(Debug, Default)]
struct Cache {
    /// Whether `credentials.json` was found migrated (or absent) by this process.
    migrated: bool,
    hosts: HashMap<HostKey, Host>,
    clock: u64,
}

impl std::fmt::Debug for SecretFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretFields(<redacted>)")
    }
}

impl CredentialStore {
    /// Opens the store in `state_dir` (created owner-only), with secrets where `choice` says.
    pub fn open(state_dir: &Path, choice: StoreChoice) -> Result<Self, StoreError> {
        Ok(Self::with_vault(state_dir, Arc::new(Vault::open(state_dir, choice)?)))
    }

    /// A store whose metadata lives in `state_dir` and whose secrets live in `vault`.
    pub fn with_vault(state_dir: &Path, vault: Arc<Vault>) -> Self {
        Self {
            dir: state_dir.join(CREDENTIALS_DIR),
            legacy_path: state_dir.join("credentials.json"),
            lock_path: state_dir.join("credentials.lock"),
            vault,
            cache: Mutex::new(Cache::default()),
        }
    }

    /// A store over explicit secret stores, the first receiving new secrets. For tests.
    pub fn with_stores(state_dir: &Path, stores: Vec<Arc<dyn SecretStore>>, fallback: bool) -> Self {
        Self::with_vault(state_dir, Arc::new(Vault::with_stores(stores, fallback)))
    }

    /// Where new secrets are kept.
    pub fn backend(&self) -> Backend {
        self.vault.backend()
    }

    /// Why new secrets go to the owner-only file, when they do.
    pub fn file_reason(&self) -> Option<super::FileReason> {
        self.vault.file_reason().cloned()
    }

    /// The stored credential git should use for `request`, as git's own helpers choose it.
    pub fn get(&self, request: &Credential) -> Result<Option<Credential>, StoreError> {
        if !request.has_protocol_and_host() {
            return Ok(None);
        }
        let mut cache = self.cache();
        self.ensure_migrated(&mut cache, false)?;
        let host = self.host(&mut cache, &host_key(request))?;
        Self::answer_from(host, request, |host, entry| Some(self.secrets(host, entry))).unwrap_or(Ok(None))
    }

    /// [`Self::get`] when it needs no secret store (the keyring may not be called from an async
    /// thread): the host's file is checked, and read if it changed, but a secret not read
    /// before is not. `None`: ask [`Self::get`].
    pub fn get_cached(&self, request: &Credential) -> Option<Result<Option<Credential>, StoreError>> {
        if !request.has_protocol_and_host() {
            return Some(Ok(None));
        }
        // On the daemon's async thread: never wait for a blocking thread that holds the cache
        // (it may be waiting on the keyring for seconds); that one asks `get`, as it would.
        let mut cache = self.try_cache()?;
        if !cache.migrated {
            return None;
        }
        let host = match self.host(&mut cache, &host_key(request)) {
            Ok(host) => host,
            Err(e) => return Some(Err(e)),
        };
        Self::answer_from(host, request, |host, entry| host.secrets.get(&secret_key(entry)).cloned().map(Ok))
    }

    /// The answer among `host`'s entries, with each candidate's secrets from `secrets`; `None`
    /// as soon as `secrets` has none to give (not read yet). A secret's file found corrupt (and
    /// set aside) is said when no other entry answers.
    fn answer_from(
        host: &mut Host,
        request: &Credential,
        mut secrets: impl FnMut(&mut Host, &StoredSummary) -> Option<Result<Arc<SecretFields>, StoreError>>,
    ) -> Option<Result<Option<Credential>, StoreError>> {
        let now = unix_now();
        let caps = request.capabilities;
        let candidates: Vec<StoredSummary> = host
            .entries
            .iter()
            .filter(|e| matches(e, request) && !expired(e, now) && usable(e, caps))
            .cloned()
            .collect();
        let mut set_aside = None;
        for entry in candidates {
            match secrets(host, &entry)? {
                Ok(found) => return Some(Ok(Some(answer(&entry, &found, caps)))),
                Err(e @ StoreError::SetAside { .. }) => set_aside = set_aside.or(Some(e)),
                // One unreadable item (a keyring locked since) must not hide the others.
                Err(e) => tracing::warn!(error = %e, host = %entry.host, "skipping a stored credential"),
            }
        }
        Some(set_aside.map_or(Ok(None), Err))
    }

    /// Keeps what git approved. Ephemeral, incomplete and already expired credentials are not
    /// kept; `authtype` credentials only when git announced the capability. What is kept
    /// already, as the host's most recent entry, is not written again.
    pub fn store(&self, request: &Credential) -> Result<(), StoreError> {
        let now = unix_now();
        let Some((mut entry, secrets)) = self.to_keep(request, now) else { return Ok(()) };
        let key = (entry.protocol.clone(), entry.host.clone());
        // git stores what it used after every operation: most often what is kept already.
        // Seen without the lock, as a `get` sees it: the store is then simply done first.
        {
            let mut cache = self.cache();
            self.ensure_migrated(&mut cache, false)?;
            let host = self.host(&mut cache, &key)?;
            if self.kept_already(host, &entry, &secrets) {
                return Ok(());
            }
        }

        let _lock = super::file::lock_exclusive(&self.lock_path)?;
        let mut cache = self.cache();
        let host = self.host(&mut cache, &key)?;
        let item = secret_key(&entry);
        let blob = encode(&secrets)?;
        entry.backend = self.vault.put(&item, &blob)?;

        let mut dropped: Vec<StoredSummary> = Vec::new();
        host.entries.retain(|old| {
            let keep = !same_identity(old, &entry) && !expired(old, now);
            if !keep {
                dropped.push(old.clone());
            }
            keep
        });
        host.entries.insert(0, entry.clone());
        for old in &dropped {
            host.secrets.remove(&secret_key(old));
        }
        host.secrets.insert(item, Arc::new(secrets));
        // The host's file first: a secret is forgotten only once no file names it, so that a
        // store that fails (a full disk) or is killed half-way leaves no entry without its secret.
        self.save(host, &key)?;
        for old in dropped.iter().filter(|old| old.backend != entry.backend || !same_identity(old, &entry)) {
            self.forget_secret(old);
        }
        Ok(())
    }

    /// What `store` keeps of `request`, `None` when nothing: ephemeral, incomplete and already
    /// expired credentials are not kept; `authtype` ones only with the capability.
    fn to_keep(&self, request: &Credential, now: u64) -> Option<(StoredSummary, SecretFields)> {
        let with_authtype = request.capabilities.authtype && request.authtype.is_some() && request.credential.is_some();
        let with_password = request.username.is_some() && request.password.is_some();
        if !request.has_protocol_and_host() || request.ephemeral || !(with_authtype || with_password) {
            return None;
        }
        if request.password_expiry_utc.is_some_and(|t| t <= now) {
            return None;
        }
        let secrets = SecretFields {
            password: request.password.clone().filter(|_| with_password),
            oauth_refresh_token: request.oauth_refresh_token.clone(),
            credential: request.credential.clone().filter(|_| with_authtype),
        };
        let entry = StoredSummary {
            protocol: request.protocol.clone().unwrap_or_default(),
            host: request.host.clone().unwrap_or_default(),
            path: request.path.clone(),
            username: request.username.clone(),
            password_expiry_utc: request.password_expiry_utc,
            authtype: request.authtype.clone().filter(|_| with_authtype),
            has_password: secrets.password.is_some(),
            has_credential: secrets.credential.is_some(),
            has_refresh_token: secrets.oauth_refresh_token.is_some(),
            backend: self.backend(),
            stored_at: now,
        };
        Some((entry, secrets))
    }

    /// Whether [`Self::store`] of `request` would write nothing, told without a secret store
    /// (the keyring may not be called from an async thread): from the host's file (checked, and
    /// read if it changed) and a secret read before. `false` when that cannot tell.
    pub fn kept_already_cached(&self, request: &Credential) -> bool {
        let Some((entry, secrets)) = self.to_keep(request, unix_now()) else { return false };
        // As in `get_cached`: the cache busy is a "cannot tell".
        let Some(mut cache) = self.try_cache() else { return false };
        if !cache.migrated {
            return false;
        }
        let key = (entry.protocol.clone(), entry.host.clone());
        let Ok(host) = self.host(&mut cache, &key) else { return false };
        let Some(first) = host.entries.first() else { return false };
        let same = StoredSummary { stored_at: first.stored_at, ..entry };
        *first == same
            && !expired(first, unix_now())
            && host.secrets.get(&secret_key(first)).is_some_and(|kept| **kept == secrets)
    }

    /// Whether `entry` with `secrets` is what `host` has as its most recent entry (so that a
    /// `get` without a username already answers with it), in the store new secrets go to.
    fn kept_already(&self, host: &mut Host, entry: &StoredSummary, secrets: &SecretFields) -> bool {
        let Some(first) = host.entries.first().cloned() else { return false };
        let same = StoredSummary { stored_at: first.stored_at, ..entry.clone() };
        first == same && !expired(&first, unix_now()) && self.secrets(host, &first).is_ok_and(|kept| *kept == *secrets)
    }

    /// Removes what git rejected: every match of `request`'s protocol, host, and its path and
    /// username when given; when a password (or `credential`) is given, only entries holding
    /// exactly that one, so a stale password never erases a newer one.
    pub fn erase(&self, request: &Credential) -> Result<(), StoreError> {
        if !request.has_protocol_and_host() {
            return Ok(());
        }
        // Migrated first, as `store` does: taking the file lock while holding the cache would
        // wait on another thread of ours that holds the cache and waits for the file lock.
        self.ensure_migrated(&mut self.cache(), false)?;
        let _lock = super::file::lock_exclusive(&self.lock_path)?;
        let mut cache = self.cache();
        let key = host_key(request);
        let host = self.host(&mut cache, &key)?;
        let candidates: Vec<StoredSummary> = host.entries.iter().filter(|e| matches(e, request)).cloned().collect();
        let mut erased = Vec::new();
        for entry in candidates {
            if request.password.is_some() || request.credential.is_some() {
                let secrets = match self.secrets(host, &entry) {
                    Ok(secrets) => secrets,
                    Err(e) => {
                        tracing::warn!(error = %e, host = %entry.host, "cannot compare a stored credential");
                        continue;
                    }
                };
                if !same_secret(request.password.as_ref(), secrets.password.as_ref())
                    || !same_secret(request.credential.as_ref(), secrets.credential.as_ref())
                {
                    continue;
                }
            }
            erased.push(entry);
        }
        if erased.is_empty() {
            return Ok(());
        }
        host.entries.retain(|e| !erased.contains(e));
        for entry in &erased {
            host.secrets.remove(&secret_key(entry));
        }
        // As in `store`: the file first, then the secrets it no longer names.
        self.save(host, &key)?;
        for entry in &erased {
            self.forget_secret(entry);
        }
        Ok(())
    }

    /// Everything stored, without secrets, ordered by protocol, host, path and user. Reads
    /// every host's file.
    pub fn list(&self) -> Result<Vec<StoredSummary>, StoreError> {
        {
            let mut cache = self.cache();
            self.ensure_migrated(&mut cache, false)?;
        }
        let io = |source| StoreError::Io { action: "read", path: self.dir.clone(), source };
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(e)),
        };
        let mut all = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io)?;
            if !super::is_keyed_file_name(&entry.file_name().to_string_lossy()) {
                continue;
            }
            if let Some(file) = read_host(&entry.path())? {
                // A host's file under another's name (copied by hand) is not that host's.
                if self.path_for(&(file.protocol.clone(), file.host.clone())) != entry.path() {
                    continue;
                }
                all.extend(file.credentials.into_iter().filter(|e| e.protocol == file.protocol && e.host == file.host));
            }
        }
        all.sort_by(|a, b| {
            (&a.protocol, &a.host, &a.path, &a.username).cmp(&(&b.protocol, &b.host, &b.path, &b.username))
        });
        Ok(all)
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
        // Every change to the cache is completed before anything that could panic, so a
        // poisoned lock still guards consistent data.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// [`Self::cache`] if no one holds it now.
    fn try_cache(&self) -> Option<MutexGuard<'_, Cache>> {
        match self.cache.try_lock() {
            Ok(cache) => Some(cache),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    fn path_for(&self, (protocol, host): &HostKey) -> PathBuf {
        self.dir.join(super::file_name_for(&format!("{protocol}\0{host}")))
    }

    /// Migrates `credentials.json` if this process has not seen it migrated yet; takes the lock
    /// only when there is something to migrate (`locked`: the caller holds it).
    fn ensure_migrated(&self, cache: &mut Cache, locked: bool) -> Result<(), StoreError> {
        if cache.migrated {
            return Ok(());
        }
        let legacy = |path: &Path| super::read_state_file(path, FORMAT_VERSION, |f: &LegacyFile| f.version);
        if legacy(&self.legacy_path)?.is_none_or(|file| file.version != LEGACY_VERSION) {
            cache.migrated = true;
            return Ok(());
        }
        let _lock = if locked { None } else { Some(super::file::lock_exclusive(&self.lock_path)?) };
        // Read again under the lock: another process may have migrated it meanwhile.
        if let Some(file) = legacy(&self.legacy_path)?.filter(|file| file.version == LEGACY_VERSION) {
            let mut hosts: Vec<(HostKey, Vec<StoredSummary>)> = Vec::new();
            for entry in file.credentials {
                let key = (entry.protocol.clone(), entry.host.clone());
                match hosts.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, entries)) => entries.push(entry),
                    None => hosts.push((key, vec![entry])),
                }
            }
            let count = hosts.len();
            for (key, entries) in hosts {
                // One there already was written by this version, after the file was: newer.
                if !self.path_for(&key).exists() {
                    self.write_host(&key, entries)?;
                }
            }
            let stub = serde_json::to_vec(&LegacyFile { version: FORMAT_VERSION, credentials: Vec::new() })
                .map_err(|e| encoding(&e))?;
            crate::fs::write_atomic(&self.legacy_path, &stub).map_err(|source| StoreError::Io {
                action: "write",
                path: self.legacy_path.clone(),
                source,
            })?;
            tracing::info!(hosts = count, path = %self.legacy_path.display(), "moved the stored credentials to one file per host");
            cache.hosts.clear();
        }
        cache.migrated = true;
        Ok(())
    }

    /// The host's entries, read again when its file is not the one they were read from.
    fn host<'c>(&self, cache: &'c mut Cache, key: &HostKey) -> Result<&'c mut Host, StoreError> {
        let path = self.path_for(key);
        let current = fingerprint(&path)?;
        cache.clock += 1;
        let clock = cache.clock;
        let fresh = cache.hosts.get(key).is_some_and(|host| host.loaded == current);
        if !fresh {
            let entries = match read_host(&path)? {
                // Another host's file (copied by hand): none of this host's entries.
                Some(file) if (&file.protocol, &file.host) == (&key.0, &key.1) => {
                    file.credentials.into_iter().filter(|e| (&e.protocol, &e.host) == (&key.0, &key.1)).collect()
                }
                _ => Vec::new(),
            };
            if !cache.hosts.contains_key(key) && cache.hosts.len() >= MAX_CACHED_HOSTS {
                let oldest = cache.hosts.iter().min_by_key(|(_, host)| host.used).map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    cache.hosts.remove(&oldest);
                }
            }
            cache.hosts.insert(key.clone(), Host { loaded: current, entries, secrets: HashMap::new(), used: clock });
        }
        let host = cache.hosts.entry(key.clone()).or_default();
        host.used = clock;
        Ok(host)
    }

    fn write_host(&self, (protocol, host): &HostKey, credentials: Vec<StoredSummary>) -> Result<(), StoreError> {
        crate::fs::ensure_private_dir(&self.dir).map_err(|source| StoreError::Io {
            action: "create",
            path: self.dir.clone(),
            source,
        })?;
        let key = (protocol.clone(), host.clone());
        let file = HostFile { version: FORMAT_VERSION, protocol: protocol.clone(), host: host.clone(), credentials };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| encoding(&e))?;
        let path = self.path_for(&key);
        crate::fs::write_atomic(&path, &json).map_err(|source| StoreError::Io { action: "write", path, source })
    }

    /// Writes the host's entries to its file, or removes the file when there are none.
    fn save(&self, host: &mut Host, key: &HostKey) -> Result<(), StoreError> {
        let path = self.path_for(key);
        let written = if host.entries.is_empty() {
            crate::fs::remove_durably(&path).map_err(|source| StoreError::Io {
                action: "remove",
                path: path.clone(),
                source,
            })
        } else {
            self.write_host(key, host.entries.clone())
        };
        if let Err(e) = written {
            // Our in-memory view is ahead of the file: re-read it next time.
            host.loaded = Loaded::Unknown;
            return Err(e);
        }
        host.loaded = fingerprint(&path)?;
        Ok(())
    }

    fn secrets(&self, host: &mut Host, entry: &StoredSummary) -> Result<Arc<SecretFields>, StoreError> {
        let key = secret_key(entry);
        if let Some(found) = host.secrets.get(&key) {
            return Ok(found.clone());
        }
        let secret = self.vault.get(entry.backend, &key)?.ok_or_else(|| StoreError::Failed {
            backend: entry.backend,
            action: "read a secret",
            reason: format!("{key} is missing"),
        })?;
        let fields: SecretFields = serde_json::from_str(secret.expose()).map_err(|_| StoreError::Failed {
            backend: entry.backend,
            action: "read a secret",
            reason: format!("{key} is malformed"),
        })?;
        let fields = Arc::new(fields);
        host.secrets.insert(key, fields.clone());
        Ok(fields)
    }

    fn forget_secret(&self, entry: &StoredSummary) {
        self.vault.forget(entry.backend, &secret_key(entry));
    }
}

fn read_host(path: &Path) -> Result<Option<HostFile>, StoreError> {
    super::read_state_file(path, FORMAT_VERSION, |f: &HostFile| f.version)
}

fn encoding(e: &serde_json::Error) -> StoreError {
    StoreError::Failed { backend: Backend::File, action: "encode metadata", reason: e.to_string() }
}

fn host_key(request: &Credential) -> HostKey {
    (request.protocol.clone().unwrap_or_default(), request.host.clone().unwrap_or_default())
}

fn encode(secrets: &SecretFields) -> Result<Secret, StoreError> {
    serde_json::to_string(secrets).map(Secret::new).map_err(|e| StoreError::Failed {
        backend: Backend::Memory,
        action: "encode a secret",
        reason: e.to_string(),
    })
}

fn fingerprint(path: &Path) -> Result<Loaded, StoreError> {
    match crate::fs::fingerprint(path) {
        Ok(Some(found)) => Ok(Loaded::File(found)),
        Ok(None) => Ok(Loaded::NoFile),
        Err(source) => Err(StoreError::Io { action: "read", path: path.to_owned(), source }),
    }
}

/// Git's `credential_match`: what the request names must be equal; what it leaves out matches
/// anything. Protocol and host are equal by the index.
fn matches(entry: &StoredSummary, request: &Credential) -> bool {
    let check = |want: &Option<String>, have: &Option<String>| want.is_none() || want == have;
    check(&request.path, &entry.path) && check(&request.username, &entry.username)
}

fn same_identity(a: &StoredSummary, b: &StoredSummary) -> bool {
    a.protocol == b.protocol && a.host == b.host && a.path == b.path && a.username == b.username
}

fn same_secret(wanted: Option<&Secret>, stored: Option<&Secret>) -> bool {
    wanted.is_none() || wanted == stored
}

fn expired(entry: &StoredSummary, now: u64) -> bool {
    entry.password_expiry_utc.is_some_and(|t| t <= now)
}

fn usable(entry: &StoredSummary, caps: Capabilities) -> bool {
    entry.has_password || (caps.authtype && entry.has_credential)
}

fn answer(entry: &StoredSummary, secrets: &SecretFields, caps: Capabilities) -> Credential {
    let use_authtype = caps.authtype && entry.has_credential && secrets.credential.is_some();
    let mut answer = Credential {
        password_expiry_utc: entry.password_expiry_utc,
        oauth_refresh_token: secrets.oauth_refresh_token.clone(),
        ..Credential::default()
    };
    if use_authtype {
        answer.capabilities.authtype = true;
        answer.authtype.clone_from(&entry.authtype);
        answer.credential.clone_from(&secrets.credential);
    } else {
        answer.username.clone_from(&entry.username);
        answer.password.clone_from(&secrets.password);
    }
    answer
}

/// The item name of a credential's secrets: `git:{protocol}://{user@}{host}/{path}`. It names
/// no secret. An empty username (`@host`) and no username (`host`) are different names.
fn secret_key(entry: &StoredSummary) -> String {
    let user = entry.username.as_deref().map(|u| format!("{}@", escape(u))).unwrap_or_default();
    let path = entry.path.as_deref().unwrap_or("");
    format!("git:{}://{user}{}/{path}", entry.protocol, entry.host)
}

fn escape(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for byte in user.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~+".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::FileStore;
    use crate::store::MemoryStore;

    struct Fixture {
        dir: tempfile::TempDir,
        store: CredentialStore,
        secrets: Arc<MemoryStore>,
    }

    impl Fixture {
        fn host_path(&self, protocol: &str, host: &str) -> PathBuf {
            self.store.path_for(&(protocol.to_owned(), host.to_owned()))
        }
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(MemoryStore::new());
        let store = CredentialStore::with_stores(dir.path(), vec![secrets.clone()], false);
        Fixture { dir, store, secrets }
    }

    fn cred(text: &str) -> Credential {
        Credential::read(text.replace(' ', "\n").as_bytes()).unwrap()
    }

    fn get(store: &CredentialStore, text: &str) -> Option<(Option<String>, Option<String>)> {
        store.get(&cred(text)).unwrap().map(|c| (c.username, c.password.map(|p| p.expose().to_owned())))
    }

    #[expect(clippy::unnecessary_wraps, reason = "compared with what get() returns")]
    fn pair(user: &str, pass: &str) -> Option<(Option<String>, Option<String>)> {
        Some((Some(user.into()), Some(pass.into())))
    }

    #[test]
    fn exact_match_on_protocol_host_and_port() {
        let f = fixture();
        f.store.store(&cred("protocol=https host=example.com username=u password=p")).unwrap();
        assert_eq!(get(&f.store, "protocol=https host=example.com"), pair("u", "p"));
        assert_eq!(get(&f.store, "protocol=http host=example.com"), None);
        assert_eq!(get(&f.store, "protocol=https host=example.com:8443"), None);
        assert_eq!(get(&f.store, "protocol=https host=sub.example.com"), None);
        assert_eq!(get(&f.store, "host=example.com"), None, "no protocol, no answer");
        assert_eq!(get(&f.store, "protocol=https"), None, "no host, no answer");
    }

    #[test]
    fn path_and_username_match_when_the_request_names_them() {
        let f = fixture();
        f.store.store(&cred("protocol=https host=h path=org/a username=alice password=pa")).unwrap();
        f.store.store(&cred("protocol=https host=h path=org/b username=bob password=pb")).unwrap();
        assert_eq!(get(&f.store, "protocol=https host=h path=org/a"), pair("alice", "pa"));
        assert_eq!(get(&f.store, "protocol=https host=h path=org/b"), pair("bob", "pb"));
        assert_eq!(get(&f.store, "protocol=https host=h path=org/c"), None);
        assert_eq!(get(&f.store, "protocol=https host=h username=alice"), pair("alice", "pa"));
        assert_eq!(get(&f.store, "protocol=https host=h path=org/a username=bob"), None);
        // Without a path in the request any entry of the host matches, newest first.
        assert_eq!(get(&f.store, "protocol=https host=h"), pair("bob", "pb"));
    }

    #[test]
    fn several_users_per_host_and_the_empty_username() {
        let f = fixture();
        f.store.store(&cred("protocol=https host=h username= password=empty")).unwrap();
        f.store.store(&cred("protocol=https host=h username=carol password=pc")).unwrap();
        assert_eq!(get(&f.store, "protocol=https host=h username="), pair("", "empty"));
        assert_eq!(get(&f.store, "protocol=https host=h username=carol"), pair("carol", "pc"));
        assert_eq!(f.store.list().unwrap().len(), 2);
    }

    #[test]
    fn store_replaces_the_same_identity() {
        let f = fixture();
        f.store.store(&cred("protocol=https host=h username=u password=old")).unwrap();
        f.store.store(&cred("protocol=https host=h username=u password=new")).unwrap();
        assert_eq!(get(&f.store, "protocol=https host=h username=u"), pair("u", "new"));
        assert_eq!(f.store.list().unwrap().len(), 1);
    }

    #[test]
    fn erase_by_username_by_password_or_all_users() {
        let f = fixture();
        for user in ["a", "b", "c"] {
            f.store.store(&cred(&format!("protocol=https host=h username={user} password=p{user}"))).unwrap();
        }
        f.store.store(&cred("protocol=https host=other username=a password=pa")).unwrap();

        // A stale password never erases a newer one.
        f.store.erase(&cred("protocol=https host=h username=a password=stale")).unwrap();
        assert_eq!(get(&f.store, "protocol=https host=h username=a"), pair("a", "pa"));
        f.store.erase(&cred("protocol=https host=h username=a password=pa")).unwrap();
        assert_eq!(get(&f.store, "protocol=https host=h username=a"), None);

        f.store.erase(&cred("protocol=https host=h username=b")).unwrap();
        assert_eq!(get(&f.store, "protocol=https host=h username=b"), None);
        assert_eq!(get(&f.store, "protocol=https host=h username=c"), pair("c", "pc"));

        f.store.erase(&cred("protocol=https host=h")).unwrap();
        assert_eq!(get(&f.store, "protocol=https host=h"), None);
        assert_eq!(get(&f.store, "protocol=https host=other"), pair("a", "pa"), "other hosts are untouched");
        assert_eq!(f.secrets.get("git:https://a@h/").unwrap(), None, "erased secrets leave the store");
    }

    #[test]
    fn erase_without_host_erases_nothing() {
        let f = fixture();
        f.store.store(&cred("protocol=https host=h username=u password=p")).unwrap();
        f.store.erase(&cred("protocol=https")).unwrap();
        assert_eq!(get(&f.store, "protocol=https host=h"), pair("u", "p"));
    }

    #[test]
    fn expiry_and_refresh_token_are_kept_and_expired_entries_not_returned() {
        let f = fixture();
        let future = unix_now() + 3600;
        f.store
            .store(&cred(&format!(
                "protocol=https host=h username=u password=p password_expiry_utc={future} oauth_refresh_token=rt"
            )))
            .unwrap();
        let got = f.store.get(&cred("protocol=https host=h")).unwrap().unwrap();
        assert_eq!(got.password_expiry_utc, Some(future));
        assert_eq!(got.oauth_refresh_token.unwrap().expose(), "rt");

        // Stored before it expired, asked for after: write the past expiry into the metadata.
        let past = unix_now() - 10;
        let meta_path = f.host_path("https", "h");
        let meta = std::fs::read_to_string(&meta_path).unwrap();
        std::fs::write(&meta_path, meta.replace(&future.to_string(), &past.to_string())).unwrap();
        assert_eq!(get(&f.store, "protocol=https host=h"), None);

        f.store
            .store(&cred(&format!("protocol=https host=h username=v password=p password_expiry_utc={past}")))
            .unwrap();
        assert_eq!(get(&f.store, "protocol=https host=h username=v"), None, "an expired credential is not stored");
    }

    #[test]
    fn ephemeral_and_incomplete_credentials_are_not_stored() {
        let f = fixture();
        f.store.store(&cred("protocol=https host=h username=u password=p ephemeral=1")).unwrap();
        f.store.store(&cred("protocol=https host=h username=u")).unwrap();
        f.store.store(&cred("protocol=https host=h password=p")).unwrap();
        f.store.store(&cred("host=h username=u password=p")).unwrap();
        assert!(f.store.list().unwrap().is_empty());
    }

    #[test]
    fn authtype_credentials_need_the_capability_both_ways() {
        let f = fixture();
        f.store.store(&cred("protocol=https host=h authtype=Bearer credential=tok")).unwrap();
        assert!(f.store.list().unwrap().is_empty(), "without capability[]=authtype it is not kept");

        f.store.store(&cred("capability[]=authtype protocol=https host=h authtype=Bearer credential=tok")).unwrap();
        assert_eq!(get(&f.store, "protocol=https host=h"), None, "not given to a request without the capability");
        let got = f.store.get(&cred("capability[]=authtype protocol=https host=h")).unwrap().unwrap();
        assert_eq!(got.authtype.as_deref(), Some("Bearer"));
        assert_eq!(got.credential.unwrap().expose(), "tok");
        assert!(got.capabilities.authtype);
    }

    #[test]
    fn a_second_store_sees_changes_made_through_the_file() {
        let f = fixture();
        let other = CredentialStore::with_stores(f.dir.path(), vec![f.secrets.clone()], false);
        assert_eq!(get(&f.store, "protocol=https host=h"), None);
        other.store(&cred("protocol=https host=h username=u password=p")).unwrap();
        assert_eq!(get(&f.store, "protocol=https host=h"), pair("u", "p"));
        other.erase(&cred("protocol=https host=h")).unwrap();
        assert_eq!(get(&f.store, "protocol=https host=h"), None);
    }

    #[test]
    fn metadata_holds_no_secret_and_keys_name_what_they_are_for() {
        let f = fixture();
        f.store.store(&cred("protocol=https host=h:8443 path=a/b username=me@x password=s3cret")).unwrap();
        let meta = std::fs::read_to_string(f.host_path("https", "h:8443")).unwrap();
        assert!(meta.contains("me@x") && !meta.contains("s3cret"), "{meta}");
        assert!(f.secrets.get("git:https://me%40x@h:8443/a/b").unwrap().is_some());
    }

    #[test]
    fn a_keyring_that_refuses_falls_back_to_the_file_in_auto_mode() {
        #[derive(Debug)]
        struct Locked;
        impl SecretStore for Locked {
            fn backend(&self) -> Backend {
                Backend::Keyring
            }
            fn get(&self, _: &str) -> Result<Option<Secret>, StoreError> {
                Err(StoreError::Unavailable { backend: Backend::Keyring, reason: "locked".into() })
            }
            fn set(&self, key: &str, _: &Secret) -> Result<(), StoreError> {
                self.get(key).map(|_| ())
            }
            fn delete(&self, key: &str) -> Result<(), StoreError> {
                self.set(key, &Secret::new(""))
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let file = Arc::new(FileStore::new(dir.path()));
        let auto = CredentialStore::with_stores(dir.path(), vec![Arc::new(Locked), file.clone()], true);
        auto.store(&cred("protocol=https host=h username=u password=p")).unwrap();
        assert_eq!(auto.list().unwrap()[0].backend, Backend::File);
        assert_eq!(get(&auto, "protocol=https host=h"), pair("u", "p"));

        let insisted = CredentialStore::with_stores(dir.path(), vec![Arc::new(Locked), file], false);
        let err = insisted.store(&cred("protocol=https host=h2 username=u password=p")).unwrap_err();
        assert!(matches!(err, StoreError::Unavailable { .. }), "{err}");
    }

    #[test]
    fn a_corrupt_host_file_is_reported_once_and_kept_aside_and_the_next_store_starts_afresh() {
        let f = fixture();
        f.store.store(&cred("protocol=https host=other username=u password=p")).unwrap();
        let path = f.host_path("https", "h");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"not json").unwrap();
        let credential = cred("protocol=https host=h username=u password=p");
        let err = f.store.store(&credential).unwrap_err();
        let StoreError::SetAside { aside, .. } = &err else { panic!("{err}") };
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(err.to_string().contains(&format!("{name} was corrupt")), "{err}");
        assert_eq!(std::fs::read(aside).unwrap(), b"not json", "kept as it was");
        assert!(aside.file_name().unwrap().to_string_lossy().starts_with(&format!("{name}.corrupt-")));
        assert_eq!(get(&f.store, "protocol=https host=other"), pair("u", "p"), "other hosts are not touched");

        f.store.store(&credential).unwrap();
        assert_eq!(f.store.list().unwrap().len(), 2);
        assert_eq!(std::fs::read(aside).unwrap(), b"not json", "the new file is another one");
    }

    #[test]
    fn a_file_of_a_newer_format_is_an_error_and_is_left_in_place() {
        let f = fixture();
        let newer = br#"{"version":999,"protocol":"https","host":"h","credentials":[]}"#;
        let path = f.host_path("https", "h");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, newer).unwrap();
        let err = f.store.store(&cred("protocol=https host=h username=u password=p")).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), newer);
        // So is a credentials.json of a newer format than the one this version leaves.
        let f = fixture();
        std::fs::write(&f.store.legacy_path, br#"{"version":3,"credentials":[]}"#).unwrap();
        let err = f.store.get(&cred("protocol=https host=h")).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
    }

    /// A secret store that counts what is written to it.
    #[derive(Debug, Default)]
    struct Counting {
        inner: MemoryStore,
        sets: std::sync::atomic::AtomicUsize,
    }

    impl SecretStore for Counting {
        fn backend(&self) -> Backend {
            Backend::Memory
        }
        fn get(&self, key: &str) -> Result<Option<Secret>, StoreError> {
            self.inner.get(key)
        }
        fn set(&self, key: &str, secret: &Secret) -> Result<(), StoreError> {
            self.sets.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.set(key, secret)
        }
        fn delete(&self, key: &str) -> Result<(), StoreError> {
            self.inner.delete(key)
        }
    }

    #[test]
    fn a_store_of_what_is_kept_already_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = Arc::new(Counting::default());
        let store = CredentialStore::with_stores(dir.path(), vec![secrets.clone()], false);
        let sets = || secrets.sets.load(std::sync::atomic::Ordering::SeqCst);
        let alice = "protocol=https host=h username=alice password=pa";
        store.store(&cred(alice)).unwrap();
        let path = store.path_for(&("https".into(), "h".into()));
        let written = || (crate::fs::fingerprint(&path).unwrap(), std::fs::read(&path).unwrap());
        let before = written();
        assert_eq!(sets(), 1);

        // Again, by this process and by another one (which reads the secret to compare).
        store.store(&cred(alice)).unwrap();
        CredentialStore::with_stores(dir.path(), vec![secrets.clone()], false).store(&cred(alice)).unwrap();
        assert_eq!((sets(), written()), (1, before), "nothing was written");

        // Anything else is written: another password, an expiry, a refresh token.
        let future = unix_now() + 3600;
        for (i, changed) in [
            "protocol=https host=h username=alice password=other".to_owned(),
            format!("protocol=https host=h username=alice password=other password_expiry_utc={future}"),
            format!(
                "protocol=https host=h username=alice password=other password_expiry_utc={future} oauth_refresh_token=r"
            ),
        ]
        .iter()
        .enumerate()
        {
            store.store(&cred(changed)).unwrap();
            assert_eq!(sets(), 2 + i, "{changed}");
        }
        // So is one that is kept but not the host's most recent: it becomes the most recent,
        // which a `get` without a username answers with.
        let bob = "protocol=https host=h username=bob password=pb";
        store.store(&cred(bob)).unwrap();
        let last = format!(
            "protocol=https host=h username=alice password=other password_expiry_utc={future} oauth_refresh_token=r"
        );
        store.store(&cred(&last)).unwrap();
        assert_eq!(sets(), 6);
        assert_eq!(get(&store, "protocol=https host=h"), pair("alice", "other"));
    }

    #[test]
    fn each_host_is_a_file_of_its_own_and_a_change_writes_only_its_host() {
        let f = fixture();
        for host in ["one", "two", "three"] {
            f.store.store(&cred(&format!("protocol=https host={host} username=u password=p-{host}"))).unwrap();
        }
        f.store.store(&cred("protocol=http host=one username=u password=plain")).unwrap();
        let files: Vec<String> =
            std::fs::read_dir(&f.store.dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert_eq!(files.len(), 4, "{files:?}");
        let print = |host: &str| crate::fs::fingerprint(&f.host_path("https", host)).unwrap().unwrap();
        let (one, three) = (print("one"), print("three"));

        f.store.store(&cred("protocol=https host=two username=u password=changed")).unwrap();
        f.store.erase(&cred("protocol=https host=two username=v")).unwrap();
        assert_eq!((print("one"), print("three")), (one, three), "the other hosts' files were not written");
        f.store.erase(&cred("protocol=https host=two")).unwrap();
        assert!(!f.host_path("https", "two").exists(), "a host without credentials has no file");
        assert_eq!(get(&f.store, "protocol=https host=one"), pair("u", "p-one"));
        assert_eq!(get(&f.store, "protocol=http host=one"), pair("u", "plain"));
        assert_eq!(f.store.list().unwrap().len(), 3);
    }

    #[test]
    fn a_credentials_file_of_the_old_format_is_migrated_and_nothing_is_lost() {
        let f = fixture();
        // As version 1 wrote it: two hosts, two users of one (the most recent first), a path,
        // an expiry, an authtype credential; secrets in the secret store under the same keys.
        let future = unix_now() + 3600;
        let entry = |host: &str, user: &str, extra: &str| {
            format!(
                r#"{{"protocol":"https","host":"{host}","username":"{user}"{extra},"has_password":true,"has_credential":false,"has_refresh_token":false,"backend":"memory","stored_at":1700000000}}"#
            )
        };
        let legacy = format!(
            r#"{{"version":1,"credentials":[{},{},{},{}]}}"#,
            entry("a.example", "bob", ""),
            entry("b.example", "carol", &format!(r#","path":"org/repo","password_expiry_utc":{future}"#)),
            entry("a.example", "alice", ""),
            r#"{"protocol":"https","host":"c.example","authtype":"Bearer","has_password":false,"has_credential":true,"has_refresh_token":false,"backend":"memory","stored_at":1700000000}"#,
        );
        std::fs::write(&f.store.legacy_path, &legacy).unwrap();
        for (key, fields) in [
            ("git:https://bob@a.example/", r#"{"password":"pb"}"#),
            ("git:https://alice@a.example/", r#"{"password":"pa"}"#),
            ("git:https://carol@b.example/org/repo", r#"{"password":"pc"}"#),
            ("git:https://c.example/", r#"{"credential":"tok"}"#),
        ] {
            f.secrets.set(key, &Secret::new(fields)).unwrap();
        }
        let old_list = {
            let file: LegacyFile = serde_json::from_str(&legacy).unwrap();
            let mut all = file.credentials;
            all.sort_by(|a, b| (&a.host, &a.username).cmp(&(&b.host, &b.username)));
            all
        };

        assert_eq!(get(&f.store, "protocol=https host=a.example"), pair("bob", "pb"), "the most recent first");
        assert_eq!(get(&f.store, "protocol=https host=a.example username=alice"), pair("alice", "pa"));
        let carol = f.store.get(&cred("protocol=https host=b.example path=org/repo")).unwrap().unwrap();
        assert_eq!((carol.password.unwrap().expose(), carol.password_expiry_utc), ("pc", Some(future)));
        let token = f.store.get(&cred("capability[]=authtype protocol=https host=c.example")).unwrap().unwrap();
        assert_eq!(token.credential.unwrap().expose(), "tok");
        assert_eq!(f.store.list().unwrap(), old_list, "every entry, as it was");
        let stub = std::fs::read_to_string(&f.store.legacy_path).unwrap();
        assert_eq!(stub, r#"{"version":2,"credentials":[]}"#, "version 1 refuses it");

        // A migration cut short: the hosts written already are newer than the old file.
        let g = fixture();
        std::fs::write(&g.store.legacy_path, &legacy).unwrap();
        g.secrets.set("git:https://bob@a.example/", &Secret::new(r#"{"password":"pb"}"#)).unwrap();
        g.secrets.set("git:https://dave@a.example/", &Secret::new(r#"{"password":"pd"}"#)).unwrap();
        std::fs::create_dir_all(&g.store.dir).unwrap();
        let newer = format!(
            r#"{{"version":2,"protocol":"https","host":"a.example","credentials":[{}]}}"#,
            entry("a.example", "dave", "")
        );
        std::fs::write(g.host_path("https", "a.example"), newer).unwrap();
        assert_eq!(get(&g.store, "protocol=https host=a.example"), pair("dave", "pd"));
        assert_eq!(get(&g.store, "protocol=https host=a.example username=bob"), None);
        assert_eq!(g.store.list().unwrap().len(), 3, "b.example and c.example migrated, a.example as it was");
    }

    #[test]
    fn the_async_threads_answers_never_wait_for_the_cache() {
        let f = fixture();
        let kept = "protocol=https host=a.example username=u password=p";
        f.store.store(&cred(kept)).unwrap();
        // Held, as by a blocking thread waiting on the keyring: "cannot tell", at once.
        let held = f.store.cache();
        assert!(f.store.get_cached(&cred("protocol=https host=a.example")).is_none());
        assert!(!f.store.kept_already_cached(&cred(kept)));
        drop(held);
        let answer = f.store.get_cached(&cred("protocol=https host=a.example")).unwrap().unwrap().unwrap();
        assert_eq!(answer.password.unwrap().expose(), "p");
        assert!(f.store.kept_already_cached(&cred(kept)));
    }

    #[test]
    fn the_hosts_kept_in_memory_are_bounded() {
        let f = fixture();
        for i in 0..MAX_CACHED_HOSTS + 20 {
            f.store.store(&cred(&format!("protocol=https host=h{i} username=u password=p{i}"))).unwrap();
            assert_eq!(get(&f.store, &format!("protocol=https host=h{i}")), pair("u", &format!("p{i}")));
        }
        assert_eq!(f.store.cache().hosts.len(), MAX_CACHED_HOSTS);
        // The ones let go are read again when asked for.
        assert_eq!(get(&f.store, "protocol=https host=h0"), pair("u", "p0"));
        assert!(f.store.cache().hosts.contains_key(&("https".to_owned(), "h0".to_owned())));
    }

    #[test]
    fn what_is_answered_without_the_secret_store_is_never_stale() {
        let f = fixture();
        let other = CredentialStore::with_stores(f.dir.path(), vec![f.secrets.clone()], false);
        let request = cred("protocol=https host=h");
        let cached = |store: &CredentialStore| {
            store.get_cached(&request).map(|a| a.unwrap().map(|c| c.password.unwrap().expose().to_owned()))
        };
        assert_eq!(cached(&f.store), None, "a credentials.json to migrate is looked for first");
        assert_eq!(get(&f.store, "protocol=https host=h"), None);
        assert_eq!(cached(&f.store), Some(None), "nothing stored: nothing to read");
        other.store(&cred("protocol=https host=h username=u password=one")).unwrap();
        assert_eq!(cached(&f.store), None, "a secret not read yet is read on a blocking thread");
        assert_eq!(get(&f.store, "protocol=https host=h"), pair("u", "one"));
        assert_eq!(cached(&f.store), Some(Some("one".into())));
        // Changed by another process: its file changed, so the secret is read again.
        other.store(&cred("protocol=https host=h username=u password=two")).unwrap();
        assert_eq!(cached(&f.store), None);
        assert_eq!(get(&f.store, "protocol=https host=h"), pair("u", "two"));
        other.erase(&cred("protocol=https host=h")).unwrap();
        assert_eq!(cached(&f.store), Some(None));
    }

    #[test]
    fn what_is_kept_already_is_told_without_the_secret_store_only_when_it_is() {
        let f = fixture();
        let other = CredentialStore::with_stores(f.dir.path(), vec![f.secrets.clone()], false);
        let kept = cred("protocol=https host=h username=u password=one");
        other.store(&kept).unwrap();
        assert!(!f.store.kept_already_cached(&kept), "nothing read yet: the store must look");
        assert_eq!(get(&f.store, "protocol=https host=h"), pair("u", "one"));
        assert!(f.store.kept_already_cached(&kept), "git's store after the get it was answered");
        for changed in [
            "protocol=https host=h username=u password=two",
            "protocol=https host=h username=v password=one",
            "protocol=https host=h username=u password=one oauth_refresh_token=r",
            "protocol=https host=h path=p username=u password=one",
            "protocol=https host=h username=u password=one ephemeral=1",
        ] {
            assert!(!f.store.kept_already_cached(&cred(changed)), "{changed}");
        }
        // Changed by another process since: the file tells.
        other.store(&cred("protocol=https host=h username=u password=two")).unwrap();
        assert!(!f.store.kept_already_cached(&kept));
    }
}
