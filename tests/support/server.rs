//! A small HTTP server on 127.0.0.1:0 for the fakes, on its own thread and runtime, stopped
//! when dropped.
//!
//! A fake must never hide its own failure: a handler that panics would only drop the
//! connection, which the product may retry as a network blip, and the test would fail later
//! for another reason (or not at all). Each request is handled in a task of its own; a panic
//! there is answered with a 500 naming it, kept, and raised again when the server is dropped,
//! as is a panic of the server's thread.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};

pub struct Server {
    pub addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    panics: Arc<Mutex<Vec<String>>>,
}

impl Server {
    pub fn start<F, Fut>(handler: F) -> Self
    where
        F: Fn(Request<Body>) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Response<Body>> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let panics = Arc::new(Mutex::new(Vec::new()));
        let seen = panics.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(move |req: Request<Body>| {
                    let (handler, seen) = (handler.clone(), seen.clone());
                    async move {
                        match tokio::spawn(handler(req)).await {
                            Ok(response) => response,
                            Err(e) => {
                                let message = panic_message(e);
                                seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(message.clone());
                                Response::builder()
                                    .status(StatusCode::INTERNAL_SERVER_ERROR)
                                    .body(Body::from(format!("the fake panicked: {message}")))
                                    .unwrap()
                            }
                        }
                    }
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stop.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Self { addr, shutdown: Some(shutdown), thread: Some(thread), panics }
    }

    /// What the handlers panicked with so far.
    pub fn panics(&self) -> Vec<String> {
        self.panics.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

fn panic_message(error: tokio::task::JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic without a message".to_owned()),
        Err(e) => format!("the handler was cancelled: {e}"),
    }
}

/// A JSON answer, as the services send one.
pub fn json(status: u16, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(axum::http::header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(Body::from(body.to_string()))
        .unwrap()
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let joined = self.thread.take().map(std::thread::JoinHandle::join);
        // A test that is failing already reports its own failure; a second panic would abort.
        if std::thread::panicking() {
            return;
        }
        if let Some(Err(payload)) = joined {
            std::panic::resume_unwind(payload);
        }
        let panics = self.panics();
        assert!(panics.is_empty(), "a fake server's handler panicked: {panics:?}");
    }
}
