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
//! The organization's tenant decides which account may answer and which tenant its token is
//! asked for ([`azdo::token_tenant`]): an account of another tenant answers only when the user
//! chose it (bound it, or named it in the remote URL), with a token of the organization's
//! tenant (a guest's); the only account answers when the tenant is unknown or its own. The
//! tenant is learned in this order: the `Bearer authorization_uri` challenge git passed in
//! `wwwauth[]` (never a claims challenge's), the tenant remembered for the organization (a
//! sign-in remembers it), and, only to choose among several accounts, an unauthenticated
//! `HEAD` of the organization.
//!
//! It also remembers, in memory, what Azure DevOps said when it refused a token (git's `erase`):
//! a claims challenge (continuous access evaluation), which the next token for the organization
//! must satisfy; and an account refused twice in a row by an organization, which is not chosen
//! for it again for [`REFUSAL_BACKOFF`] unless the user signs in again or binds it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

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
    /// Azure DevOps Services over plain http: a credential git stored, never a token.
    Insecure { origin: String },
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
    /// An Entra account's access token for `organization`, issued in `tenant`, satisfying the
    /// `claims` of a challenge when there is one.
    Account { account: Account, organization: String, tenant: String, claims: Option<String> },
    /// The PAT kept for an organization or collection.
    Pat(Pat),
    /// A credential git stored.
    Stored,
    /// A source that cannot answer for now, and why.
    Missed(Miss),
}

/// How long a claims challenge from a refusal waits for the next token of its organization.
const CHALLENGE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// A second refusal of an account by an organization within this long of the first (of a token
/// fetched after it) means the organization does not take that account.
const REFUSAL_WINDOW: Duration = Duration::from_secs(10 * 60);
/// How long an account the organization refused twice is not chosen for it.
pub const REFUSAL_BACKOFF: Duration = Duration::from_secs(10 * 60);

/// An organization's refusal of an account's token.
#[derive(Debug, Clone)]
struct Refusal {
    at: Instant,
    /// Set on the second refusal: the account is not chosen for the organization until then.
    until: Option<Instant>,
    /// The account's `signed_in_at` and whether it was bound to the organization: a new sign-in
    /// or a binding lifts the refusal.
    signed_in_at: u64,
    bound: bool,
}

/// What Azure DevOps said when it refused tokens, kept in memory.
#[derive(Debug, Default)]
struct Refusals {
    /// Organization -> (claims of its last challenge, when).
    challenges: HashMap<String, (String, Instant)>,
    /// (account id, organization) -> the last refusal.
    accounts: HashMap<(String, String), Refusal>,
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
    refusals: Mutex<Refusals>,
}

impl Resolver {
    pub fn new(services: Services, accounts: Arc<AccountStore>) -> Self {
        Self { services, accounts, refusals: Mutex::default() }
    }

    fn refusals(&self) -> std::sync::MutexGuard<'_, Refusals> {
        self.refusals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Azure DevOps refused a token of `organization` with a claims challenge: the next token for
    /// it carries `claims`.
    pub fn note_challenge(&self, organization: &str, claims: String) {
        self.refusals().challenges.insert(organization.to_owned(), (claims, Instant::now()));
    }

    /// A token with the organization's challenge was had: the challenge is met.
    pub fn challenge_met(&self, organization: &str) {
        self.refusals().challenges.remove(organization);
    }

    fn challenge(&self, organization: &str) -> Option<String> {
        let refusals = self.refusals();
        let (claims, at) = refusals.challenges.get(organization)?;
        (at.elapsed() < CHALLENGE_LIFETIME).then(|| claims.clone())
    }

    /// Azure DevOps refused `account`'s token for `organization`, a token asked for at
    /// `requested`. Returns whether it is the second refusal in a row (of a token fetched after
    /// the first), after which the account is not chosen for the organization for a while.
    pub fn note_refusal(&self, account: &Account, organization: &str, requested: Instant) -> bool {
        let now = Instant::now();
        let key = (account.id.clone(), organization.to_owned());
        let bound = account.organizations.iter().any(|o| o == organization);
        let mut refusals = self.refusals();
        let again = refusals.accounts.get(&key).is_some_and(|earlier| {
            now.saturating_duration_since(earlier.at) < REFUSAL_WINDOW
                && requested > earlier.at
                && earlier.signed_in_at == account.signed_in_at
        });
        let until = again.then(|| now + REFUSAL_BACKOFF);
        refusals.accounts.insert(key, Refusal { at: now, until, signed_in_at: account.signed_in_at, bound });
        again
    }

    /// Whether `organization` refused `account` twice lately, and nothing changed since.
    fn refused(&self, account: &Account, organization: &str) -> bool {
        let refusals = self.refusals();
        let Some(refusal) = refusals.accounts.get(&(account.id.clone(), organization.to_owned())) else {
            return false;
        };
        let bound = account.organizations.iter().any(|o| o == organization);
        refusal.until.is_some_and(|until| Instant::now() < until)
            && refusal.signed_in_at == account.signed_in_at
            && refusal.bound == bound
    }

    /// The step of `account` for `organization`, whose tenant is `tenant` if known.
    fn account_step(&self, account: &Account, organization: String, tenant: Option<&str>) -> Step {
        if self.refused(account, &organization) {
            return Step::Missed(Miss::Refused { organization, username: account.username.clone() });
        }
        let claims = self.challenge(&organization);
        let tenant = azdo::token_tenant(&account.tenant_id, tenant);
        Step::Account { account: account.clone(), organization, tenant, claims }
    }

    pub fn route(&self, request: &Credential) -> Result<Route, StoreError> {
        Ok(match self.services.classify(request) {
            Remote::Services { organization, user_hint } => Route::Organization { organization, user_hint },
            Remote::ServicesWithoutOrganization => Route::NeedsHttpPath { origin: self.services.origin() },
            Remote::Insecure { origin } => Route::Insecure { origin },
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
            Route::Insecure { origin } => {
                Plan { otherwise: Some(Miss::InsecureRemote { origin }), ..Plan::only(Step::Stored) }
            }
            Route::Collection { pat } => Plan::only(Step::Pat(pat)),
            Route::Organization { organization, user_hint } => {
                self.organization_plan(request, organization, user_hint, choices).await?
            }
        };
        if azure_devops {
            plan.setup_problem.clone_from(&machine.problem);
            // In a pipeline, "sign in" is not the advice: its token is for another place.
            if let Some(Miss::NoAccount { organization, .. }) = &plan.otherwise
                && let Some(own) = machine.identities.iter().find_map(|i| match i {
                    MachineIdentity::PipelineToken { scope, .. } => Some(scope.clone()),
                    _ => None,
                })
            {
                plan.otherwise = Some(Miss::PipelineElsewhere { own, organization: organization.clone() });
            }
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
        if choice == Auth::Pat {
            return Ok(match pat {
                Some(pat) => Plan::only(Step::Pat(pat)),
                None => Plan::missed(Miss::NoPat { scope }),
            });
        }
        let chosen = all.chosen(&organization, user_hint.as_deref()).cloned();
        let pat = pat.filter(|_| choice == Auth::Auto);
        if chosen.is_none()
            && let Some(pat) = pat
        {
            return Ok(Plan::only(Step::Pat(pat)));
        }
        if all.accounts.is_empty() {
            let tenant = self.tenant_for(&organization, &request.wwwauth, false).await;
            return Ok(Plan { otherwise: Some(Miss::NoAccount { organization, tenant }), ..Plan::only(Step::Stored) });
        }
        // Azure DevOps is asked (an HTTP request while git waits) only to choose among several
        // accounts; otherwise the tenant is what git's 401 or an earlier answer named.
        let several = all.accounts.len() > 1 && chosen.is_none();
        let tenant = self.tenant_for(&organization, &request.wwwauth, several).await;
        if let Some(account) = chosen {
            // The user's choice answers, with a token of the organization's tenant; the PAT
            // answers when that cannot be had.
            let account = self.account_step(&account, organization, tenant.as_deref());
            let steps = [Some(account), pat.map(Step::Pat)].into_iter().flatten().collect();
            return Ok(Plan { steps, otherwise: None, setup_problem: None });
        }
        if let Some(account) = account_of_tenant(&all, tenant.as_deref()) {
            return Ok(Plan::only(self.account_step(account, organization, tenant.as_deref())));
        }
        let otherwise = match tenant {
            Some(tenant) if azdo::is_specific_tenant(Some(&tenant)) => {
                let accounts = all.accounts.iter().map(|a| a.username.clone()).collect();
                Miss::OtherTenant { organization, tenant, accounts }
            }
            tenant => Miss::NoAccount { organization, tenant },
        };
        Ok(Plan { otherwise: Some(otherwise), ..Plan::only(Step::Stored) })
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
            Route::NeedsHttpPath { .. } | Route::Stored | Route::Insecure { .. } => {
                machine.identities.iter().find_map(|i| match i {
                    MachineIdentity::PipelineToken { scope: scope @ Scope::Collection(c), .. }
                        if c.matches(request) == CollectionMatch::Inside =>
                    {
                        Some(scope.clone())
                    }
                    _ => None,
                })?
            }
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

    /// Whether the server of `scope` offers Windows authentication ([`azdo::offers_windows_auth`]).
    pub async fn offers_windows_auth(&self, scope: &Scope) -> bool {
        let url = scope.connection_data_url(&self.services);
        azdo::offers_windows_auth(&crate::net::client_for(&url), &url, azdo::DISCOVERY_TIMEOUT).await
    }

    /// Whether Azure DevOps takes `secret` as a PAT for `scope` ([`azdo::check_pat`]).
    pub async fn check_pat(&self, scope: &Scope, secret: &Secret) -> Result<String, azdo::CheckError> {
        let client = crate::net::client_for(&scope.connection_data_url(&self.services));
        azdo::check_pat(&client, &self.services, scope, secret, azdo::DISCOVERY_TIMEOUT).await
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
        let client = crate::net::client_for(&self.services.organization_url(organization));
        let tenant = azdo::discover_tenant(&client, &self.services, organization).await?;
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

/// The account for an organization of `tenant` that no account was chosen for: the only one
/// when the tenant is unknown or its own, else the one of that tenant (for an organization
/// backed by personal accounts, a personal account).
fn account_of_tenant<'a>(all: &'a crate::accounts::Accounts, tenant: Option<&str>) -> Option<&'a Account> {
    match (all.accounts.as_slice(), tenant) {
        ([only], tenant) if !azdo::is_specific_tenant(tenant) => Some(only),
        (several, Some(azdo::ORGANIZATIONS_TENANT)) => several.iter().find(|a| a.tenant_id == azdo::MSA_TENANT),
        (several, Some(tenant)) => several.iter().find(|a| a.tenant_id == tenant),
        (_, None) => None,
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
        let tenant = account.tenant_id.clone();
        Step::Account { account: account.clone(), organization: organization.into(), tenant, claims: None }
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
