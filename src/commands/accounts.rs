//! `git-credential-azdo accounts | bind | unbind`: which accounts are signed in and which
//! organization each answers for.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Arc;

use anyhow::Context;

use crate::accounts::AccountStore;
use crate::config::Config;
use crate::ipc::AccountStatus;
use crate::store::Vault;

pub fn list(config: &Config, json: bool) -> anyhow::Result<()> {
    let accounts = super::status::report(config)?.accounts;
    let text = if json { serde_json::to_string_pretty(&accounts)? + "\n" } else { render(&accounts) };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

pub fn render(accounts: &[AccountStatus]) -> String {
    if accounts.is_empty() {
        return "No account is signed in; run: git-credential-azdo login --org ORGANIZATION\n".to_owned();
    }
    let now = crate::store::unix_now();
    let mut out = String::new();
    for account in accounts {
        let organizations =
            if account.organizations.is_empty() { "none bound".to_owned() } else { account.organizations.join(", ") };
        let token = match account.token_expires_utc {
            Some(at) if at > now => format!("token expires in {} min", (at - now).div_ceil(60)),
            Some(_) => "token expired".to_owned(),
            None => "no token cached".to_owned(),
        };
        let _ = writeln!(
            out,
            "{}  tenant {}  organizations: {organizations}  {token}",
            account.username, account.tenant_id
        );
        if let Some(reason) = &account.needs_sign_in {
            let _ = writeln!(out, "  must sign in again ({reason}); run: {}", sign_in_command(account));
        }
    }
    out
}

/// The command that signs `account` in again: `login` for its first organization.
pub fn sign_in_command(account: &AccountStatus) -> String {
    let organization = account.organizations.first().map_or("ORGANIZATION", String::as_str);
    format!("git-credential-azdo login --org {organization}")
}

pub fn bind(config: &Config, organization: &str, account: &str) -> anyhow::Result<()> {
    let organization = super::login::organization(organization)?;
    if !store(config)?.bind(&organization, account)? {
        anyhow::bail!("no signed-in account is named {account}; see: git-credential-azdo accounts");
    }
    writeln!(std::io::stdout().lock(), "{organization} is answered by {account}")?;
    Ok(())
}

pub fn unbind(config: &Config, organization: &str) -> anyhow::Result<()> {
    let organization = super::login::organization(organization)?;
    let message = if store(config)?.unbind(&organization)? {
        format!("{organization} is no longer bound to an account")
    } else {
        format!("{organization} was not bound to an account")
    };
    writeln!(std::io::stdout().lock(), "{message}")?;
    Ok(())
}

fn store(config: &Config) -> anyhow::Result<AccountStore> {
    let vault = Vault::open(&config.state_dir, config.store).context("failed to open the secret store")?;
    Ok(AccountStore::new(&config.state_dir, Arc::new(vault)))
}
