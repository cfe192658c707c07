//! A fake of Azure DevOps's PAT lifecycle management API, the identity service's
//! `/{organization}/_apis/tokens/pats` (`vssps.dev.azure.com`), on 127.0.0.1.
//!
//! Shaped after Microsoft's REST specification (`MicrosoftDocs/vsts-rest-api-specs`,
//! `specification/tokens/7.1/tokens.json` and `httpExamples/Pats`) and "Manage personal access
//! tokens using API":
//! - `api-version=7.1-preview.1` is required; only a live Entra token of a person of the
//!   organization's tenant is taken (Bearer). A PAT, another tenant's token or none gets the 401
//!   (or, without `X-TFS-FedAuthRedirect: Suppress`, the 203 sign-in page); a service principal
//!   or managed identity gets the 403 `InvalidAccessException` a public trace shows
//!   (MicrosoftDocs/azure-docs#108847); a personal Microsoft account, the same 403 (an
//!   inference: the API is documented as for Entra users only).
//! - `POST` creates (`PatTokenCreateRequest`) and answers a `PatTokenResult`, on a 200 as the
//!   specification has it, with `patTokenError` naming a refusal: `displayNameRequired`,
//!   `invalidScope`, `invalidValidTo` (past, or over a year), `globalPatPolicyViolation`
//!   (`allOrgs`), and the policies a test sets ([`Policy`]). The PAT it makes is one the git front
//!   ([`super::devops`]) accepts, through the shared [`FakePats`].
//! - `GET` lists a page (`displayFilterOption`, `sortByOption`, `isSortAscending`, `$top` at
//!   most 100) of the caller's PATs for the organization, values never included, with a
//!   `continuationToken` ("" on the last page) that is refused with other filtering options.
//! - `DELETE ?authorizationId=` revokes (204); an unknown id gets a 404.
//!
//! Every request is recorded ([`Seen`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode, header};
use base64::Engine as _;
use sha2::Digest as _;

use super::devops::{FakePats, PatState};
use super::entra::{FakeEntra, State as EntraState};
use super::server::json;

pub const API_VERSION: &str = "7.1-preview.1";
const DAY: i64 = 24 * 60 * 60;

/// Organization and tenant policies on PATs ("Manage personal access tokens using policies").
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// "Restrict creation of full-scoped PATs".
    pub no_full_scope: bool,
    /// "Set maximum lifespan for new PATs", in days.
    pub max_days: Option<i64>,
    /// "Restrict personal access token creation" (organization policy).
    pub no_creation: bool,
}

/// One request, as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub organization: String,
    pub query: HashMap<String, String>,
    /// The request's JSON body, if any.
    pub body: Option<serde_json::Value>,
    /// Whose Entra token it carried, if a live one.
    pub caller: Option<String>,
    pub status: u16,
}

#[derive(Debug, Clone)]
struct Record {
    id: String,
    owner: String,
    organization: String,
    name: String,
    scope: String,
    valid_from: chrono::DateTime<chrono::Utc>,
    valid_to: chrono::DateTime<chrono::Utc>,
    token: String,
    revoked: bool,
}

#[derive(Debug, Default)]
pub struct VsspsState {
    tenants: HashMap<String, String>,
    records: Vec<Record>,
    pub seen: Vec<Seen>,
    /// The most PATs one page holds (the API's own limit is 100).
    pub page_size: usize,
    pub policy: Policy,
    counter: u64,
}

impl VsspsState {
    /// The requests with `method`.
    pub fn seen(&self, method: &Method) -> Vec<Seen> {
        self.seen.iter().filter(|s| s.method == *method).cloned().collect()
    }

    /// The value of the PAT named `name`.
    pub fn value_of(&self, name: &str) -> Option<String> {
        self.records.iter().find(|r| r.name == name).map(|r| r.token.clone())
    }

    /// Revokes the PAT named `name`, as its owner could on the web page.
    pub fn revoke_by_name(&mut self, known: &FakePats, name: &str) {
        let record = self.records.iter_mut().find(|r| r.name == name).expect("a PAT of that name");
        record.revoked = true;
        known.set_state(&record.token, PatState::Revoked);
    }
}

pub struct FakeVssps {
    pub addr: std::net::SocketAddr,
    pub state: Arc<Mutex<VsspsState>>,
    _server: super::Server,
}

impl FakeVssps {
    /// Starts the API for `organizations` (name, tenant), with Entra's tokens and the PATs the
    /// git front checks.
    pub fn start(entra: &FakeEntra, known: &FakePats, organizations: &[(&str, &str)]) -> Self {
        let state = Arc::new(Mutex::new(VsspsState {
            tenants: organizations.iter().map(|(o, t)| ((*o).to_owned(), (*t).to_owned())).collect(),
            page_size: 100,
            ..VsspsState::default()
        }));
        let (shared, entra, known) = (state.clone(), entra.state.clone(), known.clone());
        let server = super::Server::start(move |req| {
            let (state, entra, known) = (shared.clone(), entra.clone(), known.clone());
            async move { handle(&state, &entra, &known, req).await }
        });
        Self { addr: server.addr, state, _server: server }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut VsspsState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }
}

async fn handle(
    state: &Mutex<VsspsState>,
    entra: &Mutex<EntraState>,
    known: &FakePats,
    req: Request<Body>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    let segments: Vec<&str> = parts.uri.path().trim_start_matches('/').split('/').collect();
    let organization = segments.first().copied().unwrap_or_default().to_ascii_lowercase();
    let body_json = serde_json::from_slice::<serde_json::Value>(&body).ok();
    let caller = bearer_owner(entra, &parts.headers);
    let response = answer(state, entra, known, &parts, &segments, &organization, &query, &body);
    state.lock().unwrap().seen.push(Seen {
        method: parts.method.clone(),
        organization,
        query,
        body: body_json,
        caller: caller.map(|(name, _, _)| name),
        status: response.status().as_u16(),
    });
    response
}

/// The user name and the tenant (where it was issued) of a live Entra token in
/// `Authorization: Bearer`.
/// `Authorization: Bearer`, and whether its user is a personal Microsoft account.
fn bearer_owner(entra: &Mutex<EntraState>, headers: &axum::http::HeaderMap) -> Option<(String, String, bool)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?;
    let state = entra.lock().unwrap();
    state.holder(token).map(|(u, issued)| (u.username.clone(), issued.tenant.clone(), u.is_personal()))
}

#[expect(clippy::too_many_arguments, reason = "the parts of one request, taken apart once")]
fn answer(
    state: &Mutex<VsspsState>,
    entra: &Mutex<EntraState>,
    known: &FakePats,
    parts: &axum::http::request::Parts,
    segments: &[&str],
    organization: &str,
    query: &HashMap<String, String>,
    body: &[u8],
) -> Response<Body> {
    let is_api = segments.len() == 4
        && segments[1] == "_apis"
        && segments[2].eq_ignore_ascii_case("tokens")
        && segments[3].eq_ignore_ascii_case("pats");
    let Some(tenant) = state.lock().unwrap().tenants.get(organization).cloned().filter(|_| is_api) else {
        return vss_error(404, "The resource cannot be found.", "NotFoundException");
    };
    if query.get("api-version").map(String::as_str) != Some(API_VERSION) {
        return vss_error(
            400,
            "The requested REST API version is not supported here.",
            "VssVersionOutOfRangeException",
        );
    }
    let Some((owner, owner_tenant, personal)) = bearer_owner(entra, &parts.headers) else {
        return unauthorized(parts, &tenant);
    };
    if entra.lock().unwrap().is_application(&owner) {
        return vss_error(403, "Service principals are not allowed to perform this action.", "InvalidAccessException");
    }
    if personal {
        return vss_error(
            403,
            "Personal Microsoft accounts are not allowed to perform this action.",
            "InvalidAccessException",
        );
    }
    if owner_tenant != tenant || known.denies(organization, &owner) {
        return unauthorized(parts, &tenant);
    }
    let mut state = state.lock().unwrap();
    match parts.method {
        Method::POST => create(&mut state, known, organization, &owner, body),
        Method::GET => list(&state, organization, &owner, query),
        Method::DELETE => {
            let id = query.get("authorizationId").cloned().unwrap_or_default();
            let found =
                state.records.iter_mut().find(|r| r.id == id && r.owner == owner && r.organization == organization);
            match found {
                Some(record) => {
                    record.revoked = true;
                    known.set_state(&record.token, PatState::Revoked);
                    Response::builder().status(StatusCode::NO_CONTENT).body(Body::empty()).unwrap()
                }
                None => vss_error(404, "The personal access token was not found.", "SessionTokenNotFoundException"),
            }
        }
        _ => vss_error(405, "The method is not allowed.", "MethodNotAllowed"),
    }
}

fn create(state: &mut VsspsState, known: &FakePats, organization: &str, owner: &str, body: &[u8]) -> Response<Body> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Create {
        display_name: Option<String>,
        scope: Option<String>,
        valid_to: Option<String>,
        all_orgs: Option<bool>,
    }
    let Ok(request) = serde_json::from_slice::<Create>(body) else {
        return vss_error(400, "The request body is not a PatTokenCreateRequest.", "ArgumentException");
    };
    let now = chrono::Utc::now();
    let refuse = |error: &str| json(200, &serde_json::json!({ "patToken": null, "patTokenError": error }));
    let name = request.display_name.unwrap_or_default();
    if name.trim().is_empty() {
        return refuse("displayNameRequired");
    }
    if request.all_orgs.unwrap_or(false) {
        return refuse("globalPatPolicyViolation");
    }
    if state.policy.no_creation {
        return refuse("disablePatCreationPolicyViolation");
    }
    let scope = request.scope.unwrap_or_default();
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    if scopes.is_empty() || scopes.iter().any(|s| !(s.starts_with("vso.") || *s == "app_token")) {
        return refuse("invalidScope");
    }
    if state.policy.no_full_scope && scopes.contains(&"app_token") {
        return refuse("fullScopePatPolicyViolation");
    }
    let Some(valid_to) = request.valid_to.and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok()) else {
        return refuse("invalidValidTo");
    };
    let valid_to = valid_to.with_timezone(&chrono::Utc);
    if valid_to <= now || valid_to > now + chrono::Duration::seconds(366 * DAY) {
        return refuse("invalidValidTo");
    }
    if state.policy.max_days.is_some_and(|max| valid_to > now + chrono::Duration::seconds(max * DAY)) {
        return refuse("patLifespanPolicyViolation");
    }
    state.counter += 1;
    let digest =
        sha2::Sha256::digest(format!("{}-{}-{owner}", state.counter, now.timestamp_nanos_opt().unwrap_or_default()));
    let hex = digest.iter().fold(String::new(), |mut hex, b| {
        let _ = std::fmt::Write::write_fmt(&mut hex, format_args!("{b:02x}"));
        hex
    });
    let token = base64::engine::general_purpose::STANDARD
        .encode(&digest[..])
        .to_ascii_lowercase()
        .replace(['+', '/', '='], "x");
    let id = format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
    let record = Record {
        id,
        owner: owner.to_owned(),
        organization: organization.to_owned(),
        name,
        scope: scopes.join(" "),
        valid_from: now,
        valid_to,
        token: token.clone(),
        revoked: false,
    };
    known.add(&token, organization, owner, &record.scope);
    let mut shown = describe(&record);
    shown["token"] = serde_json::Value::String(token);
    state.records.push(record);
    json(200, &serde_json::json!({ "patToken": shown, "patTokenError": "none" }))
}

fn list(state: &VsspsState, organization: &str, owner: &str, query: &HashMap<String, String>) -> Response<Body> {
    let filter = query.get("displayFilterOption").map_or("active", String::as_str).to_ascii_lowercase();
    let sort = query.get("sortByOption").map_or("displayDate", String::as_str).to_owned();
    let ascending = query.get("isSortAscending").is_none_or(|v| v.eq_ignore_ascii_case("true"));
    let top: usize = match query.get("$top").map(|t| t.parse::<usize>()) {
        None => 100,
        Some(Ok(top)) if (1..=100).contains(&top) => top,
        Some(_) => return vss_error(400, "$top must be 1 to 100.", "ArgumentOutOfRangeException"),
    };
    let options = format!("{filter}|{sort}|{ascending}");
    let start = match query.get("continuationToken").filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => {
            let decoded = base64::engine::general_purpose::STANDARD.decode(token).unwrap_or_default();
            let decoded = String::from_utf8(decoded).unwrap_or_default();
            match decoded.split_once('#') {
                Some((offset, same)) if same == options => offset.parse().unwrap_or(0),
                _ => {
                    return vss_error(
                        400,
                        "The continuation token does not match the filtering options.",
                        "InvalidContinuationTokenException",
                    );
                }
            }
        }
    };
    let now = chrono::Utc::now();
    let mut mine: Vec<&Record> = state
        .records
        .iter()
        .filter(|r| r.owner == owner && r.organization == organization)
        .filter(|r| match filter.as_str() {
            "revoked" => r.revoked,
            "expired" => !r.revoked && r.valid_to <= now,
            "all" => true,
            _ => !r.revoked && r.valid_to > now,
        })
        .collect();
    match sort.as_str() {
        "displayName" => mine.sort_by(|a, b| a.name.cmp(&b.name)),
        _ => mine.sort_by_key(|r| r.valid_from),
    }
    if !ascending {
        mine.reverse();
    }
    let page = top.min(state.page_size);
    let end = (start + page).min(mine.len());
    let tokens: Vec<serde_json::Value> = mine.get(start..end).unwrap_or_default().iter().map(|r| describe(r)).collect();
    let continuation = if end < mine.len() {
        base64::engine::general_purpose::STANDARD.encode(format!("{end}#{options}"))
    } else {
        String::new()
    };
    json(200, &serde_json::json!({ "continuationToken": continuation, "patTokens": tokens }))
}

/// A `PatToken` without its value, as the list and get answers have it.
fn describe(record: &Record) -> serde_json::Value {
    serde_json::json!({
        "displayName": record.name,
        "validTo": record.valid_to.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        "scope": record.scope,
        "targetAccounts": ["38aaa865-2c70-4bf7-a308-0c6539c38c1a"],
        "validFrom": record.valid_from.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        "authorizationId": record.id,
        "token": null,
    })
}

/// What a request without a token the API takes gets: the 401, or the sign-in page when the
/// client did not ask for no redirect.
fn unauthorized(parts: &axum::http::request::Parts, tenant: &str) -> Response<Body> {
    if parts.headers.contains_key("x-tfs-fedauthredirect") {
        Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header(
                header::WWW_AUTHENTICATE,
                format!("Bearer authorization_uri=https://login.microsoftonline.com/{tenant}"),
            )
            .header("X-VSS-ResourceTenant", tenant)
            .body(Body::from("unauthorized"))
            .unwrap()
    } else {
        Response::builder()
            .status(StatusCode::NON_AUTHORITATIVE_INFORMATION)
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .body(Body::from("<html><body>Sign in to your account</body></html>"))
            .unwrap()
    }
}

/// Azure DevOps's error body.
fn vss_error(status: u16, message: &str, type_key: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({
            "$id": "1",
            "innerException": null,
            "message": message,
            "typeName": format!("Microsoft.VisualStudio.Services.{type_key}, Microsoft.VisualStudio.Services"),
            "typeKey": type_key,
            "errorCode": 0,
            "eventId": 3000,
        }),
    )
}
