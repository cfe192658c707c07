//! `completions` and `man`: generated from the clap definitions, so they never drift from the
//! command line.
//!
//! The manual is a top page, `git-credential-azdo(1)`, with the ENVIRONMENT and FILES the
//! program reads and writes, and a page per subcommand (`git-credential-azdo-login(1)`,
//! `git-credential-azdo-pat-create(1)`), as the top page's SUBCOMMANDS section names them.
//! `man --dir DIR` writes them all, for packages.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context;
use clap::CommandFactory as _;
use clap_mangen::roff::{Roff, bold, italic, roman};

use crate::cli::Cli;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "git-credential-azdo", &mut script);
    print(&script)
}

/// Prints the page of the subcommand `path` names (`[]`: the top page; `["pat", "create"]`),
/// or, with `dir`, writes every page there and prints their paths.
pub fn man(path: &[String], dir: Option<&Path>) -> anyhow::Result<()> {
    let command = man_command();
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut written = String::new();
        for (name, page) in pages(&command)? {
            let file = dir.join(name);
            std::fs::write(&file, page).with_context(|| format!("cannot write {}", file.display()))?;
            written.push_str(&file.to_string_lossy());
            written.push('\n');
        }
        return print(written.as_bytes());
    }
    let mut target = &command;
    for (depth, name) in path.iter().enumerate() {
        target = target.find_subcommand(name).with_context(|| {
            let parent = std::iter::once("git-credential-azdo").chain(path[..depth].iter().map(String::as_str));
            format!("{} has no subcommand {name}", parent.collect::<Vec<_>>().join(" "))
        })?;
    }
    print(&render(target, path.is_empty())?)
}

/// The command line as the manual shows it: built (so that each subcommand knows its page's
/// name), without clap's `help` subcommand, which has no page.
fn man_command() -> clap::Command {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

/// Every page, the top one first: its file name (`git-credential-azdo-login.1`) and roff.
pub fn pages(command: &clap::Command) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    fn walk(command: &clap::Command, top: bool, out: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
        let name = clap_mangen::Man::new(command.clone()).get_filename();
        out.push((name, render(command, top)?));
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            walk(sub, false, out)?;
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(command, true, &mut out)?;
    Ok(out)
}

/// One page. The top page gets ENVIRONMENT and FILES after its SUBCOMMANDS.
fn render(command: &clap::Command, top: bool) -> std::io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(command.clone());
    let mut page = Vec::new();
    if !top {
        man.render(&mut page)?;
        return Ok(page);
    }
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    if command.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut page)?;
    }
    if command.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut page)?;
    }
    let mut roff = Roff::default();
    roff.control("SH", ["ENVIRONMENT"]);
    roff.text([roman(
        "An environment variable wins over the git config key named with it. The daemon reads the keys of the \
         global and system git config when it starts (azdo.auth and azdo.identity as soon as they change).",
    )]);
    for (name, meaning) in ENVIRONMENT {
        roff.control("TP", []);
        roff.text([bold(*name)]);
        roff.text([roman(*meaning)]);
    }
    roff.control("SH", ["FILES"]);
    for (name, meaning) in FILES {
        roff.control("TP", []);
        roff.text([italic(*name)]);
        roff.text([roman(*meaning)]);
    }
    roff.to_writer(&mut page)?;
    if command.get_after_help().is_some() || command.get_after_long_help().is_some() {
        man.render_extra_section(&mut page)?;
    }
    if command.get_version().is_some() {
        man.render_version_section(&mut page)?;
    }
    Ok(page)
}

/// What the top page's ENVIRONMENT section lists: every variable the program reads.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "GIT_CREDENTIAL_AZDO_TIMEOUT",
        "Seconds a get may take in all (default 10): the helper gives the daemon all but a tenth of it (at most \
         1 s), which it keeps to answer by itself should the daemon fail.",
    ),
    (
        "GIT_CREDENTIAL_AZDO_IDLE_TIMEOUT",
        "Seconds without a request after which the daemon exits (default 3600; 0: never).",
    ),
    (
        "GIT_CREDENTIAL_AZDO_STORE",
        "Where secrets go: auto (the OS keyring when one is reachable, else an owner-only file; the default), \
         keyring (never a file), file.",
    ),
    (
        "GIT_CREDENTIAL_AZDO_STATE_DIR",
        "The state directory (see FILES): what is stored, and the secrets file when the file store is used.",
    ),
    ("GIT_CREDENTIAL_AZDO_RUNTIME_DIR", "The daemon's socket and lock files (see FILES)."),
    (
        "GIT_CREDENTIAL_AZDO_SOCKET",
        "Another machine's daemon socket, forwarded here (ssh -R, a devcontainer mount, WSL); no daemon is started \
         then. Also --socket.",
    ),
    ("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1: never use or start the daemon; every request is answered in-process."),
    (
        "GIT_CREDENTIAL_AZDO_LOG",
        "A log level, or comma-separated target=level directives (debug, warn,git_credential_azdo=trace). Silent \
         when unset. Logs go to stderr, coloured on a terminal only (not with NO_COLOR), or to the file below.",
    ),
    ("GIT_CREDENTIAL_AZDO_LOG_FILE", "Append logs to this file (created owner-only, never coloured)."),
    (
        "GIT_CREDENTIAL_AZDO_BROWSER",
        "A browser command to open sign-in pages with (git config azdo.browser), read as git reads core.editor: a \
         program, or a shell command line (firefox --new-window) given the page's address as its last argument. \
         If it cannot start, the sign-in fails at once.",
    ),
    (
        "GIT_CREDENTIAL_AZDO_CLIENT_ID",
        "The Entra application to sign in as (azdo.clientId; default Visual Studio's public client, as Git \
         Credential Manager uses it).",
    ),
    (
        "GIT_CREDENTIAL_AZDO_TENANT",
        "The tenant (id or domain) login signs in to (azdo.tenant; default the organization's).",
    ),
    (
        "AZURE_AUTHORITY_HOST",
        "The Entra ID authority host, for another cloud (azdo.authorityHost; default https://login.microsoftonline.com); \
         https only, plain http only on a loopback address.",
    ),
    (
        "GIT_CREDENTIAL_AZDO_DEVOPS_URL",
        "Azure DevOps Services (azdo.devopsUrl; default https://dev.azure.com); plain http only on a loopback \
         address (a test's fake).",
    ),
    (
        "GIT_CREDENTIAL_AZDO_VSSPS_URL",
        "Azure DevOps's identity service, where pat manages PATs (azdo.vsspsUrl; default vssps. before the Azure \
         DevOps host).",
    ),
    (
        "GIT_CREDENTIAL_AZDO_IDENTITY",
        "A non-interactive identity (azdo.[<url>.]identity): auto (what the environment configures; the default), \
         managed, managed:<client id>, azure-cli, none.",
    ),
    (
        "GIT_CREDENTIAL_AZDO_IMDS_ENDPOINT",
        "The instance metadata service, for managed identities (default \
         http://169.254.169.254/metadata/identity/oauth2/token).",
    ),
    (
        "SYSTEM_ACCESSTOKEN, SYSTEM_COLLECTIONURI",
        "An Azure Pipelines job's token, sent only to its own organization or collection.",
    ),
    ("AZURE_DEVOPS_EXT_PAT", "A PAT for Azure DevOps Services organizations (the az devops convention)."),
    (
        "AZURE_CLIENT_ID, AZURE_TENANT_ID",
        "An app registration (service principal, workload identity, GitHub Actions OIDC) or a user-assigned managed \
         identity.",
    ),
    ("AZURE_CLIENT_SECRET", "The service principal's secret."),
    (
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "A PEM file with the service principal's unencrypted private key and its certificate.",
    ),
    ("AZURE_FEDERATED_TOKEN_FILE", "A federated token (Kubernetes workload identity), read again for every token."),
    (
        "ACTIONS_ID_TOKEN_REQUEST_URL, ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "GitHub Actions' OIDC token service (permissions: id-token: write), exchanged at Entra for the app in \
         AZURE_CLIENT_ID.",
    ),
    ("IDENTITY_ENDPOINT, IDENTITY_HEADER", "App Service's and Functions' managed identity endpoint."),
    (
        "https_proxy, http_proxy, all_proxy, no_proxy (and HTTPS_PROXY, ALL_PROXY, NO_PROXY)",
        "The proxy for every call made on git's behalf, taken as git takes it: git's http.<url>.proxy (or \
         http.proxy) wins over them.",
    ),
    (
        "GIT_SSL_CAINFO, GIT_SSL_CAPATH",
        "Certificate authorities to trust instead of the system's, as for git (git config http.sslCAInfo, \
         http.sslCAPath).",
    ),
    ("GIT_TERMINAL_PROMPT", "0: get never signs in interactively (neither does credential.interactive=false)."),
    ("NO_COLOR", "Set: log lines are not coloured, even on a terminal."),
];

/// What the top page's FILES section lists.
pub const FILES: &[(&str, &str)] = &[
    (
        "~/.gitconfig (or $XDG_CONFIG_HOME/git/config, GIT_CONFIG_GLOBAL; /etc/gitconfig with --system)",
        "Where install writes its sections, [credential \"https://dev.azure.com/\"] and the like, and uninstall \
         removes them (and the file, when install created it and it is empty then).",
    ),
    (
        "$XDG_DATA_HOME/git-credential-azdo (~/.local/share/git-credential-azdo; macOS: ~/Library/Application \
         Support/git-credential-azdo; Windows: %LOCALAPPDATA%\\git-credential-azdo\\data)",
        "The state directory (GIT_CREDENTIAL_AZDO_STATE_DIR), owner-only: accounts.json (accounts, bindings, PATs, \
         without secrets), credentials/ (what git stored, a file per host, without secrets), secrets/ (the secrets, \
         a file each, when the file store is used), install.json (git config files install created), and their lock \
         files; credentials.json and secrets.json are what an earlier version kept, moved into these and left empty.",
    ),
    (
        "$XDG_RUNTIME_DIR/git-credential-azdo (else a run directory in the user's cache directory)",
        "The runtime directory (GIT_CREDENTIAL_AZDO_RUNTIME_DIR), owner-only: daemon.sock (a named pipe on \
         Windows), daemon.lock (held by the running daemon, with its pid), autostart.lock.",
    ),
    (
        "/usr/lib/systemd/user/git-credential-azdo.{service,socket}",
        "systemd user units (packages): systemctl --user enable --now git-credential-azdo.socket starts the daemon on \
         the first connection.",
    ),
];

/// Writes to stdout; a reader that stopped early (`| head`) is not an error.
fn print(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_has_a_page_named_as_the_top_page_names_it() {
        let pages = pages(&man_command()).unwrap();
        let names: Vec<&str> = pages.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names[0], "git-credential-azdo.1");
        for name in
            ["git-credential-azdo-login.1", "git-credential-azdo-pat-create.1", "git-credential-azdo-daemon-stop.1"]
        {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        assert!(!names.iter().any(|n| n.contains("help")), "no page for clap's help: {names:?}");
        // Every page the manual refers to exists.
        for (name, page) in &pages {
            let text = String::from_utf8_lossy(page);
            for reference in text.split(|c: char| c.is_whitespace()).filter(|w| w.ends_with("(1)")) {
                let file = reference.trim_end_matches("(1)").replace("\\-", "-") + ".1";
                assert!(names.contains(&file.as_str()), "{name} refers to {reference}, which has no page");
            }
        }
    }
}
