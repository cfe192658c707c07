//! Browser sign-in: authorization code with PKCE and a `state` check, answered on a loopback
//! redirect (`http://localhost:{port}`) that this process listens on for one sign-in.

use std::time::Duration;

use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Entra, EntraError, Tokens, scopes};

/// The longest request line and headers a browser sends to the redirect.
const MAX_REQUEST: usize = 16 * 1024;
/// How long one browser connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A browser sign-in that is listening for its redirect.
#[derive(Debug)]
pub struct BrowserSignIn {
    /// The page the user signs in on.
    pub url: oauth2::url::Url,
    listeners: Vec<TcpListener>,
    redirect: RedirectUrl,
    state: CsrfToken,
    verifier: oauth2::PkceCodeVerifier,
    tenant: String,
    /// The `claims` parameter, sent again with the code.
    claims: String,
}

impl Entra {
    /// Starts listening on a loopback port and builds the sign-in page's URL for `tenant`, with
    /// the claims of a challenge to satisfy when there is one.
    pub async fn start_browser_sign_in(
        &self,
        tenant: &str,
        login_hint: Option<&str>,
        challenge: Option<&str>,
    ) -> Result<BrowserSignIn, EntraError> {
        let unreachable = |e: std::io::Error| EntraError::Unreachable(format!("cannot listen on loopback: {e}"));
        let v4 = TcpListener::bind(("127.0.0.1", 0)).await.map_err(unreachable)?;
        let port = v4.local_addr().map_err(unreachable)?.port();
        let mut listeners = vec![v4];
        // Browsers may resolve `localhost` to ::1 first; listen there too when we can.
        if let Ok(v6) = TcpListener::bind(("::1", port)).await {
            listeners.push(v6);
        }
        // Entra ignores the port of a loopback redirect, and accepts `localhost`, not 127.0.0.1.
        let redirect = RedirectUrl::new(format!("http://localhost:{port}"))
            .map_err(|e| EntraError::Malformed(format!("redirect: {e}")))?;
        let (pkce, verifier) = PkceCodeChallenge::new_random_sha256();
        let client = self.oauth_client(tenant)?.set_redirect_uri(redirect.clone());
        let mut request = client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(scopes().into_iter().map(Scope::new))
            .set_pkce_challenge(pkce)
            .add_extra_param("prompt", "select_account")
            .add_extra_param("claims", super::claims::request_claims(challenge));
        if let Some(hint) = login_hint {
            request = request.add_extra_param("login_hint", hint);
        }
        let (url, state) = request.url();
        let claims = super::claims::request_claims(challenge);
        Ok(BrowserSignIn { url, listeners, redirect, state, verifier, tenant: tenant.to_owned(), claims })
    }

    /// Waits up to `deadline` for the browser to come back, then redeems the code.
    pub async fn finish_browser_sign_in(
        &self,
        sign_in: BrowserSignIn,
        deadline: Duration,
    ) -> Result<Tokens, EntraError> {
        let BrowserSignIn { listeners, redirect, state, verifier, tenant, claims, .. } = sign_in;
        let code = tokio::time::timeout(deadline, wait_for_code(&listeners, &state))
            .await
            .map_err(|_| EntraError::TimedOut(deadline))??;
        let client = self.oauth_client(&tenant)?.set_redirect_uri(redirect);
        let result = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(verifier)
            .add_extra_param("scope", scopes().join(" "))
            .add_extra_param("claims", claims)
            .add_extra_param("client_info", "1")
            .request_async(&self.http)
            .await;
        self.tokens(result)
    }
}

/// Opens `url` in `browser` when one is configured, else in the system's browser.
pub fn open_browser(browser: Option<&str>, url: &str) -> std::io::Result<()> {
    match browser {
        Some(program) => open::with_detached(url, program),
        None => open::that_detached(url),
    }
}

/// Answers browser requests until one carries our `state` with a code or an error.
async fn wait_for_code(listeners: &[TcpListener], state: &CsrfToken) -> Result<String, EntraError> {
    loop {
        let accepted = match listeners {
            [one] => one.accept().await,
            [first, second, ..] => tokio::select! {
                a = first.accept() => a,
                b = second.accept() => b,
            },
            [] => return Err(EntraError::Unreachable("no loopback listener".into())),
        };
        let Ok((mut stream, _)) = accepted else { continue };
        let Ok(Ok(target)) = tokio::time::timeout(REQUEST_TIMEOUT, read_target(&mut stream)).await else {
            continue;
        };
        match redirect_outcome(&target, state.secret()) {
            Some(outcome) => {
                let page = match &outcome {
                    Ok(_) => "Signed in. You can close this tab and return to the terminal.",
                    Err(_) => "The sign-in did not complete. Return to the terminal for details.",
                };
                respond(&mut stream, "200 OK", page).await;
                return outcome;
            }
            None => respond(&mut stream, "404 Not Found", "Not found.").await,
        }
    }
}

/// The request target of one HTTP request (`/?code=...&state=...`).
async fn read_target(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_REQUEST {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some("GET"), Some(target)) => Ok(target.to_owned()),
        _ => Err(std::io::ErrorKind::InvalidData.into()),
    }
}

/// `None` when `target` is not the redirect for this sign-in (a favicon, a stale tab).
fn redirect_outcome(target: &str, state: &str) -> Option<Result<String, EntraError>> {
    let url = oauth2::url::Url::parse("http://localhost").ok()?.join(target).ok()?;
    let mut code = None;
    let mut error = None;
    let mut description = None;
    let mut returned_state = None;
    for (key, value) in url.query_pairs() {
        match &*key {
            "code" => code = Some(value.into_owned()),
            "error" => error = Some(value.into_owned()),
            "error_description" => description = Some(value.into_owned()),
            "state" => returned_state = Some(value.into_owned()),
            _ => {}
        }
    }
    if returned_state.as_deref() != Some(state) {
        return None;
    }
    Some(match (code, error) {
        (_, Some(error)) => {
            let detail = description.map(|d| format!(": {}", super::printable(&d, 300))).unwrap_or_default();
            Err(EntraError::Cancelled(format!("{}{detail}", super::printable(&error, 64))))
        }
        (Some(code), None) => Ok(code),
        (None, None) => Err(EntraError::Malformed("the redirect carried no code".into())),
    })
}

async fn respond(stream: &mut TcpStream, status: &str, text: &str) {
    let body = format!("<!doctype html><title>git-credential-azdo</title><p>{text}</p>\n");
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REQUEST_TIMEOUT, stream.write_all(response.as_bytes())).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_redirect_with_our_state_counts() {
        assert!(redirect_outcome("/favicon.ico", "s1").is_none());
        assert!(redirect_outcome("/?code=c&state=other", "s1").is_none(), "a forged or stale state is ignored");
        assert_eq!(redirect_outcome("/?code=c%2B1&state=s1", "s1").unwrap().unwrap(), "c+1");
        let declined = redirect_outcome("/?error=access_denied&error_description=The+user+said+no&state=s1", "s1");
        assert_eq!(
            declined.unwrap().unwrap_err().to_string(),
            "the sign-in was cancelled: access_denied: The user said no"
        );
    }
}
