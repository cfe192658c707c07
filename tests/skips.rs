//! A test this machine cannot run is never a silent pass: it fails, saying why; outside CI, and
//! only when asked, it passes as skipped with a line that shows among the results.

#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use std::process::Command;

/// Set when this test binary runs itself to watch [`support::skip`] at work.
const PROBE: &str = "GIT_CREDENTIAL_AZDO_TEST_SKIP_PROBE";

#[test]
fn a_test_that_cannot_run_fails_or_shows_as_skipped() {
    if std::env::var_os(PROBE).is_some() {
        support::skip("needs a probe tool");
        return;
    }
    // This very test, in a child: the way cargo test runs it, output captured.
    let run = |env: &[(&str, &str)]| {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "a_test_that_cannot_run_fails_or_shows_as_skipped", "--test-threads=1"]);
        cmd.env(PROBE, "1").env_remove("CI").env_remove(support::ALLOW_SKIP);
        for (key, value) in env {
            cmd.env(key, value);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let name = "a_test_that_cannot_run_fails_or_shows_as_skipped";

    let (passed, text) = run(&[]);
    assert!(!passed, "a skip is a failure by default: {text}");
    assert!(text.contains(&format!("{name} cannot run on this machine: needs a probe tool;")), "{text}");
    assert!(text.contains("set GIT_CREDENTIAL_AZDO_TEST_ALLOW_SKIP=1"), "{text}");

    let (passed, text) = run(&[("CI", "true"), (support::ALLOW_SKIP, "1")]);
    assert!(!passed, "under CI, always a failure: {text}");
    assert!(text.contains("needs a probe tool; CI must provide it"), "{text}");

    let (passed, text) = run(&[(support::ALLOW_SKIP, "1")]);
    assert!(passed, "allowed outside CI: {text}");
    assert!(
        text.contains(&format!("SKIPPED {name}: needs a probe tool (passes only because {}=1)", support::ALLOW_SKIP)),
        "the skip shows although the harness captures the test's output: {text}"
    );
}
