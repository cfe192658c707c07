//! A fake Azure DevOps Services in front of real `git http-backend`: organizations on
//! `/{org}/...` and on `{org}.visualstudio.com`, anonymous requests answered with the 401 and
//! headers of shared/AZURE.md, and Bearer or Basic accepted only with a live token that the fake
//! Entra issued to a user of the organization's tenant.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Method, Response, StatusCode, header};
use base64::Engine as _;

use super::entra::{FakeEntra, State};
use super::git_server::{Auth, Decision, Gate, GitServer};

/// Starts the fake for `organizations` (name, tenant), serving the repositories under `root`
/// as `{root}/{org}/{project}/_git/{repo}`.
pub fn start(root: &Path, entra: &FakeEntra, organizations: &[(&str, &str)]) -> GitServer {
    let tenants: HashMap<String, String> =
        organizations.iter().map(|(o, t)| ((*o).to_owned(), (*t).to_owned())).collect();
    let issued = entra.state.clone();
    let gate: Gate = Arc::new(move |parts| decide(&tenants, &issued, parts));
    GitServer::start_with(root, gate)
}

fn decide(tenants: &HashMap<String, String>, issued: &Mutex<State>, parts: &axum::http::request::Parts) -> Decision {
    let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    let path = parts.uri.path();
    let (organization, path_info) = match host.split(':').next().unwrap_or_default().strip_suffix(".visualstudio.com") {
        Some(org) => (org.to_owned(), format!("/{org}{}", path.strip_prefix("/DefaultCollection").unwrap_or(path))),
        None => (path.trim_start_matches('/').split('/').next().unwrap_or_default().to_owned(), path.to_owned()),
    };
    let Some(tenant) = tenants.get(&organization) else {
        return Decision::Respond {
            auth: Auth::None,
            response: Response::builder().status(StatusCode::NOT_FOUND).body(Body::empty()).unwrap(),
        };
    };
    let auth = check(issued, tenant, parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()));
    let is_organization_head =
        parts.method == Method::HEAD && path_info.trim_end_matches('/') == format!("/{organization}");
    if path_info == format!("/{organization}/_apis/connectionData") {
        return connection_data(auth, parts.headers.contains_key("x-tfs-fedauthredirect"), tenant);
    }
    match &auth {
        Auth::Accepted(user) if !is_organization_head => {
            Decision::Serve { user: user.split(' ').nth(1).unwrap_or_default().to_owned(), path_info, auth }
        }
        _ => Decision::Respond { auth, response: challenge(tenant) },
    }
}

/// `Bearer <token>`, or Basic with any non-empty username and the token as password.
fn check(issued: &Mutex<State>, tenant: &str, authorization: Option<&str>) -> Auth {
    let Some(value) = authorization else { return Auth::None };
    let (scheme, token) = if let Some(token) = value.strip_prefix("Bearer ") {
        ("Bearer", token.to_owned())
    } else if let Some(encoded) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap_or_default();
        let text = String::from_utf8_lossy(&decoded).into_owned();
        match text.split_once(':') {
            Some((user, password)) if !user.is_empty() => ("Basic", password.to_owned()),
            _ => return Auth::Refused(value.to_owned()),
        }
    } else {
        return Auth::Refused(value.to_owned());
    };
    let state = issued.lock().unwrap();
    match state.owner(&token) {
        Some(user) if user.tenant == tenant => Auth::Accepted(format!("{scheme} {}", user.username)),
        _ => Auth::Refused(format!("{scheme} {token}")),
    }
}

/// `connectionData`: the user as JSON for a good credential; for a bad one, the 401 when the
/// client asked for no redirect, else the 203 with a sign-in page that Azure DevOps gives.
fn connection_data(auth: Auth, suppress_redirect: bool, tenant: &str) -> Decision {
    let response = match &auth {
        Auth::Accepted(user) => {
            let name = user.split(' ').nth(1).unwrap_or_default();
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
        _ if suppress_redirect => challenge(tenant),
        _ => Response::builder()
            .status(StatusCode::NON_AUTHORITATIVE_INFORMATION)
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .body(Body::from("<html><body>Sign in to your account</body></html>"))
            .unwrap(),
    };
    Decision::Respond { auth, response }
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
