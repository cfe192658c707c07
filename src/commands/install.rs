//! `git-credential-azdo install | uninstall`: git's credential configuration for Azure DevOps.
//!
//! Our keys live in sections of our own, named by the address with a trailing slash
//! (`[credential "https://dev.azure.com/"]`). git matches such a section exactly as it matches
//! `https://dev.azure.com`, and `uninstall` can remove it without touching any section the user
//! (or another tool) wrote. Each holds:
//!
//! ```text
//! [credential "https://dev.azure.com/"]
//!     helper =
//!     helper = /usr/local/bin/git-credential-azdo
//!     useHttpPath = true
//! ```
//!
//! The empty `helper` makes git forget the helpers configured before it for these addresses, so
//! that none of them answers a stale token ahead of ours; every other address keeps them. The
//! absolute path makes git run us directly, not through `git credential-azdo` (one process
//! fewer per git command). `useHttpPath` makes git send the path, which names the organization
//! on dev.azure.com or the collection on an Azure DevOps Server.

use std::io::Write as _;

use anyhow::{Context, bail};

use crate::azdo::Services;
use crate::config::Config;

/// Which git configuration file to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The user's (`~/.gitconfig`, or `$XDG_CONFIG_HOME/git/config`).
    Global,
    /// The machine's (`/etc/gitconfig`, or Git for Windows' own): needs an administrator.
    System,
}

impl Level {
    pub(super) fn flag(self) -> &'static str {
        match self {
            Self::Global => "--global",
            Self::System => "--system",
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::System => "system",
        }
    }
}

/// An address git should ask us about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// `https://dev.azure.com`, `https://*.visualstudio.com`, `https://tfs.example.com:8080`.
    pub url: String,
    /// Whether git must send the path (it names the organization or collection).
    pub http_path: bool,
}

impl Site {
    /// Our section: the address with a trailing slash.
    fn section(&self) -> String {
        format!("credential.{}/", self.url.trim_end_matches('/'))
    }
}

/// Azure DevOps Services' addresses: `dev.azure.com` (with the path, which names the
/// organization) and `*.visualstudio.com`.
pub fn services_sites(services: &Services) -> Vec<Site> {
    vec![
        Site { url: services.origin(), http_path: true },
        Site { url: services.visualstudio_pattern(), http_path: false },
    ]
}

/// `install`: our sections at `level`, then what Git Credential Manager configured and what
/// becomes of it ([`super::gcm`]; imported unless `import` is false).
pub fn install(config: &Config, level: Level, servers: &[String], import: bool) -> anyhow::Result<()> {
    let mut sites = services_sites(&Services::new(&config.devops_url));
    for server in servers {
        sites.push(Site { url: server_origin(server)?, http_path: true });
    }
    let helper = this_helper()?;
    let changed = configure(config, level, &sites, &helper)?;
    let mut out = std::io::stdout().lock();
    let addresses = sites.iter().map(|s| s.url.as_str()).collect::<Vec<_>>().join(", ");
    if changed {
        writeln!(out, "git now asks {helper} for {addresses} (in the {} git config).", level.name())?;
    } else {
        writeln!(out, "Already installed: git asks {helper} for {addresses} (in the {} git config).", level.name())?;
    }
    let gcm = super::gcm::take_over(config, level, import)?;
    for line in &gcm.lines {
        writeln!(out, "{line}")?;
    }
    if gcm.sign_ins.is_empty() {
        writeln!(out, "Next, sign in: git-credential-azdo login --org ORGANIZATION (or --pat, or --device)")?;
    } else {
        writeln!(out, "Next, sign in (each binds its organizations):")?;
        for command in &gcm.sign_ins {
            writeln!(out, "  {command}")?;
        }
    }
    Ok(())
}

pub fn uninstall(config: &Config, level: Level) -> anyhow::Result<()> {
    let file = file_of(level);
    let removed = remove(level)?;
    let mut out = std::io::stdout().lock();
    if removed.is_empty() {
        writeln!(out, "Nothing to remove: the {} git config has no section of ours.", level.name())?;
    } else {
        let addresses = removed.join(", ");
        writeln!(out, "git no longer asks git-credential-azdo for {addresses} (in the {} git config).", level.name())?;
        if let Some(file) = file
            && remove_if_created_and_empty(config, level, &file)
        {
            writeln!(out, "Removed {}: install created it, and it is empty now.", file.display())?;
        }
        writeln!(out, "Accounts and PATs are kept; remove them with: git-credential-azdo logout --all")?;
    }
    Ok(())
}

/// Writes `sites`' sections at `level` so that `helper` answers for them; returns whether
/// anything changed. Running it again changes nothing. A configuration file that this creates
/// is recorded (`install.json`), for `uninstall` to remove when it leaves it empty.
pub fn configure(config: &Config, level: Level, sites: &[Site], helper: &str) -> anyhow::Result<bool> {
    let (existed, current) = read_file(level)?;
    let changed = write_sites(level, &current, sites, helper)?;
    if changed && !existed {
        if let Some(file) = file_of(level) {
            Created::remember(config, &file);
        } else {
            tracing::warn!(level = level.name(), "cannot tell which git config file was created");
        }
    }
    Ok(changed)
}

fn write_sites(level: Level, current: &[(String, String)], sites: &[Site], helper: &str) -> anyhow::Result<bool> {
    let mut changed = false;
    for site in sites {
        let section = site.section();
        let helper_key = format!("{section}.helper");
        let path_key = format!("{section}.usehttppath");
        let helpers: Vec<&str> = values(current, &helper_key).collect();
        if helpers != ["", helper] {
            git_config(level, &["--unset-all", &helper_key]).or_else(nothing_to_unset)?;
            git_config(level, &["--add", &helper_key, ""])?;
            git_config(level, &["--add", &helper_key, helper])?;
            changed = true;
        }
        let http_path: Vec<&str> = values(current, &path_key).collect();
        if site.http_path && http_path != ["true"] {
            git_config(level, &["--replace-all", &path_key, "true"])?;
            changed = true;
        }
    }
    Ok(changed)
}

/// Removes every section of ours at `level` (one whose helper is this program, named by any
/// path); returns the addresses they were for.
pub fn remove(level: Level) -> anyhow::Result<Vec<String>> {
    const OUR_KEYS: [&str; 2] = ["helper", "usehttppath"];
    let current = read(level)?;
    let mut removed: Vec<&str> = Vec::new();
    for (key, value) in &current {
        let Some(section) = key.strip_suffix(".helper").filter(|s| s.starts_with("credential.") && s.ends_with('/'))
        else {
            continue;
        };
        if !is_ours(value) || removed.contains(&section) {
            continue;
        }
        for key in OUR_KEYS {
            git_config(level, &["--unset-all", &format!("{section}.{key}")]).or_else(nothing_to_unset)?;
        }
        // The section goes too, unless the user put keys of their own in it.
        let keeps_others = current.iter().any(|(k, _)| {
            k.strip_prefix(section)
                .and_then(|rest| rest.strip_prefix('.'))
                .is_some_and(|name| !OUR_KEYS.iter().any(|ours| name.eq_ignore_ascii_case(ours)))
        });
        if !keeps_others {
            git_config(level, &["--remove-section", section]).or_else(nothing_to_unset)?;
        }
        removed.push(section);
    }
    Ok(removed.iter().map(|s| s.trim_start_matches("credential.").trim_end_matches('/').to_owned()).collect())
}

/// Adds an Azure DevOps Server's address to the global configuration, for `login --pat --url`.
/// Returns whether anything changed.
pub fn configure_server(config: &Config, origin: &str) -> anyhow::Result<bool> {
    configure(config, Level::Global, &[Site { url: origin.to_owned(), http_path: true }], &this_helper()?)
}

/// The git configuration files `install` created: they did not exist before it wrote to them.
/// `uninstall` removes such a file when it leaves it empty, rather than leave an empty
/// `~/.gitconfig` behind where there was none; a file that existed before, or that holds
/// anything else by then, is kept. `install.json` in the state directory: git's file has no
/// room for a marker that git would not show as a setting, and an empty file left by
/// `uninstall` cannot say whether it was there before.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Created {
    #[serde(default)]
    version: u32,
    #[serde(default)]
    files: Vec<std::path::PathBuf>,
}

impl Created {
    const VERSION: u32 = 1;

    fn path(config: &Config) -> std::path::PathBuf {
        config.state_dir.join("install.json")
    }

    fn load(config: &Config) -> anyhow::Result<Self> {
        Ok(crate::store::read_state(&Self::path(config), Self::VERSION, |c: &Self| c.version)?)
    }

    fn save(&self, config: &Config) -> anyhow::Result<()> {
        crate::fs::ensure_private_dir(&config.state_dir)?;
        let json = serde_json::to_vec_pretty(&Self { version: Self::VERSION, files: self.files.clone() })?;
        crate::fs::write_atomic(&Self::path(config), &json)?;
        Ok(())
    }

    /// Records that `file` was created. A failure costs only the removal of an empty file
    /// later: a warning, not an error.
    fn remember(config: &Config, file: &std::path::Path) {
        let result = Self::load(config).and_then(|mut created| {
            if created.files.iter().any(|f| f == file) {
                return Ok(());
            }
            created.files.push(file.to_owned());
            created.save(config)
        });
        if let Err(e) = result {
            tracing::warn!(file = %file.display(), error = %format!("{e:#}"), "cannot record that install created it");
        }
    }

    /// Forgets `file`; whether it was recorded.
    fn forget(config: &Config, file: &std::path::Path) -> bool {
        let Ok(mut created) = Self::load(config) else { return false };
        let before = created.files.len();
        created.files.retain(|f| f != file);
        if created.files.len() == before {
            return false;
        }
        if let Err(e) = created.save(config) {
            tracing::warn!(error = %format!("{e:#}"), "cannot update install.json");
        }
        true
    }
}

/// Removes `file`, the `level` configuration, when `install` created it and it is empty now
/// (nothing but blank lines: no setting, no comment); whether it did. A symbolic link is
/// never removed.
fn remove_if_created_and_empty(config: &Config, level: Level, file: &std::path::Path) -> bool {
    if !Created::forget(config, file) {
        return false;
    }
    let empty = matches!(read_file(level), Ok((true, entries)) if entries.is_empty())
        && std::fs::symlink_metadata(file).is_ok_and(|m| m.file_type().is_file())
        && std::fs::read(file).is_ok_and(|bytes| bytes.iter().all(u8::is_ascii_whitespace));
    empty && std::fs::remove_file(file).is_ok()
}

/// The file git reads and writes for `level`, as git names it (`--show-origin`); `None` when it
/// has no entries to tell by.
fn file_of(level: Level) -> Option<std::path::PathBuf> {
    let output = crate::config::run_git(&["config", level.flag(), "--show-origin", "--null", "--list"]).ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let origin = text.split('\0').next()?.strip_prefix("file:")?;
    (!origin.is_empty()).then(|| std::path::PathBuf::from(origin))
}

/// This program, as a helper line.
fn this_helper() -> anyhow::Result<String> {
    helper_value(&std::env::current_exe().context("cannot tell where this program is")?)
}

/// The scheme, host and port of a server URL the user gave.
fn server_origin(text: &str) -> anyhow::Result<String> {
    let shown = crate::secret::redact_url(text);
    let url = url::Url::parse(text.trim()).with_context(|| format!("{shown} is not a URL"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        bail!("{shown} is not an http(s) server address");
    }
    Ok(url.origin().ascii_serialization())
}

/// Every key and value in the `level` file, in order. Keys come as git prints them: section
/// and name in lower case, the subsection (the URL) as written.
pub(super) fn read(level: Level) -> anyhow::Result<Vec<(String, String)>> {
    read_file(level).map(|(_, entries)| entries)
}

/// [`read`], and whether the file exists (one that does not is empty).
fn read_file(level: Level) -> anyhow::Result<(bool, Vec<(String, String)>)> {
    let output =
        crate::config::run_git(&["config", level.flag(), "--null", "--list"]).context("failed to run git config")?;
    if !output.status.success() {
        let reason = first_line(&output.stderr);
        if reason.contains("No such file or directory") {
            return Ok((false, Vec::new()));
        }
        bail!("git config {} --list failed: {reason}", level.flag());
    }
    let entries = String::from_utf8_lossy(&output.stdout)
        .split('\0')
        .filter_map(|entry| entry.split_once('\n'))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    Ok((true, entries))
}

fn values<'a>(entries: &'a [(String, String)], key: &'a str) -> impl Iterator<Item = &'a str> {
    entries.iter().filter(move |(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
}

/// `git config` exits 5 when there was nothing to unset.
fn nothing_to_unset(error: GitConfigError) -> Result<(), GitConfigError> {
    if error.code == Some(5) || error.message.contains("no such section") { Ok(()) } else { Err(error) }
}

#[derive(Debug, thiserror::Error)]
#[error("git config failed: {message}")]
pub(super) struct GitConfigError {
    code: Option<i32>,
    message: String,
}

pub(super) fn git_config(level: Level, args: &[&str]) -> Result<(), GitConfigError> {
    let mut full = vec!["config", level.flag()];
    full.extend_from_slice(args);
    let output = crate::config::run_git(&full).map_err(|e| GitConfigError { code: None, message: e.to_string() })?;
    if output.status.success() {
        return Ok(());
    }
    let mut message = first_line(&output.stderr);
    if level == Level::System && message.contains("Permission denied") {
        message.push_str(" (the system git config needs an administrator: sudo, or an elevated prompt)");
    }
    Err(GitConfigError { code: output.status.code(), message })
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).lines().next().unwrap_or("no reason given").trim().to_owned()
}

/// The helper as git's configuration names it: the absolute path, with every character the
/// shell would act on escaped by a backslash (git runs an absolute-path helper through
/// `sh -c "{helper} get"`). Windows paths are written with forward slashes, as Git for Windows
/// reads them.
pub fn helper_value(exe: &std::path::Path) -> anyhow::Result<String> {
    let text = exe.to_str().with_context(|| format!("{} is not a UTF-8 path", exe.display()))?;
    let text = if cfg!(windows) { text.replace('\\', "/") } else { text.to_owned() };
    if text.chars().any(char::is_control) {
        bail!("{} has a control character; install the program elsewhere", exe.display());
    }
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if !(c.is_alphanumeric() || "/._-:+@%,=~".contains(c)) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    Ok(escaped)
}

/// Whether a `credential.*.helper` value runs this program, wherever it was installed.
pub fn is_ours(value: &str) -> bool {
    let program = helper_program(value);
    let name = program.rsplit('/').next().unwrap_or_default();
    matches!(name, "git-credential-azdo" | "git-credential-azdo.exe" | "azdo")
}

/// The program a `credential.*.helper` value runs: the value up to the first whitespace the
/// shell does not take literally, without the backslashes that escape.
pub(super) fn helper_program(value: &str) -> String {
    let mut program = String::new();
    let mut chars = value.trim_start().chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => program.extend(chars.next()),
            c if c.is_whitespace() => break,
            c => program.push(c),
        }
    }
    program
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helper_is_an_absolute_path_the_shell_reads_back_as_written() {
        let plain = std::path::Path::new("/usr/local/bin/git-credential-azdo");
        assert_eq!(helper_value(plain).unwrap(), "/usr/local/bin/git-credential-azdo");
        let spaced = std::path::Path::new("/home/a b/it's $HOME/git-credential-azdo");
        let value = helper_value(spaced).unwrap();
        assert_eq!(value, r"/home/a\ b/it\'s\ \$HOME/git-credential-azdo");
        // What sh makes of it is the path again.
        let echoed = std::process::Command::new("sh").arg("-c").arg(format!("printf %s {value}")).output().unwrap();
        assert_eq!(String::from_utf8_lossy(&echoed.stdout), spaced.to_str().unwrap());
        assert!(helper_value(std::path::Path::new("/a\nb")).is_err());
    }

    #[test]
    fn our_helper_is_recognised_wherever_it_was_installed() {
        assert!(is_ours("/usr/bin/git-credential-azdo"));
        assert!(is_ours(r"C:/Program\ Files/azdo/git-credential-azdo.exe"));
        assert!(is_ours(r"/home/a\ b/git-credential-azdo --socket /x"));
        assert!(is_ours("azdo"));
        assert!(!is_ours(""));
        assert!(!is_ours("manager"));
        assert!(!is_ours("/usr/bin/git-credential-azdo-not"));
    }

    #[test]
    fn sections_are_the_address_with_a_slash_and_servers_are_origins() {
        let sites = services_sites(&Services::default());
        assert_eq!(sites[0].section(), "credential.https://dev.azure.com/");
        assert!(sites[0].http_path && !sites[1].http_path);
        assert_eq!(sites[1].section(), "credential.https://*.visualstudio.com/");
        assert_eq!(server_origin("https://TFS.example.com:8443/tfs/Default/").unwrap(), "https://tfs.example.com:8443");
        assert!(server_origin("ssh://tfs.example.com").is_err());
    }
}
