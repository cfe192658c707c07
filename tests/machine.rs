//! Non-interactive identities end to end: `git clone` by real git with an Azure Pipelines job
//! token, `AZURE_DEVOPS_EXT_PAT`, workload identity federation, GitHub Actions OIDC, a service
//! principal's secret, managed identities (IMDS and App Service) and the Azure CLI (a stub on
//! PATH), against the fake Entra and the fake Azure DevOps.

// The sign-in's "browser" (support::world::test_browser) and other stand-ins are shell scripts:
// Unix only. The Windows build's end-to-end tests are in tests/windows.rs.
#![cfg(unix)]
#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use std::process::Output;

use support::git_server::Auth;
use support::world::{CONTOSO_TENANT, FABRIKAM_TENANT, World};
use support::{assert_success, stderr, stdout};

/// contoso and fabrikam, both in the contoso tenant: a token of that tenant would be accepted
/// by either, so a refusal shows that the token was not sent.
fn world() -> World {
    World::new(
        &[("build-service@contoso", CONTOSO_TENANT)],
        &[("contoso", CONTOSO_TENANT), ("fabrikam", CONTOSO_TENANT)],
    )
}

fn clone(w: &World, organization: &str, dir: &str) -> Output {
    w.clone_repo(organization, dir)
}

fn accepted(w: &World, user: &str) -> bool {
    w.devops.auth_log().iter().any(|a| matches!(a, Auth::Accepted(u) if u.ends_with(user)))
}

#[test]
fn the_pipeline_job_token_is_sent_to_its_own_organization_only() {
    let mut w = world();
    let token = w.entra.with(|s| s.access_token_for("build-service@contoso"));
    w.env.set_env("SYSTEM_ACCESSTOKEN", &token);
    w.env.set_env("SYSTEM_COLLECTIONURI", format!("http://{}/contoso/", w.devops.addr));
    let out = clone(&w, "contoso", "contoso");
    assert_success(&out, "git clone");
    assert_eq!(stderr(&out), "");
    assert!(accepted(&w, "build-service@contoso"));

    let out = clone(&w, "fabrikam", "fabrikam");
    assert!(!out.status.success(), "another organization does not get the job token");
    let log = w.devops.auth_log();
    let presented = log.iter().filter(|a| matches!(a, Auth::Accepted(_) | Auth::Refused(_))).count();
    assert_eq!(presented, log.iter().filter(|a| matches!(a, Auth::Accepted(_))).count(), "{log:?}");
    let stored = w.env.stored_credentials();
    assert!(!stored.contains("contoso"), "the job token is never stored: {stored}");

    // Half configured: one line naming what is missing.
    w.env.remove_env("SYSTEM_COLLECTIONURI");
    let out = clone(&w, "contoso", "again");
    assert!(!out.status.success());
    let text = stderr(&out);
    let line = text.lines().find(|l| l.starts_with("git-credential-azdo:")).unwrap();
    assert!(line.contains("SYSTEM_ACCESSTOKEN is set but SYSTEM_COLLECTIONURI is not"), "{line}");
}

#[test]
fn a_pat_in_azure_devops_ext_pat() {
    let mut w = world();
    let pat = w.pats.issue("contoso", "Builder", true);
    w.env.set_env("AZURE_DEVOPS_EXT_PAT", &pat);
    assert_success(&clone(&w, "contoso", "clone"), "git clone");
    assert!(accepted(&w, "Builder"));
    // It stays the environment's: git's store of it after the clone kept nothing, and status
    // never shows it.
    let status = w.env.helper(&["status", "--json"], "");
    assert_success(&status, "status");
    assert!(stdout(&status).contains("\"credentials\": []") && !stdout(&status).contains(&pat), "{}", stdout(&status));
    for file in std::fs::read_dir(w.env.state_dir()).into_iter().flatten() {
        let path = file.unwrap().path();
        assert!(!std::fs::read_to_string(&path).unwrap_or_default().contains(&pat), "{}", path.display());
    }
}

#[test]
fn workload_identity_federation_rereads_the_rotated_token_file() {
    let mut w = world();
    w.entra.with(|s| {
        s.add_app("app-wi", CONTOSO_TENANT, None);
        s.assertions.insert("jwt-1".into(), "app-wi".into());
    });
    let file = w.env.path("federated-token");
    std::fs::write(&file, "jwt-1\n").unwrap();
    w.env.set_env("AZURE_CLIENT_ID", "app-wi");
    w.env.set_env("AZURE_TENANT_ID", CONTOSO_TENANT);
    w.env.set_env("AZURE_FEDERATED_TOKEN_FILE", &file);
    w.start_daemon();
    assert_success(&clone(&w, "contoso", "one"), "git clone");
    assert!(accepted(&w, "app-wi"));
    assert_success(&clone(&w, "contoso", "two"), "git clone");
    assert_eq!(w.entra.with(|s| s.grants("client_credentials")), 1, "the daemon cached the token");

    // The platform rotates the file; the old assertion is no longer accepted.
    std::fs::write(&file, "jwt-2\n").unwrap();
    w.entra.with(|s| {
        s.assertions.clear();
        s.assertions.insert("jwt-2".into(), "app-wi".into());
    });
    let (_, token) = w.env.fill(&w.url("contoso"));
    w.reject(&w.url("contoso"), &("azdo".into(), token));
    assert_success(&clone(&w, "contoso", "three"), "git clone after rotation");
    assert_eq!(w.entra.with(|s| s.grants("client_credentials")), 2);
}

#[test]
fn machine_tokens_are_refreshed_ahead_of_expiry() {
    let mut w = world();
    w.entra.with(|s| {
        s.add_app("app-sp", CONTOSO_TENANT, Some("s3cret"));
        s.lifetime = std::time::Duration::from_secs(6);
    });
    w.env.set_env("AZURE_CLIENT_ID", "app-sp");
    w.env.set_env("AZURE_TENANT_ID", CONTOSO_TENANT);
    w.env.set_env("AZURE_CLIENT_SECRET", "s3cret");
    w.start_daemon();
    let (_, first) = w.env.fill(&w.url("contoso"));
    let fetches = || w.entra.with(|s| s.grants("client_credentials"));
    // With no get asking, a third of the lifetime before expiry.
    support::wait_for("a refresh ahead of expiry", std::time::Duration::from_secs(15), || fetches() >= 2);
    // Entra counts the request as it arrives; the daemon serves the new token once it has it.
    let mut second = first.clone();
    support::wait_for("the token refreshed ahead to be served", std::time::Duration::from_secs(15), || {
        second = w.env.fill(&w.url("contoso")).1;
        second != first
    });
    assert_eq!(fetches(), 2, "served from the cache: no get waited on Entra");
    assert_eq!(w.owner(&second).as_deref(), Some("app-sp"));
}

#[test]
fn a_service_principal_with_a_wrong_secret_gets_entras_words_and_what_to_check() {
    let mut w = world();
    w.entra.with(|s| s.add_app("app-sp", CONTOSO_TENANT, Some("s3cret")));
    w.env.set_env("AZURE_CLIENT_ID", "app-sp");
    w.env.set_env("AZURE_TENANT_ID", CONTOSO_TENANT);
    w.env.set_env("AZURE_CLIENT_SECRET", "wrong");
    let out = w.env.helper(&["get"], &format!("protocol=http\nhost={}\npath=contoso/p\n\n", w.devops.addr));
    let line = support::refusal(&out);
    assert!(line.contains("could not get a token from service principal app-sp"), "{line}");
    assert!(line.contains("invalid_client (AADSTS7000215)"), "{line}");
    assert!(
        line.contains("check AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET, and that app-sp is a user"),
        "{line}"
    );
    assert!(!line.contains("wrong"), "no secret in the message: {line}");

    w.env.set_env("AZURE_CLIENT_SECRET", "s3cret");
    assert_success(&clone(&w, "contoso", "clone"), "git clone");
    assert!(accepted(&w, "app-sp"));
}

#[test]
fn a_machine_token_that_azure_devops_refuses_says_what_to_check() {
    let mut w = World::new(&[], &[("fabrikam", FABRIKAM_TENANT)]);
    w.entra.with(|s| s.add_app("app-sp", CONTOSO_TENANT, Some("s3cret")));
    w.env.set_env("AZURE_CLIENT_ID", "app-sp");
    w.env.set_env("AZURE_TENANT_ID", CONTOSO_TENANT);
    w.env.set_env("AZURE_CLIENT_SECRET", "s3cret");
    w.start_daemon();
    let out = clone(&w, "fabrikam", "clone");
    let line = support::refusal_through_git(&out);
    assert!(
        line.contains("Azure DevOps refused the token of service principal app-sp")
            && line.ends_with("and that app-sp is a user of the organization"),
        "{line}"
    );
}

#[test]
fn a_service_principal_with_a_certificate() {
    let mut w = world();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let pem = fixtures.join("service-principal.pem");
    let public = std::fs::read_to_string(fixtures.join("service-principal.pub.pem")).unwrap();
    w.entra.with(|s| {
        s.add_app("app-cert", CONTOSO_TENANT, None);
        s.add_certificate("app-cert", &public, &std::fs::read_to_string(&pem).unwrap());
    });
    w.env.set_env("AZURE_CLIENT_ID", "app-cert");
    w.env.set_env("AZURE_TENANT_ID", CONTOSO_TENANT);
    w.env.set_env("AZURE_CLIENT_CERTIFICATE_PATH", &pem);
    assert_success(&clone(&w, "contoso", "clone"), "git clone");
    assert!(accepted(&w, "app-cert"));

    // Another key (the certificate's is not the registered one): Entra refuses, and git is told.
    let other = w.env.path("other.pem");
    std::fs::write(&other, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
    w.env.set_env("AZURE_CLIENT_CERTIFICATE_PATH", &other);
    let out = w.env.helper(&["get"], &format!("protocol=http\nhost={}\npath=contoso/p\n\n", w.devops.addr));
    let line = support::refusal(&out);
    assert!(
        line.contains("no unencrypted RSA PRIVATE KEY") && line.contains("AZURE_CLIENT_CERTIFICATE_PATH"),
        "{line}"
    );
}

#[test]
fn github_actions_oidc() {
    let mut w = world();
    w.entra.with(|s| {
        s.add_app("app-gh", CONTOSO_TENANT, None);
        s.assertions.insert("gh-jwt".into(), "app-gh".into());
        s.github = Some(("runner-request-token".into(), "gh-jwt".into()));
    });
    w.env.set_env("AZURE_CLIENT_ID", "app-gh");
    w.env.set_env("AZURE_TENANT_ID", CONTOSO_TENANT);
    w.env.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", format!("{}/github/oidc?api-version=2.0", w.entra.url()));
    w.env.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-request-token");
    assert_success(&clone(&w, "contoso", "clone"), "git clone");
    assert!(accepted(&w, "app-gh"));
}

#[test]
fn managed_identities_from_imds_and_app_service() {
    let mut w = world();
    w.entra.with(|s| {
        s.add_managed("", CONTOSO_TENANT);
        s.add_managed("client-ua", CONTOSO_TENANT);
        s.identity_header = "app-service-header".into();
    });
    w.env.set_env("GIT_CREDENTIAL_AZDO_IDENTITY", "managed");
    w.env.set_env("GIT_CREDENTIAL_AZDO_IMDS_ENDPOINT", format!("{}/metadata/identity/oauth2/token", w.entra.url()));
    assert_success(&clone(&w, "contoso", "system"), "git clone with the system-assigned identity");
    assert!(accepted(&w, "system-mi"));

    w.env.set_env("GIT_CREDENTIAL_AZDO_IDENTITY", "managed:client-ua");
    w.env.set_env("IDENTITY_ENDPOINT", format!("{}/msi/token", w.entra.url()));
    w.env.set_env("IDENTITY_HEADER", "app-service-header");
    assert_success(&clone(&w, "contoso", "user-assigned"), "git clone on App Service");
    assert!(accepted(&w, "client-ua"));
    assert_eq!(w.entra.with(|s| (s.grants("imds"), s.grants("app_service"))), (1, 1));

    // Chosen in the global git config instead, for the daemon (whose environment names IMDS).
    for name in ["GIT_CREDENTIAL_AZDO_IDENTITY", "IDENTITY_ENDPOINT", "IDENTITY_HEADER"] {
        w.env.remove_env(name);
    }
    assert_success(&w.env.git(&["config", "--global", "azdo.identity", "managed:client-ua"], ""), "git config");
    assert_success(&clone(&w, "contoso", "from-git-config"), "git clone with azdo.identity");
    assert_eq!(w.entra.with(|s| s.grants("imds")), 2);
    assert_success(&w.env.git(&["config", "--global", "--unset", "azdo.identity"], ""), "git config");

    w.env.set_env("GIT_CREDENTIAL_AZDO_IDENTITY", "managed:unknown");
    let out = clone(&w, "contoso", "unknown");
    assert!(!out.status.success());
    let text = stderr(&out);
    let line = text.lines().find(|l| l.starts_with("git-credential-azdo:")).unwrap();
    assert!(line.contains("HTTP 400: invalid_request: Identity not found"), "{line}");
    assert!(line.contains("user-assigned unknown managed identity is enabled"), "{line}");
}

#[test]
fn the_azure_cli_when_chosen() {
    let mut w = world();
    w.entra.with(|s| s.users.push(support::entra::User::new("dev@contoso.com", CONTOSO_TENANT)));
    w.stub_azure_cli("dev@contoso.com");
    w.env.set_env("GIT_CREDENTIAL_AZDO_IDENTITY", "azure-cli");
    assert_success(&clone(&w, "contoso", "clone"), "git clone");
    assert!(accepted(&w, "dev@contoso.com"));

    w.env.set_env("AZ_LOGGED_OUT", "1");
    w.env.set_env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1");
    let out = w.env.helper(&["get"], &format!("protocol=http\nhost={}\npath=contoso/p\n\n", w.devops.addr));
    let line = support::refusal(&out);
    assert!(
        line.contains("the Azure CLI failed: ERROR: Please run 'az login'") && line.ends_with("run: az login"),
        "{line}"
    );
}
