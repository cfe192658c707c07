//! Credentials that git asked us to keep (`git credential approve`, the `store` action), with the
//! semantics of git's own credential-store and credential-cache helpers.
//!
//! The metadata (which protocol, host, path and user; which backend; when it expires) is one JSON
//! file, `credentials.json`, replaced atomically under a lock file. The secrets themselves
//! (password, OAuth refresh token, `authtype` credential) are one item per credential in a
//! [`SecretStore`]. The daemon keeps both in memory and notices, by the file's identity, when an
//! in-process helper changed the file behind its back.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use super::{Backend, SecretStore, StoreError, Vault, unix_now};
use crate::config::StoreChoice;
use crate::git::{Capabilities, Credential};
use crate::secret::Secret;

const FORMAT_VERSION: u32 = 1;

/// The credentials we keep for git, for every host.
#[derive(Debug)]
pub struct CredentialStore {
    metadata_path: PathBuf,
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

#[derive(Default, Serialize, Deserialize)]
struct MetadataFile {
    version: u32,
    credentials: Vec<StoredSummary>,
}

/// The secret half of a stored credential, kept as one item.
#[derive(Default, Serialize, Deserialize)]
struct SecretFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    oauth_refresh_token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credential: Option<Secret>,
}

/// What the cache was built from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Loaded {
    /// Nothing yet, or the file may differ from the cache (after a failed write).
    #[default]
    Unknown,
    /// No metadata file existed.
    NoFile,
    File(crate::fs::Fingerprint),
}

/// Entries grouped by (protocol, host), each group most recently stored first.
type Index = HashMap<(String, String), Vec<StoredSummary>>;

#[derive(Debug, Default)]
struct Cache {
    /// The metadata file this index was read from.
    loaded: Loaded,
    index: Index,
    secrets: HashMap<String, Arc<SecretFields>>,
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
            metadata_path: state_dir.join("credentials.json"),
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
        let now = unix_now();
        let mut cache = self.cache();
        self.refresh(&mut cache)?;
        let caps = request.capabilities;
        let candidates: Vec<StoredSummary> = group(&cache.index, request)
            .iter()
            .filter(|e| matches(e, request) && !expired(e, now) && usable(e, caps))
            .cloned()
            .collect();
        for entry in candidates {
            match self.secrets(&mut cache, &entry) {
                Ok(secrets) => return Ok(Some(answer(&entry, &secrets, caps))),
                // One unreadable item (a keyring locked since) must not hide the others.
                Err(e) => tracing::warn!(error = %e, host = %entry.host, "skipping a stored credential"),
            }
        }
        Ok(None)
    }

    /// Keeps what git approved. Ephemeral, incomplete and already expired credentials are not
    /// kept; `authtype` credentials only when git announced the capability.
    pub fn store(&self, request: &Credential) -> Result<(), StoreError> {
        let now = unix_now();
        let with_authtype = request.capabilities.authtype && request.authtype.is_some() && request.credential.is_some();
        let with_password = request.username.is_some() && request.password.is_some();
        if !request.has_protocol_and_host() || request.ephemeral || !(with_authtype || with_password) {
            return Ok(());
        }
        if request.password_expiry_utc.is_some_and(|t| t <= now) {
            return Ok(());
        }
        let secrets = SecretFields {
            password: request.password.clone().filter(|_| with_password),
            oauth_refresh_token: request.oauth_refresh_token.clone(),
            credential: request.credential.clone().filter(|_| with_authtype),
        };
        let mut entry = StoredSummary {
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

        let _lock = super::file::lock_exclusive(&self.lock_path)?;
        let mut cache = self.cache();
        self.refresh(&mut cache)?;
        let key = secret_key(&entry);
        let blob = encode(&secrets)?;
        entry.backend = self.vault.put(&key, &blob)?;

        let group = cache.index.entry((entry.protocol.clone(), entry.host.clone())).or_default();
        let mut dropped: Vec<StoredSummary> = Vec::new();
        group.retain(|old| {
            let keep = !same_identity(old, &entry) && !expired(old, now);
            if !keep {
                dropped.push(old.clone());
            }
            keep
        });
        group.insert(0, entry.clone());
        for old in &dropped {
            cache.secrets.remove(&secret_key(old));
            if old.backend != entry.backend || !same_identity(old, &entry) {
                self.forget_secret(old);
            }
        }
        cache.secrets.insert(key, Arc::new(secrets));
        self.save(&mut cache)
    }

    /// Removes what git rejected: every match of `request`'s protocol, host, and its path and
    /// username when given; when a password (or `credential`) is given, only entries holding
    /// exactly that one, so a stale password never erases a newer one.
    pub fn erase(&self, request: &Credential) -> Result<(), StoreError> {
        if !request.has_protocol_and_host() {
            return Ok(());
        }
        let _lock = super::file::lock_exclusive(&self.lock_path)?;
        let mut cache = self.cache();
        self.refresh(&mut cache)?;
        let candidates: Vec<StoredSummary> =
            group(&cache.index, request).iter().filter(|e| matches(e, request)).cloned().collect();
        let mut erased = Vec::new();
        for entry in candidates {
            if request.password.is_some() || request.credential.is_some() {
                let secrets = match self.secrets(&mut cache, &entry) {
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
        let key = (request.protocol.clone().unwrap_or_default(), request.host.clone().unwrap_or_default());
        if let Some(group) = cache.index.get_mut(&key) {
            group.retain(|e| !erased.contains(e));
        }
        for entry in &erased {
            cache.secrets.remove(&secret_key(entry));
            self.forget_secret(entry);
        }
        self.save(&mut cache)
    }

    /// Everything stored, without secrets, ordered by protocol, host, path and user.
    pub fn list(&self) -> Result<Vec<StoredSummary>, StoreError> {
        let mut cache = self.cache();
        self.refresh(&mut cache)?;
        let mut all: Vec<StoredSummary> = cache.index.values().flatten().cloned().collect();
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

    /// Re-reads the metadata file when it is not the one the cache was built from.
    fn refresh(&self, cache: &mut Cache) -> Result<(), StoreError> {
        let current = fingerprint(&self.metadata_path)?;
        if cache.loaded == current {
            return Ok(());
        }
        let file: MetadataFile = super::read_state(&self.metadata_path, FORMAT_VERSION, |f: &MetadataFile| f.version)?;
        let mut index = Index::new();
        for entry in file.credentials {
            index.entry((entry.protocol.clone(), entry.host.clone())).or_default().push(entry);
        }
        cache.index = index;
        cache.secrets.clear();
        cache.loaded = current;
        Ok(())
    }

    fn save(&self, cache: &mut Cache) -> Result<(), StoreError> {
        cache.index.retain(|_, group| !group.is_empty());
        let file =
            MetadataFile { version: FORMAT_VERSION, credentials: cache.index.values().flatten().cloned().collect() };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| StoreError::Failed {
            backend: Backend::File,
            action: "encode metadata",
            reason: e.to_string(),
        })?;
        let written = crate::fs::write_atomic(&self.metadata_path, &json).map_err(|source| StoreError::Io {
            action: "write",
            path: self.metadata_path.clone(),
            source,
        });
        if let Err(e) = written {
            // Our in-memory view is ahead of the file: re-read it next time.
            cache.loaded = Loaded::Unknown;
            return Err(e);
        }
        cache.loaded = fingerprint(&self.metadata_path)?;
        Ok(())
    }

    fn secrets(&self, cache: &mut Cache, entry: &StoredSummary) -> Result<Arc<SecretFields>, StoreError> {
        let key = secret_key(entry);
        if let Some(found) = cache.secrets.get(&key) {
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
        cache.secrets.insert(key, fields.clone());
        Ok(fields)
    }

    fn forget_secret(&self, entry: &StoredSummary) {
        self.vault.forget(entry.backend, &secret_key(entry));
    }
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

fn group<'a>(index: &'a Index, request: &Credential) -> &'a [StoredSummary] {
    let key = (request.protocol.clone().unwrap_or_default(), request.host.clone().unwrap_or_default());
    index.get(&key).map_or(&[], Vec::as_slice)
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
        let meta = std::fs::read_to_string(&f.store.metadata_path).unwrap();
        std::fs::write(&f.store.metadata_path, meta.replace(&future.to_string(), &past.to_string())).unwrap();
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
        let meta = std::fs::read_to_string(&f.store.metadata_path).unwrap();
        assert!(!meta.contains("s3cret"), "{meta}");
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
    fn a_corrupt_metadata_file_is_reported_once_and_kept_aside_and_the_next_store_starts_afresh() {
        let f = fixture();
        std::fs::write(&f.store.metadata_path, b"not json").unwrap();
        let credential = cred("protocol=https host=h username=u password=p");
        let err = f.store.store(&credential).unwrap_err();
        let StoreError::SetAside { aside, .. } = &err else { panic!("{err}") };
        assert!(err.to_string().contains("credentials.json was corrupt"), "{err}");
        assert_eq!(std::fs::read(aside).unwrap(), b"not json", "kept as it was");
        assert!(aside.file_name().unwrap().to_string_lossy().starts_with("credentials.json.corrupt-"));

        f.store.store(&credential).unwrap();
        assert_eq!(f.store.list().unwrap().len(), 1);
        assert_eq!(std::fs::read(aside).unwrap(), b"not json", "the new file is another one");
    }

    #[test]
    fn a_file_of_a_newer_format_is_an_error_and_is_left_in_place() {
        let f = fixture();
        let newer = br#"{"version":999,"credentials":[]}"#;
        std::fs::write(&f.store.metadata_path, newer).unwrap();
        let err = f.store.store(&cred("protocol=https host=h username=u password=p")).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
        assert_eq!(std::fs::read(&f.store.metadata_path).unwrap(), newer);
    }
}
