//! git's credential protocol: whatever git (or anyone) writes on our stdin, reading it never
//! panics, and what we write back is valid protocol that reads back the same.
#![no_main]

use git_credential_azdo::git::{Capabilities, Credential};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(credential) = Credential::read(data) else { return };
    for caps in [Capabilities::default(), Capabilities { authtype: true, state: true }] {
        let mut out = Vec::new();
        if credential.write_response(caps, &mut out).is_ok() {
            check_written(&out);
            Credential::read(&out[..]).expect("what we write, we read back");
        }
    }
    let mut out = Vec::new();
    if credential.write_request(&mut out).is_ok() {
        check_written(&out);
        let again = Credential::read(&out[..]).expect("what we write, we read back");
        assert_eq!(again.protocol, credential.protocol);
        assert_eq!(again.host, credential.host);
        assert_eq!(again.path, credential.path);
        assert_eq!(again.username, credential.username);
    }
});

/// Lines of `key=value`, no CR or NUL anywhere, never `url=`.
fn check_written(out: &[u8]) {
    assert!(!out.contains(&0) && !out.contains(&b'\r'), "NUL or CR written");
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        assert!(line.contains(&b'='), "a line without '='");
        assert!(!line.starts_with(b"url="), "url= written");
    }
}
