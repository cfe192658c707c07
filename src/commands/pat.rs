//! `git-credential-azdo login --pat`: add a personal access token for a Services organization
//! or a Server collection, after Azure DevOps has confirmed it.

use std::io::{BufRead as _, IsTerminal as _, Read as _, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::accounts::AccountStore;
use crate::azdo::{CheckError, Collection, Scope, Services};
use crate::cli::LoginArgs;
use crate::config::Config;
use crate::secret::Secret;
use crate::store::Vault;

/// How long Azure DevOps may take to confirm the PAT.
const CHECK_TIMEOUT: Duration = Duration::from_secs(15);
/// `status` warns this long before a PAT lapses.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Longer than any PAT Azure DevOps issues.
const MAX_PAT_LEN: usize = 1024;

pub fn run(config: &Config, args: &LoginArgs) -> anyhow::Result<()> {
    let services = Services::new(&config.devops_url);
    let scope = scope(&services, args)?;
    let expires_at = args.expires.as_deref().map(expiry).transpose()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", advice(&services, &scope, chrono::Utc::now().date_naive()))?;
    let secret = read_pat(&scope)?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    let client = crate::net::client_for(&scope.connection_data_url(&services));
    let (user, windows_auth) = runtime.block_on(async {
        let user = crate::azdo::check_pat(&client, &services, &scope, &secret, CHECK_TIMEOUT).await;
        let url = scope.connection_data_url(&services);
        let windows_auth = matches!(scope, Scope::Collection(_))
            && crate::azdo::offers_windows_auth(&client, &url, crate::azdo::DISCOVERY_TIMEOUT).await;
        (user, windows_auth)
    });
    let user = user.map_err(|e| match e {
        CheckError::Unreachable(_) => {
            let url = url::Url::parse(&scope.connection_data_url(&services)).ok();
            let advice = url.map(|url| format!("; {}", config.unreachable_advice(&url))).unwrap_or_default();
            anyhow::anyhow!("{}{advice}", refusal(&services, &scope, &e))
        }
        _ => refusal(&services, &scope, &e),
    })?;

    let vault = Arc::new(Vault::open(&config.state_dir, config.store).context("failed to open the secret store")?);
    let accounts = AccountStore::new(&config.state_dir, vault);
    let pat = accounts.save_pat(&scope, &user, &secret, expires_at, None).context("failed to keep the PAT")?;
    let owner = if user.is_empty() { String::new() } else { format!(" (it belongs to {user})") };
    writeln!(out, "Saved the PAT for {scope}{owner}, in the {} store.", pat.backend)?;
    match &scope {
        Scope::Organization(organization) => {
            writeln!(
                out,
                "It answers for {} and its visualstudio.com address.",
                services.organization_url(organization)
            )?;
            if let Some(account) = accounts.load()?.chosen(organization, None) {
                writeln!(
                    out,
                    "The Entra account {} still answers for {organization} first; to use the PAT instead, run: \
                     git config --global azdo.{}.auth pat",
                    account.username,
                    services.organization_url(organization)
                )?;
            }
        }
        Scope::Collection(collection) => {
            if !collection.is_https() {
                writeln!(out, "Warning: {} is plain http: the PAT travels unencrypted.", collection.origin())?;
            }
            send_path(config, collection, &mut out)?;
            if windows_auth {
                windows_auth_advice(collection, crate::config::git_version(), &mut out)?;
            }
        }
    }
    if let Some(at) = expires_at {
        writeln!(out, "It expires on {}; `git-credential-azdo status` warns a week before.", super::status::day(at))?;
    }
    Ok(())
}

/// What the PAT is for: `--org NAME`, or `--url` naming an organization or a collection.
fn scope(services: &Services, args: &LoginArgs) -> anyhow::Result<Scope> {
    match (args.organizations.as_slice(), args.url.as_deref()) {
        ([organization], None) => Ok(Scope::Organization(super::login::organization(organization)?)),
        ([], Some(url)) => Scope::from_url(services, url).map_err(anyhow::Error::msg),
        ([], None) => {
            bail!("say what the PAT is for: --org ORGANIZATION, or --url COLLECTION_URL for Azure DevOps Server")
        }
        _ => bail!("a PAT is added for one organization or collection at a time"),
    }
}

/// What a PAT needs, before asking for one. Azure DevOps Services retired PATs for "All
/// accessible organizations" on 1 December 2026 (said in the past tense from that day); Azure
/// DevOps Server has no such PATs.
fn advice(services: &Services, scope: &Scope, today: chrono::NaiveDate) -> String {
    match scope {
        Scope::Organization(organization) => {
            let url = services.organization_url(organization);
            let retired = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).is_some_and(|day| today >= day);
            let stop = if retired { "stopped" } else { "stop" };
            format!(
                "A PAT for {scope} needs the scope Code (Read & Write), and should be made for the organization \
                 {organization} only: PATs for \"All accessible organizations\" {stop} working on 1 December 2026. \
                 Create one at {url}/_usersSettings/tokens"
            )
        }
        Scope::Collection(collection) => format!(
            "A PAT for {scope} needs the scope Code (Read & Write). Create one at {collection}/_usersSettings/tokens"
        ),
    }
}

/// The PAT from stdin when it is piped, else from a prompt on the terminal without echo.
fn read_pat(scope: &Scope) -> anyhow::Result<Secret> {
    let text = zeroize::Zeroizing::new(if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("PAT for {scope}: ")).context("failed to read the PAT")?
    } else {
        let mut line = String::new();
        let limit = u64::try_from(MAX_PAT_LEN + 2).unwrap_or(u64::MAX);
        std::io::stdin().lock().take(limit).read_line(&mut line).context("failed to read the PAT from stdin")?;
        line
    });
    let pat = text.trim();
    if pat.is_empty() {
        bail!("no PAT was given: pipe it in, or type it at the prompt");
    }
    if pat.len() > MAX_PAT_LEN || pat.chars().any(|c| c.is_whitespace() || c.is_control()) {
        bail!("that is not a PAT: it should be one word of letters and digits");
    }
    Ok(Secret::new(pat))
}

/// Why the PAT was not saved, and what to do.
fn refusal(services: &Services, scope: &Scope, error: &CheckError) -> anyhow::Error {
    let likely = match scope {
        Scope::Organization(_) => "it has expired or been revoked, or it was made for another organization",
        Scope::Collection(_) => "it has expired or been revoked, or it was made for another collection",
    };
    let url = scope.connection_data_url(services);
    let problem = match error {
        CheckError::Refused(401) => format!("Azure DevOps refused the PAT for {scope} (HTTP 401): {likely}"),
        CheckError::Refused(404) => format!("{url} was not found (HTTP 404): is {scope} spelled right?"),
        CheckError::Refused(status) => format!("Azure DevOps refused the PAT for {scope} (HTTP {status})"),
        CheckError::SignInPage(status) => {
            format!("Azure DevOps answered with a sign-in page (HTTP {status}) instead of accepting the PAT: {likely}")
        }
        CheckError::Unreachable(reason) => format!("could not reach {url}: {reason}"),
    };
    anyhow::anyhow!("{problem}; the PAT was not saved")
}

/// Unix seconds at the start (UTC) of the day `text` names, which must not have passed.
fn expiry(text: &str) -> anyhow::Result<u64> {
    let day = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .with_context(|| format!("--expires {text} is not a date like 2026-12-31"))?;
    let at = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()).unwrap_or_default();
    let today = chrono::Utc::now().date_naive();
    if day < today {
        bail!("--expires {text} has passed; give the day the PAT expires");
    }
    u64::try_from(at).context("--expires is before 1970")
}

/// The collection's server offers Windows authentication (NTLM, Negotiate) beside Basic, as IIS
/// does by default. git 2.46 and later take the PAT from us as a ready Basic credential; an
/// older git hands curl a username and password, and curl picks NTLM, which refuses a PAT. No
/// git setting before 2.46 restricts the schemes curl may use for a server.
fn windows_auth_advice(collection: &Collection, git: Option<(u32, u32)>, out: &mut impl Write) -> anyhow::Result<()> {
    if let Some(version) = git.filter(|v| *v < (2, 46)) {
        writeln!(
            out,
            "Warning: {} offers Windows authentication (NTLM) before Basic, and git {}.{} would send the PAT with \
             NTLM, which the server refuses: use git 2.46 or later, or have the server's administrator turn off \
             Windows authentication for the collection's IIS site.",
            collection.origin(),
            version.0,
            version.1
        )?;
    }
    Ok(())
}

/// git asks us about the collection's server and sends the path, which tells collections
/// apart; the PAT is used for nothing else.
fn send_path(config: &Config, collection: &Collection, out: &mut impl Write) -> anyhow::Result<()> {
    match super::install::configure_server(config, collection.origin()) {
        Ok(true) => writeln!(
            out,
            "git now asks git-credential-azdo for {} and sends it the path, which names the collection.",
            collection.origin()
        )?,
        Ok(false) => {}
        Err(e) => writeln!(
            out,
            "Warning: git could not be configured ({e:#}); run: git-credential-azdo install --url {}",
            collection.origin()
        )?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(organizations: &[&str], url: Option<&str>) -> LoginArgs {
        LoginArgs {
            organizations: organizations.iter().map(|o| (*o).to_owned()).collect(),
            tenant: None,
            device: false,
            browser: false,
            pat: true,
            url: url.map(Into::into),
            expires: None,
        }
    }

    #[test]
    fn the_scope_is_an_organization_or_a_collection() {
        let services = Services::default();
        let org = |name: &str| Scope::Organization(name.into());
        assert_eq!(scope(&services, &args(&["Contoso"], None)).unwrap(), org("contoso"));
        assert_eq!(
            scope(&services, &args(&[], Some("https://dev.azure.com/contoso/p/_git/r"))).unwrap(),
            org("contoso")
        );
        assert_eq!(scope(&services, &args(&[], Some("https://fabrikam.visualstudio.com"))).unwrap(), org("fabrikam"));
        let server = scope(&services, &args(&[], Some("https://tfs.example.com/tfs/DefaultCollection/p/_git/r")));
        assert_eq!(server.unwrap().to_string(), "https://tfs.example.com/tfs/DefaultCollection");
        assert!(scope(&services, &args(&[], None)).is_err());
        assert!(scope(&services, &args(&["a", "b"], None)).is_err());
        assert!(scope(&services, &args(&[], Some("https://tfs.example.com"))).is_err());
    }

    #[test]
    fn expiry_dates() {
        assert_eq!(expiry("2100-01-01").unwrap(), 4_102_444_800);
        assert!(expiry("2020-01-01").unwrap_err().to_string().contains("has passed"));
        assert!(expiry("31/12/2100").unwrap_err().to_string().contains("is not a date"));
    }

    #[test]
    fn the_advice_fits_the_service_and_the_day() {
        let services = Services::default();
        let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let organization = Scope::Organization("contoso".into());
        let before = advice(&services, &organization, day(2026, 11, 30));
        assert!(before.contains("\"All accessible organizations\" stop working on 1 December 2026"), "{before}");
        let after = advice(&services, &organization, day(2026, 12, 1));
        assert!(after.contains("\"All accessible organizations\" stopped working on 1 December 2026"), "{after}");
        let collection = Scope::from_url(&services, "https://tfs.example.com/tfs/DefaultCollection").unwrap();
        let server = advice(&services, &collection, day(2026, 11, 30));
        assert!(!server.contains("All accessible") && server.contains("Code (Read & Write)"), "{server}");
    }

    #[test]
    fn refusals_say_why_and_that_nothing_was_saved() {
        let services = Services::default();
        let scope = Scope::Organization("contoso".into());
        let message = refusal(&services, &scope, &CheckError::Refused(401)).to_string();
        assert!(message.contains("HTTP 401") && message.contains("expired") && message.ends_with("not saved"));
        let message = refusal(&services, &scope, &CheckError::SignInPage(203)).to_string();
        assert!(message.contains("sign-in page (HTTP 203)"), "{message}");
        let message = refusal(&services, &scope, &CheckError::Refused(404)).to_string();
        assert!(message.contains("https://dev.azure.com/contoso/_apis/connectionData was not found"), "{message}");
    }
}
