//! The HTTP client behind every Entra ID and Azure DevOps call: rustls, deadlines on every
//! request, no redirects (a token request must not be steered elsewhere), bounded bodies.
//!
//! oauth2 turns responses into its own types and drops what Entra adds to errors, so
//! [`Http::call`] also keeps the last error answer: its status, `Retry-After`, and Entra's full
//! error body ([`EntraErrorBody`]) with `error_codes` and `suberror`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Mutex, Once, PoisonError};
use std::time::Duration;

use super::EntraErrorBody;

/// Connecting to a healthy server takes milliseconds; this bounds a black-holed one.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// One request, from connect to the last byte of the body.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(8);
/// Token and discovery answers are a few KiB; anything bigger is not one.
const MAX_BODY: usize = 1 << 20;

/// A transport failure: nothing usable came back.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("{0}")]
    Transport(String),
    #[error("the response was larger than {MAX_BODY} bytes")]
    TooLarge,
}

/// What the last unsuccessful answer said, beyond what oauth2 keeps.
#[derive(Debug, Clone, Default)]
pub(crate) struct LastError {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Option<EntraErrorBody>,
}

#[derive(Debug)]
pub(crate) struct Http {
    client: reqwest::Client,
    last_error: Mutex<Option<LastError>>,
}

impl Http {
    /// For calls to `url` (the authority): git's proxy and certificate settings apply.
    pub(crate) fn new(url: &str) -> Self {
        Self { client: crate::net::client_for(url), last_error: Mutex::new(None) }
    }

    /// Takes what the last unsuccessful answer said.
    pub(crate) fn take_last_error(&self) -> Option<LastError> {
        self.last_error.lock().unwrap_or_else(PoisonError::into_inner).take()
    }

    pub(crate) async fn send(&self, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpError> {
        let request = reqwest::Request::try_from(request).map_err(|e| HttpError::Transport(e.to_string()))?;
        let response = self.client.execute(request).await.map_err(|e| HttpError::Transport(describe(&e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = read_body(response).await?;
        if !status.is_success() {
            let retry_after = headers
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(super::checks::retry_after);
            let body = serde_json::from_slice::<EntraErrorBody>(&body).ok();
            *self.last_error.lock().unwrap_or_else(PoisonError::into_inner) =
                Some(LastError { status: status.as_u16(), retry_after, body });
        }
        let mut builder = oauth2::http::Response::builder().status(status.as_u16());
        for (name, value) in &headers {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
        builder.body(body).map_err(|e| HttpError::Transport(e.to_string()))
    }
}

/// oauth2's HTTP client. A named type rather than a closure, so that the futures of the flows
/// are `Send` and can run on the daemon's worker threads.
impl<'c> oauth2::AsyncHttpClient<'c> for Http {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(self.send(request))
    }
}

/// The builder of every client for Entra ID and Azure DevOps: deadlines set, redirects off.
pub(crate) fn builder() -> reqwest::ClientBuilder {
    static PROVIDER: Once = Once::new();
    // reqwest is built without a default crypto provider (ring is smaller and needs no
    // assembler on Windows); another part of the process may have installed one already.
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("git-credential-azdo/", env!("CARGO_PKG_VERSION")))
}

/// A client for Entra ID and Azure DevOps with the environment's proxy settings (the
/// non-interactive identities' endpoints use it; calls made on git's behalf use
/// [`crate::net::client_for`], which follows git's settings).
pub(crate) fn client() -> reqwest::Client {
    builder().build().unwrap_or_else(|e| {
        // A malformed HTTPS_PROXY is the likely cause; go direct rather than fail, and never
        // without the deadlines. (If even that fails, the TLS stack cannot start at all, and
        // reqwest's own `Client::new` would panic just the same.)
        tracing::warn!(error = %e, "failed to build the HTTP client; trying without proxy settings");
        builder().no_proxy().build().expect("an HTTP client without proxy settings")
    })
}

/// Reads at most [`MAX_BODY`] bytes: every answer from a server is read through here.
pub(crate) async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| HttpError::Transport(describe(&e)))? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A transport error on one line: what failed and where, without the request's content.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    match error.url() {
        Some(url) => format!("the request to {} {what}", url.origin().ascii_serialization()),
        None => format!("the request {what}"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// A loopback server that answers every connection with `response`, and counts them.
    async fn answering(response: Vec<u8>) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let response = response.clone();
                tokio::spawn(async move {
                    let mut request = vec![0; 64 << 10];
                    let _ = stream.read(&mut request).await;
                    let _ = stream.write_all(&response).await;
                });
            }
        });
        (url, connections)
    }

    /// A refresh-token request, as the token endpoint gets it.
    fn token_request(base: &str) -> oauth2::HttpRequest {
        oauth2::http::Request::builder()
            .method("POST")
            .uri(format!("{base}/tenant/oauth2/v2.0/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(b"grant_type=refresh_token&refresh_token=the-refresh-token".to_vec())
            .unwrap()
    }

    #[tokio::test]
    async fn an_error_answer_keeps_its_retry_after_in_either_form() {
        let in_two_minutes = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(120));
        for (header, least, most) in [("7", 7, 7), (in_two_minutes.as_str(), 110, 120)] {
            let answer =
                format!("HTTP/1.1 429 Too Many Requests\r\nretry-after: {header}\r\ncontent-length: 0\r\n\r\n");
            let (entra, _) = answering(answer.into_bytes()).await;
            let http = Http::new("http://127.0.0.1");
            let response = http.send(token_request(&entra)).await.unwrap();
            assert_eq!(response.status().as_u16(), 429);
            let wait = http.take_last_error().and_then(|e| e.retry_after).expect("a Retry-After");
            assert!((least..=most).contains(&wait.as_secs()), "{header}: {wait:?}");
        }
    }

    #[tokio::test]
    async fn redirects_are_not_followed_so_a_token_request_goes_nowhere_else() {
        let (elsewhere, reached) = answering(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}".to_vec()).await;
        // 307 and 308 would repeat the POST, refresh token and all, at the new address.
        for status in [301, 302, 303, 307, 308] {
            let redirect =
                format!("HTTP/1.1 {status} Moved\r\nlocation: {elsewhere}/steal\r\ncontent-length: 0\r\n\r\n");
            let (entra, _) = answering(redirect.into_bytes()).await;
            let response = Http::new("http://127.0.0.1").send(token_request(&entra)).await.unwrap();
            assert_eq!(response.status().as_u16(), status);
        }
        assert_eq!(reached.load(Ordering::SeqCst), 0, "nothing reached the other host");
    }

    #[tokio::test]
    async fn a_retry_after_of_any_size_is_kept_within_bounds() {
        for (value, expected) in [
            ("2", Some(Duration::from_secs(2))),
            ("18446744073709551615", Some(super::super::checks::MAX_RETRY_AFTER)),
            ("-1", None),
            ("soon", None),
        ] {
            let response = format!("HTTP/1.1 503 Busy\r\nretry-after: {value}\r\ncontent-length: 0\r\n\r\n");
            let (url, _) = answering(response.into_bytes()).await;
            let http = Http::new("http://127.0.0.1");
            let answer = http.send(token_request(&url)).await.unwrap();
            assert_eq!(answer.status().as_u16(), 503);
            assert_eq!(http.take_last_error().unwrap().retry_after, expected, "{value}");
        }
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_whether_or_not_its_length_is_stated() {
        let mut stated = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n", MAX_BODY + 1).into_bytes();
        stated.resize(stated.len() + MAX_BODY + 1, b'x');
        let mut chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..=MAX_BODY / 4096 {
            chunked.extend_from_slice(b"1000\r\n");
            chunked.resize(chunked.len() + 4096, b'y');
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        for response in [stated, chunked] {
            let (url, _) = answering(response).await;
            let result = Http::new("http://127.0.0.1").send(token_request(&url)).await;
            assert!(matches!(result, Err(HttpError::TooLarge)), "{result:?}");
        }
    }
}
