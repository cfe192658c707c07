//! Property tests of git's credential codec.
#![allow(clippy::unwrap_used, reason = "helpers of tests: a failed step should fail the test")]

use git_credential_azdo::git::{Capabilities, Credential, KNOWN_KEYS};
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

/// Every line is `known-key=value`, nothing holds CR or NUL, and the text ends with LF.
fn assert_well_formed(out: &[u8]) {
    assert!(!out.contains(&b'\r') && !out.contains(&b'\0'), "{out:?}");
    if out.is_empty() {
        return;
    }
    assert_eq!(out.last(), Some(&b'\n'));
    for line in std::str::from_utf8(out).unwrap().lines() {
        let (key, _) = line.split_once('=').unwrap_or_else(|| panic!("no '=' in {line:?}"));
        assert!(KNOWN_KEYS.contains(&key), "unexpected key in {line:?}");
        assert_ne!(key, "url");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn requests_round_trip(c in credential(clean())) {
        let mut out = Vec::new();
        c.write_request(&mut out).unwrap();
        assert_well_formed(&out);
        let back = Credential::read(&out[..]).unwrap();
        prop_assert_eq!(back, c);
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
                assert_well_formed(&out);
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
            Ok(()) => assert_well_formed(&request),
            Err(_) => prop_assert!(request.is_empty()),
        }
    }

    #[test]
    fn reading_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(c) = Credential::read(&bytes[..]) {
            let mut out = Vec::new();
            if c.write_request(&mut out).is_ok() {
                assert_well_formed(&out);
            }
        }
    }
}
