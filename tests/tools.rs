//! Tokens for the tools around git, end to end: `token` (an Entra token for REST scripts, chosen
//! as for git) and `pat create|list|revoke` (PATs for desktop clients and services, through the
//! fake PAT lifecycle API), with real git cloning through the fake Azure DevOps.

#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use std::process::Output;

use axum::http::Method;
use support::git_server::Auth;
use support::vssps::{FakeVssps, Policy};
use support::world::{CONTOSO_TENANT, FABRIKAM_TENANT, World, one_line};
use support::{assert_success, stderr, stdout};

const MSA_TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// alice@contoso.com signed in for contoso, and the PAT API beside Azure DevOps.
fn alice() -> (World, FakeVssps) {
    let (w, vssps) = world(&[("alice@contoso.com", CONTOSO_TENANT)]);
    assert_success(&w.login(&["--org", "contoso"]), "login");
    (w, vssps)
}

fn world(users: &[(&str, &str)]) -> (World, FakeVssps) {
    let mut w = World::new(users, &[("contoso", CONTOSO_TENANT), ("fabrikam", FABRIKAM_TENANT)]);
    let vssps = FakeVssps::start(&w.entra, &w.pats, &[("contoso", CONTOSO_TENANT), ("fabrikam", FABRIKAM_TENANT)]);
    w.env.set_env("GIT_CREDENTIAL_AZDO_VSSPS_URL", vssps.url());
    (w, vssps)
}

fn helper(w: &World, args: &[&str]) -> Output {
    w.env.helper(args, "")
}

/// The token `token` printed: stdout is that one line and nothing else, stderr is empty.
fn printed(out: &Output) -> String {
    assert_success(out, "the command");
    assert_eq!(stderr(out), "", "nothing on stderr when it works");
    let text = stdout(out);
    let line = one_line(&text).to_owned();
    assert_eq!(text, format!("{line}\n"));
    line
}

/// The one line of a refusal: nothing on stdout, a non-zero exit.
fn refused(out: &Output) -> String {
    assert!(!out.status.success(), "it fails");
    assert_eq!(stdout(out), "", "nothing on stdout");
    let line = one_line(&stderr(out)).to_owned();
    assert!(line.starts_with("git-credential-azdo: "), "{line}");
    line
}

/// Real git without our helper, as a desktop client or a script with its own credential.
fn plain_git(w: &World, args: &[&str]) -> Output {
    let mut cmd = w.env.command("git");
    cmd.args(["-c", "credential.helper="]).args(args);
    support::run(cmd, "")
}

/// The repository's URL with `user:secret` in it: git sends them as Basic.
fn url_with(w: &World, organization: &str, user: &str, secret: &str) -> String {
    w.url(organization).replace("http://", &format!("http://{user}:{secret}@"))
}

#[test]
fn token_prints_the_token_git_is_given_and_nothing_else() {
    let (w, _vssps) = alice();
    let (_, password) = w.env.fill(&w.url("contoso"));

    let token = printed(&helper(&w, &["token", "--org", "contoso"]));
    assert_eq!(token, password, "the same token, from the daemon's cache");
    assert_eq!(w.refreshes(), 1, "one refresh served both");
    assert!(w.env.daemon_pid().is_some(), "answered by the daemon");
    assert_eq!(printed(&helper(&w, &["token", &w.url("contoso")])), token, "a repository's URL names it too");

    // As a REST script uses it: a Bearer header, here on real git.
    let header = format!("http.extraHeader=Authorization: Bearer {token}");
    assert_success(&plain_git(&w, &["-c", &header, "ls-remote", &w.url("contoso")]), "git ls-remote with the token");
    assert!(w.devops.auth_log().contains(&Auth::Accepted("Bearer alice@contoso.com".into())));

    let out = helper(&w, &["token", "--org", "contoso", "--json"]);
    assert_success(&out, "token --json");
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json["token"], token.as_str());
    assert_eq!(json["account"], "alice@contoso.com");
    assert_eq!(json["organization"], "contoso");
    assert_eq!(json["kind"], "account");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let expires = json["expires_utc"].as_u64().unwrap();
    assert!(expires > now + 60 && expires <= now + 3600, "{json}");
    assert!(json["expires"].as_str().unwrap().ends_with('Z'), "{json}");

    // Without a daemon, the same rules in this process.
    let mut w = w;
    w.env.set_env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1");
    let again = printed(&helper(&w, &["token", "--org", "contoso"]));
    assert_eq!(w.owner(&again).as_deref(), Some("alice@contoso.com"));
}

#[test]
fn token_chooses_the_account_and_identity_as_git_does() {
    let (mut w, _vssps) = world(&[("alice@contoso.com", CONTOSO_TENANT), ("bob@fabrikam.com", FABRIKAM_TENANT)]);
    // Named in a fabrikam URL below, alice gets a token of fabrikam's tenant: as a guest there.
    w.entra.with(|s| s.invite("alice@contoso.com", FABRIKAM_TENANT));
    assert_success(&w.login(&["--org", "contoso"]), "alice's login");
    w.entra.with(|s| s.next_user = 1);
    assert_success(&w.login(&["--org", "fabrikam"]), "bob's login");

    let owner = |w: &World, args: &[&str]| w.owner(&printed(&helper(w, args)));
    assert_eq!(owner(&w, &["token", "--org", "fabrikam"]).as_deref(), Some("bob@fabrikam.com"), "the binding");
    assert_eq!(owner(&w, &["token", "--org", "contoso"]).as_deref(), Some("alice@contoso.com"));
    let alice_url = w.url("fabrikam").replace("http://", "http://alice%40contoso.com@");
    assert_eq!(owner(&w, &["token", &alice_url]).as_deref(), Some("alice@contoso.com"), "the URL's user, as for git");

    // A pipeline's job token answers git for its own organization first, and so it does here.
    let job = w.entra.with(|s| s.access_token_for("alice@contoso.com"));
    w.env.set_env("SYSTEM_ACCESSTOKEN", &job);
    w.env.set_env("SYSTEM_COLLECTIONURI", format!("http://{}/contoso/", w.devops.addr));
    assert_eq!(printed(&helper(&w, &["token", "--org", "contoso"])), job);
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&helper(&w, &["token", "--org", "contoso", "--json"]))).unwrap();
    assert_eq!(json["account"], "the Azure Pipelines job token for contoso");
    assert!(json["expires_utc"].is_null(), "{json}");
    assert_eq!(owner(&w, &["token", "--org", "fabrikam"]).as_deref(), Some("bob@fabrikam.com"), "not elsewhere");

    w.env.set_env("GIT_CREDENTIAL_AZDO_IDENTITY", "none");
    assert_eq!(owner(&w, &["token", "--org", "contoso"]).as_deref(), Some("alice@contoso.com"));
}

#[test]
fn token_never_prints_a_pat_and_says_what_to_do() {
    let (mut w, _vssps) = world(&[("alice@contoso.com", CONTOSO_TENANT)]);
    let line = refused(&helper(&w, &["token", "--org", "contoso"]));
    assert_eq!(
        line,
        "git-credential-azdo: no account is signed in for the Azure DevOps organization contoso; run: \
         git-credential-azdo login --org contoso"
    );

    let pat = w.pats.issue("contoso", "Alice", true);
    assert_success(&w.login_pat(&["--org", "contoso"], &pat), "login --pat");
    let line = refused(&helper(&w, &["token", "--org", "contoso"]));
    assert_eq!(
        line,
        "git-credential-azdo: the PAT kept for contoso answers for contoso, and a PAT is never printed as a token; \
         for an Entra token, sign in with: git-credential-azdo login --org contoso"
    );
    w.env.set_env("AZURE_DEVOPS_EXT_PAT", "env-pat-value");
    let line = refused(&helper(&w, &["token", "--org", "contoso"]));
    assert!(line.contains("the PAT in AZURE_DEVOPS_EXT_PAT answers for contoso"), "{line}");
    w.env.remove_env("AZURE_DEVOPS_EXT_PAT");

    // Signed in, but the sign-in has lapsed: that is what to fix, not the PAT git falls back to.
    assert_success(&w.login(&["--org", "contoso"]), "login");
    w.entra.revoke("alice@contoso.com");
    w.env.set_env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1");
    let line = refused(&helper(&w, &["token", "--org", "contoso"]));
    assert!(
        line.contains("alice@contoso.com must sign in again for contoso (") && line.contains("invalid_grant"),
        "{line}"
    );
    assert!(line.ends_with("; run: git-credential-azdo login --org contoso"), "{line}");

    let line = refused(&helper(&w, &["token", "https://u:hunter2@github.com/x/y"]));
    assert!(line.contains("is not an Azure DevOps Services organization") && !line.contains("hunter2"), "{line}");
}

#[test]
fn pat_create_prints_a_pat_that_clones_and_list_shows_it_without_its_value() {
    let (w, vssps) = alice();
    vssps.with(|s| s.page_size = 2);
    let out =
        helper(&w, &["pat", "create", "--org", "contoso", "--scope", "code:write", "--name", "Fork on my laptop"]);
    let pat = printed(&out);
    assert!(pat.len() >= 40 && pat.chars().all(|c| c.is_ascii_alphanumeric()), "one PAT: {pat}");
    let create = vssps.with(|s| s.seen(&Method::POST));
    assert_eq!(create.len(), 1);
    assert_eq!(create[0].caller.as_deref(), Some("alice@contoso.com"), "with alice's Entra token");
    assert_eq!(create[0].query["api-version"], "7.1-preview.1");
    let body = create[0].body.as_ref().unwrap();
    assert_eq!(body["displayName"], "Fork on my laptop");
    assert_eq!(body["scope"], "vso.code_write");
    assert_eq!(body["allOrgs"], false, "for this organization only");
    let valid_to = chrono::DateTime::parse_from_rfc3339(body["validTo"].as_str().unwrap()).unwrap();
    let left = (valid_to.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    assert!((30 * 86_400 - 120..=30 * 86_400).contains(&left), "30 days unless asked: {valid_to}");

    // The desktop client clones and pushes with it over Basic.
    let dir = w.env.path("fork");
    let out = plain_git(&w, &["clone", "-q", &url_with(&w, "contoso", "fork", &pat), dir.to_str().unwrap()]);
    assert_success(&out, "git clone with the new PAT");
    assert!(w.devops.auth_log().contains(&Auth::Accepted("Basic alice@contoso.com".into())));

    for (name, scope) in [("Tracker", "work:read,build:read"), ("Reader", "code:read")] {
        printed(&helper(&w, &["pat", "create", "--org", "contoso", "--scope", scope, "--name", name, "--days", "7"]));
    }
    let out = helper(&w, &["pat", "list", "--org", "contoso"]);
    assert_success(&out, "pat list");
    let text = stdout(&out);
    assert!(text.starts_with("The active PATs of alice@contoso.com for contoso:\n"), "{text}");
    assert_eq!(text.lines().count(), 4, "{text}");
    assert!(text.contains("  Fork on my laptop  [code:write]  expires on "), "{text}");
    assert!(text.contains("  Tracker  [build:read, work:read]  expires on "), "{text}");
    assert!(text.contains("  Reader  [code:read]"), "{text}");
    let values: Vec<String> = ["Tracker", "Reader"].iter().map(|n| vssps.with(|s| s.value_of(n).unwrap())).collect();
    for value in values.iter().chain([&pat]) {
        assert!(!text.contains(value.as_str()), "never a value: {text}");
    }
    let lists = vssps.with(|s| s.seen(&Method::GET));
    assert_eq!(lists.len(), 2, "two pages of two");
    assert!(!lists[0].query.contains_key("continuationToken"));
    assert!(lists[1].query.contains_key("continuationToken"), "the next page, asked for as the API says");
    for key in ["displayFilterOption", "sortByOption", "isSortAscending", "$top"] {
        assert_eq!(lists[0].query.get(key), lists[1].query.get(key), "the same {key} on every page");
    }

    let out = helper(&w, &["pat", "list", "--org", "contoso", "--json"]);
    assert_success(&out, "pat list --json");
    let json: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(json.len(), 3);
    let tracker = json.iter().find(|p| p["name"] == "Tracker").unwrap();
    assert_eq!(tracker["scopes"], serde_json::json!(["vso.build", "vso.work"]));
    assert!(tracker["id"].as_str().unwrap().len() == 36 && tracker["kept"] == false, "{tracker}");
    assert!(!stdout(&out).contains(&pat));

    // The tracker's PAT reads work items and builds, not code.
    let out = plain_git(&w, &["ls-remote", &url_with(&w, "contoso", "tracker", &values[0])]);
    assert!(!out.status.success(), "no Code scope, no clone");
}

#[test]
fn pat_create_keep_then_revoke_forgets_the_kept_pat() {
    let (w, vssps) = alice();
    let out = helper(
        &w,
        &["pat", "create", "--org", "contoso", "--scope", "code:write", "--name", "Git client", "--keep", "--json"],
    );
    assert_success(&out, "pat create --keep --json");
    let created: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let pat = created["token"].as_str().unwrap().to_owned();
    assert_eq!(created["kept"], true);
    assert_eq!(created["name"], "Git client");
    let id = created["id"].as_str().unwrap().to_owned();
    let status = stdout(&helper(&w, &["status"]));
    assert!(status.contains("contoso (alice@contoso.com)") && status.contains("expires on"), "{status}");
    assert!(!stdout(&helper(&w, &["status", "--json"])).contains(&pat));

    // git uses the kept PAT when asked to.
    std::fs::write(
        w.env.path("gitconfig"),
        format!("[credential \"http://{0}\"]\n\tuseHttpPath = true\n[azdo]\n\tauth = pat\n", w.devops.addr),
    )
    .unwrap();
    assert_success(&w.clone_repo("contoso", "first"), "git clone with the kept PAT");
    assert_eq!(w.env.fill(&w.url("contoso")).1, pat);
    let list = stdout(&helper(&w, &["pat", "list", "--org", "contoso"]));
    assert!(list.contains(", kept for git  id "), "git's choice of PATs does not stop the PAT API: {list}");
    let line = refused(&helper(&w, &["token", "--org", "contoso"]));
    assert!(line.contains("git is set to use PATs for contoso (azdo.<url>.auth pat)"), "{line}");

    let out = helper(&w, &["pat", "revoke", "--org", "contoso", "--name", "Git client"]);
    assert_success(&out, "pat revoke --name");
    assert_eq!(
        stdout(&out),
        format!(
            "Revoked the PAT \"Git client\" ({id}) in contoso.\nIt was the PAT kept for git for contoso: it is forgotten.\n"
        )
    );
    assert_eq!(vssps.with(|s| s.seen(&Method::DELETE))[0].query["authorizationId"], id);
    assert!(stdout(&helper(&w, &["status"])).contains("PATs:    none"), "forgotten");
    let out = plain_git(&w, &["ls-remote", &url_with(&w, "contoso", "x", &pat)]);
    assert!(!out.status.success(), "a revoked PAT clones nothing");
    assert!(stdout(&helper(&w, &["pat", "list", "--org", "contoso"])).contains("has no active PATs"));
    assert_eq!(vssps.with(|s| s.value_of("Git client")).unwrap(), pat);
}

#[test]
fn a_kept_pat_revoked_elsewhere_is_forgotten_by_gits_fallback() {
    let (w, vssps) = alice();
    printed(&helper(&w, &["pat", "create", "--org", "contoso", "--scope", "code:write", "--name", "Kept", "--keep"]));
    std::fs::write(
        w.env.path("gitconfig"),
        format!("[credential \"http://{0}\"]\n\tuseHttpPath = true\n[azdo]\n\tauth = pat\n", w.devops.addr),
    )
    .unwrap();
    assert_success(&w.clone_repo("contoso", "first"), "git clone with the kept PAT");
    // Revoked on Azure DevOps's web page, not here.
    vssps.with(|s| s.revoke_by_name(&w.pats, "Kept"));
    let out = w.clone_repo("contoso", "second");
    assert!(!out.status.success());
    let lines = support::our_lines(&out);
    assert_eq!(lines.len(), 1, "{}", stderr(&out));
    assert!(lines[0].contains("refused the PAT for contoso") && lines[0].contains("removed"), "{}", lines[0]);
    assert!(stdout(&helper(&w, &["status"])).contains("PATs:    none"));
}

#[test]
fn pat_revoke_by_name_must_name_one() {
    let (w, vssps) = alice();
    for _ in 0..2 {
        printed(&helper(&w, &["pat", "create", "--org", "contoso", "--scope", "code:read", "--name", "Same"]));
    }
    let line = refused(&helper(&w, &["pat", "revoke", "--org", "contoso", "--name", "Same"]));
    assert!(line.contains("2 active PATs are named \"Same\" in contoso; revoke one by its id: --id "), "{line}");
    assert!(vssps.with(|s| s.seen(&Method::DELETE)).is_empty(), "nothing revoked");
    let id = line.rsplit("--id ").next().unwrap().to_owned();
    let out = helper(&w, &["pat", "revoke", "--org", "contoso", "--id", &id]);
    assert_success(&out, "pat revoke --id");
    assert_eq!(stdout(&out), format!("Revoked the PAT {id} in contoso.\n"));
    let list = stdout(&helper(&w, &["pat", "list", "--org", "contoso"]));
    assert_eq!(list.lines().filter(|l| l.contains("Same")).count(), 1, "{list}");
    assert!(!list.contains(&id), "{list}");
    let all = stdout(&helper(&w, &["pat", "list", "--org", "contoso", "--all"]));
    assert!(all.contains(&id), "--all shows the revoked one too: {all}");

    let line = refused(&helper(&w, &["pat", "revoke", "--org", "contoso", "--name", "Nothing"]));
    assert!(
        line.ends_with(
            "has no active PAT named \"Nothing\" in contoso; see: git-credential-azdo pat list --org contoso"
        ),
        "{line}"
    );
    let line =
        refused(&helper(&w, &["pat", "revoke", "--org", "contoso", "--id", "00000000-0000-0000-0000-000000000000"]));
    assert!(line.contains("alice@contoso.com has no PAT with that id in contoso (HTTP 404)"), "{line}");
    let line = refused(&helper(&w, &["pat", "revoke", "--org", "contoso", "--id", "x;y"]));
    assert!(line.contains("is not a PAT's id"), "{line}");
}

#[test]
fn pat_refusals_are_one_line_with_what_to_do() {
    let (mut w, vssps) = world(&[("alice@contoso.com", CONTOSO_TENANT), ("bob@fabrikam.com", FABRIKAM_TENANT)]);
    let create = |w: &World, extra: &[&str]| {
        let mut args = vec!["pat", "create", "--org", "contoso", "--scope", "code:write"];
        args.extend_from_slice(extra);
        helper(w, &args)
    };
    assert_eq!(
        refused(&create(&w, &[])),
        "git-credential-azdo: no account is signed in for the Azure DevOps organization contoso; run: \
         git-credential-azdo login --org contoso"
    );
    assert_success(&w.login(&["--org", "contoso"]), "login");

    let line = refused(&helper(&w, &["pat", "create", "--org", "contoso", "--scope", "app_token"]));
    assert!(line.contains("PATs with full access are not made here"), "{line}");
    let line = refused(&create(&w, &["--days", "400"]));
    assert!(line.contains("--days must be 1 to 365"), "{line}");
    assert!(vssps.with(|s| s.seen.is_empty()), "refused before anything was sent");

    vssps.with(|s| s.policy = Policy { max_days: Some(7), ..Policy::default() });
    let line = refused(&create(&w, &[]));
    assert_eq!(
        line,
        "git-credential-azdo: failed to create a PAT for contoso: contoso's policy limits how long a PAT may live; \
         ask for fewer days with --days (the organization's administrators know the limit)"
    );
    printed(&create(&w, &["--days", "7"]));
    vssps.with(|s| s.policy = Policy { no_creation: true, ..Policy::default() });
    let line = refused(&create(&w, &[]));
    assert!(line.contains("contoso's policy restricts who may create PATs"), "{line}");
    assert!(line.ends_with("git-credential-azdo token --org contoso"), "{line}");
    vssps.with(|s| s.policy = Policy::default());

    // A guest of contoso's tenant that contoso does not let in, bound to it: the API does not take
    // the token.
    w.entra.with(|s| {
        s.invite("bob@fabrikam.com", CONTOSO_TENANT);
        s.next_user = 1;
    });
    w.pats.deny("contoso", "bob@fabrikam.com");
    assert_success(&w.login(&["--org", "contoso"]), "bob's login, bound to contoso");
    let line = refused(&create(&w, &[]));
    assert!(line.contains("did not accept the token of bob@fabrikam.com for contoso's PATs (HTTP 401)"), "{line}");
    assert!(line.ends_with("To sign in again: git-credential-azdo login --org contoso"), "{line}");

    // A service principal answers for contoso here: told before anything is sent.
    let seen = vssps.with(|s| s.seen.len());
    w.entra.with(|s| s.add_app("app-sp", CONTOSO_TENANT, Some("s3cret")));
    w.env.set_env("AZURE_CLIENT_ID", "app-sp");
    w.env.set_env("AZURE_TENANT_ID", CONTOSO_TENANT);
    w.env.set_env("AZURE_CLIENT_SECRET", "s3cret");
    let line = refused(&helper(&w, &["pat", "list", "--org", "contoso"]));
    assert!(line.contains("service principal app-sp answers for contoso here"), "{line}");
    assert!(line.ends_with("run this with GIT_CREDENTIAL_AZDO_IDENTITY=none"), "{line}");
    assert_eq!(vssps.with(|s| s.seen.len()), seen);
    assert!(w.owner(&printed(&helper(&w, &["token", "--org", "contoso"]))).is_some_and(|o| o == "app-sp"));
    w.env.set_env("GIT_CREDENTIAL_AZDO_IDENTITY", "none");
    assert_success(&helper(&w, &["bind", "--org", "contoso", "--account", "alice@contoso.com"]), "bind");
    assert_success(&helper(&w, &["pat", "list", "--org", "contoso"]), "the signed-in account instead");
}

#[test]
fn a_service_principal_behind_the_azure_cli_is_refused_by_azure_devops() {
    let (mut w, vssps) = world(&[("alice@contoso.com", CONTOSO_TENANT)]);
    w.entra.with(|s| s.add_app("app-sp", CONTOSO_TENANT, Some("s3cret")));
    w.stub_azure_cli("app-sp");
    w.env.set_env("GIT_CREDENTIAL_AZDO_IDENTITY", "azure-cli");
    let line = refused(&helper(&w, &["pat", "list", "--org", "contoso"]));
    assert_eq!(
        line,
        "git-credential-azdo: failed to list the PATs of contoso: Azure DevOps refused the Azure CLI (HTTP 403: \
         Service principals are not allowed to perform this action.); PATs are made for a signed-in user: sign in \
         with git-credential-azdo login --org contoso and run this with GIT_CREDENTIAL_AZDO_IDENTITY=none"
    );
    assert_eq!(vssps.with(|s| s.seen(&Method::GET)).len(), 1, "Azure DevOps was asked: the CLI may be a person");
}

#[test]
fn a_personal_microsoft_account_is_told_where_to_make_a_pat() {
    let (w, vssps) = world(&[("carol@outlook.com", MSA_TENANT)]);
    // contoso's tenant invited carol: her token for contoso is that tenant's.
    w.entra.with(|s| s.invite("carol@outlook.com", CONTOSO_TENANT));
    assert_success(&w.login(&["--org", "contoso", "--tenant", "organizations"]), "login");
    let line = refused(&helper(&w, &["pat", "create", "--org", "contoso", "--scope", "code:write"]));
    assert_eq!(
        line,
        format!(
            "git-credential-azdo: carol@outlook.com is a personal Microsoft account, and Azure DevOps manages PATs \
             through its API only for Microsoft Entra (work or school) accounts; create one at http://{}/contoso/\
             _usersSettings/tokens",
            w.devops.addr
        )
    );
    assert!(vssps.with(|s| s.seen.is_empty()), "nothing was sent");
}

#[test]
fn no_token_or_pat_reaches_the_logs() {
    let (mut w, _vssps) = alice();
    let log = w.env.path("trace.log");
    w.env.set_env("GIT_CREDENTIAL_AZDO_LOG", "trace");
    w.env.set_env("GIT_CREDENTIAL_AZDO_LOG_FILE", &log);
    let token = printed(&helper(&w, &["token", "--org", "contoso"]));
    let pat = printed(&helper(&w, &["pat", "create", "--org", "contoso", "--scope", "code:write", "--keep"]));
    assert_success(&helper(&w, &["pat", "list", "--org", "contoso"]), "pat list");
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.lines().count() > 3, "the log was written: {written}");
    assert!(!written.contains(&token) && !written.contains(&pat), "{written}");
    let accounts = std::fs::read_to_string(w.env.state_dir().join("accounts.json")).unwrap();
    assert!(accounts.contains("authorization_id") && !accounts.contains(&pat), "{accounts}");
}

/// A PAT API whose new PAT holds control characters (a terminal escape, a line break): nothing
/// is printed or kept, the line says why, and git's answers for the organization are as before.
#[test]
fn a_new_pat_that_is_not_printable_is_neither_printed_nor_kept() {
    let (mut w, _vssps) = alice();
    let url = w.url("contoso");
    let before = w.env.fill(&url);
    for value in ["pat\u{1b}]0;owned\u{7}", "pat\r\nusername=mallory", "pat with spaces"] {
        let answer = serde_json::json!({
            "patToken": {"authorizationId": "id-1", "displayName": "Hostile", "scope": "vso.code_write", "token": value},
            "patTokenError": "none",
        })
        .to_string();
        let server = support::Server::start(move |_request| {
            let answer = answer.clone();
            async move {
                axum::http::Response::builder()
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(answer))
                    .unwrap()
            }
        });
        w.env.set_env("GIT_CREDENTIAL_AZDO_VSSPS_URL", format!("http://{}", server.addr));
        let out = helper(&w, &["pat", "create", "--org", "contoso", "--scope", "code:write", "--keep"]);
        let line = refused(&out);
        assert!(line.contains("answered a new PAT that cannot be used (its value holds a space, control"), "{line}");
        assert!(!line.contains("owned") && !line.contains("mallory"), "the value is not shown: {line}");
        let accounts = std::fs::read_to_string(w.env.state_dir().join("accounts.json")).unwrap();
        assert!(!accounts.contains("id-1"), "not kept: {accounts}");
        assert_eq!(w.env.fill(&url).0, before.0, "git is answered as before");
    }
}

/// `token` with a deadline shorter than the daemon's own, Entra not answering: the daemon is
/// given what is left of the command's deadline (as for git's `get`), so the answer is its
/// own, in time, rather than the helper giving up on it.
#[test]
fn token_ends_by_its_own_deadline_when_entra_does_not_answer() {
    const DEADLINE: std::time::Duration = std::time::Duration::from_secs(3);
    let (mut w, _vssps) = alice();
    w.start_daemon();
    let daemon = w.env.daemon_pid();
    w.entra.with(|s| s.token_delay = std::time::Duration::from_secs(60));
    w.env.set_env("GIT_CREDENTIAL_AZDO_TIMEOUT", DEADLINE.as_secs().to_string());
    let started = std::time::Instant::now();
    let line = refused(&helper(&w, &["token", "--org", "contoso"]));
    let took = started.elapsed();
    assert!(took < DEADLINE + std::time::Duration::from_millis(700), "took {took:?}");
    assert_eq!(
        line,
        "git-credential-azdo: could not get a token of alice@contoso.com for contoso: Entra ID could not be reached: \
         no answer within the deadline; try again in a moment"
    );
    assert_eq!(w.env.daemon_pid(), daemon, "answered by the daemon");
}
