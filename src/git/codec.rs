//! Git's credential-helper wire format: `key=value` lines, ended by a blank line or EOF.
//!
//! Reading is strict where git's security history says it must be (NUL and CR in values are
//! refused, lines are bounded, a line without `=` is an error that never echoes the line), and
//! lenient where git's documentation says helpers must be (unknown keys are ignored).
//! Writing refuses any value holding LF, CR or NUL, never writes `url=`, and writes
//! `authtype`/`credential`/`ephemeral` only to a request that announced `capability[]=authtype`.

use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The longest line accepted, without its line ending (git's own limit).
pub const MAX_LINE: usize = 65_535;
/// The longest request accepted, all lines together. git's requests are a few hundred bytes,
/// a few KiB with `wwwauth[]` headers (curl keeps at most 300 KiB of response headers); a
/// longer one is no request of git's, and would not fit an IPC frame once encoded.
pub const MAX_REQUEST: usize = 1 << 20;

/// What a request announced with `capability[]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// `capability[]=authtype`: the caller understands `authtype`, `credential` and `ephemeral`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub authtype: bool,
    /// `capability[]=state`: the caller keeps `state[]` and `continue` across rounds.
    #[serde(default, skip_serializing_if = "is_false")]
    pub state: bool,
}

/// One credential description, as git sends it to a helper or a helper answers.
///
/// Every attribute git 2.47 speaks is here. Unknown keys are dropped when read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Credential {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Host name, with `:port` when the URL had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `Some("")` is a real, empty username, distinct from no username.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Unix seconds after which the password is no longer valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_expiry_utc: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth_refresh_token: Option<Secret>,
    /// Each `WWW-Authenticate` header of the response that made git ask.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub wwwauth: Vec<String>,
    #[serde(skip_serializing_if = "is_default")]
    pub capabilities: Capabilities,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authtype: Option<String>,
    /// A complete `Authorization` value for `authtype` (e.g. a bearer token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential: Option<Secret>,
    /// The credential must not be stored.
    #[serde(skip_serializing_if = "is_false")]
    pub ephemeral: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub state: Vec<String>,
    /// Multi-round authentication continues (`continue=1`).
    #[serde(rename = "continue", skip_serializing_if = "is_false")]
    pub continue_: bool,
}

#[expect(clippy::trivially_copy_pass_by_ref, reason = "serde's skip_serializing_if passes a reference")]
fn is_false(value: &bool) -> bool {
    !*value
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// Why git's input could not be read, or a credential could not be written.
///
/// Messages name the line or key, never the value: a value may be a secret.
#[derive(Debug, thiserror::Error)]
pub enum ProtocolError {
    #[error("failed to read the credential request")]
    Io(#[from] std::io::Error),
    #[error("line {line} of the credential request is longer than {MAX_LINE} bytes")]
    LineTooLong { line: usize },
    #[error("the credential request is longer than {} KiB, more than git sends", MAX_REQUEST >> 10)]
    TooLong,
    #[error("line {line} of the credential request has no '='")]
    NoEquals { line: usize },
    #[error("line {line} of the credential request is not valid UTF-8")]
    InvalidUtf8 { line: usize },
    #[error("the value of {key} on line {line} contains a {what} character")]
    ForbiddenInInput { key: String, line: usize, what: &'static str },
    #[error("refusing to write '{key}': its value contains a {what} character")]
    ForbiddenInOutput { key: &'static str, what: &'static str },
}

impl Credential {
    /// Whether the request names both a protocol and a host. Without them a helper must answer
    /// nothing (CVE-2020-11008: a missing host must never act as a wildcard).
    pub fn has_protocol_and_host(&self) -> bool {
        self.protocol.as_deref().is_some_and(|p| !p.is_empty()) && self.host.as_deref().is_some_and(|h| !h.is_empty())
    }

    /// The secrets the credential presents: its password, its `credential`, and, for
    /// `authtype=Basic`, the password inside that credential (`base64(user:password)`, as a
    /// helper answers git 2.46 and later with it, and git hands it back to `store` and `erase`).
    pub fn secrets(&self) -> Vec<Secret> {
        let mut secrets: Vec<Secret> = [&self.password, &self.credential].into_iter().flatten().cloned().collect();
        if let Some(password) = self.basic_password() {
            secrets.push(password);
        }
        secrets
    }

    /// The password inside an `authtype=Basic` credential.
    pub fn basic_password(&self) -> Option<Secret> {
        use base64::Engine as _;
        if !self.authtype.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("basic")) {
            return None;
        }
        let decoded = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD.decode(self.credential.as_ref()?.expose()).ok()?,
        );
        let text = std::str::from_utf8(&decoded).ok()?;
        Some(Secret::new(text.split_once(':')?.1))
    }

    /// Reads one credential description, stopping at the first blank line or at EOF.
    pub fn read(mut input: impl BufRead) -> Result<Self, ProtocolError> {
        let mut credential = Self::default();
        let mut line = Vec::with_capacity(256);
        let mut total = 0_usize;
        for number in 1.. {
            line.clear();
            // Bounded read: the limit plus CR LF, so an endless line cannot exhaust memory.
            let limit = (MAX_LINE + 2) as u64;
            let read = std::io::Read::take(&mut input, limit).read_until(b'\n', &mut line)?;
            if read == 0 {
                break;
            }
            total += read;
            if total > MAX_REQUEST {
                return Err(ProtocolError::TooLong);
            }
            if line.last() == Some(&b'\n') {
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
            }
            if line.len() > MAX_LINE {
                return Err(ProtocolError::LineTooLong { line: number });
            }
            if line.is_empty() {
                break;
            }
            let text = std::str::from_utf8(&line).map_err(|_| ProtocolError::InvalidUtf8 { line: number })?;
            let (key, value) = text.split_once('=').ok_or(ProtocolError::NoEquals { line: number })?;
            if let Some(what) = forbidden_in_value(value) {
                return Err(ProtocolError::ForbiddenInInput { key: printable_key(key), line: number, what });
            }
            credential.apply(key, value);
        }
        Ok(credential)
    }

    fn apply(&mut self, key: &str, value: &str) {
        let text = || Some(value.to_owned());
        match key {
            "protocol" => self.protocol = text(),
            "host" => self.host = text(),
            "path" => self.path = text(),
            "username" => self.username = text(),
            "password" => self.password = Some(Secret::new(value)),
            // As git does: a value it cannot parse means "no expiry known".
            "password_expiry_utc" => self.password_expiry_utc = value.parse().ok().filter(|&t| t != 0),
            "oauth_refresh_token" => self.oauth_refresh_token = Some(Secret::new(value)),
            "wwwauth[]" => push_or_clear(&mut self.wwwauth, value),
            "capability[]" => match value {
                "authtype" => self.capabilities.authtype = true,
                "state" => self.capabilities.state = true,
                "" => self.capabilities = Capabilities::default(),
                _ => {}
            },
            "authtype" => self.authtype = text(),
            "credential" => self.credential = Some(Secret::new(value)),
            "ephemeral" => self.ephemeral = parse_bool(value),
            "state[]" => push_or_clear(&mut self.state, value),
            "continue" => self.continue_ = parse_bool(value),
            // Unknown keys, `url` and `quit` included, are not for a helper to act on.
            _ => {}
        }
    }

    /// Writes the credential as git writes a request to a helper (`credential_write` in git's
    /// credential.c), in git's order: `authtype`, `credential` and `ephemeral` only with
    /// `capability[]=authtype`, `continue` and `state[]` only with `capability[]=state`, each
    /// after its capability. Used by tests and tools.
    pub fn write_request(&self, output: impl Write) -> Result<(), ProtocolError> {
        let mut lines = Lines::default();
        if self.capabilities.authtype {
            lines.put("capability[]", "authtype")?;
        }
        if self.capabilities.state {
            lines.put("capability[]", "state")?;
        }
        if self.capabilities.authtype {
            lines.opt("authtype", self.authtype.as_deref())?;
            lines.opt("credential", self.credential.as_ref().map(Secret::expose))?;
            lines.flag("ephemeral", self.ephemeral)?;
        }
        lines.opt("protocol", self.protocol.as_deref())?;
        lines.opt("host", self.host.as_deref())?;
        lines.opt("path", self.path.as_deref())?;
        lines.opt("username", self.username.as_deref())?;
        lines.opt("password", self.password.as_ref().map(Secret::expose))?;
        lines.opt("oauth_refresh_token", self.oauth_refresh_token.as_ref().map(Secret::expose))?;
        lines.opt("password_expiry_utc", self.password_expiry_utc.map(|t| t.to_string()).as_deref())?;
        lines.list("wwwauth[]", &self.wwwauth)?;
        if self.capabilities.state {
            lines.flag("continue", self.continue_)?;
            lines.list("state[]", &self.state)?;
        }
        lines.finish(output)
    }

    /// Writes this credential as a helper's answer to a request that announced `request_caps`.
    ///
    /// Only what git uses from a helper is written: never `url`, `protocol`, `host`, `path` or
    /// `wwwauth[]`. `authtype`, `credential` and `ephemeral` only when the request carried
    /// `capability[]=authtype`; `state[]` and `continue` only with `capability[]=state`.
    /// Nothing at all is written when any value holds LF, CR or NUL.
    pub fn write_response(&self, request_caps: Capabilities, output: impl Write) -> Result<(), ProtocolError> {
        let mut lines = Lines::default();
        let with_authtype = request_caps.authtype && self.authtype.is_some() && self.credential.is_some();
        let with_state = request_caps.state && (self.continue_ || self.state.iter().any(|s| !s.is_empty()));
        if with_authtype {
            lines.put("capability[]", "authtype")?;
        }
        if with_state {
            lines.put("capability[]", "state")?;
        }
        if with_authtype {
            lines.opt("authtype", self.authtype.as_deref())?;
            lines.opt("credential", self.credential.as_ref().map(Secret::expose))?;
            lines.flag("ephemeral", self.ephemeral)?;
        }
        lines.opt("username", self.username.as_deref())?;
        lines.opt("password", self.password.as_ref().map(Secret::expose))?;
        lines.opt("password_expiry_utc", self.password_expiry_utc.map(|t| t.to_string()).as_deref())?;
        lines.opt("oauth_refresh_token", self.oauth_refresh_token.as_ref().map(Secret::expose))?;
        if with_state {
            lines.flag("continue", self.continue_)?;
            lines.list("state[]", &self.state)?;
        }
        lines.finish(output)
    }
}

/// An answer under construction: validated line by line, written in one piece or not at all.
#[derive(Default)]
struct Lines(Vec<u8>);

impl Lines {
    fn put(&mut self, key: &'static str, value: &str) -> Result<(), ProtocolError> {
        if let Some(what) = forbidden_in_value(value).or_else(|| value.contains('\n').then_some("LF")) {
            return Err(ProtocolError::ForbiddenInOutput { key, what });
        }
        self.0.extend_from_slice(key.as_bytes());
        self.0.push(b'=');
        self.0.extend_from_slice(value.as_bytes());
        self.0.push(b'\n');
        Ok(())
    }

    fn opt(&mut self, key: &'static str, value: Option<&str>) -> Result<(), ProtocolError> {
        value.map_or(Ok(()), |value| self.put(key, value))
    }

    fn flag(&mut self, key: &'static str, value: bool) -> Result<(), ProtocolError> {
        if value { self.put(key, "1") } else { Ok(()) }
    }

    /// An empty item would read back as "clear the list", so empty items are not written.
    fn list(&mut self, key: &'static str, items: &[String]) -> Result<(), ProtocolError> {
        items.iter().filter(|item| !item.is_empty()).try_for_each(|item| self.put(key, item))
    }

    fn finish(self, mut output: impl Write) -> Result<(), ProtocolError> {
        output.write_all(&self.0)?;
        output.flush()?;
        Ok(())
    }
}

fn forbidden_in_value(value: &str) -> Option<&'static str> {
    if value.contains('\0') {
        Some("NUL")
    } else if value.contains('\r') {
        Some("CR")
    } else {
        None
    }
}

/// The attributes git speaks; only these are named in error messages, since text before an
/// `=` that is not a known key could be anything, a pasted token included.
pub const KNOWN_KEYS: &[&str] = &[
    "protocol",
    "host",
    "path",
    "username",
    "password",
    "password_expiry_utc",
    "oauth_refresh_token",
    "wwwauth[]",
    "capability[]",
    "authtype",
    "credential",
    "ephemeral",
    "state[]",
    "continue",
];

fn printable_key(key: &str) -> String {
    if KNOWN_KEYS.contains(&key) { key.to_owned() } else { "an unknown key".to_owned() }
}

fn push_or_clear(list: &mut Vec<String>, value: &str) {
    if value.is_empty() {
        list.clear();
    } else {
        list.push(value.to_owned());
    }
}

/// Git's boolean spellings; anything else is false.
fn parse_bool(value: &str) -> bool {
    matches!(value.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Credential, ProtocolError> {
        Credential::read(text.as_bytes())
    }

    fn answer(credential: &Credential, caps: Capabilities) -> String {
        let mut out = Vec::new();
        credential.write_response(caps, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn reads_a_transcript_from_git_2_47() {
        let request = "capability[]=authtype\ncapability[]=state\nprotocol=https\nhost=dev.azure.com\n\
                       path=contoso/project/_git/repo\nusername=contoso\n\
                       wwwauth[]=Bearer authorization_uri=https://login.microsoftonline.com/tenant\n\
                       wwwauth[]=Basic realm=\"https://tfsprodweu2.visualstudio.com/\"\nwwwauth[]=TFS-Federated\n\n\
                       protocol=ignored-after-blank-line\n";
        let c = read(request).unwrap();
        assert_eq!(c.protocol.as_deref(), Some("https"));
        assert_eq!(c.host.as_deref(), Some("dev.azure.com"));
        assert_eq!(c.path.as_deref(), Some("contoso/project/_git/repo"));
        assert_eq!(c.username.as_deref(), Some("contoso"));
        assert_eq!(c.wwwauth.len(), 3);
        assert_eq!(c.capabilities, Capabilities { authtype: true, state: true });
        assert!(c.has_protocol_and_host());
    }

    #[test]
    fn reads_every_attribute() {
        let request = "protocol=https\nhost=example.com:8443\npath=a/b\nusername=\npassword=pw\n\
                       password_expiry_utc=1700000000\noauth_refresh_token=rt\nauthtype=Bearer\n\
                       credential=tok\nephemeral=true\nstate[]=a\nstate[]=b\ncontinue=1\n";
        let c = read(request).unwrap();
        assert_eq!(c.host.as_deref(), Some("example.com:8443"));
        assert_eq!(c.username.as_deref(), Some(""), "an empty username is kept");
        assert_eq!(c.password.as_ref().map(Secret::expose), Some("pw"));
        assert_eq!(c.password_expiry_utc, Some(1_700_000_000));
        assert_eq!(c.oauth_refresh_token.as_ref().map(Secret::expose), Some("rt"));
        assert_eq!(c.authtype.as_deref(), Some("Bearer"));
        assert_eq!(c.credential.as_ref().map(Secret::expose), Some("tok"));
        assert!(c.ephemeral && c.continue_);
        assert_eq!(c.state, ["a", "b"]);
    }

    #[test]
    fn crlf_line_endings_are_tolerated_and_eof_ends_a_request() {
        let c = read("protocol=https\r\nhost=example.com").unwrap();
        assert_eq!(c.protocol.as_deref(), Some("https"));
        assert_eq!(c.host.as_deref(), Some("example.com"));
    }

    #[test]
    fn empty_list_value_clears_the_list_and_later_keys_win() {
        let c = read("wwwauth[]=a\nwwwauth[]=\nwwwauth[]=b\nhost=one\nhost=two\n").unwrap();
        assert_eq!(c.wwwauth, ["b"]);
        assert_eq!(c.host.as_deref(), Some("two"));
    }

    #[test]
    fn unknown_keys_url_and_quit_are_ignored() {
        let c = read("protocol=https\nhost=h\nurl=https://evil.example/\nquit=1\nfuture_key=x\n").unwrap();
        assert_eq!(c.host.as_deref(), Some("h"));
        assert_eq!(c, Credential { protocol: Some("https".into()), host: Some("h".into()), ..Credential::default() });
    }

    #[test]
    fn invalid_expiry_means_no_expiry() {
        assert_eq!(read("password_expiry_utc=soon\n").unwrap().password_expiry_utc, None);
        assert_eq!(read("password_expiry_utc=0\n").unwrap().password_expiry_utc, None);
    }

    #[test]
    fn refuses_nul_and_bare_cr_without_echoing_the_value() {
        let err = read("protocol=https\npassword=se\0cret\n").unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, ProtocolError::ForbiddenInInput { line: 2, what: "NUL", .. }), "{message}");
        assert!(!message.contains("se") && !message.contains("cret"), "{message}");

        let err = read("host=a\rhost=evil\n").unwrap_err();
        assert!(matches!(err, ProtocolError::ForbiddenInInput { what: "CR", .. }), "{err}");
        assert_eq!(err.to_string(), "the value of host on line 1 contains a CR character");

        let err = read("ghp_pasted_token=x\0\n").unwrap_err();
        assert_eq!(err.to_string(), "the value of an unknown key on line 1 contains a NUL character");
    }

    #[test]
    fn a_line_without_equals_is_an_error_that_does_not_echo_it() {
        let err = read("protocol=https\nhunter2\n").unwrap_err();
        assert!(matches!(err, ProtocolError::NoEquals { line: 2 }));
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let err = Credential::read(&b"host=\xff\xfe\n"[..]).unwrap_err();
        assert!(matches!(err, ProtocolError::InvalidUtf8 { line: 1 }));
    }

    #[test]
    fn lines_up_to_the_limit_are_read_and_longer_ones_refused() {
        let at_limit = format!("wwwauth[]={}\n", "x".repeat(MAX_LINE - "wwwauth[]=".len()));
        assert_eq!(read(&at_limit).unwrap().wwwauth[0].len(), MAX_LINE - 10);
        let with_crlf = at_limit.replace('\n', "\r\n");
        assert!(read(&with_crlf).is_ok(), "CR LF does not count against the limit");

        let over = format!("wwwauth[]={}\n", "x".repeat(1 << 20));
        assert!(matches!(read(&over).unwrap_err(), ProtocolError::LineTooLong { line: 1 }));
    }

    #[test]
    fn requests_up_to_the_limit_are_read_and_longer_ones_refused() {
        let line = format!("wwwauth[]={}\n", "x".repeat(1000));
        let request = |lines: usize| format!("protocol=https\nhost=h\n{}", line.repeat(lines));
        let fits = (MAX_REQUEST - 100) / line.len();
        assert_eq!(read(&request(fits)).unwrap().wwwauth.len(), fits);
        let error = read(&request(fits + 200)).unwrap_err();
        assert!(matches!(error, ProtocolError::TooLong), "{error}");
        assert_eq!(error.to_string(), "the credential request is longer than 1024 KiB, more than git sends");
        // What follows the blank line that ends a request is not read, so does not count.
        let after = format!("protocol=https\nhost=h\n\n{}", line.repeat(fits + 200));
        assert!(read(&after).is_ok());
    }

    #[test]
    fn a_repeated_key_takes_the_last_value_as_git_does() {
        let credential =
            read("protocol=https\nhost=first.example\nhost=second.example\npassword=a\npassword=b\n").unwrap();
        assert_eq!(credential.host.as_deref(), Some("second.example"));
        assert_eq!(credential.password.as_ref().map(Secret::expose), Some("b"));
        // A repeated empty host still counts as missing: it never matches everything.
        assert!(!read("protocol=https\nhost=example.com\nhost=\n").unwrap().has_protocol_and_host());
    }

    #[test]
    fn missing_or_empty_protocol_or_host_is_detected() {
        assert!(!read("host=example.com\n").unwrap().has_protocol_and_host());
        assert!(!read("protocol=https\n").unwrap().has_protocol_and_host());
        assert!(!read("protocol=https\nhost=\n").unwrap().has_protocol_and_host());
    }

    #[test]
    fn response_without_the_capability_has_no_authtype_fields() {
        let c = Credential {
            username: Some("u".into()),
            password: Some("p".into()),
            authtype: Some("Bearer".into()),
            credential: Some("tok".into()),
            ephemeral: true,
            password_expiry_utc: Some(42),
            ..Credential::default()
        };
        assert_eq!(answer(&c, Capabilities::default()), "username=u\npassword=p\npassword_expiry_utc=42\n");
        assert_eq!(
            answer(&c, Capabilities { authtype: true, state: false }),
            "capability[]=authtype\nauthtype=Bearer\ncredential=tok\nephemeral=1\nusername=u\npassword=p\n\
             password_expiry_utc=42\n"
        );
    }

    #[test]
    fn response_never_writes_url_or_request_only_keys() {
        let c = read("protocol=https\nhost=h\npath=p\nwwwauth[]=Basic\nusername=u\npassword=p\n").unwrap();
        let out = answer(&c, Capabilities { authtype: true, state: true });
        assert_eq!(out, "username=u\npassword=p\n");
    }

    #[test]
    fn response_with_a_newline_in_a_value_writes_nothing() {
        let c =
            Credential { username: Some("u".into()), password: Some("p\nhost=evil".into()), ..Credential::default() };
        let mut out = Vec::new();
        let err = c.write_response(Capabilities::default(), &mut out).unwrap_err();
        assert!(matches!(err, ProtocolError::ForbiddenInOutput { key: "password", what: "LF" }));
        assert!(out.is_empty(), "nothing may be written when one value is bad");
        assert!(!err.to_string().contains("evil"));
    }

    #[test]
    fn a_long_wwwauth_header_stays_on_one_line() {
        let header = format!("Bearer {}", "a".repeat(4096));
        let c = Credential { wwwauth: vec![header.clone()], ..Credential::default() };
        let mut out = Vec::new();
        c.write_request(&mut out).unwrap();
        assert_eq!(out, format!("wwwauth[]={header}\n").into_bytes());
    }
}
