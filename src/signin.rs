//! Interactive sign-in, shared by `git-credential-azdo login` and by `get` when git runs in a
//! terminal and no account can answer: the browser (authorization code + PKCE on a loopback
//! redirect) where one can be used, else a device code shown on the terminal.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::accounts::{Account, AccountStore};
use crate::azdo::{ORGANIZATIONS_TENANT, Services};
use crate::config::Config;
use crate::entra::{Entra, EntraError, Tokens, open_browser};
use crate::store::Vault;

/// How long a sign-in may wait for the user.
pub const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Browser,
    DeviceCode,
}

impl Method {
    /// The browser when one can be shown here; a device code on headless machines and over
    /// SSH. A browser program set in the configuration is always used.
    pub fn for_this_session(config: &Config) -> Self {
        if config.browser.is_some() {
            return Self::Browser;
        }
        let remote = ["SSH_CONNECTION", "SSH_TTY", "SSH_CLIENT"].iter().any(|v| std::env::var_os(v).is_some());
        let headless = cfg!(all(unix, not(target_os = "macos")))
            && ["DISPLAY", "WAYLAND_DISPLAY"].iter().all(|v| std::env::var_os(v).is_none_or(|d| d.is_empty()));
        if remote || headless { Self::DeviceCode } else { Self::Browser }
    }
}

/// What to sign in for.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// A tenant id or domain; `None` discovers it from the first organization.
    pub tenant: Option<String>,
    /// Organizations to bind to the account, lower case.
    pub organizations: Vec<String>,
    pub login_hint: Option<String>,
    /// The claims of a challenge the sign-in must satisfy (continuous access evaluation).
    pub claims: Option<String>,
    /// Whether the terminal shows a line rewritten in place (a countdown while waiting).
    pub live_progress: bool,
}

/// A completed sign-in, kept in the stores.
#[derive(Debug)]
pub struct SignedIn {
    pub account: Account,
    pub tokens: Tokens,
    /// Organizations the new token could not be confirmed for, and why.
    pub unconfirmed: Vec<(String, crate::azdo::CheckError)>,
}

/// Signs in, talking to the user on `terminal`, and keeps the account and its refresh token.
pub fn sign_in(config: &Config, request: &Request, terminal: &mut dyn Write) -> anyhow::Result<SignedIn> {
    // The stores are opened outside the runtime: the keyring must not be set up on its thread.
    let vault = Arc::new(Vault::open(&config.state_dir, config.store).context("failed to open the secret store")?);
    let accounts = AccountStore::new(&config.state_dir, vault);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    // git's proxy and certificates for the Azure DevOps URL serve its organizations' calls.
    let devops = (crate::net::client_for(config.devops_url.as_str()), Services::new(&config.devops_url));
    let (tokens, discovered, unconfirmed) = runtime
        .block_on(async {
            let (tokens, discovered) = flow(config, request, &devops, terminal).await?;
            let unconfirmed = confirm(&devops, &request.organizations, &tokens).await;
            anyhow::Ok((tokens, discovered, unconfirmed))
        })
        .map_err(|e| match e.downcast_ref::<EntraError>() {
            // No network, a proxy, or the wrong authority host: say what to check.
            Some(EntraError::Unreachable(_)) => {
                anyhow::anyhow!("{e:#}; {}", config.unreachable_advice(&config.entra.authority_host))
            }
            _ => e,
        })?;
    // What Azure DevOps named is the organization's tenant: the daemon asks for its tokens there.
    if let (Some(tenant), Some(organization)) = (discovered, request.organizations.first())
        && let Err(e) = accounts.remember_tenant(organization, &tenant)
    {
        tracing::warn!(error = %e, "failed to remember a tenant");
    }

    let identity = tokens.identity.clone().context("Entra ID did not say who signed in (no id_token)")?;
    let refresh_token = tokens.refresh_token.as_ref().context("Entra ID did not issue a refresh token")?;
    let account = accounts
        .save_sign_in(&identity, &config.entra, refresh_token, &request.organizations)
        .with_context(|| format!("failed to keep the sign-in of {}", identity.username))?;
    Ok(SignedIn { account, tokens, unconfirmed })
}

/// The organizations that do not accept the new token (another tenant's, or no access),
/// asked of Azure DevOps without side effects.
async fn confirm(
    (client, services): &(reqwest::Client, Services),
    organizations: &[String],
    tokens: &Tokens,
) -> Vec<(String, crate::azdo::CheckError)> {
    let bearer = crate::secret::Secret::new(format!("Bearer {}", tokens.access_token.expose()));
    let mut unconfirmed = Vec::new();
    for organization in organizations {
        let url = crate::azdo::Scope::Organization(organization.clone()).connection_data_url(services);
        if let Err(e) = crate::azdo::connection_data(client, &url, &bearer, crate::azdo::DISCOVERY_TIMEOUT).await {
            unconfirmed.push((organization.clone(), e));
        }
    }
    unconfirmed
}

/// The sign-in's tokens, and the tenant Azure DevOps named for the first organization when it
/// was asked.
async fn flow(
    config: &Config,
    request: &Request,
    (client, services): &(reqwest::Client, Services),
    terminal: &mut dyn Write,
) -> anyhow::Result<(Tokens, Option<String>)> {
    let entra = Entra::new(config.entra.clone());
    let mut tenant = request.tenant.clone().or_else(|| config.entra.tenant.clone());
    let mut discovered = None;
    if tenant.is_none()
        && let Some(organization) = request.organizations.first()
    {
        match crate::azdo::find_tenant(client, services, organization).await {
            Ok(found) => discovered = found,
            Err(why) => {
                let url = url::Url::parse(&services.organization_url(organization))?;
                writeln!(
                    terminal,
                    "Warning: Azure DevOps could not be asked for the tenant of {organization} ({why}), so the \
                     sign-in page offers any work or school account; {}.",
                    config.unreachable_advice(&url)
                )?;
            }
        }
        tenant.clone_from(&discovered);
    }
    let tenant = tenant.unwrap_or_else(|| ORGANIZATIONS_TENANT.to_owned());
    let hint = request.login_hint.as_deref();
    let claims = request.claims.as_deref();
    let tokens = match request.method {
        Method::Browser => {
            let pending = entra.start_browser_sign_in(&tenant, hint, claims).await?;
            let url = pending.url.to_string();
            writeln!(terminal, "Opening the sign-in page in your browser. If it does not open, visit:\n  {url}")?;
            terminal.flush()?;
            // A browser the user configured that cannot start ends the sign-in at once: nobody
            // would come back. The system's browser failing leaves the address above to visit.
            let browser = match open_browser(config.browser.as_deref(), &url) {
                Ok(browser) => browser,
                Err(e) if config.browser.is_some() => bail!(browser_failed(config, &e.to_string())),
                Err(e) => {
                    writeln!(terminal, "(could not open a browser: {e})")?;
                    None
                }
            };
            let gave_up = async {
                match browser {
                    Some(browser) => browser.failed().await,
                    None => std::future::pending().await,
                }
            };
            let waiting = entra.finish_browser_sign_in(pending, SIGN_IN_TIMEOUT, gave_up);
            let progress = Progress { what: "Waiting for the sign-in in the browser", live: request.live_progress };
            match progress.wait(waiting, SIGN_IN_TIMEOUT, terminal).await {
                Err(crate::entra::EntraError::Browser(why)) => bail!(browser_failed(config, &why)),
                other => other?,
            }
        }
        Method::DeviceCode => {
            let code = entra.start_device_sign_in(&tenant, claims).await?;
            writeln!(
                terminal,
                "To sign in, open {} and enter the code {} (valid for {} minutes).",
                code.verification_uri,
                code.user_code,
                code.expires_in.as_secs().div_ceil(60)
            )?;
            let limit = SIGN_IN_TIMEOUT.min(code.expires_in);
            let waiting = entra.finish_device_sign_in(code, SIGN_IN_TIMEOUT);
            let progress = Progress { what: "Waiting for the code to be entered", live: request.live_progress };
            progress.wait(waiting, limit, terminal).await?
        }
    };
    if tokens.refresh_token.is_none() {
        bail!("Entra ID did not issue a refresh token (was offline_access refused?)");
    }
    Ok((tokens, discovered))
}

/// One line for a configured browser that failed: which command, why, and what to change.
fn browser_failed(config: &Config, why: &str) -> String {
    let command = config.browser.as_deref().unwrap_or_default();
    format!(
        "the browser command `{command}` failed: {why}; fix {} (or azdo.browser), or unset it to use the \
         system's browser, or sign in with: git-credential-azdo login --device",
        crate::config::ENV_BROWSER
    )
}

/// What the user sees while a sign-in waits for them: on a terminal, one line rewritten each
/// second with the time left; elsewhere (a log, a pipe) a line at the start and one a minute.
#[derive(Debug, Clone, Copy)]
struct Progress {
    what: &'static str,
    live: bool,
}

impl Progress {
    async fn wait<T>(self, work: impl Future<Output = T>, limit: Duration, terminal: &mut dyn Write) -> T {
        let started = tokio::time::Instant::now();
        let every = if self.live { Duration::from_secs(1) } else { Duration::from_secs(60) };
        let mut ticks = tokio::time::interval(every);
        tokio::pin!(work);
        loop {
            tokio::select! {
                result = &mut work => {
                    if self.live {
                        // Clear the countdown: the caller's next line says how it ended.
                        let _ = write!(terminal, "\r{:width$}\r", "", width = self.what.len() + 20);
                        let _ = terminal.flush();
                    }
                    return result;
                }
                _ = ticks.tick() => {
                    let left = limit.saturating_sub(started.elapsed());
                    let line = format!("{} ({} left)...", self.what, clock(left));
                    let _ = if self.live { write!(terminal, "\r{line} ") } else { writeln!(terminal, "{line}") };
                    let _ = terminal.flush();
                }
            }
        }
    }
}

/// `4:05`: minutes and seconds, rounded up (the last second shows as `0:01`).
fn clock(left: Duration) -> String {
    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_as_a_clock() {
        assert_eq!(clock(Duration::from_secs(300)), "5:00");
        assert_eq!(clock(Duration::from_millis(65_900)), "1:06");
        assert_eq!(clock(Duration::from_millis(299_990)), "5:00");
        assert_eq!(clock(Duration::ZERO), "0:00");
    }

    #[tokio::test(start_paused = true)]
    async fn a_terminal_sees_the_time_left_each_second_then_a_clean_line() {
        let mut terminal = Vec::new();
        let progress = Progress { what: "Waiting", live: true };
        let work = async {
            tokio::time::sleep(Duration::from_millis(2_500)).await;
            7
        };
        assert_eq!(progress.wait(work, Duration::from_secs(300), &mut terminal).await, 7);
        let text = String::from_utf8(terminal).unwrap();
        assert!(
            text.starts_with("\rWaiting (5:00 left)... \rWaiting (4:59 left)... \rWaiting (4:58 left)... "),
            "{text:?}"
        );
        assert!(text.ends_with('\r') && !text.contains('\n'), "one line, cleared at the end: {text:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_log_gets_a_line_a_minute() {
        let mut log = Vec::new();
        let progress = Progress { what: "Waiting", live: false };
        progress.wait(tokio::time::sleep(Duration::from_secs(150)), Duration::from_secs(300), &mut log).await;
        let text = String::from_utf8(log).unwrap();
        assert_eq!(text, "Waiting (5:00 left)...\nWaiting (4:00 left)...\nWaiting (3:00 left)...\n");
    }
}
