//! A git smart-HTTP server on 127.0.0.1: real `git http-backend` (CGI) behind a front that
//! checks credentials, as a git host does: Basic with fixed accounts ([`GitServer::start`]), or
//! any [`Gate`] (the fake Azure DevOps). It records what each request presented.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use base64::Engine as _;

/// What a request presented, as the server judged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    Accepted(String),
    Refused(String),
}

pub struct GitServer {
    pub addr: SocketAddr,
    pub root: PathBuf,
    log: Arc<Mutex<Vec<Auth>>>,
    _server: super::Server,
}

/// What the front decides for one request.
pub enum Decision {
    /// Hand the request to `git http-backend` as `user`, for the repository at `path_info`.
    Serve { auth: Auth, user: String, path_info: String },
    /// Answer without git (a 401 with its challenges, a HEAD of an organization).
    Respond { auth: Auth, response: Response<Body> },
}

/// The front's judgement of a request: its method, host, path and headers.
pub type Gate = Arc<dyn Fn(&axum::http::request::Parts) -> Decision + Send + Sync>;

#[derive(Clone)]
struct State {
    root: PathBuf,
    gate: Gate,
    log: Arc<Mutex<Vec<Auth>>>,
}

impl GitServer {
    /// Serves the bare repositories under `root`, accepting only Basic `accounts`.
    pub fn start(root: &Path, accounts: &[(&str, &str)]) -> Self {
        let accounts: Vec<(String, String)> =
            accounts.iter().map(|(u, p)| ((*u).to_owned(), (*p).to_owned())).collect();
        let gate: Gate = Arc::new(move |parts| {
            let auth = check(&accounts, &parts.headers);
            match &auth {
                Auth::Accepted(user) => {
                    Decision::Serve { user: user.clone(), path_info: parts.uri.path().to_owned(), auth }
                }
                _ => Decision::Respond {
                    auth,
                    response: Response::builder()
                        .status(StatusCode::UNAUTHORIZED)
                        .header(header::WWW_AUTHENTICATE, "Basic realm=\"test\"")
                        .body(Body::from("unauthorized"))
                        .unwrap(),
                },
            }
        });
        Self::start_with(root, gate)
    }

    /// Serves the bare repositories under `root`, letting `gate` decide on each request.
    pub fn start_with(root: &Path, gate: Gate) -> Self {
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = State { root: root.to_owned(), gate, log: log.clone() };
        let server = super::Server::start(move |req| serve(state.clone(), req));
        Self { addr: server.addr, root: root.to_owned(), log, _server: server }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("http://{}/{repo}", self.addr)
    }

    /// Every request's credentials so far, in order.
    pub fn auth_log(&self) -> Vec<Auth> {
        self.log.lock().unwrap().clone()
    }
}

async fn serve(state: State, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let decision = (state.gate)(&parts);
    let (auth, user, path_info) = match decision {
        Decision::Respond { auth, response } => {
            state.log.lock().unwrap().push(auth);
            return response;
        }
        Decision::Serve { auth, user, path_info } => (auth, user, path_info),
    };
    state.log.lock().unwrap().push(auth);
    match cgi(&state, &user, &path_info, Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(e) => Response::builder().status(500).body(Body::from(e.to_string())).unwrap(),
    }
}

/// Basic credentials against fixed accounts.
fn check(accounts: &[(String, String)], headers: &HeaderMap) -> Auth {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return Auth::None };
    let Some(encoded) = value.strip_prefix("Basic ") else { return Auth::Refused(value.to_owned()) };
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap_or_default();
    let text = String::from_utf8_lossy(&decoded).into_owned();
    let (user, pass) = text.split_once(':').unwrap_or((&text, ""));
    if accounts.iter().any(|(u, p)| u == user && p == pass) {
        Auth::Accepted(user.to_owned())
    } else {
        Auth::Refused(text)
    }
}

async fn cgi(state: &State, user: &str, path_info: &str, req: Request<Body>) -> std::io::Result<Response<Body>> {
    use tokio::io::AsyncWriteExt;
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.map_err(std::io::Error::other)?;
    let header_value =
        |name: header::HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_PROJECT_ROOT", &state.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", path_info)
        .env("QUERY_STRING", parts.uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header_value(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header_value(header::CONTENT_ENCODING))
        .env("GIT_PROTOCOL", parts.headers.get("git-protocol").and_then(|v| v.to_str().ok()).unwrap_or_default())
        .env("REMOTE_USER", user)
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let output = child.wait_with_output().await?;
    let _ = writer.await;
    parse_cgi(&output.stdout)
}

/// Splits CGI output into a status, headers and body.
fn parse_cgi(output: &[u8]) -> std::io::Result<Response<Body>> {
    let (head, body) = match find(output, b"\r\n\r\n") {
        Some(i) => (&output[..i], &output[i + 4..]),
        None => match find(output, b"\n\n") {
            Some(i) => (&output[..i], &output[i + 2..]),
            None => return Err(std::io::Error::other("CGI output without headers")),
        },
    };
    let mut response = Response::builder().status(200);
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code: u16 = value.split_whitespace().next().and_then(|c| c.parse().ok()).unwrap_or(500);
            response = response.status(code);
        } else if let Ok(value) = HeaderValue::from_str(value) {
            response = response.header(name, value);
        }
    }
    response.body(Body::from(body.to_vec())).map_err(std::io::Error::other)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
