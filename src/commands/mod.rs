//! The bodies of the subcommands that are not git's helper actions.

pub mod accounts;
pub mod daemon;
pub mod gcm;
pub mod generate;
pub mod install;
pub mod login;
pub mod logout;
pub mod pat;
pub mod pats;
pub mod status;
pub mod token;

use std::time::{Duration, Instant};

use crate::config::Config;
use crate::ipc::client::{self, ClientError};
use crate::ipc::{Request, Response};

/// Has the running daemon answer `request` (it is not started for this), so that what it keeps
/// in memory agrees; when none runs, answers it here from the stores.
fn ask(config: &Config, request: Request) -> anyhow::Result<Response> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let response = match client::request(config, &request, deadline) {
        Ok(response) => response,
        Err(e) => {
            match &e {
                ClientError::NotRunning(_) => {}
                ClientError::Untrusted(reason) => eprintln!("git-credential-azdo: {reason}; not using the daemon"),
                _ => tracing::debug!(error = %e, "answering here instead"),
            }
            crate::service::answer_in_process(&config.clone().with_git_config()?, request)?
        }
    };
    if let Response::Error { message, .. } = response {
        anyhow::bail!(message);
    }
    Ok(response)
}
