//! [`Request::Token`](crate::ipc::Request::Token): what git's `get` would be answered with for an
//! organization, given out only when it is a token. The choice is `get`'s own, so `token`
//! and git always agree on the account or identity.

use super::{Answer, Service, Source};
use crate::choice::{Auth, Rules};
use crate::git::{Capabilities, Credential};
use crate::identity::{MachineIdentity, MachineSources};
use crate::ipc::{ErrorKind, Response, TokenAnswer};
use crate::resolve::Route;
use crate::store::StoreError;

impl Service {
    /// `entra_only` asks as if `azdo.<url>.auth` were `oauth` for every remote. Answered within
    /// `budget_ms`, as a `get`.
    pub(super) async fn token(
        &self,
        mut request: Credential,
        machine: MachineSources,
        entra_only: bool,
        budget_ms: Option<u64>,
    ) -> Result<Response, StoreError> {
        let Route::Organization { organization, .. } = self.resolver.route(&request)? else {
            return Ok(Response::Error {
                kind: ErrorKind::BadRequest,
                message: "that is not an Azure DevOps Services organization".to_owned(),
            });
        };
        // As a git without capabilities asks: the token is the password.
        request.capabilities = Capabilities::default();
        let urls = self.resolver.urls(&request, &organization);
        let (Answer { response, source }, chosen) = self
            .bounded(
                budget_ms,
                |network| async move {
                    // Inside the budget: reading the choices may run `git config`.
                    let mut choices = (*self.choices.get().await).clone();
                    if entra_only {
                        choices.auth = Rules::always(Auth::OAuth);
                    }
                    let chosen = choices.auth.for_urls(&urls) == Auth::Pat;
                    Ok((self.get_with(request, machine, &choices, network).await?, chosen))
                },
                |late| (late, false),
            )
            .await?;
        let (credential, miss) = match response {
            Response::Credential { credential, miss } => (credential, miss),
            other => return Ok(other),
        };
        // The expiry is the one served with the token, which a refresh meanwhile cannot change.
        let (token, expires_utc) = match credential {
            Some(c) => (c.password.or(c.credential), c.password_expiry_utc),
            None => (None, None),
        };
        let answer = match (source, token) {
            (Some(Source::Account(account)), Some(token)) => TokenAnswer::Account {
                token,
                expires_utc: expires_utc.unwrap_or_default(),
                username: account.username,
                tenant_id: account.tenant_id,
            },
            (Some(Source::Machine(identity @ MachineIdentity::EnvPat { .. })), Some(_)) => {
                TokenAnswer::Pat { what: identity.to_string(), chosen, instead_of: None }
            }
            (Some(Source::Machine(identity)), Some(token)) => TokenAnswer::Identity {
                token,
                expires_utc,
                azure_cli: identity == MachineIdentity::AzureCli,
                name: identity.to_string(),
            },
            (Some(Source::Pat { scope, instead_of }), Some(_)) => {
                TokenAnswer::Pat { what: format!("the PAT kept for {scope}"), chosen, instead_of }
            }
            (Some(Source::Stored), Some(_)) => TokenAnswer::Stored,
            (_, _) => TokenAnswer::Missed { miss },
        };
        Ok(Response::Token { organization, answer })
    }
}
