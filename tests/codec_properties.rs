//! Property tests of git's credential codec, against what git's documentation says (the
//! oracle below is written from git-credential(1), not taken from the codec). What git itself
//! sends and reads is tried in `git_protocol.rs`.
#![allow(clippy::unwrap_used, reason = "helpers of tests: a failed step should fail the test")]

use git_credential_azdo::git::{Capabilities, Credential};
use git_credential_azdo::secret::Secret;
use proptest::prelude::*;

/// Values git can carry: anything but LF, CR and NUL.
fn clean() -> impl Strategy<Value = String> + Clone {
    "[^\r\n\0]{0,40}"
}

/// Values that may hold the characters that must never be written inside a value.
fn hostile() -> impl Strategy<Value = String> + Clone {
    prop_oneof![clean(), "[a-z\r\n\0=]{0,12}", ".{0,20}"]
}

fn credential(value: impl Strategy<Value = String> + Clone + 'static) -> impl Strategy<Value = Credential> {
    let opt = move || proptest::option::of(value.clone());
    let list = || proptest::collection::vec("[^\r\n\0]{1,30}", 0..3);
    (
        (opt(), opt(), opt(), opt(), opt(), proptest::option::of(1u64..u64::MAX), opt()),
        (list(), any::<(bool, bool)>(), opt(), opt(), any::<bool>(), list(), any::<bool>()),
    )
        .prop_map(
            |(
                (protocol, host, path, username, password, password_expiry_utc, oauth_refresh_token),
                (wwwauth, (authtype_cap, state_cap), authtype, credential, ephemeral, state, continue_),
            )| Credential {
                protocol,
                host,
                path,
                username,
                password: password.map(Secret::new),
                password_expiry_utc,
                oauth_refresh_token: oauth_refresh_token.map(Secret::new),
                wwwauth,
                capabilities: Capabilities { authtype: authtype_cap, state: state_cap },
                authtype,
                credential: credential.map(Secret::new),
                ephemeral,
                state,
                continue_,
            },
        )
}

/// git-credential(1), "INPUT/OUTPUT FORMAT" (git 2.47; unchanged through 2.55), and
/// ../shared/GIT.md where the documentation is silent.
mod git_doc {
    /// "Git understands the following attributes".
    pub(crate) const ATTRIBUTES: &[&str] = &[
        "protocol",
        "host",
        "path",
        "username",
        "password",
        "password_expiry_utc",
        "oauth_refresh_token",
        "url",
        "authtype",
        "credential",
        "ephemeral",
        "state[]",
        "continue",
        "wwwauth[]",
        "capability[]",
    ];
    /// "'one-way' from Git to pass additional information to credential helpers": never in a
    /// helper's answer. Nor `url`, which resets every attribute git has (GIT.md).
    pub(crate) const NEVER_IN_AN_ANSWER: &[&str] = &["wwwauth[]", "url"];
    /// "There are two currently supported capabilities. The first is `authtype`, which indicates
    /// that the `authtype`, `credential`, and `ephemeral` values are understood. The second is
    /// `state`, which indicates that the `state[]` and `continue` values are understood."
    pub(crate) const CAPABILITIES: &[(&str, &[&str])] =
        &[("authtype", &["authtype", "credential", "ephemeral"]), ("state", &["state[]", "continue"])];

    /// The capability a key depends on, if it depends on one.
    pub(crate) fn capability_of(key: &str) -> Option<&'static str> {
        CAPABILITIES.iter().find(|(_, keys)| keys.contains(&key)).map(|(capability, _)| *capability)
    }
}

/// Each line is `key=value` with a key git understands; "the value may contain any bytes
/// except newline or NUL" (and no CR since git 2.47.2: GIT.md); "a `capability[]` directive must
/// precede any value depending on it"; the text ends with a newline. `answer_to`: the
/// capabilities of the request this answers (`None`: the text is a request), which "should
/// not be provided without the capability" on input, and what may never be in an answer.
fn assert_well_formed(out: &[u8], answer_to: Option<Capabilities>) {
    assert!(!out.contains(&b'\r') && !out.contains(&b'\0'), "{out:?}");
    if out.is_empty() {
        return;
    }
    assert_eq!(out.last(), Some(&b'\n'));
    let mut announced = Vec::new();
    for line in std::str::from_utf8(out).unwrap().lines() {
        let (key, value) = line.split_once('=').unwrap_or_else(|| panic!("no '=' in {line:?}"));
        assert!(git_doc::ATTRIBUTES.contains(&key), "an attribute git does not know in {line:?}");
        assert_ne!(key, "url", "url= is git's shorthand for its caller, and resets an answer: {line:?}");
        if key == "capability[]" {
            announced.push(value);
        }
        if let Some(capability) = git_doc::capability_of(key) {
            assert!(announced.contains(&capability), "{key} before capability[]={capability}: {out:?}");
        }
        if let Some(caps) = answer_to {
            assert!(!git_doc::NEVER_IN_AN_ANSWER.contains(&key), "{key} in an answer: {line:?}");
            let asked = |capability: &str| match capability {
                "authtype" => caps.authtype,
                "state" => caps.state,
                _ => false,
            };
            if key == "capability[]" || git_doc::capability_of(key).is_some() {
                let capability = git_doc::capability_of(key).unwrap_or(value);
                assert!(asked(capability), "{line:?} in an answer to a request without capability[]={capability}");
            }
        }
    }
}

/// `c` as git sends it: what depends on a capability only with the capability.
fn as_git_sends(mut c: Credential) -> Credential {
    if !c.capabilities.authtype {
        (c.authtype, c.credential, c.ephemeral) = (None, None, false);
    }
    if !c.capabilities.state {
        (c.state, c.continue_) = (Vec::new(), false);
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn requests_round_trip(c in credential(clean())) {
        let mut out = Vec::new();
        c.write_request(&mut out).unwrap();
        assert_well_formed(&out, None);
        let back = Credential::read(&out[..]).unwrap();
        prop_assert_eq!(back, as_git_sends(c));
    }

    #[test]
    fn nothing_written_holds_lf_cr_or_nul_inside_a_value(
        c in credential(hostile()),
        caps in any::<(bool, bool)>(),
    ) {
        let caps = Capabilities { authtype: caps.0, state: caps.1 };
        let mut out = Vec::new();
        match c.write_response(caps, &mut out) {
            Ok(()) => {
                assert_well_formed(&out, Some(caps));
                // What was written reads back as what was meant.
                let back = Credential::read(&out[..]).unwrap();
                prop_assert_eq!(&back.username, &c.username);
                prop_assert_eq!(&back.password, &c.password);
                if !caps.authtype {
                    prop_assert!(back.authtype.is_none() && back.credential.is_none() && !back.ephemeral);
                }
            }
            Err(_) => prop_assert!(out.is_empty(), "a refused answer writes nothing"),
        }
        let mut request = Vec::new();
        match c.write_request(&mut request) {
            Ok(()) => assert_well_formed(&request, None),
            Err(_) => prop_assert!(request.is_empty()),
        }
    }

    #[test]
    fn reading_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(c) = Credential::read(&bytes[..]) {
            let mut out = Vec::new();
            if c.write_request(&mut out).is_ok() {
                assert_well_formed(&out, None);
            }
        }
    }
}
