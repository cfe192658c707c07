//! Personal access tokens: at most one per Services organization or Server collection
//! ([`Scope`]). What each is for, whom it belongs to and when it lapses are in `accounts.json`;
//! the token itself is one item in the vault, named by [`Scope::secret_key`].

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::{AccountStore, Accounts};
use crate::azdo::{CollectionMatch, Scope};
use crate::git::Credential;
use crate::secret::Secret;
use crate::store::{Backend, StoreError};

/// A PAT, without its value. Safe to log and list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pat {
    pub scope: Scope,
    /// Whom Azure DevOps named when the PAT was checked, as it was added.
    pub user: String,
    /// Where the token is kept.
    pub backend: Backend,
    /// Unix seconds.
    pub stored_at: u64,
    /// When the user said it lapses, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Azure DevOps's id of the PAT, when we made it (`pat create --keep`): `pat revoke` then
    /// knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_id: Option<String>,
}

/// The PAT for a request that is not for Azure DevOps Services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerPat<'a> {
    /// The PAT of the collection the request is in (the deepest, should collections nest).
    Found(&'a Pat),
    /// PATs are kept for collections on the request's server, but git sent no path, so which
    /// collection it is for cannot be told.
    NeedsPath {
        origin: &'a str,
    },
    None,
}

impl Accounts {
    pub fn pat(&self, scope: &Scope) -> Option<&Pat> {
        self.pats.iter().find(|p| &p.scope == scope)
    }

    pub fn server_pat(&self, request: &Credential) -> ServerPat<'_> {
        let mut found: Option<(&Pat, usize)> = None;
        let mut without_path = None;
        for pat in &self.pats {
            let Scope::Collection(collection) = &pat.scope else { continue };
            match collection.matches(request) {
                CollectionMatch::Inside if found.is_none_or(|(_, depth)| depth < collection.depth()) => {
                    found = Some((pat, collection.depth()));
                }
                CollectionMatch::SameServerWithoutPath => without_path = Some(collection.origin()),
                CollectionMatch::Inside | CollectionMatch::Outside => {}
            }
        }
        match (found, without_path) {
            (Some((pat, _)), _) => ServerPat::Found(pat),
            (None, Some(origin)) => ServerPat::NeedsPath { origin },
            (None, None) => ServerPat::None,
        }
    }
}

/// PAT values read from the vault, by key, with the `stored_at` of the PAT they belong to;
/// cleared whenever another process changes `accounts.json`.
#[derive(Debug, Default)]
pub(super) struct SecretCache(Mutex<HashMap<String, (u64, Secret)>>);

impl SecretCache {
    fn get(&self, key: &str, stored_at: u64) -> Option<Secret> {
        let cache = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        cache.get(key).filter(|(at, _)| *at == stored_at).map(|(_, secret)| secret.clone())
    }

    fn put(&self, key: String, stored_at: u64, secret: Secret) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).insert(key, (stored_at, secret));
    }

    fn remove(&self, key: &str) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }

    pub(super) fn clear(&self) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

impl AccountStore {
    /// Keeps `secret` as the PAT for `scope`, replacing the one it had. Blocks.
    pub fn save_pat(
        &self,
        scope: &Scope,
        user: &str,
        secret: &Secret,
        expires_at: Option<u64>,
        authorization_id: Option<&str>,
    ) -> Result<Pat, StoreError> {
        let key = scope.secret_key();
        let backend = self.vault.put(&key, secret)?;
        let pat = Pat {
            scope: scope.clone(),
            user: user.to_owned(),
            backend,
            stored_at: crate::store::unix_now(),
            expires_at,
            authorization_id: authorization_id.map(str::to_owned),
        };
        let replaced = self.update(|all| {
            let old = all.pats.iter().position(|p| &p.scope == scope).map(|i| all.pats.remove(i));
            all.pats.push(pat.clone());
            all.pats.sort_by_key(|p| p.scope.to_string());
            old
        })?;
        if let Some(old) = replaced.filter(|old| old.backend != backend) {
            self.vault.forget(old.backend, &key);
        }
        self.pat_secrets.put(key, pat.stored_at, secret.clone());
        Ok(pat)
    }

    /// The PAT's value; `None` when the vault lost it. Blocks on the first read.
    pub fn pat_secret(&self, pat: &Pat) -> Result<Option<Secret>, StoreError> {
        let key = pat.scope.secret_key();
        if let Some(secret) = self.pat_secrets.get(&key, pat.stored_at) {
            return Ok(Some(secret));
        }
        let secret = self.vault.get(pat.backend, &key)?;
        if let Some(secret) = &secret {
            self.pat_secrets.put(key, pat.stored_at, secret.clone());
        }
        Ok(secret)
    }

    /// Removes `pat`, unless it has been replaced since it was read (a new `login --pat`
    /// raced the removal). Returns whether it was removed. Blocks.
    pub fn remove_pat(&self, pat: &Pat) -> Result<bool, StoreError> {
        let removed = self.update(|all| {
            let before = all.pats.len();
            all.pats.retain(|p| p != pat);
            all.pats.len() != before
        })?;
        if removed {
            let key = pat.scope.secret_key();
            self.pat_secrets.remove(&key);
            self.vault.delete(pat.backend, &key)?;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::azdo::Collection;
    use crate::store::{MemoryStore, SecretStore, Vault};

    fn store(dir: &std::path::Path) -> (AccountStore, Arc<MemoryStore>) {
        let memory = Arc::new(MemoryStore::default());
        (AccountStore::new(dir, Arc::new(Vault::with_stores(vec![memory.clone()], false))), memory)
    }

    fn collection(url: &str) -> Scope {
        Scope::Collection(Collection::parse(url).unwrap())
    }

    fn request(host: &str, path: Option<&str>) -> Credential {
        Credential {
            protocol: Some("https".into()),
            host: Some(host.into()),
            path: path.map(Into::into),
            ..Credential::default()
        }
    }

    #[test]
    fn a_pat_is_kept_in_the_vault_replaced_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (accounts, memory) = store(dir.path());
        let contoso = Scope::Organization("contoso".into());
        let first =
            accounts.save_pat(&contoso, "Alice", &Secret::new("pat-value-1"), Some(1_800_000_000), None).unwrap();
        assert_eq!(accounts.pat_secret(&first).unwrap().unwrap().expose(), "pat-value-1");
        let file = std::fs::read_to_string(dir.path().join("accounts.json")).unwrap();
        assert!(file.contains("contoso") && !file.contains("pat-value"), "no secret in {file}");

        let second = accounts.save_pat(&contoso, "Alice", &Secret::new("pat-value-2"), None, None).unwrap();
        let all = accounts.load().unwrap();
        assert_eq!(all.pats.len(), 1, "one PAT per organization");
        assert_eq!(all.pat(&contoso), Some(&second));
        assert_eq!(memory.get("pat:org:contoso").unwrap().unwrap().expose(), "pat-value-2");

        let mut stale = second.clone();
        stale.stored_at -= 1;
        assert!(!accounts.remove_pat(&stale).unwrap(), "a PAT replaced since it was read stays");
        assert!(accounts.remove_pat(&second).unwrap());
        assert!(accounts.load().unwrap().pat(&contoso).is_none());
        assert_eq!(memory.get("pat:org:contoso").unwrap(), None, "and its value is gone from the vault");
    }

    #[test]
    fn a_pat_read_from_the_vault_once_is_served_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let (writer, memory) = store(dir.path());
        let pat = writer.save_pat(&Scope::Organization("contoso".into()), "A", &Secret::new("v1"), None, None).unwrap();
        let reader = AccountStore::new(dir.path(), Arc::new(Vault::with_stores(vec![memory.clone()], false)));
        reader.load().unwrap();
        assert_eq!(reader.pat_secret(&pat).unwrap().unwrap().expose(), "v1");
        memory.delete("pat:org:contoso").unwrap();
        reader.load().unwrap();
        assert_eq!(reader.pat_secret(&pat).unwrap().unwrap().expose(), "v1", "cached");

        // Another process replaces it, even within the same second: the new value is read.
        memory.set("pat:org:contoso", &Secret::new("v2")).unwrap();
        writer.update(|all| all.pats[0].user = "B".into()).unwrap();
        reader.load().unwrap();
        assert_eq!(reader.pat_secret(&pat).unwrap().unwrap().expose(), "v2");
    }

    #[test]
    fn a_server_request_finds_its_collections_pat() {
        let dir = tempfile::tempdir().unwrap();
        let (accounts, _) = store(dir.path());
        let rt = Secret::new("p");
        accounts.save_pat(&collection("https://tfs.example.com/tfs/DefaultCollection"), "A", &rt, None, None).unwrap();
        accounts
            .save_pat(&collection("https://tfs.example.com/tfs/DefaultCollection/Nested"), "B", &rt, None, None)
            .unwrap();
        accounts.save_pat(&Scope::Organization("tfs".into()), "C", &rt, None, None).unwrap();
        let all = accounts.load().unwrap();

        let ServerPat::Found(pat) = all.server_pat(&request("tfs.example.com", Some("tfs/DefaultCollection/p/_git/r")))
        else {
            panic!("the collection's PAT")
        };
        assert_eq!(pat.user, "A");
        let nested = all.server_pat(&request("tfs.example.com", Some("tfs/defaultcollection/nested/p/_git/r")));
        assert!(matches!(nested, ServerPat::Found(p) if p.user == "B"), "the deepest collection: {nested:?}");
        assert_eq!(
            all.server_pat(&request("tfs.example.com", None)),
            ServerPat::NeedsPath { origin: "https://tfs.example.com" }
        );
        assert_eq!(all.server_pat(&request("tfs.example.com", Some("tfs/Other/p/_git/r"))), ServerPat::None);
        assert_eq!(all.server_pat(&request("github.com", Some("tfs/DefaultCollection"))), ServerPat::None);
    }
}
