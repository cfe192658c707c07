//! The service and the daemon as a library (STYLE.md): [`Service`] with a fake token source,
//! on tokio's paused clock, and `daemon::run` on a temporary socket, stopped by the test's own
//! shutdown future. The clients here speak the protocol with generous timeouts of their own, so
//! a slow machine makes these tests slower, never wrong (the helper's own deadlines are tried
//! through real git in `entra.rs`).
#![cfg(unix)]
#![allow(clippy::unwrap_used, reason = "test set-up: a failed step should fail the test at once")]

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use git_credential_azdo::accounts::AccountStore;
use git_credential_azdo::azdo::Scope;
use git_credential_azdo::config::{Config, EntraSettings, GitConfig, StoreChoice};
use git_credential_azdo::daemon::{self, DaemonOptions};
use git_credential_azdo::entra::{EntraError, Identity, Tokens};
use git_credential_azdo::git::Credential;
use git_credential_azdo::identity::{FetchError, Fetched, MachineIdentity, MachineSources};
use git_credential_azdo::ipc::{ErrorKind, Hello, Miss, Request, Response, frame};
use git_credential_azdo::secret::Secret;
use git_credential_azdo::service::Service;
use git_credential_azdo::store::{CredentialStore, MemoryStore, Vault};
use git_credential_azdo::tokens::{BoxFuture, TokenSource};
use tokio::io::AsyncWriteExt as _;

/// How the fake Entra answers a refresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// At once, with a token of this lifetime.
    Answers(Duration),
    /// After this long, with an hour's token.
    Slow(Duration),
    /// Never.
    BlackHoled,
}

#[derive(Debug)]
struct FakeEntra {
    mode: Mutex<Mode>,
    calls: AtomicUsize,
}

impl FakeEntra {
    fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Self { mode: Mutex::new(mode), calls: AtomicUsize::new(0) })
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl TokenSource for FakeEntra {
    fn refresh<'a>(
        &'a self,
        _settings: &'a EntraSettings,
        _tenant: &'a str,
        _refresh_token: &'a Secret,
        _challenge: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Tokens, EntraError>> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let mode = *self.mode.lock().unwrap();
        Box::pin(async move {
            let lifetime = match mode {
                Mode::Answers(lifetime) => lifetime,
                Mode::Slow(delay) => {
                    tokio::time::sleep(delay).await;
                    Duration::from_secs(3600)
                }
                Mode::BlackHoled => std::future::pending().await,
            };
            Ok(Tokens {
                access_token: Secret::new(format!("at-{n}")),
                expires_in: lifetime,
                refresh_token: None,
                identity: None,
            })
        })
    }

    fn fetch<'a>(
        &'a self,
        _identity: &'a MachineIdentity,
        _timeout: Duration,
    ) -> BoxFuture<'a, Result<Fetched, FetchError>> {
        Box::pin(async { Err(FetchError::Cli("not in these tests".into())) })
    }
}

fn config(dir: &Path) -> Config {
    Config {
        runtime_dir: dir.join("run"),
        state_dir: dir.join("state"),
        store: StoreChoice::File,
        idle_timeout: None,
        // The daemon's own deadline: its default budget for a refresh is 6 s.
        timeout: Duration::from_secs(10),
        use_daemon: true,
        socket: None,
        entra: EntraSettings {
            authority_host: url::Url::parse("https://login.example").unwrap(),
            client_id: "client".into(),
            tenant: None,
        },
        devops_url: url::Url::parse("https://dev.azure.com").unwrap(),
        vssps_url: None,
        browser: None,
        git: GitConfig::default(),
    }
}

/// alice@contoso.com signed in for contoso, and a service whose tokens come from `entra`.
fn service(dir: &Path, entra: Arc<FakeEntra>) -> (Config, Arc<AccountStore>, Arc<Service>) {
    service_of(config(dir), entra)
}

fn service_of(config: Config, entra: Arc<FakeEntra>) -> (Config, Arc<AccountStore>, Arc<Service>) {
    for private in [&config.runtime_dir, &config.state_dir] {
        git_credential_azdo::fs::ensure_private_dir(private).unwrap();
    }
    let vault = Arc::new(Vault::with_stores(vec![Arc::new(MemoryStore::new())], false));
    let credentials = Arc::new(CredentialStore::with_vault(&config.state_dir, vault.clone()));
    let accounts = Arc::new(AccountStore::new(&config.state_dir, vault));
    let alice = Identity {
        account_id: "oid-alice.t".into(),
        tenant_id: "t".into(),
        username: "alice@contoso.com".into(),
        name: None,
    };
    accounts.save_sign_in(&alice, &config.entra, &Secret::new("rt"), &["contoso".into()]).unwrap();
    let service = Service::with_token_source(&config, credentials, accounts.clone(), entra);
    (config, accounts, Arc::new(service))
}

/// git's `get` for contoso's repository, answered within `budget`.
fn get(budget: Duration) -> Request {
    let credential = Credential::read("protocol=https\nhost=dev.azure.com\npath=contoso/proj/_git/repo\n\n".as_bytes());
    Request::Get {
        credential: credential.unwrap(),
        machine: MachineSources::default(),
        budget_ms: Some(u64::try_from(budget.as_millis()).unwrap()),
    }
}

fn password(response: &Response) -> String {
    match response {
        Response::Credential { credential: Some(found), .. } => found.password.as_ref().unwrap().expose().to_owned(),
        other => panic!("no credential: {other:?}"),
    }
}

/// One exchange with the daemon on `config`'s socket, as the helper makes it.
async fn ask(config: &Config, request: &Request) -> Response {
    let mut stream = tokio::net::UnixStream::connect(config.socket_path()).await.unwrap();
    let mut out = Vec::new();
    frame::encode(&Hello::ours(false), &mut out).unwrap();
    frame::encode(request, &mut out).unwrap();
    stream.write_all(&out).await.unwrap();
    let hello: Hello = frame::read_async(&mut stream).await.unwrap();
    assert_eq!(hello.protocol, git_credential_azdo::ipc::PROTOCOL_VERSION);
    frame::read_async(&mut stream).await.unwrap()
}

/// Runs `test` against a daemon serving `service` on `config`'s socket, then stops the daemon
/// with the test's own shutdown future; fails after `limit` rather than hang.
async fn with_daemon<F: Future<Output = ()>>(config: &Config, service: Arc<Service>, limit: Duration, test: F) {
    let listener = daemon::bind(config).unwrap();
    let options = DaemonOptions {
        idle_timeout: None,
        max_connections: 256,
        socket: config.socket_path().display().to_string(),
        rebind: None,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = daemon::run(listener, service, options, async {
        let _ = stopped.await;
    });
    let test = async {
        test.await;
        stop.send(()).unwrap();
    };
    let both = async { tokio::join!(run, test) };
    tokio::time::timeout(limit, both).await.expect("the test and the daemon ended in time");
}

#[tokio::test(start_paused = true)]
async fn a_get_ends_within_the_budget_its_request_gives_when_entra_is_black_holed() {
    let dir = tempfile::tempdir().unwrap();
    let entra = FakeEntra::new(Mode::BlackHoled);
    let (_, _, service) = service(dir.path(), entra.clone());
    for budget in [Duration::from_millis(1500), Duration::from_secs(20)] {
        let started = tokio::time::Instant::now();
        let response = service.handle(get(budget)).await;
        assert!(started.elapsed() <= budget, "{budget:?}: answered after {:?}", started.elapsed());
        let Response::Credential { credential: None, miss: Some(Miss::Unavailable { username, reason, .. }) } =
            response
        else {
            panic!("{response:?}")
        };
        assert_eq!(username, "alice@contoso.com");
        assert!(reason.contains("could not be reached"), "{reason}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(entra.calls(), 2, "a refresh each: the first ended with the request that started it");
}

#[tokio::test(start_paused = true)]
async fn when_no_token_can_be_had_the_pat_still_answers_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let (_, accounts, service) = service(dir.path(), FakeEntra::new(Mode::BlackHoled));
    let scope = Scope::Organization("contoso".into());
    accounts.save_pat(&scope, "alice", &Secret::new("the-pat"), None, None).unwrap();
    let budget = Duration::from_secs(2);
    let started = tokio::time::Instant::now();
    let response = service.handle(get(budget)).await;
    assert!(started.elapsed() <= budget, "answered after {:?}", started.elapsed());
    assert_eq!(password(&response), "the-pat");
}

#[tokio::test(start_paused = true)]
async fn a_get_ends_within_its_budget_when_azure_devops_does_not_answer_either() {
    // Accepts connections (the kernel does, for a listener that never accepts) and says nothing.
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let devops = format!("http://{}", black_hole.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.devops_url = url::Url::parse(&devops).unwrap();
    let (_, accounts, service) = service_of(config, FakeEntra::new(Mode::Answers(Duration::from_secs(3600))));
    // Two accounts and an organization bound to neither: only its tenant, asked of Azure
    // DevOps, could tell which one answers.
    let bob = Identity {
        account_id: "oid-bob.u".into(),
        tenant_id: "u".into(),
        username: "bob@fabrikam.com".into(),
        name: None,
    };
    let settings = EntraSettings {
        authority_host: url::Url::parse("https://login.example").unwrap(),
        client_id: "client".into(),
        tenant: None,
    };
    accounts.save_sign_in(&bob, &settings, &Secret::new("rt"), &[]).unwrap();
    let host = devops.trim_start_matches("http://");
    let credential =
        Credential::read(format!("protocol=http\nhost={host}\npath=woodgrove/p/_git/r\n\n").as_bytes()).unwrap();
    let budget = Duration::from_secs(1);
    let request = Request::Get { credential, machine: MachineSources::default(), budget_ms: Some(1000) };
    let started = tokio::time::Instant::now();
    let response = service.handle(request).await;
    assert!(started.elapsed() <= budget, "answered after {:?}", started.elapsed());
    let Response::Error { kind: ErrorKind::TimedOut, message } = response else { panic!("{response:?}") };
    assert_eq!(message, "could not answer within 1.0 s; try again in a moment");
}

#[tokio::test]
async fn the_daemon_answers_within_the_budget_its_request_gives_not_its_own() {
    let dir = tempfile::Builder::new().prefix("azdo").tempdir().unwrap();
    let entra = FakeEntra::new(Mode::BlackHoled);
    // The daemon's own deadline is 100 s: it would give a refresh of its own accord 60 s, which
    // runs into the 30 s this test has.
    let config = Config { timeout: Duration::from_secs(100), ..config(dir.path()) };
    let (config, _, service) = service_of(config, entra);
    with_daemon(&config, service, Duration::from_secs(30), async {
        let budget = Duration::from_secs(1);
        let started = std::time::Instant::now();
        let response = ask(&config, &get(budget)).await;
        let took = started.elapsed();
        // The budget, and generous room for a busy machine: a tenth of the daemon's own.
        assert!(took < 10 * budget, "answered after {took:?}");
        assert!(matches!(response, Response::Credential { miss: Some(Miss::Unavailable { .. }), .. }), "{response:?}");
    })
    .await;
    assert!(!config.socket_path().exists(), "the daemon removed its socket on the way out");
}

#[tokio::test]
async fn fifty_concurrent_gets_on_an_expired_token_cause_one_refresh() {
    let dir = tempfile::Builder::new().prefix("azdo").tempdir().unwrap();
    // The first token has expired by the time it is cached.
    let entra = FakeEntra::new(Mode::Answers(Duration::ZERO));
    let (config, _, service) = service(dir.path(), entra.clone());
    with_daemon(&config, service, Duration::from_secs(30), async {
        let expired = password(&ask(&config, &get(Duration::from_secs(5))).await);
        entra.set(Mode::Slow(Duration::from_millis(500)));
        let mut gets = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let config = config.clone();
            gets.spawn(async move { password(&ask(&config, &get(Duration::from_secs(20))).await) });
        }
        let mut passwords = std::collections::HashSet::new();
        while let Some(password) = gets.join_next().await {
            passwords.insert(password.unwrap());
        }
        assert_eq!(passwords.len(), 1, "everyone got the one new token: {passwords:?}");
        assert!(!passwords.contains(&expired));
        assert_eq!(entra.calls(), 2, "the expired token's refresh, then exactly one more");
    })
    .await;
}
