//! The cache's timing, in-process on tokio's paused clock against a fake [`TokenSource`]:
//! expiry, refresh ahead, back-off, shared refreshes and deadlines, each with a black-holed and
//! a failing (503) Entra, and with tokens of a few seconds and of an hour. A request that waits
//! shows as time passing on the paused clock; one served at once takes none.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should fail the test at once")]

use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::config::EntraSettings;
use crate::entra::{EntraErrorBody, Identity, Tokens};
use crate::identity::{Fetched, ManagedEndpoint};
use crate::store::{MemoryStore, Vault};

const HOUR: Duration = Duration::from_secs(3600);
const SHORT: Duration = Duration::from_secs(6);
/// The refresh ahead's budget, as a 10 s helper deadline gives it.
const BUDGET: Duration = Duration::from_secs(6);
/// A `get`'s budget, as the daemon has it from a helper with a 10 s deadline.
const GET_BUDGET: Duration = Duration::from_millis(8_600);

/// How the fake Entra (and identity endpoint) answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entra {
    Answers,
    /// Answers after this long.
    Slow(Duration),
    /// Accepts the request and never answers.
    BlackHoled,
    /// HTTP 503, at once.
    Unavailable,
    /// HTTP 503 with this `Retry-After`.
    RetryAfter(Duration),
    /// `invalid_grant`: the refresh token was revoked.
    Refuses,
}

#[derive(Debug)]
struct Fake {
    mode: Mutex<Entra>,
    lifetime: Mutex<Duration>,
    /// When each request arrived.
    calls: Mutex<Vec<Instant>>,
    /// The tenant and challenge of each refresh.
    refreshes: Mutex<Vec<(String, Option<String>)>>,
    issued: AtomicUsize,
}

impl Fake {
    fn new(lifetime: Duration) -> Arc<Self> {
        Arc::new(Self {
            mode: Mutex::new(Entra::Answers),
            lifetime: Mutex::new(lifetime),
            calls: Mutex::default(),
            refreshes: Mutex::default(),
            issued: AtomicUsize::new(0),
        })
    }

    fn set(&self, mode: Entra) {
        *self.mode.lock().unwrap() = mode;
    }

    fn calls(&self) -> Vec<Instant> {
        self.calls.lock().unwrap().clone()
    }

    /// Takes a request, and answers it as the mode says: a token named `at-<n>`.
    fn answer<E>(
        &self,
        unavailable: impl FnOnce(Option<Duration>) -> E,
        refused: E,
    ) -> BoxFuture<'_, Result<(Secret, Duration), E>>
    where
        E: Send + 'static,
    {
        self.calls.lock().unwrap().push(Instant::now());
        let mode = *self.mode.lock().unwrap();
        let lifetime = *self.lifetime.lock().unwrap();
        let token = Secret::new(format!("at-{}", self.issued.fetch_add(1, Ordering::SeqCst) + 1));
        let failure = match mode {
            Entra::Unavailable => Some(unavailable(None)),
            Entra::RetryAfter(wait) => Some(unavailable(Some(wait))),
            Entra::Refuses => Some(refused),
            _ => None,
        };
        Box::pin(async move {
            match mode {
                Entra::Slow(delay) => tokio::time::sleep(delay).await,
                Entra::BlackHoled => std::future::pending().await,
                Entra::Answers | Entra::Unavailable | Entra::RetryAfter(_) | Entra::Refuses => {}
            }
            failure.map_or(Ok((token, lifetime)), Err)
        })
    }
}

impl TokenSource for Fake {
    fn refresh<'a>(
        &'a self,
        _settings: &'a EntraSettings,
        tenant: &'a str,
        _refresh_token: &'a Secret,
        challenge: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Tokens, EntraError>> {
        self.refreshes.lock().unwrap().push((tenant.to_owned(), challenge.map(str::to_owned)));
        let refused =
            EntraError::Refused(Box::new(EntraErrorBody { error: "invalid_grant".into(), ..Default::default() }));
        let answer = self.answer(|retry_after| EntraError::Unavailable { status: 503, retry_after }, refused);
        Box::pin(async move {
            let (access_token, expires_in) = answer.await?;
            let refresh_token = Some(Secret::new(format!("rt-{}", access_token.expose())));
            Ok(Tokens { access_token, expires_in, refresh_token, identity: None })
        })
    }

    fn fetch<'a>(
        &'a self,
        _identity: &'a MachineIdentity,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Fetched, FetchError>> {
        let endpoint =
            |status| FetchError::Endpoint { what: "the instance metadata service", status, detail: String::new() };
        let answer = self.answer(|_| endpoint(503), endpoint(400));
        Box::pin(async move { answer.await.map(|(token, lifetime)| Fetched { token, lifetime }) })
    }
}

/// alice, signed in, and a cache whose tokens come from the fake.
struct World {
    cache: Arc<TokenCache>,
    entra: Arc<Fake>,
    accounts: Arc<AccountStore>,
    account: Account,
    _dir: tempfile::TempDir,
}

impl World {
    fn new(lifetime: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let vault = Arc::new(Vault::with_stores(vec![Arc::new(MemoryStore::new())], false));
        let accounts = Arc::new(AccountStore::new(dir.path(), vault));
        let identity = Identity {
            account_id: "oid-alice.t".into(),
            tenant_id: "t".into(),
            username: "alice@contoso.com".into(),
            name: None,
        };
        let settings = EntraSettings {
            authority_host: url::Url::parse("https://login.example").unwrap(),
            client_id: "client".into(),
            tenant: None,
        };
        let account = accounts.save_sign_in(&identity, &settings, &Secret::new("rt-0"), &["contoso".into()]).unwrap();
        let entra = Fake::new(lifetime);
        let cache = Arc::new(TokenCache::new(accounts.clone(), entra.clone(), BUDGET));
        Self { cache, entra, accounts, account, _dir: dir }
    }

    /// A `get` with [`GET_BUDGET`]: its outcome, and how long it waited.
    async fn get(&self) -> (Result<AccessToken, TokenError>, Duration) {
        self.get_within(GET_BUDGET).await
    }

    async fn get_within(&self, budget: Duration) -> (Result<AccessToken, TokenError>, Duration) {
        let started = Instant::now();
        let outcome = self.cache.get(&self.account, &self.account.tenant_id, None, started + budget).await;
        (outcome, started.elapsed())
    }

    /// A `get` of a token of `tenant`, with a claims `challenge`.
    async fn get_of(&self, tenant: &str, challenge: Option<&str>) -> Result<AccessToken, TokenError> {
        self.cache.get(&self.account, tenant, challenge, Instant::now() + GET_BUDGET).await
    }

    /// Runs the refresh ahead of time, as the daemon does, until the returned guard drops.
    fn keep_fresh(&self) -> AbortOnDrop {
        AbortOnDrop(tokio::spawn(self.cache.clone().keep_fresh()))
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn secret(outcome: &Result<AccessToken, TokenError>) -> String {
    match outcome {
        Ok(token) => token.secret.expose().to_owned(),
        Err(e) => panic!("no token: {e}"),
    }
}

fn error(outcome: Result<AccessToken, TokenError>) -> TokenError {
    match outcome {
        Ok(token) => panic!("a token ({}) where a failure was expected", token.secret.expose()),
        Err(e) => e,
    }
}

/// The four outages and lifetimes every timing behaviour is tried with.
fn cases() -> Vec<(Duration, Entra)> {
    let mut cases = Vec::new();
    for lifetime in [SHORT, HOUR] {
        for outage in [Entra::BlackHoled, Entra::Unavailable] {
            cases.push((lifetime, outage));
        }
    }
    cases
}

#[tokio::test(start_paused = true)]
async fn a_valid_token_is_served_at_once_through_an_outage_until_it_expires() {
    for (lifetime, outage) in cases() {
        let w = World::new(lifetime);
        let _refresher = w.keep_fresh();
        let (first, _) = w.get().await;
        let first = secret(&first);
        let fetched = Instant::now();
        w.entra.set(outage);
        // Requests all through the token's life, on a grid that meets every retry of the
        // refresh ahead (every 30 s for an hour's token) as it starts.
        let step = lifetime / 720;
        while fetched.elapsed() + step < lifetime {
            tokio::time::sleep(step).await;
            let (token, waited) = w.get().await;
            let at = fetched.elapsed();
            assert_eq!(waited, Duration::ZERO, "{outage:?}, {lifetime:?}: a request at {at:?} waited on a refresh");
            assert_eq!(secret(&token), first, "{outage:?}, {lifetime:?} at {at:?}");
        }
        assert!(w.entra.calls().len() > 1, "{outage:?}, {lifetime:?}: the refresh ahead was tried meanwhile");

        // Expired: nothing to serve, and the request ends by its deadline with the reason.
        tokio::time::sleep_until(fetched + lifetime).await;
        let (outcome, waited) = w.get().await;
        assert!(waited <= GET_BUDGET, "{outage:?}, {lifetime:?}: waited {waited:?}");
        let reason = error(outcome).to_string();
        let expected = if outage == Entra::BlackHoled { "could not be reached" } else { "HTTP 503" };
        assert!(reason.contains("alice@contoso.com") && reason.contains(expected), "{outage:?}: {reason}");
    }
}

#[tokio::test(start_paused = true)]
async fn requests_without_a_valid_token_share_one_refresh_and_its_failure() {
    for (lifetime, outage) in cases() {
        // How many requests one refresh makes on its own, for comparison.
        let alone = World::new(lifetime);
        alone.entra.set(outage);
        let (outcome, _) = alone.get().await;
        let expected = error(outcome).to_string();
        let one_refresh = alone.entra.calls().len();

        // An expired token, then five requests at once and three more while they wait.
        let w = World::new(lifetime);
        let _ = w.get().await;
        tokio::time::sleep(lifetime).await;
        w.entra.set(outage);
        let before = w.entra.calls().len();
        let w = Arc::new(w);
        let started = Instant::now();
        let mut waiting = tokio::task::JoinSet::new();
        for i in 0..8 {
            let w = w.clone();
            waiting.spawn(async move {
                if i >= 5 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                w.get().await
            });
        }
        while let Some(joined) = waiting.join_next().await {
            let (outcome, _) = joined.unwrap();
            assert_eq!(error(outcome).to_string(), expected, "{outage:?}, {lifetime:?}: the one outcome");
        }
        assert!(started.elapsed() <= GET_BUDGET, "{outage:?}, {lifetime:?}: {:?}", started.elapsed());
        assert_eq!(w.entra.calls().len() - before, one_refresh, "{outage:?}, {lifetime:?}: one refresh for all");
    }
}

#[tokio::test(start_paused = true)]
async fn fifty_requests_on_an_expired_token_cause_one_refresh() {
    for lifetime in [SHORT, HOUR] {
        let w = World::new(lifetime);
        let (first, _) = w.get().await;
        tokio::time::sleep(lifetime).await;
        w.entra.set(Entra::Slow(Duration::from_millis(500)));
        let w = Arc::new(w);
        let mut waiting = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let w = w.clone();
            waiting.spawn(async move { w.get().await });
        }
        let mut tokens = std::collections::HashSet::new();
        while let Some(joined) = waiting.join_next().await {
            let (outcome, waited) = joined.unwrap();
            assert_eq!(waited, Duration::from_millis(500), "{lifetime:?}: each waited for the one refresh");
            tokens.insert(secret(&outcome));
        }
        assert_eq!(tokens.len(), 1, "{lifetime:?}: everyone got the one token");
        assert!(!tokens.contains(&secret(&first)), "{lifetime:?}: a new one");
        assert_eq!(w.entra.calls().len(), 2, "{lifetime:?}: the sign-in's token, then one refresh");
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_ends_by_its_deadline_whatever_entra_does() {
    let budget = Duration::from_secs(2);
    let outages = [
        Entra::BlackHoled,
        Entra::Unavailable,
        Entra::Slow(HOUR),
        // A Retry-After no clock can add: one try, and the failure at once.
        Entra::RetryAfter(Duration::from_secs(u64::MAX)),
        Entra::RetryAfter(Duration::from_secs(5)),
    ];
    for outage in outages {
        // Cold, and with a refresh already running ahead of expiry with a longer deadline.
        for running_ahead in [false, true] {
            let w = World::new(SHORT);
            let _refresher = w.keep_fresh();
            if running_ahead {
                let _ = w.get().await;
                w.entra.set(outage);
                // The refresh ahead starts a third of the lifetime before expiry; expired
                // since, while it still runs within its budget (6 s).
                tokio::time::sleep(SHORT + Duration::from_millis(100)).await;
            } else {
                w.entra.set(outage);
            }
            let (outcome, waited) = w.get_within(budget).await;
            assert!(waited <= budget, "{outage:?}, running ahead {running_ahead}: waited {waited:?}");
            let reason = error(outcome).to_string();
            let said = match outage {
                Entra::BlackHoled | Entra::Slow(_) => "could not be reached: no answer within the deadline",
                _ => "Entra ID is unavailable (HTTP 503)",
            };
            assert!(reason.contains(said), "{outage:?}, running ahead {running_ahead}: {reason}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_machine_identity_is_served_and_bounded_as_an_account_is() {
    let identity =
        MachineIdentity::Managed { endpoint: ManagedEndpoint::Imds { url: "http://imds".into() }, client_id: None };
    for (lifetime, outage) in cases() {
        let w = World::new(lifetime);
        let _refresher = w.keep_fresh();
        let get = || machine_get(&w, &identity);
        let (first, _) = get().await;
        let fetched = Instant::now();
        w.entra.set(outage);
        tokio::time::sleep(lifetime.mul_f32(0.9)).await;
        let (token, waited) = get().await;
        assert_eq!((secret(&token), waited), (secret(&first), Duration::ZERO), "{outage:?}, {lifetime:?}");
        assert!(w.entra.calls().len() > 1, "{outage:?}, {lifetime:?}: refreshed ahead");
        tokio::time::sleep_until(fetched + lifetime).await;
        let (outcome, waited) = get().await;
        assert!(waited <= GET_BUDGET, "{outage:?}, {lifetime:?}: {waited:?}");
        assert!(matches!(error(outcome), TokenError::Identity(_)), "{outage:?}");
    }
}

async fn machine_get(w: &World, identity: &MachineIdentity) -> (Result<AccessToken, TokenError>, Duration) {
    let started = Instant::now();
    let outcome = w.cache.machine(identity, started + GET_BUDGET).await;
    (outcome, started.elapsed())
}

#[tokio::test(start_paused = true)]
async fn short_lived_tokens_are_refreshed_ahead_and_served_without_waiting() {
    let w = World::new(SHORT);
    let _refresher = w.keep_fresh();
    let mut served = std::collections::HashSet::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        let (token, waited) = w.get().await;
        assert_eq!(waited, Duration::ZERO, "at {:?}: served from the cache", started.elapsed());
        assert!(token.as_ref().is_ok_and(|t| t.valid(Instant::now())));
        served.insert(secret(&token));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls = w.entra.calls().len();
    // One when first asked, then one a third of the lifetime before each expiry (every 4 s).
    assert!(served.len() >= 14, "{} tokens served", served.len());
    assert!(calls <= 60 / 4 + 2, "no refresh storm: {calls} requests");
}

#[tokio::test(start_paused = true)]
async fn the_refresh_ahead_backs_off_after_a_failure_and_stops_for_accounts_not_used() {
    for outage in [Entra::BlackHoled, Entra::Unavailable] {
        let w = World::new(HOUR);
        let _refresher = w.keep_fresh();
        let _ = w.get().await;
        let used = Instant::now();
        w.entra.set(outage);
        tokio::time::sleep(Duration::from_secs(70 * 60)).await;
        // The requests of one refresh are its retries, at most 2 s apart; between refreshes
        // there is at least the back-off.
        let calls = w.entra.calls();
        assert!(calls[1] >= used + HOUR - AHEAD_MARGIN.0, "{outage:?}: not before it was due");
        let mut refreshes = 1;
        for pair in calls[1..].windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap <= MAX_PAUSE || gap >= AHEAD_RETRY, "{outage:?}: {gap:?} between two requests");
            refreshes += usize::from(gap >= AHEAD_RETRY);
        }
        assert!((10..=60).contains(&refreshes), "{outage:?}: {refreshes} refreshes in 20 minutes");
    }

    // Entra answers: refreshed ahead while the account was used in the last 8 hours, then not.
    let w = World::new(HOUR);
    let _refresher = w.keep_fresh();
    let _ = w.get().await;
    tokio::time::sleep(RECENT).await;
    let while_used = w.entra.calls().len();
    assert!(while_used >= 8, "{while_used}");
    tokio::time::sleep(3 * HOUR).await;
    assert_eq!(w.entra.calls().len(), while_used, "not refreshed for an account no one uses");
}

#[tokio::test(start_paused = true)]
async fn a_refused_refresh_token_needs_a_sign_in_and_entra_is_not_asked_again() {
    let w = World::new(HOUR);
    w.entra.set(Entra::Refuses);
    let (outcome, waited) = w.get().await;
    assert_eq!(waited, Duration::ZERO, "not retried");
    assert!(matches!(error(outcome), TokenError::NeedsSignIn { .. }));
    let account = w.accounts.load().unwrap().by_id(&w.account.id).cloned().unwrap();
    assert!(account.needs_sign_in.as_deref().is_some_and(|r| r.contains("invalid_grant")), "{account:?}");
    let outcome = w.cache.get(&account, &account.tenant_id, None, Instant::now() + GET_BUDGET).await;
    assert!(matches!(error(outcome), TokenError::NeedsSignIn { .. }));
    assert_eq!(w.entra.calls().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_forgotten_token_is_refreshed_by_the_next_request_and_the_rotated_refresh_token_kept() {
    let w = World::new(HOUR);
    let (first, _) = w.get().await;
    let first = first.unwrap();
    let stored = w.accounts.refresh_token(&w.account).unwrap().unwrap();
    assert_eq!(stored.expose(), format!("rt-{}", first.secret.expose()), "kept before the token was served");
    assert!(w.cache.is_ours(&first.secret));
    assert!(w.cache.forget(&first.secret));
    let (second, _) = w.get().await;
    assert_ne!(secret(&second), first.secret.expose());
    assert!(!w.cache.is_ours(&first.secret));
}

#[test]
fn hour_long_tokens_are_refreshed_ahead_ten_minutes_before_expiry_and_short_ones_at_a_third() {
    let now = Instant::now();
    let token =
        |left: Duration, lifetime: Duration| AccessToken { secret: Secret::new("t"), expires_at: now + left, lifetime };
    assert!(!token(Duration::from_secs(11 * 60), HOUR).due(AHEAD_MARGIN, now));
    assert!(token(Duration::from_secs(9 * 60), HOUR).due(AHEAD_MARGIN, now));
    assert!(!token(Duration::from_millis(2100), SHORT).due(AHEAD_MARGIN, now));
    assert!(token(Duration::from_millis(1900), SHORT).due(AHEAD_MARGIN, now));
}

#[test]
fn absurd_lifetimes_neither_overflow_nor_panic() {
    let now = Instant::now();
    let token = AccessToken::new(Secret::new("t"), now, Duration::MAX);
    assert!(token.valid(now + 6 * 24 * HOUR) && !token.valid(now + MAX_LIFETIME));
    assert!(token.expires_utc() > crate::store::unix_now());
    assert!(!AccessToken::new(Secret::new("t"), now, Duration::ZERO).valid(now));
    assert!(token.due_at(AHEAD_MARGIN).is_some());
}

#[tokio::test(start_paused = true)]
async fn another_tenants_refusal_leaves_the_account_alone_and_that_tenant_is_not_asked_for_a_while() {
    let w = World::new(HOUR);
    w.entra.set(Entra::Refuses);
    let refused = error(w.get_of("guest-tenant", None).await);
    assert!(matches!(&refused, TokenError::TenantRefused { tenant, .. } if tenant == "guest-tenant"), "{refused}");
    assert_eq!(w.accounts.load().unwrap().accounts[0].needs_sign_in, None, "the account is not marked");
    assert!(matches!(error(w.get_of("guest-tenant", None).await), TokenError::TenantRefused { .. }));
    assert_eq!(w.entra.calls().len(), 1, "not asked again meanwhile");

    tokio::time::sleep(TENANT_BACKOFF).await;
    w.entra.set(Entra::Answers);
    secret(&w.get_of("guest-tenant", None).await);
    assert_eq!(w.entra.calls().len(), 2, "asked again after the back-off");
    let tenants: Vec<String> = w.entra.refreshes.lock().unwrap().iter().map(|(t, _)| t.clone()).collect();
    assert_eq!(tenants, ["guest-tenant"; 2], "asked at the tenant the token is for");

    // Refused at the account's own tenant: it must sign in again, as before.
    w.entra.set(Entra::Refuses);
    assert!(matches!(error(w.get_of("t", None).await), TokenError::NeedsSignIn { .. }));
    assert!(w.accounts.load().unwrap().accounts[0].needs_sign_in.is_some());
}

#[tokio::test(start_paused = true)]
async fn a_challenge_drops_the_cached_token_and_its_refresh_carries_the_claims() {
    let w = World::new(HOUR);
    let first = secret(&w.get_of("t", None).await);
    let claims = r#"{"access_token":{"nbf":{"essential":true,"value":"1"}}}"#;
    let second = secret(&w.get_of("t", Some(claims)).await);
    assert_ne!(first, second, "not the cached token");
    assert_eq!(secret(&w.get_of("t", None).await), second, "the new one is cached");
    let seen = w.entra.refreshes.lock().unwrap().clone();
    assert_eq!(seen, [("t".to_owned(), None), ("t".to_owned(), Some(claims.to_owned()))]);
}
