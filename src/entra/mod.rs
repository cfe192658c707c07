//! Microsoft Entra ID: browser sign-in (authorization code + PKCE on a loopback redirect),
//! device code sign-in, and refreshing tokens. Flows run on the oauth2 crate; errors keep what
//! Entra says (`error`, the AADSTS `error_codes`, `suberror`) so the user can be told exactly
//! what happened and the one thing to do next.
//!
//! Facts about the wire are in shared/AZURE.md.

mod browser;
pub mod checks;
pub mod claims;
mod device;
mod http;

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use oauth2::basic::{BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType};
use oauth2::{EndpointNotSet, EndpointSet, StandardRevocableToken};
use serde::{Deserialize, Serialize};

pub use browser::{Browser, BrowserSignIn, open_browser};
pub use device::DeviceCode;
pub(crate) use http::{
    HttpError, builder as http_builder, client as http_client, describe as describe_http_error, read_body,
};

use crate::azdo::RESOURCE_ID;
use crate::config::EntraSettings;
use crate::secret::Secret;

/// What we ask for: Azure DevOps, a refresh token, and who signed in.
pub fn scopes() -> [String; 4] {
    [format!("{RESOURCE_ID}/.default"), "offline_access".into(), "openid".into(), "profile".into()]
}

/// Entra's error body, whole (shared/AZURE.md): oauth2's own type drops `error_codes` and
/// `suberror`. Never holds a secret.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntraErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "checks::optional_text")]
    pub error_description: Option<String>,
    /// At most [`checks::MAX_ERROR_CODES`], whatever the server sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "checks::error_codes")]
    pub error_codes: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "checks::optional_text")]
    pub suberror: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "checks::optional_text")]
    pub trace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "checks::optional_text")]
    pub correlation_id: Option<String>,
}

impl oauth2::ErrorResponse for EntraErrorBody {}

impl fmt::Display for EntraErrorBody {
    /// `invalid_grant (AADSTS700082, suberror bad_token): The refresh token has expired...`,
    /// on one line, without control characters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&printable(&self.error, 64))?;
        // The list is bounded when read; a body made in code may be longer.
        let codes = self.error_codes.iter().take(checks::MAX_ERROR_CODES);
        let mut details: Vec<String> = codes.map(|c| format!("AADSTS{c}")).collect();
        if let Some(suberror) = self.suberror.as_ref().filter(|s| !s.trim().is_empty()) {
            details.push(format!("suberror {}", printable(suberror, 64)));
        }
        if !details.is_empty() {
            write!(f, " ({})", details.join(", "))?;
        }
        if let Some(description) = self.error_description.as_deref().and_then(|d| d.lines().next()) {
            // "AADSTS700082: The refresh token..." repeats the code given above.
            let text = match description.split_once(": ") {
                Some((code, rest)) if code.starts_with("AADSTS") => rest,
                _ => description,
            };
            write!(f, ": {}", printable(text.trim_end_matches('.'), 300))?;
        }
        Ok(())
    }
}

/// What an Entra call can end in. Cloned to every request that waited on the same refresh.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EntraError {
    /// Entra answered with an error.
    #[error("Entra ID refused: {0}")]
    Refused(Box<EntraErrorBody>),
    /// Entra is busy or failing (5xx, 429) without saying more.
    #[error("Entra ID is unavailable (HTTP {status})")]
    Unavailable { status: u16, retry_after: Option<Duration> },
    /// Entra could not be reached, or did not answer in time.
    #[error("Entra ID could not be reached: {0}")]
    Unreachable(String),
    /// An answer that is not what Entra sends.
    #[error("Entra ID sent an answer that could not be understood ({0})")]
    Malformed(String),
    /// The user did not complete the sign-in in time.
    #[error("the sign-in was not completed within {} minutes", .0.as_secs() / 60)]
    TimedOut(Duration),
    /// The user declined, or the browser reported an error.
    #[error("the sign-in was cancelled: {0}")]
    Cancelled(String),
    /// The browser command the user configured failed: nobody will come back to sign in.
    #[error("the browser could not open the sign-in page: {0}")]
    Browser(String),
}

impl EntraError {
    /// Worth another try after a pause.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable { .. } | Self::Unreachable(_) => true,
            Self::Refused(body) => matches!(body.error.as_str(), "temporarily_unavailable" | "server_error"),
            Self::Malformed(_) | Self::TimedOut(_) | Self::Cancelled(_) | Self::Browser(_) => false,
        }
    }

    /// The refresh token no longer works: only an interactive sign-in helps.
    pub fn needs_sign_in(&self) -> bool {
        matches!(self, Self::Refused(body)
            if matches!(body.error.as_str(), "invalid_grant" | "interaction_required" | "consent_required"))
    }

    /// How long Entra asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Unavailable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The result of a successful token request, checked ([`checks`]): the tokens are printable
/// and of a sane length, the lifetime within [`checks::MIN_LIFETIME`] and
/// [`checks::MAX_LIFETIME`].
#[derive(Debug)]
pub struct Tokens {
    pub access_token: Secret,
    pub expires_in: Duration,
    /// Entra rotates refresh tokens: keep the newest.
    pub refresh_token: Option<Secret>,
    pub identity: Option<Identity>,
}

/// Who signed in, from the `id_token`'s claims and MSAL's `client_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `{uid}.{utid}` (the object and tenant at home), as MSAL names accounts: stable across
    /// renames, and the same whichever tenant the user signed in at (a guest's `id_token`
    /// names the inviting tenant and another object id).
    pub account_id: String,
    /// The home tenant: [`crate::azdo::MSA_TENANT`] for a personal Microsoft account.
    pub tenant_id: String,
    /// `preferred_username`: usually the sign-in address.
    pub username: String,
    pub name: Option<String>,
}

impl Identity {
    /// Reads an `id_token`'s claims. The token comes straight from the token endpoint over TLS,
    /// which `OpenID` Connect accepts in place of checking its signature.
    pub fn from_id_token(id_token: &str) -> Option<Self> {
        #[derive(Deserialize)]
        struct Claims {
            oid: Option<String>,
            sub: Option<String>,
            tid: Option<String>,
            preferred_username: Option<String>,
            email: Option<String>,
            name: Option<String>,
        }
        let payload = id_token.split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        let claims: Claims = serde_json::from_slice(&bytes).ok()?;
        let tenant_id = crate::azdo::tenant_name(claims.tid.as_deref()?)?;
        let object = claims.oid.or(claims.sub)?;
        let username = claims.preferred_username.or(claims.email)?;
        Some(Self {
            account_id: format!("{}.{tenant_id}", printable(&object, 64)),
            tenant_id,
            username: printable(&username, 256),
            name: claims.name.map(|n| printable(&n, 256)),
        })
    }

    /// The `id_token`'s identity, at home: `client_info` (base64url JSON `{"uid","utid"}`, which
    /// Entra returns when asked with `client_info=1`) names the home object and tenant, as
    /// MSAL's home account id does. Without it, the `id_token`'s own.
    pub fn from_response(id_token: &str, client_info: Option<&str>) -> Option<Self> {
        #[derive(Deserialize)]
        struct ClientInfo {
            uid: String,
            utid: String,
        }
        let mut identity = Self::from_id_token(id_token)?;
        let home = client_info.and_then(|info| {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(info.trim_end_matches('=')).ok()?;
            let info: ClientInfo = serde_json::from_slice(&bytes).ok()?;
            Some((crate::azdo::tenant_name(&info.utid)?, info.uid))
        });
        if let Some((tenant, uid)) = home {
            identity.account_id = format!("{}.{tenant}", printable(&uid, 64));
            identity.tenant_id = tenant;
        }
        Some(identity)
    }
}

/// Entra's token answer (shared/AZURE.md), read as Entra may send it: `expires_in` as a number
/// or a string. Nothing in it is used before [`Entra::tokens`] has checked it.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct TokenResponse {
    access_token: oauth2::AccessToken,
    /// Always `Bearer` from Entra; not needed to use the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_in: Option<checks::Number>,
    /// Unix seconds, as Entra's v1 endpoints add; read only when `expires_in` is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expires_on: Option<checks::Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<oauth2::RefreshToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_info: Option<String>,
    #[serde(skip, default = "bearer")]
    bearer: BasicTokenType,
}

fn bearer() -> BasicTokenType {
    BasicTokenType::Bearer
}

impl fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenResponse").field("expires_in", &self.expires_in).finish_non_exhaustive()
    }
}

impl oauth2::TokenResponse for TokenResponse {
    type TokenType = BasicTokenType;

    fn access_token(&self) -> &oauth2::AccessToken {
        &self.access_token
    }

    fn token_type(&self) -> &BasicTokenType {
        &self.bearer
    }

    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.and_then(|n| checks::lifetime("expires_in", n).ok())
    }

    fn refresh_token(&self) -> Option<&oauth2::RefreshToken> {
        self.refresh_token.as_ref()
    }

    fn scopes(&self) -> Option<&Vec<oauth2::Scope>> {
        None
    }
}

/// oauth2's client, with Entra's error type and every endpoint we use set.
pub(crate) type OAuthClient = oauth2::Client<
    EntraErrorBody,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// How an application proves itself in the client-credentials grant.
#[derive(Debug, Clone, Copy)]
pub enum ClientProof<'a> {
    Secret(&'a Secret),
    /// A JWT from a federated identity provider (Kubernetes, GitHub Actions).
    Assertion(&'a Secret),
}

/// Entra ID for one authority host and client id.
#[derive(Debug)]
pub struct Entra {
    settings: EntraSettings,
    http: http::Http,
}

impl Entra {
    pub fn new(settings: EntraSettings) -> Self {
        let http = http::Http::new(settings.authority_host.as_str());
        Self { settings, http }
    }

    pub fn settings(&self) -> &EntraSettings {
        &self.settings
    }

    fn endpoint(&self, tenant: &str, name: &str) -> Result<oauth2::url::Url, EntraError> {
        let base = self.settings.authority_host.as_str().trim_end_matches('/');
        oauth2::url::Url::parse(&format!("{base}/{tenant}/oauth2/v2.0/{name}"))
            .map_err(|e| EntraError::Malformed(format!("endpoint: {e}")))
    }

    pub(crate) fn oauth_client(&self, tenant: &str) -> Result<OAuthClient, EntraError> {
        Ok(oauth2::Client::new(oauth2::ClientId::new(self.settings.client_id.clone()))
            .set_auth_type(oauth2::AuthType::RequestBody)
            .set_auth_uri(oauth2::AuthUrl::from_url(self.endpoint(tenant, "authorize")?))
            .set_device_authorization_url(oauth2::DeviceAuthorizationUrl::from_url(
                self.endpoint(tenant, "devicecode")?,
            ))
            .set_token_uri(oauth2::TokenUrl::from_url(self.endpoint(tenant, "token")?)))
    }

    /// One refresh-token request at `tenant` (the caller retries transient failures), with the
    /// claims of a challenge when there is one (see [`claims`]).
    pub async fn refresh(
        &self,
        tenant: &str,
        refresh_token: &Secret,
        challenge: Option<&str>,
    ) -> Result<Tokens, EntraError> {
        let client = self.oauth_client(tenant)?;
        let refresh_token = oauth2::RefreshToken::new(refresh_token.expose().to_owned());
        let result = client
            .exchange_refresh_token(&refresh_token)
            .add_scopes(scopes().into_iter().map(oauth2::Scope::new))
            .add_extra_param("claims", claims::request_claims(challenge))
            .add_extra_param("client_info", "1")
            .request_async(&self.http)
            .await;
        self.tokens(result)
    }

    /// The client-credentials grant of an application (no user, no refresh token), proven by a
    /// client secret or by a signed assertion (a federated token).
    pub async fn client_credentials(&self, tenant: &str, proof: ClientProof<'_>) -> Result<Tokens, EntraError> {
        let mut client = self.oauth_client(tenant)?;
        if let ClientProof::Secret(secret) = proof {
            client = client.set_client_secret(oauth2::ClientSecret::new(secret.expose().to_owned()));
        }
        let scope = oauth2::Scope::new(format!("{}/.default", crate::azdo::RESOURCE_ID));
        let mut request = client.exchange_client_credentials().add_scope(scope);
        if let ClientProof::Assertion(assertion) = proof {
            request = request
                .add_extra_param("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                .add_extra_param("client_assertion", assertion.expose().to_owned());
        }
        self.tokens(request.request_async(&self.http).await)
    }

    /// Turns oauth2's outcome into ours, recovering what oauth2's error types drop.
    fn tokens<E: oauth2::ErrorResponse>(
        &self,
        result: Result<TokenResponse, oauth2::RequestTokenError<HttpError, E>>,
    ) -> Result<Tokens, EntraError> {
        let last = self.http.take_last_error();
        let response = match result {
            Ok(response) => response,
            Err(oauth2::RequestTokenError::Request(e)) => return Err(request_error(&e)),
            Err(other) => return Err(error_from(last, &other)),
        };
        checked(response).map_err(EntraError::Malformed)
    }
}

/// The tokens of an answer, once checked: a token that is not printable or of a sane length, or
/// an absurd lifetime, makes the whole answer one that could not be understood, and nothing of
/// it is kept.
fn checked(response: TokenResponse) -> Result<Tokens, String> {
    let TokenResponse { access_token, expires_in, expires_on, refresh_token, id_token, client_info, .. } = response;
    checks::check_token("access_token", access_token.secret())?;
    if let Some(refresh_token) = &refresh_token {
        checks::check_token("refresh_token", refresh_token.secret())?;
    }
    let expires_in = match (expires_in, expires_on) {
        (Some(seconds), _) => checks::lifetime("expires_in", seconds)?,
        (None, Some(on)) => checks::lifetime_until("expires_on", on, crate::store::unix_now())?,
        // Entra always says; RFC 6749 leaves it to the server's documentation.
        (None, None) => Duration::from_secs(3600),
    };
    Ok(Tokens {
        access_token: Secret::new(access_token.into_secret()),
        expires_in,
        refresh_token: refresh_token.map(|t| Secret::new(t.into_secret())),
        identity: id_token.as_deref().and_then(|id| Identity::from_response(id, client_info.as_deref())),
    })
}

/// An Entra error from the last unsuccessful answer when there was one; otherwise from what
/// oauth2 made of the response (never its body, which could hold anything).
fn error_from<E: oauth2::ErrorResponse>(
    last: Option<http::LastError>,
    error: &oauth2::RequestTokenError<HttpError, E>,
) -> EntraError {
    match last {
        Some(last) => error_of(last),
        None => match error {
            oauth2::RequestTokenError::ServerResponse(e) => EntraError::Malformed(printable(&e.to_string(), 200)),
            oauth2::RequestTokenError::Parse(e, _) => EntraError::Malformed(format!("at {}", e.path())),
            oauth2::RequestTokenError::Other(e) => EntraError::Malformed(printable(e, 200)),
            oauth2::RequestTokenError::Request(e) => request_error(e),
        },
    }
}

/// The error an unsuccessful answer stands for.
fn error_of(last: http::LastError) -> EntraError {
    match last {
        http::LastError { body: Some(body), .. } => EntraError::Refused(Box::new(body)),
        http::LastError { status, retry_after, body: None } if status == 429 || status >= 500 => {
            EntraError::Unavailable { status, retry_after }
        }
        http::LastError { status, .. } => EntraError::Malformed(format!("HTTP {status}")),
    }
}

/// A request that brought back nothing usable: no answer, or one too large to be Entra's.
fn request_error(error: &HttpError) -> EntraError {
    match error {
        HttpError::Transport(_) => EntraError::Unreachable(error.to_string()),
        HttpError::TooLarge => EntraError::Malformed(error.to_string()),
    }
}

/// `text` without control characters (a server's words shown on a terminal must not be able
/// to move the cursor or forge lines), cut at `max` characters.
pub fn printable(text: &str, max: usize) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(max).collect();
    if text.chars().filter(|c| !c.is_control()).count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entra_error_keeps_its_codes_and_suberror_on_one_line() {
        let body: EntraErrorBody = serde_json::from_str(
            r#"{"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired due to inactivity.\r\nTrace ID: 1\r\nCorrelation ID: 2","error_codes":[700082],"timestamp":"x","trace_id":"1","correlation_id":"2","suberror":"bad_token"}"#,
        )
        .unwrap();
        let error = EntraError::Refused(Box::new(body));
        assert!(error.needs_sign_in());
        assert!(!error.is_transient());
        assert_eq!(
            error.to_string(),
            "Entra ID refused: invalid_grant (AADSTS700082, suberror bad_token): \
             The refresh token has expired due to inactivity"
        );
    }

    #[test]
    fn odd_error_codes_neither_hide_the_error_nor_make_its_line_long() {
        let shown = |json: &str| {
            let body: EntraErrorBody = serde_json::from_str(json).expect("still read as Entra's error");
            EntraError::Refused(Box::new(body)).to_string()
        };
        let many = vec!["70008"; 200_000].join(",");
        let json =
            format!(r#"{{"error":"invalid_grant","error_description":"AADSTS70008: Expired","error_codes":[{many}]}}"#);
        assert_eq!(shown(&json), "Entra ID refused: invalid_grant (AADSTS70008): Expired");
        let distinct: Vec<String> = (1..100_000).map(|n| n.to_string()).collect();
        let json = format!(r#"{{"error":"invalid_grant","error_codes":[{}]}}"#, distinct.join(","));
        assert_eq!(shown(&json), "Entra ID refused: invalid_grant (AADSTS1, AADSTS2, AADSTS3, AADSTS4)");
        for codes in [r#"["70008"]"#, r#"[" 70008 ",-1,1.5,"x",null,[1],{"a":1},true]"#, r"[-5,70008]"] {
            let json = format!(r#"{{"error":"invalid_grant","error_description":"Expired","error_codes":{codes}}}"#);
            assert_eq!(shown(&json), "Entra ID refused: invalid_grant (AADSTS70008): Expired", "{codes}");
        }
        for codes in ["null", "70008", r#""70008""#, "{}", "[]", "-1", "true"] {
            let json = format!(
                r#"{{"error":"invalid_grant","error_description":"Expired","error_codes":{codes},"suberror":5,"trace_id":[1],"correlation_id":{{}}}}"#
            );
            assert_eq!(shown(&json), "Entra ID refused: invalid_grant: Expired", "{codes}");
        }
        let json = r#"{"error":"invalid_grant","error_description":["not", "text"]}"#;
        assert_eq!(shown(json), "Entra ID refused: invalid_grant");
    }

    #[test]
    fn an_empty_suberror_is_left_out() {
        let body = EntraErrorBody {
            error: "invalid_client".into(),
            error_codes: vec![7_000_215],
            suberror: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(EntraError::Refused(Box::new(body)).to_string(), "Entra ID refused: invalid_client (AADSTS7000215)");
    }

    #[test]
    fn transient_and_interactive_errors_are_told_apart() {
        let refused =
            |error: &str| EntraError::Refused(Box::new(EntraErrorBody { error: error.into(), ..Default::default() }));
        assert!(refused("interaction_required").needs_sign_in());
        assert!(refused("temporarily_unavailable").is_transient());
        assert!(!refused("invalid_client").needs_sign_in());
        assert!(EntraError::Unavailable { status: 503, retry_after: None }.is_transient());
    }

    #[test]
    fn identity_from_an_id_token() {
        let claims = r#"{"oid":"0b1","tid":"72F988BF-86F1-41AF-91AB-2D7CD011DB47","preferred_username":"alice@contoso.com","name":"Alice\u001b[2J"}"#;
        let token = format!("e30.{}.sig", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims));
        let identity = Identity::from_id_token(&token).unwrap();
        assert_eq!(identity.account_id, "0b1.72f988bf-86f1-41af-91ab-2d7cd011db47");
        assert_eq!(identity.username, "alice@contoso.com");
        assert_eq!(identity.name.as_deref(), Some("Alice[2J"), "control characters are dropped");
        assert_eq!(Identity::from_id_token("not-a-jwt"), None);
    }

    fn token_answer(json: &str) -> Result<Tokens, String> {
        let response: TokenResponse = serde_json::from_str(json).map_err(|e| e.to_string())?;
        checked(response)
    }

    #[test]
    fn token_lifetimes_are_read_as_numbers_or_strings_and_checked() {
        let lifetime = |expires_in: &str| {
            token_answer(&format!(r#"{{"token_type":"Bearer","access_token":"at","expires_in":{expires_in}}}"#))
                .map(|t| t.expires_in)
        };
        assert_eq!(lifetime("4799"), Ok(Duration::from_secs(4799)));
        assert_eq!(lifetime(r#""4799""#), Ok(Duration::from_secs(4799)), "Entra v1 sends strings");
        assert_eq!(lifetime("4799.5"), Ok(Duration::from_millis(4_799_500)));
        assert_eq!(lifetime("18446744073709551615"), Ok(checks::MAX_LIFETIME));
        assert_eq!(lifetime("1e300"), Ok(checks::MAX_LIFETIME));
        for absurd in ["0", "-1", "-18446744073709551615", "0.2", r#""""#, r#""soon""#, r#""NaN""#, r#""-inf""#] {
            let error = lifetime(absurd).unwrap_err();
            assert!(error.starts_with("expires_in is "), "{absurd}: {error}");
        }
        assert!(lifetime("{}").is_err(), "not a number at all");
        assert_eq!(lifetime("null"), Ok(Duration::from_secs(3600)), "null is no lifetime given");
        let missing = token_answer(r#"{"token_type":"Bearer","access_token":"at"}"#).map(|t| t.expires_in);
        assert_eq!(missing, Ok(Duration::from_secs(3600)));
        // Entra v1's absolute expiry, when there is no relative one.
        let on = |expires_on: &str| {
            token_answer(&format!(r#"{{"access_token":"at","expires_on":{expires_on}}}"#)).map(|t| t.expires_in)
        };
        let in_an_hour = crate::store::unix_now() + 3600;
        assert!(on(&format!(r#""{in_an_hour}""#)).is_ok_and(|d| d > Duration::from_secs(3500)));
        assert_eq!(on("1e300"), Ok(checks::MAX_LIFETIME));
        assert!(on(r#""1""#).unwrap_err().starts_with("expires_on is 1:"));
    }

    #[test]
    fn tokens_that_are_not_printable_are_refused_before_anything_is_kept() {
        let answer = |access: &str, refresh: &str| {
            let json = serde_json::json!({"access_token": access, "refresh_token": refresh, "expires_in": 3600});
            token_answer(&json.to_string())
        };
        let tokens = answer("eyJ0.eyJh.c2ln", "0.AXoA-rt_~").unwrap();
        assert_eq!(tokens.access_token.expose(), "eyJ0.eyJh.c2ln");
        for (access, refresh, field) in [
            (r"at\r\nX-Injected: 1", "rt", "access_token"),
            (r"a\nb", "rt", "access_token"),
            ("a b", "rt", "access_token"),
            ("", "rt", "access_token"),
            ("at\u{e9}", "rt", "access_token"),
            ("at", r"rt\n", "refresh_token"),
            ("at", r"rt\u0000", "refresh_token"),
        ] {
            let json = format!(r#"{{"access_token":"{access}","refresh_token":"{refresh}","expires_in":3600}}"#);
            let error = token_answer(&json).unwrap_err();
            assert!(error.starts_with(&format!("{field} ")), "{error}");
            assert!(!error.contains("Injected"), "the token is not echoed: {error}");
        }
        assert!(answer(&"x".repeat(checks::MAX_TOKEN + 1), "rt").is_err());
    }

    #[test]
    fn printable_drops_control_characters_and_cuts() {
        assert_eq!(printable("a\u{1b}]0;x\u{7}b\nc", 100), "a]0;xbc");
        assert_eq!(printable("abcdef", 3), "abc…");
    }
}
