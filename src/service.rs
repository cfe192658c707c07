//! The request handler: one [`Request`] in, one [`Response`] out.
//!
//! The daemon runs it on a blocking thread for each connection; when the daemon cannot be
//! reached, the helper runs the very same code in-process. It blocks (keyring calls do), so it
//! must never run on an async worker thread.

use crate::config::Config;
use crate::ipc::{ErrorKind, Request, Response, StatusReport};
use crate::store::{CredentialStore, StoreError};

#[derive(Debug)]
pub struct Service {
    credentials: CredentialStore,
}

impl Service {
    pub fn open(config: &Config) -> Result<Self, StoreError> {
        Ok(Self::new(CredentialStore::open(&config.state_dir, config.store)?))
    }

    pub fn new(credentials: CredentialStore) -> Self {
        Self { credentials }
    }

    /// Answers `request`. [`Request::Shutdown`] is the caller's to act on; here it is `Done`.
    pub fn handle(&self, request: &Request) -> Response {
        let result = match request {
            Request::Get { credential } => {
                self.credentials.get(credential).map(|credential| Response::Credential { credential })
            }
            Request::Store { credential } => self.credentials.store(credential).map(|()| Response::Done),
            Request::Erase { credential } => self.credentials.erase(credential).map(|()| Response::Done),
            Request::Status => self.status().map(|status| Response::Status { status }),
            Request::Shutdown => Ok(Response::Done),
        };
        result.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "request failed");
            Response::Error { kind: ErrorKind::Store, message: error_chain(&e) }
        })
    }

    /// What is stored, without daemon details (the daemon adds its own).
    pub fn status(&self) -> Result<StatusReport, StoreError> {
        Ok(StatusReport { daemon: None, backend: self.credentials.backend(), credentials: self.credentials.list()? })
    }
}

/// An error and its causes on one line, as the user sees it.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
