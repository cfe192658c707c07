//! What we accept from a server before anything is computed from it or kept: lifetimes (JSON
//! numbers or strings holding one, checked and clamped before any arithmetic on them), waits
//! asked for with `Retry-After` and tokens (printable, of a sane length). Every Entra ID,
//! managed-identity, Azure CLI and GitHub answer goes through here.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The longest lifetime kept for a token, whatever its server says: a longer one is served for
/// a day and then refreshed. (Entra's access tokens live 60-90 minutes, at most about 28 hours
/// with continuous access evaluation.)
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// The shortest lifetime worth caching: a token that expires sooner is expired already.
pub const MIN_LIFETIME: Duration = Duration::from_secs(1);
/// The longest wait a `Retry-After` may ask for; longer ones are waited this long at most (and
/// a retry that cannot wait that long within its deadline gives up, see [`crate::tokens`]).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(5 * 60);
/// The longest token accepted: Entra's access tokens are a few KiB, a refresh token about 2 KiB,
/// and git takes a line of at most 64 KiB.
pub const MAX_TOKEN: usize = 32 << 10;

/// A number as a server sends it: a JSON number (whole, fractional or negative, however large)
/// or a string holding one (Entra's v1 and managed-identity endpoints send strings). Only
/// [`lifetime`] and [`lifetime_until`] turn it into something to compute with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Number(f64);

impl Number {
    pub fn new(value: f64) -> Self {
        Self(value)
    }
}

impl fmt::Display for Number {
    /// As the server gave it, in a few characters (`1e300`, not three hundred digits).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_nan() {
            f.write_str("not a number")
        } else if self.0.is_finite() && self.0.abs() < 1e15 {
            write!(f, "{}", self.0)
        } else {
            write!(f, "{:e}", self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number, or a string holding one")
            }
            #[expect(clippy::cast_precision_loss, reason = "only the range matters: the value is clamped")]
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            #[expect(clippy::cast_precision_loss, reason = "only the range matters: the value is clamped")]
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number(v as f64))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
                // Text that is no number (and `inf`, `NaN`) is refused by [`lifetime`], which
                // names the field.
                Ok(Number(v.trim().parse().unwrap_or(f64::NAN)))
            }
        }
        deserializer.deserialize_any(NumberVisitor)
    }
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.0)
    }
}

/// A token's lifetime from a relative `field` (`expires_in`): refused (one line, for
/// "could not be understood") when it is not a number or under [`MIN_LIFETIME`], clamped to
/// [`MAX_LIFETIME`] when longer. Fractions of a second are kept.
pub fn lifetime(field: &str, seconds: Number) -> Result<Duration, String> {
    let Number(value) = seconds;
    if !value.is_finite() {
        return Err(format!("{field} is {seconds}, not a lifetime in seconds"));
    }
    if value < MIN_LIFETIME.as_secs_f64() {
        return Err(format!("{field} is {seconds}: the token would expire at once"));
    }
    Ok(Duration::from_secs_f64(value.min(MAX_LIFETIME.as_secs_f64())))
}

/// A token's lifetime from an absolute `field` (`expires_on`, Unix seconds), as of `now`
/// (Unix seconds); see [`lifetime`].
pub fn lifetime_until(field: &str, expires_on: Number, now: u64) -> Result<Duration, String> {
    #[expect(clippy::cast_precision_loss, reason = "Unix seconds fit an f64 exactly for millions of years")]
    let left = expires_on.0 - now as f64;
    if !left.is_finite() {
        return Err(format!("{field} is {expires_on}, not a time"));
    }
    if left < MIN_LIFETIME.as_secs_f64() {
        return Err(format!("{field} is {expires_on}: the token has expired already"));
    }
    Ok(Duration::from_secs_f64(left.min(MAX_LIFETIME.as_secs_f64())))
}

/// A wait or an interval in `field`: refused when it is not a number or negative, else
/// clamped to `range` (zero becomes its start).
pub fn within(field: &str, seconds: Number, range: std::ops::RangeInclusive<Duration>) -> Result<Duration, String> {
    let Number(value) = seconds;
    if value.is_nan() || value < 0.0 {
        return Err(format!("{field} is {seconds}, not a number of seconds"));
    }
    let (start, end) = (range.start().as_secs_f64(), range.end().as_secs_f64());
    Ok(Duration::from_secs_f64(value.clamp(start, end)))
}

/// The wait a `Retry-After` header value asks for, from now: see [`retry_after_at`].
pub fn retry_after(value: &str) -> Option<Duration> {
    retry_after_at(value, std::time::SystemTime::now())
}

/// The wait a `Retry-After` header value asks for from `now`, in either of its forms (RFC 9110
/// section 10.2.3): delta-seconds (fractions and surrounding spaces tolerated), or an HTTP date
/// (IMF-fixdate, or the obsolete RFC 850 and asctime forms, which recipients must accept; a
/// date past is no wait). At most [`MAX_RETRY_AFTER`]. A negative or unreadable value is
/// `None`: the caller's own back-off applies.
pub fn retry_after_at(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.starts_with(|c: char| c.is_ascii_alphabetic()) {
        let at = httpdate::parse_http_date(value).ok()?;
        return Some(at.duration_since(now).unwrap_or(Duration::ZERO).min(MAX_RETRY_AFTER));
    }
    let seconds: f64 = value.parse().ok()?;
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(seconds.min(MAX_RETRY_AFTER.as_secs_f64())))
}

/// Checks a token (access, refresh, or an assertion) a server gave before it is used or kept:
/// 1 to [`MAX_TOKEN`] characters, printable ASCII without spaces. The error names `what` and
/// what is wrong, never the token.
pub fn check_token(what: &str, token: &str) -> Result<(), String> {
    if token.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if token.len() > MAX_TOKEN {
        return Err(format!("{what} is {} bytes long, over the limit of {MAX_TOKEN}", token.len()));
    }
    if let Some(position) = token.bytes().position(|b| !b.is_ascii_graphic()) {
        return Err(format!("{what} holds a space, control or non-ASCII character at byte {position}"));
    }
    Ok(())
}

/// The most `error_codes` kept from an Entra error: Entra sends one, and each is shown.
pub const MAX_ERROR_CODES: usize = 4;

/// Entra's `error_codes`, as many as [`MAX_ERROR_CODES`], whatever else the server put there: a
/// code is a whole number, or a string holding one; anything else (a negative or fractional
/// number, a word, `null`, an object, a list that is not one) is passed over, so that the
/// rest of the error (`error`, its description) is still understood.
pub fn error_codes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u64>, D::Error> {
    struct Codes;
    impl<'de> Visitor<'de> for Codes {
        type Value = Vec<u64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of error codes")
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u64>, A::Error> {
            let mut codes = Vec::new();
            while let Some(Code(code)) = seq.next_element()? {
                if let Some(code) = code
                    && codes.len() < MAX_ERROR_CODES
                    && !codes.contains(&code)
                {
                    codes.push(code);
                }
            }
            Ok(codes)
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Vec<u64>, A::Error> {
            while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
            Ok(Vec::new())
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Vec<u64>, E> {
            Ok(Vec::new())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Vec<u64>, E> {
            Ok(Vec::new())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Vec<u64>, E> {
            Ok(Vec::new())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Vec<u64>, E> {
            Ok(Vec::new())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Vec<u64>, E> {
            Ok(Vec::new())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<u64>, E> {
            Ok(Vec::new())
        }
    }

    /// One element of the list: a code, or `None` for anything that is not one.
    struct Code(Option<u64>);
    impl<'de> Deserialize<'de> for Code {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct CodeVisitor;
            impl<'de> Visitor<'de> for CodeVisitor {
                type Value = Code;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an error code")
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Code, E> {
                    Ok(Code(Some(v)))
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Code, E> {
                    Ok(Code(u64::try_from(v).ok()))
                }
                fn visit_f64<E: de::Error>(self, _: f64) -> Result<Code, E> {
                    Ok(Code(None))
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Code, E> {
                    let digits = v.trim();
                    let plain = !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit());
                    Ok(Code(plain.then(|| digits.parse().ok()).flatten()))
                }
                fn visit_bool<E: de::Error>(self, _: bool) -> Result<Code, E> {
                    Ok(Code(None))
                }
                fn visit_unit<E: de::Error>(self) -> Result<Code, E> {
                    Ok(Code(None))
                }
                fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Code, A::Error> {
                    while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                    Ok(Code(None))
                }
                fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Code, A::Error> {
                    while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
                    Ok(Code(None))
                }
            }
            deserializer.deserialize_any(CodeVisitor)
        }
    }

    deserializer.deserialize_any(Codes)
}

/// An optional text field of an error answer (`error_description`, `suberror`, the ids): a
/// string is kept, anything else (a number, a list) is as if absent, so that it cannot make the
/// rest of the error go unread.
pub fn optional_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        Text(String),
        Other(de::IgnoredAny),
    }
    Ok(match Text::deserialize(deserializer)? {
        Text::Text(text) => Some(text),
        Text::Other(_) => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(json: &str) -> Result<Number, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn numbers_are_read_from_json_numbers_and_strings_of_any_size() {
        assert_eq!(number("3600").unwrap(), Number(3600.0));
        assert_eq!(number("\"3599\"").unwrap(), Number(3599.0));
        assert_eq!(number("\" 60 \"").unwrap(), Number(60.0));
        assert_eq!(number("-1").unwrap(), Number(-1.0));
        assert_eq!(number("1.5").unwrap(), Number(1.5));
        assert_eq!(number("18446744073709551615").unwrap(), Number(1.844_674_407_370_955_2e19));
        assert!(number("123456789012345678901234567890").is_ok(), "larger than any integer type");
        assert!(number("\"soon\"").unwrap().0.is_nan(), "refused with the field's name by lifetime");
        assert!(number("null").is_err());
        assert!(number("[1]").is_err());
    }

    #[test]
    fn lifetimes_are_refused_when_absurd_and_clamped_when_long() {
        let ok = |n: f64| lifetime("expires_in", Number(n));
        assert_eq!(ok(3600.0), Ok(Duration::from_secs(3600)));
        assert_eq!(ok(1.5), Ok(Duration::from_millis(1500)));
        assert_eq!(ok(18_446_744_073_709_551_615.0), Ok(MAX_LIFETIME));
        assert_eq!(ok(1e308), Ok(MAX_LIFETIME));
        for absurd in [0.0, 0.5, -1.0, -1e308, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let error = ok(absurd).unwrap_err();
            assert!(error.starts_with("expires_in is ") && error.len() < 80, "{error}");
        }
        assert_eq!(ok(-1e300).unwrap_err(), "expires_in is -1e300: the token would expire at once");
    }

    #[test]
    fn absolute_expiries_are_measured_from_now() {
        let now = 1_800_000_000;
        let until = |n: f64| lifetime_until("expires_on", Number(n), now);
        assert_eq!(until(1_800_003_600.0), Ok(Duration::from_secs(3600)));
        assert_eq!(until(1e300), Ok(MAX_LIFETIME), "far in the future: clamped");
        for absurd in [1_800_000_000.0, 1_799_999_000.0, 0.0, -5.0, f64::NAN, f64::INFINITY] {
            let error = until(absurd).unwrap_err();
            assert!(error.starts_with("expires_on is "), "{error}");
        }
    }

    #[test]
    fn intervals_are_clamped_and_negative_ones_refused() {
        let range = Duration::from_secs(1)..=Duration::from_secs(60);
        let within = |n: f64| within("interval", Number(n), range.clone());
        assert_eq!(within(5.0), Ok(Duration::from_secs(5)));
        assert_eq!(within(0.0), Ok(Duration::from_secs(1)), "zero would poll without pause");
        assert_eq!(within(18_446_744_073_709_551_615.0), Ok(Duration::from_secs(60)));
        assert_eq!(within(f64::INFINITY), Ok(Duration::from_secs(60)));
        assert_eq!(within(-1.0).unwrap_err(), "interval is -1, not a number of seconds");
        assert!(within(f64::NAN).is_err());
    }

    #[test]
    fn retry_after_is_bounded_and_anything_odd_is_ignored() {
        assert_eq!(retry_after("1"), Some(Duration::from_secs(1)));
        assert_eq!(retry_after(" 2.5 "), Some(Duration::from_millis(2500)));
        assert_eq!(retry_after("0"), Some(Duration::ZERO));
        assert_eq!(retry_after("18446744073709551615"), Some(MAX_RETRY_AFTER));
        assert_eq!(retry_after("1e400"), None, "infinite");
        for odd in ["-1", "NaN", "", "soon", "Wed, 21 Oct 2015 25:28:00 GMT", "Sun, 06 Nov 1994"] {
            assert_eq!(retry_after(odd), None, "{odd}");
        }
    }

    #[test]
    fn retry_after_as_an_http_date_in_any_of_its_forms() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let secs = |s: u64| Some(Duration::from_secs(s));
        assert_eq!(retry_after_at("Sun, 06 Nov 1994 08:50:07 GMT", now), secs(30), "IMF-fixdate");
        assert_eq!(retry_after_at("Sunday, 06-Nov-94 08:50:07 GMT", now), secs(30), "RFC 850");
        assert_eq!(retry_after_at("Sun Nov  6 08:50:07 1994", now), secs(30), "asctime");
        assert_eq!(retry_after_at(" Sun, 06 Nov 1994 08:00:00 GMT ", now), secs(0), "a date past is no wait");
        assert_eq!(retry_after_at("Fri, 31 Dec 9999 23:59:59 GMT", now), Some(MAX_RETRY_AFTER), "bounded");
        assert_eq!(retry_after_at("120", now), secs(120), "seconds, whatever the clock");
    }

    #[test]
    fn tokens_are_printable_ascii_of_a_sane_length() {
        assert_eq!(check_token("access token", "eyJ0eXAi.eyJhdWQi.sig-_~+/="), Ok(()));
        for bad in ["", "a b", "a\r\nb", "tab\t", "nul\0", "é", "\u{7f}"] {
            let error = check_token("access token", bad).unwrap_err();
            assert!(error.contains("access token"), "{error}");
            assert!(bad.is_empty() || !error.contains(bad), "the token is not echoed: {error}");
        }
        assert_eq!(check_token("access token", &"x".repeat(MAX_TOKEN)), Ok(()));
        assert!(check_token("access token", &"x".repeat(MAX_TOKEN + 1)).is_err());
    }
}
