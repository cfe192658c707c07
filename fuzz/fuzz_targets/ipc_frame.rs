//! The daemon's frame decoder: whatever a local process sends on the socket, decoding never
//! panics nor allocates past the frame limit, and what decodes re-encodes to the same message.
#![no_main]

use git_credential_azdo::ipc::{Hello, Request, Response, frame};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = frame::read_sync::<Hello>(data);
    let _ = frame::read_sync::<Response>(data);
    let mut reader = data;
    while let Ok(request) = frame::read_sync::<Request>(&mut reader) {
        let mut bytes = Vec::new();
        frame::encode(&request, &mut bytes).expect("a decoded request encodes");
        assert_eq!(frame::read_sync::<Request>(&bytes[..]).expect("and decodes again"), request);
    }
});
