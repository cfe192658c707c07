//! The helper actions git runs: read git's request, have the daemon answer it (or answer it
//! in-process when the daemon cannot), and print the answer for git.
//!
//! When an Azure DevOps remote has no usable account, `get` either signs in right there (git
//! runs in a terminal and may prompt) or says in one line what to run, and returns nothing.

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use super::{Capabilities, Credential};
use crate::azdo::Scope;
use crate::config::Config;
use crate::identity::{MachineIdentity, MachineSources};
use crate::ipc::{Miss, PatOutcome, Request, Response, client};
use crate::signin::{self, Method};

/// A credential-helper action, as git names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Get,
    Store,
    Erase,
}

/// Runs one action: `input` is git's request, `output` is read by git (for `get` only).
pub fn run(action: Action, config: &Config, input: impl BufRead, output: impl Write) -> anyhow::Result<()> {
    let credential = Credential::read(input)?;
    if !credential.has_protocol_and_host() {
        return Ok(());
    }
    let caps = credential.capabilities;
    let machine = crate::identity::from_env(
        &|name| std::env::var(name).ok(),
        &crate::azdo::Services::new(&config.devops_url),
        &config.entra.authority_host,
    );
    // The job token and AZURE_DEVOPS_EXT_PAT are the environment's: never stored, and a
    // refusal is explained here.
    if action != Action::Get
        && let Some(identity) = environment_token(&machine, &credential)
    {
        if action == Action::Erase {
            eprintln!("git-credential-azdo: Azure DevOps refused {identity}; {}", identity.remedy());
        }
        return Ok(());
    }
    let request = match action {
        Action::Get => Request::Get { credential, machine, budget_ms: None },
        Action::Store => Request::Store { credential },
        Action::Erase => Request::Erase { credential },
    };
    match answer(config, &request)? {
        Response::Credential { credential: Some(found), .. } if action == Action::Get => {
            found.write_response(caps, output)?;
        }
        Response::Credential { credential: None, miss: Some(miss) } if action == Action::Get => {
            if let Some(found) = sign_in_from_git(config, &miss, caps)? {
                found.write_response(caps, output)?;
            } else {
                anyhow::bail!(describe(&miss));
            }
        }
        Response::MachineRefused { source, remedy } => {
            eprintln!("git-credential-azdo: Azure DevOps refused the token of {source}; {remedy}");
        }
        Response::PatRefused { scope, outcome, windows_auth } => {
            // git says the authentication failed; this says why, and what to do.
            eprintln!("git-credential-azdo: {}", describe_refused_pat(&scope, outcome, windows_auth));
        }
        Response::AccountRefused { organization, username, again } => {
            eprintln!("git-credential-azdo: {}", describe_refused_account(&organization, &username, again));
        }
        Response::ClaimsChallenge { organization, username } => eprintln!(
            "git-credential-azdo: Azure DevOps asks for a new token of {username} for {organization} (continuous \
             access evaluation: the session was revoked or its conditions changed); run the command again"
        ),
        Response::Error { message, .. } => anyhow::bail!(message),
        _ => {}
    }
    Ok(())
}

/// The environment's own token that `credential` carries, if it carries one.
fn environment_token<'a>(machine: &'a MachineSources, credential: &Credential) -> Option<&'a MachineIdentity> {
    let given = credential.secrets();
    machine.identities.iter().find(|identity| match identity {
        MachineIdentity::PipelineToken { token, .. } | MachineIdentity::EnvPat { token } => given.contains(token),
        _ => false,
    })
}

/// One line on an account's token that Azure DevOps refused for an organization.
pub fn describe_refused_account(organization: &str, username: &str, again: bool) -> String {
    if again {
        problem(&Miss::Refused { organization: organization.to_owned(), username: username.to_owned() })
            + "; "
            + &refused_remedy(organization)
    } else {
        format!("Azure DevOps refused the token of {username} for {organization}; the next attempt fetches a new one")
    }
}

fn refused_remedy(organization: &str) -> String {
    format!(
        "bind the account {organization} uses: git-credential-azdo bind --org {organization} --account NAME, or sign \
         in with it: git-credential-azdo login --org {organization}"
    )
}

/// One line on a PAT Azure DevOps refused: what became of it, and what to do. `windows_auth`:
/// git sent it as a password to a server that offers Windows authentication, so curl most
/// likely used NTLM.
pub fn describe_refused_pat(scope: &Scope, outcome: PatOutcome, windows_auth: bool) -> String {
    let command = scope.pat_login_command();
    if windows_auth {
        return format!(
            "the server of {scope} offers Windows authentication (NTLM, Negotiate) before Basic, so git sent the \
             PAT, which Azure DevOps accepts, as a Windows password, and the server refused it; use git 2.46 or \
             later (this helper then hands git the PAT as Basic), or have the server's administrator turn off \
             Windows authentication for the collection's IIS site"
        );
    }
    match outcome {
        PatOutcome::Removed => format!(
            "Azure DevOps refused the PAT for {scope} (expired, revoked, or for another organization) and it was \
             removed; add a new one with: {command}"
        ),
        PatOutcome::KeptValid => format!(
            "Azure DevOps accepts the PAT for {scope} but refused it for this repository (does it have the Code \
             (Read & Write) scope and access to the repository?); replace it with: {command}"
        ),
        PatOutcome::KeptUnconfirmed => format!(
            "Azure DevOps refused the PAT for {scope}, and could not be asked why, so it was kept; if it has \
             expired, add a new one with: {command}"
        ),
    }
}

/// The most the helper keeps of its deadline for answering in-process should the daemon fail
/// (a tenth of the deadline, when that is less).
const IN_PROCESS_RESERVE: Duration = Duration::from_secs(1);

/// The daemon's answer, or, when it cannot be had in time, the same service's answer computed
/// in this process: git never fails or waits long because of the daemon. Both together end
/// within `config.timeout`: the daemon is given all of it but a reserve (a tenth, at most 1 s),
/// and the answer in-process what is left.
pub fn answer(config: &Config, request: &Request) -> anyhow::Result<Response> {
    answer_by(config, request, deadline_from(Instant::now(), config))
}

/// `started` plus the helper's deadline (`config.timeout`), as an instant.
pub fn deadline_from(started: Instant, config: &Config) -> Instant {
    // A deadline of centuries is as good as none.
    started.checked_add(config.timeout).unwrap_or_else(|| started + Duration::from_secs(365 * 24 * 60 * 60))
}

/// [`answer`], by `deadline`.
pub fn answer_by(config: &Config, request: &Request, deadline: Instant) -> anyhow::Result<Response> {
    let started = Instant::now();
    if config.use_daemon {
        let reserve = IN_PROCESS_RESERVE.min(deadline.saturating_duration_since(started) / 10);
        let daemon_deadline = deadline.checked_sub(reserve).unwrap_or(started);
        match client::request_with_autostart(config, request, daemon_deadline) {
            Ok(response) => return Ok(response),
            // Someone else's socket or directory: the user must hear of it.
            Err(client::ClientError::Untrusted(reason)) => {
                eprintln!("git-credential-azdo: {reason}; answering without the daemon");
            }
            Err(e) => tracing::debug!(error = %crate::service::error_chain(&e), "answering without the daemon"),
        }
    }
    in_process_by(config, request, deadline)
}

/// The answer computed in this process, or, when that is not done by `deadline` (`git config`
/// that hangs, a keyring that does not answer, a lock held by a stopped process, each within
/// its own limit but together past the deadline), one line saying so: the work is left to end
/// with this process.
fn in_process_by(config: &Config, request: &Request, deadline: Instant) -> anyhow::Result<Response> {
    let (config, request) = (config.clone(), request.clone());
    let timeout = config.timeout;
    tracing::debug!(left_ms = deadline.saturating_duration_since(Instant::now()).as_millis(), "answering in-process");
    let (done, result) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("in-process".into())
        .spawn(move || {
            // A quarter of what is left at most: git's settings are worth less than an answer.
            let limit = deadline.saturating_duration_since(Instant::now()) / 4;
            let answer = config
                .with_git_config_within(limit)
                .and_then(|config| crate::service::answer_in_process_by(&config, &request, deadline));
            let _ = done.send(answer);
        })
        .map_err(|e| anyhow::anyhow!("failed to start answering: {e}"))?;
    result.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap_or_else(|_| {
        tracing::warn!("no answer in-process by the deadline");
        let message = format!(
            "could not answer within {:.1} s ({}); try again in a moment",
            timeout.as_secs_f32(),
            crate::config::ENV_TIMEOUT
        );
        Ok(Response::Error { kind: crate::ipc::ErrorKind::TimedOut, message })
    })
}

/// One line for the user: what is wrong and the one thing to do.
pub fn describe(miss: &Miss) -> String {
    let remedy = match miss {
        Miss::NeedsHttpPath { origin } => format!("run: git config --global credential.{origin}.useHttpPath true"),
        Miss::NoPat { scope } => format!("add one with: {}", scope.pat_login_command()),
        Miss::InsecureRemote { origin } => {
            let https = origin.replacen("http://", "https://", 1);
            format!("change the remote to {https} (git remote set-url origin {https}/...)")
        }
        Miss::PipelineElsewhere { organization, .. } => format!(
            "give the job access another way: a PAT for {organization} in AZURE_DEVOPS_EXT_PAT (a secret variable), \
             or a service connection's identity (AZURE_CLIENT_ID and AZURE_TENANT_ID)"
        ),
        Miss::NoAccount { organization, .. } | Miss::NeedsSignIn { organization, .. } => {
            format!("run: git-credential-azdo login --org {organization}")
        }
        Miss::OtherTenant { organization, accounts, .. } => {
            let guest = match accounts.as_slice() {
                [only] => format!(
                    "if {only} is a guest there: git-credential-azdo bind --org {organization} --account {only}"
                ),
                _ => format!(
                    "bind one that is a guest there: git-credential-azdo bind --org {organization} --account NAME"
                ),
            };
            format!(
                "sign in with the account {organization} uses: git-credential-azdo login --org {organization}, or {guest}"
            )
        }
        Miss::TenantRefused { organization, .. } => format!(
            "sign in with the account {organization} uses: git-credential-azdo login --org {organization}, or bind \
             another: git-credential-azdo bind --org {organization} --account NAME"
        ),
        Miss::Refused { organization, .. } => refused_remedy(organization),
        Miss::Unavailable { .. } => "try again in a moment".to_owned(),
        Miss::Identity { remedy, .. } => remedy.clone(),
        // Names the variable to set: the problem is its own remedy.
        Miss::MachineSetup { .. } => return problem(miss),
    };
    format!("{}; {remedy}", problem(miss))
}

/// What is wrong, without what to do about it.
fn problem(miss: &Miss) -> String {
    match miss {
        Miss::NeedsHttpPath { origin } => {
            format!("cannot tell the Azure DevOps organization or collection on {origin} without the remote's path")
        }
        Miss::NoPat { scope } => format!("no PAT is kept for {scope}"),
        Miss::InsecureRemote { origin } => {
            format!("{origin} is plain http: Azure DevOps Services takes no token unencrypted, and none is sent")
        }
        Miss::PipelineElsewhere { own, organization } => {
            format!("the Azure Pipelines job token is for {own} and is never sent to {organization}")
        }
        Miss::NoAccount { organization, .. } => {
            format!("no account is signed in for the Azure DevOps organization {organization}")
        }
        Miss::NeedsSignIn { organization, username, reason, .. } => {
            format!("{username} must sign in again for {organization} ({reason})")
        }
        Miss::Unavailable { organization, username, reason } => {
            format!("could not get a token of {username} for {organization}: {reason}")
        }
        Miss::Identity { source, reason, .. } => format!("could not get a token from {source}: {reason}"),
        Miss::MachineSetup { problem } => problem.clone(),
        Miss::OtherTenant { organization, tenant, accounts } => format!(
            "no signed-in account is of the tenant of the Azure DevOps organization {organization} ({tenant}; signed \
             in: {})",
            accounts.join(", ")
        ),
        Miss::TenantRefused { organization, username, tenant, reason } => {
            format!("{username} gets no token for {organization} from its tenant {tenant} ({reason})")
        }
        Miss::Refused { organization, username } => format!(
            "Azure DevOps refused {username} for {organization} twice in a row, so it is not used there for {} minutes",
            crate::resolve::REFUSAL_BACKOFF.as_secs() / 60
        ),
    }
}

/// Signs in from inside git when that can fix `miss` and the session is interactive; the
/// answer for git then carries the new token.
fn sign_in_from_git(config: &Config, miss: &Miss, caps: Capabilities) -> anyhow::Result<Option<Credential>> {
    // The tenant is the account's, or the organization's when git's 401 or an earlier answer
    // named it; else the sign-in discovers it.
    let (organization, tenant, login_hint, claims) = match miss {
        Miss::NoAccount { organization, tenant } => (organization.clone(), tenant.clone(), None, None),
        Miss::NeedsSignIn { organization, username, tenant, claims, .. } => {
            (organization.clone(), Some(tenant.clone()), Some(username.clone()), claims.clone())
        }
        // Another account is needed: the user picks it on the sign-in page.
        Miss::OtherTenant { organization, tenant, .. } | Miss::TenantRefused { organization, tenant, .. } => {
            (organization.clone(), Some(tenant.clone()), None, None)
        }
        Miss::Refused { organization, .. } => (organization.clone(), None, None, None),
        Miss::NeedsHttpPath { .. }
        | Miss::InsecureRemote { .. }
        | Miss::PipelineElsewhere { .. }
        | Miss::NoPat { .. }
        | Miss::Unavailable { .. }
        | Miss::Identity { .. }
        | Miss::MachineSetup { .. } => return Ok(None),
    };
    // The terminal first: without one, no `git config` is run (and waited for) to ask.
    let Some(mut terminal) = open_terminal() else { return Ok(None) };
    if !may_prompt() {
        return Ok(None);
    }
    let config = config.clone().with_git_config()?;
    let _ = writeln!(terminal, "git-credential-azdo: {}; signing in.", problem(miss));
    let request = signin::Request {
        method: Method::for_this_session(&config),
        tenant,
        organizations: vec![organization],
        login_hint,
        claims,
        live_progress: true,
    };
    let signed_in = signin::sign_in(&config, &request, &mut terminal)?;
    let _ = writeln!(terminal, "Signed in as {}.", signed_in.account.username);
    let tokens = &signed_in.tokens;
    let expires_utc = crate::store::unix_now().saturating_add(tokens.expires_in.as_secs());
    let answer =
        crate::service::token_answer(&tokens.access_token, Some(expires_utc), &signed_in.account.username, caps);
    Ok(Some(answer))
}

/// git may prompt: `GIT_TERMINAL_PROMPT` is not 0 and `credential.interactive` is not false.
fn may_prompt() -> bool {
    if std::env::var("GIT_TERMINAL_PROMPT").is_ok_and(|v| v == "0") {
        return false;
    }
    let output = crate::config::git_output(&["config", "--get", "credential.interactive"]);
    let value = output.map(|o| o.trim().to_ascii_lowercase()).unwrap_or_default();
    !matches!(value.as_str(), "false" | "no" | "off" | "0" | "never")
}

/// The user's terminal, which git's stdout and stdin are not.
fn open_terminal() -> Option<Box<dyn Write>> {
    #[cfg(unix)]
    {
        std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").ok().map(|t| Box::new(t) as Box<dyn Write>)
    }
    #[cfg(not(unix))]
    {
        use std::io::IsTerminal;
        std::io::stderr().is_terminal().then(|| Box::new(std::io::stderr()) as Box<dyn Write>)
    }
}
