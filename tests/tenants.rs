//! Accounts and tenants as the real Microsoft identity platform and Azure DevOps treat them:
//! personal Microsoft accounts (refreshed at the MSA transfer tenant), guests (tokens of the
//! inviting tenant), and an account that is not the organization's (never sent unless chosen,
//! and left alone after the organization refused it twice). Real git, the helper and its
//! daemon, the fake Entra and the fake Azure DevOps.

#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use support::devops::ZERO_TENANT;
use support::entra::{MSA_TENANT, TRANSFER_TENANT};
use support::git_server::Auth;
use support::world::{CONTOSO_TENANT, FABRIKAM_TENANT, World};
use support::{assert_success, our_lines, stdout};

/// The tenants at which Entra was asked to refresh, in order.
fn refreshed_at(w: &World) -> Vec<String> {
    w.entra.with(|s| s.seen.iter().filter(|r| r.what == "refresh_token").map(|r| r.tenant.clone()).collect())
}

/// Bearer tokens presented to Azure DevOps (accepted or refused).
fn bearers(w: &World) -> usize {
    w.devops
        .auth_log()
        .iter()
        .filter(|a| matches!(a, Auth::Accepted(v) | Auth::Refused(v) if v.starts_with("Bearer")))
        .count()
}

#[test]
fn a_personal_account_signs_in_through_organizations_and_refreshes_at_the_transfer_tenant() {
    let w = World::new(&[("carol@outlook.com", MSA_TENANT)], &[("family", ZERO_TENANT)]);
    let out = w.login(&["--org", "family"]);
    assert_success(&out, "login");
    let text = stdout(&out);
    assert!(text.contains("Signed in as carol@outlook.com"), "{text}");
    assert!(!text.contains("Warning"), "the sign-in's token reaches the organization: {text}");
    let signed_in_at = w.entra.with(|s| s.seen.iter().map(|r| r.tenant.clone()).collect::<Vec<_>>());
    assert_eq!(signed_in_at, ["organizations", "organizations"], "the all-zero tenant: the organizations authority");

    w.clone_and_push_quietly("family", "clone");
    assert!(w.devops.auth_log().contains(&Auth::Accepted("Bearer carol@outlook.com".into())));
    assert_eq!(refreshed_at(&w), [TRANSFER_TENANT], "never at the home tenant, which refuses Visual Studio's client");

    // An hour later (the token dropped): refreshed at the transfer tenant again, silently.
    let url = w.url("family");
    let given = w.env.fill(&url);
    w.reject(&url, &given);
    assert_success(&w.clone_repo("family", "again"), "git clone after a refresh");
    assert_eq!(refreshed_at(&w), [TRANSFER_TENANT; 2]);

    let listed = stdout(&w.env.helper(&["accounts"], ""));
    assert!(
        listed.starts_with(&format!("carol@outlook.com  tenant {MSA_TENANT}  organizations: family  token expires in")),
        "{listed}"
    );
}

/// alice@contoso.com, a guest in fabrikam's tenant; contoso and fabrikam, each in its tenant.
fn alice_a_guest_of_fabrikam() -> World {
    let w = World::new(
        &[("alice@contoso.com", CONTOSO_TENANT)],
        &[("contoso", CONTOSO_TENANT), ("fabrikam", FABRIKAM_TENANT)],
    );
    w.entra.with(|s| s.invite("alice@contoso.com", FABRIKAM_TENANT));
    w
}

#[test]
fn a_guest_gets_a_token_of_the_inviting_tenant_for_the_organization_it_is_bound_to() {
    let w = alice_a_guest_of_fabrikam();
    assert_success(&w.login(&["--org", "contoso"]), "login");
    assert_success(&w.env.helper(&["bind", "--org", "fabrikam", "--account", "alice@contoso.com"], ""), "bind");

    w.clone_and_push_quietly("fabrikam", "fabrikam");
    w.clone_and_push_quietly("contoso", "contoso");
    let log = w.devops.auth_log();
    assert!(!log.iter().any(|a| matches!(a, Auth::Refused(_))), "{log:?}");
    let mut tenants = refreshed_at(&w);
    tenants.sort();
    assert_eq!(tenants, [CONTOSO_TENANT, FABRIKAM_TENANT], "one token per tenant, each cached");
    let listed = stdout(&w.env.helper(&["accounts"], ""));
    assert_eq!(listed.lines().count(), 1, "one account, whichever tenant it signed in at: {listed}");
}

#[test]
fn a_guest_signs_in_at_the_inviting_tenant_and_stays_one_account() {
    let w = alice_a_guest_of_fabrikam();
    let out = w.login(&["--org", "fabrikam"]);
    assert_success(&out, "login at fabrikam's tenant");
    let text = stdout(&out);
    assert!(text.contains(&format!("(alice@contoso.com), tenant {CONTOSO_TENANT}.")), "the home tenant: {text}");
    assert_success(&w.login(&["--org", "contoso"]), "login at contoso's tenant");
    let listed = stdout(&w.env.helper(&["accounts"], ""));
    assert_eq!(listed.lines().count(), 1, "{listed}");
    assert!(listed.contains("organizations: contoso, fabrikam"), "{listed}");
    w.clone_and_push_quietly("fabrikam", "fabrikam");
    w.clone_and_push_quietly("contoso", "contoso");
}

#[test]
fn an_account_of_another_tenant_is_not_sent_to_an_organization_unless_chosen() {
    let w = World::new(
        &[("alice@contoso.com", CONTOSO_TENANT)],
        &[("contoso", CONTOSO_TENANT), ("fabrikam", FABRIKAM_TENANT)],
    );
    assert_success(&w.login(&["--org", "contoso"]), "login");
    let (refreshes, presented) = (w.refreshes(), bearers(&w));

    let out = w.clone_repo("fabrikam", "fabrikam");
    assert!(!out.status.success());
    let ours = our_lines(&out);
    assert_eq!(
        ours,
        [format!(
            "git-credential-azdo: no signed-in account is of the tenant of the Azure DevOps organization fabrikam \
             ({FABRIKAM_TENANT}; signed in: alice@contoso.com); sign in with the account fabrikam uses: \
             git-credential-azdo login --org fabrikam, or if alice@contoso.com is a guest there: git-credential-azdo \
             bind --org fabrikam --account alice@contoso.com"
        )]
    );
    assert_eq!(bearers(&w), presented, "no token went to fabrikam");
    assert_eq!(w.refreshes(), refreshes, "nor was one asked for");

    // Bound by the user, it is tried with a token of fabrikam's tenant, which Entra does not
    // give a user who is no guest there; the account itself stays signed in.
    assert_success(&w.env.helper(&["bind", "--org", "fabrikam", "--account", "alice@contoso.com"], ""), "bind");
    let out = w.clone_repo("fabrikam", "bound");
    let line = support::refusal_through_git(&out);
    assert!(
        line.starts_with(&format!(
            "git-credential-azdo: alice@contoso.com gets no token for fabrikam from its tenant {FABRIKAM_TENANT} \
             (Entra ID refused: invalid_grant (AADSTS50020)"
        )) && line.ends_with("git-credential-azdo bind --org fabrikam --account NAME"),
        "{line}"
    );
    let asked = w.refreshes();
    assert!(!w.clone_repo("fabrikam", "bound-again").status.success());
    assert_eq!(w.refreshes(), asked, "that tenant is not asked again for a while");
    assert_eq!(bearers(&w), presented);
    assert!(!stdout(&w.env.helper(&["accounts"], "")).contains("must sign in again"));
    w.clone_and_push_quietly("contoso", "contoso");
}

#[test]
fn an_organization_that_refuses_the_account_twice_is_told_and_left_alone() {
    let w = World::alice_signed_in();
    // A member of contoso's tenant that the organization does not let in.
    w.pats.deny("contoso", "alice@contoso.com");
    let before = bearers(&w);

    let out = w.clone_repo("contoso", "first");
    assert!(!out.status.success());
    assert_eq!(
        our_lines(&out),
        ["git-credential-azdo: Azure DevOps refused the token of alice@contoso.com for contoso; the next attempt \
          fetches a new one"]
    );
    let out = w.clone_repo("contoso", "second");
    assert!(!out.status.success());
    let remedy = "bind the account contoso uses: git-credential-azdo bind --org contoso --account NAME, or sign in \
                  with it: git-credential-azdo login --org contoso";
    let refused = format!(
        "git-credential-azdo: Azure DevOps refused alice@contoso.com for contoso twice in a row, so it is not used \
         there for 10 minutes; {remedy}"
    );
    assert_eq!(our_lines(&out), std::slice::from_ref(&refused));
    assert_eq!(bearers(&w), before + 2, "each attempt presented a new token");

    let (presented, refreshes) = (w.devops.auth_log().len(), w.refreshes());
    let out = w.clone_repo("contoso", "third");
    assert!(!out.status.success());
    assert_eq!(our_lines(&out), [refused]);
    assert_eq!(bearers(&w), before + 2, "no token went to contoso");
    assert_eq!(w.refreshes(), refreshes, "nor was one asked for");
    assert!(w.devops.auth_log().len() > presented, "git asked anonymously");

    // Something changed: a new sign-in (here after the organization let alice in).
    w.pats.undeny("contoso", "alice@contoso.com");
    assert_success(&w.login(&["--org", "contoso"]), "login again");
    w.clone_and_push_quietly("contoso", "after");
}

/// In a terminal, the organization whose tenant no signed-in account is of is signed in to on
/// the spot, at that tenant, with the account the user picks on the sign-in page; git goes on
/// with its token, and the account is kept for that organization.
#[test]
#[cfg(unix)]
fn in_a_terminal_an_organization_of_another_tenant_is_signed_in_to_on_the_spot() {
    let w = World::two_tenants();
    assert_success(&w.login(&["--org", "contoso"]), "login");
    // bob is who signs in next, on the page the sign-in opens.
    w.entra.with(|s| s.next_user = 1);

    // `script` gives git and the helper a terminal, as a user's shell would.
    let clone = format!(
        "git -c credential.helper= -c credential.helper={} clone -q {} {}",
        support::BIN,
        w.url("fabrikam"),
        w.env.path("fabrikam").display()
    );
    let mut cmd = w.env.command("script");
    cmd.env("GIT_TERMINAL_PROMPT", "1").args(["-qec", &clone, "/dev/null"]);
    let out = support::run(cmd, "");
    let text = stdout(&out);
    assert_success(&out, &format!("git clone in a terminal: {text}"));
    assert!(
        text.contains("no signed-in account is of the tenant of the Azure DevOps organization fabrikam")
            && text.contains("signing in.")
            && text.contains("Signed in as bob@fabrikam.com."),
        "{text}"
    );
    let asked_at: Vec<String> =
        w.entra.with(|s| s.seen.iter().filter(|r| r.what == "authorize").map(|r| r.tenant.clone()).collect());
    assert_eq!(asked_at.last().map(String::as_str), Some(FABRIKAM_TENANT), "signed in at fabrikam's tenant");
    assert!(w.env.path("fabrikam/.git").exists(), "cloned");

    // Kept: the next git run uses bob for fabrikam without a terminal, and alice for contoso.
    w.clone_and_push_quietly("fabrikam", "fabrikam-again");
    w.clone_and_push_quietly("contoso", "contoso");
    let accounts = stdout(&w.env.helper(&["accounts"], ""));
    assert!(accounts.contains("bob@fabrikam.com") && accounts.contains("alice@contoso.com"), "{accounts}");
}
