//! In-process micro-benchmarks of the warm `get` path's own work: git's protocol, the IPC
//! frames, and the lookup of a stored credential among few and many. Not part of `cargo test`:
//!
//! ```sh
//! cargo bench --bench micro
//! ```

#![allow(clippy::unwrap_used, reason = "a benchmark: a failed step should stop it at once")]

#[path = "../tests/support/mod.rs"]
mod support;

use divan::{Bencher, black_box};
use git_credential_azdo::config::StoreChoice;
use git_credential_azdo::git::{Capabilities, Credential};
use git_credential_azdo::identity::MachineSources;
use git_credential_azdo::ipc::{Request, Response, frame};
use git_credential_azdo::store::CredentialStore;

fn main() {
    divan::main();
}

/// What git sends for a fetch from Azure DevOps.
const REQUEST: &str = "capability[]=authtype\nprotocol=https\nhost=dev.azure.com\npath=contoso/project/_git/repo\n\
                       username=alice@contoso.com\nwwwauth[]=Bearer authorization_uri=https://login.microsoftonline.com/x\n\n";

fn answer() -> Credential {
    let mut credential = Credential::read(REQUEST.as_bytes()).unwrap();
    credential.password = Some("eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.".repeat(40).into());
    credential.password_expiry_utc = Some(1_795_303_938);
    credential
}

mod codec {
    use super::{Bencher, Capabilities, Credential, REQUEST, answer, black_box};

    #[divan::bench]
    fn read_request() -> Credential {
        Credential::read(black_box(REQUEST.as_bytes())).unwrap()
    }

    #[divan::bench]
    fn write_response(bencher: Bencher) {
        let answer = answer();
        let caps = Capabilities { authtype: true, state: false };
        bencher.bench_local(|| {
            let mut out = Vec::with_capacity(2048);
            answer.write_response(black_box(caps), &mut out).unwrap();
            out
        });
    }
}

mod frames {
    use super::{Bencher, Credential, MachineSources, REQUEST, Request, Response, answer, black_box, frame};

    fn get_request() -> Request {
        Request::Get {
            credential: Credential::read(REQUEST.as_bytes()).unwrap(),
            machine: MachineSources::default(),
            budget_ms: None,
        }
    }

    #[divan::bench]
    fn encode_request(bencher: Bencher) {
        let request = get_request();
        bencher.bench_local(|| {
            let mut out = Vec::with_capacity(1024);
            frame::encode(black_box(&request), &mut out).unwrap();
            out
        });
    }

    #[divan::bench]
    fn decode_request(bencher: Bencher) {
        let mut bytes = Vec::new();
        frame::encode(&get_request(), &mut bytes).unwrap();
        bencher.bench_local(|| frame::read_sync::<Request>(black_box(&bytes[..])).unwrap());
    }

    #[divan::bench]
    fn decode_response(bencher: Bencher) {
        let mut bytes = Vec::new();
        frame::encode(&Response::Credential { credential: Some(answer()), miss: None }, &mut bytes).unwrap();
        bencher.bench_local(|| frame::read_sync::<Response>(black_box(&bytes[..])).unwrap());
    }
}

/// A store that keeps `n` credentials, `host-{i}.example.com`, in the owner-only files.
fn store_of(n: usize) -> (tempfile::TempDir, CredentialStore) {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = CredentialStore::open(&state, StoreChoice::File).unwrap();
    let first = "protocol=https\nhost=host-0.example.com\nusername=user0\npassword=password-0\n\n";
    store.store(&Credential::read(first.as_bytes()).unwrap()).unwrap();
    support::scale::grow_credentials(&state, n);
    (dir, CredentialStore::open(&state, StoreChoice::File).unwrap())
}

/// The daemon's lookup of a stored credential once it has read the files: it still checks on
/// each request that the host's file is the one it read.
#[divan::bench(args = [10, 10_000])]
fn lookup_stored(bencher: Bencher, n: usize) {
    let (_dir, store) = store_of(n);
    let request = Credential::read(format!("protocol=https\nhost=host-{}.example.com\n\n", n / 2).as_bytes()).unwrap();
    assert!(store.get(&request).unwrap().is_some());
    bencher.bench_local(|| store.get(black_box(&request)).unwrap());
}

/// The first lookup after the files changed: the host's file and the secret's are read.
#[divan::bench(args = [10, 10_000], sample_count = 20)]
fn lookup_stored_cold(bencher: Bencher, n: usize) {
    let request = Credential::read(format!("protocol=https\nhost=host-{}.example.com\n\n", n / 2).as_bytes()).unwrap();
    bencher.with_inputs(|| store_of(n)).bench_local_values(|(_dir, store)| store.get(black_box(&request)).unwrap());
}

/// git's `store` of the credential it just used, kept already: nothing is written.
#[divan::bench(args = [10, 10_000])]
fn store_unchanged(bencher: Bencher, n: usize) {
    let (_dir, store) = store_of(n);
    let host = n / 2;
    let request = Credential::read(
        format!("protocol=https\nhost=host-{host}.example.com\nusername=user0\npassword=password-0\n\n").as_bytes(),
    )
    .unwrap();
    store.store(&request).unwrap();
    bencher.bench_local(|| store.store(black_box(&request)).unwrap());
}

/// A `store` of a new password: the host's file and the secret's are written (and synced).
#[divan::bench(args = [10, 10_000], sample_count = 50)]
fn store_changed(bencher: Bencher, n: usize) {
    let (_dir, store) = store_of(n);
    let host = n / 2;
    let mut round = 0_u64;
    bencher.bench_local(|| {
        round += 1;
        let request = format!("protocol=https\nhost=host-{host}.example.com\nusername=user0\npassword=p{round}\n\n");
        store.store(&Credential::read(request.as_bytes()).unwrap()).unwrap();
    });
}
