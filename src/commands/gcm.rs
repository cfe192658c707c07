//! Git Credential Manager's configuration for Azure DevOps, as `install` finds it, says what it
//! does about it, and imports it.
//!
//! Most people who install this helper used GCM for Azure Repos. What GCM keeps in git's
//! configuration (GCM's `Application.cs` `ConfigureAsync`, `AzureReposHostProvider.cs`,
//! `AzureReposBindingManager.cs`):
//!
//! ```text
//! [credential]
//!     helper =
//!     helper = /usr/local/bin/git-credential-manager   (or manager, manager-core)
//!     azreposCredentialType = oauth                      (absent: PATs, GCM's default)
//! [credential "https://dev.azure.com"]
//!     useHttpPath = true
//! [credential "azrepos:org/Contoso"]                     (global; a repository's own in .git/config)
//!     username = alice@contoso.com                       (in .git/config, "": do not inherit)
//!     azureAuthority = https://login.microsoftonline.com/{tenant}
//! ```
//!
//! git itself ignores the `azrepos:` keys (no remote URL matches them). `install` imports,
//! unless told not to:
//! - an organization binding to an account signed in here: bound here too (`bind`), when the
//!   organization has no binding here yet. GCM's sign-ins live in its own store, out of reach:
//!   for an account not signed in here, the `login --org` command that signs it in and binds
//!   its organizations is printed;
//! - a repository's binding (`install` run inside it): git's own `credential.<url>.username`
//!   in that repository, for each remote in the organization, so that git names the account
//!   to this helper as a remote URL's user would; an empty one ("do not inherit") has no
//!   equivalent here and is reported;
//! - `credential[.<url>].azreposCredentialType` `oauth` or `pat`: `azdo.[<url>.]auth`, unless an
//!   `azdo.[<url>.]auth` is set already. No key means GCM made PATs itself with the user's
//!   sign-in; nothing is written then (never `pat`): `auto` signs in with Entra ID, which is
//!   what GCM's PATs came from, and uses a PAT only when one is added.
//!
//! GCM's own settings are left as they are: `install`'s sections put git-credential-azdo ahead
//! of it for Azure DevOps (their empty `helper` resets the helpers configured before), GCM
//! keeps answering for other hosts, and `uninstall` gives the Azure DevOps addresses back.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;

use super::install::{Level, git_config, read};
use crate::accounts::{AccountStore, Accounts};
use crate::azdo::{Remote, Services};
use crate::config::Config;
use crate::git::Credential;
use crate::store::Vault;

/// What GCM configured, as found in git's configuration.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Found {
    /// `credential[.<url>].helper` entries that run GCM, in any of git's configuration files:
    /// key, value, and the file's scope (`system`, `global`, `local`).
    pub helpers: Vec<(String, String, String)>,
    /// GCM's `credential.https://dev.azure.com.useHttpPath`, at that level.
    pub use_http_path: bool,
    /// Organization bindings in the user's global configuration: organization (lower case),
    /// user. Later keys win, as in GCM.
    pub bindings: BTreeMap<String, String>,
    /// The repository's own bindings; an empty user means "do not inherit".
    pub local_bindings: BTreeMap<String, String>,
    /// `credential[.<url>].azreposCredentialType` at the level: the URL (none for the bare
    /// key) and the value.
    pub credential_types: Vec<(Option<String>, String)>,
    /// Bindings whose organization is not a plain name (not imported).
    pub odd: Vec<String>,
}

impl Found {
    pub fn is_empty(&self) -> bool {
        self.helpers.is_empty()
            && !self.use_http_path
            && self.bindings.is_empty()
            && self.local_bindings.is_empty()
            && self.credential_types.is_empty()
    }

    /// Reads what GCM configured at `level` (bindings: the global configuration, and the
    /// repository's when run inside one; none for the system's, which has no user).
    pub fn read(level: Level) -> anyhow::Result<Self> {
        let mut found = Self { helpers: gcm_helpers(), ..Self::default() };
        for (key, value) in read(level)? {
            found.add(&key, &value, Scope::Level(level));
        }
        if level == Level::Global {
            for (key, value) in local_entries() {
                found.add(&key, &value, Scope::Repository);
            }
        }
        Ok(found)
    }

    /// Takes one git config entry (the key as git lists it: section and variable in lower
    /// case, the subsection as written).
    fn add(&mut self, key: &str, value: &str, scope: Scope) {
        let Some(rest) = key.get(..11).filter(|p| p.eq_ignore_ascii_case("credential.")).map(|_| &key[11..]) else {
            return;
        };
        let (url, variable) = match rest.rsplit_once('.') {
            Some((url, variable)) => (Some(url), variable),
            None => (None, rest),
        };
        let variable = variable.to_ascii_lowercase();
        if let Some(organization) = url.and_then(binding_organization) {
            if variable != "username" || scope == Scope::Level(Level::System) {
                return;
            }
            let Some(name) = crate::azdo::organization_name(organization) else {
                self.odd.push(organization.to_owned());
                return;
            };
            let bindings = if scope == Scope::Repository { &mut self.local_bindings } else { &mut self.bindings };
            bindings.insert(name, value.trim().to_owned());
            return;
        }
        if scope == Scope::Repository {
            return;
        }
        match variable.as_str() {
            "usehttppath"
                if url.is_some_and(|u| u.trim_end_matches('/').eq_ignore_ascii_case("https://dev.azure.com")) =>
            {
                self.use_http_path = true;
            }
            "azreposcredentialtype" => self.credential_types.push((url.map(str::to_owned), value.trim().to_owned())),
            _ => {}
        }
    }
}

/// Where an entry was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Level(Level),
    Repository,
}

/// The organization of a GCM binding's subsection, `azrepos:org/{organization}` (GCM: a URI of
/// scheme `azrepos`, any case, whose path starts with `org/`).
fn binding_organization(subsection: &str) -> Option<&str> {
    let (scheme, path) = subsection.split_once(':')?;
    if !scheme.eq_ignore_ascii_case("azrepos") {
        return None;
    }
    path.strip_prefix("org/").filter(|o| !o.is_empty())
}

/// Whether a `credential.helper` value runs Git Credential Manager: `manager`, `manager-core`,
/// or a path to `git-credential-manager[-core][.exe]`.
pub fn is_gcm(value: &str) -> bool {
    let program = super::install::helper_program(value);
    let name = program.rsplit(['/', '\\']).next().unwrap_or_default();
    let name = name.strip_suffix(".exe").unwrap_or(name);
    matches!(name, "manager" | "manager-core" | "git-credential-manager" | "git-credential-manager-core")
}

/// The `credential[.<url>].helper` entries that run GCM, in every file git reads (with the
/// file's scope, as `git config --show-scope` names it).
fn gcm_helpers() -> Vec<(String, String, String)> {
    let Ok(output) = crate::config::run_git(&["config", "--null", "--show-scope", "--list"]) else { return Vec::new() };
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text.split('\0');
    let mut helpers = Vec::new();
    while let (Some(scope), Some(entry)) = (fields.next(), fields.next()) {
        let Some((key, value)) = entry.split_once('\n') else { continue };
        let is_helper = key.get(..11).is_some_and(|p| p.eq_ignore_ascii_case("credential."))
            && key.rsplit_once('.').is_some_and(|(_, v)| v.eq_ignore_ascii_case("helper"));
        if is_helper && is_gcm(value) {
            helpers.push((key.to_owned(), value.to_owned(), scope.to_owned()));
        }
    }
    helpers
}

/// The repository's own configuration, when run inside one.
fn local_entries() -> Vec<(String, String)> {
    let Ok(output) = crate::config::run_git(&["config", "--local", "--null", "--list"]) else { return Vec::new() };
    if !output.status.success() {
        return Vec::new();
    }
    String::from_utf8_lossy(&output.stdout)
        .split('\0')
        .filter_map(|entry| entry.split_once('\n'))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
}

/// What `install` tells about GCM, and the commands that sign in the accounts its bindings
/// named (each binds its organizations).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub lines: Vec<String>,
    pub sign_ins: Vec<String>,
}

/// Says what GCM configured at `level` and what becomes of it; with `import`, imports it.
pub fn take_over(config: &Config, level: Level, import: bool) -> anyhow::Result<Outcome> {
    let found = Found::read(level)?;
    if found.is_empty() {
        return Ok(Outcome::default());
    }
    let mut outcome = Outcome::default();
    let mut lines = Vec::new();
    let helpers: Vec<String> =
        found.helpers.iter().map(|(k, v, scope)| format!("{k} = {v}, in the {scope} git config")).collect();
    if helpers.is_empty() {
        lines.push("Found Git Credential Manager's settings for Azure DevOps; they are left as they are.".to_owned());
    } else {
        lines.push(format!(
            "Found Git Credential Manager ({}): git now asks git-credential-azdo ahead of it for Azure DevOps; it \
             still answers for other hosts, and again for Azure DevOps after uninstall. Its settings are left as they \
             are.",
            helpers.join("; ")
        ));
    }
    if !import {
        if !found.bindings.is_empty() || !found.local_bindings.is_empty() || !found.credential_types.is_empty() {
            lines.push("Its organization bindings and credential type were not imported (--no-import).".to_owned());
        }
        outcome.lines = lines;
        return Ok(outcome);
    }
    let services = Services::new(&config.devops_url);
    let store = if found.bindings.is_empty() && found.local_bindings.is_empty() {
        None
    } else {
        let vault = Vault::open(&config.state_dir, config.store).context("failed to open the secret store")?;
        Some(AccountStore::new(&config.state_dir, Arc::new(vault)))
    };
    if let Some(store) = store.as_ref().filter(|_| !found.bindings.is_empty()) {
        let plan = plan_bindings(&found.bindings, &*store.load()?);
        for (organization, account) in &plan.bind {
            store.bind(organization, account)?;
            lines.push(format!("  {organization}: bound to {account}, as in Git Credential Manager"));
        }
        for (organization, (ours, theirs)) in &plan.kept {
            lines.push(format!(
                "  {organization}: kept bound to {ours} here (Git Credential Manager bound it to {theirs})"
            ));
        }
        for (user, organizations) in &plan.sign_in {
            let orgs: Vec<String> = organizations.iter().map(|o| format!("--org {o}")).collect();
            lines.push(format!(
                "  {}: {user}, who must sign in here (Git Credential Manager's sign-ins cannot be carried over)",
                organizations.join(", ")
            ));
            outcome.sign_ins.push(format!("git-credential-azdo login {}   (as {user})", orgs.join(" ")));
        }
    }
    for odd in &found.odd {
        lines.push(format!("  {odd}: not an organization name; its binding is not imported"));
    }
    if let Some(store) = store.as_ref().filter(|_| !found.local_bindings.is_empty()) {
        lines.extend(import_local(&services, &found.local_bindings)?);
        let accounts = store.load()?;
        let mut users: Vec<String> = found
            .local_bindings
            .values()
            .filter(|user| !user.is_empty() && accounts.find(user).is_none())
            .map(|user| user.to_ascii_lowercase())
            .collect();
        users.sort();
        users.dedup();
        for user in users {
            if !outcome.sign_ins.iter().any(|c| c.contains(&format!("(as {user})"))) {
                outcome.sign_ins.push(format!("git-credential-azdo login   (as {user}, for this repository)"));
            }
        }
    }
    // GCM's default type is worth a word only to someone who used it for Azure Repos.
    let used_for_azure_repos = !found.bindings.is_empty() || !found.local_bindings.is_empty();
    lines.extend(import_credential_types(level, &found.credential_types, used_for_azure_repos)?);
    if lines.len() > 1 {
        lines.insert(1, "From Git Credential Manager's settings:".to_owned());
    }
    outcome.lines = lines;
    Ok(outcome)
}

/// What becomes of GCM's organization bindings.
#[derive(Debug, Default, PartialEq, Eq)]
struct BindingPlan {
    /// Organization -> the signed-in account (its username as kept here) to bind it to.
    bind: Vec<(String, String)>,
    /// Organization -> (the account bound here, GCM's user), when they differ.
    kept: BTreeMap<String, (String, String)>,
    /// GCM's user not signed in here -> their organizations.
    sign_in: BTreeMap<String, Vec<String>>,
}

/// Binds what can be bound: an organization with no binding here, to a signed-in account of
/// GCM's user name (compared ignoring case, as GCM does). A binding here is the user's
/// choice: kept. A user not signed in here gets a sign-in command.
fn plan_bindings(bindings: &BTreeMap<String, String>, accounts: &Accounts) -> BindingPlan {
    let mut plan = BindingPlan::default();
    for (organization, user) in bindings {
        if user.is_empty() {
            continue;
        }
        if let Some(ours) = accounts.accounts.iter().find(|a| a.organizations.contains(organization)) {
            if !ours.username.eq_ignore_ascii_case(user) {
                plan.kept.insert(organization.clone(), (ours.username.clone(), user.clone()));
            }
            continue;
        }
        match accounts.find(user) {
            Some(account) => plan.bind.push((organization.clone(), account.username.clone())),
            None => plan.sign_in.entry(user.to_ascii_lowercase()).or_default().push(organization.clone()),
        }
    }
    plan
}

/// The repository's own bindings, as git's `credential.<url>.username` for each of its
/// remotes in the organization (git sends it to the helper, which then answers with that
/// account, as for a user named in a remote URL). A key already set is left as it is.
fn import_local(services: &Services, bindings: &BTreeMap<String, String>) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    let remotes = local_entries()
        .into_iter()
        .filter(|(key, _)| {
            // git lists the section and the variable in lower case.
            key.starts_with("remote.") && matches!(key.rsplit_once('.'), Some((_, "url" | "pushurl")))
        })
        .map(|(_, url)| url)
        .collect::<Vec<_>>();
    for (organization, user) in bindings {
        if user.is_empty() {
            lines.push(format!(
                "  {organization}, in this repository: Git Credential Manager's \"do not inherit\" (an empty binding) \
                 has no equivalent here: the organization's binding applies; to choose another account here, set \
                 git's credential.<remote URL>.username"
            ));
            continue;
        }
        let keys: Vec<String> = remotes.iter().filter_map(|url| username_key(services, url, organization)).collect();
        if keys.is_empty() {
            lines.push(format!(
                "  {organization}, in this repository: no remote is in {organization}; its binding to {user} is not \
                 imported"
            ));
            continue;
        }
        let mut written = Vec::new();
        for key in dedup(keys) {
            let current = crate::config::git_output(&["config", "--local", "--get", &key]).unwrap_or_default();
            if !current.trim().is_empty() {
                continue;
            }
            let output = crate::config::run_git(&["config", "--local", &key, user])
                .with_context(|| format!("failed to set {key}"))?;
            if !output.status.success() {
                anyhow::bail!("git config --local {key} failed: {}", String::from_utf8_lossy(&output.stderr).trim());
            }
            written.push(key);
        }
        if !written.is_empty() {
            lines.push(format!(
                "  {organization}, in this repository: {user} ({} = {user}, git's own key, in .git/config)",
                written.join(", ")
            ));
        }
    }
    Ok(lines)
}

fn dedup(mut keys: Vec<String>) -> Vec<String> {
    keys.sort();
    keys.dedup();
    keys
}

/// `credential.<url>.username` for a remote `url` in `organization`: the URL up to the
/// organization as the remote writes it (`https://dev.azure.com/Contoso`: git compares paths
/// case-sensitively), or the `{organization}.visualstudio.com` host. `None` for a remote
/// elsewhere, or one whose URL names a user already (git gives that user precedence).
fn username_key(services: &Services, remote: &str, organization: &str) -> Option<String> {
    let url = url::Url::parse(remote.trim()).ok()?;
    if !url.username().is_empty() {
        return None;
    }
    let host = url.host_str()?;
    let request = Credential {
        protocol: Some(url.scheme().to_owned()),
        host: Some(url.port().map_or_else(|| host.to_owned(), |port| format!("{host}:{port}"))),
        path: Some(url.path().trim_start_matches('/').to_owned()),
        ..Credential::default()
    };
    let Remote::Services { organization: found, .. } = services.classify(&request) else { return None };
    if found != organization {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    let first = url.path_segments()?.find(|s| !s.is_empty())?;
    let on_origin = services.classify(&Credential { path: None, ..request.clone() });
    Some(if on_origin == Remote::ServicesWithoutOrganization {
        format!("credential.{origin}/{first}.username")
    } else {
        format!("credential.{origin}.username")
    })
}

/// `credential[.<url>].azreposCredentialType` as `azdo.[<url>.]auth`, where that is not set.
fn import_credential_types(
    level: Level,
    types: &[(Option<String>, String)],
    say_default: bool,
) -> anyhow::Result<Vec<String>> {
    let flag = level.flag();
    let mut lines = Vec::new();
    if say_default && !types.iter().any(|(url, _)| url.is_none()) {
        lines.push(
            "  credential type: Git Credential Manager made PATs with your sign-in (its default); git-credential-azdo \
             signs in with Entra ID instead and needs no PAT (azdo.auth stays auto: a PAT is used when you add one)"
                .to_owned(),
        );
    }
    let ours = read(level)?;
    // The last value of each key is the one git (and GCM) uses.
    let mut last: BTreeMap<Option<String>, &str> = BTreeMap::new();
    for (url, value) in types {
        last.insert(url.clone(), value);
    }
    for (url, value) in last {
        let key = match &url {
            Some(url) => format!("azdo.{url}.auth"),
            None => "azdo.auth".to_owned(),
        };
        let gcm_key = match &url {
            Some(url) => format!("credential.{url}.azreposCredentialType"),
            None => "credential.azreposCredentialType".to_owned(),
        };
        let choice = match value.to_ascii_lowercase().as_str() {
            "oauth" => "oauth",
            "pat" => "pat",
            _ => {
                lines.push(format!(
                    "  {gcm_key} = {value}: not a type Git Credential Manager knows (it used PATs); not imported"
                ));
                continue;
            }
        };
        if let Some((_, mine)) = ours.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(&key)) {
            lines.push(format!("  {gcm_key} = {value}: {key} is set to {mine} already, and kept"));
            continue;
        }
        git_config(level, &[&key, choice])?;
        let what = if choice == "oauth" {
            format!("only Entra ID tokens answer; to also use a PAT you add: git config {flag} {key} auto")
        } else {
            format!(
                "only PATs answer, and none is kept yet: add one with git-credential-azdo pat create --org ORG --scope \
                 code:write --keep (after login) or login --pat --org ORG; to sign in instead: git config {flag} {key} \
                 auto"
            )
        };
        lines.push(format!("  {gcm_key} = {value}: {key} = {choice} ({what})"));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(entries: &[(&str, &str)], local: &[(&str, &str)]) -> Found {
        let mut found = Found::default();
        for (k, v) in entries {
            found.add(k, v, Scope::Level(Level::Global));
        }
        for (k, v) in local {
            found.add(k, v, Scope::Repository);
        }
        found
    }

    #[test]
    fn gcm_helpers_are_recognised_by_name_or_path() {
        for gcm in [
            "manager",
            "manager-core",
            "/usr/local/bin/git-credential-manager",
            "/usr/local/share/gcm-core/git-credential-manager-core",
            r"C:/Program\ Files/Git/mingw64/bin/git-credential-manager.exe",
            "/opt/gcm/git-credential-manager --no-ui",
        ] {
            assert!(is_gcm(gcm), "{gcm}");
        }
        for other in
            ["", "cache", "store", "osxkeychain", "/usr/bin/git-credential-azdo", "/x/git-credential-manager-x"]
        {
            assert!(!is_gcm(other), "{other}");
        }
    }

    #[test]
    fn bindings_types_and_helpers_are_read_as_git_lists_them() {
        let f = found(
            &[
                ("credential.helper", ""),
                ("credential.azreposcredentialtype", "OAuth"),
                ("credential.https://dev.azure.com.usehttppath", "true"),
                ("credential.azrepos:org/Contoso.username", "alice@contoso.com"),
                ("credential.azrepos:org/Contoso.azureauthority", "https://login.microsoftonline.com/t"),
                ("credential.AZREPOS:org/fabrikam.username", "bob@fabrikam.com"),
                ("credential.azrepos:org/contoso.username", "carol@contoso.com"),
                ("credential.azrepos:ORG/x.username", "not GCM's: its prefix is case-sensitive"),
                ("credential.azrepos:org/a b.username", "odd"),
                ("credential.https://dev.azure.com/x.azreposcredentialtype", "pat"),
            ],
            &[("credential.azrepos:org/Contoso.username", ""), ("credential.helper", "manager")],
        );
        assert!(f.use_http_path);
        let bindings: Vec<(&str, &str)> = f.bindings.iter().map(|(o, u)| (o.as_str(), u.as_str())).collect();
        assert_eq!(bindings, [("contoso", "carol@contoso.com"), ("fabrikam", "bob@fabrikam.com")], "the later wins");
        assert_eq!(f.local_bindings.get("contoso").map(String::as_str), Some(""), "do not inherit");
        assert_eq!(f.odd, ["a b"]);
        assert_eq!(
            f.credential_types,
            [(None, "OAuth".to_owned()), (Some("https://dev.azure.com/x".to_owned()), "pat".to_owned())]
        );
        assert!(found(&[("credential.helper", "cache"), ("user.name", "A")], &[]).is_empty());
    }

    #[test]
    fn bindings_go_to_signed_in_accounts_and_never_replace_ours() {
        let account = |username: &str, organizations: &[&str]| crate::accounts::Account {
            id: format!("{username}.t"),
            username: username.to_owned(),
            name: None,
            tenant_id: "t".into(),
            authority_host: "https://login.example".into(),
            client_id: "c".into(),
            organizations: organizations.iter().map(|o| (*o).to_owned()).collect(),
            backend: crate::store::Backend::File,
            signed_in_at: 0,
            needs_sign_in: None,
        };
        let mut accounts = Accounts::default();
        accounts.accounts = vec![account("Alice@Contoso.com", &["kept"]), account("dave@contoso.com", &["same"])];
        let bindings: BTreeMap<String, String> = [
            ("contoso", "alice@contoso.com"),
            ("kept", "bob@fabrikam.com"),
            ("same", "DAVE@contoso.com"),
            ("fabrikam", "bob@fabrikam.com"),
            ("tailspin", "Bob@Fabrikam.com"),
            ("none", ""),
        ]
        .iter()
        .map(|(o, u)| ((*o).to_owned(), (*u).to_owned()))
        .collect();
        let plan = plan_bindings(&bindings, &accounts);
        assert_eq!(plan.bind, [("contoso".to_owned(), "Alice@Contoso.com".to_owned())]);
        assert_eq!(
            plan.kept.get("kept"),
            Some(&("Alice@Contoso.com".to_owned(), "bob@fabrikam.com".to_owned())),
            "a binding here is the user's choice"
        );
        assert!(!plan.kept.contains_key("same"), "already bound alike");
        let sign_in: Vec<(&str, Vec<&str>)> =
            plan.sign_in.iter().map(|(u, o)| (u.as_str(), o.iter().map(String::as_str).collect())).collect();
        assert_eq!(sign_in, [("bob@fabrikam.com", vec!["fabrikam", "tailspin"])]);
    }

    #[test]
    fn a_repositorys_binding_names_its_remotes_as_they_are_written() {
        let services = Services::default();
        let key = |remote: &str| username_key(&services, remote, "contoso");
        assert_eq!(
            key("https://dev.azure.com/Contoso/proj/_git/repo").as_deref(),
            Some("credential.https://dev.azure.com/Contoso.username")
        );
        assert_eq!(
            key("https://contoso.visualstudio.com/DefaultCollection/proj/_git/repo").as_deref(),
            Some("credential.https://contoso.visualstudio.com.username")
        );
        assert_eq!(key("https://dev.azure.com/fabrikam/proj/_git/repo"), None, "another organization");
        assert_eq!(key("https://alice@dev.azure.com/contoso/proj/_git/repo"), None, "a user named already");
        assert_eq!(key("git@ssh.dev.azure.com:v3/contoso/proj/repo"), None);
        let fake = Services::new(&url::Url::parse("http://127.0.0.1:8080").unwrap());
        assert_eq!(
            username_key(&fake, "http://127.0.0.1:8080/contoso/proj/_git/repo", "contoso").as_deref(),
            Some("credential.http://127.0.0.1:8080/contoso.username")
        );
    }
}
