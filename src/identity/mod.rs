//! Non-interactive identities: what a pipeline, a server or a pod uses instead of a person.
//!
//! The helper reads them from its own environment on every request ([`from_env`]): it is the
//! environment of the git that asks (a pipeline job's, a pod's), which the long-lived daemon
//! does not share. They travel to the daemon with the request; the daemon caches the Entra
//! tokens they yield ([`crate::tokens::TokenCache::machine`]).
//!
//! | source | configured by |
//! |---|---|
//! | Azure Pipelines job token | `SYSTEM_ACCESSTOKEN` (+ `SYSTEM_COLLECTIONURI`, its only destination) |
//! | a PAT | `AZURE_DEVOPS_EXT_PAT` |
//! | workload identity federation | `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_FEDERATED_TOKEN_FILE` |
//! | GitHub Actions OIDC | `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `ACTIONS_ID_TOKEN_REQUEST_URL`/`_TOKEN` |
//! | service principal with a secret | `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_CLIENT_SECRET` |
//! | service principal with a certificate | `AZURE_CLIENT_ID`, `AZURE_TENANT_ID`, `AZURE_CLIENT_CERTIFICATE_PATH` (PEM: key and certificate) |
//! | managed identity (IMDS, App Service) | `GIT_CREDENTIAL_AZDO_IDENTITY=managed[:<client id>]` |
//! | the Azure CLI | `GIT_CREDENTIAL_AZDO_IDENTITY=azure-cli` |
//!
//! `AZURE_AUTHORITY_HOST` names the Entra authority as for user sign-in. The daemon also honours
//! `azdo.[<url>.]identity` in the global git config for the last two ([`Choice`]).

mod fetch;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use fetch::{FetchError, Fetched, fetch};

use crate::azdo::{Scope, Services};
use crate::secret::Secret;

pub const ENV_IDENTITY: &str = "GIT_CREDENTIAL_AZDO_IDENTITY";
pub const ENV_IMDS_ENDPOINT: &str = "GIT_CREDENTIAL_AZDO_IMDS_ENDPOINT";
/// Azure's instance metadata service, on every Azure VM.
pub const DEFAULT_IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

/// One non-interactive identity, as configured where git runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MachineIdentity {
    /// Azure Pipelines' job token, for the pipeline's own organization or collection only.
    PipelineToken { scope: Scope, token: Secret },
    /// A PAT from `AZURE_DEVOPS_EXT_PAT`, for Azure DevOps Services organizations.
    EnvPat { token: Secret },
    /// An Entra application (service principal) with the client-credentials grant.
    Application { authority: String, tenant: String, client_id: String, credential: AppCredential },
    /// An Azure managed identity: system-assigned, or user-assigned by client id.
    Managed { endpoint: ManagedEndpoint, client_id: Option<String> },
    /// The user's Azure CLI sign-in (`az account get-access-token`).
    AzureCli,
}

/// How an application proves itself to Entra.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AppCredential {
    Secret(Secret),
    /// A PEM file with the private key and the certificate registered with the application.
    Certificate(PathBuf),
    /// A JWT in a file that the platform rotates (Kubernetes workload identity): re-read each time.
    FederatedTokenFile(PathBuf),
    /// A JWT asked of GitHub Actions' OIDC provider.
    GitHubOidc {
        request_url: String,
        request_token: Secret,
    },
}

/// Where a managed identity's tokens come from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagedEndpoint {
    /// The VM's instance metadata service.
    Imds { url: String },
    /// App Service and Functions: `IDENTITY_ENDPOINT` with `IDENTITY_HEADER`.
    AppService { url: String, header: Secret },
}

/// The identities configured in one environment, in the order they answer, and what is
/// wrong with a half-configured one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineSources {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub identities: Vec<MachineIdentity>,
    /// One line: which variable is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// `GIT_CREDENTIAL_AZDO_IDENTITY` or `azdo.[<url>.]identity`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Choice {
    /// The sources the environment configures.
    #[default]
    Auto,
    Managed {
        client_id: Option<String>,
    },
    AzureCli,
    /// No non-interactive identity, whatever the environment says.
    None,
}

impl FromStr for Choice {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        match text.to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "managed" => Ok(Self::Managed { client_id: None }),
            "azure-cli" | "az" => Ok(Self::AzureCli),
            "none" => Ok(Self::None),
            lower => match lower.strip_prefix("managed:") {
                Some(id) if !id.is_empty() => Ok(Self::Managed { client_id: Some(text[8..].to_owned()) }),
                _ => Err(format!("{text} is not one of auto, managed, managed:<client id>, azure-cli, none")),
            },
        }
    }
}

/// The variables of an environment that hold secrets (of the identities read here, and App
/// Service's older `MSI_SECRET`). A daemon started from such an environment outlives it, and
/// needs none of them: the identities come with each request.
pub const SECRET_VARIABLES: &[&str] = &[
    "SYSTEM_ACCESSTOKEN",
    "AZURE_DEVOPS_EXT_PAT",
    "AZURE_CLIENT_SECRET",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "IDENTITY_HEADER",
    "MSI_SECRET",
];

/// The identities that `env` (an environment lookup) configures.
pub fn from_env(env: &dyn Fn(&str) -> Option<String>, services: &Services, authority: &url::Url) -> MachineSources {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let mut sources = MachineSources::default();
    let mut problem = |text: String| {
        sources.problem.get_or_insert(text);
    };
    let mut found = Vec::new();

    match env(ENV_IDENTITY).map(|v| v.parse::<Choice>()).transpose() {
        Ok(Some(Choice::None)) => return MachineSources::default(),
        Ok(Some(Choice::Managed { client_id })) => {
            found.push(managed(&var, client_id.or_else(|| var("AZURE_CLIENT_ID"))));
        }
        Ok(Some(Choice::AzureCli)) => found.push(MachineIdentity::AzureCli),
        Ok(Some(Choice::Auto) | None) => {}
        Err(e) => problem(format!("{ENV_IDENTITY}: {e}")),
    }

    if let Some(token) = var("SYSTEM_ACCESSTOKEN") {
        match var("SYSTEM_COLLECTIONURI").map(|uri| Scope::from_url(services, &uri)) {
            Some(Ok(scope)) => found.insert(0, MachineIdentity::PipelineToken { scope, token: Secret::new(token) }),
            Some(Err(e)) => problem(format!("SYSTEM_COLLECTIONURI: {e}")),
            None => problem(
                "SYSTEM_ACCESSTOKEN is set but SYSTEM_COLLECTIONURI is not, so the job token's organization is \
                 unknown; map both into the step's environment"
                    .to_owned(),
            ),
        }
    }
    if let Some(token) = var("AZURE_DEVOPS_EXT_PAT") {
        found.push(MachineIdentity::EnvPat { token: Secret::new(token) });
    }
    let credential = if let Some(file) = var("AZURE_FEDERATED_TOKEN_FILE") {
        Some(("AZURE_FEDERATED_TOKEN_FILE", AppCredential::FederatedTokenFile(PathBuf::from(file))))
    } else if let Some(secret) = var("AZURE_CLIENT_SECRET") {
        Some(("AZURE_CLIENT_SECRET", AppCredential::Secret(Secret::new(secret))))
    } else if let Some(path) = var("AZURE_CLIENT_CERTIFICATE_PATH") {
        Some(("AZURE_CLIENT_CERTIFICATE_PATH", AppCredential::Certificate(PathBuf::from(path))))
    } else if let (Some(request_url), Some(request_token)) =
        (var("ACTIONS_ID_TOKEN_REQUEST_URL"), var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
        && var("AZURE_CLIENT_ID").is_some()
    {
        let request_token = Secret::new(request_token);
        Some(("ACTIONS_ID_TOKEN_REQUEST_URL", AppCredential::GitHubOidc { request_url, request_token }))
    } else {
        None
    };
    if let Some((variable, credential)) = credential {
        match (var("AZURE_CLIENT_ID"), var("AZURE_TENANT_ID").and_then(|t| crate::azdo::tenant_name(&t))) {
            (Some(client_id), Some(tenant)) => found.push(MachineIdentity::Application {
                authority: authority.as_str().trim_end_matches('/').to_owned(),
                tenant,
                client_id,
                credential,
            }),
            (None, _) => problem(format!("{variable} is set but AZURE_CLIENT_ID is not")),
            (Some(_), None) => problem(format!("{variable} is set but AZURE_TENANT_ID is not (a tenant id or domain)")),
        }
    }
    sources.identities = found;
    sources
}

/// A managed identity: App Service's endpoint when the platform provides one, else IMDS.
pub fn managed(var: &dyn Fn(&str) -> Option<String>, client_id: Option<String>) -> MachineIdentity {
    let endpoint = match (var("IDENTITY_ENDPOINT"), var("IDENTITY_HEADER")) {
        (Some(url), Some(header)) => ManagedEndpoint::AppService { url, header: Secret::new(header) },
        _ => ManagedEndpoint::Imds { url: var(ENV_IMDS_ENDPOINT).unwrap_or_else(|| DEFAULT_IMDS_ENDPOINT.to_owned()) },
    };
    MachineIdentity::Managed { endpoint, client_id }
}

impl MachineIdentity {
    /// Whether it may be sent to `scope` at all: the job token only to its own organization
    /// or collection; the others (Entra tokens, an Azure DevOps PAT) to Services organizations.
    pub fn serves(&self, scope: &Scope) -> bool {
        match self {
            Self::PipelineToken { scope: own, .. } => own == scope,
            _ => matches!(scope, Scope::Organization(_)),
        }
    }

    pub fn is_pat(&self) -> bool {
        matches!(self, Self::EnvPat { .. })
    }

    /// What to check when it fails: the settings it came from.
    pub fn remedy(&self) -> String {
        match self {
            Self::PipelineToken { .. } => {
                "check that the job's build service has access to the repository (project settings > repositories > \
                 security)"
                    .to_owned()
            }
            Self::EnvPat { .. } => "check AZURE_DEVOPS_EXT_PAT: it may have expired or lack Code (Read & Write)".into(),
            Self::Application { client_id, credential, .. } => {
                let how = match credential {
                    AppCredential::Secret(_) => "AZURE_CLIENT_SECRET",
                    AppCredential::Certificate(_) => {
                        "AZURE_CLIENT_CERTIFICATE_PATH and the certificate registered with the app"
                    }
                    AppCredential::FederatedTokenFile(_) => {
                        "AZURE_FEDERATED_TOKEN_FILE and the app's federated credential"
                    }
                    AppCredential::GitHubOidc { .. } => {
                        "the workflow's `permissions: id-token: write` and the app's federated credential"
                    }
                };
                format!(
                    "check AZURE_CLIENT_ID, AZURE_TENANT_ID and {how}, and that {client_id} is a user of the organization"
                )
            }
            Self::Managed { client_id, .. } => format!(
                "check that the {} managed identity is enabled on this resource and is a user of the organization",
                client_id.as_deref().map_or_else(|| "system-assigned".to_owned(), |id| format!("user-assigned {id}"))
            ),
            Self::AzureCli => "run: az login".to_owned(),
        }
    }

    /// A key for the token cache: the settings, secrets included, never shown.
    pub fn cache_key(&self) -> String {
        use std::hash::{Hash as _, Hasher as _};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut hasher);
        format!("machine:{:016x}", hasher.finish())
    }
}

impl fmt::Display for MachineIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PipelineToken { scope, .. } => write!(f, "the Azure Pipelines job token for {scope}"),
            Self::EnvPat { .. } => f.write_str("the PAT in AZURE_DEVOPS_EXT_PAT"),
            Self::Application { client_id, credential, .. } => match credential {
                AppCredential::Secret(_) => write!(f, "service principal {client_id}"),
                AppCredential::Certificate(_) => write!(f, "service principal {client_id} (certificate)"),
                AppCredential::FederatedTokenFile(_) => write!(f, "workload identity {client_id}"),
                AppCredential::GitHubOidc { .. } => write!(f, "GitHub Actions OIDC for {client_id}"),
            },
            Self::Managed { client_id: Some(id), .. } => write!(f, "managed identity {id}"),
            Self::Managed { client_id: None, .. } => f.write_str("the system-assigned managed identity"),
            Self::AzureCli => f.write_str("the Azure CLI"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::azdo::Collection;

    use super::*;

    fn sources(vars: &[(&str, &str)]) -> MachineSources {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        let authority = url::Url::parse("https://login.microsoftonline.com").unwrap();
        from_env(&|name| vars.get(name).cloned(), &Services::default(), &authority)
    }

    #[test]
    fn nothing_configured_is_nothing() {
        assert_eq!(sources(&[]), MachineSources::default());
        assert_eq!(sources(&[("AZURE_CLIENT_ID", "app")]), MachineSources::default(), "a client id alone is not one");
    }

    #[test]
    fn the_pipeline_token_is_for_its_own_organization_or_collection() {
        let s = sources(&[("SYSTEM_ACCESSTOKEN", "job"), ("SYSTEM_COLLECTIONURI", "https://dev.azure.com/Contoso/")]);
        let token = &s.identities[0];
        assert!(token.serves(&Scope::Organization("contoso".into())));
        assert!(!token.serves(&Scope::Organization("fabrikam".into())));
        let s =
            sources(&[("SYSTEM_ACCESSTOKEN", "job"), ("SYSTEM_COLLECTIONURI", "https://fabrikam.visualstudio.com/")]);
        assert!(s.identities[0].serves(&Scope::Organization("fabrikam".into())));
        let s = sources(&[
            ("SYSTEM_ACCESSTOKEN", "job"),
            ("SYSTEM_COLLECTIONURI", "https://tfs.example.com/tfs/DefaultCollection/"),
        ]);
        let collection = Scope::Collection(Collection::parse("https://tfs.example.com/tfs/DefaultCollection").unwrap());
        assert!(s.identities[0].serves(&collection));
        assert!(!s.identities[0].serves(&Scope::Organization("contoso".into())));

        let s = sources(&[("SYSTEM_ACCESSTOKEN", "job")]);
        assert!(s.identities.is_empty());
        assert!(s.problem.unwrap().contains("SYSTEM_COLLECTIONURI is not"));
    }

    #[test]
    fn applications_need_a_client_and_a_tenant() {
        let s = sources(&[
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_TENANT_ID", "Contoso.com"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/var/run/token"),
            ("AZURE_CLIENT_SECRET", "ignored: the file wins"),
        ]);
        let [MachineIdentity::Application { tenant, credential: AppCredential::FederatedTokenFile(file), .. }] =
            s.identities.as_slice()
        else {
            panic!("{s:?}")
        };
        assert_eq!((tenant.as_str(), file.to_str().unwrap()), ("contoso.com", "/var/run/token"));
        let s = sources(&[("AZURE_CLIENT_SECRET", "s"), ("AZURE_CLIENT_ID", "app")]);
        assert_eq!(
            s.problem.as_deref(),
            Some("AZURE_CLIENT_SECRET is set but AZURE_TENANT_ID is not (a tenant id or domain)")
        );
        let s = sources(&[
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_TENANT_ID", "t"),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://gh/x?a=1"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "rt"),
        ]);
        assert!(matches!(
            &s.identities[0],
            MachineIdentity::Application { credential: AppCredential::GitHubOidc { .. }, .. }
        ));
        assert_eq!(s.identities[0].to_string(), "GitHub Actions OIDC for app");
    }

    #[test]
    fn managed_identity_and_the_azure_cli_are_chosen_explicitly() {
        let s = sources(&[(ENV_IDENTITY, "managed")]);
        assert_eq!(
            s.identities,
            [MachineIdentity::Managed {
                endpoint: ManagedEndpoint::Imds { url: DEFAULT_IMDS_ENDPOINT.into() },
                client_id: None
            }]
        );
        let s = sources(&[
            (ENV_IDENTITY, "managed:Client-1"),
            ("IDENTITY_ENDPOINT", "http://localhost:4141/msi/token"),
            ("IDENTITY_HEADER", "h"),
        ]);
        let [MachineIdentity::Managed { endpoint: ManagedEndpoint::AppService { .. }, client_id: Some(id) }] =
            s.identities.as_slice()
        else {
            panic!("{s:?}")
        };
        assert_eq!(id, "Client-1");
        assert_eq!(sources(&[(ENV_IDENTITY, "azure-cli")]).identities, [MachineIdentity::AzureCli]);
        assert_eq!(sources(&[(ENV_IDENTITY, "none"), ("AZURE_DEVOPS_EXT_PAT", "p")]), MachineSources::default());
        assert!(sources(&[(ENV_IDENTITY, "robot")]).problem.unwrap().contains("is not one of"));
    }

    #[test]
    fn no_secret_in_debug_or_display() {
        let s = sources(&[
            ("SYSTEM_ACCESSTOKEN", "job-secret"),
            ("SYSTEM_COLLECTIONURI", "https://dev.azure.com/contoso"),
            ("AZURE_DEVOPS_EXT_PAT", "pat-secret"),
            ("AZURE_CLIENT_ID", "app"),
            ("AZURE_TENANT_ID", "t"),
            ("AZURE_CLIENT_SECRET", "client-secret"),
        ]);
        assert_eq!(s.identities.len(), 3);
        let shown = format!("{s:?} {}", s.identities.iter().map(ToString::to_string).collect::<Vec<_>>().join(" "));
        for secret in ["job-secret", "pat-secret", "client-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
