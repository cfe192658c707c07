//! Which source answers a git request: the domain's core decision, in one place.
//!
//! [`Resolver::plan`] turns a `get` into a [`Plan`]: the sources to try in order and what git is
//! told when none answers. [`crate::service`] carries the plan out (it fetches tokens and reads
//! secrets) and decides nothing of its own.
//!
//! - A non-interactive identity configured where git runs ([`crate::identity`]) answers first,
//!   where it may be sent and as `azdo.[<url>.]auth` and `.identity` allow.
//! - Azure DevOps Services remotes ([`crate::azdo::Services::classify`]) are answered, per the
//!   user's [`crate::choice::Auth`], by the Entra account chosen for their organization
//!   ([`crate::accounts::Accounts::choose`]), or by its PAT, else by a credential git stored
//!   for them earlier.
//! - A remote inside an Azure DevOps Server collection with a PAT is answered by that PAT.
//! - Everything else is answered from the credentials git stored.
//!
//! The organization's tenant, needed only to choose among several accounts or to sign in, is
//! learned in this order: the `Bearer authorization_uri` challenge git passed in `wwwauth[]`,
//! the tenant remembered for the organization, an unauthenticated `HEAD` of the organization,
//! and finally the `organizations` tenant.

use std::sync::Arc;

use crate::accounts::{Account, AccountStore, Pat, ServerPat};
use crate::azdo::{self, CollectionMatch, Remote, Scope, Services};
use crate::choice::{Auth, Choices};
use crate::git::Credential;
use crate::identity::{self, Choice, MachineIdentity, MachineSources};
use crate::ipc::Miss;
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

/// Who answers a `get`: the [steps](Step) in order, the first that gives a credential answering.
/// When none does, git is told the last step's reason, else `otherwise`; a half-configured
/// non-interactive identity (`setup_problem`) explains a miss better than either.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub otherwise: Option<Miss>,
    pub setup_problem: Option<String>,
}

/// One source to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A non-interactive identity of the asking environment.
    Machine(MachineIdentity),
    /// An Entra account's access token for `organization`.
    Account { account: Account, organization: String },
    /// The PAT kept for an organization or collection.
    Pat(Pat),
    /// A credential git stored.
    Stored,
}

impl Plan {
    fn only(step: Step) -> Self {
        Self { steps: vec![step], otherwise: None, setup_problem: None }
    }

    fn missed(miss: Miss) -> Self {
        Self { steps: Vec::new(), otherwise: Some(miss), setup_problem: None }
    }
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

    /// Who answers `request`, asked from an environment with `machine`, under `choices`.
    pub async fn plan(
        &self,
        request: &Credential,
        machine: &MachineSources,
        choices: &Choices,
    ) -> Result<Plan, StoreError> {
        let route = self.route(request)?;
        // Non-interactive identities configured where git runs answer first, where they may.
        if let Some(identity) = self.machine_for(request, machine, &route, choices) {
            return Ok(Plan::only(Step::Machine(identity)));
        }
        let azure_devops = matches!(route, Route::Organization { .. } | Route::Collection { .. });
        let mut plan = match route {
            Route::Stored => Plan::only(Step::Stored),
            Route::NeedsHttpPath { origin } => {
                Plan { otherwise: Some(Miss::NeedsHttpPath { origin }), ..Plan::only(Step::Stored) }
            }
            Route::Collection { pat } => Plan::only(Step::Pat(pat)),
            Route::Organization { organization, user_hint } => {
                self.organization_plan(request, organization, user_hint, choices).await?
            }
        };
        if azure_devops {
            plan.setup_problem.clone_from(&machine.problem);
        }
        Ok(plan)
    }

    /// An organization's sources, in the order the user chose (see [`Auth`]).
    async fn organization_plan(
        &self,
        request: &Credential,
        organization: String,
        user_hint: Option<String>,
        choices: &Choices,
    ) -> Result<Plan, StoreError> {
        let scope = Scope::Organization(organization.clone());
        let choice = choices.auth.for_urls(&self.urls(request, &organization));
        let all = self.accounts.load()?;
        let pat = all.pat(&scope).cloned();
        match choice {
            Auth::Pat => {
                return Ok(match pat {
                    Some(pat) => Plan::only(Step::Pat(pat)),
                    None => Plan::missed(Miss::NoPat { scope }),
                });
            }
            Auth::Auto => {
                if let Some(account) = all.chosen(&organization, user_hint.as_deref()) {
                    // The PAT answers when the account's token cannot be had.
                    let account = Step::Account { account: account.clone(), organization };
                    let steps = [Some(account), pat.map(Step::Pat)].into_iter().flatten().collect();
                    return Ok(Plan { steps, otherwise: None, setup_problem: None });
                }
                if let Some(pat) = pat {
                    return Ok(Plan::only(Step::Pat(pat)));
                }
            }
            Auth::OAuth => {}
        }
        let account = self.account_for(&organization, user_hint.as_deref(), &request.wwwauth).await?;
        if let Some(account) = account {
            return Ok(Plan::only(Step::Account { account, organization }));
        }
        let tenant = self.tenant_for(&organization, &request.wwwauth, false).await;
        Ok(Plan { otherwise: Some(Miss::NoAccount { organization, tenant }), ..Plan::only(Step::Stored) })
    }

    /// The first non-interactive identity that may serve `request`, if any.
    fn machine_for(
        &self,
        request: &Credential,
        machine: &MachineSources,
        route: &Route,
        choices: &Choices,
    ) -> Option<MachineIdentity> {
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
        identities.into_iter().find(|i| i.serves(&scope) && allowed(i))
    }

    /// The remote's URL as git gave it, and its organization's canonical one: what
    /// `azdo.<url>.*` keys are matched against.
    pub fn urls(&self, request: &Credential, organization: &str) -> Vec<url::Url> {
        let canonical = url::Url::parse(&self.services.organization_url(organization)).ok();
        request_url(request).into_iter().chain(canonical).collect()
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

/// `protocol://[user@]host/path` of a request, when it makes a URL.
pub fn request_url(request: &Credential) -> Option<url::Url> {
    let (protocol, host) = (request.protocol.as_deref()?, request.host.as_deref()?);
    let mut url = url::Url::parse(&format!("{protocol}://{host}/")).ok()?;
    url.set_path(request.path.as_deref().unwrap_or_default());
    if let Some(username) = request.username.as_deref() {
        url.set_username(username).ok()?;
    }
    Some(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EntraSettings;
    use crate::entra::Identity;
    use crate::store::{MemoryStore, Vault};

    const CONTOSO: &str = "11111111-1111-1111-1111-111111111111";

    struct Fixture {
        _dir: tempfile::TempDir,
        accounts: Arc<AccountStore>,
        resolver: Resolver,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let vault = Arc::new(Vault::with_stores(vec![Arc::new(MemoryStore::default())], false));
        let accounts = Arc::new(AccountStore::new(dir.path(), vault));
        // Nothing listens there: a test that needed the network would fail, not wait.
        let services = Services::new(&url::Url::parse("http://127.0.0.1:9").unwrap());
        let resolver = Resolver::new(services, accounts.clone());
        Fixture { _dir: dir, accounts, resolver }
    }

    impl Fixture {
        fn sign_in(&self, user: &str, tenant: &str, organizations: &[&str]) -> Account {
            let identity = Identity {
                account_id: format!("oid-{user}.{tenant}"),
                tenant_id: tenant.into(),
                username: format!("{user}@example.com"),
                name: None,
            };
            let settings = EntraSettings {
                authority_host: url::Url::parse("https://login.example").unwrap(),
                client_id: "c".into(),
                tenant: None,
            };
            let organizations: Vec<String> = organizations.iter().map(|o| (*o).to_owned()).collect();
            self.accounts.save_sign_in(&identity, &settings, &Secret::new("rt"), &organizations).unwrap()
        }

        fn pat(&self, organization: &str) -> Pat {
            let scope = Scope::Organization(organization.into());
            self.accounts.save_pat(&scope, "alice", &Secret::new("pat-secret"), None, None).unwrap()
        }

        async fn plan(&self, organization: &str, keys: &[(&str, &str)]) -> Plan {
            let values: Vec<(String, String)> = keys.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
            let request = Credential {
                protocol: Some("http".into()),
                host: Some("127.0.0.1:9".into()),
                path: Some(format!("{organization}/proj/_git/repo")),
                ..Credential::default()
            };
            self.resolver.plan(&request, &MachineSources::default(), &Choices::from_git(&values)).await.unwrap()
        }
    }

    fn account(account: &Account, organization: &str) -> Step {
        Step::Account { account: account.clone(), organization: organization.into() }
    }

    #[tokio::test]
    async fn the_chosen_account_comes_first_and_its_pat_answers_when_its_token_cannot_be_had() {
        let f = fixture();
        let alice = f.sign_in("alice", CONTOSO, &["contoso"]);
        let pat = f.pat("contoso");
        let plan = f.plan("contoso", &[]).await;
        assert_eq!(plan.steps, [account(&alice, "contoso"), Step::Pat(pat.clone())]);
        let plan = f.plan("contoso", &[("azdo.auth", "pat")]).await;
        assert_eq!(plan.steps, [Step::Pat(pat)], "azdo.auth pat: only the PAT");
        let plan = f.plan("contoso", &[("azdo.auth", "oauth")]).await;
        assert_eq!(plan.steps, [account(&alice, "contoso")], "azdo.auth oauth: only the account");
    }

    #[tokio::test]
    async fn without_a_source_git_is_told_why() {
        let f = fixture();
        let plan = f.plan("contoso", &[("azdo.auth", "pat")]).await;
        assert!(plan.steps.is_empty());
        assert_eq!(plan.otherwise, Some(Miss::NoPat { scope: Scope::Organization("contoso".into()) }));
        let plan = f.plan("contoso", &[]).await;
        assert_eq!(plan.steps, [Step::Stored], "a credential git stored, if any");
        assert_eq!(plan.otherwise, Some(Miss::NoAccount { organization: "contoso".into(), tenant: None }));
    }

    #[tokio::test]
    async fn an_unbound_pat_comes_before_the_only_account() {
        let f = fixture();
        let alice = f.sign_in("alice", CONTOSO, &[]);
        let pat = f.pat("contoso");
        assert_eq!(f.plan("contoso", &[]).await.steps, [Step::Pat(pat)]);
        assert_eq!(f.plan("fabrikam", &[]).await.steps, [account(&alice, "fabrikam")], "the only account");
    }
}
