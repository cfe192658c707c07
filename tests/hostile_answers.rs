//! Servers that answer with absurd numbers or malformed tokens: Entra's token and device-code
//! endpoints, IMDS, App Service and the Azure CLI. The daemon survives every one of them, the
//! in-process fallback does not panic, git gets one line saying the answer could not be
//! understood, nothing bad is cached, and the next good answer serves git.

#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

mod support;

use std::process::Output;
#[cfg(unix)]
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::world::World;
use support::{assert_success, our_lines, stderr, stdout};

/// Starts the daemon, or makes the helpers answer in-process: the daemon's pid, if one runs.
fn daemon_or_in_process(w: &mut World, in_process: bool) -> Option<u32> {
    if in_process {
        w.env.set_env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1");
    } else {
        w.start_daemon();
    }
    w.env.daemon_pid()
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn field<'a>(out: &'a Output, key: &str) -> Option<&'a str> {
    std::str::from_utf8(&out.stdout).unwrap().lines().find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

/// git got nothing, and exactly one line of ours saying why, naming `words`; no panic.
fn refused(out: &Output, words: &[&str], case: &str) {
    assert!(!out.status.success(), "{case}: {}", stdout(out));
    let text = stderr(out);
    assert!(!text.contains("panicked"), "{case}: {text}");
    let ours = our_lines(out);
    assert_eq!(ours.len(), 1, "{case}: {text}");
    for word in words {
        assert!(ours[0].contains(word), "{case}: {}", ours[0]);
    }
    assert!(ours[0].len() < 400, "{case}: {}", ours[0]);
}

/// Absurd `expires_in` values in Entra's token answer, each refused in one line (or, when it
/// is a lifetime after all, accepted and clamped), with the daemon and without it.
#[test]
fn absurd_lifetimes_from_entra_are_refused_or_clamped_and_the_daemon_survives_them() {
    let mut w = World::alice_signed_in();
    let url = w.url("contoso");
    let refused_values =
        ["0", "-1", "-9223372036854775808", "0.4", "\"\"", "\"soon\"", "\"NaN\"", "\"-3600\"", "1e400", "[3600]"];
    // A lifetime, however odd its form: a string (Entra v1, managed identities), a fraction,
    // or far too long (served for a day at most, not until the year 584 billion).
    let accepted_values = ["\"3600\"", "3599.5", "18446744073709551615", "1e300"];
    for in_process in [false, true] {
        let daemon = daemon_or_in_process(&mut w, in_process);
        for value in refused_values {
            let body = format!(r#"{{"token_type":"Bearer","access_token":"at-odd","expires_in":{value}}}"#);
            w.entra.with(|s| s.fail_next.extend(std::iter::repeat_n((200, None, body), 20)));
            let out = w.env.git_fill(&url);
            w.entra.with(|s| s.fail_next.clear());
            let case = format!("expires_in {value}, in process: {in_process}");
            refused(&out, &["alice@contoso.com", "Entra ID sent an answer that could not be understood"], &case);
            assert_eq!(w.env.daemon_pid(), daemon, "{case}: the daemon lives on");
        }
        for (n, value) in accepted_values.into_iter().enumerate() {
            let body = format!(r#"{{"token_type":"Bearer","access_token":"at-odd-{n}","expires_in":{value}}}"#);
            w.entra.with(|s| s.fail_next.push_back((200, None, body)));
            let asked = now();
            let out = w.env.git_fill(&url);
            let case = format!("expires_in {value}, in process: {in_process}");
            assert_success(&out, &case);
            assert_eq!(field(&out, "password"), Some(format!("at-odd-{n}").as_str()), "{case}");
            let expiry: u64 = field(&out, "password_expiry_utc").unwrap().parse().unwrap();
            assert!(expiry > asked + 3000 && expiry <= now() + 24 * 60 * 60, "{case}: expires at {expiry}");
            assert_eq!(w.env.daemon_pid(), daemon, "{case}: the daemon lives on");
            // git rejects it (not a token Azure DevOps knows): dropped, so the next is asked for.
            let given = (field(&out, "username").unwrap().to_owned(), field(&out, "password").unwrap().to_owned());
            w.reject(&url, &given);
        }
        // None of this cost the account: a good answer serves git.
        let (_, token) = w.env.fill(&url);
        assert_eq!(w.owner(&token).as_deref(), Some("alice@contoso.com"));
    }
}

/// Entra's refusal with a list of error codes as long as a body may be (or codes that are not
/// numbers): git's user sees Entra's error and its code in one short line, and so does `status`
/// later (the reason is kept with the account).
#[test]
fn an_entra_refusal_with_absurd_error_codes_is_one_short_line() {
    let w = World::alice_signed_in();
    let url = w.url("contoso");
    let many = vec!["70008"; 150_000].join(",");
    for codes in [format!("[{many}]"), r#"["70008", -1, 0.5, null, {"x": 1}]"#.to_owned()] {
        assert_success(&w.login(&["--org", "contoso"]), "login");
        let body = format!(
            r#"{{"error":"invalid_grant","error_description":"AADSTS70008: The refresh token has expired","error_codes":{codes},"trace_id":7}}"#
        );
        w.entra.with(|s| s.fail_next.extend(std::iter::repeat_n((400, None, body), 20)));
        let out = w.env.git_fill(&url);
        w.entra.with(|s| s.fail_next.clear());
        let case = &codes[..codes.len().min(40)];
        refused(&out, &["alice@contoso.com must sign in again", "invalid_grant (AADSTS70008)", "has expired"], case);
        let status = w.env.helper(&["status"], "");
        assert!(stdout(&status).len() < 4000, "{case}: {}", stdout(&status).len());
    }
}

/// A `Retry-After` far beyond any deadline: the refresh gives up at once, with one line.
#[test]
fn an_absurd_retry_after_is_not_waited_for_and_the_daemon_survives_it() {
    let mut w = World::alice_signed_in();
    // A deadline long enough that waiting for the Retry-After as far as the deadline allows
    // would take far longer than giving up at once (a second, on a busy machine).
    w.env.set_env("GIT_CREDENTIAL_AZDO_TIMEOUT", "25");
    w.start_daemon();
    let daemon = w.env.daemon_pid();
    let url = w.url("contoso");
    for retry_after in [u64::MAX, 86_400 * 365] {
        w.entra.with(|s| s.fail_next.extend(std::iter::repeat_n((503, Some(retry_after), String::new()), 20)));
        let asked = std::time::Instant::now();
        let out = w.env.git_fill(&url);
        w.entra.with(|s| s.fail_next.clear());
        refused(
            &out,
            &["alice@contoso.com", "Entra ID is unavailable (HTTP 503)"],
            &format!("Retry-After {retry_after}"),
        );
        assert!(asked.elapsed() < Duration::from_secs(5), "not waited for: {:?}", asked.elapsed());
        assert_eq!(w.env.daemon_pid(), daemon, "the daemon lives on");
    }
    w.env.fill(&url); // the next good answer serves git
}

/// An access token with CR/LF (or a space, or nothing) is not cached: the next get asks again,
/// and a good answer serves git from then on.
#[test]
fn a_malformed_access_token_is_not_kept_and_the_next_good_answer_serves_git() {
    let mut w = World::alice_signed_in();
    let url = w.url("contoso");
    let bad_tokens = [r"at\r\nX-Injected: yes", r"at\nnext", "a b", "", r"at\u0000"];
    for in_process in [false, true] {
        let daemon = daemon_or_in_process(&mut w, in_process);
        for bad in bad_tokens {
            let refreshes = w.refreshes();
            let body = format!(r#"{{"token_type":"Bearer","access_token":"{bad}","expires_in":3600}}"#);
            w.entra.with(|s| s.fail_next.push_back((200, None, body)));
            let case = format!("access_token {bad:?}, in process: {in_process}");
            let out = w.env.git_fill(&url);
            refused(&out, &["Entra ID sent an answer that could not be understood", "access_token"], &case);
            assert!(!stderr(&out).contains("Injected") && !stderr(&out).contains("next"), "{case}: not echoed");

            // Entra answers normally again: the bad token was not kept.
            let out = w.env.git_fill(&url);
            assert_success(&out, &case);
            let token = field(&out, "password").unwrap().to_owned();
            assert_eq!(w.owner(&token).as_deref(), Some("alice@contoso.com"), "{case}");
            assert_eq!(w.refreshes(), refreshes + 2, "{case}: asked again after the bad answer");
            if !in_process {
                assert_eq!(w.env.fill(&url).1, token, "{case}: the good token is cached");
                assert_eq!(w.env.daemon_pid(), daemon, "{case}: the daemon lives on");
                w.reject(&url, &("alice@contoso.com".into(), token));
            }
        }
    }
}

/// A refresh token that is not printable is not kept either: the old one goes on working.
#[test]
fn a_malformed_refresh_token_is_not_kept() {
    let w = World::alice_signed_in();
    let url = w.url("contoso");
    let body = r#"{"token_type":"Bearer","access_token":"at-x","refresh_token":"rt\r\nevil","expires_in":3600}"#;
    w.entra.with(|s| s.fail_next.push_back((200, None, body.to_owned())));
    refused(&w.env.git_fill(&url), &["could not be understood", "refresh_token"], "refresh_token with CR/LF");
    let secrets = w.env.stored_secrets();
    assert!(!secrets.contains("evil"), "not kept: {secrets}");
    let (_, token) = w.env.fill(&url);
    assert_eq!(w.owner(&token).as_deref(), Some("alice@contoso.com"));
}

/// Absurd device-code numbers: refused in one line, or clamped (and strings accepted).
#[test]
fn absurd_device_code_numbers_are_refused_or_clamped() {
    let w = World::alice_and_contoso();
    for (expires_in, interval) in [("0", "1"), ("-900", "1"), ("\"soon\"", "1"), ("900", "-5"), ("\"1e400\"", "1")] {
        w.entra.with(|s| {
            s.device_answer =
                serde_json::from_str(&format!(r#"{{"expires_in":{expires_in},"interval":{interval}}}"#)).unwrap();
            s.device_script = [String::new()].into();
        });
        let out = w.login(&["--device", "--org", "contoso"]);
        let case = format!("expires_in {expires_in}, interval {interval}");
        refused(&out, &["Entra ID sent an answer that could not be understood"], &case);
    }
    assert!(!w.env.state_dir().join("accounts.json").exists(), "nothing kept");
    // Strings (as Entra's v1 endpoint sends them) and absurdly large values: a sign-in.
    w.entra.with(|s| {
        s.device_answer = serde_json::from_str(r#"{"expires_in":"18446744073709551615","interval":"0"}"#).unwrap();
        s.device_script = ["authorization_pending".to_owned(), String::new()].into();
    });
    let out = w.login(&["--device", "--org", "contoso"]);
    assert_success(&out, "login --device");
    assert!(stdout(&out).contains("Signed in as alice@contoso.com"), "{}", stdout(&out));
}

/// A managed-identity endpoint (or the Azure CLI) whose answer is set by the test.
#[cfg(unix)]
struct Scripted {
    answer: Arc<Mutex<String>>,
    _server: support::Server,
    url: String,
}

#[cfg(unix)]
impl Scripted {
    fn start() -> Self {
        let answer = Arc::new(Mutex::new(String::new()));
        let shared = answer.clone();
        let server = support::Server::start(move |_request| {
            let body = shared.lock().unwrap().clone();
            async move {
                axum::http::Response::builder()
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(body))
                    .unwrap()
            }
        });
        let url = format!("http://{}/token", server.addr);
        Self { answer, _server: server, url }
    }

    fn set(&self, body: &str) {
        body.clone_into(&mut self.answer.lock().unwrap());
    }
}

/// IMDS, App Service and the Azure CLI answering absurd lifetimes or malformed tokens: one
/// line, the daemon survives, and a good answer then serves git.
#[test]
#[cfg(unix)]
fn absurd_answers_from_managed_identity_endpoints_and_the_azure_cli() {
    let mut w = World::contoso();
    let url = w.url("contoso");
    let endpoint = Scripted::start();
    let answer_file = w.env.path("az-answer.json");
    w.env.stub_command("az", &format!("cat '{}'\n", answer_file.display()));

    let soon = (now() + 1800).to_string();
    let past = (now() - 60).to_string();
    // (source, how the source is chosen, answers refused, answers accepted)
    let imds_refused = [
        r#"{"access_token":"mi","expires_in":"-1"}"#.to_owned(),
        r#"{"access_token":"mi","expires_in":"0"}"#.to_owned(),
        r#"{"access_token":"mi","expires_in":"soon"}"#.to_owned(),
        r#"{"access_token":"mi","expires_in":"1e400"}"#.to_owned(),
        r#"{"access_token":"mi\r\nX: 1","expires_in":"3600"}"#.to_owned(),
        r#"{"access_token":"","expires_in":"3600"}"#.to_owned(),
        format!(r#"{{"access_token":"mi","expires_on":"{past}"}}"#),
    ];
    let imds_accepted = [
        r#"{"access_token":"mi-1","expires_in":"18446744073709551615"}"#.to_owned(),
        r#"{"access_token":"mi-2","expires_in":3599.9,"expires_on":"x"}"#.to_owned(),
        format!(r#"{{"access_token":"mi-3","expires_on":"{soon}"}}"#),
        r#"{"access_token":"mi-4","expires_on":"99999999999999999999999"}"#.to_owned(),
    ];
    let cli_refused = [
        r#"{"accessToken":"cli","expires_on":-1}"#.to_owned(),
        format!(r#"{{"accessToken":"cli","expires_on":{past}}}"#),
        r#"{"accessToken":"cli\u0007","expires_on":"never"}"#.to_owned(),
        r#"{"accessToken":"cli x","expires_on":99999999999}"#.to_owned(),
    ];
    let cli_accepted = [
        r#"{"accessToken":"cli-1","expires_on":18446744073709551615}"#.to_owned(),
        format!(r#"{{"accessToken":"cli-2","expires_on":"{soon}","expiresOn":"9999-99-99 99:99:99.0"}}"#),
        r#"{"accessToken":"cli-3"}"#.to_owned(),
    ];
    let sources = [
        ("imds", &imds_refused[..], &imds_accepted[..], "the instance metadata service answered without a token"),
        (
            "app_service",
            &imds_refused[..],
            &imds_accepted[..],
            "App Service's identity endpoint answered without a token",
        ),
        ("az", &cli_refused[..], &cli_accepted[..], "the Azure CLI answered"),
    ];
    for in_process in [false, true] {
        for (source, refused_answers, accepted_answers, words) in sources {
            w.env.remove_env("IDENTITY_ENDPOINT");
            w.env.remove_env("IDENTITY_HEADER");
            match source {
                "imds" => {
                    w.env.set_env("GIT_CREDENTIAL_AZDO_IDENTITY", "managed");
                    w.env.set_env("GIT_CREDENTIAL_AZDO_IMDS_ENDPOINT", &endpoint.url);
                }
                "app_service" => {
                    w.env.set_env("IDENTITY_ENDPOINT", &endpoint.url);
                    w.env.set_env("IDENTITY_HEADER", "header");
                }
                _ => w.env.set_env("GIT_CREDENTIAL_AZDO_IDENTITY", "azure-cli"),
            }
            if in_process {
                w.env.set_env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1");
            } else {
                w.start_daemon();
            }
            let daemon = w.env.daemon_pid();
            let answer = |body: &str| {
                endpoint.set(body);
                std::fs::write(&answer_file, body).unwrap();
            };
            for body in refused_answers {
                answer(body);
                let case = format!("{source} {body}, in process: {in_process}");
                refused(&w.env.git_fill(&url), &[words], &case);
                assert_eq!(w.env.daemon_pid(), daemon, "{case}: the daemon lives on");
            }
            for body in accepted_answers {
                answer(body);
                let case = format!("{source} {body}, in process: {in_process}");
                let asked = now();
                let out = w.env.git_fill(&url);
                assert_success(&out, &case);
                let expiry: u64 = field(&out, "password_expiry_utc").unwrap().parse().unwrap();
                assert!(expiry > asked + 200 && expiry <= now() + 24 * 60 * 60, "{case}: expires at {expiry}");
                assert_eq!(w.env.daemon_pid(), daemon, "{case}: the daemon lives on");
                let given = (field(&out, "username").unwrap().to_owned(), field(&out, "password").unwrap().to_owned());
                w.reject(&url, &given);
            }
        }
    }
}

/// An Azure CLI that prints without end, on stdout or on stderr: it is killed once it has
/// printed more than any answer of its could be, git gets one line saying so at once, and the
/// daemon holds no more of it than that.
#[test]
#[cfg(target_os = "linux")]
fn an_azure_cli_that_prints_without_end_is_cut_off() {
    use std::os::unix::fs::PermissionsExt as _;
    let mut w = World::contoso();
    let url = w.url("contoso");
    let bin = w.env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    w.env.set_env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()));
    w.env.set_env("GIT_CREDENTIAL_AZDO_IDENTITY", "azure-cli");
    w.start_daemon();
    let daemon = w.env.daemon_pid().unwrap();
    let high_water_kib = || {
        let status = std::fs::read_to_string(format!("/proc/{daemon}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap().to_owned();
        line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap()
    };
    let before = high_water_kib();
    for stream in ["stdout", "stderr"] {
        let flood = format!(
            "#!/bin/sh\nexec python3 -c 'import sys\nchunk = b\"{{\" * (1 << 16)\nwhile True: sys.{stream}.buffer.write(chunk)'\n"
        );
        std::fs::write(bin.join("az"), flood).unwrap();
        std::fs::set_permissions(bin.join("az"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = w.env.git_fill(&url);
        refused(&out, &["the Azure CLI (az) printed more than 1024 KiB"], stream);
        assert_eq!(w.env.daemon_pid(), Some(daemon), "{stream}: the daemon lives on");
    }
    let grown = high_water_kib().saturating_sub(before);
    assert!(grown < 64 << 10, "the daemon grew by {grown} KiB");
}
