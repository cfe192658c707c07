//! State files as thousands of sign-ins and stored credentials would leave them, for the
//! benchmarks: copies of one real entry, made by the program itself, so that nothing here
//! needs to know more of the files' format than where the entries are.

use std::path::Path;

use git_credential_azdo::store::file_name_for;
use serde_json::Value;

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn write(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec(value).unwrap()).unwrap();
}

/// The file that keeps the secret `key`, as the program wrote it.
fn secret_file(state: &Path, key: &str) -> Value {
    read(&state.join("secrets").join(file_name_for(key)))
}

/// Writes the secret `key` with the value of `like`'s.
fn copy_secret(state: &Path, like: &Value, key: &str) {
    let mut file = like.clone();
    file["key"] = key.into();
    write(&state.join("secrets").join(file_name_for(key)), &file);
}

/// Copies the first account in `accounts.json`, and its refresh token, until there are
/// `accounts`, each bound to an organization of its own.
pub fn grow_accounts(state: &Path, accounts: usize) {
    let mut file = read(&state.join("accounts.json"));
    let list = file["accounts"].as_array_mut().unwrap();
    let first = list[0].clone();
    let tenant = first["tenant_id"].as_str().unwrap().to_owned();
    let refresh_token = secret_file(state, &format!("entra:{}", first["id"].as_str().unwrap()));
    for i in list.len()..accounts {
        let mut account = first.clone();
        let id = format!("{i:08x}-0000-4000-8000-000000000000.{tenant}");
        account["id"] = id.clone().into();
        account["username"] = format!("user{i}@contoso.com").into();
        account["organizations"] = serde_json::json!([format!("org{i}")]);
        copy_secret(state, &refresh_token, &format!("entra:{id}"));
        list.push(account);
    }
    assert_eq!(file["accounts"].as_array().unwrap().len(), accounts.max(1));
    write(&state.join("accounts.json"), &file);
}

/// Copies the stored credential for `host-0.example.com`, and its secret, to
/// `host-{i}.example.com` until `stored` hosts have one.
pub fn grow_credentials(state: &Path, stored: usize) {
    let dir = state.join("credentials");
    let host_file = |host: &str| dir.join(file_name_for(&format!("https\0{host}")));
    let first = read(&host_file("host-0.example.com"));
    let user = first["credentials"][0]["username"].as_str().unwrap().to_owned();
    let secret = secret_file(state, &format!("git:https://{user}@host-0.example.com/"));
    let existing = std::fs::read_dir(&dir).unwrap().count();
    for i in existing..stored {
        let host = format!("host-{i}.example.com");
        let mut file = first.clone();
        file["host"] = host.clone().into();
        file["credentials"][0]["host"] = host.clone().into();
        write(&host_file(&host), &file);
        copy_secret(state, &secret, &format!("git:https://{user}@{host}/"));
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), stored.max(1));
}
