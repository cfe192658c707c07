//! Which source answers a git request: the domain's core decision, in one place.
//!
//! - Azure DevOps Services remotes ([`crate::azdo::Services::classify`]) are answered, per the
//!   user's [`crate::choice::Auth`], by the Entra account chosen for their organization
//!   ([`crate::accounts::Accounts::choose`]), or by its PAT, else by a credential git stored
//!   for them earlier ([`crate::service`] applies the order).
//! - A remote inside an Azure DevOps Server collection with a PAT is answered by that PAT.
//! - Everything else is answered from the credentials git stored.
//!
//! The organization's tenant, needed only to choose among several accounts or to sign in, is
//! learned in this order: the `Bearer authorization_uri` challenge git passed in `wwwauth[]`,
//! the tenant remembered for the organization, an unauthenticated `HEAD` of the organization,
//! and finally the `organizations` tenant.

use std::sync::Arc;

use crate::accounts::{Account, AccountStore, Pat, ServerPat};
use crate::azdo::{self, Remote, Scope, Services};
use crate::git::Credential;
use crate::secret::Secret;
use crate::store::StoreError;

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// An Azure DevOps Services organization.
    Organization { organization: String, user_hint: Option<String> },
    /// An Azure DevOps Server collection with a PAT.
    Collection { pat: Pat },
    /// A server whose organization or collection is named by the path, which git did not send:
    /// `credential.{origin}.useHttpPath` is not set.
    NeedsHttpPath { origin: String },
    /// Any other host: the credentials git stored.
    Stored,
}

#[derive(Debug)]
pub struct Resolver {
    services: Services,
    accounts: Arc<AccountStore>,
    http: reqwest::Client,
}

impl Resolver {
    pub fn new(services: Services, accounts: Arc<AccountStore>) -> Self {
        Self { services, accounts, http: crate::entra::http_client() }
    }

    pub fn route(&self, request: &Credential) -> Result<Route, StoreError> {
        Ok(match self.services.classify(request) {
            Remote::Services { organization, user_hint } => Route::Organization { organization, user_hint },
            Remote::ServicesWithoutOrganization => Route::NeedsHttpPath { origin: self.services.origin() },
            Remote::Other => match self.accounts.load()?.server_pat(request) {
                ServerPat::Found(pat) => Route::Collection { pat: pat.clone() },
                ServerPat::NeedsPath { origin } => Route::NeedsHttpPath { origin: origin.to_owned() },
                ServerPat::None => Route::Stored,
            },
        })
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Whether Azure DevOps takes `secret` as a PAT for `scope` ([`azdo::check_pat`]).
    pub async fn check_pat(&self, scope: &Scope, secret: &Secret) -> Result<String, azdo::CheckError> {
        azdo::check_pat(&self.http, &self.services, scope, secret, azdo::DISCOVERY_TIMEOUT).await
    }

    /// The account that answers for `organization`, discovering its tenant only when several
    /// accounts could.
    pub async fn account_for(
        &self,
        organization: &str,
        user_hint: Option<&str>,
        wwwauth: &[String],
    ) -> Result<Option<Account>, StoreError> {
        let all = self.accounts.load()?;
        if let Some(account) = all.choose(organization, user_hint, || None) {
            return Ok(Some(account.clone()));
        }
        // Only the tenant can still decide, and only between several accounts.
        if all.accounts.len() < 2 {
            return Ok(None);
        }
        let Some(tenant) = self.tenant_for(organization, wwwauth, true).await else { return Ok(None) };
        Ok(all.choose(organization, user_hint, || Some(tenant)).cloned())
    }

    /// The organization's tenant, from `wwwauth`, the remembered one, or (when `discover`)
    /// Azure DevOps itself. What is learned is remembered.
    pub async fn tenant_for(&self, organization: &str, wwwauth: &[String], discover: bool) -> Option<String> {
        if let Some(tenant) = azdo::tenant_from_wwwauth(wwwauth) {
            self.remember(organization, &tenant).await;
            return Some(tenant);
        }
        let remembered = self.accounts.load().ok().and_then(|all| all.tenants.get(organization).cloned());
        if remembered.is_some() || !discover {
            return remembered;
        }
        let tenant = azdo::discover_tenant(&self.http, &self.services, organization).await?;
        self.remember(organization, &tenant).await;
        Some(tenant)
    }

    async fn remember(&self, organization: &str, tenant: &str) {
        let (store, organization, tenant) = (self.accounts.clone(), organization.to_owned(), tenant.to_owned());
        if let Err(e) = crate::store::blocking(move || store.remember_tenant(&organization, &tenant)).await {
            tracing::warn!(error = %e, "failed to remember a tenant");
        }
    }
}
