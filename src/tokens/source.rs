//! Where the cache's tokens come from: [`TokenSource`]. The daemon and the in-process answer use
//! [`Online`] (Entra ID, and the non-interactive identities' endpoints); the cache's tests use a
//! fake, so that its timing (expiry, refresh ahead, back-off, deadlines) runs in-process on a
//! paused clock.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::config::EntraSettings;
use crate::entra::{Entra, EntraError, Tokens};
use crate::identity::{FetchError, Fetched, MachineIdentity};
use crate::secret::Secret;

/// A future that a [`TokenSource`] returns: `Send`, since refreshes run on spawned tasks.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One request for a token, without retries or deadlines of its own: the cache retries
/// transient failures and bounds every wait.
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// One refresh-token request to the Entra of `settings`, for a token of `tenant`, with the
    /// claims of a challenge when there is one.
    fn refresh<'a>(
        &'a self,
        settings: &'a EntraSettings,
        tenant: &'a str,
        refresh_token: &'a Secret,
        challenge: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Tokens, EntraError>>;

    /// One token request for a non-interactive identity, within `timeout`.
    fn fetch<'a>(
        &'a self,
        identity: &'a MachineIdentity,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Fetched, FetchError>>;
}

/// The real sources: Entra ID (one client per authority host and client id) and the
/// identities' endpoints.
#[derive(Debug)]
pub struct Online {
    entras: Mutex<HashMap<(String, String), Arc<Entra>>>,
    /// For non-interactive identities' endpoints; made when first needed (see
    /// [`crate::resolve::Resolver`]).
    http: std::sync::OnceLock<reqwest::Client>,
}

impl Online {
    pub fn new() -> Self {
        Self { entras: Mutex::default(), http: std::sync::OnceLock::new() }
    }

    fn entra(&self, settings: &EntraSettings) -> Arc<Entra> {
        let key = (settings.authority_host.to_string(), settings.client_id.clone());
        let mut entras = self.entras.lock().unwrap_or_else(PoisonError::into_inner);
        entras.entry(key).or_insert_with(|| Arc::new(Entra::new(settings.clone()))).clone()
    }
}

impl Default for Online {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenSource for Online {
    fn refresh<'a>(
        &'a self,
        settings: &'a EntraSettings,
        tenant: &'a str,
        refresh_token: &'a Secret,
        challenge: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Tokens, EntraError>> {
        let entra = self.entra(settings);
        Box::pin(async move { entra.refresh(tenant, refresh_token, challenge).await })
    }

    fn fetch<'a>(
        &'a self,
        identity: &'a MachineIdentity,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Fetched, FetchError>> {
        Box::pin(crate::identity::fetch(identity, self.http.get_or_init(crate::entra::http_client), timeout))
    }
}
