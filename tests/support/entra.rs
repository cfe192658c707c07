//! A fake Microsoft Entra ID v2.0 on 127.0.0.1, shaped as shared/AZURE.md describes the real
//! one: `authorize` (consent is automatic: the next user signs in), `devicecode`, and `token`
//! for the authorization-code (PKCE checked), refresh-token (rotating) and device-code grants,
//! with Entra's error bodies. Tests script failures and read what it saw.
//!
//! It checks what Entra checks: the client (a known public client; a code and a refresh token
//! are redeemed only by the client they were issued to) and the tenant in the path. A user signs
//! in and refreshes at their home tenant, at a tenant that invited them as a guest (the token is
//! that tenant's, with a per-tenant object id), or through `organizations`/`common`. A personal
//! Microsoft account (home tenant [`MSA_TENANT`]) signs in through `organizations` with the
//! Visual Studio client (MSA pass-through: its tokens are the [`TRANSFER_TENANT`]'s) and
//! refreshes only at the transfer tenant: at its home tenant or `consumers` the client is
//! refused with AADSTS9002332, as git-ecosystem/git-credential-manager#1297 recorded. Each
//! access token remembers the tenant it was issued in, when, and the `claims` asked for
//! (continuous access evaluation).
//!
//! A request the product should never send (a redirect that is not loopback, a missing PKCE
//! method or scope) is answered with an error and kept as a violation; dropping the fake with a
//! violation fails the test.
//!
//! For non-interactive identities it also serves the client-credentials grant (applications
//! with a secret or a federated assertion), Azure's managed-identity endpoints (IMDS at
//! `/metadata/identity/oauth2/token`, App Service at `/msi/token`), GitHub Actions' OIDC
//! provider (`/github/oidc`), and `/az/token` for the `az` stub.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Method, Request, Response, StatusCode, header};
use base64::Engine as _;

use super::server::json;

/// The home tenant of every personal Microsoft account.
pub const MSA_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";
/// The tenant personal accounts' tokens come from with an MSA pass-through client.
pub const TRANSFER_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";
/// Visual Studio's public client, the product's default (MSA pass-through enabled).
pub const VISUAL_STUDIO: &str = "872cd9fa-d31f-45e0-9eab-6e460a02d1f1";

/// A user the fake can sign in.
#[derive(Debug, Clone)]
pub struct User {
    pub username: String,
    /// The object id in the home tenant.
    pub oid: String,
    /// The home tenant; [`MSA_TENANT`] for a personal Microsoft account.
    pub tenant: String,
    /// Tenants that invited the user as a guest.
    pub guest_of: Vec<String>,
}

impl User {
    pub fn new(username: &str, tenant: &str) -> Self {
        let name = username.split('@').next().unwrap();
        let oid = if tenant == MSA_TENANT {
            // Personal accounts' object ids start with sixteen zeros (MSAL.NET's MSATestData).
            format!("00000000-0000-0000-{:0>4}-{:0>12}", name.len(), name.len() * 7)
        } else {
            format!("oid-{name}")
        };
        Self { username: username.into(), oid, tenant: tenant.into(), guest_of: Vec::new() }
    }

    pub fn is_personal(&self) -> bool {
        self.tenant == MSA_TENANT
    }

    /// The object id in `tenant`: a guest is another object in each tenant that invited them.
    fn oid_in(&self, tenant: &str) -> String {
        if tenant == self.tenant || tenant == TRANSFER_TENANT {
            self.oid.clone()
        } else {
            format!("guest-{}-{}", self.oid, &tenant[..tenant.len().min(8)])
        }
    }

    /// The tenant of a token asked for at `path` (the tenant in the endpoint's path), or Entra's
    /// refusal. `refresh`: a refresh-token grant, which MSA pass-through serves only at the
    /// transfer tenant.
    fn tenant_at(&self, path: &str, refresh: bool) -> Result<String, Box<Response<Body>>> {
        let personal = self.is_personal();
        let msa_refused = || {
            Box::new(entra_error(
                400,
                "invalid_request",
                9_002_332,
                &format!(
                    "Application '{VISUAL_STUDIO}'(Visual Studio - Legacy) is configured for use by Azure Active \
                     Directory users only. Please do not use the /consumers endpoint to serve this request."
                ),
            ))
        };
        let not_in = || {
            let idp =
                if personal { "live.com".to_owned() } else { format!("https://sts.windows.net/{}/", self.tenant) };
            Box::new(entra_error(
                400,
                "invalid_grant",
                50020,
                &format!(
                    "User account '{}' from identity provider '{idp}' does not exist in tenant '{path}' and cannot \
                     access the application '{VISUAL_STUDIO}' in that tenant. The account needs to be added as an \
                     external user in the tenant first.",
                    self.username
                ),
            ))
        };
        match path {
            "organizations" | "common" if personal && refresh => Err(msa_refused()),
            "organizations" | "common" if personal => Ok(TRANSFER_TENANT.to_owned()),
            "organizations" | "common" => Ok(self.tenant.clone()),
            "consumers" | MSA_TENANT if personal => Err(msa_refused()),
            TRANSFER_TENANT if personal => Ok(TRANSFER_TENANT.to_owned()),
            tenant if !personal && tenant == self.tenant => Ok(tenant.to_owned()),
            tenant if self.guest_of.iter().any(|g| g == tenant) => Ok(tenant.to_owned()),
            _ => Err(not_in()),
        }
    }
}

/// One issued access token.
#[derive(Debug, Clone)]
pub struct Issued {
    pub user: usize,
    pub expires: Instant,
    /// The tenant it was issued in: Azure DevOps takes it only for that tenant's organizations.
    pub tenant: String,
    /// When it was issued: continuous access evaluation refuses tokens from before an event.
    pub at: Instant,
}

/// A token request as Entra saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The grant, or `authorize` and `devicecode`.
    pub what: String,
    /// The tenant in the path.
    pub tenant: String,
    pub client_id: String,
    /// The `claims` parameter (capabilities and challenges), as sent.
    pub claims: Option<String>,
}

#[derive(Default)]
pub struct State {
    pub users: Vec<User>,
    /// Who signs in at the next authorize or device code.
    pub next_user: usize,
    pub lifetime: Duration,
    /// The `grant_type` of every token request, in order.
    pub token_requests: Vec<String>,
    /// Answers to give before any real work: (status, Retry-After, body).
    pub fail_next: VecDeque<(u16, Option<u64>, String)>,
    /// How long each token request takes.
    pub token_delay: Duration,
    /// Token requests wait while this is set (for 30 s at most), then are answered: a test
    /// can know that what asked cannot have had its answer yet.
    pub hold_tokens: bool,
    /// The errors the device-code poll answers before it succeeds (`""` = success).
    pub device_script: VecDeque<String>,
    /// Fields that replace (or add to) the device authorization answer's: a server's own
    /// idea of `expires_in` or `interval`, say.
    pub device_answer: serde_json::Map<String, serde_json::Value>,
    /// Tenants in the path of every request.
    pub tenants_seen: Vec<String>,
    /// Every authorize, devicecode and token request of a user flow, in order.
    pub seen: Vec<Seen>,
    /// What the product sent that Entra would never accept; reported when the fake is dropped.
    pub violations: Vec<String>,
    /// The public clients users may sign in with.
    pub clients: Vec<String>,
    /// Code -> (user, PKCE challenge, redirect, tenant, client id).
    codes: HashMap<String, (usize, String, String, String, String)>,
    /// Refresh token -> (user, revoked, client id).
    refresh_tokens: HashMap<String, (usize, bool, String)>,
    pub access_tokens: HashMap<String, Issued>,
    /// Device code -> (user, tenant, client id).
    devices: HashMap<String, (usize, String, String)>,
    counter: u64,
    /// Applications by client id: the user (service principal) they are, and their secret.
    apps: HashMap<String, (usize, Option<String>)>,
    /// Assertions (federated JWTs) that prove an application: JWT -> client id.
    pub assertions: HashMap<String, String>,
    /// Managed identities by client id (`""` is the system-assigned one).
    managed: HashMap<String, usize>,
    /// What App Service's `X-IDENTITY-HEADER` must be.
    pub identity_header: String,
    /// GitHub's OIDC provider: the request token it wants, and the JWT it gives.
    pub github: Option<(String, String)>,
    /// Applications' certificates: client id -> (public key PEM, SHA-256 thumbprint).
    certificates: HashMap<String, (String, String)>,
}

impl State {
    /// Adds an application (a service principal of `tenant`), with a client secret or not.
    pub fn add_app(&mut self, client_id: &str, tenant: &str, secret: Option<&str>) {
        self.users.push(User {
            username: client_id.into(),
            oid: format!("oid-{client_id}"),
            tenant: tenant.into(),
            guest_of: Vec::new(),
        });
        self.apps.insert(client_id.into(), (self.users.len() - 1, secret.map(Into::into)));
    }

    /// Registers the certificate in `certificate_pem` (its public key in `public_pem`) with the
    /// application `client_id`, which must exist already.
    pub fn add_certificate(&mut self, client_id: &str, public_pem: &str, certificate_pem: &str) {
        use sha2::Digest as _;
        let blocks = pem::parse_many(certificate_pem).unwrap();
        let certificate = blocks.iter().find(|b| b.tag() == "CERTIFICATE").unwrap();
        let thumbprint =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(certificate.contents()));
        self.certificates.insert(client_id.into(), (public_pem.into(), thumbprint));
    }

    /// Adds a managed identity of `tenant`: system-assigned when `client_id` is `""`.
    pub fn add_managed(&mut self, client_id: &str, tenant: &str) {
        let name = if client_id.is_empty() { "system-mi" } else { client_id };
        self.users.push(User {
            username: name.into(),
            oid: format!("oid-{name}"),
            tenant: tenant.into(),
            guest_of: Vec::new(),
        });
        self.managed.insert(client_id.into(), self.users.len() - 1);
    }

    /// A live access token of the user named `username`, as if issued by a flow of its own in
    /// the user's home tenant.
    pub fn access_token_for(&mut self, username: &str) -> String {
        let user = self.users.iter().position(|u| u.username == username).expect("a known user");
        let tenant = self.users[user].tenant.clone();
        self.issue(user, tenant)
    }

    /// A new access token of `user` in `tenant`.
    fn issue(&mut self, user: usize, tenant: String) -> String {
        let token = self.mint("at");
        let now = Instant::now();
        self.access_tokens.insert(token.clone(), Issued { user, expires: now + self.lifetime, tenant, at: now });
        token
    }

    /// A refresh token of `username` for Visual Studio's client, as if from a sign-in.
    pub fn refresh_token_for(&mut self, username: &str) -> String {
        let user = self.users.iter().position(|u| u.username == username).expect("a known user");
        let token = self.mint("rt");
        self.refresh_tokens.insert(token.clone(), (user, false, VISUAL_STUDIO.to_owned()));
        token
    }

    /// Makes `username` a guest of `tenant`.
    pub fn invite(&mut self, username: &str, tenant: &str) {
        let user = self.users.iter_mut().find(|u| u.username == username).expect("a known user");
        user.guest_of.push(tenant.to_owned());
    }

    fn mint(&mut self, kind: &str) -> String {
        self.counter += 1;
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        format!("{kind}-{}-{nanos:08x}", self.counter)
    }

    /// The user owning `token` if it is a live access token.
    pub fn owner(&self, token: &str) -> Option<&User> {
        self.holder(token).map(|(user, _)| user)
    }

    /// The user owning `token` if it is a live access token, and how it was issued.
    pub fn holder(&self, token: &str) -> Option<(&User, &Issued)> {
        let issued = self.access_tokens.get(token)?;
        (issued.expires > Instant::now()).then(|| (&self.users[issued.user], issued))
    }

    /// The `claims` sent with each request of `what` (a grant, `authorize`, `devicecode`).
    pub fn claims_sent(&self, what: &str) -> Vec<Option<String>> {
        self.seen.iter().filter(|s| s.what.ends_with(what)).map(|s| s.claims.clone()).collect()
    }

    /// Keeps `what` as a violation and answers it as Entra answers a malformed request.
    fn violation(&mut self, what: String) -> Response<Body> {
        let response = entra_error(400, "invalid_request", 900_144, &format!("fake Entra: {what}"));
        self.violations.push(what);
        response
    }

    /// Whether `username` is an application or a managed identity rather than a person.
    pub fn is_application(&self, username: &str) -> bool {
        let named = |index: usize| self.users.get(index).is_some_and(|u| u.username == username);
        self.apps.values().any(|(index, _)| named(*index)) || self.managed.values().any(|index| named(*index))
    }

    /// Every refresh and access token issued, oldest first.
    pub fn issued_secrets(&self) -> Vec<String> {
        let mut all: Vec<String> = self.refresh_tokens.keys().chain(self.access_tokens.keys()).cloned().collect();
        all.sort_by_key(|t| t.split('-').nth(1).and_then(|n| n.parse::<u64>().ok()));
        all
    }

    /// The refresh token issued last.
    pub fn latest_refresh_token(&self) -> Option<String> {
        self.issued_secrets().into_iter().rfind(|t| t.starts_with("rt-"))
    }

    pub fn grants(&self, grant: &str) -> usize {
        self.token_requests.iter().filter(|g| g.ends_with(grant)).count()
    }
}

pub struct FakeEntra {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    _server: super::Server,
}

impl FakeEntra {
    pub fn start(users: Vec<User>) -> Self {
        let state = Arc::new(Mutex::new(State {
            users,
            clients: vec![VISUAL_STUDIO.to_owned()],
            lifetime: Duration::from_secs(3600),
            device_script: VecDeque::from(["authorization_pending".to_owned()]),
            ..State::default()
        }));
        let shared = state.clone();
        let server = super::Server::start(move |req| {
            let state = shared.clone();
            async move { handle(state, req).await }
        });
        Self { addr: server.addr, state, _server: server }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    /// Revokes every refresh token of `username` (a password change, an admin's sign-out).
    pub fn revoke(&self, username: &str) {
        self.with(|s| {
            let user = s.users.iter().position(|u| u.username == username).unwrap();
            for (owner, revoked, _) in s.refresh_tokens.values_mut() {
                if *owner == user {
                    *revoked = true;
                }
            }
        });
    }
}

impl Drop for FakeEntra {
    fn drop(&mut self) {
        let violations = self.state.lock().map(|s| s.violations.clone()).unwrap_or_default();
        if !std::thread::panicking() {
            assert!(violations.is_empty(), "the fake Entra got requests Entra would refuse: {violations:?}");
        }
    }
}

/// An error body exactly as Entra shapes it.
pub fn entra_error(status: u16, error: &str, code: u64, description: &str) -> Response<Body> {
    json(
        status,
        &serde_json::json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}\r\nTrace ID: 0000\r\nCorrelation ID: 1111\r\nTimestamp: 2026-11-21 00:00:00Z"),
            "error_codes": [code],
            "timestamp": "2026-11-21 00:00:00Z",
            "trace_id": "0000",
            "correlation_id": "1111",
            "suberror": if code == 50173 { "bad_token" } else { "" },
        }),
    )
}

fn form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes()).into_owned().collect();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    match parts.uri.path() {
        "/metadata/identity/oauth2/token" => {
            let allowed = header("metadata") == "true";
            return managed_token(&state, &query, allowed, "imds", false);
        }
        "/msi/token" => {
            let allowed = header("x-identity-header") == state.lock().unwrap().identity_header;
            return managed_token(&state, &query, allowed, "app_service", true);
        }
        "/github/oidc" => {
            let s = state.lock().unwrap();
            let Some((request_token, jwt)) = s.github.clone() else { return json(404, &serde_json::json!({})) };
            let authorized = header("authorization") == format!("Bearer {request_token}");
            if !authorized || query.get("audience").map(String::as_str) != Some("api://AzureADTokenExchange") {
                return json(401, &serde_json::json!({"message": "Bad credentials"}));
            }
            return json(200, &serde_json::json!({ "value": jwt }));
        }
        "/az/token" => {
            let mut s = state.lock().unwrap();
            s.token_requests.push("az".into());
            let token = s.access_token_for(query.get("user").map_or("", String::as_str));
            let expires_on = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
                + s.lifetime.as_secs();
            return json(
                200,
                &serde_json::json!({ "accessToken": token, "expires_on": expires_on, "tokenType": "Bearer" }),
            );
        }
        _ => {}
    }
    let segments: Vec<&str> = parts.uri.path().trim_matches('/').split('/').collect();
    let [tenant, "oauth2", "v2.0", endpoint] = segments.as_slice() else {
        return Response::builder().status(404).body(Body::empty()).unwrap();
    };
    let tenant = (*tenant).to_owned();
    state.lock().unwrap().tenants_seen.push(tenant.clone());
    match (parts.method.clone(), *endpoint) {
        (Method::GET, "authorize") => authorize(&state, &tenant, parts.uri.query().unwrap_or_default()),
        (Method::POST, "devicecode") => devicecode(&state, &tenant, &form(&body)),
        (Method::POST, "token") => {
            let delay = state.lock().unwrap().token_delay;
            tokio::time::sleep(delay).await;
            let held = tokio::time::Instant::now();
            while state.lock().unwrap().hold_tokens && held.elapsed() < Duration::from_secs(30) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            token(&state, &tenant, &form(&body))
        }
        _ => Response::builder().status(405).body(Body::empty()).unwrap(),
    }
}

/// The client of a user flow: unknown ones are refused, as Entra refuses an application it does
/// not know.
fn known_client(s: &State, form: &HashMap<String, String>) -> Result<String, Box<Response<Body>>> {
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    if s.clients.contains(&client_id) {
        Ok(client_id)
    } else {
        Err(Box::new(entra_error(
            400,
            "unauthorized_client",
            700_016,
            &format!("Application with identifier '{client_id}' was not found in the directory."),
        )))
    }
}

/// What a user flow asks for: Azure DevOps and a refresh token.
fn asks_for_azure_devops(form: &HashMap<String, String>) -> bool {
    form.get("scope")
        .is_some_and(|s| s.contains("offline_access") && s.contains("499b84ac-1321-427f-aa17-267ca6975798/.default"))
}

fn authorize(state: &Mutex<State>, tenant: &str, query: &str) -> Response<Body> {
    let q: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let mut s = state.lock().unwrap();
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    if !redirect.starts_with("http://localhost:") {
        return s.violation(format!("authorize: a loopback redirect on localhost, not {redirect}"));
    }
    if q.get("response_type").map(String::as_str) != Some("code")
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
        || !q.contains_key("code_challenge")
        || !asks_for_azure_devops(&q)
    {
        return s.violation(format!("authorize: response_type code, PKCE S256 and the scopes, not {q:?}"));
    }
    let client_id = match known_client(&s, &q) {
        Ok(client_id) => client_id,
        Err(refusal) => return *refusal,
    };
    s.seen.push(Seen {
        what: "authorize".into(),
        tenant: tenant.into(),
        client_id: client_id.clone(),
        claims: q.get("claims").cloned(),
    });
    let user = s.next_user;
    let code = s.mint("code");
    s.codes.insert(code.clone(), (user, q["code_challenge"].clone(), redirect.clone(), tenant.into(), client_id));
    let location = format!(
        "{redirect}?code={code}&state={}",
        url::form_urlencoded::byte_serialize(q.get("state").map_or("", String::as_str).as_bytes()).collect::<String>()
    );
    Response::builder().status(StatusCode::FOUND).header(header::LOCATION, location).body(Body::empty()).unwrap()
}

fn devicecode(state: &Mutex<State>, tenant: &str, form: &HashMap<String, String>) -> Response<Body> {
    let mut s = state.lock().unwrap();
    if !asks_for_azure_devops(form) {
        return s.violation(format!("devicecode: the scopes, not {:?}", form.get("scope")));
    }
    let client_id = match known_client(&s, form) {
        Ok(client_id) => client_id,
        Err(refusal) => return *refusal,
    };
    s.seen.push(Seen {
        what: "devicecode".into(),
        tenant: tenant.into(),
        client_id: client_id.clone(),
        claims: form.get("claims").cloned(),
    });
    let device_code = s.mint("device");
    let user = s.next_user;
    s.devices.insert(device_code.clone(), (user, tenant.into(), client_id));
    let mut answer = serde_json::json!({
        "user_code": "FAKE\u{1b}[31mCODE",
        "device_code": device_code,
        "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": 900,
        "interval": 1,
        "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code FAKECODE to authenticate.",
    });
    answer.as_object_mut().unwrap().extend(s.device_answer.clone());
    json(200, &answer)
}

/// Entra's answer when a code or refresh token is redeemed by another client than its own.
fn client_mismatch() -> Response<Body> {
    entra_error(400, "invalid_grant", 70000, "The provided grant was issued to a different client.")
}

fn token(state: &Mutex<State>, tenant: &str, form: &HashMap<String, String>) -> Response<Body> {
    let mut s = state.lock().unwrap();
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    s.token_requests.push(grant.clone());
    if grant != "client_credentials" {
        s.seen.push(Seen {
            what: grant.clone(),
            tenant: tenant.into(),
            client_id: form.get("client_id").cloned().unwrap_or_default(),
            claims: form.get("claims").cloned(),
        });
    }
    if let Some((status, retry_after, body)) = s.fail_next.pop_front() {
        let mut response = Response::builder().status(status);
        if let Some(seconds) = retry_after {
            response = response.header(header::RETRY_AFTER, seconds.to_string());
        }
        return response.body(Body::from(body)).unwrap();
    }
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    let (user, at) = match grant.as_str() {
        "authorization_code" => {
            let Some((user, challenge, redirect, at, client)) =
                s.codes.remove(form.get("code").map_or("", String::as_str))
            else {
                return entra_error(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed.");
            };
            if client != client_id {
                return client_mismatch();
            }
            let verifier = form.get("code_verifier").cloned().unwrap_or_default();
            if s256(&verifier) != challenge {
                return entra_error(
                    400,
                    "invalid_grant",
                    501_481,
                    "The Code_Verifier does not match the code_challenge.",
                );
            }
            if form.get("redirect_uri") != Some(&redirect) {
                return s.violation(format!("the code's redirect_uri {redirect}, not {:?}", form.get("redirect_uri")));
            }
            if at != tenant {
                return entra_error(400, "invalid_grant", 70000, "The code was issued for another tenant.");
            }
            (user, tenant)
        }
        "refresh_token" => match s.refresh_tokens.get(form.get("refresh_token").map_or("", String::as_str)) {
            Some((_, _, client)) if *client != client_id => return client_mismatch(),
            Some((user, false, _)) => (*user, tenant),
            Some((_, true, _)) => {
                return entra_error(
                    400,
                    "invalid_grant",
                    50173,
                    "The provided grant has expired due to it being revoked.",
                );
            }
            None => {
                return entra_error(
                    400,
                    "invalid_grant",
                    9_002_313,
                    "Invalid request. Request is malformed or invalid.",
                );
            }
        },
        "urn:ietf:params:oauth:grant-type:device_code" => {
            let Some((user, at, client)) = s.devices.get(form.get("device_code").map_or("", String::as_str)).cloned()
            else {
                return entra_error(400, "bad_verification_code", 70019, "Verification code unknown.");
            };
            if client != client_id || at != tenant {
                return entra_error(400, "bad_verification_code", 70019, "Verification code unknown.");
            }
            match s.device_script.pop_front() {
                Some(error) if !error.is_empty() => {
                    let code = match error.as_str() {
                        "authorization_pending" | "slow_down" => 70016,
                        "expired_token" => 70020,
                        _ => 70000,
                    };
                    return entra_error(400, &error, code, "The device flow is not complete.");
                }
                _ => (user, tenant),
            }
        }
        "client_credentials" => return client_credentials(&mut s, form),
        _ => return entra_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."),
    };
    issue_tokens(&mut s, user, at, &grant, form)
}

/// The answer to a user flow's token request for `user` at the tenant `at`: Entra's refusal
/// when the user cannot have a token there, else the tokens.
fn issue_tokens(s: &mut State, user: usize, at: &str, grant: &str, form: &HashMap<String, String>) -> Response<Body> {
    let u = s.users[user].clone();
    let issued_in = match u.tenant_at(at, grant == "refresh_token") {
        Ok(issued_in) => issued_in,
        Err(refusal) => return *refusal,
    };
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    let access = s.issue(user, issued_in.clone());
    let refresh = s.mint("rt");
    s.refresh_tokens.insert(refresh.clone(), (user, false, client_id));
    // A personal account's id_token names its home tenant, whatever issued the access token.
    let tid = if u.is_personal() { MSA_TENANT.to_owned() } else { issued_in.clone() };
    let mut claims = serde_json::json!({
        "oid": u.oid_in(&tid),
        "tid": tid,
        "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"),
        "preferred_username": u.username,
        "name": u.username,
    });
    if !u.is_personal() && tid != u.tenant {
        claims["idp"] = format!("https://sts.windows.net/{}/", u.tenant).into();
    }
    let b64 = |v: &serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let id_token = format!("{}.{}.sig", b64(&serde_json::json!({"alg": "none"})), b64(&claims));
    let lifetime = s.lifetime;
    let mut body = serde_json::json!({
        "token_type": "Bearer",
        "scope": "499b84ac-1321-427f-aa17-267ca6975798/user_impersonation",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": access,
        "refresh_token": refresh,
        "id_token": id_token,
    });
    // MSAL asks for client_info: who the user is at home, whichever tenant answered.
    if form.get("client_info").map(String::as_str) == Some("1") {
        let info = serde_json::json!({ "uid": u.oid, "utid": u.tenant, "preferred_username": u.username });
        body["client_info"] = b64(&info).into();
    }
    json(200, &body)
}

/// The client-credentials grant: an application proven by its secret or a federated assertion.
fn client_credentials(s: &mut State, form: &HashMap<String, String>) -> Response<Body> {
    if form.get("scope").map(String::as_str) != Some("499b84ac-1321-427f-aa17-267ca6975798/.default") {
        return s.violation(format!("client_credentials: Azure DevOps' .default scope, not {:?}", form.get("scope")));
    }
    let client_id = form.get("client_id").cloned().unwrap_or_default();
    let Some((user, secret)) = s.apps.get(&client_id).cloned() else {
        return entra_error(400, "unauthorized_client", 700_016, "Application was not found in the directory.");
    };
    let proven = match (&secret, form.get("client_secret"), form.get("client_assertion")) {
        (Some(secret), Some(given), None) => secret == given,
        (None, None, Some(assertion)) => {
            form.get("client_assertion_type").map(String::as_str)
                == Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                && (s.assertions.get(assertion) == Some(&client_id)
                    || s.certificates.get(&client_id).is_some_and(|c| signed_by(assertion, &client_id, c)))
        }
        _ => false,
    };
    if !proven {
        return entra_error(401, "invalid_client", 7_000_215, "Invalid client secret or assertion provided.");
    }
    let lifetime = s.lifetime;
    let tenant = s.users[user].tenant.clone();
    let access = s.issue(user, tenant);
    json(200, &serde_json::json!({ "token_type": "Bearer", "expires_in": lifetime.as_secs(), "access_token": access }))
}

/// Whether `assertion` is a client assertion of `client_id` signed with its certificate: RS256,
/// the certificate's `x5t#S256`, issuer and subject the client, for a token endpoint, unexpired.
fn signed_by(assertion: &str, client_id: &str, (public_pem, thumbprint): &(String, String)) -> bool {
    let Ok(header) = jsonwebtoken::decode_header(assertion) else { return false };
    if header.alg != jsonwebtoken::Algorithm::RS256 || header.x5t_s256.as_ref() != Some(thumbprint) {
        return false;
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[client_id]);
    validation.validate_aud = false;
    let Ok(data) = jsonwebtoken::decode::<serde_json::Value>(assertion, &key, &validation) else { return false };
    data.claims["sub"] == client_id
        && data.claims["aud"].as_str().is_some_and(|aud| aud.ends_with("/oauth2/v2.0/token"))
        && data.claims["jti"].is_string()
}

/// A managed-identity endpoint's answer (`expires_in` from IMDS, `expires_on` from App Service,
/// both as strings, as Azure gives them).
fn managed_token(
    state: &Mutex<State>,
    query: &HashMap<String, String>,
    allowed: bool,
    kind: &str,
    app_service: bool,
) -> Response<Body> {
    let mut s = state.lock().unwrap();
    s.token_requests.push(kind.into());
    if !allowed {
        return json(
            400,
            &serde_json::json!({"error": "invalid_request", "error_description": "Required metadata header not specified"}),
        );
    }
    if query.get("resource").map(String::as_str) != Some("499b84ac-1321-427f-aa17-267ca6975798") {
        return s.violation(format!("{kind}: Azure DevOps as the resource, not {:?}", query.get("resource")));
    }
    let Some(&user) = s.managed.get(query.get("client_id").map_or("", String::as_str)) else {
        return json(400, &serde_json::json!({"error": "invalid_request", "error_description": "Identity not found"}));
    };
    let lifetime = s.lifetime;
    let tenant = s.users[user].tenant.clone();
    let access = s.issue(user, tenant);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expires_on = (now + lifetime.as_secs()).to_string();
    let body = if app_service {
        serde_json::json!({ "access_token": access, "expires_on": expires_on, "token_type": "Bearer" })
    } else {
        serde_json::json!({ "access_token": access, "expires_in": lifetime.as_secs().to_string(), "expires_on": expires_on })
    };
    json(200, &body)
}

/// The PKCE S256 challenge of a verifier: base64url(SHA-256(verifier)), no padding (RFC 7636),
/// computed here independently of the oauth2 crate the product uses.
fn s256(verifier: &str) -> String {
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}
