//! git's own HTTP settings for the calls we make (Entra ID, Azure DevOps, its identity
//! service): the proxy and the certificate authorities git would use, so that our calls go
//! where git's go. Read as git reads them (git's http.c, v2.47):
//!
//! - Proxy: `http.<url>.proxy`, the most specific key matching the URL (`http.proxy` for all),
//!   wins over the environment; an empty value means no proxy at all. Without one, the
//!   environment: for https `https_proxy`, else `HTTPS_PROXY`; for http `http_proxy` only; then
//!   `all_proxy`, else `ALL_PROXY` (lowercase first, as curl). `no_proxy`, else `NO_PROXY`,
//!   names hosts reached directly (curl's rules: comma-separated names, a leading dot allowed,
//!   a domain and its subdomains, `*` for all). There is no `http.noProxy` in git. A proxy
//!   without a scheme is `http://`.
//! - Certificate authorities: `GIT_SSL_CAINFO` (a PEM bundle) and `GIT_SSL_CAPATH` (a
//!   directory of PEM certificates) win over `http.<url>.sslCAInfo` and `.sslCAPath`. Either
//!   replaces the system's roots, as it does for curl; a file that cannot be read fails every
//!   TLS connection, as it fails git's.
//!
//! Which `<url>` the keys are matched against: the URL called, except for Entra and the identity
//! service, which are called on the Azure DevOps URL's behalf and are matched as it (as Git
//! Credential Manager matches every call it makes against the remote). `GIT_SSL_NO_VERIFY` and
//! `http.sslVerify=false` are deliberately not followed: tokens never travel unverified.
//!
//! The settings are read once per process ([`init`]), from the environment and the git
//! configuration [`crate::config::GitConfig`] read (global and system, and the repository's when
//! run inside one): a running daemon takes a change after `git-credential-azdo daemon stop`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::choice::Rules;

/// A git config value, or `None` when unset (an empty value is a value).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Setting(Option<String>);

impl std::str::FromStr for Setting {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Ok(Self(Some(text.to_owned())))
    }
}

/// The environment variables git's HTTP code reads, as they were when read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Env {
    pub https_proxy: Option<String>,
    pub http_proxy: Option<String>,
    pub all_proxy: Option<String>,
    pub no_proxy: Option<String>,
    pub ssl_cainfo: Option<String>,
    pub ssl_capath: Option<String>,
}

impl Env {
    /// Reads them through `var` (lowercase before uppercase where git and curl read both).
    pub fn read(var: &dyn Fn(&str) -> Option<String>) -> Self {
        let either = |lower: &str, upper: &str| var(lower).or_else(|| var(upper));
        Self {
            https_proxy: either("https_proxy", "HTTPS_PROXY"),
            http_proxy: var("http_proxy"),
            all_proxy: either("all_proxy", "ALL_PROXY"),
            no_proxy: either("no_proxy", "NO_PROXY"),
            ssl_cainfo: var("GIT_SSL_CAINFO"),
            ssl_capath: var("GIT_SSL_CAPATH"),
        }
    }
}

/// What a client is built with: the proxy (none: direct) and the roots (none: the system's).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Choice {
    pub proxy: Option<String>,
    pub ca_info: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
}

/// git's HTTP settings, and the clients built with them.
#[derive(Debug)]
pub struct Network {
    proxy: Rules<Setting>,
    ca_info: Rules<Setting>,
    ca_path: Rules<Setting>,
    env: Env,
    /// The Azure DevOps URL, which calls to `stand_ins` are matched as.
    services: Option<url::Url>,
    /// Hosts (with port) called on the Azure DevOps URL's behalf: the Entra authority and the
    /// identity service.
    stand_ins: Vec<String>,
    clients: Mutex<HashMap<Choice, reqwest::Client>>,
}

static NETWORK: OnceLock<Network> = OnceLock::new();

/// Takes git's HTTP settings from `config` for this process's calls. The first call wins.
pub fn init(config: &crate::config::Config) {
    let _ = NETWORK.set(Network::from_config(config));
}

/// A client for calls to `url`, built with what git would use for it. Before [`init`], with
/// the environment alone.
pub fn client_for(url: &str) -> reqwest::Client {
    network().client_for(url)
}

/// The proxy calls to `url` go through ([`client_for`]'s), `None` when they go direct: for
/// the advice given when `url` cannot be reached.
pub fn proxy_for(url: &url::Url) -> Option<String> {
    network().choose(url).proxy
}

fn network() -> &'static Network {
    NETWORK.get_or_init(|| Network::new(&[], Env::read(&|name| std::env::var(name).ok()), None, Vec::new()))
}

impl Network {
    pub fn new(values: &[(String, String)], env: Env, services: Option<url::Url>, stand_ins: Vec<String>) -> Self {
        Self {
            proxy: Rules::from_section(values, "http", "proxy"),
            ca_info: Rules::from_section(values, "http", "sslCAInfo"),
            ca_path: Rules::from_section(values, "http", "sslCAPath"),
            env,
            services,
            stand_ins,
            clients: Mutex::default(),
        }
    }

    fn from_config(config: &crate::config::Config) -> Self {
        let stand_ins =
            [&config.entra.authority_host, &config.vssps_url()].into_iter().filter_map(host_and_port).collect();
        let env = Env::read(&|name| std::env::var(name).ok());
        Self::new(&config.git.values, env, Some(config.devops_url.clone()), stand_ins)
    }

    /// A client for `url`, from those built so far when one fits.
    pub fn client_for(&self, url: &str) -> reqwest::Client {
        let direct = Choice { proxy: None, ca_info: None, ca_path: None };
        let choice = url::Url::parse(url).map_or(direct, |url| self.choose(&url));
        let mut clients = self.clients.lock().unwrap_or_else(PoisonError::into_inner);
        clients.entry(choice.clone()).or_insert_with(|| build(&choice)).clone()
    }

    /// What git would use for `url`.
    pub fn choose(&self, url: &url::Url) -> Choice {
        let matched = match &self.services {
            Some(services) if host_and_port(url).is_some_and(|h| self.stand_ins.contains(&h)) => services.clone(),
            _ => url.clone(),
        };
        let urls = [matched.clone()];
        let configured = |rules: &Rules<Setting>, env: &Option<String>| {
            env.clone().or_else(|| rules.for_urls(&urls).0).filter(|v| !v.is_empty()).map(|v| expand_home(&v))
        };
        let ca_info = configured(&self.ca_info, &self.env.ssl_cainfo);
        let ca_path = configured(&self.ca_path, &self.env.ssl_capath);
        let proxy = self.proxy.for_urls(&urls).0.or_else(|| {
            let by_scheme = if matched.scheme() == "https" { &self.env.https_proxy } else { &self.env.http_proxy };
            by_scheme.clone().or_else(|| self.env.all_proxy.clone())
        });
        let proxy = proxy
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .filter(|_| !no_proxy(self.env.no_proxy.as_deref(), url.host_str().unwrap_or_default()))
            .map(|p| if p.contains("://") { p } else { format!("http://{p}") });
        Choice { proxy, ca_info, ca_path }
    }
}

/// `host:port` of a URL, port always given.
fn host_and_port(url: &url::Url) -> Option<String> {
    Some(format!("{}:{}", url.host_str()?.to_ascii_lowercase(), url.port_or_known_default()?))
}

/// A pathname as git takes it: `~/` is the home directory.
fn expand_home(text: &str) -> PathBuf {
    match (text.strip_prefix("~/"), directories::BaseDirs::new()) {
        (Some(rest), Some(dirs)) => dirs.home_dir().join(rest),
        _ => PathBuf::from(text),
    }
}

/// Whether `host` is reached directly per a `no_proxy` list, as curl reads it.
fn no_proxy(list: Option<&str>, host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    list.into_iter().flat_map(|l| l.split(',')).map(str::trim).filter(|e| !e.is_empty()).any(|entry| {
        if entry == "*" {
            return true;
        }
        let entry = entry.trim_start_matches('.').trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        host == entry || host.strip_suffix(&entry).is_some_and(|rest| rest.ends_with('.'))
    })
}

/// A client with `choice`'s proxy and roots, and the deadlines and policies of every client.
fn build(choice: &Choice) -> reqwest::Client {
    let mut builder = crate::entra::http_builder();
    builder = match &choice.proxy {
        Some(proxy) => match reqwest::Proxy::all(proxy) {
            Ok(proxy) => builder.proxy(proxy),
            Err(e) => {
                tracing::warn!(error = %e, "git's proxy setting is not a URL; going direct");
                builder.no_proxy()
            }
        },
        None => builder.no_proxy(),
    };
    if choice.ca_info.is_some() || choice.ca_path.is_some() {
        let roots = roots(choice.ca_info.as_deref(), choice.ca_path.as_deref());
        builder = builder.tls_certs_only(roots);
    }
    builder.build().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "failed to build the HTTP client with git's settings; going direct");
        let direct = crate::entra::http_builder().no_proxy();
        // Roots that could not be taken are no reason to trust the system's instead.
        let direct =
            if choice.ca_info.is_some() || choice.ca_path.is_some() { direct.tls_certs_only([]) } else { direct };
        direct.build().unwrap_or_else(|_| crate::entra::http_client())
    })
}

/// The certificates of a PEM bundle and of a directory of PEM files; what cannot be read is
/// left out (with a warning), so that it fails the connections as it fails git's.
fn roots(ca_info: Option<&Path>, ca_path: Option<&Path>) -> Vec<reqwest::Certificate> {
    let mut files: Vec<PathBuf> = ca_info.into_iter().map(Path::to_owned).collect();
    if let Some(dir) = ca_path {
        match std::fs::read_dir(dir) {
            Ok(entries) => files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file())),
            Err(e) => tracing::warn!(path = %dir.display(), error = %e, "cannot read git's http.sslCAPath"),
        }
    }
    let mut roots = Vec::new();
    for file in files {
        match std::fs::read(&file).map(|pem| reqwest::Certificate::from_pem_bundle(&pem)) {
            Ok(Ok(certificates)) => roots.extend(certificates),
            Ok(Err(e)) => tracing::warn!(path = %file.display(), error = %e, "not a PEM certificate bundle"),
            Err(e) => tracing::warn!(path = %file.display(), error = %e, "cannot read git's certificate file"),
        }
    }
    roots
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(keys: &[(&str, &str)]) -> Vec<(String, String)> {
        keys.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    fn env(vars: &[(&str, &str)]) -> Env {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Env::read(&|name| vars.get(name).cloned())
    }

    fn proxy(network: &Network, url: &str) -> Option<String> {
        network.choose(&url::Url::parse(url).unwrap()).proxy
    }

    #[test]
    fn gits_proxy_setting_wins_over_the_environment() {
        let environment = env(&[("https_proxy", "http://env:1"), ("http_proxy", "env-http:2"), ("ALL_PROXY", "all:3")]);
        let none = Network::new(&[], environment.clone(), None, Vec::new());
        assert_eq!(proxy(&none, "https://dev.azure.com/x").as_deref(), Some("http://env:1"));
        assert_eq!(proxy(&none, "http://tfs/x").as_deref(), Some("http://env-http:2"), "no scheme: http");
        let configured = Network::new(
            &values(&[
                ("http.proxy", "http://all-of-git:8080"),
                ("http.https://dev.azure.com/contoso.proxy", "http://contoso:8080"),
                ("http.https://tfs.example.com.proxy", ""),
            ]),
            environment,
            None,
            Vec::new(),
        );
        assert_eq!(proxy(&configured, "https://dev.azure.com/fabrikam").as_deref(), Some("http://all-of-git:8080"));
        assert_eq!(proxy(&configured, "https://dev.azure.com/contoso/p").as_deref(), Some("http://contoso:8080"));
        assert_eq!(proxy(&configured, "https://dev.azure.com/Contoso/p").as_deref(), Some("http://all-of-git:8080"));
        assert_eq!(proxy(&configured, "https://tfs.example.com/tfs"), None, "empty: no proxy, not even the env's");
    }

    #[test]
    fn the_environment_as_curl_and_git_read_it() {
        let lower = Network::new(
            &[],
            env(&[("https_proxy", "http://lower"), ("HTTPS_PROXY", "http://upper")]),
            None,
            Vec::new(),
        );
        assert_eq!(proxy(&lower, "https://a.example").as_deref(), Some("http://lower"));
        let upper_http = Network::new(&[], env(&[("HTTP_PROXY", "http://upper")]), None, Vec::new());
        assert_eq!(proxy(&upper_http, "http://a.example"), None, "uppercase HTTP_PROXY is never read");
        let all = Network::new(&[], env(&[("ALL_PROXY", "socks5://s:1")]), None, Vec::new());
        assert_eq!(proxy(&all, "http://a.example").as_deref(), Some("socks5://s:1"));
        let empty = Network::new(&[], env(&[("https_proxy", ""), ("HTTPS_PROXY", "http://upper")]), None, Vec::new());
        assert_eq!(proxy(&empty, "https://a.example"), None, "an empty variable set: no proxy");
    }

    #[test]
    fn no_proxy_names_hosts_reached_directly_even_past_gits_setting() {
        let network = Network::new(
            &values(&[("http.proxy", "proxy:3128")]),
            env(&[("NO_PROXY", "corp.example, .internal,127.0.0.1")]),
            None,
            Vec::new(),
        );
        assert_eq!(proxy(&network, "https://tfs.corp.example/x"), None);
        assert_eq!(proxy(&network, "https://corp.example/x"), None);
        assert_eq!(proxy(&network, "https://a.internal/x"), None);
        assert_eq!(proxy(&network, "http://127.0.0.1:8080/x"), None);
        assert_eq!(proxy(&network, "https://notcorp.example/x").as_deref(), Some("http://proxy:3128"));
        assert!(no_proxy(Some("*"), "anything.example"));
    }

    #[test]
    fn entra_and_the_identity_service_are_matched_as_the_azure_devops_url() {
        let network = Network::new(
            &values(&[
                ("http.https://dev.azure.com.proxy", "http://devops-proxy"),
                ("http.https://dev.azure.com.sslCAInfo", "/corp.pem"),
            ]),
            env(&[]),
            Some(url::Url::parse("https://dev.azure.com").unwrap()),
            vec!["login.microsoftonline.com:443".into(), "vssps.dev.azure.com:443".into()],
        );
        let entra = network.choose(&url::Url::parse("https://login.microsoftonline.com/t/oauth2/v2.0/token").unwrap());
        assert_eq!(entra.proxy.as_deref(), Some("http://devops-proxy"));
        assert_eq!(entra.ca_info.as_deref(), Some(Path::new("/corp.pem")));
        assert_eq!(
            proxy(&network, "https://vssps.dev.azure.com/contoso/_apis").as_deref(),
            Some("http://devops-proxy")
        );
        assert_eq!(proxy(&network, "https://elsewhere.example/"), None);
    }

    #[test]
    fn the_environments_certificates_win_over_gits_setting() {
        let keys = values(&[("http.sslCAInfo", "/from-git.pem"), ("http.sslCAPath", "/from-git")]);
        let choice = |vars: &[(&str, &str)]| {
            Network::new(&keys, env(vars), None, Vec::new()).choose(&url::Url::parse("https://x").unwrap())
        };
        let git = choice(&[]);
        assert_eq!(
            (git.ca_info.as_deref(), git.ca_path.as_deref()),
            (Some(Path::new("/from-git.pem")), Some(Path::new("/from-git")))
        );
        let env = choice(&[("GIT_SSL_CAINFO", "/env.pem"), ("GIT_SSL_CAPATH", "/env")]);
        assert_eq!(
            (env.ca_info.as_deref(), env.ca_path.as_deref()),
            (Some(Path::new("/env.pem")), Some(Path::new("/env")))
        );
    }

    /// A TLS server on loopback with the fixtures' certificate for 127.0.0.1 (signed by the
    /// fixtures' test authority), answering every request `200 ok`.
    async fn tls_server() -> String {
        use rustls::pki_types::pem::PemObject as _;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let certs =
            CertificateDer::pem_file_iter(fixtures.join("localhost.pem")).unwrap().map(Result::unwrap).collect();
        let key = PrivateKeyDer::from_pem_file(fixtures.join("localhost.key")).unwrap();
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://127.0.0.1:{}/", listener.local_addr().unwrap().port());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else { return };
                    let mut request = vec![0; 4096];
                    let _ = tls.read(&mut request).await;
                    let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        url
    }

    fn fixture(name: &str) -> String {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name).display().to_string()
    }

    /// Whether a client built for `url` with `keys` and `vars` completes a request there.
    async fn reaches(url: &str, keys: &[(&str, &str)], vars: &[(&str, &str)]) -> bool {
        let network = Network::new(&values(keys), env(vars), None, Vec::new());
        network.client_for(url).get(url).send().await.is_ok_and(|r| r.status() == 200)
    }

    #[tokio::test]
    async fn a_certificate_authority_from_git_is_trusted_as_git_trusts_it() {
        let url = tls_server().await;
        assert!(!reaches(&url, &[], &[]).await, "the test authority is no system root");
        let ca = fixture("test-ca.pem");
        assert!(reaches(&url, &[("http.sslCAInfo", &ca)], &[]).await, "http.sslCAInfo");
        let scoped = format!("http.{url}.sslCAInfo");
        assert!(reaches(&url, &[(&scoped, &ca)], &[]).await, "http.<url>.sslCAInfo");
        assert!(!reaches(&url, &[("http.https://elsewhere.example/.sslCAInfo", &ca)], &[]).await, "another URL's");
        assert!(reaches(&url, &[], &[("GIT_SSL_CAINFO", &ca)]).await, "GIT_SSL_CAINFO");
        let missing = fixture("no-such.pem");
        assert!(!reaches(&url, &[("http.sslCAInfo", &ca)], &[("GIT_SSL_CAINFO", &missing)]).await, "the env wins");
        assert!(!reaches(&url, &[("http.sslCAInfo", &missing)], &[]).await, "an unreadable file fails, as for git");

        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(&ca, dir.path().join("9d66eef0.0")).unwrap();
        let capath = dir.path().display().to_string();
        assert!(reaches(&url, &[("http.sslCAPath", &capath)], &[]).await, "http.sslCAPath");
        assert!(reaches(&url, &[], &[("GIT_SSL_CAPATH", &capath)]).await, "GIT_SSL_CAPATH");
    }
}
