//! `git-credential-azdo logout`: forget an account, a PAT, or everything, secrets included.

use std::io::Write as _;

use crate::azdo::{Scope, Services};
use crate::cli::LogoutArgs;
use crate::config::Config;
use crate::ipc::{LogoutTarget, Request, Response};

pub fn run(config: &Config, args: &LogoutArgs) -> anyhow::Result<()> {
    let target = target(&Services::new(&config.devops_url), args)?;
    let Response::LoggedOut { accounts, pats, credentials } =
        super::ask(config, Request::Logout { target: target.clone() })?
    else {
        anyhow::bail!("unexpected answer to logout");
    };
    let mut out = std::io::stdout().lock();
    match &target {
        LogoutTarget::Account { selector } if accounts.is_empty() => {
            anyhow::bail!("no signed-in account is named {selector}; see: git-credential-azdo accounts")
        }
        LogoutTarget::Pat { scope } if pats.is_empty() => {
            anyhow::bail!("no PAT is kept for {scope}; see: git-credential-azdo status")
        }
        _ => {}
    }
    for account in &accounts {
        writeln!(out, "Signed out {account}: its refresh token is deleted and its organizations unbound.")?;
    }
    for scope in &pats {
        writeln!(out, "Removed the PAT for {scope}. Revoke it in Azure DevOps too if it is no longer needed.")?;
    }
    if credentials > 0 {
        writeln!(out, "Removed {credentials} credential(s) git had stored.")?;
    }
    if accounts.is_empty() && pats.is_empty() && credentials == 0 {
        writeln!(out, "Nothing was kept; nothing to remove.")?;
    }
    Ok(())
}

fn target(services: &Services, args: &LogoutArgs) -> anyhow::Result<LogoutTarget> {
    if args.all {
        return Ok(LogoutTarget::All);
    }
    if let Some(selector) = &args.account {
        return Ok(LogoutTarget::Account { selector: selector.trim().to_owned() });
    }
    let scope = match (&args.organization, &args.url) {
        (Some(organization), _) => Scope::Organization(super::login::organization(organization)?),
        (None, Some(url)) => Scope::from_url(services, url).map_err(anyhow::Error::msg)?,
        (None, None) => anyhow::bail!("say what to remove: --account NAME, --pat --org ORGANIZATION, or --all"),
    };
    Ok(LogoutTarget::Pat { scope })
}
