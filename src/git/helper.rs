//! The helper actions git runs: read git's request, have the daemon answer it (or answer it
//! in-process when the daemon cannot), and print the answer for git.

use std::io::{BufRead, Write};

use anyhow::Context;

use super::Credential;
use crate::config::Config;
use crate::ipc::{Request, Response, client};
use crate::service::Service;

/// A credential-helper action, as git names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Get,
    Store,
    Erase,
}

/// Runs one action: `input` is git's request, `output` is read by git (for `get` only).
pub fn run(action: Action, config: &Config, input: impl BufRead, output: impl Write) -> anyhow::Result<()> {
    let credential = Credential::read(input)?;
    if !credential.has_protocol_and_host() {
        return Ok(());
    }
    let caps = credential.capabilities;
    let request = match action {
        Action::Get => Request::Get { credential },
        Action::Store => Request::Store { credential },
        Action::Erase => Request::Erase { credential },
    };
    match answer(config, &request)? {
        Response::Credential { credential: Some(found) } if action == Action::Get => {
            found.write_response(caps, output)?;
        }
        Response::Error { message, .. } => anyhow::bail!(message),
        _ => {}
    }
    Ok(())
}

/// The daemon's answer, or, when it cannot be had in time, the same service's answer computed
/// in this process: git never fails or waits long because of the daemon.
pub fn answer(config: &Config, request: &Request) -> anyhow::Result<Response> {
    if config.use_daemon {
        match client::request_with_autostart(config, request) {
            Ok(response) => return Ok(response),
            Err(e) => tracing::debug!(error = %crate::service::error_chain(&e), "answering without the daemon"),
        }
    }
    let service = Service::open(config).context("failed to open the credential store")?;
    Ok(service.handle(request))
}
