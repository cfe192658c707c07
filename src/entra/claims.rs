//! Continuous access evaluation: the `claims` request parameter and claims challenges.
//!
//! Every user flow declares the client capability `cp1` (MSAL's `WithClientCapabilities`):
//! `claims={"access_token":{"xms_cc":{"values":["cp1"]}}}` on the authorize URL and on every
//! token and device-code request (MSAL Go `accesstokens.go` `addClaims`). A resource that
//! revokes a token answers `401` with
//! `WWW-Authenticate: Bearer ... error="insufficient_claims", claims="<base64 JSON>"`; the next
//! token request carries those claims merged with the capability (MSAL.NET `ClaimsHelper`,
//! MSAL Go `MergeCapabilitiesAndClaims`) and bypasses any cached token.

use base64::Engine as _;
use serde_json::Value;

/// The capabilities we declare, as the `claims` parameter.
pub const CAPABILITIES: &str = r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#;

/// The longest challenge we take: Entra's are a few hundred bytes.
const MAX_CHALLENGE: usize = 8 * 1024;

/// The `claims` parameter for a request: the capabilities, merged with `challenge` (a JSON
/// object) when there is one. Objects merge recursively; on any other conflict the challenge
/// wins (MSAL.NET `JsonHelper.Merge`), except that `xms_cc` keeps our capability too.
pub fn request_claims(challenge: Option<&str>) -> String {
    let Some(challenge) = challenge.and_then(|c| serde_json::from_str::<Value>(c).ok()) else {
        return CAPABILITIES.to_owned();
    };
    let mut merged: Value = serde_json::from_str(CAPABILITIES).unwrap_or_default();
    merge(&mut merged, challenge);
    // The capability must survive a challenge that names `xms_cc` itself.
    if let Some(values) = merged.pointer_mut("/access_token/xms_cc/values").and_then(Value::as_array_mut)
        && !values.iter().any(|v| v == "cp1")
    {
        values.push("cp1".into());
    }
    merged.to_string()
}

fn merge(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(into), Value::Object(from)) => {
            for (key, value) in from {
                match into.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        into.insert(key, value);
                    }
                }
            }
        }
        (Value::Array(into), Value::Array(from)) => {
            for value in from {
                if !into.contains(&value) {
                    into.push(value);
                }
            }
        }
        (into, from) => *into = from,
    }
}

/// The claims of an `insufficient_claims` challenge among git's `wwwauth[]` headers, as a
/// compact JSON object; `None` when there is none, or it is not one we can read (a challenge is
/// never echoed). Fields may come in any order, quoted or not; `errorDescription` is free text
/// with commas; the claims may be standard or URL-safe base64, padded or not (the Azure SDK for
/// Go decodes URL-safe unpadded, MSAL.NET standard padded).
pub fn challenge_from_wwwauth(headers: &[String]) -> Option<String> {
    headers.iter().find_map(|header| {
        let (scheme, rest) = header.trim().split_once(char::is_whitespace)?;
        if !scheme.eq_ignore_ascii_case("bearer") || header.len() > MAX_CHALLENGE {
            return None;
        }
        let params = auth_params(rest);
        let error = params.iter().find(|(k, _)| k.eq_ignore_ascii_case("error"))?;
        if !error.1.eq_ignore_ascii_case("insufficient_claims") {
            return None;
        }
        let claims = &params.iter().find(|(k, _)| k.eq_ignore_ascii_case("claims"))?.1;
        decode_claims(claims)
    })
}

/// Whether a `wwwauth[]` header is a claims challenge, whatever its claims: its
/// `authorization_uri` (usually `common`) says nothing about the organization's tenant.
pub fn is_claims_challenge(header: &str) -> bool {
    let Some((scheme, rest)) = header.trim().split_once(char::is_whitespace) else { return false };
    scheme.eq_ignore_ascii_case("bearer")
        && auth_params(rest)
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("error") && v.eq_ignore_ascii_case("insufficient_claims"))
}

/// `name=value` pairs of an HTTP auth challenge (RFC 9110 auth-param): values quoted (with
/// backslash escapes) or tokens, separated by commas.
pub fn auth_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && *c != ',' && !c.is_whitespace()) {
            name.push(c);
        }
        if name.is_empty() {
            return params;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next_if_eq(&'=').is_none() {
            continue;
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'"').is_some() {
            while let Some(c) = chars.next() {
                match c {
                    '"' => break,
                    '\\' => value.extend(chars.next()),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',' && !c.is_whitespace()) {
                value.push(c);
            }
        }
        params.push((name, value));
    }
}

/// base64 (either alphabet, padded or not) of a JSON object, as compact JSON.
fn decode_claims(text: &str) -> Option<String> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let trimmed = text.trim().trim_end_matches('=');
    let bytes = if trimmed.contains(['-', '_']) {
        URL_SAFE_NO_PAD.decode(trimmed).ok()?
    } else {
        STANDARD_NO_PAD.decode(trimmed).ok()?
    };
    match serde_json::from_slice::<Value>(&bytes).ok()? {
        object @ Value::Object(_) => Some(object.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// MSAL Go's table (`authority_test.go`, `TestMergeCapabilitiesAndClaims`), with our one
    /// capability; compared as JSON.
    #[test]
    fn capabilities_merge_with_challenges_as_msal_merges_them() {
        assert_eq!(json(&request_claims(None)), json(CAPABILITIES));
        let cases = [
            (
                r#"{"access_token":{"nbf":{"essential":true, "value":"42"}}}"#,
                r#"{"access_token":{"nbf":{"essential":true, "value":"42"}, "xms_cc":{"values":["cp1"]}}}"#,
            ),
            (
                r#"{"id_token":{"auth_time":{"essential":true}}}"#,
                r#"{"id_token":{"auth_time":{"essential":true}}, "access_token":{"xms_cc":{"values":["cp1"]}}}"#,
            ),
            (
                r#"{"id_token":{"auth_time":{"essential":true}},"access_token":{"nbf":{"essential":true, "value":"42"}}}"#,
                r#"{"id_token":{"auth_time":{"essential":true}},"access_token":{"nbf":{"essential":true, "value":"42"},"xms_cc":{"values":["cp1"]}}}"#,
            ),
            // MSAL.NET's claims-challenge document: the acrs challenge.
            (
                r#"{"access_token":{"acrs":{"essential":true,"value":"c25"}}}"#,
                r#"{"access_token":{"xms_cc":{"values":["cp1"]},"acrs":{"essential":true,"value":"c25"}}}"#,
            ),
            (
                r#"{"access_token":{"xms_cc":{"values":["cp2"]}}}"#,
                r#"{"access_token":{"xms_cc":{"values":["cp1","cp2"]}}}"#,
            ),
        ];
        for (challenge, expected) in cases {
            assert_eq!(json(&request_claims(Some(challenge))), json(expected), "{challenge}");
        }
        assert_eq!(json(&request_claims(Some("not json"))), json(CAPABILITIES), "a bad challenge is left out");
    }

    #[test]
    fn a_claims_challenge_is_read_in_any_encoding_and_order() {
        // Microsoft's continuous access evaluation document, standard base64 with padding.
        let documented = r#"Bearer authorization_uri="https://login.windows.net/common/oauth2/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZSwgInZhbHVlIjoiMTYwNDEwNjY1MSJ9fX0=""#;
        let expected = json(r#"{"access_token":{"nbf":{"essential":true,"value":"1604106651"}}}"#);
        let claims = challenge_from_wwwauth(&[documented.to_owned()]).unwrap();
        assert_eq!(json(&claims), expected);

        // The recorded Graph challenge's shape: realm, client_id and a free-text description
        // with commas before the claims; here URL-safe and unpadded, the claims first.
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"access_token":{"nbf":{"essential":true, "value":"1604106651"}}}"#);
        let graph = format!(
            "Bearer claims={encoded}, realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", \
             client_id=\"00000003-0000-0000-c000-000000000000\", errorDescription=\"Continuous access evaluation resulted in \
             challenge with result: InteractionRequired, and code: TokenIssuedBeforeRevocationTimestamp\", \
             error=\"insufficient_claims\""
        );
        let headers = vec!["Basic realm=\"x\"".to_owned(), graph.clone()];
        assert_eq!(json(&challenge_from_wwwauth(&headers).unwrap()), expected);
        assert!(is_claims_challenge(&graph) && !is_claims_challenge("Bearer authorization_uri=https://x/t"));
    }

    #[test]
    fn anything_else_is_no_challenge() {
        for header in [
            "Bearer authorization_uri=https://login.microsoftonline.com/t",
            r#"Bearer error="invalid_token", claims="eyJhIjoxfQ==""#,
            r#"Bearer error="insufficient_claims""#,
            r#"Bearer error="insufficient_claims", claims="not base64!""#,
            // Base64 of a JSON array and of plain text.
            r#"Bearer error="insufficient_claims", claims="WzFd""#,
            r#"Bearer error="insufficient_claims", claims="aGVsbG8=""#,
            r#"Basic error="insufficient_claims", claims="eyJhIjoxfQ==""#,
        ] {
            assert_eq!(challenge_from_wwwauth(&[header.to_owned()]), None, "{header}");
        }
    }

    #[test]
    fn auth_params_keep_commas_and_escapes_inside_quotes() {
        let params = auth_params(r#"realm="a, b", error=x ,desc="say \"hi\"", bare"#);
        let expected = [("realm", "a, b"), ("error", "x"), ("desc", r#"say "hi""#)];
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(params, expected);
    }
}
