//! State files as thousands of sign-ins and stored credentials would leave them, for the
//! benchmarks: copies of one real entry, made by the program itself, so that nothing here
//! needs to know more of the files' format than where the entries are.

use std::path::Path;

use serde_json::Value;

fn read(state: &Path, name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(state.join(name)).unwrap()).unwrap()
}

fn write(state: &Path, name: &str, value: &Value) {
    std::fs::write(state.join(name), serde_json::to_vec(value).unwrap()).unwrap();
}

/// Copies the first account in `accounts.json`, and its refresh token in the secrets file,
/// until there are `accounts`, each bound to an organization of its own.
pub fn grow_accounts(state: &Path, accounts: usize) {
    let (mut file, mut secret_file) = (read(state, "accounts.json"), read(state, "secrets.json"));
    let secrets = secret_file["secrets"].as_object_mut().unwrap();
    let list = file["accounts"].as_array_mut().unwrap();
    let first = list[0].clone();
    let tenant = first["tenant_id"].as_str().unwrap().to_owned();
    let refresh_token = secrets[&format!("entra:{}", first["id"].as_str().unwrap())].clone();
    for i in list.len()..accounts {
        let mut account = first.clone();
        let id = format!("{i:08x}-0000-4000-8000-000000000000.{tenant}");
        account["id"] = id.clone().into();
        account["username"] = format!("user{i}@contoso.com").into();
        account["organizations"] = serde_json::json!([format!("org{i}")]);
        secrets.insert(format!("entra:{id}"), refresh_token.clone());
        list.push(account);
    }
    assert_eq!(file["accounts"].as_array().unwrap().len(), accounts.max(1));
    write(state, "accounts.json", &file);
    write(state, "secrets.json", &secret_file);
}

/// Copies the stored credential for `host-0.example.com`, and its secret, to
/// `host-{i}.example.com` until `credentials.json` has `stored` credentials.
pub fn grow_credentials(state: &Path, stored: usize) {
    let (mut file, mut secret_file) = (read(state, "credentials.json"), read(state, "secrets.json"));
    let secrets = secret_file["secrets"].as_object_mut().unwrap();
    let list = file["credentials"].as_array_mut().unwrap();
    let first = list.iter().find(|c| c["host"] == "host-0.example.com").unwrap().clone();
    let key = secrets.keys().find(|k| k.contains("@host-0.example.com/")).unwrap().clone();
    let secret = secrets[&key].clone();
    for i in list.len()..stored {
        let host = format!("host-{i}.example.com");
        let mut credential = first.clone();
        credential["host"] = host.clone().into();
        secrets.insert(key.replace("host-0.example.com", &host), secret.clone());
        list.push(credential);
    }
    assert_eq!(file["credentials"].as_array().unwrap().len(), stored.max(1));
    write(state, "credentials.json", &file);
    write(state, "secrets.json", &secret_file);
}
