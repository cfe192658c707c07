//! Continuous access evaluation end to end: Azure DevOps refuses a token with a claims
//! challenge, git hands the challenge to `erase` and fails; the user's retry gets a token asked
//! for with the challenge's claims merged with the `cp1` capability. Real git, the helper and
//! its daemon, the fake Entra and the fake Azure DevOps.

#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use support::devops::ClaimsEncoding;
use support::world::{CONTOSO_TENANT, World};
use support::{assert_success, our_lines};

const CP1: &str = r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#;

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

/// alice signed in for contoso, with a clone of its repository in `clone`.
fn alice_with_a_clone() -> World {
    let w = World::alice_signed_in();
    w.clone_and_push_quietly("contoso", "clone");
    w
}

fn fetch(w: &World) -> std::process::Output {
    w.env.git(&["-C", w.env.path("clone").to_str().unwrap(), "fetch", "-q", "origin"], "")
}

#[test]
fn a_claims_challenge_is_met_by_the_users_retry() {
    for encoding in [ClaimsEncoding::Standard, ClaimsEncoding::UrlSafeUnpadded] {
        let w = alice_with_a_clone();
        // Every token request declared the capability, the sign-in's included.
        let sent = w.entra.with(|s| s.claims_sent(""));
        assert!(sent.len() >= 3 && sent.iter().all(|c| c.as_deref().map(json) == Some(json(CP1))), "{sent:?}");

        // A critical event: the cached token (still valid for an hour) is refused.
        w.pats.revoke_sessions("alice@contoso.com", encoding);
        let nbf = w.pats.revoked_at("alice@contoso.com");
        let out = fetch(&w);
        assert!(!out.status.success(), "git gives up after a 401 to a credential");
        assert_eq!(
            our_lines(&out),
            ["git-credential-azdo: Azure DevOps asks for a new token of alice@contoso.com for contoso (continuous \
              access evaluation: the session was revoked or its conditions changed); run the command again"]
        );

        // The user runs it again: a new token, asked for with the challenge's claims.
        let out = fetch(&w);
        assert_success(&out, &format!("git fetch again ({encoding:?})"));
        assert_eq!(String::from_utf8_lossy(&out.stderr), "");
        let last = w.entra.with(|s| s.claims_sent("refresh_token")).pop().flatten().unwrap();
        let expected = format!(
            r#"{{"access_token":{{"xms_cc":{{"values":["cp1"]}},"nbf":{{"essential":true,"value":"{nbf}"}}}}}}"#
        );
        assert_eq!(json(&last), json(&expected), "the challenge merged with the capability");

        // Met: the next token request declares the capability alone.
        let given = w.env.fill(&w.url("contoso"));
        w.reject(&w.url("contoso"), &given);
        w.env.fill(&w.url("contoso"));
        let last = w.entra.with(|s| s.claims_sent("refresh_token")).pop().flatten().unwrap();
        assert_eq!(json(&last), json(CP1));
        // The challenge named `common`: the organization's tenant is still its own.
        let accounts = std::fs::read_to_string(w.env.state_dir().join("accounts.json")).unwrap();
        assert!(accounts.contains(&format!("\"contoso\": \"{CONTOSO_TENANT}\"")), "{accounts}");
    }
}

#[test]
fn a_claims_challenge_entra_cannot_meet_silently_names_the_command() {
    let w = alice_with_a_clone();
    // Sessions revoked: the refresh token too (AADSTS50173 with the claims).
    w.pats.revoke_sessions("alice@contoso.com", ClaimsEncoding::Standard);
    w.entra.revoke("alice@contoso.com");
    assert!(!fetch(&w).status.success());
    let line = support::refusal_through_git(&fetch(&w));
    assert!(
        line.starts_with(
            "git-credential-azdo: alice@contoso.com must sign in again for contoso (Entra ID refused: \
             invalid_grant (AADSTS50173"
        ) && line.ends_with("run: git-credential-azdo login --org contoso"),
        "{line}"
    );
    let last = w.entra.with(|s| s.claims_sent("refresh_token")).pop().flatten().unwrap();
    assert!(json(&last)["access_token"]["nbf"]["essential"] == true, "the refresh carried the challenge: {last}");
}

#[test]
fn in_a_terminal_the_sign_in_on_the_spot_carries_the_challenge() {
    let mut w = alice_with_a_clone();
    w.pats.revoke_sessions("alice@contoso.com", ClaimsEncoding::Standard);
    w.entra.revoke("alice@contoso.com");
    assert!(!fetch(&w).status.success(), "the challenge reaches erase");
    let nbf = w.pats.revoked_at("alice@contoso.com");

    // `script` gives git and the helper a terminal, as a user's shell would.
    w.env.set_env("GIT_TERMINAL_PROMPT", "1");
    let clone = w.env.path("clone");
    let fetch = format!("git -c credential.helper= -c credential.helper={} fetch -q origin", support::BIN);
    let mut cmd = w.env.command("script");
    cmd.current_dir(&clone).args(["-qec", &fetch, "/dev/null"]);
    let out = support::run(cmd, "");
    let text = support::stdout(&out);
    assert_success(&out, &format!("git fetch in a terminal: {text}"));
    assert!(
        text.contains("alice@contoso.com must sign in again for contoso") && text.contains("signing in."),
        "{text}"
    );
    let asked = w.entra.with(|s| s.claims_sent("authorize")).pop().flatten().unwrap();
    let expected =
        format!(r#"{{"access_token":{{"xms_cc":{{"values":["cp1"]}},"nbf":{{"essential":true,"value":"{nbf}"}}}}}}"#);
    assert_eq!(json(&asked), json(&expected), "the sign-in page was asked to satisfy the challenge");
}
