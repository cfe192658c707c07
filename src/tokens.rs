//! The daemon's access tokens: per account, and per non-interactive identity
//! ([`TokenCache::machine`]), in memory only, refreshed before they are needed.
//!
//! - One refresh in flight per account: concurrent `get`s for an expired token wait for the
//!   one refresh (a per-account async lock; other accounts are not held up).
//! - Accounts used recently are refreshed ahead of expiry by [`TokenCache::keep_fresh`], so a
//!   `get` does not wait on the network.
//! - Transient failures are retried with backoff within a budget shorter than the helper's
//!   deadline; while a cached token is still valid it keeps being served.
//! - Tokens are per account and tenant: an account's own (home, or the MSA transfer tenant for a
//!   personal account), and those of tenants that invited it as a guest.
//! - A claims challenge (continuous access evaluation) drops the cached token and refreshes with
//!   the challenge's claims.
//! - A refresh token Entra refuses at the account's own tenant marks the account as needing a
//!   sign-in (persisted), and no further requests are sent for it until the user signs in again.
//!   Refused at another tenant (not, or no longer, a guest there), the account is left alone and
//!   that tenant is not asked again for a while.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::accounts::{Account, AccountStore};
use crate::entra::{Entra, EntraError};
use crate::identity::{FetchError, MachineIdentity};
use crate::secret::Secret;
use crate::store::{StoreError, blocking};

/// A token with less time left than this (or a tenth of its lifetime) is refreshed before it
/// is served.
const SERVE_MARGIN: (Duration, u32) = (Duration::from_secs(3 * 60), 10);
/// Recently used accounts are refreshed when their token has less than this (or a third of
/// its lifetime) left: well before `get` would have to.
const AHEAD_MARGIN: (Duration, u32) = (Duration::from_secs(10 * 60), 3);
/// How recently an account must have been used to be refreshed ahead of time.
const RECENT: Duration = Duration::from_secs(8 * 60 * 60);
/// The refresh-ahead loop looks again at least this often.
const IDLE_CHECK: Duration = Duration::from_secs(60);
/// After a failed refresh ahead of time, the next try waits this long (a `get` may still
/// refresh sooner): an outage must not turn into a stream of requests.
const AHEAD_RETRY: Duration = Duration::from_secs(30);
/// How long a tenant that refused an account (not a guest there) is not asked again, unless the
/// account signs in again.
pub const TENANT_BACKOFF: Duration = Duration::from_secs(5 * 60);

/// An access token as served to git.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub secret: Secret,
    /// When it expires, on the monotonic clock: a change of the wall clock (a jump, NTP, a
    /// resumed laptop or VM) neither expires it early nor keeps it late.
    expires_at: Instant,
    lifetime: Duration,
}

impl AccessToken {
    /// A token of `lifetime` that was asked for at `requested`.
    fn new(secret: Secret, requested: Instant, lifetime: Duration) -> Self {
        Self { secret, expires_at: requested + lifetime, lifetime }
    }

    /// Unix seconds, for git's `password_expiry_utc`: worked out from the wall clock when it is
    /// served, not when it was fetched.
    pub fn expires_utc(&self) -> u64 {
        crate::store::unix_now() + self.expires_at.saturating_duration_since(Instant::now()).as_secs()
    }

    /// Refresh when less than `margin` is left; for short-lived tokens, at most
    /// `1/divisor` of their lifetime.
    fn due(&self, (margin, divisor): (Duration, u32), now: Instant) -> bool {
        self.expires_at.saturating_duration_since(now) <= margin.min(self.lifetime / divisor)
    }

    fn due_at(&self, (margin, divisor): (Duration, u32)) -> Instant {
        self.expires_at - margin.min(self.lifetime / divisor)
    }

    fn valid(&self, now: Instant) -> bool {
        self.expires_at > now
    }

    /// When it was asked for.
    pub fn requested_at(&self) -> Instant {
        self.expires_at.checked_sub(self.lifetime).unwrap_or(self.expires_at)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Only an interactive sign-in can help.
    #[error("{username} must sign in again ({reason})")]
    NeedsSignIn { username: String, reason: String },
    #[error("failed to refresh the token of {username}: {source}")]
    Refresh {
        username: String,
        #[source]
        source: EntraError,
    },
    /// A tenant other than the account's own did not give it a token (it is not a guest there,
    /// or that tenant's policies need the user).
    #[error("Entra ID gives {username} no token for tenant {tenant} ({reason})")]
    TenantRefused { username: String, tenant: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, Default)]
struct Slot {
    token: Mutex<Option<AccessToken>>,
    /// The non-interactive identity the token comes from; `None` for an account's slot.
    machine: Mutex<Option<MachineIdentity>>,
    /// Held while refreshing: the single flight.
    refreshing: tokio::sync::Mutex<()>,
    last_used: Mutex<Option<Instant>>,
    /// When a refresh ahead of time was last tried.
    last_ahead: Mutex<Option<Instant>>,
    /// A tenant that is not the account's own refused it: when, the account's `signed_in_at`
    /// then (a new sign-in lifts it), and why.
    refused: Mutex<Option<(Instant, u64, String)>>,
}

impl Slot {
    /// When this slot's token should be refreshed ahead of time, if it should.
    fn ahead_at(&self, now: Instant) -> Option<Instant> {
        let used = *self.last_used.lock().unwrap_or_else(PoisonError::into_inner);
        if used.is_none_or(|t| now.saturating_duration_since(t) >= RECENT) {
            return None;
        }
        let due = self.token()?.due_at(AHEAD_MARGIN);
        let tried = *self.last_ahead.lock().unwrap_or_else(PoisonError::into_inner);
        Some(tried.map_or(due, |t| due.max(t + AHEAD_RETRY)))
    }

    fn token(&self) -> Option<AccessToken> {
        self.token.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn servable(&self, now: Instant) -> Option<AccessToken> {
        self.token().filter(|t| !t.due(SERVE_MARGIN, now))
    }

    /// The cached token while it is servable, else what `refresh` gives, one refresh at a time.
    /// When the refresh fails with an error `keep` allows, a still-valid token is served instead.
    async fn serve<E: std::fmt::Display, F: Future<Output = Result<AccessToken, E>>>(
        &self,
        source: &(dyn std::fmt::Display + Sync),
        refresh: impl FnOnce() -> F,
        keep: impl FnOnce(&E) -> bool,
    ) -> Result<AccessToken, E> {
        *self.last_used.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        if let Some(token) = self.servable(Instant::now()) {
            return Ok(token);
        }
        let _single_flight = self.refreshing.lock().await;
        // Whoever held the lock before us may have refreshed already.
        if let Some(token) = self.servable(Instant::now()) {
            return Ok(token);
        }
        match refresh().await {
            Err(e) if keep(&e) => match self.token().filter(|t| t.valid(Instant::now())) {
                Some(still_valid) => {
                    tracing::warn!(%source, error = %e, "refresh failed; serving the cached token");
                    Ok(still_valid)
                }
                None => Err(e),
            },
            other => other,
        }
    }
}

/// Access tokens for every account, refreshed through Entra.
#[derive(Debug)]
pub struct TokenCache {
    accounts: Arc<AccountStore>,
    /// One Entra client per (authority host, client id).
    entras: Mutex<HashMap<(String, String), Arc<Entra>>>,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// For non-interactive identities' endpoints.
    http: reqwest::Client,
    /// How long one refresh, retries included, may take.
    budget: Duration,
    changed: Notify,
}

impl TokenCache {
    pub fn new(accounts: Arc<AccountStore>, budget: Duration) -> Self {
        Self {
            accounts,
            entras: Mutex::default(),
            slots: Mutex::default(),
            http: crate::entra::http_client(),
            budget,
            changed: Notify::new(),
        }
    }

    fn slot(&self, key: &str) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.entry(key.to_owned()).or_default().clone()
    }

    fn entra(&self, account: &Account) -> Result<Arc<Entra>, StoreError> {
        let key = (account.authority_host.clone(), account.client_id.clone());
        let mut entras = self.entras.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(entra) = entras.get(&key) {
            return Ok(entra.clone());
        }
        let entra = Arc::new(Entra::new(account.settings()?));
        entras.insert(key, entra.clone());
        Ok(entra)
    }

    /// A token of `account` issued in `tenant` with a few minutes left at least, refreshing it
    /// when needed. A claims `challenge` drops the cached token, and the refresh carries it.
    pub async fn get(
        &self,
        account: &Account,
        tenant: &str,
        challenge: Option<&str>,
    ) -> Result<AccessToken, TokenError> {
        if let Some(reason) = &account.needs_sign_in {
            return Err(TokenError::NeedsSignIn { username: account.username.clone(), reason: reason.clone() });
        }
        let slot = self.slot(&account_key(&account.id, tenant));
        let refused = slot.refused.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some((at, signed_in_at, reason)) = refused
            && signed_in_at == account.signed_in_at
            && at.elapsed() < TENANT_BACKOFF
        {
            let (username, tenant) = (account.username.clone(), tenant.to_owned());
            return Err(TokenError::TenantRefused { username, tenant, reason });
        }
        if challenge.is_some() {
            *slot.token.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
        let refresh = || self.refresh(account, tenant, challenge, &slot);
        slot.serve(&account.username, refresh, |e| matches!(e, TokenError::Refresh { .. })).await
    }

    /// Refreshes `account`'s token in `tenant` now; the caller holds the slot's refresh lock.
    async fn refresh(
        &self,
        account: &Account,
        tenant: &str,
        challenge: Option<&str>,
        slot: &Slot,
    ) -> Result<AccessToken, TokenError> {
        let refresh_token = {
            let (store, account) = (self.accounts.clone(), account.clone());
            blocking(move || store.refresh_token(&account)).await?
        };
        let Some(refresh_token) = refresh_token else {
            return Err(self.needs_sign_in(account, "no refresh token is stored".into()).await);
        };
        let entra = self.entra(account)?;
        let deadline = Instant::now() + self.budget;
        let mut pause = Duration::from_millis(250);
        loop {
            let started = Instant::now();
            let attempt = tokio::time::timeout_at(deadline, entra.refresh(tenant, &refresh_token, challenge)).await;
            let error = match attempt {
                Ok(Ok(tokens)) => {
                    if let Some(rotated) = tokens.refresh_token {
                        let (store, owner) = (self.accounts.clone(), account.clone());
                        // The old refresh token stays valid: failing to keep the new one is not fatal.
                        if let Err(e) = blocking(move || store.rotate(&owner, &rotated)).await {
                            tracing::warn!(account = %account.username, error = %e, "failed to keep the rotated refresh token");
                        }
                    }
                    let token = AccessToken::new(tokens.access_token, started, tokens.expires_in);
                    *slot.token.lock().unwrap_or_else(PoisonError::into_inner) = Some(token.clone());
                    self.changed.notify_one();
                    tracing::debug!(account = %account.username, expires_in = tokens.expires_in.as_secs(), "refreshed");
                    return Ok(token);
                }
                Ok(Err(error)) => error,
                Err(_) => EntraError::Unreachable("no answer within the deadline".into()),
            };
            if error.needs_sign_in() && !crate::azdo::is_home_tenant(&account.tenant_id, tenant) {
                let reason = error.to_string();
                tracing::info!(account = %account.username, %tenant, %reason, "another tenant refused the account");
                *slot.refused.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some((Instant::now(), account.signed_in_at, reason.clone()));
                let (username, tenant) = (account.username.clone(), tenant.to_owned());
                return Err(TokenError::TenantRefused { username, tenant, reason });
            }
            if error.needs_sign_in() {
                return Err(self.needs_sign_in(account, error.to_string()).await);
            }
            let wait = error.retry_after().unwrap_or(pause);
            if !error.is_transient() || Instant::now() + wait >= deadline {
                return Err(TokenError::Refresh { username: account.username.clone(), source: error });
            }
            tracing::debug!(account = %account.username, error = %error, wait_ms = wait.as_millis(), "retrying");
            tokio::time::sleep(wait).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    async fn needs_sign_in(&self, account: &Account, reason: String) -> TokenError {
        let (store, id, why) = (self.accounts.clone(), account.id.clone(), reason.clone());
        if let Err(e) = blocking(move || store.mark_needs_sign_in(&id, &why)).await {
            tracing::warn!(account = %account.username, error = %e, "failed to record that a sign-in is needed");
        }
        TokenError::NeedsSignIn { username: account.username.clone(), reason }
    }

    /// A token of a non-interactive identity, cached and refreshed ahead as an account's is.
    pub async fn machine(&self, identity: &MachineIdentity) -> Result<AccessToken, FetchError> {
        let slot = self.slot(&identity.cache_key());
        *slot.machine.lock().unwrap_or_else(PoisonError::into_inner) = Some(identity.clone());
        slot.serve(identity, || self.fetch_machine(identity, &slot), |_| true).await
    }

    /// Fetches a token for `identity` now, retrying transient failures within the budget; the
    /// caller holds the slot's refresh lock.
    async fn fetch_machine(&self, identity: &MachineIdentity, slot: &Slot) -> Result<AccessToken, FetchError> {
        let deadline = Instant::now() + self.budget;
        let mut pause = Duration::from_millis(250);
        loop {
            let started = Instant::now();
            let left = deadline.saturating_duration_since(started);
            match crate::identity::fetch(identity, &self.http, left).await {
                Ok(fetched) => {
                    let token = AccessToken::new(fetched.token, started, fetched.lifetime);
                    *slot.token.lock().unwrap_or_else(PoisonError::into_inner) = Some(token.clone());
                    self.changed.notify_one();
                    tracing::debug!(identity = %identity, expires_in = fetched.lifetime.as_secs(), "fetched");
                    return Ok(token);
                }
                Err(e) if e.is_transient() && Instant::now() + pause < deadline => {
                    tracing::debug!(identity = %identity, error = %e, "retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The non-interactive identity whose cached token `token` is, if it is one.
    pub fn machine_of(&self, token: &Secret) -> Option<MachineIdentity> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots
            .values()
            .filter(|slot| slot.token().is_some_and(|t| t.secret == *token))
            .find_map(|slot| slot.machine.lock().unwrap_or_else(PoisonError::into_inner).clone())
    }

    /// The account (id) and tenant whose cached token `token` is, and when it was asked for.
    pub fn account_of(&self, token: &Secret) -> Option<(String, String, Instant)> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.iter().find_map(|(key, slot)| {
            let cached = slot.token().filter(|t| t.secret == *token)?;
            let (account, tenant) = key.split_once('\t')?;
            Some((account.to_owned(), tenant.to_owned(), cached.requested_at()))
        })
    }

    /// Whether `token` is one of the access tokens we hand out.
    pub fn is_ours(&self, token: &Secret) -> bool {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.values().any(|slot| slot.token().is_some_and(|t| t.secret == *token))
    }

    /// Drops `token` if we hand it out (git rejected it): the next `get` refreshes. Returns
    /// whether it was ours.
    pub fn forget(&self, token: &Secret) -> bool {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let mut found = false;
        for slot in slots.values() {
            let mut cached = slot.token.lock().unwrap_or_else(PoisonError::into_inner);
            if cached.as_ref().is_some_and(|t| t.secret == *token) {
                *cached = None;
                found = true;
            }
        }
        found
    }

    /// Drops everything cached for the account (signed out).
    pub fn forget_account(&self, account_id: &str) {
        let prefix = account_key(account_id, "");
        self.slots.lock().unwrap_or_else(PoisonError::into_inner).retain(|key, _| !key.starts_with(&prefix));
    }

    /// When each account's cached token expires (unix seconds; the latest of its tenants'), for
    /// `status`.
    pub fn expiries(&self) -> HashMap<String, u64> {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let mut expiries: HashMap<String, u64> = HashMap::new();
        for (key, slot) in slots.iter() {
            let (Some((id, _)), Some(token)) = (key.split_once('\t'), slot.token()) else { continue };
            let expiry = expiries.entry(id.to_owned()).or_default();
            *expiry = (*expiry).max(token.expires_utc());
        }
        expiries
    }

    /// Refreshes the tokens of recently used accounts ahead of expiry, for as long as the
    /// daemon runs.
    pub async fn keep_fresh(self: Arc<Self>) {
        loop {
            let wake = self.next_due();
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = self.changed.notified() => continue,
            }
            let now = Instant::now();
            let due: Vec<String> = {
                let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
                slots
                    .iter()
                    .filter(|(_, slot)| slot.ahead_at(now).is_some_and(|t| t <= now))
                    .map(|(id, _)| id.clone())
                    .collect()
            };
            for id in due {
                let cache = self.clone();
                tokio::spawn(async move { cache.refresh_ahead(&id).await });
            }
        }
    }

    /// The earliest moment a recently used account's token becomes due for refresh.
    fn next_due(&self) -> Instant {
        let now = Instant::now();
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let earliest = slots.values().filter_map(|slot| slot.ahead_at(now)).min();
        // A token refreshed moments ago must not spin the loop: at least a short pause.
        let earliest = earliest.map_or(now + IDLE_CHECK, |t| t.max(now + Duration::from_millis(200)));
        earliest.min(now + IDLE_CHECK)
    }

    async fn refresh_ahead(&self, key: &str) {
        let slot = self.slot(key);
        let Ok(_single_flight) = slot.refreshing.try_lock() else { return };
        let now = Instant::now();
        if slot.ahead_at(now).is_none_or(|t| t > now) {
            return;
        }
        *slot.last_ahead.lock().unwrap_or_else(PoisonError::into_inner) = Some(now);
        let machine = slot.machine.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if let Some(identity) = machine {
            if let Err(e) = self.fetch_machine(&identity, &slot).await {
                tracing::warn!(identity = %identity, error = %e, "refresh ahead of expiry failed");
            }
            return;
        }
        let Some((account_id, tenant)) = key.split_once('\t') else { return };
        let account = match self.accounts.load() {
            Ok(all) => all.by_id(account_id).cloned(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the accounts to refresh ahead");
                return;
            }
        };
        let Some(account) = account.filter(|a| a.needs_sign_in.is_none()) else {
            // Signed out, or waiting for a sign-in: keep nothing for it.
            *slot.token.lock().unwrap_or_else(PoisonError::into_inner) = None;
            return;
        };
        if let Err(e) = self.refresh(&account, tenant, None, &slot).await {
            tracing::warn!(account = %account.username, error = %e, "refresh ahead of expiry failed");
        }
    }
}

/// The cache's key for an account's tokens of one tenant.
fn account_key(account_id: &str, tenant: &str) -> String {
    format!("{account_id}\t{tenant}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(left: Duration, lifetime: Duration) -> AccessToken {
        AccessToken { secret: Secret::new("t"), expires_at: Instant::now() + left, lifetime }
    }

    #[test]
    fn hour_long_tokens_are_served_until_three_minutes_before_expiry() {
        let now = Instant::now();
        let hour = Duration::from_secs(3600);
        assert!(!token(Duration::from_secs(4 * 60), hour).due(SERVE_MARGIN, now));
        assert!(token(Duration::from_secs(2 * 60), hour).due(SERVE_MARGIN, now));
        assert!(token(Duration::from_secs(9 * 60), hour).due(AHEAD_MARGIN, now), "refreshed ahead at 10 minutes");
        // A 6 s token (the tests' fake) is served for 5.4 s and refreshed ahead at 4 s.
        let short = token(Duration::from_millis(1500), Duration::from_secs(6));
        assert!(!short.due(SERVE_MARGIN, now) && short.due(AHEAD_MARGIN, now));
    }

    #[test]
    fn refresh_ahead_is_for_recent_accounts_and_backs_off_after_a_try() {
        let slot = Slot::default();
        let now = Instant::now();
        *slot.token.lock().unwrap() = Some(token(Duration::from_secs(60), Duration::from_secs(3600)));
        assert_eq!(slot.ahead_at(now), None, "never used: not refreshed ahead");
        *slot.last_used.lock().unwrap() = Some(now);
        assert!(slot.ahead_at(now).is_some_and(|t| t <= now), "due now");
        *slot.last_ahead.lock().unwrap() = Some(now);
        assert_eq!(slot.ahead_at(now), Some(now + AHEAD_RETRY), "not again before the back-off");
    }
}
