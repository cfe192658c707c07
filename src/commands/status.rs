//! `git-credential-azdo status [--json]`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::ipc::client::{self, ClientError};
use crate::ipc::{Request, Response, StatusReport};

pub fn run(config: &Config, json: bool) -> anyhow::Result<()> {
    let report = report(config)?;
    let text = if json { serde_json::to_string_pretty(&report)? + "\n" } else { render(config, &report) };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// Asks the daemon when one runs (it is not started for this); otherwise reads the store here.
pub fn report(config: &Config) -> anyhow::Result<StatusReport> {
    let deadline = Instant::now() + Duration::from_secs(5);
    match client::request(config, &Request::Status, deadline) {
        Ok(Response::Status { status }) => return Ok(status),
        Ok(Response::Error { message, .. }) => anyhow::bail!(message),
        Ok(other) => anyhow::bail!("unexpected answer from the daemon: {other:?}"),
        Err(ClientError::NotRunning(_)) => {}
        Err(e) => tracing::debug!(error = %e, "reading the store here instead"),
    }
    match crate::service::answer_in_process(&config.clone().with_git_config()?, Request::Status)? {
        Response::Status { status } => Ok(status),
        Response::Error { message, .. } => anyhow::bail!(message),
        other => anyhow::bail!("unexpected answer: {other:?}"),
    }
}

fn render(config: &Config, report: &StatusReport) -> String {
    let mut out = String::new();
    match &report.daemon {
        Some(d) => {
            let _ = writeln!(
                out,
                "daemon:  running (pid {}, version {}, up {}s, socket {})",
                d.pid, d.version, d.uptime_secs, d.socket
            );
        }
        None => {
            let _ = writeln!(out, "daemon:  not running (started on demand by git)");
        }
    }
    let _ = writeln!(out, "store:   {} (state in {})", report.backend, config.state_dir.display());
    out.push_str("accounts:\n");
    for line in super::accounts::render(&report.accounts).lines() {
        let _ = writeln!(out, "  {line}");
    }
    if report.credentials.is_empty() {
        let _ = writeln!(out, "stored:  nothing");
    } else {
        let _ = writeln!(out, "stored:");
    }
    for c in &report.credentials {
        let user = c.username.as_deref().map(|u| format!("{u}@")).unwrap_or_default();
        let path = c.path.as_deref().map(|p| format!("/{p}")).unwrap_or_default();
        let kind = c.authtype.as_ref().map_or_else(|| "password".to_owned(), |a| format!("{a} credential"));
        let _ = write!(out, "  {}://{user}{}{path}  {kind} in {}", c.protocol, c.host, c.backend);
        if let Some(expiry) = c.password_expiry_utc {
            let _ = write!(out, ", expires at {expiry} (unix time)");
        }
        out.push('\n');
    }
    out
}
