//! Settings: where state and the daemon's socket live, which secret store to use, deadlines,
//! and where Entra ID and Azure DevOps are.
//!
//! [`Config::from_env`] reads the environment only, because the helper reads it on every git
//! operation and must not spawn `git config` to do so. The daemon, `login` and the in-process
//! fallback also read the `azdo.*` git config keys ([`Config::with_git_config`]); an
//! environment variable wins over a git config key. The README's configuration table lists
//! every setting.

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
pub const ENV_SOCKET: &str = "GIT_CREDENTIAL_AZDO_SOCKET";
/// The Azure SDK convention for another cloud's (or a test server's) Entra authority.
pub const ENV_AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
pub const ENV_CLIENT_ID: &str = "GIT_CREDENTIAL_AZDO_CLIENT_ID";
pub const ENV_TENANT: &str = "GIT_CREDENTIAL_AZDO_TENANT";
pub const ENV_DEVOPS_URL: &str = "GIT_CREDENTIAL_AZDO_DEVOPS_URL";
pub const ENV_VSSPS_URL: &str = "GIT_CREDENTIAL_AZDO_VSSPS_URL";
pub const ENV_BROWSER: &str = "GIT_CREDENTIAL_AZDO_BROWSER";

/// Entra ID's public cloud.
pub const DEFAULT_AUTHORITY_HOST: &str = "https://login.microsoftonline.com";
/// Visual Studio's public client id, as Git Credential Manager uses it (redirect
/// `http://localhost`). Borrowing a first-party id is unofficial, hence configurable.
pub const DEFAULT_CLIENT_ID: &str = "872cd9fa-d31f-45e0-9eab-6e460a02d1f1";
pub const DEFAULT_DEVOPS_URL: &str = "https://dev.azure.com";

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
    /// A daemon's socket given explicitly: typically the host's, forwarded into an SSH session,
    /// WSL or a container. The helper then never starts a daemon of its own.
    pub socket: Option<PathBuf>,
    pub entra: EntraSettings,
    /// Azure DevOps Services, `https://dev.azure.com` unless a test points it at a fake.
    pub devops_url: url::Url,
    /// Azure DevOps' identity service, where PATs are managed, when set explicitly; else
    /// [`Config::vssps_url`] derives it from `devops_url`.
    pub vssps_url: Option<url::Url>,
    /// A program to open sign-in pages with, instead of the system's browser.
    pub browser: Option<String>,
    /// git's `azdo.*` keys, when [`Config::with_git_config`] read them.
    pub git: GitConfig,
}

/// Where and as which application we sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntraSettings {
    /// `https://login.microsoftonline.com` or another cloud's authority host.
    pub authority_host: url::Url,
    pub client_id: String,
    /// A tenant to sign in to; `None` discovers it from the organization.
    pub tenant: Option<String>,
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
        let mut config = Self {
            runtime_dir,
            state_dir,
            store,
            idle_timeout,
            timeout,
            use_daemon,
            socket: env_path(ENV_SOCKET),
            entra: EntraSettings {
                authority_host: url::Url::parse(DEFAULT_AUTHORITY_HOST)?,
                client_id: DEFAULT_CLIENT_ID.to_owned(),
                tenant: None,
            },
            devops_url: url::Url::parse(DEFAULT_DEVOPS_URL)?,
            vssps_url: None,
            browser: None,
            git: GitConfig::default(),
        };
        config.apply(&|key| env_string(key.env), false)?;
        Ok(config)
    }

    /// Fills the settings that the environment left unset from git's `azdo.*` keys (global and
    /// system configuration, and the repository's when run inside one), keeps the keys for the
    /// settings read per request ([`crate::choice`]), and gives git's `http.*` settings to
    /// [`crate::net`] for this process's calls.
    pub fn with_git_config(self) -> anyhow::Result<Self> {
        self.with_git_config_within(GIT_CONFIG_TIMEOUT)
    }

    /// [`Self::with_git_config`], giving `git config` at most `limit` (and never more than its
    /// usual two seconds): a caller with a deadline of its own goes on with the defaults when git
    /// is slow.
    pub fn with_git_config_within(mut self, limit: Duration) -> anyhow::Result<Self> {
        let git = GitConfig::read_within(limit.min(GIT_CONFIG_TIMEOUT)).unwrap_or_default();
        let lookup = |key: &GitSetting| {
            if env_string(key.env).is_some() {
                return None;
            }
            git.values.iter().rev().find(|(name, _)| name.eq_ignore_ascii_case(key.git)).map(|(_, value)| value.clone())
        };
        self.apply(&lookup, true)?;
        self.git = git;
        // The calls made on git's behalf follow git's own proxy and certificate settings.
        crate::net::init(&self);
        Ok(self)
    }

    fn apply(&mut self, lookup: &dyn Fn(&GitSetting) -> Option<String>, from_git: bool) -> anyhow::Result<()> {
        let origin = |key: &GitSetting| if from_git { key.git } else { key.env };
        if let Some(host) = lookup(&AUTHORITY_HOST) {
            self.entra.authority_host = parse_endpoint(origin(&AUTHORITY_HOST), &host)?;
        }
        if let Some(url) = lookup(&DEVOPS_URL) {
            self.devops_url = parse_endpoint(origin(&DEVOPS_URL), &url)?;
        }
        if let Some(url) = lookup(&VSSPS_URL) {
            self.vssps_url = Some(parse_endpoint(origin(&VSSPS_URL), &url)?);
        }
        if let Some(client_id) = lookup(&CLIENT_ID) {
            self.entra.client_id = client_id;
        }
        if let Some(tenant) = lookup(&TENANT) {
            let name = crate::azdo::tenant_name(&tenant)
                .with_context(|| format!("{}={tenant} is not a tenant id or domain", origin(&TENANT)))?;
            self.entra.tenant = Some(name);
        }
        if let Some(browser) = lookup(&BROWSER) {
            self.browser = Some(browser);
        }
        Ok(())
    }

    /// Where PATs are managed (the PAT lifecycle API): the setting when there is one, else
    /// `vssps.` before the Azure DevOps host (`https://vssps.dev.azure.com`), or the Azure DevOps
    /// URL itself when its host is an IP address (a test's fake on loopback). Entra tokens go
    /// there as to the Azure DevOps URL: it is the same service's, on the same terms.
    pub fn vssps_url(&self) -> url::Url {
        self.vssps_url.clone().unwrap_or_else(|| vssps_for(&self.devops_url))
    }

    /// The daemon's socket (a file on Unix; on Windows the lock files live in `runtime_dir`
    /// and the socket is a named pipe, see [`crate::ipc::socket_name`]).
    pub fn socket_path(&self) -> PathBuf {
        self.socket.clone().unwrap_or_else(|| self.runtime_dir.join("daemon.sock"))
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

impl Config {
    /// What to check when `url` (Entra ID's, or Azure DevOps') could not be reached, as one
    /// clause for the end of an error line: the network, the proxy the call went through (as
    /// git would take it: git's `http.<url>.proxy`, else the environment; [`crate::net`]), and
    /// the endpoint's setting when it is not the public cloud's.
    pub fn unreachable_advice(&self, url: &url::Url) -> String {
        let origin = url.origin().ascii_serialization();
        let environment = if url.scheme() == "http" { "http_proxy" } else { "HTTPS_PROXY" };
        let proxy = match crate::net::proxy_for(url) {
            Some(proxy) => format!(
                "{} is used (git's http.proxy, else {environment} or ALL_PROXY, as git takes them)",
                crate::secret::redact_url(&proxy)
            ),
            None => match env_string("NO_PROXY").or_else(|| env_string("no_proxy")) {
                Some(list) => format!("none is used (NO_PROXY={list}, or no git http.proxy, {environment}, ALL_PROXY)"),
                None => format!("none is set (git's http.proxy, {environment}, ALL_PROXY)"),
            },
        };
        let endpoint = |setting: &GitSetting, current: &url::Url, default: &str| {
            let is_it = current.origin() == url.origin();
            let is_default = url::Url::parse(default).is_ok_and(|d| d.origin() == current.origin());
            (is_it && !is_default)
                .then(|| format!("; and {} (or {}): {origin} is not the usual {default}", setting.env, setting.git))
        };
        let setting = endpoint(&AUTHORITY_HOST, &self.entra.authority_host, DEFAULT_AUTHORITY_HOST)
            .or_else(|| endpoint(&DEVOPS_URL, &self.devops_url, DEFAULT_DEVOPS_URL))
            .unwrap_or_default();
        format!("check the network (can this machine reach {origin}?) and the proxy: {proxy}{setting}")
    }
}

/// `https://vssps.dev.azure.com` for `https://dev.azure.com`; an address stays as it is.
fn vssps_for(devops_url: &url::Url) -> url::Url {
    let mut url = devops_url.clone();
    if let Some(url::Host::Domain(host)) = devops_url.host()
        && url.set_host(Some(&format!("vssps.{host}"))).is_err()
    {
        return devops_url.clone();
    }
    url
}

/// A setting that has both an environment variable and a git config key.
#[derive(Debug)]
struct GitSetting {
    env: &'static str,
    git: &'static str,
}

const AUTHORITY_HOST: GitSetting = GitSetting { env: ENV_AUTHORITY_HOST, git: "azdo.authorityHost" };
const DEVOPS_URL: GitSetting = GitSetting { env: ENV_DEVOPS_URL, git: "azdo.devopsUrl" };
const VSSPS_URL: GitSetting = GitSetting { env: ENV_VSSPS_URL, git: "azdo.vsspsUrl" };
const CLIENT_ID: GitSetting = GitSetting { env: ENV_CLIENT_ID, git: "azdo.clientId" };
const TENANT: GitSetting = GitSetting { env: ENV_TENANT, git: "azdo.tenant" };
const BROWSER: GitSetting = GitSetting { env: ENV_BROWSER, git: "azdo.browser" };

/// How long a `git config` may take: it is local, but must not hang us either.
const GIT_CONFIG_TIMEOUT: Duration = Duration::from_secs(2);

/// The `azdo.*` and `http.*` git config keys as git listed them, and the user's and system's config files
/// as they were when read, so that a long-running daemon can tell when to read them again.
#[derive(Debug, Clone, Default)]
pub struct GitConfig {
    /// In the order git lists them: later ones win.
    pub values: Vec<(String, String)>,
    files: Vec<(PathBuf, Option<crate::fs::Fingerprint>)>,
}

impl GitConfig {
    /// Reads the keys (global and system configuration, and the repository's when run inside
    /// one), giving git two seconds. A git that cannot be run, or takes too long, gives `None`.
    pub fn read() -> Option<Self> {
        Self::read_within(GIT_CONFIG_TIMEOUT)
    }

    /// [`Self::read`], giving git at most `limit`.
    pub fn read_within(limit: Duration) -> Option<Self> {
        // Fingerprints first: a change made while git reads is then seen as one.
        let files = watched_files().into_iter().map(|path| (path.clone(), fingerprint(&path))).collect();
        let args = ["config", "--null", "--get-regexp", r"^(azdo|http)\."];
        let output = match run_git_within(&args, limit) {
            // `--get-regexp` exits 1 when no key matches.
            Ok(output) if output.status.success() || output.status.code() == Some(1) => output.stdout,
            Ok(output) => {
                tracing::warn!(status = %output.status, "going on without git's settings");
                return None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "going on without git's settings");
                return None;
            }
        };
        let output = String::from_utf8_lossy(&output);
        let values = output
            .split('\0')
            .filter_map(|entry| entry.split_once('\n'))
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect();
        Some(Self { values, files })
    }

    /// Whether the config files are as they were when read (always, when none were).
    pub fn is_current(&self) -> bool {
        self.files.iter().all(|(path, seen)| fingerprint(path) == *seen)
    }
}

fn fingerprint(path: &Path) -> Option<crate::fs::Fingerprint> {
    crate::fs::fingerprint(path).ok().flatten()
}

/// The files git reads its global and system configuration from (`include`d files aside).
fn watched_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(global) = env_path("GIT_CONFIG_GLOBAL") {
        files.push(global);
    } else if let Some(home) = directories::BaseDirs::new().map(|d| d.home_dir().to_owned()) {
        let xdg = env_path("XDG_CONFIG_HOME").unwrap_or_else(|| home.join(".config"));
        files.push(xdg.join("git").join("config"));
        files.push(home.join(".gitconfig"));
    }
    if std::env::var_os("GIT_CONFIG_NOSYSTEM").is_none() {
        files.push(env_path("GIT_CONFIG_SYSTEM").unwrap_or_else(|| PathBuf::from("/etc/gitconfig")));
    }
    files
}

/// What `git` prints for `args`, or `None` when it cannot be run or does not finish within
/// two seconds (it is then killed).
pub fn git_output(args: &[&str]) -> Option<String> {
    match run_git(args) {
        Ok(output) => Some(String::from_utf8_lossy(&output.stdout).into_owned()),
        Err(e) => {
            tracing::warn!(?args, error = %e, "going on without git's settings");
            None
        }
    }
}

/// The version of the `git` on PATH (major, minor), if it can be run.
pub fn git_version() -> Option<(u32, u32)> {
    parse_git_version(&git_output(&["--version"])?)
}

/// `git version 2.39.5` (or `2.45.2.windows.1`) -> (2, 39).
fn parse_git_version(text: &str) -> Option<(u32, u32)> {
    let version = text.trim().strip_prefix("git version ")?;
    let mut parts = version.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Runs `git args` to completion within two seconds (killing it after that), with its output.
pub fn run_git(args: &[&str]) -> std::io::Result<std::process::Output> {
    run_git_within(args, GIT_CONFIG_TIMEOUT)
}

/// Runs `git args` to completion within `limit` (killing it after that), with its output.
pub fn run_git_within(args: &[&str], limit: Duration) -> std::io::Result<std::process::Output> {
    use std::io::Read;
    use wait_timeout::ChildExt as _;
    let mut child = std::process::Command::new("git")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    // Read while waiting, so that a large answer cannot fill a pipe and stall git.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let Some(status) = child.wait_timeout(limit)? else {
        let _ = child.kill();
        let _ = child.wait();
        let message = format!("git did not finish within {:.1} s", limit.as_secs_f32());
        return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, message));
    };
    let joined = |reader: std::thread::JoinHandle<Vec<u8>>| reader.join().unwrap_or_default();
    Ok(std::process::Output { status, stdout: joined(stdout), stderr: joined(stderr) })
}

fn env_string(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// An endpoint we send tokens to: https, or plain http on a loopback address (a test's fake).
pub fn parse_endpoint(setting: &str, text: &str) -> anyhow::Result<url::Url> {
    let shown = crate::secret::redact_url(text);
    let url = url::Url::parse(text.trim()).with_context(|| format!("{setting}={shown} is not a URL"))?;
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => {}
        "http" if loopback => {}
        _ => bail!("{setting}={shown} must be an https URL (plain http only on a loopback address)"),
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        bail!("{setting}={shown} must not carry credentials or a query");
    }
    // One form for every use: no trailing slash to double up when paths are appended.
    let mut url = url;
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
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
    let preferred = preferred_runtime_dir(dirs);
    if fits_a_socket(&preferred) {
        return Ok(preferred);
    }
    Ok(temporary_runtime_dir())
}

fn preferred_runtime_dir(dirs: &directories::ProjectDirs) -> PathBuf {
    match dirs.runtime_dir() {
        Some(dir) => dir.to_owned(),
        None => dirs.cache_dir().join("run"),
    }
}

fn temporary_runtime_dir() -> PathBuf {
    std::env::temp_dir().join(format!("{APP}-{}", user_tag()))
}

/// Why `runtime_dir` is the temporary directory's, when it is there by default rather than by
/// choice: the preferred directory's socket path would be too long. Another user could make
/// that directory first (it is then refused, with one line); `status` says this much so that
/// the fallback is never a silent one.
pub fn runtime_dir_fallback(runtime_dir: &Path) -> Option<String> {
    if env_path(ENV_RUNTIME_DIR).is_some() || runtime_dir != temporary_runtime_dir() {
        return None;
    }
    let dirs = directories::ProjectDirs::from("", "", APP)?;
    let preferred = preferred_runtime_dir(&dirs);
    (!fits_a_socket(&preferred)).then(|| {
        format!(
            "in the temporary directory, as {} is too long a path for a socket; set {ENV_RUNTIME_DIR} to a short directory of your own to choose",
            preferred.display()
        )
    })
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
    fn endpoints_are_https_or_loopback_http() {
        assert_eq!(parse_endpoint("x", "https://login.example/").unwrap().as_str(), "https://login.example/");
        assert_eq!(parse_endpoint("x", "http://127.0.0.1:8080/").unwrap().as_str(), "http://127.0.0.1:8080/");
        assert_eq!(parse_endpoint("x", "http://[::1]:80").unwrap().as_str(), "http://[::1]/");
        assert_eq!(parse_endpoint("x", "https://dev.azure.com/base/").unwrap().path(), "/base");
        for bad in ["http://login.example", "ftp://127.0.0.1", "https://u:p@login.example", "https://a/?q=1", "x"] {
            let error = parse_endpoint("AZURE_AUTHORITY_HOST", bad).unwrap_err().to_string();
            assert!(error.starts_with("AZURE_AUTHORITY_HOST="), "{error}");
        }
    }

    #[test]
    fn the_vssps_url_is_derived_from_the_azure_devops_url() {
        let derived = |text: &str| vssps_for(&parse_endpoint("x", text).unwrap()).to_string();
        assert_eq!(derived("https://dev.azure.com"), "https://vssps.dev.azure.com/");
        assert_eq!(derived("https://devops.example:8443/base"), "https://vssps.devops.example:8443/base");
        assert_eq!(derived("http://127.0.0.1:8080"), "http://127.0.0.1:8080/", "an address has no subdomain");
    }

    #[test]
    fn gits_version() {
        assert_eq!(parse_git_version("git version 2.39.5\n"), Some((2, 39)));
        assert_eq!(parse_git_version("git version 2.47.1.windows.2"), Some((2, 47)));
        assert_eq!(parse_git_version("hub version 2.14"), None);
    }

    #[test]
    fn long_runtime_dirs_do_not_fit_a_socket() {
        assert!(fits_a_socket(Path::new("/run/user/1000/git-credential-azdo")));
        assert!(!fits_a_socket(&Path::new("/home").join("x".repeat(100))));
    }
}
