//! A fake Azure DevOps in front of real `git http-backend`.
//!
//! - Services ([`start`]): organizations on `/{org}/...` and on `{org}.visualstudio.com`,
//!   anonymous requests answered with the 401 and headers of shared/AZURE.md, and Bearer or
//!   Basic accepted only with a live token that the fake Entra issued in the organization's
//!   tenant (to a member or a guest of it; for an organization backed by personal accounts, the
//!   all-zero tenant, a token of the MSA transfer tenant), or with a PAT ([`FakePats`]) made for
//!   the organization. A user can be refused by one organization of their tenant
//!   ([`FakePats::deny`]), and tokens issued before a critical event are refused with a
//!   continuous-access-evaluation claims challenge ([`FakePats::revoke_sessions`]).
//! - Server ([`start_server`]): collections on `/{collection path}/...` (`/tfs/DefaultCollection`
//!   or `/Main`), no Entra, Basic with a PAT made for the collection. Like IIS with Windows
//!   authentication it offers `Negotiate` and `NTLM` before `Basic`, and refuses an NTLM or
//!   Negotiate attempt (a PAT is no Windows password) without a challenge to continue, so that a
//!   client that picks NTLM fails as it does against a real server.
//!
//! A PAT can be valid, expired or revoked (401), or answered by the sign-in page (203, even
//! when asked not to redirect); one without a Code scope is refused (401), and a read-only one
//! for a push. PATs are issued by the tests, or made through the fake PAT API
//! ([`super::vssps`]), which shares [`FakePats`] with the git front.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Response, StatusCode, header};
use base64::Engine as _;

use std::time::Instant;

use super::entra::{FakeEntra, State, TRANSFER_TENANT};
use super::git_server::{Auth, Decision, Gate, GitServer};

/// What a PAT does when presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatState {
    Valid,
    /// Refused with a 401, connectionData included.
    Expired,
    /// connectionData answers the 203 sign-in page whatever the headers.
    SignInPage,
    /// Revoked through the PAT API: refused with a 401, like an expired one.
    Revoked,
}

#[derive(Debug, Clone)]
struct FakePat {
    user: String,
    /// The organization, or the collection's path (`/tfs/DefaultCollection`).
    scope: String,
    state: PatState,
    /// Space-separated `vso.*` scopes (`app_token`: full access).
    scopes: String,
}

impl FakePat {
    /// Whether its scopes allow reading code, and pushing.
    fn code(&self) -> (bool, bool) {
        let has = |names: &[&str]| self.scopes.split_whitespace().any(|s| names.contains(&s));
        let write = has(&["vso.code_write", "vso.code_manage", "vso.code_full", "app_token"]);
        (write || has(&["vso.code"]), write)
    }
}

/// How a claims challenge's claims are encoded: Microsoft's documentation shows standard base64
/// with padding; the Azure SDK for Go decodes URL-safe base64 without.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClaimsEncoding {
    #[default]
    Standard,
    UrlSafeUnpadded,
}

/// What tests set about the fake Azure DevOps beyond its PATs.
#[derive(Debug, Default)]
struct Policies {
    /// (organization, user): members of the tenant that the organization does not let in.
    denied: Vec<(String, String)>,
    /// Users whose sessions were revoked (a critical event): their tokens issued before it are
    /// refused with a claims challenge.
    revoked: HashMap<String, (Instant, u64)>,
    encoding: ClaimsEncoding,
    /// Services offer Windows authentication too (no real organization does).
    windows_auth: bool,
}

/// The PATs the fake Azure DevOps knows, shared by its Services and Server fronts, and the
/// policies tests set on it.
#[derive(Debug, Clone, Default)]
pub struct FakePats(Arc<Mutex<HashMap<String, FakePat>>>, Arc<std::sync::atomic::AtomicBool>, Arc<Mutex<Policies>>);

impl FakePats {
    /// `organization` refuses `user`'s tokens (a member of its tenant without access to it).
    pub fn deny(&self, organization: &str, user: &str) {
        self.2.lock().unwrap().denied.push((organization.into(), user.into()));
    }

    /// `organization` lets `user` in again.
    pub fn undeny(&self, organization: &str, user: &str) {
        self.2.lock().unwrap().denied.retain(|(o, u)| o != organization || u != user);
    }

    /// A critical event for `user` now (sessions revoked, an IP change): tokens issued before it
    /// are refused with a claims challenge asking for a token not before it.
    pub fn revoke_sessions(&self, user: &str, encoding: ClaimsEncoding) {
        let unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let mut policies = self.2.lock().unwrap();
        policies.revoked.insert(user.into(), (Instant::now(), unix));
        policies.encoding = encoding;
    }

    /// The unix time of `user`'s last critical event ([`Self::revoke_sessions`]): the `nbf` its
    /// claims challenge asks for.
    pub fn revoked_at(&self, user: &str) -> u64 {
        self.2.lock().unwrap().revoked[user].1
    }

    /// Services organizations offer `Negotiate` and `NTLM` too, as IIS would.
    pub fn offer_windows_auth(&self) {
        self.2.lock().unwrap().windows_auth = true;
    }

    fn windows_auth(&self) -> bool {
        self.2.lock().unwrap().windows_auth
    }

    /// Whether `organization` refuses `user` ([`Self::deny`]).
    pub fn denies(&self, organization: &str, user: &str) -> bool {
        self.2.lock().unwrap().denied.iter().any(|(o, u)| o == organization && u == user)
    }

    /// The claims challenge a token of `user` issued at `issued` gets, if its session was revoked
    /// since.
    fn challenge_for(&self, user: &str, issued: Instant) -> Option<String> {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let policies = self.2.lock().unwrap();
        let (at, unix) = *policies.revoked.get(user)?;
        if issued >= at {
            return None;
        }
        let claims = format!(r#"{{"access_token":{{"nbf":{{"essential":true, "value":"{unix}"}}}}}}"#);
        Some(match policies.encoding {
            ClaimsEncoding::Standard => STANDARD.encode(claims),
            ClaimsEncoding::UrlSafeUnpadded => URL_SAFE_NO_PAD.encode(claims),
        })
    }

    /// While set, `connectionData` answers 503 (git's own requests are still served).
    pub fn set_connection_data_down(&self, down: bool) {
        self.1.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    fn connection_data_down(&self) -> bool {
        self.1.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// A new PAT of `user` for `scope` (an organization, or a collection's path), with Code
    /// (Read & Write) when `write`.
    pub fn issue(&self, scope: &str, user: &str, write: bool) -> String {
        let token = format!("pat{}x{}", self.0.lock().unwrap().len() + 1, "7".repeat(48));
        self.add(&token, scope, user, if write { "vso.code_write" } else { "vso.code" });
        token
    }

    /// Makes `token` a valid PAT of `user` for `scope` with `scopes` (space-separated `vso.*`).
    pub fn add(&self, token: &str, scope: &str, user: &str, scopes: &str) {
        let pat = FakePat { user: user.into(), scope: scope.into(), state: PatState::Valid, scopes: scopes.into() };
        self.0.lock().unwrap().insert(token.to_owned(), pat);
    }

    pub fn set_state(&self, token: &str, state: PatState) {
        self.0.lock().unwrap().get_mut(token).expect("an issued PAT").state = state;
    }

    /// Whose PAT `token` is and what it does for a request to `scope`: git's requests need a
    /// Code scope (`git`), and pushes write access; `connectionData` takes any valid PAT.
    fn check(&self, token: &str, scope: &str, git: bool, write: bool) -> Option<(String, PatState)> {
        let pats = self.0.lock().unwrap();
        let pat = pats.get(token).filter(|p| p.scope == scope)?;
        let (read, may_write) = pat.code();
        let state = if git && (!read || (write && !may_write)) { PatState::Expired } else { pat.state };
        Some((pat.user.clone(), state))
    }
}

/// Starts the fake for `organizations` (name, tenant), serving the repositories under `root`
/// as `{root}/{org}/{project}/_git/{repo}`.
pub fn start(root: &Path, entra: &FakeEntra, known: &FakePats, organizations: &[(&str, &str)]) -> GitServer {
    let tenants: HashMap<String, String> =
        organizations.iter().map(|(o, t)| ((*o).to_owned(), (*t).to_owned())).collect();
    let issued = entra.state.clone();
    let known = known.clone();
    let gate: Gate = Arc::new(move |parts| decide(&tenants, &issued, &known, parts));
    GitServer::start_with(root, gate)
}

/// Starts a fake Azure DevOps Server with `collections` (paths such as `/tfs/DefaultCollection`),
/// serving `{root}{collection}/{project}/_git/{repo}`.
pub fn start_server(root: &Path, known: &FakePats, collections: &[&str]) -> GitServer {
    let collections: Vec<String> = collections.iter().map(|c| (*c).to_owned()).collect();
    let known = known.clone();
    let gate: Gate = Arc::new(move |parts| {
        let path = parts.uri.path();
        let Some(collection) = collections.iter().find(|c| path.starts_with(&format!("{c}/"))) else {
            return Decision::Respond { auth: Auth::None, response: not_found() };
        };
        let authorization = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if let Some(attempt) = windows_attempt(authorization) {
            // IIS would answer the first NTLM message with its own and then refuse the PAT as a
            // Windows password: modelled as one refusal, which curl does not continue from.
            return Decision::Respond { auth: Auth::Refused(attempt), response: server_challenge() };
        }
        let auth = match basic(authorization) {
            Some(Ok(token)) => match known.check(&token, collection, !asks_connection_data(parts), is_push(parts)) {
                Some((user, PatState::Valid)) => Auth::Accepted(format!("Basic {user}")),
                Some((_, state)) if path.ends_with("/_apis/connectionData") && state == PatState::SignInPage => {
                    return Decision::Respond {
                        auth: Auth::Refused(format!("Basic {token}")),
                        response: sign_in_page(),
                    };
                }
                _ => Auth::Refused(format!("Basic {token}")),
            },
            Some(Err(value)) => Auth::Refused(value),
            None => Auth::None,
        };
        if path == format!("{collection}/_apis/connectionData") {
            return connection_data(auth, true, None);
        }
        match &auth {
            Auth::Accepted(user) => Decision::Serve {
                user: user.split_once(' ').map(|(_, u)| u).unwrap_or_default().to_owned(),
                path_info: path.into(),
                auth,
            },
            _ => Decision::Respond { auth, response: server_challenge() },
        }
    });
    GitServer::start_with(root, gate)
}

/// The scheme of an NTLM or Negotiate `Authorization`, if it is one.
fn windows_attempt(authorization: Option<&str>) -> Option<String> {
    let scheme = authorization?.split_whitespace().next()?;
    ["NTLM", "Negotiate"].iter().any(|s| scheme.eq_ignore_ascii_case(s)).then(|| scheme.to_owned())
}

fn asks_connection_data(parts: &axum::http::request::Parts) -> bool {
    parts.uri.path().ends_with("/_apis/connectionData")
}

/// Whether the request is part of a push.
fn is_push(parts: &axum::http::request::Parts) -> bool {
    parts.uri.path().ends_with("/git-receive-pack") || parts.uri.query().is_some_and(|q| q.contains("git-receive-pack"))
}

/// The password of a Basic header with a non-empty username: `Err` with the header when it is
/// not that.
fn basic(value: Option<&str>) -> Option<Result<String, String>> {
    let value = value?;
    let Some(encoded) = value.strip_prefix("Basic ") else { return Some(Err(value.to_owned())) };
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap_or_default();
    let text = String::from_utf8_lossy(&decoded).into_owned();
    Some(match text.split_once(':') {
        Some((user, password)) if !user.is_empty() => Ok(password.to_owned()),
        _ => Err(value.to_owned()),
    })
}

fn not_found() -> Response<Body> {
    Response::builder().status(StatusCode::NOT_FOUND).body(Body::empty()).unwrap()
}

fn decide(
    tenants: &HashMap<String, String>,
    issued: &Mutex<State>,
    known: &FakePats,
    parts: &axum::http::request::Parts,
) -> Decision {
    let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    let path = parts.uri.path();
    let (organization, path_info) = match host.split(':').next().unwrap_or_default().strip_suffix(".visualstudio.com") {
        Some(org) => (org.to_owned(), format!("/{org}{}", path.strip_prefix("/DefaultCollection").unwrap_or(path))),
        None => (path.trim_start_matches('/').split('/').next().unwrap_or_default().to_owned(), path.to_owned()),
    };
    let Some(tenant) = tenants.get(&organization) else {
        return Decision::Respond { auth: Auth::None, response: not_found() };
    };
    let authorization = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let windows = known.windows_auth();
    if let Some(attempt) = windows_attempt(authorization).filter(|_| windows) {
        return Decision::Respond { auth: Auth::Refused(attempt), response: challenge(tenant, windows, None) };
    }
    let is_connection_data = path_info == format!("/{organization}/_apis/connectionData");
    if is_connection_data && known.connection_data_down() {
        let response = Response::builder().status(StatusCode::SERVICE_UNAVAILABLE).body(Body::empty()).unwrap();
        return Decision::Respond { auth: Auth::None, response };
    }
    let pat = match basic(authorization) {
        Some(Ok(token)) => {
            known.check(&token, &organization, !is_connection_data, is_push(parts)).map(|found| (token, found))
        }
        _ => None,
    };
    let auth = match pat {
        Some((_, (user, PatState::Valid))) => Auth::Accepted(format!("Basic {user}")),
        Some((token, (_, PatState::SignInPage))) if is_connection_data => {
            return Decision::Respond { auth: Auth::Refused(format!("Basic {token}")), response: sign_in_page() };
        }
        Some((token, _)) => Auth::Refused(format!("Basic {token}")),
        None => check(issued, known, &organization, tenant, authorization),
    };
    let is_organization_head =
        parts.method == Method::HEAD && path_info.trim_end_matches('/') == format!("/{organization}");
    let claims = match &auth {
        Auth::Refused(presented) => claims_challenge(issued, known, presented),
        _ => None,
    };
    if is_connection_data {
        let suppress = parts.headers.contains_key("x-tfs-fedauthredirect");
        return connection_data(auth, suppress, Some((tenant, windows, claims.as_deref())));
    }
    match &auth {
        Auth::Accepted(user) if !is_organization_head => Decision::Serve {
            user: user.split_once(' ').map(|(_, u)| u).unwrap_or_default().to_owned(),
            path_info,
            auth,
        },
        _ => Decision::Respond { auth, response: challenge(tenant, windows, claims.as_deref()) },
    }
}

/// The claims challenge for a refused token, when it was refused for a revoked session.
fn claims_challenge(issued: &Mutex<State>, known: &FakePats, presented: &str) -> Option<String> {
    let token = presented.split_once(' ')?.1;
    let state = issued.lock().unwrap();
    let (user, how) = state.holder(token)?;
    known.challenge_for(&user.username, how.at)
}

/// `Bearer <token>`, or Basic with any non-empty username and the token as password: a live
/// token issued in the organization's tenant (for one backed by personal accounts, the transfer
/// tenant's), of a user the organization lets in, and not from before a critical event.
fn check(
    issued: &Mutex<State>,
    known: &FakePats,
    organization: &str,
    tenant: &str,
    authorization: Option<&str>,
) -> Auth {
    let Some(value) = authorization else { return Auth::None };
    let (scheme, token) = if let Some(token) = value.strip_prefix("Bearer ") {
        ("Bearer", token.to_owned())
    } else {
        match basic(Some(value)) {
            Some(Ok(password)) => ("Basic", password),
            _ => return Auth::Refused(value.to_owned()),
        }
    };
    let state = issued.lock().unwrap();
    let accepted = state.holder(&token).filter(|(user, how)| {
        let of_the_tenant = how.tenant == tenant || (tenant == ZERO_TENANT && how.tenant == TRANSFER_TENANT);
        of_the_tenant
            && !known.denies(organization, &user.username)
            && known.challenge_for(&user.username, how.at).is_none()
    });
    match accepted {
        Some((user, _)) => Auth::Accepted(format!("{scheme} {}", user.username)),
        None => Auth::Refused(format!("{scheme} {token}")),
    }
}

/// The tenant of organizations backed by personal Microsoft accounts.
pub const ZERO_TENANT: &str = "00000000-0000-0000-0000-000000000000";

/// `connectionData`: the user as JSON for a good credential; for a bad one, the 401 when the
/// client asked for no redirect, else the 203 with a sign-in page that Azure DevOps gives.
/// `services` is the organization's tenant, whether Windows authentication is offered and the
/// claims challenge of a refused token; a Server collection has none of them.
fn connection_data(auth: Auth, suppress_redirect: bool, services: Option<(&str, bool, Option<&str>)>) -> Decision {
    let response = match &auth {
        Auth::Accepted(user) => {
            let name = user.split_once(' ').map(|(_, u)| u).unwrap_or_default();
            let body = serde_json::json!({
                "authenticatedUser": { "id": "6f5f0b49", "providerDisplayName": name, "isActive": true },
                "instanceId": "00000000-aaaa-bbbb-cccc-000000000000",
            });
            Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
                .body(Body::from(body.to_string()))
                .unwrap()
        }
        _ if suppress_redirect => {
            services.map_or_else(server_challenge, |(tenant, windows, claims)| challenge(tenant, windows, claims))
        }
        _ => sign_in_page(),
    };
    Decision::Respond { auth, response }
}

fn sign_in_page() -> Response<Body> {
    Response::builder()
        .status(StatusCode::NON_AUTHORITATIVE_INFORMATION)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::from("<html><body>Sign in to your account</body></html>"))
        .unwrap()
}

/// Azure DevOps Server's 401 on IIS with Windows authentication and Basic enabled (the headers
/// of git-for-windows/git#389 and curl/curl#2799, plus Basic): git's curl picks NTLM over Basic
/// for a username and password.
fn server_challenge() -> Response<Body> {
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(header::CONTENT_TYPE, "text/html")
        .header(header::SERVER, "Microsoft-IIS/10.0")
        .header(header::WWW_AUTHENTICATE, "Negotiate")
        .header(header::WWW_AUTHENTICATE, "NTLM")
        .header(header::WWW_AUTHENTICATE, "Basic realm=\"tfs.example.com\"")
        .header("X-VSS-E2EID", "6f5f0b49-0000-0000-0000-000000000000")
        .header("X-TFS-ProcessId", "f43a2e0e-cb9e-4da2-beb5-40443fbdb01a")
        .body(Body::from("unauthorized"))
        .unwrap()
}

/// The answer to an anonymous or refused request, as Azure DevOps Services gives it: its tenant
/// in the Bearer challenge (a bare `Bearer` for an organization backed by personal accounts),
/// or, for a token refused for a revoked session, the continuous-access-evaluation challenge
/// (modelled on the recorded Graph one, which names `common`).
fn challenge(tenant: &str, windows: bool, claims: Option<&str>) -> Response<Body> {
    let bearer = match claims {
        Some(claims) => format!(
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", \
             client_id=\"00000003-0000-0000-c000-000000000000\", errorDescription=\"Continuous access evaluation \
             resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp\", \
             error=\"insufficient_claims\", claims=\"{claims}\""
        ),
        None if tenant == ZERO_TENANT => "Bearer".to_owned(),
        None => format!("Bearer authorization_uri=https://login.microsoftonline.com/{tenant}"),
    };
    let mut response = Response::builder().status(StatusCode::UNAUTHORIZED).header(header::WWW_AUTHENTICATE, bearer);
    if windows {
        response = response.header(header::WWW_AUTHENTICATE, "Negotiate").header(header::WWW_AUTHENTICATE, "NTLM");
    }
    response
        .header(header::WWW_AUTHENTICATE, "Basic realm=\"https://tfsprodweu2.visualstudio.com/\"")
        .header(header::WWW_AUTHENTICATE, "TFS-Federated")
        .header("X-VSS-ResourceTenant", tenant)
        .header("X-TFS-ServiceError", "TF400813%3A%20Resource%20not%20available%20for%20anonymous%20access.")
        .body(Body::from("unauthorized"))
        .unwrap()
}
