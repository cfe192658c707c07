//! Secrets are zeroed when dropped: this process's memory is searched, through
//! `/proc/self/mem`, for a secret before and after it is dropped. Alone in its test binary, so
//! that no other test allocates meanwhile.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, reason = "a failed step should fail the test")]

use std::io::{Read, Seek, SeekFrom};

use git_credential_azdo::git::Credential;
use git_credential_azdo::ipc::{Request, frame};
use git_credential_azdo::secret::Secret;
use zeroize::Zeroizing;

/// The secret's length; its bytes are worked out from their position where they are compared,
/// so that this test holds no copy of it in memory.
const LEN: usize = 64;
/// What is searched for: the secret less its first bytes, which the allocator overwrites with
/// its own bookkeeping when the memory is freed (a plain `String` would pass otherwise).
const SKIP: usize = 24;
const MASK: u8 = 0x5a;

fn secret_byte(i: usize) -> u8 {
    // Letters and digits, as in tokens and PATs. (A secret with a character JSON escapes, `"`
    // or `\`, leaves a copy in serde_json's scratch buffer when a frame is decoded; SECURITY.md.)
    let n = (u8::try_from(i * 7 % 251).unwrap() ^ MASK) % 62;
    match n {
        0..=9 => b'0' + n,
        10..=35 => b'a' + n - 10,
        _ => b'A' + n - 36,
    }
}

/// A secret made in place: the only copy is the one inside the `Secret`.
fn make_secret() -> Secret {
    let mut value = String::with_capacity(LEN);
    for i in 0..LEN {
        value.push(char::from(secret_byte(i)));
    }
    Secret::new(value)
}

/// How many copies of the secret this process's writable memory holds.
fn copies_in_memory() -> usize {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let mut mem = std::fs::File::open("/proc/self/mem").unwrap();
    // Zeroed when dropped itself: it holds copies while the secret is alive.
    let mut chunk = Zeroizing::new(vec![0_u8; 1 << 20]);
    let mut found = 0;
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else { continue };
        if !perms.starts_with("rw") {
            continue;
        }
        let (start, end) = range.split_once('-').unwrap();
        let (start, end) = (u64::from_str_radix(start, 16).unwrap(), u64::from_str_radix(end, 16).unwrap());
        let mut at = start;
        while at < end {
            let len = usize::try_from((end - at).min(chunk.len() as u64)).unwrap();
            if mem.seek(SeekFrom::Start(at)).is_err() || mem.read_exact(&mut chunk[..len]).is_err() {
                break;
            }
            // Overlapping reads would find a copy that straddles two chunks.
            found += chunk[..len]
                .windows(LEN - SKIP)
                .filter(|w| w.iter().enumerate().all(|(i, &b)| b == secret_byte(SKIP + i)))
                .count();
            at += (len.saturating_sub(LEN) as u64).max(1);
        }
    }
    found
}

#[test]
fn secrets_are_zeroed_when_dropped_also_after_crossing_the_ipc_frames() {
    assert_eq!(copies_in_memory(), 0, "no copy before it is made");

    let secret = make_secret();
    let copy = secret.clone();
    assert!(copies_in_memory() >= 2, "the search finds live secrets");
    drop((secret, copy));
    assert_eq!(copies_in_memory(), 0, "a dropped Secret and its clone leave no copy");

    // The way a credential travels between the helper and the daemon.
    let credential = Credential {
        protocol: Some("https".into()),
        host: Some("example.com".into()),
        password: Some(make_secret()),
        ..Credential::default()
    };
    let request = Request::Store { credential };
    let mut wire = Zeroizing::new(Vec::new());
    frame::encode(&request, &mut wire).unwrap();
    let decoded: Request = frame::read_sync(&wire[..]).unwrap();
    assert_eq!(decoded, request);
    assert!(copies_in_memory() >= 3, "the search finds the frame's copies");
    drop((request, decoded, wire));
    assert_eq!(copies_in_memory(), 0, "nothing of the frames is left");
}
