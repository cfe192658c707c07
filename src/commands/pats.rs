//! `git-credential-azdo pat create|list|revoke`: the user's personal access tokens in Azure
//! DevOps, for the tools that still need one (desktop Git clients, services that track work
//! items and builds), through the PAT lifecycle API ([`crate::azdo::pat_api`]).
//!
//! The API takes an Entra token of a user: the one `token` gets for the organization
//! ([`super::token::token`], chosen as for git). A personal Microsoft account or a
//! non-interactive identity cannot manage PATs there, and is told so before anything is sent.
//! `pat create --keep` keeps the new PAT as the organization's PAT for git (`login --pat`'s
//! store), with its expiry and its id, so that `pat revoke` forgets it.

use std::io::{IsTerminal as _, Write as _};
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};

use super::token::{Issued, Kind, Target};
use crate::accounts::{AccountStore, Pat};
use crate::azdo::MSA_TENANT;
use crate::azdo::pat_api::{self, Filter, PatApi, PatApiError, PatToken};
use crate::azdo::{CheckError, Scope, Services};
use crate::cli::{PatAction, PatCreateArgs, PatRevokeArgs};
use crate::config::Config;
use crate::secret::Secret;
use crate::store::Vault;

/// A PAT's lifetime when none is given: what Azure DevOps's own page proposes.
const DEFAULT_DAYS: u32 = 30;
const DAY: u64 = 24 * 60 * 60;
/// Longer than any name a person gives a PAT.
const MAX_NAME: usize = 256;

pub fn run(config: &Config, action: &PatAction) -> anyhow::Result<()> {
    match action {
        PatAction::Create(args) => create(config, args),
        PatAction::List { organization, all, json } => list(config, organization, *all, *json),
        PatAction::Revoke(args) => revoke(config, args),
    }
}

/// What every call needs: the user's token for the organization, and the API there.
struct Session {
    organization: String,
    /// Whose token it is, as errors name it.
    user: String,
    /// Whether it is a non-interactive identity's (the Azure CLI's).
    identity: bool,
    token: Secret,
    api: PatApi,
    services: Services,
    runtime: tokio::runtime::Runtime,
}

impl Session {
    fn open(config: &Config, organization: &str) -> anyhow::Result<Self> {
        let organization = super::login::organization(organization)?;
        let services = Services::new(&config.devops_url);
        // The signed-in user's Entra token, even where git is told to use PATs.
        let issued = super::token::token(config, Target::Organization(&organization), true)?;
        let identity = user_token(&issued, &services)?;
        let api = PatApi::new(&config.vssps_url(), &organization).map_err(anyhow::Error::msg)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("failed to start the async runtime")?;
        Ok(Self { organization, user: issued.account, identity, token: issued.token, api, services, runtime })
    }

    /// Where a person makes PATs by hand.
    fn tokens_page(&self) -> String {
        format!("{}/_usersSettings/tokens", self.services.organization_url(&self.organization))
    }

    /// One line for a failed call: what failed, why, and what to do.
    fn refusal(&self, doing: &Doing, error: &PatApiError) -> anyhow::Error {
        let (organization, user) = (&self.organization, &self.user);
        let login = format!("git-credential-azdo login --org {organization}");
        let page = self.tokens_page();
        let list = format!("git-credential-azdo pat list --org {organization}");
        let why = match error {
            PatApiError::Refused(code) => match code.as_str() {
                "fullScopePatPolicyViolation" => {
                    format!("{organization}'s policy forbids full-access PATs; name the scopes the tool needs")
                }
                "patLifespanPolicyViolation" => format!(
                    "{organization}'s policy limits how long a PAT may live; ask for fewer days with --days (the \
                     organization's administrators know the limit)"
                ),
                "globalPatPolicyViolation" | "globalPATCreationBlocked" => format!(
                    "the tenant's policy forbids PATs for all organizations (this one was for {organization} only); \
                     ask an administrator of {organization}"
                ),
                "disablePatCreationPolicyViolation" => format!(
                    "{organization}'s policy restricts who may create PATs, and which; ask an administrator of \
                     {organization} to add {user} to the policy's allowlist, or use an Entra token instead: \
                     git-credential-azdo token --org {organization}"
                ),
                "invalidScope" => "Azure DevOps does not accept these scopes; see: git-credential-azdo pat create \
                                   --help"
                    .to_owned(),
                "invalidValidTo" => {
                    "Azure DevOps does not accept that expiry; choose one within a year with --days or --expires"
                        .to_owned()
                }
                "invalidDisplayName" | "displayNameRequired" => {
                    "Azure DevOps does not accept that name; choose another with --name".to_owned()
                }
                "invalidUserType" | "invalidUserId" | "userIdRequired" => format!(
                    "Azure DevOps manages PATs through its API only for Microsoft Entra users, which {user} is not \
                     taken to be; create one at {page}"
                ),
                "invalidClientType" | "invalidClient" | "invalidClientId" => format!(
                    "Azure DevOps does not let this application's sign-ins manage PATs (see \
                     GIT_CREDENTIAL_AZDO_CLIENT_ID or azdo.clientId); create one at {page}"
                ),
                "accessDenied" => format!(
                    "Azure DevOps denied it to {user} (accessDenied): is {user} a user of {organization}, allowed to \
                     make PATs? Or create one at {page}"
                ),
                "tokenNotFound" | "invalidAuthorizationId" | "authorizationNotFound" | "hostAuthorizationNotFound" => {
                    format!("{user} has no PAT with that id in {organization}; see: {list}")
                }
                "invalidToken" | "invalidTokenType" | "invalidAudience" | "invalidSubject" => {
                    format!("Azure DevOps did not accept the token of {user} ({code}); sign in again with: {login}")
                }
                "failedToReadTenantPolicy"
                | "failedToReadOrgPolicy"
                | "failedToIssueAccessToken"
                | "failedToUpdateAccessToken" => format!("Azure DevOps failed ({code}); try again in a moment"),
                other => format!("Azure DevOps refused it ({other})"),
            },
            PatApiError::Unauthorized(status) => format!(
                "Azure DevOps did not accept the token of {user} for {organization}'s PATs (HTTP {status}); is \
                 {user} a user of {organization}? To sign in again: {login}"
            ),
            PatApiError::Status { status: 404, message } => match doing {
                Doing::Revoke => format!("{user} has no PAT with that id in {organization} (HTTP 404); see: {list}"),
                Doing::Create | Doing::List => format!(
                    "{} was not found (HTTP 404){}: is {organization} spelled right?",
                    self.api.endpoint(),
                    message.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
                ),
            },
            PatApiError::Status { status, .. } if *status == 429 || *status >= 500 => {
                format!("Azure DevOps is unavailable (HTTP {status}); try again in a moment")
            }
            PatApiError::Status { status, message } => {
                let message = message.as_deref().map(|m| format!(": {m}")).unwrap_or_default();
                if self.identity {
                    format!(
                        "Azure DevOps refused {user} (HTTP {status}{message}); PATs are made for a signed-in user: \
                         sign in with {login} and run this with GIT_CREDENTIAL_AZDO_IDENTITY=none"
                    )
                } else {
                    format!("Azure DevOps refused it (HTTP {status}{message})")
                }
            }
            PatApiError::Unreachable(reason) => format!("could not reach Azure DevOps: {reason}"),
            PatApiError::BadAnswer(what) => format!(
                "{} answered {what}, not as Azure DevOps's PAT API does (is {} right?)",
                self.api.endpoint().origin().ascii_serialization(),
                crate::config::ENV_VSSPS_URL
            ),
        };
        anyhow!("failed to {} {organization}: {why}", doing.words())
    }
}

/// What a call was for, for its error line.
enum Doing {
    Create,
    List,
    Revoke,
}

impl Doing {
    fn words(&self) -> &'static str {
        match self {
            Self::Create => "create a PAT for",
            Self::List => "list the PATs of",
            Self::Revoke => "revoke a PAT of",
        }
    }
}

/// Whether `issued` can manage PATs (an Entra user's token), and whether it is an identity's.
fn user_token(issued: &Issued, services: &Services) -> anyhow::Result<bool> {
    let organization = &issued.organization;
    let page = format!("{}/_usersSettings/tokens", services.organization_url(organization));
    match &issued.kind {
        Kind::Account { tenant_id } if tenant_id == MSA_TENANT => bail!(
            "{} is a personal Microsoft account, and Azure DevOps manages PATs through its API only for Microsoft \
             Entra (work or school) accounts; create one at {page}",
            issued.account
        ),
        Kind::Account { .. } => Ok(false),
        // The Azure CLI may be signed in as a person: Azure DevOps decides.
        Kind::Identity { azure_cli: true } => Ok(true),
        Kind::Identity { azure_cli: false } => bail!(
            "{} answers for {organization} here, and Azure DevOps makes PATs only for a signed-in user; sign in with \
             git-credential-azdo login --org {organization}, and run this with GIT_CREDENTIAL_AZDO_IDENTITY=none",
            issued.account
        ),
    }
}

fn create(config: &Config, args: &PatCreateArgs) -> anyhow::Result<()> {
    let scopes = pat_api::scopes(&args.scopes).map_err(anyhow::Error::msg)?;
    let now = crate::store::unix_now();
    let valid_to = lifetime(args.days, args.expires.as_deref(), now)?;
    let name = match &args.name {
        Some(name) => name.trim().to_owned(),
        None => format!("git-credential-azdo {}", super::status::day(now)),
    };
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        bail!("--name must be 1 to {MAX_NAME} characters, none of them control characters");
    }
    let session = Session::open(config, &args.organization)?;
    let pat = session
        .runtime
        .block_on(session.api.create(&session.token, &name, &scopes, valid_to))
        .map_err(|e| session.refusal(&Doing::Create, &e))?;
    let Some(secret) = pat.token.clone() else { bail!("Azure DevOps gave no value for the new PAT") };
    let expires_at = pat.valid_to_unix().unwrap_or(valid_to);
    // Kept before it is printed, so that the JSON can say so; printed whatever became of that.
    let kept = if args.keep { Some(keep(config, &session, &pat, &secret, expires_at)) } else { None };

    let mut out = std::io::stdout().lock();
    if args.json {
        let mut json = describe(&pat, session.organization.as_str(), kept.as_ref().is_some_and(Result::is_ok));
        json["token"] = serde_json::Value::String(secret.expose().to_owned());
        let text = zeroize::Zeroizing::new(serde_json::to_string_pretty(&json)?);
        writeln!(out, "{}", text.as_str())?;
    } else {
        writeln!(out, "{}", secret.expose())?;
    }
    out.flush()?;
    // For a person at a terminal; a script reads stdout only.
    if std::io::stderr().is_terminal() {
        let scopes: Vec<&str> = scopes.iter().map(|s| pat_api::friendly(s)).collect();
        eprintln!(
            "Created the PAT \"{}\" of {} for {} ({}), expiring on {}, id {}. Azure DevOps never shows it again.",
            crate::entra::printable(&pat.display_name, 100),
            session.user,
            session.organization,
            scopes.join(", "),
            super::status::day(expires_at),
            crate::entra::printable(&pat.authorization_id, 64),
        );
        if let Some(Ok(())) = &kept {
            eprintln!("It is also kept as {}'s PAT for git.", session.organization);
        }
    }
    match kept {
        Some(Err(e)) => Err(e.context(format!(
            "the PAT was created and printed, but not kept; keep it with: git-credential-azdo login --pat --org {}",
            session.organization
        ))),
        _ => Ok(()),
    }
}

/// Unix seconds at which a PAT made now expires: `--days` from now, the end (UTC) of the
/// `--expires` day, or [`DEFAULT_DAYS`] from now; at most a year ahead.
fn lifetime(days: Option<u32>, expires: Option<&str>, now: u64) -> anyhow::Result<u64> {
    let max = u64::from(pat_api::MAX_DAYS) * DAY;
    if let Some(text) = expires {
        let day = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
            .with_context(|| format!("--expires {text} is not a date like 2027-03-31"))?;
        let end = day.and_hms_opt(23, 59, 59).map(|t| t.and_utc().timestamp()).unwrap_or_default();
        let end = u64::try_from(end).unwrap_or_default();
        if end <= now {
            bail!("--expires {text} has passed");
        }
        if end > now + max {
            bail!("--expires {text} is more than a year ahead: Azure DevOps makes PATs for a year at most");
        }
        return Ok(end);
    }
    let days = days.unwrap_or(DEFAULT_DAYS);
    if !(1..=pat_api::MAX_DAYS).contains(&days) {
        bail!("--days must be 1 to {}: Azure DevOps makes PATs for a year at most", pat_api::MAX_DAYS);
    }
    Ok(now + u64::from(days) * DAY)
}

/// Keeps the new PAT as the organization's PAT for git.
fn keep(config: &Config, session: &Session, pat: &PatToken, secret: &Secret, expires_at: u64) -> anyhow::Result<()> {
    let accounts = open_accounts(config)?;
    let scope = Scope::Organization(session.organization.clone());
    let id = Some(pat.authorization_id.as_str());
    accounts.save_pat(&scope, &session.user, secret, Some(expires_at), id).context("failed to keep the PAT")?;
    Ok(())
}

fn open_accounts(config: &Config) -> anyhow::Result<AccountStore> {
    let vault = Arc::new(Vault::open(&config.state_dir, config.store).context("failed to open the secret store")?);
    Ok(AccountStore::new(&config.state_dir, vault))
}

/// A PAT as `list --json` shows it: never its value.
fn describe(pat: &PatToken, organization: &str, kept: bool) -> serde_json::Value {
    serde_json::json!({
        "id": pat.authorization_id,
        "name": pat.display_name,
        "scopes": pat.scope.split_whitespace().collect::<Vec<_>>(),
        "valid_from": pat.valid_from,
        "valid_to": pat.valid_to,
        "expires_utc": pat.valid_to_unix(),
        "organization": organization,
        "all_organizations": pat.target_accounts.is_none(),
        "kept": kept,
    })
}

/// The id of the PAT kept for git for `organization`, when we made it.
fn kept_id(config: &Config, organization: &str) -> anyhow::Result<Option<String>> {
    let accounts = open_accounts(config)?;
    let all = accounts.load()?;
    Ok(all.pat(&Scope::Organization(organization.to_owned())).and_then(|p| p.authorization_id.clone()))
}

fn list(config: &Config, organization: &str, all: bool, json: bool) -> anyhow::Result<()> {
    let session = Session::open(config, organization)?;
    let filter = if all { Filter::All } else { Filter::Active };
    let pats = session
        .runtime
        .block_on(session.api.list(&session.token, filter))
        .map_err(|e| session.refusal(&Doing::List, &e))?;
    let kept = kept_id(config, &session.organization)?;
    let is_kept = |pat: &PatToken| kept.as_deref() == Some(pat.authorization_id.as_str());
    let mut out = std::io::stdout().lock();
    if json {
        let list: Vec<serde_json::Value> =
            pats.iter().map(|p| describe(p, &session.organization, is_kept(p))).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(());
    }
    let which = if all { "PATs" } else { "active PATs" };
    if pats.is_empty() {
        writeln!(out, "{} has no {which} for {}.", session.user, session.organization)?;
        return Ok(());
    }
    writeln!(out, "The {which} of {} for {}:", session.user, session.organization)?;
    let now = crate::store::unix_now();
    for pat in &pats {
        writeln!(out, "{}", render(pat, now, is_kept(pat)))?;
    }
    Ok(())
}

/// One PAT on one line: name, scopes, expiry, id; text from the server made safe to show.
fn render(pat: &PatToken, now: u64, kept: bool) -> String {
    let scopes: Vec<&str> = pat.scope.split_whitespace().map(pat_api::friendly).collect();
    let scopes = crate::entra::printable(&scopes.join(", "), 200);
    let expiry = match pat.valid_to_unix() {
        Some(at) if at <= now => format!("expired on {}", super::status::day(at)),
        Some(at) => format!("expires on {} (in {} days)", super::status::day(at), (at - now) / DAY),
        None => "expiry unknown".to_owned(),
    };
    let everywhere = if pat.target_accounts.is_none() { ", for all organizations" } else { "" };
    let kept = if kept { ", kept for git" } else { "" };
    format!(
        "  {}  [{scopes}]  {expiry}{everywhere}{kept}  id {}",
        crate::entra::printable(&pat.display_name, 100),
        crate::entra::printable(&pat.authorization_id, 64)
    )
}

fn revoke(config: &Config, args: &PatRevokeArgs) -> anyhow::Result<()> {
    let session = Session::open(config, &args.organization)?;
    let (id, shown) = match (&args.id, &args.name) {
        (Some(id), _) => {
            let id = id.trim().to_ascii_lowercase();
            if id.is_empty() || id.len() > 64 || !id.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                bail!(
                    "--id {} is not a PAT's id (as in 4ab5764f-4193-4f1d-b995-64144880b7d7)",
                    crate::entra::printable(&id, 64)
                );
            }
            (id.clone(), format!("the PAT {id}"))
        }
        (None, Some(name)) => {
            let pats = session
                .runtime
                .block_on(session.api.list(&session.token, Filter::Active))
                .map_err(|e| session.refusal(&Doing::Revoke, &e))?;
            let named: Vec<&PatToken> = pats.iter().filter(|p| p.display_name == *name).collect();
            let shown_name = crate::entra::printable(name, 100);
            match named.as_slice() {
                [] => bail!(
                    "{} has no active PAT named \"{shown_name}\" in {}; see: git-credential-azdo pat list --org {}",
                    session.user,
                    session.organization,
                    session.organization
                ),
                [pat] => (pat.authorization_id.clone(), format!("the PAT \"{shown_name}\" ({})", pat.authorization_id)),
                several => {
                    let ids: Vec<String> =
                        several.iter().map(|p| crate::entra::printable(&p.authorization_id, 64)).collect();
                    bail!(
                        "{} active PATs are named \"{shown_name}\" in {}; revoke one by its id: --id {}",
                        several.len(),
                        session.organization,
                        ids.join(" or --id ")
                    )
                }
            }
        }
        (None, None) => bail!("say which PAT: --id ID or --name NAME"),
    };
    session
        .runtime
        .block_on(session.api.revoke(&session.token, &id))
        .map_err(|e| session.refusal(&Doing::Revoke, &e))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "Revoked {shown} in {}.", session.organization)?;
    if forget_kept(config, &session, &id)? {
        writeln!(out, "It was the PAT kept for git for {}: it is forgotten.", session.organization)?;
    }
    Ok(())
}

/// Forgets the organization's kept PAT when it is the one just revoked: by its id when we made
/// it, else when Azure DevOps no longer takes it.
fn forget_kept(config: &Config, session: &Session, revoked: &str) -> anyhow::Result<bool> {
    let accounts = open_accounts(config)?;
    let scope = Scope::Organization(session.organization.clone());
    let Some(pat) = accounts.load()?.pat(&scope).cloned() else { return Ok(false) };
    let gone = match pat.authorization_id.as_deref() {
        Some(id) => id.eq_ignore_ascii_case(revoked),
        None => match accounts.pat_secret(&pat)? {
            Some(secret) => is_refused(session, &scope, &secret),
            None => false,
        },
    };
    if gone {
        forget(&accounts, &pat)?;
    }
    Ok(gone)
}

fn is_refused(session: &Session, scope: &Scope, secret: &Secret) -> bool {
    let client = crate::net::client_for(&scope.connection_data_url(&session.services));
    let check = crate::azdo::check_pat(&client, &session.services, scope, secret, crate::azdo::DISCOVERY_TIMEOUT);
    matches!(session.runtime.block_on(check), Err(CheckError::Refused(401) | CheckError::SignInPage(_)))
}

fn forget(accounts: &AccountStore, pat: &Pat) -> anyhow::Result<()> {
    accounts.remove_pat(pat).context("failed to forget the kept PAT")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_000_000; // 2026-11-18

    #[test]
    fn lifetimes() {
        assert_eq!(lifetime(None, None, NOW).unwrap(), NOW + 30 * DAY);
        assert_eq!(lifetime(Some(7), None, NOW).unwrap(), NOW + 7 * DAY);
        assert!(lifetime(Some(0), None, NOW).unwrap_err().to_string().contains("1 to 365"));
        assert!(lifetime(Some(366), None, NOW).is_err());
        assert_eq!(lifetime(None, Some("2026-12-31"), NOW).unwrap(), 1_798_761_599, "the end of that day, UTC");
        assert!(lifetime(None, Some("2026-11-17"), NOW).unwrap_err().to_string().contains("has passed"));
        assert!(lifetime(None, Some("2028-01-01"), NOW).unwrap_err().to_string().contains("more than a year"));
        assert!(lifetime(None, Some("31/12/2026"), NOW).unwrap_err().to_string().contains("not a date"));
    }

    fn issued(kind: Kind) -> Issued {
        Issued {
            token: Secret::new("t"),
            expires_utc: None,
            account: "someone".into(),
            organization: "contoso".into(),
            kind,
        }
    }

    #[test]
    fn only_an_entra_users_token_manages_pats() {
        let services = Services::default();
        assert!(!user_token(&issued(Kind::Account { tenant_id: "t1".into() }), &services).unwrap());
        assert!(user_token(&issued(Kind::Identity { azure_cli: true }), &services).unwrap());
        let msa = user_token(&issued(Kind::Account { tenant_id: MSA_TENANT.into() }), &services).unwrap_err();
        let line = msa.to_string();
        assert!(line.contains("personal Microsoft account"), "{line}");
        assert!(line.ends_with("create one at https://dev.azure.com/contoso/_usersSettings/tokens"), "{line}");
        let robot = user_token(&issued(Kind::Identity { azure_cli: false }), &services).unwrap_err().to_string();
        assert!(
            robot.contains("login --org contoso") && robot.contains("GIT_CREDENTIAL_AZDO_IDENTITY=none"),
            "{robot}"
        );
    }

    #[test]
    fn a_pat_on_one_line_never_with_its_value() {
        let pat = PatToken {
            authorization_id: "4ab5764f-4193-4f1d-b995-64144880b7d7".into(),
            display_name: "Fork\u{1b}[2J client".into(),
            scope: "vso.code_write vso.work".into(),
            target_accounts: Some(vec!["38aaa865".into()]),
            valid_from: None,
            valid_to: Some("2026-12-28T00:00:00Z".into()),
            token: Some(Secret::new("the-value")),
        };
        let line = render(&pat, NOW, true);
        assert_eq!(
            line,
            "  Fork[2J client  [code:write, work:read]  expires on 2026-12-28 (in 39 days), kept for git  id \
             4ab5764f-4193-4f1d-b995-64144880b7d7"
        );
        let json = describe(&pat, "contoso", false).to_string();
        assert!(!json.contains("the-value") && json.contains("\"scopes\":[\"vso.code_write\",\"vso.work\"]"), "{json}");
    }
}
