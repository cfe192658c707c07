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

pub use credentials::{CREDENTIALS_DIR, CredentialStore, MAX_CACHED_HOSTS, StoredSummary};
pub use file::{FileStore, SECRETS_DIR};
pub use keyring::{KeyringStore, SERVICE as KEYRING_SERVICE};
pub use memory::MemoryStore;
pub use vault::{FileReason, Vault};

pub use file::LOCK_WAIT;
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
    /// A state file's lock was not released in time (see [`file::LOCK_WAIT`]): its holder is
    /// stuck. Nothing was changed.
    #[error("{path} is held by another process{} for more than {} s; if it is stuck, end it",
        .holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default(), .waited.as_secs_f32())]
    Locked { path: std::path::PathBuf, waited: std::time::Duration, holder: Option<u32> },
    /// A state file could not be understood and could not be set aside (or is of a newer
    /// format, which a newer version of this program may still need): left as it is.
    #[error("{path} is corrupt ({reason}); move it aside to start afresh")]
    Corrupt { path: std::path::PathBuf, reason: String },
    /// A state file did not parse: it was renamed to `aside`, for the user to inspect or
    /// repair, and the next request starts from a new one.
    #[error("{path} was corrupt ({reason}); it is kept as {aside}, and a new one is started")]
    SetAside { path: std::path::PathBuf, aside: std::path::PathBuf, reason: String },
}

/// Reads the JSON state file `path`: its default when there is none yet, set aside when it
/// does not parse (see [`set_aside`]), refused when `version` tells of a newer format than
/// `supported`. Its bytes are zeroed after (the secrets files hold secrets).
pub(crate) fn read_state<T: serde::de::DeserializeOwned + Default>(
    path: &std::path::Path,
    supported: u32,
    version: impl FnOnce(&T) -> u32,
) -> Result<T, StoreError> {
    Ok(read_state_file(path, supported, version)?.unwrap_or_default())
}

/// [`read_state`], `None` when there is no such file.
pub(crate) fn read_state_file<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    supported: u32,
    version: impl FnOnce(&T) -> u32,
) -> Result<Option<T>, StoreError> {
    let bytes = match read_regular(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => return Err(set_aside_unread(path, e.to_string())),
        Err(source) => return Err(StoreError::Io { action: "read", path: path.to_owned(), source }),
    };
    let state: T =
        serde_json::from_slice(&bytes).map_err(|e| set_aside(path, &bytes, crate::secret::describe_json_error(&e)))?;
    let found = version(&state);
    if found > supported {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            reason: format!("format version {found} is newer than this program understands"),
        });
    }
    Ok(Some(state))
}

/// The name of the file that keeps `key` among many in one directory: a digest, so that any
/// key (a host, a user, a path, as git sent them) makes a short, safe file name. The file says
/// what it holds, so that a name is never trusted alone. A secret's key names its file in
/// `secrets/`; `{protocol}\0{host}` names a host's in `credentials/`.
pub fn file_name_for(key: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(key.as_bytes());
    let mut name = String::with_capacity(37);
    for byte in &digest[..16] {
        let _ = std::fmt::Write::write_fmt(&mut name, format_args!("{byte:02x}"));
    }
    name.push_str(".json");
    name
}

/// Whether `name` is one of [`file_name_for`]'s.
pub(crate) fn is_keyed_file_name(name: &str) -> bool {
    name.strip_suffix(".json").is_some_and(|stem| stem.len() == 32 && stem.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The largest state file read: thousands of credentials and accounts fit many times over.
const MAX_STATE: u64 = 64 << 20;

/// The bytes of the state file `path`, which must be a regular file of at most [`MAX_STATE`]
/// bytes (else an `InvalidData` error saying what it is): a FIFO or a device in its place
/// (`/dev/zero`) would make the read wait, or never end. A symbolic link is not followed: every
/// write replaces the file, link and all, so what a link names was never ours to read. Zeroed
/// when dropped.
fn read_regular(path: &std::path::Path) -> std::io::Result<zeroize::Zeroizing<Vec<u8>>> {
    use std::io::Read as _;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    // Opening a FIFO for reading waits for a writer, unless it does not block.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        (rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOFOLLOW).bits().cast_signed(),
    );
    let file = match options.open(path) {
        Ok(file) => file,
        Err(_) if std::fs::symlink_metadata(path).is_ok_and(|meta| meta.file_type().is_symlink()) => {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "it is a symbolic link"));
        }
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "it is not a regular file"));
    }
    if meta.len() > MAX_STATE {
        let message = format!("it is {} bytes long, over the limit of {MAX_STATE}", meta.len());
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, message));
    }
    let mut bytes = zeroize::Zeroizing::new(Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0)));
    // It may grow meanwhile: no further than the limit.
    file.take(MAX_STATE).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Sets aside the state file `path`, which cannot be read as one (see [`read_regular`]), without
/// reading it again; as [`set_aside`] otherwise.
fn set_aside_unread(path: &std::path::Path, reason: String) -> StoreError {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let aside = path.with_file_name(format!("{name}.corrupt-{}", unix_now()));
    if aside.exists() {
        return StoreError::Corrupt { path: path.to_owned(), reason };
    }
    match std::fs::rename(path, &aside) {
        Ok(()) => {
            tracing::warn!(path = %path.display(), aside = %aside.display(), "set a state file aside");
            StoreError::SetAside { path: path.to_owned(), aside, reason }
        }
        Err(e) => {
            StoreError::Corrupt { path: path.to_owned(), reason: format!("{reason}; setting it aside failed: {e}") }
        }
    }
}

/// Sets aside the state file `path`, whose content `corrupt` did not parse, so that the next
/// read starts afresh; nothing in it is lost. The file is renamed only if it still holds what
/// was read: every writer reads the file before replacing it, so a file that changed was set
/// aside and started afresh by another process already.
fn set_aside(path: &std::path::Path, corrupt: &[u8], reason: String) -> StoreError {
    let still_corrupt = std::fs::read(path).map(zeroize::Zeroizing::new).is_ok_and(|now| *now == corrupt);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stamp = unix_now();
    let aside = (0..100)
        .map(|n| {
            path.with_file_name(if n == 0 {
                format!("{name}.corrupt-{stamp}")
            } else {
                format!("{name}.corrupt-{stamp}-{n}")
            })
        })
        .find(|candidate| !candidate.exists());
    match aside {
        Some(aside) if still_corrupt => match std::fs::rename(path, &aside) {
            Ok(()) => {
                // It may hold secrets (secrets.json): owner-only, whoever last wrote it.
                #[cfg(unix)]
                let _ = std::fs::set_permissions(&aside, std::os::unix::fs::PermissionsExt::from_mode(0o600));
                tracing::warn!(path = %path.display(), aside = %aside.display(), "set a corrupt file aside");
                StoreError::SetAside { path: path.to_owned(), aside, reason }
            }
            Err(e) => {
                StoreError::Corrupt { path: path.to_owned(), reason: format!("{reason}; setting it aside failed: {e}") }
            }
        },
        _ => StoreError::Corrupt { path: path.to_owned(), reason },
    }
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
