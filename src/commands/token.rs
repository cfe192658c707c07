//! `git-credential-azdo token`: an access token for an Azure DevOps organization on stdout, for
//! scripts that call its REST API.
//!
//! The daemon answers it as it answers git's `get` for the organization (the same account,
//! binding, `azdo.<url>.auth` choice and non-interactive identity, the same cache), or this
//! process does when no daemon can ([`crate::git::helper::answer`]). Only tokens are given out:
//! when a PAT or a stored password would answer git, this says so and prints nothing.

use std::io::Write as _;

use anyhow::{Context as _, bail};

use crate::azdo::{Remote, Services};
use crate::cli::TokenArgs;
use crate::config::Config;
use crate::git::Credential;
use crate::ipc::{Request, Response, TokenAnswer};
use crate::secret::Secret;

/// A token and whose it is.
#[derive(Debug)]
pub struct Issued {
    pub token: Secret,
    /// Unix seconds; `None` for a pipeline's job token.
    pub expires_utc: Option<u64>,
    /// The account's sign-in name, or the identity's description.
    pub account: String,
    pub organization: String,
    pub kind: Kind,
}

/// What a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A signed-in Entra account, of this tenant.
    Account { tenant_id: String },
    /// A non-interactive identity; `azure_cli` when it is the Azure CLI's sign-in.
    Identity { azure_cli: bool },
}

pub fn run(config: &Config, args: &TokenArgs) -> anyhow::Result<()> {
    // The helper's deadline counts from here: reading git's settings is part of it.
    let deadline = crate::git::helper::deadline_from(std::time::Instant::now(), config);
    let config = config.clone().with_git_config_within(config.timeout / 5)?;
    let target = match (&args.organization, &args.url) {
        (Some(organization), _) => Target::Organization(organization),
        (None, Some(url)) => Target::Url(url),
        (None, None) => bail!("say which organization: --org ORGANIZATION, or a repository's URL"),
    };
    let issued = token_by(&config, target, false, deadline)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let expires = issued.expires_utc.and_then(|at| {
            let at = chrono::DateTime::from_timestamp(i64::try_from(at).ok()?, 0)?;
            Some(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        });
        let kind = match issued.kind {
            Kind::Account { .. } => "account",
            Kind::Identity { .. } => "identity",
        };
        let json = serde_json::json!({
            "token": issued.token.expose(),
            "expires_utc": issued.expires_utc,
            "expires": expires,
            "account": issued.account,
            "kind": kind,
            "organization": issued.organization,
        });
        let text = zeroize::Zeroizing::new(serde_json::to_string_pretty(&json)?);
        writeln!(out, "{}", text.as_str())?;
    } else {
        writeln!(out, "{}", issued.token.expose())?;
    }
    Ok(())
}

/// Which organization a token is for: its name, or a URL as git would see it.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Organization(&'a str),
    Url(&'a str),
}

/// The token git would be given for `target`, chosen by the daemon (or here), or why there is
/// none, in one line with what to do. `entra_only`: an Entra token even where git is told to
/// use PATs (`azdo.<url>.auth pat`).
pub fn token(config: &Config, target: Target<'_>, entra_only: bool) -> anyhow::Result<Issued> {
    token_by(config, target, entra_only, crate::git::helper::deadline_from(std::time::Instant::now(), config))
}

/// [`token`], by `deadline`.
fn token_by(
    config: &Config,
    target: Target<'_>,
    entra_only: bool,
    deadline: std::time::Instant,
) -> anyhow::Result<Issued> {
    let services = Services::new(&config.devops_url);
    let credential = request(&services, target)?;
    let machine = crate::identity::from_env(&|name| std::env::var(name).ok(), &services, &config.entra.authority_host);
    let request = Request::Token { credential, machine, entra_only, budget_ms: None };
    let response = crate::git::helper::answer_by(config, &request, deadline)?;
    let (organization, answer) = match response {
        Response::Token { organization, answer } => (organization, answer),
        Response::Error { message, .. } => bail!(message),
        other => bail!("the daemon answered {} to a token request", kind_of(&other)),
    };
    issued(organization, answer)
}

/// The request git would make for `target`: protocol, host, path and user name of its URL.
fn request(services: &Services, target: Target<'_>) -> anyhow::Result<Credential> {
    let text = match target {
        Target::Organization(name) => services.organization_url(&super::login::organization(name)?),
        Target::Url(url) => url.trim().to_owned(),
    };
    let shown = crate::secret::redact_url(&text);
    let url = url::Url::parse(&text).with_context(|| format!("{shown} is not a URL"))?;
    let host = url.host_str().unwrap_or_default();
    let username = percent_encoding::percent_decode_str(url.username()).decode_utf8_lossy().into_owned();
    let credential = Credential {
        protocol: Some(url.scheme().to_owned()),
        host: Some(url.port().map_or_else(|| host.to_owned(), |port| format!("{host}:{port}"))),
        path: Some(url.path().trim_start_matches('/').to_owned()),
        username: Some(username).filter(|u| !u.is_empty()),
        ..Credential::default()
    };
    match services.classify(&credential) {
        Remote::Services { .. } => Ok(credential),
        Remote::ServicesWithoutOrganization => bail!("{shown} names no organization"),
        Remote::Insecure { origin } => {
            bail!("{shown} is plain http: Azure DevOps Services is {}", origin.replacen("http", "https", 1))
        }
        Remote::Other => bail!(
            "{shown} is not an Azure DevOps Services organization (as in {}): tokens are for Services only",
            services.organization_url("ORGANIZATION")
        ),
    }
}

/// The token in `answer`, or one line saying why there is none and what to do.
fn issued(organization: String, answer: TokenAnswer) -> anyhow::Result<Issued> {
    let login = format!("git-credential-azdo login --org {organization}");
    match answer {
        TokenAnswer::Account { token, expires_utc, username, tenant_id } => Ok(Issued {
            token,
            expires_utc: Some(expires_utc),
            account: username,
            organization,
            kind: Kind::Account { tenant_id },
        }),
        TokenAnswer::Identity { token, expires_utc, name, azure_cli } => {
            Ok(Issued { token, expires_utc, account: name, organization, kind: Kind::Identity { azure_cli } })
        }
        TokenAnswer::Pat { instead_of: Some(miss), .. } | TokenAnswer::Missed { miss: Some(miss) } => {
            bail!(crate::git::helper::describe(&miss))
        }
        TokenAnswer::Pat { chosen: true, instead_of: None, .. } => bail!(
            "git is set to use PATs for {organization} (azdo.<url>.auth pat), and a PAT is never printed as a token; \
             for an Entra token, set it to auto or oauth, and sign in with: {login}"
        ),
        TokenAnswer::Pat { what, chosen: false, instead_of: None } => bail!(
            "{what} answers for {organization}, and a PAT is never printed as a token; for an Entra token, sign in \
             with: {login}"
        ),
        TokenAnswer::Stored => bail!(
            "a password git stored answers for {organization}, not a token; for an Entra token, sign in with: {login}"
        ),
        TokenAnswer::Missed { miss: None } => bail!("nothing answers for {organization}; sign in with: {login}"),
    }
}

/// A response's name, for the unexpected ones.
fn kind_of(response: &Response) -> &'static str {
    match response {
        Response::Credential { .. } => "a credential",
        Response::Done => "done",
        Response::MachineRefused { .. }
        | Response::PatRefused { .. }
        | Response::AccountRefused { .. }
        | Response::ClaimsChallenge { .. } => "a refusal",
        Response::LoggedOut { .. } => "a logout",
        Response::Token { .. } => "a token",
        Response::Status { .. } => "a status",
        Response::Error { .. } => "an error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc::Miss;

    #[test]
    fn the_request_is_the_one_git_makes_for_the_url() {
        let services = Services::default();
        let by_name = request(&services, Target::Organization("Contoso")).unwrap();
        assert_eq!(by_name.host.as_deref(), Some("dev.azure.com"));
        assert_eq!(by_name.path.as_deref(), Some("contoso"));
        assert_eq!(by_name.username, None);
        let by_url =
            request(&services, Target::Url("https://alice%40contoso.com@dev.azure.com/contoso/p/_git/r")).unwrap();
        assert_eq!(by_url.username.as_deref(), Some("alice@contoso.com"), "a user name chooses the account");
        assert_eq!(by_url.path.as_deref(), Some("contoso/p/_git/r"));
        let old = request(&services, Target::Url("https://fabrikam.visualstudio.com/DefaultCollection")).unwrap();
        assert_eq!(old.host.as_deref(), Some("fabrikam.visualstudio.com"));

        let error = request(&services, Target::Url("https://u:hunter2@github.com/x")).unwrap_err().to_string();
        assert!(error.contains("not an Azure DevOps Services organization") && !error.contains("hunter2"), "{error}");
        assert!(
            request(&services, Target::Url("https://dev.azure.com/")).unwrap_err().to_string().contains("names no")
        );
        assert!(request(&services, Target::Organization("a/b")).is_err());
    }

    #[test]
    fn only_tokens_are_given_out_and_the_rest_says_what_to_do() {
        let token = |answer| issued("contoso".into(), answer);
        let account = TokenAnswer::Account {
            token: Secret::new("t"),
            expires_utc: 9,
            username: "alice@contoso.com".into(),
            tenant_id: "t1".into(),
        };
        let got = token(account).unwrap();
        assert_eq!((got.account.as_str(), got.expires_utc), ("alice@contoso.com", Some(9)));

        let pat = TokenAnswer::Pat { what: "the PAT kept for contoso".into(), chosen: false, instead_of: None };
        let line = token(pat).unwrap_err().to_string();
        assert!(line.starts_with("the PAT kept for contoso answers for contoso, and a PAT is never printed"), "{line}");
        assert!(line.ends_with("sign in with: git-credential-azdo login --org contoso"), "{line}");

        let needs = Miss::NeedsSignIn {
            organization: "contoso".into(),
            username: "alice@contoso.com".into(),
            reason: "invalid_grant".into(),
            tenant: "t1".into(),
            claims: None,
        };
        let pat = TokenAnswer::Pat { what: "x".into(), chosen: false, instead_of: Some(needs) };
        let line = token(pat).unwrap_err().to_string();
        assert!(line.contains("alice@contoso.com must sign in again"), "the account's problem, not the PAT: {line}");
        assert!(line.ends_with("run: git-credential-azdo login --org contoso"), "{line}");

        let chosen = TokenAnswer::Pat { what: "x".into(), chosen: true, instead_of: None };
        let line = token(chosen).unwrap_err().to_string();
        assert!(line.starts_with("git is set to use PATs for contoso (azdo.<url>.auth pat)"), "{line}");

        let stored = token(TokenAnswer::Stored).unwrap_err().to_string();
        assert!(stored.contains("not a token"), "{stored}");
        let none = TokenAnswer::Missed { miss: Some(Miss::NoAccount { organization: "contoso".into(), tenant: None }) };
        assert!(token(none).unwrap_err().to_string().ends_with("run: git-credential-azdo login --org contoso"));
    }
}
