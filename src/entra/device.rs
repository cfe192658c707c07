//! Device code sign-in, for machines without a usable browser: the user enters a short code
//! on another device while we poll Entra (oauth2 polls at the interval Entra asks for, and
//! slows down when told to).
//!
//! The device authorization request is ours rather than oauth2's: its answer's numbers are
//! read as Entra may send them (numbers or strings) and checked before oauth2 polls with them.

use std::time::Duration;

use oauth2::StandardDeviceAuthorizationResponse;
use serde::Deserialize;

use super::checks::{self, Number};
use super::{Entra, EntraError, Tokens, printable, scopes};

/// The longest a device code is waited for, whatever Entra says (it says 15 minutes).
const MAX_CODE_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// The polling interval when Entra names none (RFC 8628).
const DEFAULT_INTERVAL: u64 = 5;
/// The longest polling interval kept: the user is waiting.
const MAX_INTERVAL: u64 = 60;

/// A device code waiting to be entered.
#[derive(Debug)]
pub struct DeviceCode {
    /// Where to enter the code; checked to be an https URL, without control characters.
    pub verification_uri: String,
    /// The code to enter, without control characters.
    pub user_code: String,
    /// How long the code stays valid: at least a second, at most an hour.
    pub expires_in: Duration,
    details: StandardDeviceAuthorizationResponse,
    tenant: String,
    /// The `claims` parameter, sent again with each poll.
    claims: String,
}

/// The device authorization answer, as Entra sends it (shared/AZURE.md).
#[derive(Deserialize)]
struct DeviceAnswer {
    device_code: String,
    user_code: String,
    verification_uri: String,
    expires_in: Number,
    #[serde(default)]
    interval: Option<Number>,
}

impl Entra {
    /// Asks Entra for a device code for `tenant`, with the claims of a challenge to satisfy
    /// when there is one.
    pub async fn start_device_sign_in(&self, tenant: &str, challenge: Option<&str>) -> Result<DeviceCode, EntraError> {
        let url = self.endpoint(tenant, "devicecode")?;
        let claims = super::claims::request_claims(challenge);
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("scope", &scopes().join(" "))
            .append_pair("claims", &claims)
            .finish();
        let request = oauth2::http::Request::builder()
            .method(oauth2::http::Method::POST)
            .uri(url.as_str())
            .header(oauth2::http::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(oauth2::http::header::ACCEPT, "application/json")
            .body(form.into_bytes())
            .map_err(|e| EntraError::Malformed(format!("request: {e}")))?;
        let response = self.http.send(request).await.map_err(|e| super::request_error(&e));
        let last = self.http.take_last_error();
        let response = response?;
        if let Some(last) = last {
            return Err(super::error_of(last));
        }
        let answer: DeviceAnswer = serde_json::from_slice(response.body())
            .map_err(|e| EntraError::Malformed(crate::secret::describe_json_error(&e)))?;
        let mut code = device_code(answer, tenant).map_err(EntraError::Malformed)?;
        code.claims = claims;
        Ok(code)
    }

    /// Polls until the user has entered the code, declined, or `deadline` has passed.
    pub async fn finish_device_sign_in(&self, code: DeviceCode, deadline: Duration) -> Result<Tokens, EntraError> {
        let client = self.oauth_client(&code.tenant)?;
        let limit = deadline.min(code.expires_in);
        let polled = client
            .exchange_device_access_token(&code.details)
            .add_extra_param("claims", code.claims.clone())
            .add_extra_param("client_info", "1")
            .request_async(&self.http, tokio::time::sleep, Some(limit));
        let result = tokio::time::timeout(limit.saturating_add(Duration::from_secs(5)), polled).await;
        let Ok(result) = result else { return Err(EntraError::TimedOut(limit)) };
        match self.tokens(result) {
            // oauth2 gave up at the deadline while Entra was still waiting for the user.
            Err(EntraError::Refused(body)) if matches!(body.error.as_str(), "authorization_pending" | "slow_down") => {
                Err(EntraError::TimedOut(limit))
            }
            other => other,
        }
    }
}

/// The device code of `answer`, checked: a web address to show, a code that expires neither at
/// once nor later than [`MAX_CODE_LIFETIME`], a polling interval of 1 to [`MAX_INTERVAL`]
/// seconds (so that oauth2's "add 5 s on `slow_down`" stays small).
fn device_code(answer: DeviceAnswer, tenant: &str) -> Result<DeviceCode, String> {
    // The page is shown to the user to type in: it must be a plain web address.
    let verification_uri = answer.verification_uri;
    if !(verification_uri.starts_with("https://") || verification_uri.starts_with("http://")) {
        return Err("the verification address is not a web address".into());
    }
    checks::check_token("device_code", &answer.device_code)?;
    let expires_in = checks::lifetime("expires_in", answer.expires_in)?.min(MAX_CODE_LIFETIME);
    let interval = match answer.interval {
        None => DEFAULT_INTERVAL,
        Some(interval) => {
            let seconds = Duration::from_secs(1)..=Duration::from_secs(MAX_INTERVAL);
            checks::within("interval", interval, seconds)?.as_secs()
        }
    };
    // oauth2 polls with its own response type; it is built from the checked values only.
    let details: StandardDeviceAuthorizationResponse = serde_json::from_value(serde_json::json!({
        "device_code": answer.device_code,
        "user_code": answer.user_code,
        "verification_uri": verification_uri,
        "expires_in": expires_in.as_secs(),
        "interval": interval,
    }))
    .map_err(|e| format!("the device code: {}", crate::secret::describe_json_error(&e)))?;
    Ok(DeviceCode {
        verification_uri: printable(&verification_uri, 200),
        user_code: printable(&answer.user_code, 32),
        expires_in,
        details,
        tenant: tenant.to_owned(),
        claims: super::claims::CAPABILITIES.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(expires_in: &str, interval: Option<&str>) -> Result<DeviceCode, String> {
        let interval = interval.map(|i| format!(r#","interval":{i}"#)).unwrap_or_default();
        let json = format!(
            r#"{{"device_code":"DAQABAAEAAAD","user_code":"FAKECODE","verification_uri":"https://microsoft.com/devicelogin","expires_in":{expires_in}{interval}}}"#
        );
        let answer: DeviceAnswer = serde_json::from_str(&json).map_err(|e| e.to_string())?;
        device_code(answer, "organizations")
    }

    #[test]
    fn device_code_numbers_as_numbers_or_strings_are_checked_and_clamped() {
        let ok = code("900", Some("5")).unwrap();
        assert_eq!((ok.expires_in, ok.details.interval()), (Duration::from_secs(900), Duration::from_secs(5)));
        let strings = code(r#""900""#, Some(r#""5""#)).unwrap();
        assert_eq!(
            (strings.expires_in, strings.details.interval()),
            (Duration::from_secs(900), Duration::from_secs(5))
        );
        let defaults = code("900", None).unwrap();
        assert_eq!(defaults.details.interval(), Duration::from_secs(DEFAULT_INTERVAL));
        let huge = code("18446744073709551615", Some("18446744073709551615")).unwrap();
        assert_eq!(huge.expires_in, MAX_CODE_LIFETIME);
        assert_eq!(huge.details.expires_in(), MAX_CODE_LIFETIME, "oauth2 polls with the checked values");
        assert_eq!(huge.details.interval(), Duration::from_secs(MAX_INTERVAL), "slow_down's 5 s cannot overflow");
        assert_eq!(code("900", Some("0")).unwrap().details.interval(), Duration::from_secs(1));
        assert_eq!(code("900.7", Some("2.5")).unwrap().details.interval(), Duration::from_secs(2));
        for (expires_in, interval) in [("0", "5"), ("-1", "5"), ("1e400", "5"), ("900", "-1"), (r#""soon""#, "5")] {
            assert!(code(expires_in, Some(interval)).is_err(), "{expires_in} {interval}");
        }
    }

    #[test]
    fn a_device_code_that_is_not_printable_is_refused() {
        let json = r#"{"device_code":"a\r\nb","user_code":"C","verification_uri":"https://x","expires_in":900}"#;
        let answer: DeviceAnswer = serde_json::from_str(json).unwrap();
        assert!(device_code(answer, "t").unwrap_err().contains("device_code"));
        let json = r#"{"device_code":"d","user_code":"C","verification_uri":"javascript:alert(1)","expires_in":900}"#;
        let answer: DeviceAnswer = serde_json::from_str(json).unwrap();
        assert!(device_code(answer, "t").unwrap_err().contains("web address"));
    }
}
