//! The fakes check what the real services check, and never hide their own failures: the fake
//! Entra answers per tenant and per client (guests only in the inviting tenant, personal
//! accounts refreshed only at the transfer tenant); a request Entra would refuse outright, and a
//! handler that panics, fail the test that caused them.

#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use std::collections::HashMap;

use base64::Engine as _;
use support::entra::{FakeEntra, MSA_TENANT, TRANSFER_TENANT, User, VISUAL_STUDIO};
use support::world::{CONTOSO_TENANT, FABRIKAM_TENANT};

const OTHER_TENANT: &str = "33333333-3333-3333-3333-333333333333";

/// A refresh-token request to the fake at `tenant`: its status and JSON body.
async fn refresh(entra: &FakeEntra, tenant: &str, refresh_token: &str, client_id: &str) -> (u16, serde_json::Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
        ("client_id", client_id),
        ("scope", "499b84ac-1321-427f-aa17-267ca6975798/.default offline_access openid profile"),
        ("client_info", "1"),
    ];
    let url = format!("{}/{tenant}/oauth2/v2.0/token", entra.url());
    let response = support::http_client().post(url).form(&form).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn claims(jwt: &serde_json::Value) -> serde_json::Value {
    let payload = jwt.as_str().unwrap().split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn the_fake_entra_answers_per_tenant_and_client_as_entra_does() {
    let mut alice = User::new("alice@contoso.com", CONTOSO_TENANT);
    alice.guest_of.push(FABRIKAM_TENANT.into());
    let entra = FakeEntra::start(vec![alice, User::new("carol@outlook.com", MSA_TENANT)]);
    let (alice_rt, carol_rt) =
        entra.with(|s| (s.refresh_token_for("alice@contoso.com"), s.refresh_token_for("carol@outlook.com")));

    let (status, home) = refresh(&entra, CONTOSO_TENANT, &alice_rt, VISUAL_STUDIO).await;
    assert_eq!(status, 200, "{home}");
    assert_eq!(claims(&home["id_token"])["tid"], CONTOSO_TENANT);
    let (status, guest) = refresh(&entra, FABRIKAM_TENANT, &alice_rt, VISUAL_STUDIO).await;
    assert_eq!(status, 200, "a guest of the inviting tenant: {guest}");
    let id = claims(&guest["id_token"]);
    assert_eq!(
        (id["tid"].as_str(), id["idp"].as_str()),
        (Some(FABRIKAM_TENANT), Some(&*format!("https://sts.windows.net/{CONTOSO_TENANT}/")))
    );
    assert_ne!(id["oid"], claims(&home["id_token"])["oid"], "another object in each tenant");
    let info: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(guest["client_info"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(info["utid"], CONTOSO_TENANT, "client_info names the home tenant");
    let token_tenant = |answer: &serde_json::Value| {
        let token = answer["access_token"].as_str().unwrap().to_owned();
        entra.with(|s| s.holder(&token).map(|(_, issued)| issued.tenant.clone()))
    };
    assert_eq!(token_tenant(&guest).as_deref(), Some(FABRIKAM_TENANT), "the token is the inviting tenant's");

    let (status, refused) = refresh(&entra, OTHER_TENANT, &alice_rt, VISUAL_STUDIO).await;
    assert_eq!((status, refused["error_codes"][0].as_u64()), (400, Some(50020)), "no guest there: {refused}");
    let (status, refused) = refresh(&entra, CONTOSO_TENANT, &alice_rt, "04b07795-8ddb-461a-bbee-02f9e1bf7b46").await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_grant")), "another client: {refused}");

    for tenant in [MSA_TENANT, "consumers", "organizations"] {
        let (status, refused) = refresh(&entra, tenant, &carol_rt, VISUAL_STUDIO).await;
        assert_eq!((status, refused["error_codes"][0].as_u64()), (400, Some(9_002_332)), "{tenant}: {refused}");
    }
    let (status, transfer) = refresh(&entra, TRANSFER_TENANT, &carol_rt, VISUAL_STUDIO).await;
    assert_eq!(status, 200, "{transfer}");
    assert_eq!(claims(&transfer["id_token"])["tid"], MSA_TENANT, "a personal account's id_token names its home");
    assert_eq!(token_tenant(&transfer).as_deref(), Some(TRANSFER_TENANT));
}

#[test]
fn a_request_entra_would_refuse_outright_fails_the_test_that_sent_it() {
    let entra = FakeEntra::start(vec![User::new("alice@contoso.com", CONTOSO_TENANT)]);
    let query: HashMap<&str, &str> = [("redirect_uri", "https://elsewhere.example/"), ("response_type", "code")].into();
    let url =
        reqwest::Url::parse_with_params(&format!("{}/{CONTOSO_TENANT}/oauth2/v2.0/authorize", entra.url()), query)
            .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let status = runtime.block_on(async { support::http_client().get(url).send().await.unwrap().status().as_u16() });
    assert_eq!(status, 400, "answered, as Entra answers a malformed request");
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(entra)));
    let message = *dropped.expect_err("dropping the fake reports the violation").downcast::<String>().unwrap();
    assert!(message.contains("a loopback redirect on localhost"), "{message}");
}

#[test]
fn a_fake_that_panics_answers_500_and_fails_the_test_when_dropped() {
    let server = support::Server::start(|_request| async { panic!("the fake's own bug") });
    let url = format!("http://{}/anything", server.addr);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, body) = runtime.block_on(async {
        let response = support::http_client().get(url).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    });
    assert_eq!((status, body.as_str()), (500, "the fake panicked: the fake's own bug"), "not a dropped connection");
    let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(server)));
    let message = *dropped.expect_err("the panic is raised again").downcast::<String>().unwrap();
    assert!(message.contains("the fake's own bug"), "{message}");
}
