//! What a personal access token is for: a Services organization or a Server collection, and
//! which git requests each may be sent to.
//!
//! A Server collection is named by its URL, with or without `/tfs/`, on any host and port:
//! `https://tfs.example.com/tfs/DefaultCollection`, `http://build:8080/Main`. A request belongs
//! to it when the protocol, host and port are the same and the request's path (git sends it
//! with `credential.useHttpPath`) starts with the collection's path, compared segment by segment
//! and case-insensitively, as Azure DevOps Server compares them.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Services;
use crate::git::Credential;

/// What a PAT is kept for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// An Azure DevOps Services organization, lower case: its PAT serves both
    /// `dev.azure.com/{org}` and `{org}.visualstudio.com`.
    Organization(String),
    /// An Azure DevOps Server collection.
    Collection(Collection),
}

impl Scope {
    /// What a URL names: a Services organization (`https://dev.azure.com/contoso`,
    /// `https://contoso.visualstudio.com`), else a Server collection; a repository's URL names
    /// its organization or collection.
    pub fn from_url(services: &Services, text: &str) -> Result<Self, String> {
        let shown = crate::secret::redact_url(text);
        let url = url::Url::parse(text.trim()).map_err(|e| format!("{shown} is not a URL: {e}"))?;
        let host = url.host_str().unwrap_or_default();
        let request = Credential {
            protocol: Some(url.scheme().to_owned()),
            host: Some(url.port().map_or_else(|| host.to_owned(), |port| format!("{host}:{port}"))),
            path: Some(url.path().trim_start_matches('/').to_owned()),
            ..Credential::default()
        };
        match services.classify(&request) {
            super::Remote::Services { organization, .. } => Ok(Self::Organization(organization)),
            super::Remote::ServicesWithoutOrganization => Err(format!("{shown} names no organization")),
            super::Remote::Insecure { origin } => {
                Err(format!("{shown} is plain http: Azure DevOps Services is {}", origin.replacen("http", "https", 1)))
            }
            super::Remote::Other => Collection::parse(text).map(Self::Collection),
        }
    }

    /// Where its PAT is checked: `{organization or collection}/_apis/connectionData`.
    pub fn connection_data_url(&self, services: &Services) -> String {
        let base = match self {
            Self::Organization(organization) => services.organization_url(organization),
            Self::Collection(collection) => collection.url().to_owned(),
        };
        format!("{base}/_apis/connectionData")
    }

    /// The name of its item in the vault.
    pub fn secret_key(&self) -> String {
        match self {
            Self::Organization(organization) => format!("pat:org:{organization}"),
            Self::Collection(collection) => format!("pat:{}", collection.url().to_ascii_lowercase()),
        }
    }

    /// How `login` names it: `--org contoso` or `--url https://...`.
    pub fn login_args(&self) -> String {
        match self {
            Self::Organization(organization) => format!("--org {organization}"),
            Self::Collection(collection) => format!("--url {collection}"),
        }
    }

    /// The command that adds (or replaces) its PAT.
    pub fn pat_login_command(&self) -> String {
        format!("git-credential-azdo login --pat {}", self.login_args())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Organization(organization) => f.write_str(organization),
            Self::Collection(collection) => collection.fmt(f),
        }
    }
}

/// An Azure DevOps Server collection URL: http or https, a host, at least one path segment,
/// no credentials, query or trailing slash.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Collection {
    url: String,
    /// `scheme://host[:port]`, lower case, without the scheme's default port.
    origin: String,
    /// The path's segments, lower case.
    segments: Vec<String>,
}

/// How a request relates to a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionMatch {
    /// The request is for a repository in the collection.
    Inside,
    /// Same server, but git sent no path, so the collection cannot be told.
    SameServerWithoutPath,
    Outside,
}

impl Collection {
    /// A collection from its URL, or from the URL of a repository in it
    /// (`{collection}/{project}/_git/{repo}`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let shown = crate::secret::redact_url(text);
        let url = url::Url::parse(text.trim()).map_err(|e| format!("{shown} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(format!("{shown} is not an http or https URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("the collection URL must not carry a user name or password: {shown}"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(format!("{shown} has a query or fragment; give the collection's URL"));
        }
        let Some(host) = url.host_str() else { return Err(format!("{shown} has no host")) };
        let mut segments: Vec<&str> = url.path_segments().into_iter().flatten().filter(|s| !s.is_empty()).collect();
        if let Some(git) = segments.iter().position(|s| s.eq_ignore_ascii_case("_git")) {
            // `{collection...}/{project}/_git/{repo}`: the collection is before the project.
            segments.truncate(git.saturating_sub(1));
        }
        if segments.is_empty() {
            return Err(format!(
                "{shown} names no collection; give its URL, as in https://tfs.example.com/tfs/DefaultCollection"
            ));
        }
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let origin = format!("{}://{}{port}", url.scheme(), host.to_ascii_lowercase());
        let path = segments.join("/");
        Ok(Self {
            url: format!("{origin}/{path}"),
            origin,
            segments: segments.iter().map(|s| s.to_ascii_lowercase()).collect(),
        })
    }

    /// The URL, without a trailing slash.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `scheme://host[:port]`: where git's `credential.<url>.useHttpPath` is set for it.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn is_https(&self) -> bool {
        self.origin.starts_with("https://")
    }

    /// How deep the collection's path is: the deeper of two matching collections is the one.
    pub fn depth(&self) -> usize {
        self.segments.len()
    }

    pub fn matches(&self, request: &Credential) -> CollectionMatch {
        let (Some(protocol), Some(host)) = (request.protocol.as_deref(), request.host.as_deref()) else {
            return CollectionMatch::Outside;
        };
        let default_port = if protocol == "https" { ":443" } else { ":80" };
        let host = host.strip_suffix(default_port).unwrap_or(host);
        if !format!("{protocol}://{host}").eq_ignore_ascii_case(&self.origin) {
            return CollectionMatch::Outside;
        }
        let Some(path) = request.path.as_deref().filter(|p| !p.is_empty()) else {
            return CollectionMatch::SameServerWithoutPath;
        };
        let mut requested = path.split('/').filter(|s| !s.is_empty());
        let inside = self.segments.iter().all(|own| requested.next().is_some_and(|s| s.eq_ignore_ascii_case(own)));
        if inside { CollectionMatch::Inside } else { CollectionMatch::Outside }
    }
}

impl fmt::Display for Collection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url)
    }
}

impl TryFrom<String> for Collection {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<Collection> for String {
    fn from(collection: Collection) -> Self {
        collection.url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_about_a_url_never_echo_its_password() {
        let services = Services::new(&url::Url::parse("https://dev.azure.com").unwrap());
        for text in [
            "https://alice:hunter2@tfs.example.com:99999/tfs/x",
            "ftp://alice:hunter2@tfs.example.com/x",
            "https://alice:hunter2@dev.azure.com/",
            "https://alice:hunter2@tfs.example.com/x?y",
        ] {
            let error = Scope::from_url(&services, text).unwrap_err();
            assert!(!error.contains("hunter2"), "{error}");
            let error = Collection::parse(text).unwrap_err();
            assert!(!error.contains("hunter2"), "{error}");
        }
    }

    fn request(protocol: &str, host: &str, path: Option<&str>) -> Credential {
        Credential {
            protocol: Some(protocol.into()),
            host: Some(host.into()),
            path: path.map(Into::into),
            ..Credential::default()
        }
    }

    #[test]
    fn collection_urls_with_and_without_tfs_on_any_port() {
        let tfs = Collection::parse("https://TFS.example.com/tfs/DefaultCollection/").unwrap();
        assert_eq!(tfs.url(), "https://tfs.example.com/tfs/DefaultCollection");
        assert_eq!(tfs.origin(), "https://tfs.example.com");
        let plain = Collection::parse("http://build:8080/Main").unwrap();
        assert_eq!(plain.url(), "http://build:8080/Main");
        assert_eq!(plain.origin(), "http://build:8080");
        let default_port = Collection::parse("https://tfs.example.com:443/tfs/DefaultCollection").unwrap();
        assert_eq!(default_port, tfs);
    }

    #[test]
    fn a_repository_url_names_its_collection() {
        let c = Collection::parse("https://tfs.example.com/tfs/DefaultCollection/Project/_git/repo").unwrap();
        assert_eq!(c.url(), "https://tfs.example.com/tfs/DefaultCollection");
        assert!(Collection::parse("https://tfs.example.com/Project/_git/repo").is_err(), "no collection left");
    }

    #[test]
    fn unusable_collection_urls_are_refused_without_echoing_a_password() {
        assert!(Collection::parse("ftp://tfs/c").is_err());
        assert!(Collection::parse("https://tfs.example.com/").is_err());
        assert!(Collection::parse("https://tfs.example.com/c?x=1").is_err());
        let error = Collection::parse("https://me:hunter2@tfs.example.com/c").unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn requests_inside_the_collection_and_nowhere_else() {
        let c = Collection::parse("https://tfs.example.com/tfs/DefaultCollection").unwrap();
        let inside = request("https", "TFS.example.com", Some("tfs/defaultcollection/p/_git/r"));
        assert_eq!(c.matches(&inside), CollectionMatch::Inside);
        let default_port = request("https", "tfs.example.com:443", Some("tfs/DefaultCollection"));
        assert_eq!(c.matches(&default_port), CollectionMatch::Inside);
        assert_eq!(c.matches(&request("https", "tfs.example.com", None)), CollectionMatch::SameServerWithoutPath);
        for outside in [
            request("https", "tfs.example.com", Some("tfs/Other/p/_git/r")),
            request("https", "tfs.example.com", Some("tfs/DefaultCollectionX/p")),
            request("https", "tfs.example.com", Some("tfs")),
            request("http", "tfs.example.com", Some("tfs/DefaultCollection/p")),
            request("https", "tfs.example.com:8443", Some("tfs/DefaultCollection/p")),
            request("https", "evil.example", Some("tfs/DefaultCollection/p")),
        ] {
            assert_eq!(c.matches(&outside), CollectionMatch::Outside, "{outside:?}");
        }
    }

    #[test]
    fn scopes_name_their_checks_keys_and_login() {
        let services = Services::default();
        let org = Scope::Organization("contoso".into());
        assert_eq!(org.connection_data_url(&services), "https://dev.azure.com/contoso/_apis/connectionData");
        assert_eq!(org.secret_key(), "pat:org:contoso");
        assert_eq!(org.login_args(), "--org contoso");
        let c = Scope::Collection(Collection::parse("http://build:8080/Main").unwrap());
        assert_eq!(c.connection_data_url(&services), "http://build:8080/Main/_apis/connectionData");
        assert_eq!(c.secret_key(), "pat:http://build:8080/main");
        assert_eq!(c.login_args(), "--url http://build:8080/Main");
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, r#"{"collection":"http://build:8080/Main"}"#);
        assert_eq!(serde_json::from_str::<Scope>(&json).unwrap(), c);
    }
}
