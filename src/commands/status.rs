//! `git-credential-azdo status [--json]`.

use std::fmt::Write as _;
use std::io::Write as _;

use crate::config::Config;
use crate::ipc::{Request, Response, StatusReport};
use crate::store::FileReason;

pub fn run(config: &Config, json: bool) -> anyhow::Result<()> {
    let report = report(config)?;
    let mut attention = attention(&report, crate::store::unix_now());
    let services = crate::azdo::Services::new(&config.devops_url);
    if !asks_us(&services.origin()) {
        attention.push(Attention {
            what: format!("git does not ask git-credential-azdo for {}", services.origin()),
            fix: "git-credential-azdo install".to_owned(),
        });
    }
    let text = if json {
        serde_json::to_string_pretty(&Full { report: &report, attention: &attention })? + "\n"
    } else {
        render(config, &report) + &render_attention(&attention)
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// `status --json`: the report and what needs attention.
#[derive(serde::Serialize)]
struct Full<'a> {
    #[serde(flatten)]
    report: &'a StatusReport,
    attention: &'a [Attention],
}

/// Something the user should do, and the command that does it.
#[derive(Debug, PartialEq, Eq, serde::Serialize)]
struct Attention {
    what: String,
    fix: String,
}

/// What in the report needs the user: accounts that must sign in again, PATs that lapsed or
/// lapse within [`super::pat::EXPIRY_WARNING`].
fn attention(report: &StatusReport, now: u64) -> Vec<Attention> {
    let mut all = Vec::new();
    for account in &report.accounts {
        if let Some(reason) = &account.needs_sign_in {
            all.push(Attention {
                what: format!("{} must sign in again ({reason})", account.username),
                fix: super::accounts::sign_in_command(account),
            });
        }
    }
    for pat in &report.pats {
        let lapse = match pat.expires_at {
            Some(at) if at <= now => format!("expired on {}", day(at)),
            Some(at) if at - now <= super::pat::EXPIRY_WARNING.as_secs() => format!("expires on {}", day(at)),
            _ => continue,
        };
        all.push(Attention {
            what: format!("the PAT for {} {lapse}; renew it in Azure DevOps", pat.scope),
            fix: pat.scope.pat_login_command(),
        });
    }
    all
}

fn render_attention(attention: &[Attention]) -> String {
    if attention.is_empty() {
        return "attention: nothing; all is well\n".to_owned();
    }
    let mut out = "attention:\n".to_owned();
    for item in attention {
        let _ = writeln!(out, "  {}\n    run: {}", item.what, item.fix);
    }
    out
}

/// Whether git's configuration names this program as a helper for `origin`.
fn asks_us(origin: &str) -> bool {
    let url = format!("{origin}/");
    crate::config::git_output(&["config", "--get-urlmatch", "credential.helper", &url])
        .is_some_and(|helper| super::install::is_ours(helper.trim()))
}

/// Asks the daemon when one runs (it is not started for this); otherwise reads the store here.
pub fn report(config: &Config) -> anyhow::Result<StatusReport> {
    match super::ask(config, Request::Status)? {
        Response::Status { status } => Ok(status),
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
    if let Some(why) = crate::config::runtime_dir_fallback(&config.runtime_dir) {
        let _ = writeln!(out, "runtime: {} ({why})", config.runtime_dir.display());
    }
    let _ = writeln!(out, "store:   {} (state in {})", report.backend, config.state_dir.display());
    if let Some(reason) = &report.file_store {
        out.push_str(&why_file(reason));
    }
    out.push_str("accounts:\n");
    for line in super::accounts::render(&report.accounts).lines() {
        let _ = writeln!(out, "  {line}");
    }
    out.push_str(&render_pats(&report.pats, crate::store::unix_now()));
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

/// Why secrets are in the owner-only file, and how to have them in the keyring instead.
fn why_file(reason: &FileReason) -> String {
    let restart = "then restart the daemon: git-credential-azdo daemon stop (secrets already in the file stay there)";
    match reason {
        FileReason::Chosen => format!(
            "         because {}=file chooses it; to use the keyring, unset it, {restart}\n",
            crate::config::ENV_STORE
        ),
        FileReason::NoKeyring(detail) => {
            let keyring = if cfg!(any(target_os = "macos", windows)) {
                "the system keyring"
            } else {
                "a Secret Service (the desktop keyring)"
            };
            let fix = if cfg!(any(target_os = "macos", windows)) {
                "run the daemon in your own logon session"
            } else {
                "run one in your session (GNOME Keyring, KWallet or KeePassXC) with DBUS_SESSION_BUS_ADDRESS set"
            };
            format!(
                "         because {keyring} could not be reached: {detail}\n         to use the keyring, {fix}, {restart}\n"
            )
        }
    }
}

/// The PATs by organization or collection, with their owner, age and expiry (never their value),
/// and a warning for each that lapses within [`super::pat::EXPIRY_WARNING`] or has lapsed.
fn render_pats(pats: &[crate::accounts::Pat], now: u64) -> String {
    if pats.is_empty() {
        return "PATs:    none\n".to_owned();
    }
    let mut out = "PATs:\n".to_owned();
    for pat in pats {
        let owner = if pat.user.is_empty() { String::new() } else { format!(" ({})", pat.user) };
        let added = span(now.saturating_sub(pat.stored_at));
        let _ = write!(out, "  {}{owner}  added {added} ago, in {}", pat.scope, pat.backend);
        let renew = pat.scope.pat_login_command();
        match pat.expires_at {
            None => out.push_str(", expiry not given\n"),
            Some(at) if at <= now => {
                let _ = writeln!(out, ", EXPIRED on {}", day(at));
                let _ = writeln!(out, "    renew it in Azure DevOps, then run: {renew}");
            }
            Some(at) => {
                let _ = writeln!(out, ", expires on {} (in {})", day(at), span(at - now));
                if at - now <= super::pat::EXPIRY_WARNING.as_secs() {
                    let _ = writeln!(out, "    warning: it expires soon; renew it in Azure DevOps, then run: {renew}");
                }
            }
        }
    }
    out
}

/// `2026-12-01`: the UTC day of Unix seconds `at`.
pub fn day(at: u64) -> String {
    i64::try_from(at)
        .ok()
        .and_then(|at| chrono::DateTime::from_timestamp(at, 0))
        .map_or_else(|| at.to_string(), |t| t.format("%Y-%m-%d").to_string())
}

/// A duration as a person says it: `5 min`, `3 hours`, `12 days`.
fn span(secs: u64) -> String {
    match secs {
        ..3_600 => format!("{} min", secs / 60),
        3_600..172_800 => format!("{} hours", secs / 3_600),
        _ => format!("{} days", secs / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::Pat;
    use crate::azdo::{Collection, Scope};
    use crate::store::Backend;

    #[test]
    fn pats_are_listed_with_age_and_expiry_and_warned_about_before_they_lapse() {
        let now = 1_795_000_000;
        let day_secs: i64 = 86_400;
        let pat = |scope: Scope, age: u64, expires_in: Option<i64>| Pat {
            scope,
            user: "Alice".into(),
            backend: Backend::Keyring,
            stored_at: now - age,
            expires_at: expires_in.map(|e| now.saturating_add_signed(e)),
            authorization_id: None,
        };
        let collection = Scope::Collection(Collection::parse("https://tfs.example.com/tfs/DefaultCollection").unwrap());
        let text = render_pats(
            &[
                pat(Scope::Organization("contoso".into()), 3 * 86_400, Some(40 * day_secs)),
                pat(Scope::Organization("fabrikam".into()), 3_600, Some(3 * day_secs)),
                pat(collection, 120, None),
                pat(Scope::Organization("old".into()), 90 * 86_400, Some(-1)),
            ],
            now,
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "PATs:");
        assert_eq!(lines[1], "  contoso (Alice)  added 3 days ago, in keyring, expires on 2026-12-28 (in 40 days)");
        assert!(lines[2].starts_with("  fabrikam (Alice)  added 1 hours ago") && lines[2].ends_with("(in 3 days)"));
        assert_eq!(
            lines[3],
            "    warning: it expires soon; renew it in Azure DevOps, then run: git-credential-azdo login --pat --org fabrikam"
        );
        assert_eq!(
            lines[4],
            "  https://tfs.example.com/tfs/DefaultCollection (Alice)  added 2 min ago, in keyring, expiry not given"
        );
        assert!(lines[5].ends_with("EXPIRED on 2026-11-18"), "{}", lines[5]);
        assert!(lines[6].contains("login --pat --org old"));
        assert!(!text.contains("secret"));
        assert_eq!(render_pats(&[], now), "PATs:    none\n");
    }

    #[test]
    fn the_file_store_says_why_and_how_to_get_the_keyring() {
        let chosen = why_file(&FileReason::Chosen);
        assert!(chosen.contains("because GIT_CREDENTIAL_AZDO_STORE=file chooses it"), "{chosen}");
        assert!(chosen.contains("unset it") && chosen.contains("git-credential-azdo daemon stop"), "{chosen}");
        let missing = why_file(&FileReason::NoKeyring("no session bus".into()));
        assert!(missing.contains("could not be reached: no session bus\n"), "{missing}");
        assert!(missing.contains("to use the keyring, ") && missing.contains("daemon stop"), "{missing}");
        assert!(missing.lines().all(|l| l.starts_with("         ")), "under the store line: {missing}");
    }

    #[test]
    fn attention_names_what_to_do_for_accounts_and_lapsing_pats() {
        let now = 1_795_000_000;
        let pat = |organization: &str, expires_at: Option<u64>| Pat {
            scope: Scope::Organization(organization.into()),
            user: String::new(),
            backend: Backend::File,
            stored_at: now,
            expires_at,
            authorization_id: None,
        };
        let report = StatusReport {
            daemon: None,
            backend: Backend::File,
            file_store: None,
            credentials: Vec::new(),
            accounts: vec![crate::ipc::AccountStatus {
                username: "alice@contoso.com".into(),
                tenant_id: "t".into(),
                organizations: vec!["contoso".into()],
                token_expires_utc: None,
                needs_sign_in: Some("AADSTS700082: expired".into()),
                backend: Backend::File,
            }],
            pats: vec![
                pat("soon", Some(now + 86_400)),
                pat("later", Some(now + 90 * 86_400)),
                pat("gone", Some(now - 1)),
            ],
        };
        let found = attention(&report, now);
        let fixes: Vec<&str> = found.iter().map(|a| a.fix.as_str()).collect();
        assert_eq!(
            fixes,
            [
                "git-credential-azdo login --org contoso",
                "git-credential-azdo login --pat --org soon",
                "git-credential-azdo login --pat --org gone"
            ]
        );
        assert!(found[0].what.contains("AADSTS700082"));
        assert!(found[2].what.contains("expired on"));
        let text = render_attention(&found);
        assert!(text.starts_with("attention:\n  alice@contoso.com must sign in again"), "{text}");
        assert_eq!(render_attention(&[]), "attention: nothing; all is well\n");
    }
}
