//! A plain HTTP forward proxy on 127.0.0.1 that records what went through it: each request in
//! absolute form (`GET http://127.0.0.1:8080/contoso/...`) is forwarded to its origin on
//! loopback and answered with the origin's response. No CONNECT: the fakes speak plain HTTP.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};

pub struct RecordingProxy {
    pub addr: std::net::SocketAddr,
    /// `METHOD URL` of every request, in order.
    seen: Arc<Mutex<Vec<String>>>,
    _server: super::Server,
}

impl RecordingProxy {
    pub fn start() -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let server = super::Server::start(move |req| {
            let log = log.clone();
            async move { forward(&log, req).await }
        });
        Self { addr: server.addr, seen, _server: server }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Whether a request whose `METHOD URL` contains `text` went through.
    pub fn saw(&self, text: &str) -> bool {
        self.seen().iter().any(|s| s.contains(text))
    }
}

/// An address nothing listens on: a proxy there fails every request sent through it.
pub fn dead_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

async fn forward(log: &Mutex<Vec<String>>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let target = parts.uri.to_string();
    log.lock().unwrap().push(format!("{} {target}", parts.method));
    if parts.uri.scheme().is_none() {
        return Response::builder().status(StatusCode::BAD_REQUEST).body(Body::from("not a proxy request")).unwrap();
    }
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap_or_default();
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes()).unwrap();
    let mut request = super::http_client().request(method, &target).body(body.to_vec());
    for (name, value) in &parts.headers {
        let hop_by_hop = ["host", "connection", "proxy-connection", "proxy-authorization", "keep-alive", "te"];
        if !hop_by_hop.contains(&name.as_str()) {
            request = request.header(name.as_str(), value.as_bytes());
        }
    }
    let Ok(response) = request.send().await else {
        return Response::builder().status(StatusCode::BAD_GATEWAY).body(Body::empty()).unwrap();
    };
    let mut answer = Response::builder().status(response.status().as_u16());
    for (name, value) in response.headers() {
        if !["connection", "transfer-encoding", "content-length"].contains(&name.as_str()) {
            answer = answer.header(name.as_str(), value.as_bytes());
        }
    }
    let bytes = response.bytes().await.unwrap_or_default();
    answer.body(Body::from(bytes)).unwrap()
}
