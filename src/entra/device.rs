//! Device code sign-in, for machines without a usable browser: the user enters a short code
//! on another device while we poll Entra (oauth2 polls at the interval Entra asks for, and
//! slows down when told to).

use std::time::Duration;

use oauth2::{Scope, StandardDeviceAuthorizationResponse};

use super::{Entra, EntraError, Tokens, printable, scopes};

/// A device code waiting to be entered.
#[derive(Debug)]
pub struct DeviceCode {
    /// Where to enter the code; checked to be an https URL, without control characters.
    pub verification_uri: String,
    /// The code to enter, without control characters.
    pub user_code: String,
    /// How long the code stays valid.
    pub expires_in: Duration,
    details: StandardDeviceAuthorizationResponse,
    tenant: String,
    /// The `claims` parameter, sent again with each poll.
    claims: String,
}

impl Entra {
    /// Asks Entra for a device code for `tenant`, with the claims of a challenge to satisfy
    /// when there is one.
    pub async fn start_device_sign_in(&self, tenant: &str, challenge: Option<&str>) -> Result<DeviceCode, EntraError> {
        let client = self.oauth_client(tenant)?;
        let claims = super::claims::request_claims(challenge);
        let result = client
            .exchange_device_code()
            .add_scopes(scopes().into_iter().map(Scope::new))
            .add_extra_param("claims", claims.clone())
            .request_async(&self.http)
            .await;
        let last = self.http.take_last_error();
        let details: StandardDeviceAuthorizationResponse = match result {
            Ok(details) => details,
            Err(oauth2::RequestTokenError::Request(e)) => return Err(EntraError::Unreachable(e.to_string())),
            Err(other) => return Err(super::error_from(last, &other)),
        };
        let verification_uri = details.verification_uri().as_str();
        // The page is shown to the user to type in: it must be a plain web address.
        if !(verification_uri.starts_with("https://") || verification_uri.starts_with("http://")) {
            return Err(EntraError::Malformed("the verification address is not a web address".into()));
        }
        Ok(DeviceCode {
            verification_uri: printable(verification_uri, 200),
            user_code: printable(details.user_code().secret(), 32),
            expires_in: details.expires_in(),
            details,
            tenant: tenant.to_owned(),
            claims,
        })
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
        let result = tokio::time::timeout(limit + Duration::from_secs(5), polled).await;
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
