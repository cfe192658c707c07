//! What the user chose for a remote: which kind of credential answers (`azdo.<url>.auth`, or
//! `azdo.auth` for every remote: `oauth`, `pat` or `auto`), and which non-interactive identity
//! may (`azdo.<url>.identity`, see [`crate::identity::Choice`]).
//!
//! `<url>` matches as in git's own `credential.<url>.*` and `http.<url>.*` keys (shared/GIT.md,
//! git's urlmatch.c): the scheme and host without regard to case (a `*` label matches any one
//! label), the port the same, the key's path a whole-segment prefix of the remote's as written
//! (case matters), and a user name in the key the remote's. The most specific key wins (longest
//! path, then a user name, then a host without `*`); between equals, the later. An organization
//! is also matched by its canonical URL (lower case), so `azdo.https://dev.azure.com/contoso.*`
//! serves `https://dev.azure.com/Contoso/...` too.
//!
//! [`Rules`] also reads git's own `http.<url>.*` keys for [`crate::net`].
//!
//! The daemon reads the keys from the global and system config, and reads them again when
//! those files change ([`LiveChoices`]), so `git config --global` takes effect at once.

use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::config::GitConfig;

/// The git config variable, under `azdo.` or `azdo.<url>.`.
pub const KEY: &str = "auth";

/// What answers for a remote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    /// The Entra account chosen for the organization, else its PAT, else the other accounts.
    #[default]
    Auto,
    /// Only an Entra account.
    #[serde(rename = "oauth")]
    OAuth,
    /// Only the organization's or collection's PAT.
    Pat,
}

impl FromStr for Auth {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "oauth" | "entra" => Ok(Self::OAuth),
            "pat" => Ok(Self::Pat),
            _ => Err(format!("{text} is not one of auto, oauth, pat")),
        }
    }
}

/// The user's choices for remotes: `azdo.[<url>.]auth` and `azdo.[<url>.]identity`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    pub auth: Rules<Auth>,
    pub identity: Rules<crate::identity::Choice>,
}

impl Choices {
    pub fn from_git(values: &[(String, String)]) -> Self {
        Self { auth: Rules::from_git(values, KEY), identity: Rules::from_git(values, IDENTITY_KEY) }
    }
}

/// The git config variable naming a non-interactive identity ([`crate::identity::Choice`]).
pub const IDENTITY_KEY: &str = "identity";

/// One URL-scoped key's values, in git's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules<T> {
    rules: Vec<(Option<Pattern>, T)>,
}

impl<T> Default for Rules<T> {
    fn default() -> Self {
        Self { rules: Vec::new() }
    }
}

/// How specifically a key matches a URL, least first: (has a URL, path segments, user, exact
/// host).
type Rank = (usize, usize, bool, bool);

/// The `<url>` of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    scheme: String,
    user: Option<String>,
    /// Lower case labels; `*` matches any one.
    host: Vec<String>,
    port: Option<u16>,
    /// Segments, as written.
    path: Vec<String>,
}

impl<T> Rules<T> {
    /// One choice for every remote, whatever git's config says.
    pub fn always(choice: T) -> Self {
        Self { rules: vec![(None, choice)] }
    }
}

impl<T: FromStr<Err = String> + Clone + Default> Rules<T> {
    /// The `azdo.[<url>.]{variable}` keys among git's values. A key that cannot be understood
    /// is left out, with a warning in the log.
    pub fn from_git(values: &[(String, String)], variable: &str) -> Self {
        Self::from_section(values, "azdo", variable)
    }

    /// The `{section}.[<url>.]{variable}` keys among git's values.
    pub fn from_section(values: &[(String, String)], section: &str, variable: &str) -> Self {
        let prefix = format!("{section}.");
        let mut rules = Vec::new();
        for (name, value) in values {
            let Some(rest) =
                name.get(..prefix.len()).filter(|p| p.eq_ignore_ascii_case(&prefix)).map(|_| &name[prefix.len()..])
            else {
                continue;
            };
            let (url, own) = rest.rsplit_once('.').map_or((None, rest), |(url, var)| (Some(url), var));
            if !own.eq_ignore_ascii_case(variable) {
                continue;
            }
            let pattern = match url.map(Pattern::parse).transpose() {
                Ok(pattern) => pattern,
                Err(reason) => {
                    tracing::warn!(key = %name, %reason, "ignoring a git config key");
                    continue;
                }
            };
            match value.parse() {
                Ok(choice) => rules.push((pattern, choice)),
                Err(reason) => tracing::warn!(key = %name, %reason, "ignoring a git config key"),
            }
        }
        Self { rules }
    }

    /// The choice for a remote known by any of `urls` (its URL as git gave it, and the
    /// canonical URL of its organization); the default when no key matches.
    pub fn for_urls(&self, urls: &[url::Url]) -> T {
        let mut best: Option<(Rank, &T)> = None;
        for (pattern, choice) in &self.rules {
            let rank = match pattern {
                None => Some((0, 0, false, false)),
                Some(pattern) => urls.iter().filter_map(|url| pattern.rank(url)).max(),
            };
            if let Some(rank) = rank
                && best.is_none_or(|(b, _)| rank >= b)
            {
                best = Some((rank, choice));
            }
        }
        best.map(|(_, choice)| choice.clone()).unwrap_or_default()
    }
}

impl Pattern {
    fn parse(text: &str) -> Result<Self, String> {
        let shown = crate::secret::redact_url(text);
        let url = url::Url::parse(text).map_err(|e| format!("{shown} is not a URL: {e}"))?;
        let host = url.host_str().ok_or_else(|| format!("{shown} has no host"))?;
        Ok(Self {
            scheme: url.scheme().to_owned(),
            user: Some(url.username()).filter(|u| !u.is_empty()).map(str::to_owned),
            host: host.to_ascii_lowercase().split('.').map(str::to_owned).collect(),
            port: url.port_or_known_default(),
            path: segments(&url),
        })
    }

    /// How specifically the pattern matches `url`; `None` when it does not.
    fn rank(&self, url: &url::Url) -> Option<Rank> {
        if url.scheme() != self.scheme || url.port_or_known_default() != self.port {
            return None;
        }
        let host: Vec<String> = url.host_str()?.to_ascii_lowercase().split('.').map(str::to_owned).collect();
        let host_matches =
            host.len() == self.host.len() && self.host.iter().zip(&host).all(|(own, h)| own == "*" || own == h);
        if !host_matches {
            return None;
        }
        if let Some(user) = &self.user
            && url.username() != user
        {
            return None;
        }
        let path = segments(url);
        if path.len() < self.path.len() || self.path.iter().zip(&path).any(|(own, p)| own != p) {
            return None;
        }
        Some((1, self.path.len(), self.user.is_some(), !self.host.iter().any(|l| l == "*")))
    }
}

/// The path's segments, as written: git matches `<url>` paths with regard to case.
fn segments(url: &url::Url) -> Vec<String> {
    url.path_segments().into_iter().flatten().filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// The choices of a daemon that runs for hours: read again when git's config files change.
#[derive(Debug)]
pub struct LiveChoices {
    current: Mutex<(Arc<GitConfig>, Arc<Choices>)>,
}

impl LiveChoices {
    pub fn new(git: &GitConfig) -> Self {
        Self { current: Mutex::new((Arc::new(git.clone()), Arc::new(Choices::from_git(&git.values)))) }
    }

    /// The choices now. Costs a few `stat` calls, and a `git config` run (off the async
    /// threads, with its own deadline) after the files changed. When git cannot be run or does
    /// not finish in time, the choices read last still hold (and git is asked again next time).
    pub async fn get(&self) -> Arc<Choices> {
        let (git, choices) = self.current.lock().unwrap_or_else(PoisonError::into_inner).clone();
        if git.is_current() {
            return choices;
        }
        let Ok(Some(git)) = tokio::task::spawn_blocking(GitConfig::read).await else { return choices };
        let choices = Arc::new(Choices::from_git(&git.values));
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = (Arc::new(git), choices.clone());
        choices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn choices(keys: &[(&str, &str)]) -> Rules<Auth> {
        let values: Vec<(String, String)> = keys.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Choices::from_git(&values).auth
    }

    fn for_url(choices: &Rules<Auth>, url: &str) -> Auth {
        choices.for_urls(&[url::Url::parse(url).unwrap()])
    }

    #[test]
    fn values_and_defaults() {
        assert_eq!("PAT".parse(), Ok(Auth::Pat));
        assert_eq!("entra".parse(), Ok(Auth::OAuth));
        assert!("token".parse::<Auth>().is_err());
        assert_eq!(for_url(&Rules::default(), "https://dev.azure.com/contoso"), Auth::Auto);
        let all = choices(&[("azdo.auth", "pat"), ("azdo.authorityHost", "https://x"), ("other.auth", "oauth")]);
        assert_eq!(for_url(&all, "https://dev.azure.com/contoso"), Auth::Pat);
    }

    #[test]
    fn the_most_specific_url_wins_and_then_the_later_key() {
        let c = choices(&[
            ("azdo.https://dev.azure.com/Contoso.auth", "pat"),
            ("azdo.auth", "oauth"),
            ("azdo.https://dev.azure.com.auth", "auto"),
            ("azdo.https://dev.azure.com/contoso/project.AUTH", "oauth"),
        ]);
        assert_eq!(for_url(&c, "https://dev.azure.com/Contoso/other/_git/r"), Auth::Pat, "the path as written");
        assert_eq!(
            for_url(&c, "https://dev.azure.com/contoso/other/_git/r"),
            Auth::Auto,
            "case matters: the host's key"
        );
        assert_eq!(for_url(&c, "https://DEV.Azure.com/Contoso/x"), Auth::Pat, "the host without regard to case");
        assert_eq!(for_url(&c, "https://dev.azure.com/contoso/project/_git/r"), Auth::OAuth, "longer path");
        assert_eq!(for_url(&c, "https://dev.azure.com/contosox/p"), Auth::Auto, "whole segments only");
        assert_eq!(for_url(&c, "https://example.com/contoso"), Auth::OAuth, "the bare key");
        assert_eq!(for_url(&c, "http://dev.azure.com/contoso"), Auth::OAuth, "another scheme");

        let later =
            choices(&[("azdo.https://dev.azure.com.auth", "pat"), ("azdo.https://dev.azure.com.auth", "oauth")]);
        assert_eq!(for_url(&later, "https://dev.azure.com/x"), Auth::OAuth);
    }

    #[test]
    fn hosts_ports_users_and_wildcards() {
        let c = choices(&[
            ("azdo.https://*.visualstudio.com.auth", "pat"),
            ("azdo.https://fabrikam.visualstudio.com.auth", "oauth"),
            ("azdo.http://tfs:8080/tfs.auth", "pat"),
            ("azdo.https://bob@dev.azure.com.auth", "pat"),
        ]);
        assert_eq!(for_url(&c, "https://contoso.visualstudio.com/p"), Auth::Pat);
        assert_eq!(for_url(&c, "https://fabrikam.visualstudio.com/p"), Auth::OAuth, "an exact host beats *");
        assert_eq!(for_url(&c, "https://a.b.visualstudio.com/p"), Auth::Auto, "* is one label");
        assert_eq!(for_url(&c, "http://tfs:8080/tfs/DefaultCollection/p"), Auth::Pat);
        assert_eq!(for_url(&c, "http://tfs/tfs/DefaultCollection/p"), Auth::Auto, "another port");
        assert_eq!(for_url(&c, "https://bob@dev.azure.com/contoso"), Auth::Pat);
        assert_eq!(for_url(&c, "https://dev.azure.com/contoso"), Auth::Auto, "the key names a user");
        let either = [url::Url::parse("https://x.example/").unwrap(), url::Url::parse("http://tfs:8080/tfs").unwrap()];
        assert_eq!(c.for_urls(&either), Auth::Pat, "any of the remote's URLs");
    }

    #[test]
    fn identities_are_chosen_by_url_too() {
        use crate::identity::Choice;
        let values = vec![
            ("azdo.identity".to_owned(), "azure-cli".to_owned()),
            ("azdo.https://dev.azure.com/contoso.identity".to_owned(), "managed:abc".to_owned()),
            ("azdo.https://dev.azure.com/contoso.auth".to_owned(), "oauth".to_owned()),
        ];
        let c = Choices::from_git(&values);
        let contoso = [url::Url::parse("https://dev.azure.com/contoso/p").unwrap()];
        assert_eq!(c.identity.for_urls(&contoso), Choice::Managed { client_id: Some("abc".into()) });
        assert_eq!(c.auth.for_urls(&contoso), Auth::OAuth);
        let other = [url::Url::parse("https://dev.azure.com/other").unwrap()];
        assert_eq!(c.identity.for_urls(&other), Choice::AzureCli);
        assert_eq!(Choices::default().identity.for_urls(&other), Choice::Auto);
    }

    #[test]
    fn keys_that_cannot_be_understood_are_left_out() {
        let c = choices(&[("azdo.auth", "oauth"), ("azdo.auth", "sometimes"), ("azdo.not a url.auth", "pat")]);
        assert_eq!(for_url(&c, "https://dev.azure.com/contoso"), Auth::OAuth);
    }
}
