//! The advice lines fit the situation: a plain-http Azure DevOps remote is told to use https,
//! and a pipeline whose job token is for another organization is not told to sign in.

#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use support::TestEnv;
use support::our_lines;
use support::world::{CONTOSO_TENANT, FABRIKAM_TENANT, World};

#[test]
fn a_plain_http_azure_devops_remote_gets_no_token_and_is_told_to_use_https() {
    let env = TestEnv::new();
    for (url, https) in [
        ("http://dev.azure.com/contoso/proj/_git/repo", "https://dev.azure.com"),
        ("http://contoso.visualstudio.com/proj/_git/repo", "https://contoso.visualstudio.com"),
    ] {
        let origin = https.replacen("https", "http", 1);
        assert_eq!(
            env.fill_refused(url),
            format!(
                "git-credential-azdo: {origin} is plain http: Azure DevOps Services takes no token unencrypted, and \
                 none is sent; change the remote to {https} (git remote set-url origin {https}/...)"
            )
        );
    }
}

#[test]
fn a_pipeline_whose_token_is_for_another_organization_is_told_so_not_to_sign_in() {
    let mut w = World::new(&[], &[("contoso", CONTOSO_TENANT), ("fabrikam", FABRIKAM_TENANT)]);
    w.env.set_env("SYSTEM_ACCESSTOKEN", "job-token-for-contoso");
    w.env.set_env("SYSTEM_COLLECTIONURI", format!("http://{}/contoso/", w.devops.addr));
    let out = w.clone_repo("fabrikam", "clone");
    assert!(!out.status.success());
    let ours = our_lines(&out);
    assert_eq!(
        ours,
        ["git-credential-azdo: the Azure Pipelines job token is for contoso and is never sent to fabrikam; give the \
          job access another way: a PAT for fabrikam in AZURE_DEVOPS_EXT_PAT (a secret variable), or a service \
          connection's identity (AZURE_CLIENT_ID and AZURE_TENANT_ID)"]
    );
    assert!(!ours[0].contains("login"), "nobody signs in in a pipeline");
}
