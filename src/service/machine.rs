//! Answers from non-interactive identities ([`crate::identity`]): the pipeline's job token,
//! `AZURE_DEVOPS_EXT_PAT`, applications, managed identities and the Azure CLI. They come
//! before the user's accounts and PATs, each only for the destinations it may be sent to, and
//! as `azdo.[<url>.]auth` and `azdo.[<url>.]identity` allow.

use super::{Answer, Service, Source, found, missed, request_url, token_answer};
use crate::azdo::{CollectionMatch, PAT_USERNAME, Scope};
use crate::choice::{Auth, Choices};
use crate::git::Credential;
use crate::identity::{self, Choice, MachineIdentity, MachineSources};
use crate::ipc::Miss;
use crate::resolve::Route;

impl Service {
    /// The answer of the first identity that may serve `request`, if any.
    pub(super) async fn machine_get(
        &self,
        request: &Credential,
        machine: &MachineSources,
        route: &Route,
        choices: &Choices,
        deadline: tokio::time::Instant,
    ) -> Option<Answer> {
        let scope = match route {
            Route::Organization { organization, .. } => Scope::Organization(organization.clone()),
            Route::Collection { pat } => pat.scope.clone(),
            // A pipeline on Azure DevOps Server: its job token serves its own collection.
            Route::NeedsHttpPath { .. } | Route::Stored => machine.identities.iter().find_map(|i| match i {
                MachineIdentity::PipelineToken { scope: scope @ Scope::Collection(c), .. }
                    if c.matches(request) == CollectionMatch::Inside =>
                {
                    Some(scope.clone())
                }
                _ => None,
            })?,
        };
        let mut urls: Vec<url::Url> = request_url(request).into_iter().collect();
        if let Scope::Organization(organization) = &scope {
            urls = self.urls(request, organization);
        }
        let auth = choices.auth.for_urls(&urls);
        let mut identities = machine.identities.clone();
        match choices.identity.for_urls(&urls) {
            Choice::None => return None,
            Choice::Auto => {}
            // Chosen in the daemon's git config: its own environment names the endpoint.
            Choice::Managed { client_id } => {
                let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
                identities.push(identity::managed(&var, client_id));
            }
            Choice::AzureCli => identities.push(MachineIdentity::AzureCli),
        }
        let allowed = |i: &MachineIdentity| match auth {
            Auth::Auto => true,
            Auth::Pat => i.is_pat(),
            Auth::OAuth => !i.is_pat(),
        };
        let identity = identities.iter().find(|i| i.serves(&scope) && allowed(i))?;
        Some(self.machine_answer(identity, request, deadline).await)
    }

    async fn machine_answer(
        &self,
        identity: &MachineIdentity,
        request: &Credential,
        deadline: tokio::time::Instant,
    ) -> Answer {
        let caps = request.capabilities;
        let source = Source::Machine(identity.clone());
        match identity {
            MachineIdentity::PipelineToken { token, .. } => found(token_answer(token, None, "build", caps), source),
            MachineIdentity::EnvPat { token } => {
                let username = request.username.clone().filter(|u| !u.is_empty());
                let username = username.unwrap_or_else(|| PAT_USERNAME.to_owned());
                let credential =
                    Credential { username: Some(username), password: Some(token.clone()), ..Credential::default() };
                found(credential, source)
            }
            MachineIdentity::Application { .. } | MachineIdentity::Managed { .. } | MachineIdentity::AzureCli => {
                match self.tokens.machine(identity, deadline).await {
                    Ok(token) => found(token_answer(&token.secret, Some(token.expires_utc()), "azdo", caps), source),
                    Err(e) => missed(Miss::Identity {
                        source: identity.to_string(),
                        reason: e.to_string(),
                        remedy: identity.remedy(),
                    }),
                }
            }
        }
    }
}
