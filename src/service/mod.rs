//! The request handler: one [`Request`] in, one [`Response`] out.
//!
//! The daemon runs it for each connection; when the daemon cannot be reached, the helper runs
//! the very same code in-process on a small runtime of its own. Store work blocks (keyring
//! calls do), so it runs on blocking threads, never on an async worker.

mod machine;
mod token;

use std::sync::Arc;
use std::time::Duration;

use crate::accounts::{Account, AccountStore, Pat};
use crate::azdo::{self, CheckError, PAT_USERNAME, Scope, Services};
use crate::choice::{Choices, LiveChoices};
use crate::config::Config;
use crate::git::{Capabilities, Credential};
use crate::identity::{MachineIdentity, MachineSources};
use crate::ipc::{AccountStatus, ErrorKind, LogoutTarget, Miss, PatOutcome, Request, Response, StatusReport};
use crate::resolve::{Plan, Resolver, Route, Step};
use crate::secret::Secret;
use crate::store::{CredentialStore, StoreError, Vault};
use crate::tokens::{Online, TokenCache, TokenError, TokenSource};

/// The longest a request may ask the service to take over it: a budget beyond this (a bad
/// client's, or a deadline set to hours) is cut to it.
const MAX_BUDGET: Duration = Duration::from_secs(10 * 60);
/// What an answer computed in-process keeps of its deadline for ending its work (the network
/// calls given up, the runtime shut down) and printing the answer.
const IN_PROCESS_ANSWER_RESERVE: Duration = Duration::from_millis(200);
/// What a `get` keeps of its budget for the local work after waiting on the network: answering
/// with a PAT when no token could be had, and writing the answer. Less than what the callers keep
/// in reserve after the budget (the helper's 0.3 s across the socket, 0.2 s in-process).
const LOCAL_WORK: Duration = Duration::from_millis(100);

#[derive(Debug)]
pub struct Service {
    /// Where the state files are: for cleaning up after crashes and `logout --all`.
    state_dir: std::path::PathBuf,
    credentials: Arc<CredentialStore>,
    accounts: Arc<AccountStore>,
    resolver: Resolver,
    tokens: Arc<TokenCache>,
    choices: LiveChoices,
}

impl Service {
    /// Opens the stores. Blocks, and must not run on an async worker thread: the keyring's
    /// Linux backend is set up here.
    pub fn open(config: &Config) -> Result<Self, StoreError> {
        let vault = Arc::new(Vault::open(&config.state_dir, config.store)?);
        let credentials = Arc::new(CredentialStore::with_vault(&config.state_dir, vault.clone()));
        let accounts = Arc::new(AccountStore::new(&config.state_dir, vault));
        Ok(Self::new(config, credentials, accounts))
    }

    pub fn new(config: &Config, credentials: Arc<CredentialStore>, accounts: Arc<AccountStore>) -> Self {
        Self::with_token_source(config, credentials, accounts, Arc::new(Online::new()))
    }

    /// A service whose tokens come from `source` (tests give a fake).
    pub fn with_token_source(
        config: &Config,
        credentials: Arc<CredentialStore>,
        accounts: Arc<AccountStore>,
        source: Arc<dyn TokenSource>,
    ) -> Self {
        // A refresh ahead of expiry, retries included, and a `get` whose request names no
        // budget, end well before the helper's deadline.
        let budget = config.timeout.mul_f32(0.6).max(Duration::from_secs(1));
        Self {
            state_dir: config.state_dir.clone(),
            credentials,
            resolver: Resolver::new(Services::new(&config.devops_url), accounts.clone()),
            tokens: Arc::new(TokenCache::new(accounts.clone(), source, budget)),
            accounts,
            choices: LiveChoices::new(&config.git),
        }
    }

    /// Removes what crashes left in the state directory: temporary files of interrupted
    /// writes, which may hold secrets. Blocks (file system work). A failure is logged only: the
    /// leftovers are tried again next time.
    pub fn remove_leftovers(&self) {
        if let Err(e) = remove_leftovers(&self.state_dir) {
            tracing::warn!(dir = %self.state_dir.display(), error = %e, "failed to remove leftovers of a crash");
        }
    }

    /// The token cache, whose [`TokenCache::keep_fresh`] the daemon runs.
    pub fn tokens(&self) -> &Arc<TokenCache> {
        &self.tokens
    }

    /// Answers `request`. [`Request::Shutdown`] is the caller's to act on; here it is `Done`.
    pub async fn handle(&self, request: Request) -> Response {
        let result = match request {
            Request::Get { credential, machine, budget_ms } => self.get_within(credential, machine, budget_ms).await,
            Request::Token { credential, machine, entra_only, budget_ms } => {
                self.token(credential, machine, entra_only, budget_ms).await
            }
            Request::Store { credential } => self.store(credential).await.map(|()| Response::Done),
            Request::Erase { credential } => self.erase(credential).await,
            Request::Status => self.status().await.map(|status| Response::Status { status }),
            Request::Logout { target } => self.logout(target).await,
            Request::Shutdown => Ok(Response::Done),
        };
        result.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "request failed");
            Response::Error { kind: ErrorKind::Store, message: error_chain(&e) }
        })
    }

    /// git's `get`, answered within `budget_ms` (the service's default when `None`) whatever
    /// the network does.
    async fn get_within(
        &self,
        request: Credential,
        machine: MachineSources,
        budget_ms: Option<u64>,
    ) -> Result<Response, StoreError> {
        let answer = self
            .bounded(
                budget_ms,
                |network| async move {
                    // Inside the budget: reading the choices may run `git config`.
                    let choices = self.choices.get().await;
                    self.get_with(request, machine, &choices, network).await
                },
                |late| late,
            )
            .await?;
        Ok(answer.response)
    }

    /// Runs `get`, which is given the deadline for its network waits, within `budget_ms` (the
    /// service's default when `None`): past it, one line says so, as an answer `late` turns
    /// into what `get` gives.
    async fn bounded<T, F: Future<Output = Result<T, StoreError>>>(
        &self,
        budget_ms: Option<u64>,
        get: impl FnOnce(tokio::time::Instant) -> F,
        late: impl FnOnce(Answer) -> T,
    ) -> Result<T, StoreError> {
        let budget = budget_ms.map_or(self.tokens.budget(), Duration::from_millis).min(MAX_BUDGET);
        let now = tokio::time::Instant::now();
        // Local work (a stored credential, a cached token) is given its time even when nothing
        // is left for the network: the caller keeps more than that in reserve.
        let deadline = now + budget.max(LOCAL_WORK);
        // Network waits end early enough for the local work after them.
        let network = deadline.checked_sub(LOCAL_WORK).unwrap_or(now).max(now);
        if let Ok(result) = tokio::time::timeout_at(deadline, get(network)).await {
            return result;
        }
        tracing::warn!(budget_ms = budget.as_millis(), "no answer within the budget");
        let message =
            format!("could not answer within {:.1} s; try again in a moment", budget.max(LOCAL_WORK).as_secs_f32());
        Ok(late(Answer { response: Response::Error { kind: ErrorKind::TimedOut, message }, source: None }))
    }

    /// A `get` with `choices` for the user's, whose network waits end by `deadline`: the
    /// resolver's [`Plan`], carried out.
    async fn get_with(
        &self,
        request: Credential,
        machine: MachineSources,
        choices: &Choices,
        deadline: tokio::time::Instant,
    ) -> Result<Answer, StoreError> {
        let plan = self.resolver.plan(&request, &machine, choices).await?;
        self.carry_out(plan, &request, deadline).await
    }

    /// Tries the plan's steps in order; the first credential answers. A PAT that answers after
    /// an account could not says why the account could not.
    async fn carry_out(
        &self,
        plan: Plan,
        request: &Credential,
        deadline: tokio::time::Instant,
    ) -> Result<Answer, StoreError> {
        let Plan { steps, otherwise, setup_problem } = plan;
        let (mut first_miss, mut last_miss) = (None, None);
        for step in steps {
            match self.attempt(step, request, deadline).await? {
                Ok(mut answer) => {
                    if let Some(Source::Pat { instead_of, .. }) = &mut answer.source {
                        *instead_of = first_miss;
                    }
                    return Ok(answer);
                }
                Err(miss) => {
                    if first_miss.is_none() {
                        first_miss.clone_from(&miss);
                    }
                    last_miss = miss;
                }
            }
        }
        // A half-configured identity explains a miss better than the usual words.
        let miss = match setup_problem {
            Some(problem) => Some(Miss::MachineSetup { problem }),
            None => last_miss.or(otherwise),
        };
        Ok(Answer { response: Response::Credential { credential: None, miss }, source: None })
    }

    /// One step of a plan: its answer, or why it gave none.
    async fn attempt(
        &self,
        step: Step,
        request: &Credential,
        deadline: tokio::time::Instant,
    ) -> Result<Result<Answer, Option<Miss>>, StoreError> {
        Ok(match step {
            Step::Machine(identity) => self.machine_answer(&identity, request, deadline).await,
            Step::Account { account, organization, tenant, claims } => {
                self.token_answer(&account, request, organization, &tenant, claims, deadline).await?
            }
            Step::Missed(miss) => Err(Some(miss)),
            Step::Pat(pat) => self.pat_answer(&pat, request).await?,
            Step::Stored => match self.stored_get(request.clone()).await? {
                Some(stored) => Ok(found(stored, Source::Stored)),
                None => Err(None),
            },
        })
    }

    /// The account's token of `tenant` (satisfying a challenge's `claims`), or why it cannot
    /// be had.
    async fn token_answer(
        &self,
        account: &Account,
        request: &Credential,
        organization: String,
        tenant: &str,
        claims: Option<String>,
        deadline: tokio::time::Instant,
    ) -> Result<Result<Answer, Option<Miss>>, StoreError> {
        let miss = match self.tokens.get(account, tenant, claims.as_deref(), deadline).await {
            Ok(token) => {
                if claims.is_some() {
                    self.resolver.challenge_met(&organization);
                }
                let answer =
                    token_answer(&token.secret, Some(token.expires_utc()), &account.username, request.capabilities);
                return Ok(Ok(found(answer, Source::Account(account.clone()))));
            }
            Err(TokenError::NeedsSignIn { username, reason }) => {
                // Signed in again where the token is asked for: the organization's tenant.
                Miss::NeedsSignIn { organization, username, reason, tenant: tenant.to_owned(), claims }
            }
            Err(TokenError::TenantRefused { username, tenant, reason }) => {
                Miss::TenantRefused { organization, username, tenant, reason }
            }
            Err(TokenError::Refresh { username, source }) => {
                Miss::Unavailable { organization, username, reason: source.to_string() }
            }
            // Not an account's: cannot happen.
            Err(e @ TokenError::Identity(_)) => {
                Miss::Unavailable { organization, username: account.username.clone(), reason: e.to_string() }
            }
            // Shared with the other requests that waited on the same refresh: answered as it is.
            Err(TokenError::Store(e)) => {
                tracing::warn!(error = %e, "request failed");
                let response = Response::Error { kind: ErrorKind::Store, message: error_chain(&*e) };
                return Ok(Ok(Answer { response, source: None }));
            }
        };
        Ok(Err(Some(miss)))
    }

    /// The PAT, over Basic with any non-empty username (the request's, if it has one). Its
    /// expiry is not passed on: the user may have extended the PAT since telling us.
    async fn pat_answer(&self, pat: &Pat, request: &Credential) -> Result<Result<Answer, Option<Miss>>, StoreError> {
        let Some(secret) = self.pat_secret(pat).await? else {
            tracing::warn!(scope = %pat.scope, "the PAT is missing from the secret store");
            return Ok(Err(Some(Miss::NoPat { scope: pat.scope.clone() })));
        };
        let source = Source::Pat { scope: pat.scope.clone(), instead_of: None };
        Ok(Ok(found(pat_credential(&secret, request), source)))
    }

    async fn pat_secret(&self, pat: &Pat) -> Result<Option<Secret>, StoreError> {
        let (accounts, pat) = (self.accounts.clone(), pat.clone());
        crate::store::blocking(move || accounts.pat_secret(&pat)).await
    }

    /// The PAT that `request` would have been answered with, if its password is that PAT.
    async fn pat_in(&self, request: &Credential, route: &Route) -> Result<Option<(Pat, Secret)>, StoreError> {
        let pat = match route {
            Route::Collection { pat } => pat.clone(),
            Route::Organization { organization, .. } => {
                let scope = Scope::Organization(organization.clone());
                let Some(pat) = self.accounts.load()?.pat(&scope).cloned() else {
                    return Ok(None);
                };
                pat
            }
            Route::NeedsHttpPath { .. } | Route::Stored | Route::Insecure { .. } => return Ok(None),
        };
        let given = request.secrets();
        if given.is_empty() {
            return Ok(None);
        }
        Ok(self.pat_secret(&pat).await?.filter(|secret| given.contains(secret)).map(|secret| (pat, secret)))
    }

    fn is_our_token(&self, request: &Credential) -> bool {
        [request.password.as_ref(), request.credential.as_ref()].into_iter().flatten().any(|t| self.tokens.is_ours(t))
    }

    /// Whether `request` is what we answer for an organization with an Entra account (its
    /// username and a token): recognisable even when this process did not hand it out.
    fn is_account_answer(&self, request: &Credential) -> Result<bool, StoreError> {
        let Some(username) = request.username.as_deref() else { return Ok(false) };
        Ok(self.accounts.load()?.accounts.iter().any(|a| a.username.eq_ignore_ascii_case(username)))
    }

    /// Entra tokens and PATs we handed out are never stored: they are ours already.
    async fn store(&self, request: Credential) -> Result<(), StoreError> {
        let route = self.resolver.route(&request)?;
        if matches!(route, Route::Organization { .. })
            && (self.is_our_token(&request) || self.is_account_answer(&request)?)
        {
            return Ok(());
        }
        if self.pat_in(&request, &route).await?.is_some() {
            return Ok(());
        }
        // git's store of the credential it just used: most often kept already, which is told here
        // without a hand-over to a blocking thread (as a warm `get`).
        if self.credentials.kept_already_cached(&request) {
            return Ok(());
        }
        self.blocking(move |credentials| credentials.store(&request)).await
    }

    /// git rejected a credential: one of our tokens is dropped from the cache (the refresh
    /// token is kept, and the next `get` refreshes); a PAT is removed unless Azure DevOps still
    /// accepts it; anything else is erased from storage.
    async fn erase(&self, request: Credential) -> Result<Response, StoreError> {
        let given = request.secrets();
        // A non-interactive identity's token refused: most often it is not a user of the
        // organization, which only an administrator can change. Say so.
        if let Some(identity) = given.iter().find_map(|token| self.tokens.machine_of(token)) {
            for token in &given {
                self.tokens.forget(token);
            }
            return Ok(Response::MachineRefused { source: identity.to_string(), remedy: identity.remedy() });
        }
        let route = self.resolver.route(&request)?;
        let refused_by = match &route {
            Route::Organization { organization, .. } => Some(organization.clone()),
            _ => None,
        };
        if let Some(organization) = &refused_by {
            // What the 401 says: the organization's tenant, or a claims challenge.
            self.resolver.tenant_for(organization, &request.wwwauth, false).await;
            if let Some(claims) = crate::entra::claims::challenge_from_wwwauth(&request.wwwauth) {
                self.resolver.note_challenge(organization, claims);
            }
        }
        let account = given.iter().find_map(|token| self.tokens.account_of(token));
        // Both are looked at: `|=` does not stop at the first.
        let mut ours = false;
        for token in &given {
            ours |= self.tokens.forget(token);
        }
        if ours {
            return self.account_refused(&request, account, refused_by);
        }
        if let Some((pat, secret)) = self.pat_in(&request, &route).await? {
            return self.refused(pat, secret, &request).await;
        }
        if matches!(route, Route::Organization { .. }) && self.is_account_answer(&request)? {
            return self.account_refused(&request, None, refused_by);
        }
        self.blocking(move |credentials| credentials.erase(&request)).await.map(|()| Response::Done)
    }

    /// Azure DevOps refused an account's token for an organization (the token is dropped
    /// already): a claims challenge is met by the next `get`; otherwise a refusal git saw (the
    /// 401's challenges came with it) is counted, and a second one in a row keeps the account
    /// from the organization for a while.
    fn account_refused(
        &self,
        request: &Credential,
        token: Option<(String, String, tokio::time::Instant)>,
        organization: Option<String>,
    ) -> Result<Response, StoreError> {
        let Some(organization) = organization else { return Ok(Response::Done) };
        let all = self.accounts.load()?;
        // The token's account, else the one its username names (a token this daemon did not
        // hand out: it restarted, or the helper answered by itself).
        let account = match &token {
            Some((id, _, _)) => all.by_id(id),
            None => request.username.as_deref().and_then(|u| all.find(u)),
        };
        let Some(account) = account else { return Ok(Response::Done) };
        let username = account.username.clone();
        if crate::entra::claims::challenge_from_wwwauth(&request.wwwauth).is_some() {
            return Ok(Response::ClaimsChallenge { organization, username });
        }
        // Without the 401's challenges (a `git credential reject`, a git before 2.41) nothing
        // says Azure DevOps refused it: the token is dropped, and that is all.
        if request.wwwauth.is_empty() {
            return Ok(Response::Done);
        }
        // A token of unknown age counts as fetched now.
        let requested = token.map_or_else(tokio::time::Instant::now, |(_, _, at)| at);
        let again = self.resolver.note_refusal(account, &organization, requested.into_std());
        Ok(Response::AccountRefused { organization, username, again })
    }

    /// Azure DevOps refused a PAT for a repository: it is asked, without side effects, whether
    /// it takes the PAT at all. When it says no (401, or the sign-in page), the PAT is removed;
    /// when it says yes (the repository needs a scope or access the PAT lacks), or gives no
    /// answer about the PAT, the PAT is kept.
    ///
    /// When git sent it as a password (not as a Basic credential of ours) and the server offers
    /// Windows authentication, git's curl most likely sent it with NTLM, which is said instead.
    async fn refused(&self, pat: Pat, secret: Secret, request: &Credential) -> Result<Response, StoreError> {
        let outcome = match self.resolver.check_pat(&pat.scope, &secret).await {
            Ok(_) => PatOutcome::KeptValid,
            Err(e @ (CheckError::Refused(401) | CheckError::SignInPage(_))) => {
                tracing::info!(scope = %pat.scope, reason = %e, "removing a refused PAT");
                let (accounts, pat) = (self.accounts.clone(), pat.clone());
                crate::store::blocking(move || accounts.remove_pat(&pat)).await?;
                PatOutcome::Removed
            }
            // Unreachable, or an answer that says nothing about the PAT (5xx, 429, 404).
            Err(e) => {
                tracing::info!(scope = %pat.scope, reason = %e, "keeping a refused PAT that could not be checked");
                PatOutcome::KeptUnconfirmed
            }
        };
        let as_password = request.basic_password().is_none();
        let windows_auth = outcome == PatOutcome::KeptValid
            && as_password
            && match azdo::windows_auth_in(&request.wwwauth) {
                Some(offered) => offered,
                None => self.resolver.offers_windows_auth(&pat.scope).await,
            };
        Ok(Response::PatRefused { scope: pat.scope, outcome, windows_auth })
    }

    /// A stored credential whose secret was read before is answered right here (a `stat` of its
    /// host's file, and a read when it changed); else on a blocking thread, which may call the
    /// keyring. The hand-over to a thread and back is most of a warm `get`'s time in the daemon.
    async fn stored_get(&self, request: Credential) -> Result<Option<Credential>, StoreError> {
        if let Some(answer) = self.credentials.get_cached(&request) {
            return answer;
        }
        self.blocking(move |credentials| credentials.get(&request)).await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&CredentialStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let credentials = self.credentials.clone();
        crate::store::blocking(move || work(&credentials)).await
    }

    /// Removes what `target` names, secrets first, and drops the tokens cached for it.
    async fn logout(&self, target: LogoutTarget) -> Result<Response, StoreError> {
        let all = self.accounts.load()?;
        let (accounts, pats): (Vec<Account>, Vec<Pat>) = match &target {
            LogoutTarget::Account { selector } => (all.find(selector).into_iter().cloned().collect(), Vec::new()),
            LogoutTarget::Pat { scope } => (Vec::new(), all.pat(scope).into_iter().cloned().collect()),
            LogoutTarget::All => (all.accounts.clone(), all.pats.clone()),
        };
        let mut signed_out = Vec::new();
        for account in accounts {
            let store = self.accounts.clone();
            let id = account.id.clone();
            if crate::store::blocking(move || store.remove_account(&id)).await?.is_some() {
                self.tokens.forget_account(&account.id);
                signed_out.push(account.username);
            }
        }
        let mut removed_pats = Vec::new();
        for pat in pats {
            let store = self.accounts.clone();
            let scope = pat.scope.clone();
            if crate::store::blocking(move || store.remove_pat(&pat)).await? {
                removed_pats.push(scope);
            }
        }
        let credentials = if target == LogoutTarget::All {
            self.blocking(|credentials| {
                let stored = credentials.list()?;
                // An erase naming only protocol and host removes every entry for that host.
                let mut hosts: Vec<(&str, &str)> =
                    stored.iter().map(|e| (e.protocol.as_str(), e.host.as_str())).collect();
                hosts.dedup();
                for (protocol, host) in hosts {
                    credentials.erase(&Credential {
                        protocol: Some(protocol.to_owned()),
                        host: Some(host.to_owned()),
                        ..Credential::default()
                    })?;
                }
                Ok(stored.len())
            })
            .await?
        } else {
            0
        };
        // Whatever was left behind goes too: temporary copies of state files a crash left, and
        // after `--all` the secrets file with anything still in it (secrets whose metadata was
        // lost) and the corrupt copies set aside from it.
        let (state_dir, all) = (self.state_dir.clone(), target == LogoutTarget::All);
        crate::store::blocking(move || {
            remove_leftovers(&state_dir).map_err(|source| StoreError::Io {
                action: "clean up",
                path: state_dir.clone(),
                source,
            })?;
            if all {
                crate::store::FileStore::new(&state_dir).remove_all()?;
            }
            Ok(())
        })
        .await?;
        Ok(Response::LoggedOut { accounts: signed_out, pats: removed_pats, credentials })
    }

    /// What is stored, without daemon details (the daemon adds its own).
    pub async fn status(&self) -> Result<StatusReport, StoreError> {
        let credentials = self.blocking(CredentialStore::list).await?;
        let expiries = self.tokens.expiries();
        let accounts = self
            .accounts
            .load()?
            .accounts
            .iter()
            .map(|account: &Account| AccountStatus {
                username: account.username.clone(),
                tenant_id: account.tenant_id.clone(),
                organizations: account.organizations.clone(),
                token_expires_utc: expiries.get(&account.id).copied(),
                needs_sign_in: account.needs_sign_in.clone(),
                backend: account.backend,
            })
            .collect();
        let pats = self.accounts.load()?.pats.clone();
        Ok(StatusReport {
            daemon: None,
            backend: self.credentials.backend(),
            file_store: self.credentials.file_reason(),
            credentials,
            accounts,
            pats,
        })
    }
}

/// What answered a `get`. `token` says it, and gives out only tokens.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// A signed-in Entra account's access token.
    Account(Account),
    /// The PAT kept for an organization or collection; `instead_of` is why the account that
    /// comes first could not answer.
    Pat { scope: Scope, instead_of: Option<Miss> },
    /// A non-interactive identity of the asking environment.
    Machine(MachineIdentity),
    /// A credential git stored.
    Stored,
}

/// A `get`'s response and, when a credential answers, what gave it.
#[derive(Debug)]
pub(crate) struct Answer {
    pub response: Response,
    pub source: Option<Source>,
}

/// Removes the temporary files crashes left in `state_dir` and in its directories of secrets'
/// and hosts' files; returns how many.
fn remove_leftovers(state_dir: &std::path::Path) -> std::io::Result<usize> {
    let mut removed = crate::fs::remove_leftovers(state_dir)?;
    for dir in [crate::store::SECRETS_DIR, crate::store::CREDENTIALS_DIR] {
        removed += crate::fs::remove_leftovers(&state_dir.join(dir))?;
    }
    Ok(removed)
}

/// Answers `request` in this process, as the daemon would (without its cached tokens): for
/// commands that read state when no daemon runs.
pub fn answer_in_process(config: &Config, request: Request) -> anyhow::Result<Response> {
    let (service, runtime) = in_process(config)?;
    Ok(runtime.block_on(service.handle(request)))
}

/// Answers `request` in this process by `deadline` (a `get` is given what is left of it once
/// the stores are open): git's request when the daemon could not answer.
pub fn answer_in_process_by(
    config: &Config,
    request: &Request,
    deadline: std::time::Instant,
) -> anyhow::Result<Response> {
    let (service, runtime) = in_process(config)?;
    let response = runtime.block_on(service.handle(request.within_reserving(deadline, IN_PROCESS_ANSWER_RESERVE)));
    // Store work given up at the deadline (a keyring call, a lock waited for) is not waited for:
    // this process ends once git has the answer.
    runtime.shutdown_background();
    Ok(response)
}

fn in_process(config: &Config) -> anyhow::Result<(Service, tokio::runtime::Runtime)> {
    use anyhow::Context as _;
    // Opened before the runtime starts: the keyring must not be set up on a runtime thread.
    let service = Service::open(config).context("failed to open the credential store")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    Ok((service, runtime))
}

pub(crate) fn found(credential: Credential, source: Source) -> Answer {
    Answer { response: Response::Credential { credential: Some(credential), miss: None }, source: Some(source) }
}

/// Our answer with an account's token: a Bearer credential when git can take one, else the
/// token as the account's password (Azure DevOps accepts it over Basic with any username).
pub fn token_answer(token: &Secret, expires_utc: Option<u64>, username: &str, caps: Capabilities) -> Credential {
    let mut answer = Credential { password_expiry_utc: expires_utc, ..Credential::default() };
    if caps.authtype {
        answer.capabilities.authtype = true;
        answer.authtype = Some("Bearer".into());
        answer.credential = Some(token.clone());
        answer.ephemeral = true;
    } else {
        answer.username = Some(username.to_owned());
        answer.password = Some(token.clone());
    }
    answer
}

/// A PAT for git, sent over Basic with the request's username (any non-empty one will do). When
/// git can take it (2.46 and later announce `capability[]=authtype`), the `Authorization`
/// value is given whole (`authtype=Basic`, `credential=base64(user:PAT)`), so that git sends
/// Basic and nothing else: a server that also offers Windows authentication (Azure DevOps
/// Server on IIS) would otherwise have curl pick NTLM, which refuses the PAT. Otherwise the PAT
/// is the password.
pub fn pat_credential(pat: &Secret, request: &Credential) -> Credential {
    use base64::Engine as _;
    let username = request.username.clone().filter(|u| !u.is_empty()).unwrap_or_else(|| PAT_USERNAME.to_owned());
    if !request.capabilities.authtype {
        return Credential { username: Some(username), password: Some(pat.clone()), ..Credential::default() };
    }
    let pair = zeroize::Zeroizing::new(format!("{username}:{}", pat.expose()));
    let mut answer = Credential {
        authtype: Some("Basic".into()),
        credential: Some(Secret::new(base64::engine::general_purpose::STANDARD.encode(pair.as_bytes()))),
        ephemeral: true,
        ..Credential::default()
    };
    answer.capabilities.authtype = true;
    answer
}

/// An error and its causes on one line, as the user sees it.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
