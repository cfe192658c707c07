//! The request handler: one [`Request`] in, one [`Response`] out.
//!
//! The daemon runs it for each connection; when the daemon cannot be reached, the helper runs
//! the very same code in-process on a small runtime of its own. Store work blocks (keyring
//! calls do), so it runs on blocking threads, never on an async worker.

use std::sync::Arc;
use std::time::Duration;

use crate::accounts::{Account, AccountStore};
use crate::azdo::Services;
use crate::config::Config;
use crate::git::{Capabilities, Credential};
use crate::ipc::{AccountStatus, ErrorKind, Miss, Request, Response, StatusReport};
use crate::resolve::{Resolver, Route};
use crate::secret::Secret;
use crate::store::{CredentialStore, StoreError, Vault};
use crate::tokens::{TokenCache, TokenError};

#[derive(Debug)]
pub struct Service {
    credentials: Arc<CredentialStore>,
    accounts: Arc<AccountStore>,
    resolver: Resolver,
    tokens: Arc<TokenCache>,
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
        // A refresh, retries included, ends well before the helper stops waiting.
        let budget = config.timeout.mul_f32(0.6).max(Duration::from_secs(1));
        Self {
            credentials,
            resolver: Resolver::new(Services::new(&config.devops_url), accounts.clone()),
            tokens: Arc::new(TokenCache::new(accounts.clone(), budget)),
            accounts,
        }
    }

    /// The token cache, whose [`TokenCache::keep_fresh`] the daemon runs.
    pub fn tokens(&self) -> &Arc<TokenCache> {
        &self.tokens
    }

    /// Answers `request`. [`Request::Shutdown`] is the caller's to act on; here it is `Done`.
    pub async fn handle(&self, request: Request) -> Response {
        let result = match request {
            Request::Get { credential } => self.get(credential).await,
            Request::Store { credential } => self.store(credential).await.map(|()| Response::Done),
            Request::Erase { credential } => self.erase(credential).await.map(|()| Response::Done),
            Request::Status => self.status().await.map(|status| Response::Status { status }),
            Request::Shutdown => Ok(Response::Done),
        };
        result.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "request failed");
            Response::Error { kind: ErrorKind::Store, message: error_chain(&e) }
        })
    }

    async fn get(&self, request: Credential) -> Result<Response, StoreError> {
        let found = |credential| Response::Credential { credential: Some(credential), miss: None };
        let missed = |miss| Response::Credential { credential: None, miss: Some(miss) };
        let (organization, user_hint) = match self.resolver.route(&request) {
            Route::Stored => {
                return Ok(Response::Credential { credential: self.stored_get(request).await?, miss: None });
            }
            Route::NeedsHttpPath => {
                return Ok(match self.stored_get(request).await? {
                    Some(stored) => found(stored),
                    None => missed(Miss::NeedsHttpPath),
                });
            }
            Route::Organization { organization, user_hint } => (organization, user_hint),
        };
        let account = self.resolver.account_for(&organization, user_hint.as_deref(), &request.wwwauth).await?;
        let Some(account) = account else {
            if let Some(stored) = self.stored_get(request.clone()).await? {
                return Ok(found(stored));
            }
            let tenant = self.resolver.tenant_for(&organization, &request.wwwauth, false).await;
            return Ok(missed(Miss::NoAccount { organization, tenant }));
        };
        Ok(match self.tokens.get(&account).await {
            Ok(token) => found(token_answer(&token.secret, token.expires_utc, &account.username, request.capabilities)),
            Err(TokenError::NeedsSignIn { username, reason }) => {
                missed(Miss::NeedsSignIn { organization, username, reason, tenant: account.tenant_id.clone() })
            }
            Err(TokenError::Refresh { username, source }) => {
                missed(Miss::Unavailable { organization, username, reason: source.to_string() })
            }
            Err(TokenError::Store(e)) => return Err(e),
        })
    }

    /// Entra tokens we handed out are never stored: they are ours to refresh.
    async fn store(&self, request: Credential) -> Result<(), StoreError> {
        if matches!(self.resolver.route(&request), Route::Organization { .. })
            && (self.is_our_token(&request) || self.is_account_answer(&request)?)
        {
            return Ok(());
        }
        self.blocking(move |credentials| credentials.store(&request)).await
    }

    /// git rejected a credential: one of our tokens is dropped from the cache (the refresh
    /// token is kept, and the next `get` refreshes); anything else is erased from storage.
    async fn erase(&self, request: Credential) -> Result<(), StoreError> {
        // Both are looked at: `|=` does not stop at the first.
        let mut ours = false;
        for token in [request.password.as_ref(), request.credential.as_ref()].into_iter().flatten() {
            ours |= self.tokens.forget(token);
        }
        if ours {
            return Ok(());
        }
        self.blocking(move |credentials| credentials.erase(&request)).await
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

    async fn stored_get(&self, request: Credential) -> Result<Option<Credential>, StoreError> {
        self.blocking(move |credentials| credentials.get(&request)).await
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&CredentialStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let credentials = self.credentials.clone();
        crate::store::blocking(move || work(&credentials)).await
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
        Ok(StatusReport { daemon: None, backend: self.credentials.backend(), credentials, accounts })
    }
}

/// Answers `request` in this process, as the daemon would (without its cached tokens): for
/// when no daemon can be reached, and for commands that read state when none runs.
pub fn answer_in_process(config: &Config, request: Request) -> anyhow::Result<Response> {
    use anyhow::Context as _;
    // Opened before the runtime starts: the keyring must not be set up on a runtime thread.
    let service = Service::open(config).context("failed to open the credential store")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    Ok(runtime.block_on(service.handle(request)))
}

/// Our answer with an account's token: a Bearer credential when git can take one, else the
/// token as the account's password (Azure DevOps accepts it over Basic with any username).
pub fn token_answer(token: &Secret, expires_utc: u64, username: &str, caps: Capabilities) -> Credential {
    let mut answer = Credential { password_expiry_utc: Some(expires_utc), ..Credential::default() };
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
