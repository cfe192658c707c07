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
use crate::entra::{Entra, Tokens, open_browser};
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
}

/// A completed sign-in, kept in the stores.
#[derive(Debug)]
pub struct SignedIn {
    pub account: Account,
    pub tokens: Tokens,
    /// Organizations the new token could not be confirmed for, and why.
    pub unconfirmed: Vec<(String, String)>,
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
    let devops = (crate::entra::http_client(), Services::new(&config.devops_url));
    let (tokens, unconfirmed) = runtime.block_on(async {
        let tokens = flow(config, request, &devops, terminal).await?;
        let unconfirmed = confirm(&devops, &request.organizations, &tokens).await;
        anyhow::Ok((tokens, unconfirmed))
    })?;

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
) -> Vec<(String, String)> {
    let bearer = crate::secret::Secret::new(format!("Bearer {}", tokens.access_token.expose()));
    let mut unconfirmed = Vec::new();
    for organization in organizations {
        let url = crate::azdo::Scope::Organization(organization.clone()).connection_data_url(services);
        if let Err(e) = crate::azdo::connection_data(client, &url, &bearer, crate::azdo::DISCOVERY_TIMEOUT).await {
            unconfirmed.push((organization.clone(), e.to_string()));
        }
    }
    unconfirmed
}

async fn flow(
    config: &Config,
    request: &Request,
    (client, services): &(reqwest::Client, Services),
    terminal: &mut dyn Write,
) -> anyhow::Result<Tokens> {
    let entra = Entra::new(config.entra.clone());
    let mut tenant = request.tenant.clone().or_else(|| config.entra.tenant.clone());
    if tenant.is_none()
        && let Some(organization) = request.organizations.first()
    {
        tenant = crate::azdo::discover_tenant(client, services, organization).await;
    }
    let tenant = tenant.unwrap_or_else(|| ORGANIZATIONS_TENANT.to_owned());
    let hint = request.login_hint.as_deref();
    let tokens = match request.method {
        Method::Browser => {
            let pending = entra.start_browser_sign_in(&tenant, hint).await?;
            let url = pending.url.to_string();
            writeln!(terminal, "Opening the sign-in page in your browser. If it does not open, visit:\n  {url}")?;
            terminal.flush()?;
            if let Err(e) = open_browser(config.browser.as_deref(), &url) {
                writeln!(terminal, "(could not open a browser: {e})")?;
            }
            writeln!(
                terminal,
                "Waiting up to {} minutes for the sign-in to complete...",
                SIGN_IN_TIMEOUT.as_secs() / 60
            )?;
            terminal.flush()?;
            entra.finish_browser_sign_in(pending, SIGN_IN_TIMEOUT).await?
        }
        Method::DeviceCode => {
            let code = entra.start_device_sign_in(&tenant).await?;
            writeln!(
                terminal,
                "To sign in, open {} and enter the code {} (valid for {} minutes).",
                code.verification_uri,
                code.user_code,
                code.expires_in.as_secs().div_ceil(60)
            )?;
            terminal.flush()?;
            entra.finish_device_sign_in(code, SIGN_IN_TIMEOUT).await?
        }
    };
    if tokens.refresh_token.is_none() {
        bail!("Entra ID did not issue a refresh token (was offline_access refused?)");
    }
    Ok(tokens)
}
