//! Settings: where state and the daemon's socket live, which secret store to use, deadlines.
//!
//! Everything here comes from the environment, because the helper reads it on every git
//! operation and must not spawn `git config` to do so. The README's configuration table lists
//! every variable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

/// The directory name used under the platform's data, cache and runtime directories.
pub const APP: &str = "git-credential-azdo";

pub const ENV_RUNTIME_DIR: &str = "GIT_CREDENTIAL_AZDO_RUNTIME_DIR";
pub const ENV_STATE_DIR: &str = "GIT_CREDENTIAL_AZDO_STATE_DIR";
pub const ENV_STORE: &str = "GIT_CREDENTIAL_AZDO_STORE";
pub const ENV_IDLE_TIMEOUT: &str = "GIT_CREDENTIAL_AZDO_IDLE_TIMEOUT";
pub const ENV_TIMEOUT: &str = "GIT_CREDENTIAL_AZDO_TIMEOUT";
pub const ENV_NO_DAEMON: &str = "GIT_CREDENTIAL_AZDO_NO_DAEMON";

/// The daemon exits after this long without a request, unless configured otherwise.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// How long the helper waits for the daemon's answer before doing the work itself.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest Unix socket path the platforms accept (macOS's limit; Linux allows 108).
const MAX_SOCKET_PATH: usize = 103;

/// Where secrets are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreChoice {
    /// The OS keyring when one is reachable, else the owner-only file.
    Auto,
    /// The OS keyring only: fail rather than write secrets to a file.
    Keyring,
    /// The owner-only file only.
    File,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Owner-only directory for the socket and lock files.
    pub runtime_dir: PathBuf,
    /// Owner-only directory for stored credentials' metadata and the secrets file.
    pub state_dir: PathBuf,
    pub store: StoreChoice,
    /// `None`: the daemon never exits for idleness.
    pub idle_timeout: Option<Duration>,
    /// The helper's deadline for one exchange with the daemon.
    pub timeout: Duration,
    /// Whether the helper uses (and starts) the daemon at all.
    pub use_daemon: bool,
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let dirs = directories::ProjectDirs::from("", "", APP);
        let home_dirs = || dirs.as_ref().context("cannot find the home directory; set HOME");

        let state_dir = match env_path(ENV_STATE_DIR) {
            Some(dir) => dir,
            None => home_dirs()?.data_local_dir().to_owned(),
        };
        let runtime_dir = match env_path(ENV_RUNTIME_DIR) {
            Some(dir) => dir,
            None => default_runtime_dir(dirs.as_ref())?,
        };
        let store = match std::env::var(ENV_STORE).as_deref() {
            Err(_) | Ok("" | "auto") => StoreChoice::Auto,
            Ok("keyring") => StoreChoice::Keyring,
            Ok("file") => StoreChoice::File,
            Ok(other) => bail!("{ENV_STORE}={other} is not one of auto, keyring, file"),
        };
        let idle_timeout = match env_seconds(ENV_IDLE_TIMEOUT)? {
            None => Some(DEFAULT_IDLE_TIMEOUT),
            Some(Duration::ZERO) => None,
            Some(idle) => Some(idle),
        };
        let timeout = env_seconds(ENV_TIMEOUT)?.unwrap_or(DEFAULT_TIMEOUT);
        let use_daemon = !std::env::var(ENV_NO_DAEMON).is_ok_and(|v| !v.is_empty() && v != "0");
        Ok(Self { runtime_dir, state_dir, store, idle_timeout, timeout, use_daemon })
    }

    /// The daemon's socket (a file on Unix; on Windows the lock files live in `runtime_dir`
    /// and the socket is a named pipe, see [`crate::ipc::socket_name`]).
    pub fn socket_path(&self) -> PathBuf {
        self.runtime_dir.join("daemon.sock")
    }

    /// Held by the running daemon for its whole life; it also records the daemon's pid.
    pub fn daemon_lock_path(&self) -> PathBuf {
        self.runtime_dir.join("daemon.lock")
    }

    /// Held by the one helper that starts the daemon, so racing helpers start one.
    pub fn autostart_lock_path(&self) -> PathBuf {
        self.runtime_dir.join("autostart.lock")
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// Seconds, possibly fractional (`0.5`).
fn env_seconds(name: &str) -> anyhow::Result<Option<Duration>> {
    let Ok(text) = std::env::var(name) else { return Ok(None) };
    let seconds: f64 = text.trim().parse().with_context(|| format!("{name}={text} is not a number of seconds"))?;
    Duration::try_from_secs_f64(seconds).map(Some).with_context(|| format!("{name}={text} is not a number of seconds"))
}

/// `$XDG_RUNTIME_DIR/git-credential-azdo` where there is one (a Linux desktop or SSH login),
/// else a `run` directory under the user's cache directory (containers, CI, macOS, Windows),
/// else, when that path would be too long for a socket, one in the temporary directory.
fn default_runtime_dir(dirs: Option<&directories::ProjectDirs>) -> anyhow::Result<PathBuf> {
    let dirs = dirs.context("cannot find the home directory; set HOME")?;
    let preferred = match dirs.runtime_dir() {
        Some(dir) => dir.to_owned(),
        None => dirs.cache_dir().join("run"),
    };
    if fits_a_socket(&preferred) {
        return Ok(preferred);
    }
    Ok(std::env::temp_dir().join(format!("{APP}-{}", user_tag())))
}

fn fits_a_socket(dir: &Path) -> bool {
    dir.join("daemon.sock").as_os_str().len() <= MAX_SOCKET_PATH
}

/// Something that tells this user's runtime directory apart from another user's.
fn user_tag() -> String {
    #[cfg(unix)]
    {
        rustix::process::geteuid().as_raw().to_string()
    }
    #[cfg(not(unix))]
    {
        std::env::var("USERNAME").unwrap_or_else(|_| "user".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_runtime_dirs_do_not_fit_a_socket() {
        assert!(fits_a_socket(Path::new("/run/user/1000/git-credential-azdo")));
        assert!(!fits_a_socket(&Path::new("/home").join("x".repeat(100))));
    }
}
