//! Browser sign-in: authorization code with PKCE and a `state` check, answered on a loopback
//! redirect (`http://localhost:{port}`) that this process listens on for one sign-in.

use std::process::Stdio;
use std::time::Duration;

use oauth2::{AuthorizationCode, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{Entra, EntraError, Tokens, scopes};

/// The longest request line and headers a browser sends to the redirect.
const MAX_REQUEST: usize = 16 * 1024;
/// How long one browser connection may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections to the redirect read at once (a browser opens one or two).
const MAX_READING: usize = 64;

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

    /// Waits up to `deadline` for the browser to come back, then redeems the code. `gave_up`
    /// ends the wait at once with its reason (the browser command failed, so nobody will come
    /// back); it is not polled once the browser has come back.
    pub async fn finish_browser_sign_in(
        &self,
        sign_in: BrowserSignIn,
        deadline: Duration,
        gave_up: impl Future<Output = String>,
    ) -> Result<Tokens, EntraError> {
        let BrowserSignIn { listeners, redirect, state, verifier, tenant, claims, .. } = sign_in;
        let code = tokio::select! {
            code = tokio::time::timeout(deadline, wait_for_code(&listeners, &state)) => {
                code.map_err(|_| EntraError::TimedOut(deadline))??
            }
            why = gave_up => return Err(EntraError::Browser(why)),
        };
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

/// Opens `url` in `browser` when one is configured (a command line, read as git reads
/// `core.editor`: see `browser_command`), else in the system's browser. The configured
/// browser's process is returned, to tell when it failed.
pub fn open_browser(browser: Option<&str>, url: &str) -> std::io::Result<Option<Browser>> {
    let Some(command) = browser else { return open::that_detached(url).map(|()| None) };
    let mut cmd = tokio::process::Command::from(browser_command(command, url)?);
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    // Its own process group: a Ctrl-C that stops the sign-in does not close the browser.
    #[cfg(unix)]
    cmd.process_group(0);
    let child = cmd.spawn()?;
    Ok(Some(Browser { child }))
}

/// The browser command the user configured, started on a sign-in page.
#[derive(Debug)]
pub struct Browser {
    child: tokio::process::Child,
}

impl Browser {
    /// Resolves only if the command fails, with why: it exited unsuccessfully (a shell that
    /// could not find the program exits 127). A browser that hands the page to one already
    /// running and exits 0, or that keeps running, never resolves it.
    pub async fn failed(mut self) -> String {
        match self.child.wait().await {
            Ok(status) if !status.success() => match status.code() {
                Some(127) => "the command was not found (exit status 127)".to_owned(),
                Some(126) => "the command could not be run (exit status 126)".to_owned(),
                _ => format!("it exited with {status}"),
            },
            _ => std::future::pending().await,
        }
    }
}

/// The characters for which git runs a command through the shell (git's `run-command.c`,
/// `prepare_shell_cmd`).
const SHELL_CHARS: &str = "|&;<>()$`\\\"' \t\n*?[#~=%";

/// The process that opens `url` with the configured `browser`. A value naming an existing file
/// is that program (spaces and all). Otherwise it is read as git reads `core.editor`: a value
/// with no shell metacharacters is a program, run with the URL as its argument; on Unix, any
/// other value is a shell command line, run as `sh -c '{value} "$@"' '{value}' URL`
/// (`firefox --new-window`, `open -a "Google Chrome"`). Windows has no `sh` to count on: the
/// value is split into words as that shell would split it (quotes and backslashes), and the
/// program found as the system finds it.
fn browser_command(browser: &str, url: &str) -> std::io::Result<std::process::Command> {
    let value = browser.trim();
    if value.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "the browser setting is empty"));
    }
    if std::path::Path::new(value).is_file() || !value.contains(|c| SHELL_CHARS.contains(c)) {
        return Ok(open::with_command(url, value));
    }
    #[cfg(not(windows))]
    {
        let mut cmd = std::process::Command::new("sh");
        cmd.arg("-c").arg(format!("{value} \"$@\"")).arg(value).arg(url);
        Ok(cmd)
    }
    #[cfg(windows)]
    {
        let words = shlex::split(value).filter(|w| !w.is_empty()).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "the browser command line has an unmatched quote")
        })?;
        let (program, args) = words.split_first().ok_or(std::io::ErrorKind::InvalidInput)?;
        let mut cmd = match args.split_first() {
            None => return Ok(open::with_command(url, program.as_str())),
            Some((first, _)) => open::with_command(first, program.as_str()),
        };
        cmd.args(&args[1..]).arg(url);
        Ok(cmd)
    }
}

/// Answers browser requests until one carries our `state` with a code or an error. Requests are
/// read side by side: any local user can connect to the loopback port, and one who connects
/// and sends nothing must not hold up the browser's redirect (each such connection would cost
/// it [`REQUEST_TIMEOUT`]). Past [`MAX_READING`] at once, the oldest still unread is dropped.
async fn wait_for_code(listeners: &[TcpListener], state: &CsrfToken) -> Result<String, EntraError> {
    if listeners.is_empty() {
        return Err(EntraError::Unreachable("no loopback listener".into()));
    }
    let mut reading = tokio::task::JoinSet::new();
    let mut oldest_first = std::collections::VecDeque::new();
    loop {
        tokio::select! {
            accepted = accept_any(listeners) => {
                let Ok((mut stream, _)) = accepted else { continue };
                oldest_first.retain(|task: &tokio::task::AbortHandle| !task.is_finished());
                if oldest_first.len() >= MAX_READING
                    && let Some(oldest) = oldest_first.pop_front()
                {
                    oldest.abort();
                }
                oldest_first.push_back(reading.spawn(async move {
                    let target = tokio::time::timeout(REQUEST_TIMEOUT, read_target(&mut stream)).await;
                    (stream, target)
                }));
            }
            Some(read) = reading.join_next(), if !reading.is_empty() => {
                let Ok((mut stream, Ok(Ok(target)))) = read else { continue };
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
    }
}

/// The next connection to any of `listeners` (there is at least one).
async fn accept_any(listeners: &[TcpListener]) -> std::io::Result<(TcpStream, std::net::SocketAddr)> {
    match listeners {
        [first, second, ..] => tokio::select! {
            a = first.accept() => a,
            b = second.accept() => b,
        },
        [one] => one.accept().await,
        [] => std::future::pending().await,
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
