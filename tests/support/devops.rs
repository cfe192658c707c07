//! A fake Azure DevOps in front of real `git http-backend`.
//!
//! - Services ([`start`]): organizations on `/{org}/...` and on `{org}.visualstudio.com`,
//!   anonymous requests answered with the 401 and headers of shared/AZURE.md, and Bearer or
//!   Basic accepted only with a live token that the fake Entra issued to a user of the
//!   organization's tenant, or with a PAT ([`FakePats`]) made for the organization.
//! - Server ([`start_server`]): collections on `/{collection path}/...` (`/tfs/DefaultCollection`
//!   or `/Main`), no Entra, Basic with a PAT made for the collection.
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

use super::entra::{FakeEntra, State};
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

/// The PATs the fake Azure DevOps knows, shared by its Services and Server fronts.
#[derive(Debug, Clone, Default)]
pub struct FakePats(Arc<Mutex<HashMap<String, FakePat>>>, Arc<std::sync::atomic::AtomicBool>);

impl FakePats {
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
        let auth = match basic(parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())) {
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
        None => check(issued, tenant, authorization),
    };
    let is_organization_head =
        parts.method == Method::HEAD && path_info.trim_end_matches('/') == format!("/{organization}");
    if is_connection_data {
        return connection_data(auth, parts.headers.contains_key("x-tfs-fedauthredirect"), Some(tenant));
    }
    match &auth {
        Auth::Accepted(user) if !is_organization_head => Decision::Serve {
            user: user.split_once(' ').map(|(_, u)| u).unwrap_or_default().to_owned(),
            path_info,
            auth,
        },
        _ => Decision::Respond { auth, response: challenge(tenant) },
    }
}

/// `Bearer <token>`, or Basic with any non-empty username and the token as password.
fn check(issued: &Mutex<State>, tenant: &str, authorization: Option<&str>) -> Auth {
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
    match state.owner(&token) {
        Some(user) if user.tenant == tenant => Auth::Accepted(format!("{scheme} {}", user.username)),
        _ => Auth::Refused(format!("{scheme} {token}")),
    }
}

/// `connectionData`: the user as JSON for a good credential; for a bad one, the 401 when the
/// client asked for no redirect, else the 203 with a sign-in page that Azure DevOps gives.
/// `tenant` is the organization's; a Server collection has none.
fn connection_data(auth: Auth, suppress_redirect: bool, tenant: Option<&str>) -> Decision {
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
        _ if suppress_redirect => tenant.map_or_else(server_challenge, challenge),
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

/// Azure DevOps Server's 401 (Windows authentication aside: git would pick NTLM over Basic).
fn server_challenge() -> Response<Body> {
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(header::WWW_AUTHENTICATE, "Basic realm=\"tfs.example.com\"")
        .header("X-VSS-E2EID", "6f5f0b49-0000-0000-0000-000000000000")
        .body(Body::from("unauthorized"))
        .unwrap()
}

/// The answer to an anonymous or refused request, as Azure DevOps Services gives it.
fn challenge(tenant: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(
            header::WWW_AUTHENTICATE,
            format!("Bearer authorization_uri=https://login.microsoftonline.com/{tenant}"),
        )
        .header(header::WWW_AUTHENTICATE, "Basic realm=\"https://tfsprodweu2.visualstudio.com/\"")
        .header(header::WWW_AUTHENTICATE, "TFS-Federated")
        .header("X-VSS-ResourceTenant", tenant)
        .header("X-TFS-ServiceError", "TF400813%3A%20Resource%20not%20available%20for%20anonymous%20access.")
        .body(Body::from("unauthorized"))
        .unwrap()
}
