//! `git-credential-azdo login`: an interactive sign-in that ends by naming the account and the
//! organizations bound to it.

use std::io::Write;

use anyhow::Context;

use crate::cli::LoginArgs;
use crate::config::Config;
use crate::signin::{self, Method};

pub fn run(config: &Config, args: &LoginArgs) -> anyhow::Result<()> {
    if args.pat {
        return super::pat::run(config, args);
    }
    let organizations = args.organizations.iter().map(|o| organization(o)).collect::<anyhow::Result<Vec<_>>>()?;
    let tenant = match &args.tenant {
        Some(text) => {
            Some(crate::azdo::tenant_name(text).with_context(|| format!("{text} is not a tenant id or domain"))?)
        }
        None => None,
    };
    let method = if args.device {
        Method::DeviceCode
    } else if args.browser {
        Method::Browser
    } else {
        Method::for_this_session(config)
    };
    let live_progress = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let request = signin::Request { method, tenant, organizations, login_hint: None, claims: None, live_progress };
    let mut out = std::io::stdout().lock();
    let signed_in = signin::sign_in(config, &request, &mut out).context("sign-in failed")?;
    let account = &signed_in.account;
    let name = account.name.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
    writeln!(out, "Signed in as {}{name}, tenant {}.", account.username, account.tenant_id)?;
    let services = crate::azdo::Services::new(&config.devops_url);
    for (organization, why) in &signed_in.unconfirmed {
        if let crate::azdo::CheckError::Unreachable(reason) = why {
            let url = url::Url::parse(&services.organization_url(organization))?;
            writeln!(
                out,
                "Warning: Azure DevOps could not be asked whether {} can use {organization} ({reason}); {}.",
                account.username,
                config.unreachable_advice(&url)
            )?;
            continue;
        }
        writeln!(
            out,
            "Warning: {} cannot reach {organization} yet: {why}. Is it the account (or tenant) that organization uses?",
            account.username
        )?;
    }
    if account.organizations.is_empty() {
        writeln!(out, "No organization is bound to it; bind one with: git-credential-azdo login --org ORGANIZATION")?;
    } else {
        writeln!(out, "Organizations bound to it: {}.", account.organizations.join(", "))?;
    }
    Ok(())
}

/// An organization name, also accepted as its URL (`https://dev.azure.com/contoso`).
pub fn organization(text: &str) -> anyhow::Result<String> {
    let trimmed = text.trim().trim_end_matches('/');
    let name = trimmed
        .strip_prefix("https://dev.azure.com/")
        .or_else(|| trimmed.strip_prefix("https://").and_then(|h| h.strip_suffix(".visualstudio.com")))
        .unwrap_or(trimmed);
    crate::azdo::organization_name(name)
        .with_context(|| format!("{text} is not an Azure DevOps organization name (as in https://dev.azure.com/NAME)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organizations_by_name_or_url() {
        assert_eq!(organization("Contoso").unwrap(), "contoso");
        assert_eq!(organization("https://dev.azure.com/contoso/").unwrap(), "contoso");
        assert_eq!(organization("https://fabrikam.visualstudio.com").unwrap(), "fabrikam");
        assert!(organization("a/b").is_err());
        assert!(organization("").is_err());
    }
}
