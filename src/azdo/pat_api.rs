//! Azure DevOps's PAT lifecycle management API: create, list and revoke a user's personal access
//! tokens for one organization, with that user's Entra token.
//!
//! Facts from Microsoft's REST specification (`MicrosoftDocs/vsts-rest-api-specs`,
//! `specification/tokens/7.1/tokens.json` and its `httpExamples/Pats`) and "Manage personal
//! access tokens using API" (`azure-devops-docs`):
//! - `{vssps}/{organization}/_apis/tokens/pats?api-version=7.1-preview.1` on the identity
//!   service's host (`https://vssps.dev.azure.com`); `POST` creates (a `PatTokenCreateRequest`:
//!   `displayName`, `scope` as space-separated `vso.*` names, `validTo`, `allOrgs`), `GET` lists a
//!   page (`displayFilterOption`, `sortByOption`, `isSortAscending`, `$top` of at most 100,
//!   `continuationToken`: "subsequent calls require the same filtering options"), `DELETE`
//!   with `authorizationId` revokes.
//! - Create answers a `PatTokenResult`: `patToken` (with its `token`, shown this once) and
//!   `patTokenError`, `none` on success, else why (`fullScopePatPolicyViolation`,
//!   `patLifespanPolicyViolation`, `invalidScope`, ...): on a 200 as the specification has it,
//!   or on an error status as some deployments answer; both are read.
//! - Only an Entra token of a user is accepted: not a PAT, not a service principal's or a managed
//!   identity's token ("Service principals are not allowed to perform this action",
//!   `InvalidAccessException`), and the API is for users of an Entra tenant (not personal
//!   Microsoft accounts).
//!
//! The friendly scope names ([`SCOPES`]) follow Microsoft's scope table
//! (`azure-devops-docs/docs/integrate/includes/scopes.md`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The API version this client speaks.
pub const API_VERSION: &str = "7.1-preview.1";
/// The most PATs one page may hold (the API's limit).
const PAGE_SIZE: u32 = 100;
/// A list longer than this many pages is not followed further: the server is not sane.
const MAX_PAGES: usize = 200;
/// One call, from connect to the last byte.
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// A whole list, all its pages: a server that answers every page just in time is not
/// followed for the hours its pages would add up to.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);
/// Azure DevOps's longest PAT lifetime.
pub const MAX_DAYS: u32 = 365;

/// A friendly scope name, Azure DevOps's name for it, and what the web page calls it.
pub const SCOPES: &[(&str, &str, &str)] = &[
    ("code:read", "vso.code", "Code (read)"),
    ("code:write", "vso.code_write", "Code (read and write)"),
    ("code:manage", "vso.code_manage", "Code (read, write, and manage)"),
    ("code:full", "vso.code_full", "Code (full)"),
    ("code:status", "vso.code_status", "Code (status)"),
    ("work:read", "vso.work", "Work items (read)"),
    ("work:write", "vso.work_write", "Work items (read and write)"),
    ("work:full", "vso.work_full", "Work items (full)"),
    ("build:read", "vso.build", "Build (read)"),
    ("build:execute", "vso.build_execute", "Build (read and execute)"),
    ("release:read", "vso.release", "Release (read)"),
    ("release:execute", "vso.release_execute", "Release (read, write and execute)"),
    ("release:manage", "vso.release_manage", "Release (read, write, execute and manage)"),
    ("packaging:read", "vso.packaging", "Packaging (read)"),
    ("packaging:write", "vso.packaging_write", "Packaging (read and write)"),
    ("packaging:manage", "vso.packaging_manage", "Packaging (read, write, and manage)"),
    ("project:read", "vso.project", "Project and team (read)"),
    ("project:write", "vso.project_write", "Project and team (read and write)"),
    ("project:manage", "vso.project_manage", "Project and team (read, write and manage)"),
    ("wiki:read", "vso.wiki", "Wiki (read)"),
    ("wiki:write", "vso.wiki_write", "Wiki (read and write)"),
    ("test:read", "vso.test", "Test management (read)"),
    ("test:write", "vso.test_write", "Test management (read and write)"),
    ("threads:full", "vso.threads_full", "PR threads"),
    ("analytics:read", "vso.analytics", "Analytics (read)"),
    ("graph:read", "vso.graph", "Graph (read)"),
    ("identity:read", "vso.identity", "Identity (read)"),
    ("profile:read", "vso.profile", "User profile (read)"),
    ("agentpools:read", "vso.agentpools", "Agent Pools (read)"),
    ("agentpools:manage", "vso.agentpools_manage", "Agent Pools (read, manage)"),
    ("serviceendpoint:read", "vso.serviceendpoint", "Service Endpoints (read)"),
    ("serviceendpoint:query", "vso.serviceendpoint_query", "Service Endpoints (read and query)"),
    ("serviceendpoint:manage", "vso.serviceendpoint_manage", "Service Endpoints (read, query and manage)"),
    ("variablegroups:read", "vso.variablegroups_read", "Variable Groups (read)"),
    ("variablegroups:write", "vso.variablegroups_write", "Variable Groups (read, create)"),
    ("variablegroups:manage", "vso.variablegroups_manage", "Variable Groups (read, create and manage)"),
    ("securefiles:read", "vso.securefiles_read", "Secure Files (read)"),
    ("securefiles:write", "vso.securefiles_write", "Secure Files (read, create)"),
    ("securefiles:manage", "vso.securefiles_manage", "Secure Files (read, create, and manage)"),
    ("symbols:read", "vso.symbols", "Symbols (read)"),
    ("symbols:write", "vso.symbols_write", "Symbols (read and write)"),
    ("symbols:manage", "vso.symbols_manage", "Symbols (read, write and manage)"),
    ("taskgroups:read", "vso.taskgroups_read", "Task Groups (read)"),
    ("taskgroups:write", "vso.taskgroups_write", "Task Groups (read, create)"),
    ("taskgroups:manage", "vso.taskgroups_manage", "Task Groups (read, create and manage)"),
];

/// Azure DevOps's scope names for what the user typed: friendly names ([`SCOPES`]) or raw
/// `vso.*` names, several per argument when separated by commas or spaces; sorted, without
/// repeats. Full access (`app_token`) is not offered: a tool needs named scopes.
pub fn scopes(given: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for word in given.iter().flat_map(|g| g.split([',', ' '])).map(str::trim).filter(|w| !w.is_empty()) {
        let lower = word.to_ascii_lowercase();
        let name = if let Some((_, raw, _)) = SCOPES.iter().find(|(friendly, ..)| *friendly == lower) {
            (*raw).to_owned()
        } else if lower.starts_with("vso.")
            && lower.len() <= 64
            && lower[4..].starts_with(|c: char| c.is_ascii_lowercase())
            && lower.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
        {
            lower
        } else if lower == "app_token" || lower == "full" {
            return Err("PATs with full access are not made here: name the scopes the tool needs, as in \
                        --scope code:write"
                .to_owned());
        } else {
            let shown = crate::entra::printable(word, 64);
            return Err(format!(
                "{shown} is not a scope: use a name such as code:read, code:write, work:read, build:read, \
                 build:execute, release:read or packaging:read (see --help), or Azure DevOps's own (vso.code_write)"
            ));
        };
        if !out.contains(&name) {
            out.push(name);
        }
    }
    if out.is_empty() {
        return Err("say what the PAT may do: --scope code:write (repeatable)".to_owned());
    }
    out.sort();
    Ok(out)
}

/// `--scope`'s long help: every friendly name, Azure DevOps's name, and the web page's.
pub fn scope_help() -> String {
    use std::fmt::Write as _;
    let mut help = String::from(
        "What the PAT may do (repeatable, or comma-separated), by these names or by Azure DevOps's own (vso.*):\n",
    );
    for (friendly, raw, page) in SCOPES {
        let _ = writeln!(help, "  {friendly:<24}{raw:<28}{page}");
    }
    help.push_str("Full-access PATs are not made: name what the tool needs.");
    help
}

/// The friendly name of an Azure DevOps scope, or the scope itself.
pub fn friendly(scope: &str) -> &str {
    SCOPES.iter().find(|(_, raw, _)| *raw == scope).map_or(scope, |(friendly, ..)| friendly)
}

/// One PAT as the API describes it. Its value (`token`) is there only in the answer to a
/// create.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatToken {
    pub authorization_id: String,
    #[serde(default)]
    pub display_name: String,
    /// Space-separated `vso.*` names, or `app_token` for full access.
    #[serde(default)]
    pub scope: String,
    /// The organizations it is for; `None` for all the user's organizations.
    #[serde(default)]
    pub target_accounts: Option<Vec<String>>,
    #[serde(default)]
    pub valid_from: Option<String>,
    #[serde(default)]
    pub valid_to: Option<String>,
    #[serde(default)]
    pub token: Option<Secret>,
}

impl PatToken {
    /// When it lapses, Unix seconds.
    pub fn valid_to_unix(&self) -> Option<u64> {
        self.valid_to.as_deref().and_then(parse_time)
    }
}

/// A time as the API writes it: RFC 3339 (`2020-12-01T23:46:23.32Z`), or without a zone,
/// which is UTC.
pub fn parse_time(text: &str) -> Option<u64> {
    let seconds = match chrono::DateTime::parse_from_rfc3339(text) {
        Ok(time) => time.timestamp(),
        Err(_) => chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").ok()?.and_utc().timestamp(),
    };
    u64::try_from(seconds).ok()
}

/// Why a call did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum PatApiError {
    /// The API's own refusal: a `patTokenError` value (`fullScopePatPolicyViolation`, ...).
    #[error("Azure DevOps refused it ({0})")]
    Refused(String),
    /// The Entra token was not accepted: 401, a redirect or the sign-in page.
    #[error("Azure DevOps did not accept the token (HTTP {0})")]
    Unauthorized(u16),
    /// Another error status, with Azure DevOps's message when it gave one.
    #[error("Azure DevOps answered HTTP {status}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status { status: u16, message: Option<String> },
    #[error("{0}")]
    Unreachable(String),
    /// An answer that is not the API's.
    #[error("Azure DevOps answered {0}")]
    BadAnswer(String),
}

/// The API for one organization, at the identity service's `base` URL. The token is sent
/// nowhere else.
#[derive(Debug)]
pub struct PatApi {
    http: reqwest::Client,
    /// `{vssps}/{organization}/_apis/tokens/pats`
    endpoint: url::Url,
}

/// Which PATs a list asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Neither revoked nor expired.
    Active,
    All,
}

impl PatApi {
    /// `organization` must be a plain name ([`super::organization_name`]): it becomes a path
    /// segment.
    pub fn new(base: &url::Url, organization: &str) -> Result<Self, String> {
        let name = super::organization_name(organization).ok_or_else(|| format!("{organization} is not a name"))?;
        let text = format!("{}/{name}/_apis/tokens/pats", base.as_str().trim_end_matches('/'));
        let endpoint = url::Url::parse(&text).map_err(|e| format!("{text}: {e}"))?;
        Ok(Self { http: crate::net::client_for(endpoint.as_str()), endpoint })
    }

    /// Where the calls go, for messages.
    pub fn endpoint(&self) -> &url::Url {
        &self.endpoint
    }

    fn url(&self, query: &[(&str, &str)]) -> url::Url {
        let mut url = self.endpoint.clone();
        {
            let mut pairs = url.query_pairs_mut();
            for (key, value) in query {
                pairs.append_pair(key, value);
            }
            pairs.append_pair("api-version", API_VERSION);
        }
        url
    }

    async fn call(
        &self,
        request: reqwest::RequestBuilder,
        token: &Secret,
    ) -> Result<(u16, bool, Vec<u8>), PatApiError> {
        let mut authorization = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.expose()))
            .map_err(|_| PatApiError::Unreachable("the token cannot be sent in a header".into()))?;
        authorization.set_sensitive(true);
        let response = request
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header(reqwest::header::ACCEPT, "application/json")
            .header("X-TFS-FedAuthRedirect", "Suppress")
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| PatApiError::Unreachable(crate::entra::describe_http_error(&e)))?;
        let status = response.status().as_u16();
        let json = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("application/json"));
        let body = crate::entra::read_body(response).await.map_err(|e| PatApiError::Unreachable(e.to_string()))?;
        Ok((status, json, body))
    }

    /// Creates a PAT for this organization only (`allOrgs` false), valid until `valid_to`
    /// (Unix seconds), with `scopes` (Azure DevOps's names). The answer holds its value.
    pub async fn create(
        &self,
        token: &Secret,
        name: &str,
        scopes: &[String],
        valid_to: u64,
    ) -> Result<PatToken, PatApiError> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Create<'a> {
            display_name: &'a str,
            scope: String,
            valid_to: String,
            all_orgs: bool,
        }
        let valid_to = chrono::DateTime::from_timestamp(i64::try_from(valid_to).unwrap_or(i64::MAX), 0)
            .ok_or_else(|| PatApiError::BadAnswer("an expiry out of range".into()))?
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let body = Create { display_name: name, scope: scopes.join(" "), valid_to, all_orgs: false };
        let (status, json, body) = self.call(self.http.post(self.url(&[])).json(&body), token).await?;
        let pat = pat_result(status, json, &body)?;
        let Some(value) = pat.token.as_ref().filter(|t| !t.expose().is_empty()) else {
            return Err(PatApiError::BadAnswer("a new PAT without its value".into()));
        };
        // Printed to a terminal and perhaps kept for git, which takes no control character in
        // it: checked as every token from a server is.
        crate::entra::checks::check_token("its value", value.expose())
            .map_err(|reason| PatApiError::BadAnswer(format!("a new PAT that cannot be used ({reason})")))?;
        Ok(pat)
    }

    /// Every PAT of the user for this organization that `filter` selects, following the
    /// continuation tokens page by page with the same options.
    pub async fn list(&self, token: &Secret, filter: Filter) -> Result<Vec<PatToken>, PatApiError> {
        tokio::time::timeout(LIST_TIMEOUT, self.list_pages(token, filter)).await.unwrap_or_else(|_| {
            Err(PatApiError::Unreachable(format!("the list did not end within {} s", LIST_TIMEOUT.as_secs())))
        })
    }

    async fn list_pages(&self, token: &Secret, filter: Filter) -> Result<Vec<PatToken>, PatApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Page {
            #[serde(default)]
            continuation_token: Option<String>,
            #[serde(default)]
            pat_tokens: Vec<PatToken>,
        }
        let filter = match filter {
            Filter::Active => "active",
            Filter::All => "all",
        };
        let top = PAGE_SIZE.to_string();
        let mut all = Vec::new();
        let mut seen = Vec::new();
        let mut continuation = String::new();
        for _ in 0..MAX_PAGES {
            let mut query = vec![
                ("displayFilterOption", filter),
                ("sortByOption", "displayName"),
                ("isSortAscending", "true"),
                ("$top", top.as_str()),
            ];
            if !continuation.is_empty() {
                query.push(("continuationToken", continuation.as_str()));
            }
            let (status, json, body) = self.call(self.http.get(self.url(&query)), token).await?;
            check(status, json, &body)?;
            let page: Page = serde_json::from_slice(&body)
                .map_err(|e| PatApiError::BadAnswer(crate::secret::describe_json_error(&e)))?;
            all.extend(page.pat_tokens);
            match page.continuation_token.filter(|t| !t.is_empty()) {
                None => return Ok(all),
                Some(next) if seen.contains(&next) => {
                    return Err(PatApiError::BadAnswer("the same page again (a repeated continuation token)".into()));
                }
                Some(next) => {
                    seen.push(next.clone());
                    continuation = next;
                }
            }
        }
        Err(PatApiError::BadAnswer(format!("more than {MAX_PAGES} pages of PATs")))
    }

    /// Revokes the PAT `authorization_id` names.
    pub async fn revoke(&self, token: &Secret, authorization_id: &str) -> Result<(), PatApiError> {
        let url = self.url(&[("authorizationId", authorization_id)]);
        let (status, json, body) = self.call(self.http.delete(url), token).await?;
        // A body, if any, may carry the API's own refusal, whatever the status.
        if let Ok(result) = serde_json::from_slice::<PatTokenResult>(&body)
            && let Some(error) = result.error()
        {
            return Err(PatApiError::Refused(error));
        }
        check(status, json, &body)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatTokenResult {
    #[serde(default)]
    pat_token: Option<PatToken>,
    #[serde(default)]
    pat_token_error: Option<String>,
}

impl PatTokenResult {
    /// The API's refusal, when it names one: a plain word, shown as it is.
    fn error(&self) -> Option<String> {
        let error = self.pat_token_error.as_deref()?;
        if error.eq_ignore_ascii_case("none") {
            return None;
        }
        let plain = !error.is_empty() && error.len() <= 64 && error.chars().all(|c| c.is_ascii_alphanumeric());
        Some(if plain { error.to_owned() } else { "an unknown error".to_owned() })
    }
}

/// A create's answer: the PAT, or why not.
fn pat_result(status: u16, json: bool, body: &[u8]) -> Result<PatToken, PatApiError> {
    let parsed = serde_json::from_slice::<PatTokenResult>(body);
    // The API's refusal is the most precise answer, whatever the status.
    if let Ok(result) = &parsed
        && let Some(error) = result.error()
    {
        return Err(PatApiError::Refused(error));
    }
    check(status, json, body)?;
    let result = parsed.map_err(|e| PatApiError::BadAnswer(crate::secret::describe_json_error(&e)))?;
    result.pat_token.ok_or_else(|| PatApiError::BadAnswer("no patToken".into()))
}

/// A successful status with JSON, or the error it is.
fn check(status: u16, json: bool, body: &[u8]) -> Result<(), PatApiError> {
    match status {
        // 203 is the sign-in page Azure DevOps gives a credential it does not take.
        200..=299 if status != 203 && (json || body.is_empty()) => Ok(()),
        // Another page, a redirect (not followed: it is to the sign-in page), or a 401.
        200..=399 | 401 => Err(PatApiError::Unauthorized(status)),
        _ => Err(PatApiError::Status { status, message: vss_message(body) }),
    }
}

/// The message of Azure DevOps's error body (`{"message": ..., "typeKey": ...}`), made safe to
/// show.
fn vss_message(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct VssError {
        message: Option<String>,
    }
    let message = serde_json::from_slice::<VssError>(body).ok()?.message?;
    let message = crate::entra::printable(message.trim(), 300);
    (!message.is_empty()).then_some(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn friendly_and_raw_scope_names() {
        assert_eq!(scopes(&strings(&["code:write"])).unwrap(), ["vso.code_write"]);
        assert_eq!(
            scopes(&strings(&["Work:Read,build:read", "code:write", "vso.code_write", "vso.extension.data"])).unwrap(),
            ["vso.build", "vso.code_write", "vso.extension.data", "vso.work"]
        );
        assert!(scopes(&strings(&["code:writ"])).unwrap_err().contains("code:writ is not a scope"));
        assert!(scopes(&strings(&["vso.code&x=1"])).is_err(), "nothing that could change the request");
        assert!(scopes(&strings(&["app_token"])).unwrap_err().contains("full access"));
        assert!(scopes(&strings(&[" , "])).unwrap_err().contains("--scope"));
        assert_eq!(friendly("vso.code_write"), "code:write");
        assert_eq!(friendly("vso.custom"), "vso.custom");
        for (friendly_name, raw, _) in SCOPES {
            assert_eq!(scopes(&strings(&[friendly_name])).unwrap(), [*raw], "{friendly_name}");
            assert_eq!(friendly(raw), *friendly_name);
        }
    }

    /// A server that answers every page just inside the call's deadline, with yet another
    /// page to follow: the list ends at its own deadline, not after 200 such pages.
    #[tokio::test(start_paused = true)]
    async fn a_list_whose_pages_come_just_in_time_ends_by_its_deadline() {
        let pages = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let served = pages.clone();
        let app = axum::Router::new().fallback(move || {
            let served = served.clone();
            async move {
                tokio::time::sleep(CALL_TIMEOUT.saturating_sub(Duration::from_secs(1))).await;
                let n = served.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = format!(r#"{{"continuationToken":"page-{n}","patTokens":[]}}"#);
                ([(axum::http::header::CONTENT_TYPE, "application/json")], body)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });

        let api = PatApi::new(&base, "contoso").unwrap();
        let started = tokio::time::Instant::now();
        let error = api.list(&Secret::new("token"), Filter::Active).await.unwrap_err();
        assert!(error.to_string().contains("did not end within 60 s"), "{error}");
        assert!(started.elapsed() <= LIST_TIMEOUT + Duration::from_secs(1), "{:?}", started.elapsed());
        assert!(pages.load(std::sync::atomic::Ordering::SeqCst) < 10, "stopped following the pages");
    }

    #[test]
    fn times_as_the_api_writes_them() {
        assert_eq!(parse_time("2020-12-01T23:46:23.32Z"), Some(1_606_866_383));
        assert_eq!(parse_time("2020-11-23T04:04:38.5233333Z"), Some(1_606_104_278));
        assert_eq!(parse_time("2021-01-07T00:00:00"), Some(1_609_977_600), "no zone: UTC");
        assert_eq!(parse_time("soon"), None);
    }

    #[test]
    fn a_create_answer_is_the_pat_or_the_apis_refusal() {
        // The specification's example answer.
        let ok = br#"{"patToken":{"displayName":"new_token","validTo":"2020-12-01T23:46:23.32Z","scope":"app_token",
            "targetAccounts":["38aaa865-2c70-4bf7-a308-0c6539c38c1a"],"validFrom":"2020-11-02T22:56:52.1033333Z",
            "authorizationId":"4ab5764f-4193-4f1d-b995-64144880b7d7","token":"dip55dwf4vpitomw63jzvomefmi2jluguprzwwqwuc6xq4fhocwq"},
            "patTokenError":"none"}"#;
        let pat = pat_result(200, true, ok).unwrap();
        assert_eq!(pat.authorization_id, "4ab5764f-4193-4f1d-b995-64144880b7d7");
        assert_eq!(pat.valid_to_unix(), Some(1_606_866_383));
        assert!(!format!("{pat:?}").contains("dip55"), "the value is not in Debug");

        let refused = br#"{"patToken":null,"patTokenError":"fullScopePatPolicyViolation"}"#;
        for status in [200, 400, 403] {
            let error = pat_result(status, true, refused).unwrap_err();
            assert!(matches!(&error, PatApiError::Refused(e) if e == "fullScopePatPolicyViolation"), "{error:?}");
        }
        let hostile = br#"{"patToken":null,"patTokenError":"x\u001b[2Jy"}"#;
        assert!(matches!(pat_result(200, true, hostile), Err(PatApiError::Refused(e)) if e == "an unknown error"));
        assert!(matches!(pat_result(200, true, br#"{"patTokenError":"none"}"#), Err(PatApiError::BadAnswer(_))));
    }

    #[test]
    fn statuses_and_pages_that_are_not_the_apis() {
        assert!(matches!(check(203, false, b"<html>"), Err(PatApiError::Unauthorized(203))));
        assert!(matches!(check(203, true, b"{}"), Err(PatApiError::Unauthorized(203))), "203 is never an answer");
        assert!(matches!(check(203, false, b""), Err(PatApiError::Unauthorized(203))));
        assert!(matches!(check(200, false, b"<html>"), Err(PatApiError::Unauthorized(200))));
        assert!(matches!(check(302, false, b""), Err(PatApiError::Unauthorized(302))));
        assert!(matches!(check(401, true, b"{}"), Err(PatApiError::Unauthorized(401))));
        assert!(check(204, false, b"").is_ok());
        // What a service principal is told (a public trace, MicrosoftDocs/azure-docs#108847).
        let body = br#"{"$id":"1","innerException":null,"message":"Service principals are not allowed to perform this action.","typeName":"Microsoft.TeamFoundation.Framework.Server.InvalidAccessException, Microsoft.TeamFoundation.Framework.Server","typeKey":"InvalidAccessException","errorCode":0,"eventId":3000}"#;
        let error = check(403, true, body).unwrap_err();
        assert_eq!(
            error.to_string(),
            "Azure DevOps answered HTTP 403: Service principals are not allowed to perform this action."
        );
        assert_eq!(check(503, false, b"").unwrap_err().to_string(), "Azure DevOps answered HTTP 503");
    }

    #[test]
    fn the_endpoint_is_the_organizations_on_the_identity_service() {
        let base = url::Url::parse("https://vssps.dev.azure.com").unwrap();
        let api = PatApi::new(&base, "Contoso").unwrap();
        assert_eq!(api.endpoint().as_str(), "https://vssps.dev.azure.com/contoso/_apis/tokens/pats");
        assert_eq!(
            api.url(&[("authorizationId", "a&b")]).as_str(),
            "https://vssps.dev.azure.com/contoso/_apis/tokens/pats?authorizationId=a%26b&api-version=7.1-preview.1"
        );
        assert!(PatApi::new(&base, "evil.example/x").is_err());
    }
}
