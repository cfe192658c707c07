//! Getting an Entra access token for Azure DevOps from a non-interactive identity: the
//! client-credentials grant, a managed-identity endpoint, or the Azure CLI. Each call has a
//! deadline; errors are one line and never hold a secret.

use std::time::Duration;

use serde::Deserialize;

use super::{AppCredential, MachineIdentity, ManagedEndpoint};
use crate::azdo::RESOURCE_ID;
use crate::config::EntraSettings;
use crate::entra::checks::{self, Number};
use crate::entra::{ClientProof, Entra, EntraError, describe_http_error, printable};
use crate::secret::Secret;

/// A token and how long it lives: checked as [`crate::entra::Tokens`] are.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub token: Secret,
    pub lifetime: Duration,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Entra(#[from] EntraError),
    #[error("{what} answered HTTP {status}{detail}")]
    Endpoint { what: &'static str, status: u16, detail: String },
    #[error("could not reach {what}: {reason}")]
    Unreachable { what: &'static str, reason: String },
    #[error("{what} answered without a token ({reason})")]
    Malformed { what: &'static str, reason: String },
    #[error("cannot read {path}: {reason}")]
    File { path: String, reason: String },
    #[error("{0}")]
    Cli(String),
    #[error("no answer within {:.1} s", .0.as_secs_f32())]
    TimedOut(Duration),
}

impl FetchError {
    /// Worth another try soon: the source was unreachable or busy, not refusing.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Entra(e) => e.is_transient(),
            Self::Endpoint { status, .. } => *status == 429 || *status >= 500,
            Self::Unreachable { .. } | Self::TimedOut(_) => true,
            Self::Malformed { .. } | Self::File { .. } | Self::Cli(_) => false,
        }
    }
}

/// A token for Azure DevOps from `identity`, within `timeout`. The job token and the env PAT
/// are tokens already, and come back as they are.
pub async fn fetch(
    identity: &MachineIdentity,
    http: &reqwest::Client,
    timeout: Duration,
) -> Result<Fetched, FetchError> {
    let work = async {
        match identity {
            MachineIdentity::Application { authority, tenant, client_id, credential } => {
                application(http, authority, tenant, client_id, credential).await
            }
            MachineIdentity::Managed { endpoint, client_id } => managed(http, endpoint, client_id.as_deref()).await,
            MachineIdentity::AzureCli => azure_cli().await,
            MachineIdentity::PipelineToken { token, .. } | MachineIdentity::EnvPat { token } => {
                Ok(Fetched { token: token.clone(), lifetime: Duration::from_secs(3600) })
            }
        }
    };
    tokio::time::timeout(timeout, work).await.unwrap_or(Err(FetchError::TimedOut(timeout)))
}

async fn application(
    http: &reqwest::Client,
    authority: &str,
    tenant: &str,
    client_id: &str,
    credential: &AppCredential,
) -> Result<Fetched, FetchError> {
    let authority_host = url::Url::parse(authority)
        .map_err(|e| FetchError::Malformed { what: "AZURE_AUTHORITY_HOST", reason: e.to_string() })?;
    let entra = Entra::new(EntraSettings { authority_host, client_id: client_id.to_owned(), tenant: None });
    let tokens = match credential {
        AppCredential::Secret(secret) => entra.client_credentials(tenant, ClientProof::Secret(secret)).await?,
        AppCredential::FederatedTokenFile(path) => {
            // Re-read every time: the platform rotates it.
            let text = tokio::fs::read_to_string(path).await.map_err(|e| FetchError::File {
                path: format!("AZURE_FEDERATED_TOKEN_FILE {}", path.display()),
                reason: e.to_string(),
            })?;
            let assertion = Secret::new(text.trim());
            entra.client_credentials(tenant, ClientProof::Assertion(&assertion)).await?
        }
        AppCredential::Certificate(path) => {
            let pem = tokio::fs::read_to_string(path).await.map_err(|e| FetchError::File {
                path: format!("AZURE_CLIENT_CERTIFICATE_PATH {}", path.display()),
                reason: e.to_string(),
            })?;
            let audience = format!("{}/{tenant}/oauth2/v2.0/token", authority.trim_end_matches('/'));
            let assertion = certificate_assertion(&pem, client_id, &audience).map_err(|reason| FetchError::File {
                path: format!("AZURE_CLIENT_CERTIFICATE_PATH {}", path.display()),
                reason,
            })?;
            entra.client_credentials(tenant, ClientProof::Assertion(&assertion)).await?
        }
        AppCredential::GitHubOidc { request_url, request_token } => {
            let assertion = github_oidc(http, request_url, request_token).await?;
            entra.client_credentials(tenant, ClientProof::Assertion(&assertion)).await?
        }
    };
    Ok(Fetched { token: tokens.access_token, lifetime: tokens.expires_in })
}

/// A client assertion signed with the certificate's private key, as Entra's certificate
/// credentials take it: RS256, the certificate's SHA-256 thumbprint in `x5t#S256`, ten
/// minutes of validity, for the token endpoint `audience`.
fn certificate_assertion(pem_text: &str, client_id: &str, audience: &str) -> Result<Secret, String> {
    use base64::Engine as _;
    use sha2::Digest as _;
    let blocks = pem::parse_many(pem_text).map_err(|e| format!("not PEM: {e}"))?;
    let certificate = blocks.iter().find(|b| b.tag() == "CERTIFICATE").ok_or("no CERTIFICATE in the file")?;
    let key = blocks
        .iter()
        .find(|b| matches!(b.tag(), "PRIVATE KEY" | "RSA PRIVATE KEY"))
        .ok_or("no unencrypted RSA PRIVATE KEY in the file")?;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem::encode(key).as_bytes())
        .map_err(|e| format!("the private key is not an RSA key: {e}"))?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.x5t_s256 =
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(certificate.contents())));
    let now = crate::store::unix_now();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let claims = serde_json::json!({
        "aud": audience,
        "iss": client_id,
        "sub": client_id,
        "jti": format!("{now:x}-{nanos:x}-{:x}", std::process::id()),
        "nbf": now,
        "iat": now,
        "exp": now + 600,
    });
    jsonwebtoken::encode(&header, &claims, &key).map(Secret::new).map_err(|e| format!("cannot sign: {e}"))
}

/// The workflow's OIDC token for Entra, from GitHub Actions' provider.
async fn github_oidc(http: &reqwest::Client, request_url: &str, request_token: &Secret) -> Result<Secret, FetchError> {
    const WHAT: &str = "GitHub Actions' OIDC provider (ACTIONS_ID_TOKEN_REQUEST_URL)";
    #[derive(Deserialize)]
    struct Answer {
        value: Secret,
    }
    let mut url =
        url::Url::parse(request_url).map_err(|e| FetchError::Malformed { what: WHAT, reason: e.to_string() })?;
    url.query_pairs_mut().append_pair("audience", "api://AzureADTokenExchange");
    let request = http.get(url).bearer_auth(request_token.expose());
    let answer: Answer = json(WHAT, request).await?;
    checks::check_token("token", answer.value.expose())
        .map_err(|reason| FetchError::Malformed { what: WHAT, reason })?;
    Ok(answer.value)
}

async fn managed(
    http: &reqwest::Client,
    endpoint: &ManagedEndpoint,
    client_id: Option<&str>,
) -> Result<Fetched, FetchError> {
    let (what, request) = match endpoint {
        ManagedEndpoint::Imds { url } => {
            let mut query = vec![("api-version", "2018-02-01"), ("resource", RESOURCE_ID)];
            query.extend(client_id.map(|id| ("client_id", id)));
            ("the instance metadata service", http.get(url).query(&query).header("Metadata", "true"))
        }
        ManagedEndpoint::AppService { url, header } => {
            let mut query = vec![("api-version", "2019-08-01"), ("resource", RESOURCE_ID)];
            query.extend(client_id.map(|id| ("client_id", id)));
            (
                "App Service's identity endpoint",
                http.get(url).query(&query).header("X-IDENTITY-HEADER", header.expose()),
            )
        }
    };
    let answer: ManagedAnswer = json(what, request).await?;
    answer.checked(crate::store::unix_now()).map_err(|reason| FetchError::Malformed { what, reason })
}

/// A managed-identity endpoint's answer: IMDS gives `expires_in` and `expires_on`, App Service
/// `expires_on` (Unix seconds), both as strings.
#[derive(Deserialize)]
struct ManagedAnswer {
    access_token: Secret,
    #[serde(default)]
    expires_in: Option<Number>,
    #[serde(default)]
    expires_on: Option<Number>,
}

impl ManagedAnswer {
    /// The token and its lifetime as of `now` (Unix seconds), checked.
    fn checked(self, now: u64) -> Result<Fetched, String> {
        let lifetime = match (self.expires_in, self.expires_on) {
            (Some(seconds), _) => checks::lifetime("expires_in", seconds)?,
            (None, Some(on)) => checks::lifetime_until("expires_on", on, now)?,
            (None, None) => return Err("no expires_in or expires_on".into()),
        };
        checks::check_token("access_token", self.access_token.expose())?;
        Ok(Fetched { token: self.access_token, lifetime })
    }
}

/// GETs `request` and reads its JSON; an error keeps the endpoint's own words, cut short.
async fn json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<T, FetchError> {
    let response =
        request.send().await.map_err(|e| FetchError::Unreachable { what, reason: describe_http_error(&e) })?;
    let status = response.status().as_u16();
    let body = crate::entra::read_body(response).await.map_err(|e| match e {
        crate::entra::HttpError::TooLarge => FetchError::Malformed { what, reason: e.to_string() },
        crate::entra::HttpError::Transport(reason) => FetchError::Unreachable { what, reason },
    })?;
    if status != 200 {
        #[derive(Deserialize)]
        struct Error {
            error: Option<String>,
            error_description: Option<String>,
        }
        let detail = serde_json::from_slice::<Error>(&body)
            .ok()
            .map(|e| [e.error, e.error_description].into_iter().flatten().collect::<Vec<_>>().join(": "))
            .filter(|d| !d.is_empty())
            .map(|d| format!(": {}", printable(&d, 300)))
            .unwrap_or_default();
        return Err(FetchError::Endpoint { what, status, detail });
    }
    serde_json::from_slice(&body)
        .map_err(|e| FetchError::Malformed { what, reason: crate::secret::describe_json_error(&e) })
}

/// The most the Azure CLI may print (on stdout, and on stderr): its answer is a few KiB. More
/// is not its answer, and would be held in memory.
const MAX_CLI_OUTPUT: usize = 1 << 20;

/// `az account get-access-token` for Azure DevOps.
async fn azure_cli() -> Result<Fetched, FetchError> {
    let program = if cfg!(windows) { "az.cmd" } else { "az" };
    let output = run_bounded(
        tokio::process::Command::new(program).args([
            "account",
            "get-access-token",
            "--resource",
            RESOURCE_ID,
            "--output",
            "json",
        ]),
        MAX_CLI_OUTPUT,
    )
    .await
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::FileTooLarge => FetchError::Cli(format!("the Azure CLI ({program}) {e}")),
        _ => FetchError::Cli(format!("cannot run the Azure CLI ({program}): {e}")),
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no message");
        return Err(FetchError::Cli(format!("the Azure CLI failed: {}", printable(first, 300))));
    }
    let answer: CliAnswer = serde_json::from_slice(&output.stdout)
        .map_err(|e| FetchError::Cli(format!("the Azure CLI answered {}", crate::secret::describe_json_error(&e))))?;
    answer
        .checked(crate::store::unix_now())
        .map_err(|reason| FetchError::Cli(format!("the Azure CLI answered {reason}")))
}

/// Runs `command` to its end, stdin closed, reading at most `limit` bytes of each of its
/// stdout and stderr: one that prints more is killed, and that is an error
/// (`ErrorKind::FileTooLarge`). The child is killed too if the caller gives up waiting.
async fn run_bounded(command: &mut tokio::process::Command, limit: usize) -> std::io::Result<std::process::Output> {
    use std::process::Stdio;
    use tokio::io::AsyncReadExt as _;
    let mut child =
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).spawn()?;
    // Either pipe going over ends both reads at once (the other may never end by itself).
    let read = |pipe: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| async move {
        let mut bytes = Vec::new();
        if let Some(pipe) = pipe {
            // One byte past the limit tells that there was more.
            pipe.take(limit as u64 + 1).read_to_end(&mut bytes).await?;
        }
        if bytes.len() > limit {
            return Err(std::io::Error::new(
                std::io::ErrorKind::FileTooLarge,
                format!("printed more than {} KiB, which is not its answer", limit >> 10),
            ));
        }
        Ok(bytes)
    };
    let stdout = child.stdout.take().map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>);
    let stderr = child.stderr.take().map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>);
    let (stdout, stderr) = match tokio::try_join!(read(stdout), read(stderr)) {
        Ok(both) => both,
        Err(e) => {
            let _ = child.kill().await;
            return Err(e);
        }
    };
    let status = child.wait().await?;
    Ok(std::process::Output { status, stdout, stderr })
}

/// What `az account get-access-token` prints.
#[derive(Deserialize)]
struct CliAnswer {
    #[serde(rename = "accessToken")]
    access_token: Secret,
    /// Unix seconds (az 2.54 and later). `expiresOn`, in local time without a zone, is not read.
    #[serde(default)]
    expires_on: Option<Number>,
}

impl CliAnswer {
    /// The token and its lifetime as of `now` (Unix seconds), checked.
    fn checked(self, now: u64) -> Result<Fetched, String> {
        let lifetime = match self.expires_on {
            Some(on) => checks::lifetime_until("expires_on", on, now)?,
            // Without a Unix expiry, assume little is left: the token is asked for again soon.
            None => Duration::from_secs(300),
        };
        checks::check_token("accessToken", self.access_token.expose())?;
        Ok(Fetched { token: self.access_token, lifetime })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn managed(json: &str) -> Result<Duration, String> {
        let answer: ManagedAnswer = serde_json::from_str(json).map_err(|e| e.to_string())?;
        answer.checked(NOW).map(|fetched| fetched.lifetime)
    }

    fn cli(json: &str) -> Result<Duration, String> {
        let answer: CliAnswer = serde_json::from_str(json).map_err(|e| e.to_string())?;
        answer.checked(NOW).map(|fetched| fetched.lifetime)
    }

    #[test]
    fn imds_lifetimes_as_strings_or_numbers_are_checked() {
        let hour = Ok(Duration::from_secs(3600));
        assert_eq!(managed(r#"{"access_token":"t","expires_in":"3600","expires_on":"1800003600"}"#), hour);
        assert_eq!(managed(r#"{"access_token":"t","expires_in":3600}"#), hour);
        assert_eq!(managed(r#"{"access_token":"t","expires_in":"3600.9"}"#), Ok(Duration::from_millis(3_600_900)));
        let day = Ok(crate::entra::checks::MAX_LIFETIME);
        assert_eq!(managed(r#"{"access_token":"t","expires_in":"18446744073709551615"}"#), day);
        assert_eq!(managed(r#"{"access_token":"t","expires_in":1e300}"#), day);
        for absurd in [r#""0""#, r#""-1""#, "-5", r#""NaN""#, r#""inf""#, r#""soon""#] {
            let error = managed(&format!(r#"{{"access_token":"t","expires_in":{absurd}}}"#)).unwrap_err();
            assert!(error.contains("expires_in"), "{absurd}: {error}");
        }
        assert!(managed(r#"{"access_token":"t","expires_in":true}"#).is_err(), "not a number at all");
    }

    #[test]
    fn app_service_expiries_are_measured_from_now() {
        assert_eq!(managed(r#"{"access_token":"t","expires_on":"1800000600"}"#), Ok(Duration::from_secs(600)));
        assert_eq!(
            managed(r#"{"access_token":"t","expires_on":"99999999999999999999"}"#),
            Ok(crate::entra::checks::MAX_LIFETIME)
        );
        for absurd in [r#""1799999999""#, r#""0""#, "-1", r#""09/14/2017 00:00:00 PM +00:00""#] {
            let error = managed(&format!(r#"{{"access_token":"t","expires_on":{absurd}}}"#)).unwrap_err();
            assert!(error.contains("expires_on"), "{absurd}: {error}");
        }
        assert_eq!(managed(r#"{"access_token":"t"}"#).unwrap_err(), "no expires_in or expires_on");
    }

    #[test]
    fn managed_identity_tokens_are_checked() {
        for bad in [r#""""#, r#""a\r\nb""#, r#""a b""#, r#""a\u0000""#] {
            let error = managed(&format!(r#"{{"access_token":{bad},"expires_in":"3600"}}"#)).unwrap_err();
            assert!(error.contains("access_token"), "{error}");
        }
    }

    #[test]
    fn azure_cli_expiries_are_checked_and_expires_on_local_time_is_not_read() {
        assert_eq!(cli(r#"{"accessToken":"t","expires_on":1800003600}"#), Ok(Duration::from_secs(3600)));
        assert_eq!(cli(r#"{"accessToken":"t","expires_on":"1800003600"}"#), Ok(Duration::from_secs(3600)));
        assert_eq!(cli(r#"{"accessToken":"t","expiresOn":"9999-99-99 99:99:99"}"#), Ok(Duration::from_secs(300)));
        assert_eq!(cli(r#"{"accessToken":"t","expires_on":1e300}"#), Ok(crate::entra::checks::MAX_LIFETIME));
        for absurd in ["0", "-1", "1799999999", r#""never""#] {
            let answer = format!(r#"{{"accessToken":"t","expires_on":{absurd}}}"#);
            assert!(cli(&answer).unwrap_err().contains("expires_on"), "{absurd}");
        }
        assert!(cli(r#"{"accessToken":"a\u0007b","expires_on":1800003600}"#).unwrap_err().contains("accessToken"));
    }
}
