//! URLs as users and git give them: which organization or collection a URL names, how a
//! request is classified. Never a panic, and no error echoes a password the URL carried.
#![no_main]

use git_credential_azdo::azdo::{self, Collection, Scope, Services};
use git_credential_azdo::git::Credential;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let services = Services::new(&url::Url::parse("https://dev.azure.com").unwrap());
    // The URL's userinfo password in the form it takes there, `:{password}@`, written once: an
    // error must not show it so. (The same characters elsewhere, in a host or a path, are not a
    // credential and may be shown.)
    let password = url::Url::parse(text.trim())
        .ok()
        .and_then(|u| u.password().map(|p| format!(":{p}@")))
        .filter(|p| text.matches(p.as_str()).count() == 1);
    for error in [Scope::from_url(&services, text).err(), Collection::parse(text).err()].into_iter().flatten() {
        if let Some(password) = &password {
            assert!(!error.contains(password.as_str()), "an error echoed the password: {error}");
        }
    }
    let _ = azdo::organization_name(text);
    let _ = azdo::tenant_name(text);

    // The same text as the fields of a request git sends.
    let mut fields = text.splitn(3, '\n');
    let request = Credential {
        protocol: fields.next().map(str::to_owned),
        host: fields.next().map(str::to_owned),
        path: fields.next().map(str::to_owned),
        ..Credential::default()
    };
    let _ = services.classify(&request);
    if let Ok(Scope::Collection(collection)) = Scope::from_url(&services, "https://tfs.example.com/tfs/Default") {
        let _ = collection.matches(&request);
    }
});
