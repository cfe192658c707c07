//! The daemon's access tokens: per account, and per non-interactive identity
//! ([`TokenCache::machine`]), in memory only, refreshed before they are needed.
//!
//! - A cached token that has not expired is served at once: a request never waits on a
//!   refresh while there is a valid token to give, not even on one already running ahead of
//!   expiry.
//! - One refresh at a time per account or identity. Requests that find no valid token wait for
//!   the refresh in flight, or start one, and all share its outcome: a failed refresh is not run
//!   again by each waiter. Each request stops waiting at its own deadline; the refresh goes on
//!   until the deadline of the request that started it, and its token is kept for the next.
//! - Accounts used recently are refreshed ahead of expiry by [`TokenCache::keep_fresh`], so a
//!   `get` does not wait on the network; after a failed refresh the next one ahead waits 30 s,
//!   so that an outage does not turn into a stream of requests.
//! - Transient failures are retried with backoff within the refresh's deadline.
//! - Tokens are per account and tenant: an account's own (home, or the MSA transfer tenant for a
//!   personal account), and those of tenants that invited it as a guest.
//! - A claims challenge (continuous access evaluation) drops the cached token, and the refresh
//!   it starts carries the challenge's claims.
//! - A refresh token Entra refuses at the account's own tenant marks the account as needing a
//!   sign-in (persisted), and no further requests are sent for it until the user signs in again.
//!   Refused at another tenant (not, or no longer, a guest there), the account is left alone and
//!   that tenant is not asked again for [`TENANT_BACKOFF`], or until the account signs in again.
//! - Tokens come from a [`TokenSource`]: [`Online`] (Entra, the identities' endpoints), or a
//!   test's fake.

mod source;
#[cfg(test)]
mod tests;

pub use source::{BoxFuture, Online, TokenSource};

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use crate::accounts::{Account, AccountStore};
use crate::entra::EntraError;
use crate::identity::{FetchError, MachineIdentity};
use crate::secret::Secret;
use crate::store::{StoreError, blocking};

/// Recently used accounts are refreshed when their token has less than this (or a third of
/// its lifetime) left: well before it expires.
const AHEAD_MARGIN: (Duration, u32) = (Duration::from_secs(10 * 60), 3);
/// How recently an account must have been used to be refreshed ahead of time.
const RECENT: Duration = Duration::from_secs(8 * 60 * 60);
/// The refresh-ahead loop looks again at least this often.
const IDLE_CHECK: Duration = Duration::from_secs(60);
/// The refresh-ahead loop never wakes more often than this.
const LOOP_PAUSE: Duration = Duration::from_millis(200);
/// After a failed refresh, the next one ahead of time waits this long (a `get` that finds no
/// valid token still refreshes at once): an outage must not turn into a stream of requests.
const AHEAD_RETRY: Duration = Duration::from_secs(30);
/// The first pause before retrying a transient failure; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const MAX_PAUSE: Duration = Duration::from_secs(2);
/// How long a tenant that refused an account (not a guest there) is not asked again, unless the
/// account signs in again.
pub const TENANT_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// Lifetimes are cut to this, whatever a source says, so that no arithmetic on them overflows.
const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// An access token as served to git.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub secret: Secret,
    /// When it expires, on the monotonic clock: a change of the wall clock (a jump, NTP)
    /// neither expires it early nor keeps it late.
    expires_at: Instant,
    lifetime: Duration,
}

impl AccessToken {
    /// A token of `lifetime` that was asked for at `requested`.
    fn new(secret: Secret, requested: Instant, lifetime: Duration) -> Self {
        let lifetime = lifetime.min(MAX_LIFETIME);
        // Cannot fail with the lifetime cut; if it did, the token would count as expired.
        let expires_at = requested.checked_add(lifetime).unwrap_or(requested);
        Self { secret, expires_at, lifetime }
    }

    /// Unix seconds, for git's `password_expiry_utc`: worked out from the wall clock when it is
    /// served, not when it was fetched.
    pub fn expires_utc(&self) -> u64 {
        crate::store::unix_now().saturating_add(self.expires_at.saturating_duration_since(Instant::now()).as_secs())
    }

    /// When it is due for a refresh: when less than `margin` is left, or for short-lived
    /// tokens `1/divisor` of their lifetime. `None`: due since before the clock began.
    fn due_at(&self, (margin, divisor): (Duration, u32)) -> Option<Instant> {
        self.expires_at.checked_sub(margin.min(self.lifetime / divisor))
    }

    fn due(&self, margin: (Duration, u32), now: Instant) -> bool {
        self.due_at(margin).is_none_or(|at| at <= now)
    }

    fn valid(&self, now: Instant) -> bool {
        self.expires_at > now
    }

    /// When it was asked for.
    pub fn requested_at(&self) -> Instant {
        self.expires_at.checked_sub(self.lifetime).unwrap_or(self.expires_at)
    }
}

/// Why no token could be had. Cloned to every request that waited on the same refresh.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// A non-interactive identity gave no token.
    #[error(transparent)]
    Identity(#[from] FetchError),
    #[error(transparent)]
    Store(Arc<StoreError>),
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        Self::Store(Arc::new(e))
    }
}

/// Whose tokens a slot holds.
#[derive(Debug, Clone)]
enum Subject {
    /// An Entra account, as last seen in a request, and the tenant its tokens are issued in.
    Account(Account, String),
    Machine(MachineIdentity),
}

impl Subject {
    /// What a request that stopped waiting at its deadline is told, when the refresh has not
    /// failed yet.
    fn no_answer(&self, waited: Duration) -> TokenError {
        match self {
            Self::Account(account, _) => TokenError::Refresh {
                username: account.username.clone(),
                source: EntraError::Unreachable("no answer within the deadline".into()),
            },
            Self::Machine(_) => TokenError::Identity(FetchError::TimedOut(waited)),
        }
    }
}

/// What a refresh in flight has come to: its latest failure while it retries, then its outcome.
#[derive(Debug, Clone, Default)]
struct Progress {
    last_error: Option<TokenError>,
    outcome: Option<Result<AccessToken, TokenError>>,
}

/// A refresh in flight, as its waiters see it.
type Flight = watch::Receiver<Progress>;

#[derive(Debug)]
struct Slot {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    subject: Subject,
    token: Option<AccessToken>,
    /// The refresh in flight, if one is.
    flight: Option<Flight>,
    last_used: Option<Instant>,
    /// When the last refresh failed, until one succeeds: the refresh ahead waits
    /// [`AHEAD_RETRY`] after it.
    failed_at: Option<Instant>,
    /// A tenant that is not the account's own refused it: when, the account's `signed_in_at`
    /// then (a new sign-in lifts it), and why.
    refused: Option<(Instant, u64, String)>,
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// The refresh in flight, unless it was abandoned (its task cancelled).
    fn flight(&self) -> Option<Flight> {
        self.flight.clone().filter(|flight| flight.has_changed().is_ok())
    }

    /// When this slot's token should be refreshed ahead of time, if it should.
    fn ahead_at(&self, now: Instant) -> Option<Instant> {
        if self.last_used.is_none_or(|used| now.saturating_duration_since(used) >= RECENT) || self.flight().is_some() {
            return None;
        }
        let due = self.token.as_ref()?.due_at(AHEAD_MARGIN).unwrap_or(now);
        let retry = self.failed_at.and_then(|failed| failed.checked_add(AHEAD_RETRY));
        Some(retry.map_or(due, |retry| due.max(retry)))
    }
}

/// Access tokens for every account and identity, from a [`TokenSource`].
#[derive(Debug)]
pub struct TokenCache {
    accounts: Arc<AccountStore>,
    source: Arc<dyn TokenSource>,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
    /// How long a refresh ahead of time, retries included, may take.
    budget: Duration,
    /// Wakes [`Self::keep_fresh`]: a token changed, or one is due.
    changed: Notify,
}

impl TokenCache {
    pub fn new(accounts: Arc<AccountStore>, source: Arc<dyn TokenSource>, budget: Duration) -> Self {
        Self { accounts, source, slots: Mutex::default(), budget, changed: Notify::new() }
    }

    /// How long a refresh ahead of time may take.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    fn slots(&self) -> MutexGuard<'_, HashMap<String, Arc<Slot>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn slot(&self, key: &str, subject: &Subject) -> Arc<Slot> {
        let mut slots = self.slots();
        let slot = slots.entry(key.to_owned()).or_insert_with(|| {
            Arc::new(Slot {
                state: Mutex::new(State {
                    subject: subject.clone(),
                    token: None,
                    flight: None,
                    last_used: None,
                    failed_at: None,
                    refused: None,
                }),
            })
        });
        slot.clone()
    }

    /// A valid token of `account` issued in `tenant`: the cached one at once, else the outcome
    /// of a refresh, by `deadline`. A claims `challenge` drops the cached token, and a refresh
    /// this request starts carries it.
    pub async fn get(
        self: &Arc<Self>,
        account: &Account,
        tenant: &str,
        challenge: Option<&str>,
        deadline: Instant,
    ) -> Result<AccessToken, TokenError> {
        if let Some(reason) = &account.needs_sign_in {
            return Err(TokenError::NeedsSignIn { username: account.username.clone(), reason: reason.clone() });
        }
        let subject = Subject::Account(account.clone(), tenant.to_owned());
        let key = account_key(&account.id, tenant);
        {
            let slot = self.slot(&key, &subject);
            let mut state = slot.lock();
            if let Some((at, signed_in_at, reason)) = state.refused.clone()
                && signed_in_at == account.signed_in_at
                && Instant::now().saturating_duration_since(at) < TENANT_BACKOFF
            {
                let (username, tenant) = (account.username.clone(), tenant.to_owned());
                return Err(TokenError::TenantRefused { username, tenant, reason });
            }
            if challenge.is_some() {
                state.token = None;
            }
        }
        self.serve(&key, subject, challenge, deadline).await
    }

    /// A token of a non-interactive identity, cached and refreshed ahead as an account's is.
    pub async fn machine(
        self: &Arc<Self>,
        identity: &MachineIdentity,
        deadline: Instant,
    ) -> Result<AccessToken, TokenError> {
        self.serve(&identity.cache_key(), Subject::Machine(identity.clone()), None, deadline).await
    }

    async fn serve(
        self: &Arc<Self>,
        key: &str,
        subject: Subject,
        challenge: Option<&str>,
        deadline: Instant,
    ) -> Result<AccessToken, TokenError> {
        let slot = self.slot(key, &subject);
        let now = Instant::now();
        let flight = {
            let mut state = slot.lock();
            let was_recent = state.last_used.is_some_and(|used| now.saturating_duration_since(used) < RECENT);
            state.last_used = Some(now);
            state.subject = subject.clone();
            if let Some(token) = state.token.clone().filter(|t| t.valid(now)) {
                if !was_recent && token.due(AHEAD_MARGIN, now) {
                    // Used again after a long while: the refresh ahead had let it be.
                    self.changed.notify_one();
                }
                return Ok(token);
            }
            match state.flight() {
                Some(flight) => flight,
                // No time left to refresh in (the daemon used it up before the helper answered
                // by itself).
                None if deadline <= now => return Err(subject.no_answer(Duration::ZERO)),
                None => self.start(&slot, &mut state, subject.clone(), challenge.map(str::to_owned), deadline),
            }
        };
        wait(flight, deadline, |waited| subject.no_answer(waited)).await
    }

    /// Starts refreshing `slot`'s token (with a challenge's claims), to end by `deadline`; the
    /// caller holds its state.
    fn start(
        self: &Arc<Self>,
        slot: &Arc<Slot>,
        state: &mut State,
        subject: Subject,
        challenge: Option<String>,
        deadline: Instant,
    ) -> Flight {
        let (progress, flight) = watch::channel(Progress::default());
        state.flight = Some(flight.clone());
        let (cache, slot) = (Arc::clone(self), Arc::clone(slot));
        tokio::spawn(async move {
            let outcome = match &subject {
                Subject::Account(account, tenant) => {
                    cache.refresh(account, tenant, challenge.as_deref(), deadline, &progress).await
                }
                Subject::Machine(identity) => cache.fetch(identity, deadline, &progress).await,
            };
            {
                let mut state = slot.lock();
                match &outcome {
                    Ok(token) => {
                        state.token = Some(token.clone());
                        state.failed_at = None;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "refresh failed");
                        state.failed_at = Some(Instant::now());
                        if let (TokenError::TenantRefused { reason, .. }, Subject::Account(account, _)) = (e, &subject)
                        {
                            state.refused = Some((Instant::now(), account.signed_in_at, reason.clone()));
                        }
                    }
                }
                state.flight = None;
            }
            progress.send_modify(|p| p.outcome = Some(outcome));
            cache.changed.notify_one();
        });
        flight
    }

    /// Refreshes `account`'s token of `tenant` through Entra, with a challenge's claims,
    /// retrying transient failures until `deadline`.
    async fn refresh(
        &self,
        account: &Account,
        tenant: &str,
        challenge: Option<&str>,
        deadline: Instant,
        progress: &watch::Sender<Progress>,
    ) -> Result<AccessToken, TokenError> {
        let read = {
            let (store, account) = (self.accounts.clone(), account.clone());
            blocking(move || store.refresh_token(&account))
        };
        let refresh_token = tokio::time::timeout_at(deadline, read).await.unwrap_or_else(|_| {
            Err(StoreError::Unavailable { backend: account.backend, reason: "no answer within the deadline".into() })
        })?;
        let Some(refresh_token) = refresh_token else {
            return Err(self.needs_sign_in(account, "no refresh token is stored".into(), deadline).await);
        };
        let settings = account.settings()?;
        let mut pause = FIRST_PAUSE;
        loop {
            let started = Instant::now();
            let attempt = self.source.refresh(&settings, tenant, &refresh_token, challenge);
            let error = match tokio::time::timeout_at(deadline, attempt).await {
                Ok(Ok(tokens)) => {
                    if let Some(rotated) = tokens.refresh_token {
                        self.keep_rotated(account, rotated, deadline).await;
                    }
                    tracing::debug!(account = %account.username, expires_in = tokens.expires_in.as_secs(), "refreshed");
                    return Ok(AccessToken::new(tokens.access_token, started, tokens.expires_in));
                }
                Ok(Err(error)) => error,
                Err(_) => EntraError::Unreachable("no answer within the deadline".into()),
            };
            if error.needs_sign_in() && !crate::azdo::is_home_tenant(&account.tenant_id, tenant) {
                let reason = error.to_string();
                tracing::info!(account = %account.username, %tenant, %reason, "another tenant refused the account");
                let (username, tenant) = (account.username.clone(), tenant.to_owned());
                return Err(TokenError::TenantRefused { username, tenant, reason });
            }
            if error.needs_sign_in() {
                return Err(self.needs_sign_in(account, error.to_string(), deadline).await);
            }
            let wait = error.retry_after().unwrap_or(pause);
            let transient = error.is_transient();
            let failure = TokenError::Refresh { username: account.username.clone(), source: error };
            if !transient || !ends_before(wait, deadline) {
                return Err(failure);
            }
            tracing::debug!(account = %account.username, error = %failure, wait_ms = wait.as_millis(), "retrying");
            progress.send_modify(|p| p.last_error = Some(failure));
            tokio::time::sleep(wait).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    /// Keeps the refresh token Entra rotated, waiting for the store until `deadline` at most:
    /// the old refresh token stays valid, so failing to keep the new one is not fatal.
    async fn keep_rotated(&self, account: &Account, rotated: Secret, deadline: Instant) {
        let (store, owner) = (self.accounts.clone(), account.clone());
        let kept = tokio::time::timeout_at(deadline, blocking(move || store.rotate(&owner, &rotated))).await;
        match kept {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(account = %account.username, error = %e, "failed to keep the rotated refresh token");
            }
            Err(_) => tracing::warn!(account = %account.username, "the rotated refresh token is still being kept"),
        }
    }

    async fn needs_sign_in(&self, account: &Account, reason: String, deadline: Instant) -> TokenError {
        let (store, id, why) = (self.accounts.clone(), account.id.clone(), reason.clone());
        match tokio::time::timeout_at(deadline, blocking(move || store.mark_needs_sign_in(&id, &why))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(account = %account.username, error = %e, "failed to record that a sign-in is needed");
            }
            Err(_) => tracing::warn!(account = %account.username, "recording that a sign-in is needed took too long"),
        }
        TokenError::NeedsSignIn { username: account.username.clone(), reason }
    }

    /// Fetches a token for `identity`, retrying transient failures until `deadline`.
    async fn fetch(
        &self,
        identity: &MachineIdentity,
        deadline: Instant,
        progress: &watch::Sender<Progress>,
    ) -> Result<AccessToken, TokenError> {
        let mut pause = FIRST_PAUSE;
        loop {
            let started = Instant::now();
            let left = deadline.saturating_duration_since(started);
            let error = match tokio::time::timeout_at(deadline, self.source.fetch(identity, left)).await {
                Ok(Ok(fetched)) => {
                    tracing::debug!(identity = %identity, expires_in = fetched.lifetime.as_secs(), "fetched");
                    return Ok(AccessToken::new(fetched.token, started, fetched.lifetime));
                }
                Ok(Err(error)) => error,
                Err(_) => FetchError::TimedOut(left),
            };
            if !error.is_transient() || !ends_before(pause, deadline) {
                return Err(error.into());
            }
            tracing::debug!(identity = %identity, error = %error, "retrying");
            progress.send_modify(|p| p.last_error = Some(error.into()));
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    /// The non-interactive identity whose cached token `token` is, if it is one.
    pub fn machine_of(&self, token: &Secret) -> Option<MachineIdentity> {
        self.slots().values().find_map(|slot| {
            let state = slot.lock();
            match &state.subject {
                Subject::Machine(identity) if state.token.as_ref().is_some_and(|t| t.secret == *token) => {
                    Some(identity.clone())
                }
                _ => None,
            }
        })
    }

    /// The account (id) and tenant whose cached token `token` is, and when it was asked for.
    pub fn account_of(&self, token: &Secret) -> Option<(String, String, Instant)> {
        self.slots().values().find_map(|slot| {
            let state = slot.lock();
            let cached = state.token.as_ref().filter(|t| t.secret == *token)?;
            match &state.subject {
                Subject::Account(account, tenant) => Some((account.id.clone(), tenant.clone(), cached.requested_at())),
                Subject::Machine(_) => None,
            }
        })
    }

    /// Whether `token` is one of the access tokens we hand out.
    pub fn is_ours(&self, token: &Secret) -> bool {
        self.slots().values().any(|slot| slot.lock().token.as_ref().is_some_and(|t| t.secret == *token))
    }

    /// Drops `token` if we hand it out (git rejected it): the next `get` refreshes. Returns
    /// whether it was ours.
    pub fn forget(&self, token: &Secret) -> bool {
        let mut found = false;
        for slot in self.slots().values() {
            let mut state = slot.lock();
            if state.token.as_ref().is_some_and(|t| t.secret == *token) {
                state.token = None;
                found = true;
            }
        }
        found
    }

    /// Drops everything cached for the account (signed out).
    pub fn forget_account(&self, account_id: &str) {
        let prefix = account_key(account_id, "");
        self.slots().retain(|key, _| !key.starts_with(&prefix));
    }

    /// When each account's cached token expires (unix seconds; the latest of its tenants'), for
    /// `status`.
    pub fn expiries(&self) -> HashMap<String, u64> {
        let mut expiries: HashMap<String, u64> = HashMap::new();
        for slot in self.slots().values() {
            let state = slot.lock();
            let (Subject::Account(account, _), Some(token)) = (&state.subject, &state.token) else { continue };
            let expiry = expiries.entry(account.id.clone()).or_default();
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
            let slots: Vec<Arc<Slot>> = self.slots().values().cloned().collect();
            for slot in slots {
                self.refresh_ahead(&slot);
            }
        }
    }

    /// The earliest moment a recently used token becomes due for refresh.
    fn next_due(&self) -> Instant {
        let now = Instant::now();
        let earliest = self.slots().values().filter_map(|slot| slot.lock().ahead_at(now)).min();
        // A token refreshed moments ago must not spin the loop: at least a short pause.
        earliest.map_or(now + IDLE_CHECK, |t| t.max(now + LOOP_PAUSE)).min(now + IDLE_CHECK)
    }

    /// Starts refreshing `slot`'s token if it is due ahead of expiry.
    fn refresh_ahead(self: &Arc<Self>, slot: &Arc<Slot>) {
        let now = Instant::now();
        let subject = {
            let state = slot.lock();
            if state.ahead_at(now).is_none_or(|t| t > now) {
                return;
            }
            state.subject.clone()
        };
        let subject = match subject {
            Subject::Machine(identity) => Subject::Machine(identity),
            Subject::Account(account, tenant) => match self.accounts.load() {
                Ok(all) => {
                    let Some(account) = all.by_id(&account.id).filter(|a| a.needs_sign_in.is_none()) else {
                        // Signed out, or waiting for a sign-in: keep nothing for it.
                        slot.lock().token = None;
                        return;
                    };
                    Subject::Account(account.clone(), tenant)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the accounts to refresh ahead");
                    slot.lock().failed_at = Some(now);
                    return;
                }
            },
        };
        let mut state = slot.lock();
        // Looked at again: a request may have started a refresh meanwhile.
        if state.ahead_at(now).is_some_and(|t| t <= now) {
            tracing::debug!("refreshing ahead of expiry");
            self.start(slot, &mut state, subject, None, now + self.budget);
        }
    }
}

/// The cache's key for an account's tokens of one tenant.
fn account_key(account_id: &str, tenant: &str) -> String {
    format!("{account_id}\t{tenant}")
}

/// Whether waiting `wait` from now still ends before `deadline` (`wait` may come from a server,
/// and be anything).
fn ends_before(wait: Duration, deadline: Instant) -> bool {
    Instant::now().checked_add(wait).is_some_and(|end| end < deadline)
}

/// Waits for `flight`'s outcome until `deadline`; then the refresh's latest failure, or what
/// `no_answer` says, stands for it.
async fn wait(
    mut flight: Flight,
    deadline: Instant,
    no_answer: impl FnOnce(Duration) -> TokenError,
) -> Result<AccessToken, TokenError> {
    let started = Instant::now();
    let outcome = match tokio::time::timeout_at(deadline, flight.wait_for(|p| p.outcome.is_some())).await {
        Ok(Ok(progress)) => progress.outcome.clone(),
        // Abandoned (the runtime is stopping), or still running at the deadline.
        Ok(Err(_)) | Err(_) => None,
    };
    outcome.unwrap_or_else(|| {
        let last_error = flight.borrow().last_error.clone();
        Err(last_error.unwrap_or_else(|| no_answer(deadline.saturating_duration_since(started))))
    })
}
