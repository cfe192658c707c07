//! [`Secret`]: a string that never prints itself.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// A password, token or other credential value.
///
/// `Debug` prints `<redacted>` and there is no `Display`: the only way to the value is
/// [`Secret::expose`], which makes every use visible in review. The memory is zeroed on drop.
/// Serde writes the plain value, because secrets must cross the IPC socket and reach the
/// secret store; never serialise a `Secret` into anything that is logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

/// For in-memory cache keys only.
impl std::hash::Hash for Secret {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.as_str().hash(state);
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret value. Call only to hand it to git, a store, or a peer that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.expose())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

/// `text`, a URL or something that was meant to be one, shown with the password in it (if any)
/// removed: for error messages that show the user what they gave without echoing a secret.
/// Nothing is done until it is displayed, so that only the error path pays for it.
pub fn redact_url(text: &str) -> RedactedUrl<'_> {
    RedactedUrl(text)
}

/// See [`redact_url`]. `Debug` shows the redacted form too.
pub struct RedactedUrl<'a>(&'a str);

impl RedactedUrl<'_> {
    /// A URL that parses is shown as parsed, without its password; other text has whatever
    /// follows `user:` in what looks like its authority replaced, as best as can be told.
    fn redacted(&self) -> std::borrow::Cow<'_, str> {
        let text = self.0;
        if let Ok(mut url) = url::Url::parse(text.trim()) {
            if url.password().is_none() || url.set_password(None).is_err() {
                return text.into();
            }
            return url.to_string().into();
        }
        let Some(scheme_end) = text.find("://") else { return text.into() };
        let start = scheme_end + 3;
        let rest = &text[start..];
        let end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let Some(at) = authority.rfind('@') else { return text.into() };
        let Some(colon) = authority[..at].find(':') else { return text.into() };
        format!("{}:<redacted>{}", &text[..start + colon], &text[start + at..]).into()
    }
}

impl fmt::Display for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.redacted(), f)
    }
}

/// A `serde_json` error in words that cannot hold secret content.
///
/// `serde_json`'s own messages quote the offending value (`invalid type: string "..."`), which
/// may be a token; this names only the category and the position.
pub fn describe_json_error(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected content",
        serde_json::error::Category::Eof => "unexpected end",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_redacted_even_when_the_url_does_not_parse() {
        for (given, shown) in [
            ("https://alice:hunter2@dev.azure.com/contoso", "https://alice@dev.azure.com/contoso"),
            ("https:alice:hunter2@dev.azure.com", "https://alice@dev.azure.com/"),
            ("wss:///alice:hunter2@host", "wss://alice@host/"),
            ("https://alice:hunter2@tfs:99999/x", "https://alice:<redacted>@tfs:99999/x"),
            ("https://a:p@ss@host:bad/p?q=1", "https://a:<redacted>@host:bad/p?q=1"),
            ("http://:hunter2@host:x", "http://:<redacted>@host:x"),
            ("https://alice@host/a:b@c", "https://alice@host/a:b@c"),
            ("https://host:8080/x", "https://host:8080/x"),
            ("not a url: hunter2@x", "not a url: hunter2@x"),
        ] {
            assert_eq!(redact_url(given).to_string(), shown, "{given}");
            assert_eq!(format!("{:?}", redact_url(given)), format!("{shown:?}"), "{given}");
        }
    }

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(<redacted>)");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn serde_carries_the_value() {
        let json = serde_json::to_string(&Secret::new("s3cret")).unwrap();
        assert_eq!(json, "\"s3cret\"");
        let back: Secret = serde_json::from_str(&json).unwrap();
        assert_eq!(back.expose(), "s3cret");
    }

    #[test]
    fn json_errors_are_described_without_content() {
        let e = serde_json::from_str::<u32>("\"hunter2\"").unwrap_err();
        assert!(e.to_string().contains("hunter2"), "serde_json quotes values, which is why this exists");
        let described = describe_json_error(&e);
        assert_eq!(described, "unexpected content at line 1 column 9");
    }
}
