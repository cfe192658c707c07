//! What Entra ID and Azure DevOps send back: error bodies, id tokens, `WWW-Authenticate`
//! headers. Never a panic; an Entra error is shown on one line without control characters.
#![no_main]

use git_credential_azdo::azdo;
use git_credential_azdo::entra::{EntraErrorBody, Identity};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<EntraErrorBody>(data) {
        let shown = body.to_string();
        assert!(!shown.chars().any(char::is_control), "a control character reaches the terminal: {shown:?}");
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Identity::from_id_token(text);
    let headers: Vec<String> = text.lines().map(str::to_owned).collect();
    let _ = azdo::tenant_from_wwwauth(&headers);
    let shown = git_credential_azdo::entra::printable(text, 300);
    assert!(!shown.chars().any(char::is_control));
});
