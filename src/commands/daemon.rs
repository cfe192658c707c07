//! `git-credential-azdo daemon [run|stop]`.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::cli::DaemonAction;
use crate::config::Config;
use crate::ipc::client::{self, ClientError};
use crate::ipc::{Request, Response};

pub fn run(config: &Config, action: Option<DaemonAction>) -> anyhow::Result<()> {
    match action.unwrap_or(DaemonAction::Run) {
        DaemonAction::Run => crate::daemon::serve(&config.clone().with_git_config()?),
        DaemonAction::Stop => stop(config),
    }
}

fn stop(config: &Config) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let message = match client::request(config, &Request::Shutdown, deadline) {
        Ok(Response::Done) => "the daemon is stopping",
        Ok(other) => anyhow::bail!("unexpected answer from the daemon: {other:?}"),
        Err(ClientError::NotRunning(_)) => "no daemon is running",
        Err(e) => return Err(e.into()),
    };
    writeln!(std::io::stdout().lock(), "{message}")?;
    Ok(())
}
