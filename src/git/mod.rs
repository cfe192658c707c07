//! Git's side: the credential protocol codec and the `get`/`store`/`erase` helper actions.

mod codec;
pub mod helper;

pub use codec::{Capabilities, Credential, KNOWN_KEYS, MAX_LINE, MAX_REQUEST, ProtocolError};
