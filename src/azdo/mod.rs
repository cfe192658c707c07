//! Azure DevOps knowledge: which git requests are for Azure DevOps Services, for which
//! organization, and which Entra tenant an organization's 401 names.
//!
//! Facts from shared/AZURE.md. Organization names are case-insensitive and are returned in
//! lower case. A name is accepted only when it is a plain DNS-label-like word, because it will
//! be placed into URLs and must not be able to change where a token is sent.

pub mod pat_api;
mod scope;

pub use scope::{Collection, CollectionMatch, Scope};

use crate::git::Credential;

/// The application id of Azure DevOps, the resource its Entra tokens are issued for.
pub const RESOURCE_ID: &str = "499b84ac-1321-427f-aa17-267ca6975798";

/// The tenant to use when an organization's tenant is unknown or is the personal-account one.
pub const ORGANIZATIONS_TENANT: &str = "organizations";

const ZERO_TENANT: &str = "00000000-0000-0000-0000-000000000000";

/// The home tenant of every personal Microsoft account (GCM `Constants.MsaHomeTenantId`).
pub const MSA_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// Where a personal Microsoft account's tokens are refreshed with an MSA pass-through client
/// such as Visual Studio's: Entra refuses that client at the account's home tenant
/// (AADSTS9002332). GCM `Constants.MsaTransferTenantId`, used by
/// `MicrosoftAuthentication.GetAccessTokenSilentlyAsync`; MSAL.NET issue 3077.
pub const MSA_TRANSFER_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";

/// Whether `tenant` names a tenant, rather than standing for "whichever" (`organizations`,
/// `common`), or being unknown.
pub fn is_specific_tenant(tenant: Option<&str>) -> bool {
    tenant.is_some_and(|t| t != ORGANIZATIONS_TENANT && t != "common")
}

/// The tenant a token of an account at home in `home` is asked for, to be sent to an
/// organization of `organization_tenant`: that tenant when it names one (the account's own, or
/// one that invited it as a guest, whose tokens are that tenant's); else the account's home
/// tenant, or, for a personal Microsoft account, the MSA transfer tenant.
pub fn token_tenant(home: &str, organization_tenant: Option<&str>) -> String {
    match organization_tenant {
        Some(tenant) if is_specific_tenant(Some(tenant)) => tenant.to_owned(),
        _ if home == MSA_TENANT => MSA_TRANSFER_TENANT.to_owned(),
        _ => home.to_owned(),
    }
}

/// Whether a token of `tenant` counts as the account's own (home, or the transfer tenant of a
/// personal account): a refusal there means the account must sign in again; elsewhere, that it
/// is not (or no longer) a guest there.
pub fn is_home_tenant(home: &str, tenant: &str) -> bool {
    tenant == home || (home == MSA_TENANT && tenant == MSA_TRANSFER_TENANT)
}

/// What a git request is, as far as Azure DevOps Services goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// An organization on `dev.azure.com` or `{org}.visualstudio.com`.
    Services {
        /// Lower case.
        organization: String,
        /// A username in the remote URL that names a user rather than the organization.
        user_hint: Option<String>,
    },
    /// `https://dev.azure.com` without a path or an organization username: git was not
    /// configured with `credential.useHttpPath`, so the organization cannot be known.
    ServicesWithoutOrganization,
    /// Azure DevOps Services' address over plain `http` (`http://dev.azure.com/...`,
    /// `http://{org}.visualstudio.com/...`): no token is ever sent there; `origin` is the
    /// remote's scheme and host.
    Insecure { origin: String },
    /// Not Azure DevOps Services (possibly Azure DevOps Server, or any other host).
    Other,
}

/// Where Azure DevOps Services is: `https://dev.azure.com`, or a test's fake on loopback
/// (`http://127.0.0.1:{port}`, whose `{org}.visualstudio.com:{port}` names are then resolved to
/// loopback by git's `http.curloptResolve`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    base: url::Url,
    scheme: String,
    /// `dev.azure.com`, or `127.0.0.1:8080`: lower case, without the scheme's default port.
    host: String,
    /// `:8080` when the base has an explicit port, else empty.
    port_suffix: String,
}

impl Default for Services {
    fn default() -> Self {
        Self::new(&url::Url::parse(crate::config::DEFAULT_DEVOPS_URL).expect("a valid constant URL"))
    }
}

impl Services {
    pub fn new(base: &url::Url) -> Self {
        let port_suffix = base.port().map(|p| format!(":{p}")).unwrap_or_default();
        let host = format!("{}{port_suffix}", base.host_str().unwrap_or_default().to_ascii_lowercase());
        Self { base: base.clone(), scheme: base.scheme().to_owned(), host, port_suffix }
    }

    /// `https://dev.azure.com`: where git's `credential.<url>.useHttpPath` is set for it.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// `https://*.visualstudio.com`: every organization's old-style address, as git's
    /// `credential.<url>` keys match it.
    pub fn visualstudio_pattern(&self) -> String {
        format!("{}://*.visualstudio.com{}", self.scheme, self.port_suffix)
    }

    /// `https://dev.azure.com/{organization}`: where tokens for it may be sent, and the address
    /// of its tenant discovery.
    pub fn organization_url(&self, organization: &str) -> String {
        format!("{}/{organization}", self.base.as_str().trim_end_matches('/'))
    }

    /// Classifies a git credential request by its protocol, host, path and username.
    pub fn classify(&self, request: &Credential) -> Remote {
        if request.protocol.as_deref() != Some(self.scheme.as_str()) {
            return self.insecure(request).unwrap_or(Remote::Other);
        }
        let Some(host) = request.host.as_deref() else { return Remote::Other };
        let default_port = if self.scheme == "https" { ":443" } else { ":80" };
        let host = host.strip_suffix(default_port).unwrap_or(host).to_ascii_lowercase();
        let username = request.username.as_deref().filter(|u| !u.is_empty());

        if host == self.host {
            let from_path = request.path.as_deref().and_then(|p| p.split('/').find(|s| !s.is_empty()));
            // `/tfs/{collection}/...` is an Azure DevOps Server collection on the same address
            // (a server given as the Azure DevOps URL, or a test's fake on loopback), not an
            // organization named `tfs`: Services has no such path.
            if from_path.is_some_and(|first| first.eq_ignore_ascii_case("tfs")) {
                return Remote::Other;
            }
            let Some(organization) = from_path.or(username) else { return Remote::ServicesWithoutOrganization };
            let Some(organization) = organization_name(organization) else { return Remote::Other };
            // `https://contoso@dev.azure.com/contoso/...`: the username is the organization, not a user.
            let user_hint = username.filter(|u| !u.eq_ignore_ascii_case(&organization)).map(str::to_owned);
            return Remote::Services { organization, user_hint };
        }
        let Some(name) = host.strip_suffix(&self.port_suffix) else { return Remote::Other };
        if let Some(prefix) = name.strip_suffix(".visualstudio.com") {
            // `contoso.visualstudio.com`; a deeper name (`contoso.vssps...`) is a service endpoint, not git.
            if prefix.contains('.') {
                return Remote::Other;
            }
            let Some(organization) = organization_name(prefix) else { return Remote::Other };
            return Remote::Services { organization, user_hint: username.map(str::to_owned) };
        }
        Remote::Other
    }
}

impl Services {
    /// A plain-http request for Azure DevOps Services' https address (GCM refuses these too:
    /// `AzureReposHostProvider.ThrowIfUnsafeRemote`).
    fn insecure(&self, request: &Credential) -> Option<Remote> {
        if request.protocol.as_deref() != Some("http") || self.scheme != "https" {
            return None;
        }
        let host = request.host.as_deref()?.to_ascii_lowercase();
        let name = host.strip_suffix(":80").unwrap_or(&host);
        let ours = name == self.host
            || name.strip_suffix(".visualstudio.com").is_some_and(|o| !o.is_empty() && !o.contains('.'));
        ours.then(|| Remote::Insecure { origin: format!("http://{name}") })
    }
}

/// An organization name in lower case, or `None` when it is not a plain name.
pub fn organization_name(text: &str) -> Option<String> {
    plain_name(text, 64, &['-', '_', '.'])
}

/// `text` in lower case when it is 1 to `max_len` ASCII letters, digits and `extra`
/// characters, starting with a letter or digit: nothing that could change a URL built from it.
fn plain_name(text: &str, max_len: usize, extra: &[char]) -> Option<String> {
    let plain = (1..=max_len).contains(&text.len())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(&c))
        && text.starts_with(|c: char| c.is_ascii_alphanumeric());
    plain.then(|| text.to_ascii_lowercase())
}

/// The tenant named by a `Bearer authorization_uri=https://login.microsoftonline.com/{tenant}`
/// challenge among git's `wwwauth[]` headers. The all-zero tenant (organizations backed by
/// personal Microsoft accounts) means [`ORGANIZATIONS_TENANT`]. Only the tenant is taken from
/// the header, never the host, so a hostile server cannot choose where we sign in.
///
/// A claims challenge (continuous access evaluation) says nothing about the organization: every
/// recorded one names `common`. It is skipped, and `common` is never taken for a tenant.
pub fn tenant_from_wwwauth(headers: &[String]) -> Option<String> {
    headers.iter().find_map(|header| {
        let (scheme, params) = header.trim().split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("bearer") || crate::entra::claims::is_claims_challenge(header) {
            return None;
        }
        let params = crate::entra::claims::auth_params(params);
        let uri = &params.iter().find(|(name, _)| name.eq_ignore_ascii_case("authorization_uri"))?.1;
        let rest = uri.strip_prefix("https://")?;
        let tenant = rest.split_once('/')?.1.split(['/', '?', '#']).next()?;
        tenant_name(tenant).filter(|t| t != "common")
    })
}

/// A tenant id (GUID) or domain, or `None` when the text is neither.
pub fn tenant_name(text: &str) -> Option<String> {
    let tenant = plain_name(text, 256, &['-', '.'])?;
    Some(if tenant == ZERO_TENANT { ORGANIZATIONS_TENANT.to_owned() } else { tenant })
}

/// How long tenant discovery may take: it runs while git waits.
pub const DISCOVERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The tenant of `organization`, from an unauthenticated `HEAD` of its URL (whatever the
/// status): the `Bearer authorization_uri` challenge, else the first tenant in
/// `X-VSS-ResourceTenant`. `None` when neither names one or the server cannot be reached in
/// [`DISCOVERY_TIMEOUT`].
pub async fn discover_tenant(client: &reqwest::Client, services: &Services, organization: &str) -> Option<String> {
    find_tenant(client, services, organization).await.unwrap_or_else(|why| {
        tracing::debug!(error = %why, "tenant discovery failed");
        None
    })
}

/// [`discover_tenant`], saying why when Azure DevOps could not be asked (for `login`, which
/// tells the user).
pub async fn find_tenant(
    client: &reqwest::Client,
    services: &Services,
    organization: &str,
) -> Result<Option<String>, String> {
    let url = services.organization_url(organization);
    let response = client.head(&url).timeout(DISCOVERY_TIMEOUT).send().await;
    match response {
        Ok(response) => Ok(tenant_from_headers(response.headers())),
        Err(e) => Err(crate::entra::describe_http_error(&e)),
    }
}

/// The tenant named by a response's `WWW-Authenticate` or `X-VSS-ResourceTenant` headers.
pub fn tenant_from_headers(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let challenges: Vec<String> = headers
        .get_all(reqwest::header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect();
    if let Some(tenant) = tenant_from_wwwauth(&challenges) {
        return Some(tenant);
    }
    let listed = headers.get_all("x-vss-resourcetenant").iter().filter_map(|v| v.to_str().ok());
    let tenants: Vec<String> = listed.flat_map(|v| v.split(',')).filter_map(|t| tenant_name(t.trim())).collect();
    tenants.iter().find(|t| *t != ORGANIZATIONS_TENANT).or(tenants.first()).cloned()
}

/// Why Azure DevOps did not confirm a credential.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("Azure DevOps refused it (HTTP {0})")]
    Refused(u16),
    #[error("Azure DevOps answered with a sign-in page instead of data (HTTP {0}): the credential is not valid there")]
    SignInPage(u16),
    #[error("{0}")]
    Unreachable(String),
}

/// Whom Azure DevOps takes `authorization` (a whole `Authorization` header value) to be in
/// an organization or collection: `GET` its `_apis/connectionData` ([`Scope::connection_data_url`])
/// with `X-TFS-FedAuthRedirect: Suppress`, which has no side effects. Only a 200 with JSON
/// counts; the answer is the user's display name.
pub async fn connection_data(
    client: &reqwest::Client,
    url: &str,
    authorization: &crate::secret::Secret,
    timeout: std::time::Duration,
) -> Result<String, CheckError> {
    #[derive(serde::Deserialize)]
    struct ConnectionData {
        #[serde(rename = "authenticatedUser")]
        authenticated_user: User,
    }
    #[derive(serde::Deserialize)]
    struct User {
        #[serde(rename = "providerDisplayName")]
        provider_display_name: Option<String>,
    }
    let mut authorization = reqwest::header::HeaderValue::from_str(authorization.expose())
        .map_err(|_| CheckError::Unreachable("the credential cannot be sent in a header".into()))?;
    authorization.set_sensitive(true);
    let response = client
        .get(url)
        .header(reqwest::header::AUTHORIZATION, authorization)
        .header("X-TFS-FedAuthRedirect", "Suppress")
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| CheckError::Unreachable(crate::entra::describe_http_error(&e)))?;
    let status = response.status().as_u16();
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    match status {
        200 if is_json => {}
        200..=299 => return Err(CheckError::SignInPage(status)),
        _ => return Err(CheckError::Refused(status)),
    }
    // Bounded: connectionData is a few KiB. An answer too large to be one says nothing about the
    // credential, so it counts as no answer (a PAT is then kept, not removed).
    let body = crate::entra::read_body(response).await.map_err(|e| CheckError::Unreachable(e.to_string()))?;
    let data: ConnectionData = serde_json::from_slice(&body).map_err(|_| CheckError::SignInPage(status))?;
    Ok(data.authenticated_user.provider_display_name.map(|n| crate::entra::printable(&n, 200)).unwrap_or_default())
}

/// Whether a 401's challenges (git's `wwwauth[]`) offer Windows authentication (`NTLM`,
/// `Negotiate`); `None` when git passed none (git before 2.41).
pub fn windows_auth_in(wwwauth: &[String]) -> Option<bool> {
    (!wwwauth.is_empty()).then(|| wwwauth.iter().any(|h| is_windows_scheme(h)))
}

fn is_windows_scheme(challenge: &str) -> bool {
    let scheme = challenge.split_whitespace().next().unwrap_or_default();
    scheme.eq_ignore_ascii_case("ntlm") || scheme.eq_ignore_ascii_case("negotiate")
}

/// Whether the server at `url` offers Windows authentication: an anonymous `GET` (IIS answers
/// `401` with `WWW-Authenticate: Negotiate`, `NTLM` and, when enabled, `Basic`). Given a
/// username and password, git's curl picks NTLM over Basic there, and a PAT is no Windows
/// password. `false` when the server cannot be asked.
pub async fn offers_windows_auth(client: &reqwest::Client, url: &str, timeout: std::time::Duration) -> bool {
    let response = client.get(url).header("X-TFS-FedAuthRedirect", "Suppress").timeout(timeout).send().await;
    response.is_ok_and(|response| {
        response
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(is_windows_scheme)
    })
}

/// The user name sent with a PAT over Basic: Azure DevOps accepts any non-empty one.
pub const PAT_USERNAME: &str = "pat";

/// Whom Azure DevOps takes the PAT `secret` for `scope` to belong to ([`connection_data`]).
pub async fn check_pat(
    client: &reqwest::Client,
    services: &Services,
    scope: &Scope,
    secret: &crate::secret::Secret,
    timeout: std::time::Duration,
) -> Result<String, CheckError> {
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{PAT_USERNAME}:{}", secret.expose()));
    let authorization = crate::secret::Secret::new(format!("Basic {basic}"));
    connection_data(client, &scope.connection_data_url(services), &authorization, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(request: &Credential) -> Remote {
        Services::default().classify(request)
    }

    fn request(protocol: &str, host: &str, path: Option<&str>, username: Option<&str>) -> Credential {
        Credential {
            protocol: Some(protocol.into()),
            host: Some(host.into()),
            path: path.map(Into::into),
            username: username.map(Into::into),
            ..Credential::default()
        }
    }

    fn services(organization: &str, user_hint: Option<&str>) -> Remote {
        Remote::Services { organization: organization.into(), user_hint: user_hint.map(Into::into) }
    }

    #[test]
    fn dev_azure_com_organization_from_the_path() {
        let r = request("https", "dev.azure.com", Some("Contoso/Project/_git/repo"), None);
        assert_eq!(classify(&r), services("contoso", None));
        let r = request("https", "DEV.Azure.com:443", Some("contoso/p/_git/r"), Some("alice@contoso.com"));
        assert_eq!(classify(&r), services("contoso", Some("alice@contoso.com")));
    }

    #[test]
    fn dev_azure_com_organization_from_the_username() {
        // `https://contoso@dev.azure.com/...` without useHttpPath: the username is the org.
        assert_eq!(classify(&request("https", "dev.azure.com", None, Some("Contoso"))), services("contoso", None));
        let same_name = request("https", "dev.azure.com", Some("contoso/p/_git/r"), Some("CONTOSO"));
        assert_eq!(classify(&same_name), services("contoso", None), "a username equal to the org is not a user");
    }

    #[test]
    fn dev_azure_com_without_organization_is_reported_as_such() {
        assert_eq!(classify(&request("https", "dev.azure.com", None, None)), Remote::ServicesWithoutOrganization);
        assert_eq!(
            classify(&request("https", "dev.azure.com", Some(""), Some(""))),
            Remote::ServicesWithoutOrganization
        );
    }

    #[test]
    fn visualstudio_com_organization_from_the_host() {
        let r = request("https", "Fabrikam.VisualStudio.com", Some("DefaultCollection/p/_git/r"), Some("bob"));
        assert_eq!(classify(&r), services("fabrikam", Some("bob")));
        assert_eq!(classify(&request("https", "fabrikam.vssps.visualstudio.com", None, None)), Remote::Other);
        assert_eq!(classify(&request("https", ".visualstudio.com", None, None)), Remote::Other);
    }

    #[test]
    fn other_hosts_plain_http_and_odd_names_are_not_services() {
        assert_eq!(classify(&request("https", "github.com", Some("contoso/r"), None)), Remote::Other);
        assert_eq!(classify(&request("https", "dev.azure.com.evil.example", Some("contoso"), None)), Remote::Other);
        let insecure = |origin: &str| Remote::Insecure { origin: origin.into() };
        assert_eq!(
            classify(&request("http", "dev.azure.com", Some("contoso/p"), None)),
            insecure("http://dev.azure.com")
        );
        let old = request("http", "Contoso.VisualStudio.com:80", None, None);
        assert_eq!(classify(&old), insecure("http://contoso.visualstudio.com"));
        assert_eq!(classify(&request("http", "a.b.visualstudio.com", None, None)), Remote::Other);
        assert_eq!(classify(&request("http", "tfs.example.com", Some("tfs/c"), None)), Remote::Other);
        assert_eq!(classify(&request("https", "tfs.example.com", Some("tfs/DefaultCollection"), None)), Remote::Other);
        // A name that could steer a URL built from it is refused.
        assert_eq!(classify(&request("https", "dev.azure.com", Some("evil.example%2F@x/p"), None)), Remote::Other);
        assert_eq!(classify(&request("https", "dev.azure.com", None, Some("a b"))), Remote::Other);
    }

    #[test]
    fn tenant_from_a_bearer_challenge() {
        let headers = vec![
            "Basic realm=\"https://tfsprodweu2.visualstudio.com/\"".to_owned(),
            "Bearer authorization_uri=https://login.microsoftonline.com/72F988BF-86F1-41AF-91AB-2D7CD011DB47"
                .to_owned(),
            "TFS-Federated".to_owned(),
        ];
        assert_eq!(tenant_from_wwwauth(&headers).as_deref(), Some("72f988bf-86f1-41af-91ab-2d7cd011db47"));
        let quoted = vec!["Bearer realm=\"x\", authorization_uri=\"https://login.example/contoso.com/\"".to_owned()];
        assert_eq!(tenant_from_wwwauth(&quoted).as_deref(), Some("contoso.com"));
    }

    #[test]
    fn the_zero_tenant_means_organizations_and_a_bare_bearer_names_none() {
        let zero = vec![format!("Bearer authorization_uri=https://login.microsoftonline.com/{ZERO_TENANT}")];
        assert_eq!(tenant_from_wwwauth(&zero).as_deref(), Some(ORGANIZATIONS_TENANT));
        assert_eq!(tenant_from_wwwauth(&["Bearer".to_owned()]), None);
        assert_eq!(tenant_from_wwwauth(&["Basic realm=\"x\"".to_owned()]), None);
        assert_eq!(tenant_from_wwwauth(&[]), None);
    }

    #[test]
    fn a_loopback_base_serves_both_forms_on_its_port() {
        let fake = Services::new(&url::Url::parse("http://127.0.0.1:8080").unwrap());
        let r = request("http", "127.0.0.1:8080", Some("contoso/p/_git/r"), None);
        assert_eq!(fake.classify(&r), services("contoso", None));
        let r = request("http", "Contoso.visualstudio.com:8080", Some("p/_git/r"), None);
        assert_eq!(fake.classify(&r), services("contoso", None));
        assert_eq!(fake.classify(&request("http", "contoso.visualstudio.com", None, None)), Remote::Other);
        assert_eq!(fake.classify(&request("https", "127.0.0.1:8080", Some("contoso"), None)), Remote::Other);
        // A Server collection on the same address is not an organization named `tfs`.
        let collection = request("http", "127.0.0.1:8080", Some("tfs/DefaultCollection/p/_git/r"), None);
        assert_eq!(fake.classify(&collection), Remote::Other);
        assert_eq!(fake.classify(&request("http", "127.0.0.1:8080", Some("TFS/Main"), Some("bob"))), Remote::Other);
        let scope = Scope::from_url(&fake, "http://127.0.0.1:8080/tfs/DefaultCollection/p/_git/r").unwrap();
        assert_eq!(scope.to_string(), "http://127.0.0.1:8080/tfs/DefaultCollection", "a collection's PAT");
        assert_eq!(fake.organization_url("contoso"), "http://127.0.0.1:8080/contoso");
        assert_eq!(fake.origin(), "http://127.0.0.1:8080");
        assert_eq!(Services::default().origin(), "https://dev.azure.com");
        assert_eq!(Services::default().organization_url("contoso"), "https://dev.azure.com/contoso");
    }

    #[test]
    fn tenant_from_response_headers() {
        use reqwest::header::{HeaderMap, HeaderValue, WWW_AUTHENTICATE};
        let mut headers = HeaderMap::new();
        headers.append(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"x\""));
        headers.append("X-VSS-ResourceTenant", HeaderValue::from_static(ZERO_TENANT_HEADER));
        assert_eq!(tenant_from_headers(&headers).as_deref(), Some(ORGANIZATIONS_TENANT));
        headers.insert("X-VSS-ResourceTenant", HeaderValue::from_static("00000000-0000-0000-0000-000000000000, T2"));
        assert_eq!(tenant_from_headers(&headers).as_deref(), Some("t2"), "the first non-zero tenant");
        headers.append(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer authorization_uri=https://login.x/t1"));
        assert_eq!(tenant_from_headers(&headers).as_deref(), Some("t1"), "the challenge comes first");
        assert_eq!(tenant_from_headers(&HeaderMap::new()), None);
    }

    const ZERO_TENANT_HEADER: &str = "00000000-0000-0000-0000-000000000000";

    /// A loopback server that answers one request with `response`.
    async fn answering_once(response: Vec<u8>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/contoso/_apis/connectionData", listener.local_addr().unwrap());
        tokio::spawn(async move {
            if let Ok((mut stream, _)) = listener.accept().await {
                let mut request = vec![0; 64 << 10];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(&response).await;
            }
        });
        url
    }

    async fn check(body: &[u8]) -> Result<String, CheckError> {
        let mut response =
            format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", body.len())
                .into_bytes();
        response.extend_from_slice(body);
        let url = answering_once(response).await;
        let authorization = crate::secret::Secret::new("Basic cGF0OnNlY3JldA==");
        connection_data(&crate::entra::http_client(), &url, &authorization, std::time::Duration::from_secs(5)).await
    }

    #[tokio::test]
    async fn connection_data_reads_only_the_name_and_a_bounded_body() {
        // Numbers in connectionData (ids, change ids, instance counts) are never computed with,
        // however absurd.
        let absurd =
            br#"{"authenticatedUser":{"id":"x","providerDisplayName":"Alice\u001b[2J","revision":18446744073709551615},
            "locationServiceData":{"lastChangeId":-1,"lastChangeId64":1e300,"clientCacheTimeToLive":"forever"}}"#;
        assert_eq!(check(absurd).await.unwrap(), "Alice[2J");
        // A body far larger than connectionData is not read whole, and says nothing about the
        // credential (a PAT is kept, not removed).
        let huge = format!(r#"{{"authenticatedUser":{{"providerDisplayName":"{}"}}}}"#, "x".repeat(2 << 20));
        let error = check(huge.as_bytes()).await.unwrap_err();
        assert!(matches!(error, CheckError::Unreachable(_)), "{error}");
    }

    #[test]
    fn a_claims_challenge_or_common_names_no_tenant() {
        let cae = r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="eyJhIjp7fX0=""#;
        let tenant = "Bearer authorization_uri=https://login.microsoftonline.com/t1".to_owned();
        assert_eq!(tenant_from_wwwauth(&[cae.to_owned()]), None);
        assert_eq!(tenant_from_wwwauth(&[cae.to_owned(), tenant]).as_deref(), Some("t1"));
        let common = "Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize".to_owned();
        assert_eq!(tenant_from_wwwauth(&[common]), None);
        let named = r#"Bearer authorization_uri="https://login.microsoftonline.com/t2", error="insufficient_claims", claims="eyJhIjp7fX0=""#;
        assert_eq!(tenant_from_wwwauth(&[named.to_owned()]), None, "whatever a claims challenge names");
    }

    #[test]
    fn personal_accounts_refresh_at_the_transfer_tenant_and_guests_at_the_organizations() {
        const HOME: &str = "11111111-1111-1111-1111-111111111111";
        const OTHER: &str = "22222222-2222-2222-2222-222222222222";
        assert_eq!(token_tenant(HOME, None), HOME);
        assert_eq!(token_tenant(HOME, Some(ORGANIZATIONS_TENANT)), HOME);
        assert_eq!(token_tenant(HOME, Some(OTHER)), OTHER, "a guest's token is the inviting tenant's");
        assert_eq!(token_tenant(MSA_TENANT, None), MSA_TRANSFER_TENANT);
        assert_eq!(token_tenant(MSA_TENANT, Some(ORGANIZATIONS_TENANT)), MSA_TRANSFER_TENANT);
        assert_eq!(token_tenant(MSA_TENANT, Some(OTHER)), OTHER, "a personal account invited by a tenant");
        assert!(is_home_tenant(MSA_TENANT, MSA_TRANSFER_TENANT) && is_home_tenant(HOME, HOME));
        assert!(!is_home_tenant(HOME, OTHER) && !is_home_tenant(MSA_TENANT, OTHER));
    }

    #[test]
    fn hostile_challenges_yield_no_tenant() {
        for header in [
            "Bearer authorization_uri=http://login.microsoftonline.com/t",
            "Bearer authorization_uri=https://login.microsoftonline.com/",
            "Bearer authorization_uri=https://login.microsoftonline.com/a%2Fb",
            "Bearer authorization_uri=https://login.microsoftonline.com/..",
        ] {
            assert_eq!(tenant_from_wwwauth(&[header.to_owned()]), None, "{header}");
        }
    }
}
