//! Entra accounts the user signed in with, the organizations bound to each, the tenant learned
//! for each organization, and the personal access tokens added for organizations and
//! collections ([`Pat`]).
//!
//! The metadata is `accounts.json` in the state directory (no secrets), replaced atomically
//! under `accounts.lock`; each account's refresh token and each PAT is one item in the
//! [`Vault`]. The daemon re-reads the file when `login` (another process) changed it.

mod pats;

pub use pats::{Pat, ServerPat};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::config::EntraSettings;
use crate::entra::Identity;
use crate::secret::Secret;
use crate::store::{Backend, StoreError, Vault};

const FORMAT_VERSION: u32 = 1;

/// One signed-in Entra account. Safe to log and list: no secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// `{oid}.{tid}`.
    pub id: String,
    /// The sign-in name (`alice@contoso.com`).
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub tenant_id: String,
    /// The authority host and client id the account signed in with; its refresh token works
    /// only with them.
    pub authority_host: String,
    pub client_id: String,
    /// Organizations explicitly bound to this account, lower case.
    #[serde(default)]
    pub organizations: Vec<String>,
    /// Where the refresh token is kept.
    pub backend: Backend,
    /// Unix seconds; a later sign-in of the same account always has a larger value.
    pub signed_in_at: u64,
    /// Set when Entra refused the refresh token: why, in one line. Only a new sign-in clears it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub needs_sign_in: Option<String>,
}

impl Account {
    pub fn settings(&self) -> Result<EntraSettings, StoreError> {
        let authority_host = url::Url::parse(&self.authority_host).map_err(|e| StoreError::Failed {
            backend: Backend::File,
            action: "read an account",
            reason: format!("authority host of {}: {e}", self.username),
        })?;
        Ok(EntraSettings { authority_host, client_id: self.client_id.clone(), tenant: Some(self.tenant_id.clone()) })
    }

    fn secret_key(&self) -> String {
        format!("entra:{}", self.id)
    }
}

/// Everything in `accounts.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounts {
    #[serde(default)]
    version: u32,
    #[serde(default)]
    pub accounts: Vec<Account>,
    /// Organization -> tenant, as learned from Azure DevOps.
    #[serde(default)]
    pub tenants: BTreeMap<String, String>,
    /// Personal access tokens, one per organization or collection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pats: Vec<Pat>,
}

impl Accounts {
    pub fn by_id(&self, id: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.id == id)
    }

    /// The account `selector` names: its username (case-insensitive) or its id.
    pub fn find(&self, selector: &str) -> Option<&Account> {
        self.accounts.iter().find(|a| a.username.eq_ignore_ascii_case(selector) || a.id == selector)
    }

    /// The account the user chose for `organization`: the one named by the request's username
    /// (from the remote URL, or git's per-repository `credential.<url>.username`), else the
    /// one the organization is bound to.
    pub fn chosen(&self, organization: &str, user_hint: Option<&str>) -> Option<&Account> {
        user_hint
            .and_then(|hint| self.find(hint))
            .or_else(|| self.accounts.iter().find(|a| a.organizations.iter().any(|o| o == organization)))
    }

    /// Which account answers for `organization`. In order: the [chosen](Self::chosen) one,
    /// the only account, the account of the organization's tenant. `tenant` is asked for only
    /// when it can decide.
    pub fn choose(
        &self,
        organization: &str,
        user_hint: Option<&str>,
        tenant: impl FnOnce() -> Option<String>,
    ) -> Option<&Account> {
        if let Some(account) = self.chosen(organization, user_hint) {
            return Some(account);
        }
        match self.accounts.as_slice() {
            [] => None,
            [only] => Some(only),
            several => {
                let tenant = tenant()?;
                several.iter().find(|a| a.tenant_id == tenant)
            }
        }
    }
}

#[derive(Debug, Default)]
struct Cache {
    /// Whether `accounts` was read at all, and from which version of the file.
    read: bool,
    loaded: Option<crate::fs::Fingerprint>,
    accounts: Arc<Accounts>,
}

/// The accounts file and the refresh tokens and PATs in the vault.
#[derive(Debug)]
pub struct AccountStore {
    path: PathBuf,
    lock_path: PathBuf,
    vault: Arc<Vault>,
    cache: Mutex<Cache>,
    /// PATs read from the vault, so that serving one does not call the keyring each time.
    pat_secrets: pats::SecretCache,
}

impl AccountStore {
    pub fn new(state_dir: &Path, vault: Arc<Vault>) -> Self {
        Self {
            path: state_dir.join("accounts.json"),
            lock_path: state_dir.join("accounts.lock"),
            vault,
            cache: Mutex::new(Cache::default()),
            pat_secrets: pats::SecretCache::default(),
        }
    }

    /// The accounts as the file has them now.
    pub fn load(&self) -> Result<Arc<Accounts>, StoreError> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let current = crate::fs::fingerprint(&self.path).map_err(|source| self.io("read", source))?;
        if !cache.read || cache.loaded != current {
            // Another process changed the file: a PAT may have been replaced within the second.
            self.pat_secrets.clear();
            cache.accounts = Arc::new(self.read()?);
            cache.loaded = current;
            cache.read = true;
        }
        Ok(cache.accounts.clone())
    }

    /// Changes the accounts under the lock, from the file's latest content, and saves them.
    pub fn update<R>(&self, change: impl FnOnce(&mut Accounts) -> R) -> Result<R, StoreError> {
        let _lock = crate::store::lock_exclusive(&self.lock_path)?;
        let mut accounts = self.read()?;
        let result = change(&mut accounts);
        accounts.version = FORMAT_VERSION;
        accounts.accounts.sort_by(|a, b| a.username.cmp(&b.username));
        let json = serde_json::to_vec_pretty(&accounts).map_err(|e| StoreError::Failed {
            backend: Backend::File,
            action: "encode accounts",
            reason: e.to_string(),
        })?;
        crate::fs::write_atomic(&self.path, &json).map_err(|source| self.io("write", source))?;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.loaded = crate::fs::fingerprint(&self.path).map_err(|source| self.io("read", source))?;
        cache.read = true;
        cache.accounts = Arc::new(accounts);
        Ok(result)
    }

    fn read(&self) -> Result<Accounts, StoreError> {
        crate::store::read_state(&self.path, FORMAT_VERSION, |accounts: &Accounts| accounts.version)
    }

    fn io(&self, action: &'static str, source: std::io::Error) -> StoreError {
        StoreError::Io { action, path: self.path.clone(), source }
    }

    /// Keeps a completed sign-in: the refresh token in the vault, the account (new, or
    /// replacing the same one) in the file with `organizations` bound to it and no longer
    /// needing a sign-in. Blocks (the vault may be the keyring).
    pub fn save_sign_in(
        &self,
        identity: &Identity,
        settings: &EntraSettings,
        refresh_token: &Secret,
        organizations: &[String],
    ) -> Result<Account, StoreError> {
        let mut account = Account {
            id: identity.account_id.clone(),
            username: identity.username.clone(),
            name: identity.name.clone(),
            tenant_id: identity.tenant_id.clone(),
            authority_host: settings.authority_host.to_string(),
            client_id: settings.client_id.clone(),
            organizations: Vec::new(),
            backend: self.vault.backend(),
            signed_in_at: crate::store::unix_now(),
            needs_sign_in: None,
        };
        account.backend = self.vault.put(&account.secret_key(), refresh_token)?;
        self.update(|all| {
            if let Some(old) = all.accounts.iter().position(|a| a.id == account.id) {
                let old = all.accounts.remove(old);
                account.organizations = old.organizations;
                // What the daemon kept about the old sign-in (refusals, back-offs) is keyed on
                // this: a sign-in within the same second must still be a new one.
                account.signed_in_at = account.signed_in_at.max(old.signed_in_at.saturating_add(1));
            }
            all.accounts.push(account.clone());
            for organization in organizations {
                bind(all, organization, &account.id);
            }
            all.by_id(&account.id).cloned().unwrap_or(account)
        })
    }

    /// The account's refresh token. Blocks.
    pub fn refresh_token(&self, account: &Account) -> Result<Option<Secret>, StoreError> {
        self.vault.get(account.backend, &account.secret_key())
    }

    /// Replaces the refresh token with the rotated one Entra just issued. Blocks.
    pub fn rotate(&self, account: &Account, refresh_token: &Secret) -> Result<(), StoreError> {
        let backend = self.vault.put(&account.secret_key(), refresh_token)?;
        if backend != account.backend {
            self.vault.forget(account.backend, &account.secret_key());
            self.update(|all| {
                if let Some(a) = all.accounts.iter_mut().find(|a| a.id == account.id) {
                    a.backend = backend;
                }
            })?;
        }
        Ok(())
    }

    /// Removes the account and its refresh token; its organizations are unbound. Returns the
    /// account, or `None` when there was none with that id. Blocks.
    pub fn remove_account(&self, account_id: &str) -> Result<Option<Account>, StoreError> {
        let Some(account) = self.load()?.by_id(account_id).cloned() else { return Ok(None) };
        // The secret first: if it cannot be deleted, the account stays listed, to try again.
        self.vault.delete(account.backend, &account.secret_key())?;
        self.update(|all| all.accounts.retain(|a| a.id != account_id))?;
        Ok(Some(account))
    }

    /// Records that the account's refresh token was refused, and why.
    pub fn mark_needs_sign_in(&self, account_id: &str, reason: &str) -> Result<(), StoreError> {
        self.update(|all| {
            if let Some(a) = all.accounts.iter_mut().find(|a| a.id == account_id) {
                a.needs_sign_in = Some(reason.to_owned());
            }
        })
    }

    /// Binds `organization` to the account `selector` names; `false` when there is none.
    pub fn bind(&self, organization: &str, selector: &str) -> Result<bool, StoreError> {
        self.update(|all| match all.find(selector).map(|a| a.id.clone()) {
            Some(id) => {
                bind(all, organization, &id);
                true
            }
            None => false,
        })
    }

    /// Removes `organization`'s binding; `false` when it had none.
    pub fn unbind(&self, organization: &str) -> Result<bool, StoreError> {
        self.update(|all| {
            let mut found = false;
            for account in &mut all.accounts {
                let before = account.organizations.len();
                account.organizations.retain(|o| o != organization);
                found |= account.organizations.len() != before;
            }
            found
        })
    }

    /// Remembers the tenant Azure DevOps named for `organization`.
    pub fn remember_tenant(&self, organization: &str, tenant: &str) -> Result<(), StoreError> {
        if self.load()?.tenants.get(organization).is_some_and(|t| t == tenant) {
            return Ok(());
        }
        self.update(|all| {
            all.tenants.insert(organization.to_owned(), tenant.to_owned());
        })
    }
}

/// An organization belongs to one account: binding it moves it.
fn bind(all: &mut Accounts, organization: &str, account_id: &str) {
    for account in &mut all.accounts {
        account.organizations.retain(|o| o != organization);
        if account.id == account_id {
            account.organizations.push(organization.to_owned());
            account.organizations.sort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn identity(user: &str, tenant: &str) -> Identity {
        Identity {
            account_id: format!("{user}.{tenant}"),
            tenant_id: tenant.into(),
            username: format!("{user}@example.com"),
            name: None,
        }
    }

    fn settings() -> EntraSettings {
        EntraSettings {
            authority_host: url::Url::parse("https://login.example").unwrap(),
            client_id: "c".into(),
            tenant: None,
        }
    }

    fn store(dir: &Path) -> (AccountStore, Arc<MemoryStore>) {
        let memory = Arc::new(MemoryStore::default());
        let vault = Arc::new(Vault::with_stores(vec![memory.clone()], false));
        (AccountStore::new(dir, vault), memory)
    }

    #[test]
    fn a_sign_in_keeps_the_refresh_token_in_the_vault_and_binds_organizations() {
        let dir = tempfile::tempdir().unwrap();
        let (accounts, _) = store(dir.path());
        let rt = Secret::new("refresh-secret-1");
        let alice = accounts.save_sign_in(&identity("alice", "t1"), &settings(), &rt, &["contoso".into()]).unwrap();
        assert_eq!(alice.organizations, ["contoso"]);
        assert_eq!(accounts.refresh_token(&alice).unwrap(), Some(rt));
        let file = std::fs::read_to_string(dir.path().join("accounts.json")).unwrap();
        assert!(!file.contains("refresh-secret"), "no secret in the metadata");

        accounts.rotate(&alice, &Secret::new("refresh-secret-2")).unwrap();
        assert_eq!(accounts.refresh_token(&alice).unwrap().unwrap().expose(), "refresh-secret-2");

        accounts.mark_needs_sign_in(&alice.id, "invalid_grant").unwrap();
        assert!(accounts.load().unwrap().accounts[0].needs_sign_in.is_some());
        let again = accounts.save_sign_in(&identity("alice", "t1"), &settings(), &Secret::new("r3"), &[]).unwrap();
        assert_eq!(again.needs_sign_in, None, "a new sign-in clears the mark");
        assert_eq!(again.organizations, ["contoso"], "and keeps the bindings");
        let third = accounts.save_sign_in(&identity("alice", "t1"), &settings(), &Secret::new("r4"), &[]).unwrap();
        assert!(third.signed_in_at > again.signed_in_at, "a sign-in within the same second is still a new one");
    }

    #[test]
    fn the_account_for_an_organization() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = store(dir.path());
        let rt = Secret::new("r");
        let no_tenant = || -> Option<String> { panic!("the tenant is not needed") };
        assert!(store.load().unwrap().choose("contoso", None, no_tenant).is_none());

        store.save_sign_in(&identity("alice", "t1"), &settings(), &rt, &[]).unwrap();
        let all = store.load().unwrap();
        assert_eq!(all.choose("contoso", None, no_tenant).unwrap().username, "alice@example.com", "the only one");

        store.save_sign_in(&identity("bob", "t2"), &settings(), &rt, &["fabrikam".into()]).unwrap();
        let all = store.load().unwrap();
        assert_eq!(all.choose("fabrikam", None, no_tenant).unwrap().username, "bob@example.com", "bound");
        assert_eq!(all.choose("fabrikam", Some("ALICE@example.com"), no_tenant).unwrap().username, "alice@example.com");
        assert_eq!(all.choose("contoso", Some("contoso"), || Some("t1".into())).unwrap().username, "alice@example.com");
        assert_eq!(all.choose("other", None, || Some("t2".into())).unwrap().username, "bob@example.com");
        assert!(all.choose("other", None, || Some("t3".into())).is_none());
        assert!(all.choose("other", None, || None).is_none());

        assert!(store.bind("fabrikam", "alice@example.com").unwrap(), "binding moves the organization");
        let all = store.load().unwrap();
        assert_eq!(all.choose("fabrikam", None, no_tenant).unwrap().username, "alice@example.com");
        assert!(store.unbind("fabrikam").unwrap());
        assert!(!store.unbind("fabrikam").unwrap());
        assert!(!store.bind("x", "nobody").unwrap());
    }

    #[test]
    fn another_process_changes_are_seen_and_a_corrupt_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let (one, memory) = store(dir.path());
        let two = AccountStore::new(dir.path(), Arc::new(Vault::with_stores(vec![memory], false)));
        assert!(one.load().unwrap().accounts.is_empty());
        two.save_sign_in(&identity("alice", "t1"), &settings(), &Secret::new("r"), &[]).unwrap();
        assert_eq!(one.load().unwrap().accounts.len(), 1);

        std::fs::write(dir.path().join("accounts.json"), "{ not json").unwrap();
        let error = one.load().unwrap_err().to_string();
        assert!(error.contains("accounts.json was corrupt") && error.contains("accounts.json.corrupt-"), "{error}");
        assert!(one.load().unwrap().accounts.is_empty(), "a new file is started");
        two.save_sign_in(&identity("alice", "t1"), &settings(), &Secret::new("r"), &[]).unwrap();
        assert_eq!(one.load().unwrap().accounts.len(), 1);
    }
}
