//! git's own proxy settings for our calls, as git takes them: `http.proxy` (any scope) before
//! the environment, `no_proxy` from the environment for every proxy, an empty value for none.
//! A loopback proxy records what went through it; a proxy that is not there fails what is sent
//! to it. Real git, the helper and its daemon, the fake Entra and the fake Azure DevOps.

#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use support::proxy::{RecordingProxy, dead_address};
use support::world::{CONTOSO_TENANT, World};
use support::{assert_success, stdout};

fn world() -> World {
    World::alice_and_contoso()
}

fn add_config(w: &World, text: &str) {
    let path = w.env.path("gitconfig");
    let config = std::fs::read_to_string(&path).unwrap();
    std::fs::write(path, format!("{config}{text}")).unwrap();
}

#[test]
fn our_calls_go_through_the_proxy_git_is_configured_with_before_the_environments() {
    let mut w = world();
    let proxy = RecordingProxy::start();
    add_config(&w, &format!("[http]\n\tproxy = {}\n", proxy.url()));
    // The environment's proxy is not there: anything sent to it would fail.
    w.env.set_env("http_proxy", dead_address());
    w.env.set_env("all_proxy", dead_address());

    let out = w.login(&["--org", "contoso"]);
    assert_success(&out, "login");
    assert!(!stdout(&out).contains("Warning"), "{}", stdout(&out));
    w.clone_and_push_quietly("contoso", "clone");

    let (entra, devops) = (w.entra.url(), format!("http://{}", w.devops.addr));
    assert!(proxy.saw(&format!("HEAD {devops}/contoso")), "tenant discovery: {:?}", proxy.seen());
    assert!(proxy.saw(&format!("POST {entra}/{CONTOSO_TENANT}/oauth2/v2.0/token")), "Entra: {:?}", proxy.seen());
    assert!(proxy.saw(&format!("GET {devops}/contoso/_apis/connectionData")), "{:?}", proxy.seen());
    assert!(proxy.saw("/contoso/proj/_git/repo/info/refs"), "git's own requests, as a check: {:?}", proxy.seen());
    let token_requests = proxy.seen().iter().filter(|s| s.contains("/oauth2/v2.0/token")).count();
    assert_eq!(token_requests, w.entra.with(|s| s.token_requests.len()), "every token request: the daemon's too");
}

#[test]
fn no_proxy_and_an_empty_proxy_setting_send_our_calls_direct() {
    // Only `no_proxy` (from the environment: git has no http.noProxy) keeps the configured
    // proxy, which is not there, from failing everything.
    let mut w = world();
    add_config(&w, &format!("[http]\n\tproxy = {}\n", dead_address()));
    w.env.set_env("no_proxy", "localhost,127.0.0.1");
    assert_success(&w.login(&["--org", "contoso"]), "login");
    w.clone_and_push_quietly("contoso", "clone");

    // An empty http.<url>.proxy for the Azure DevOps URL: no proxy for it or for Entra, even
    // with the environment's; git's own requests go direct too.
    let mut w = world();
    let devops = format!("http://{}", w.devops.addr);
    add_config(&w, &format!("[http \"{devops}\"]\n\tproxy =\n"));
    w.env.set_env("http_proxy", dead_address());
    assert_success(&w.login(&["--org", "contoso"]), "login");
    w.clone_and_push_quietly("contoso", "clone");
}
