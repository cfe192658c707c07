//! The per-user daemon: accepts local connections and answers each with the [`Service`].
//!
//! Its life: [`serve`] takes `daemon.lock` (so exactly one daemon runs per user, however many
//! helpers race to start one), removes a socket left by a crashed predecessor (only the lock's
//! holder may), binds an owner-only socket (or takes the one systemd's socket activation hands
//! over, which then outlives it), then [`run`]s until a signal, a `Shutdown` request,
//! a newer helper's request to be replaced, or the idle timeout. On the way out it stops
//! accepting, removes its socket, and gives in-flight requests a bounded time to finish.

use std::future::Future;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use interprocess::local_socket::tokio::{Listener, Stream};
use interprocess::local_socket::traits::tokio::Listener as _;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::ipc::frame::{self, FrameError};
use crate::ipc::{DaemonInfo, ErrorKind, Hello, PROTOCOL_VERSION, Request, Response};
use crate::service::Service;

/// How long a client has to send its hello and request once connected.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a client has to take the answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the hello may wait for the answer to go out with it; well within the time the
/// helper gives a daemon to say hello ([`crate::ipc::client`]).
const HELLO_WITH_ANSWER: Duration = Duration::from_millis(100);
/// How long in-flight requests may run on after the daemon decided to exit.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a newly started daemon waits for a predecessor that is exiting to release the lock.
const LOCK_WAIT: Duration = Duration::from_secs(3);
/// The most connections served at once. Every git command runs one helper at a time, so even a
/// busy machine has a few dozen; the cap bounds the daemon's memory and descriptors whatever
/// connects. It is lower when the descriptor limit is.
const MAX_CONNECTIONS: usize = 512;
/// The bytes of large requests held at once, over all connections (small ones, which every
/// request of git's is, are not counted: see [`frame::SMALL_FRAME`]). A client sends its request
/// at once, so this is only ever taken by clients that send large frames slowly, or not at all.
const MAX_BUFFERED: usize = 32 << 20;
/// How often the daemon checks that its socket file is still there and still its own (a tmp
/// cleaner may remove it); it binds it again when not.
const SOCKET_CHECK: Duration = Duration::from_secs(2);
/// Descriptors kept for everything but connections: the listener, the lock, files, the keyring.
#[cfg(unix)]
const RESERVED_FDS: u64 = 64;

#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// Exit after this long with no connection; `None` never.
    pub idle_timeout: Option<Duration>,
    /// Connections served at once; see [`MAX_CONNECTIONS`].
    pub max_connections: usize,
    /// Shown by `status`.
    pub socket: String,
    /// The daemon's own socket file, bound from this configuration (not one a service manager
    /// handed over): watched, and bound again when it is removed or replaced.
    pub rebind: Option<Config>,
}

struct Shared {
    service: Arc<Service>,
    options: DaemonOptions,
    started: Instant,
    stop: watch::Sender<bool>,
    /// Connections numbered below this that have not sent their request yet are dropped, to
    /// make room when the cap is reached.
    shed_below: watch::Sender<u64>,
    /// Bytes of large requests that may be held at once ([`MAX_BUFFERED`]).
    buffers: tokio::sync::Semaphore,
}

/// Runs the daemon for `config` in the foreground until it is told to stop or goes idle.
/// Returns at once, successfully, when another daemon already holds the lock.
pub fn serve(config: &Config) -> anyhow::Result<()> {
    // First, while this is the only thread: reading LISTEN_FDS also clears it.
    #[cfg(unix)]
    let inherited = inherited_listener()?;
    crate::fs::ensure_runtime_dir(&config.runtime_dir)
        .with_context(|| format!("failed to create {}", config.runtime_dir.display()))?;
    let lock_path = config.daemon_lock_path();
    let Some(mut lock) = acquire_lock(&lock_path, LOCK_WAIT)? else {
        tracing::debug!("another daemon holds {}; exiting", lock_path.display());
        return Ok(());
    };
    lock.set_len(0)
        .and_then(|()| writeln!(lock, "{}", std::process::id()))
        .with_context(|| format!("failed to write {}", lock_path.display()))?;
    // Helpers check that the pipe's server is this process (a locked file cannot be read there).
    #[cfg(windows)]
    crate::fs::write_atomic(
        &config.runtime_dir.join(crate::ipc::client::DAEMON_PID),
        std::process::id().to_string().as_bytes(),
    )
    .context("failed to write the daemon's pid")?;

    // The keyring is opened here, before the runtime starts: its Linux backend must not be
    // set up on an async worker thread.
    let service = Arc::new(Service::open(config).context("failed to open the credential store")?);
    // Before serving: temporary files a crash left (a daemon killed while writing, say).
    service.remove_leftovers();
    #[cfg(unix)]
    let socket = inherited
        .as_ref()
        .and_then(|l| l.local_addr().ok()?.as_pathname().map(|p| p.display().to_string()))
        .unwrap_or_else(|| config.socket_path().display().to_string());
    #[cfg(not(unix))]
    let socket = config.socket_path().display().to_string();
    #[cfg(unix)]
    let max_connections = connections_within(raise_fd_limit());
    #[cfg(not(unix))]
    let max_connections = MAX_CONNECTIONS;
    #[cfg(unix)]
    let rebind = inherited.is_none().then(|| config.clone());
    #[cfg(not(unix))]
    let rebind = None;
    let options = DaemonOptions { idle_timeout: config.idle_timeout, max_connections, socket, rebind };

    // One thread: a request is a few microseconds of work between waits, and a connection
    // accepted on the thread that serves it costs no hand-over between threads (BENCHMARKS.md).
    // Keyring calls run on tokio's blocking threads.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(async {
        #[cfg(unix)]
        let listener = match inherited {
            Some(listener) => adopt(listener).context("failed to take over the socket from LISTEN_FDS")?,
            None => bind(config).with_context(|| format!("failed to listen on {}", options.socket))?,
        };
        #[cfg(not(unix))]
        let listener = bind(config).with_context(|| format!("failed to listen on {}", options.socket))?;
        tracing::info!(socket = %options.socket, pid = std::process::id(), "daemon started");
        run(listener, service, options, termination()).await;
        anyhow::Ok(())
    })?;
    drop(lock);
    Ok(())
}

/// Takes `path`'s exclusive lock, waiting up to `wait` for a holder that is on its way out.
fn acquire_lock(path: &std::path::Path, wait: Duration) -> anyhow::Result<Option<std::fs::File>> {
    let file = crate::fs::open_lock_file(path).with_context(|| format!("failed to open {}", path.display()))?;
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("failed to lock {}", path.display()));
            }
        }
    }
}

/// Raises the soft limit on open descriptors to the hard one (Linux's default soft limit is
/// 1,024, macOS's 256), and returns the limit now in force.
#[cfg(unix)]
fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    // macOS refuses more than OPEN_MAX even when the hard limit is unlimited.
    let wanted = maximum.map_or(10_240, |hard| if cfg!(target_vendor = "apple") { hard.min(10_240) } else { hard });
    if current.is_some_and(|soft| soft >= wanted) {
        return current;
    }
    match setrlimit(Resource::Nofile, Rlimit { current: Some(wanted), maximum }) {
        Ok(()) => Some(wanted),
        Err(e) => {
            tracing::debug!(error = %e, "could not raise the descriptor limit");
            current
        }
    }
}

/// How many connections fit in `fd_limit` descriptors (`None`: unlimited), at most
/// [`MAX_CONNECTIONS`].
#[cfg(unix)]
fn connections_within(fd_limit: Option<u64>) -> usize {
    fd_limit.map_or(MAX_CONNECTIONS, |limit| {
        usize::try_from(limit.saturating_sub(RESERVED_FDS)).unwrap_or(MAX_CONNECTIONS).clamp(16, MAX_CONNECTIONS)
    })
}

/// The listening socket a socket-activating service manager handed over (systemd's
/// `LISTEN_FDS`), if one did.
#[cfg(unix)]
fn inherited_listener() -> anyhow::Result<Option<std::os::unix::net::UnixListener>> {
    let mut fds = listenfd::ListenFd::from_env();
    if fds.len() == 0 {
        return Ok(None);
    }
    fds.take_unix_listener(0).context("the socket handed over in LISTEN_FDS is not a Unix stream socket")
}

/// Serves on a socket a service manager made: it is left in place at exit, for the manager to
/// start the next daemon on.
#[cfg(unix)]
fn adopt(listener: std::os::unix::net::UnixListener) -> std::io::Result<Listener> {
    use interprocess::os::unix::uds_local_socket::tokio::Listener as UdsListener;
    let listener = UdsListener::try_from(std::os::fd::OwnedFd::from(listener))?;
    Ok(Listener::from(listener))
}

/// Binds the daemon's socket. The caller holds the daemon lock, so a socket file already there
/// belongs to a daemon that died without cleaning up, and is removed.
pub fn bind(config: &Config) -> std::io::Result<Listener> {
    use interprocess::local_socket::ListenerOptions;
    #[cfg(unix)]
    match std::fs::remove_file(config.socket_path()) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let options = || -> std::io::Result<ListenerOptions<'static>> {
        Ok(ListenerOptions::new().name(crate::ipc::socket_name(config)?).reclaim_name(true))
    };
    #[cfg(unix)]
    {
        use interprocess::os::unix::local_socket::ListenerOptionsExt;
        match options()?.mode(0o600).create_tokio() {
            // macOS cannot set a socket's mode; the 0700 directory around it keeps others out.
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => options()?.create_tokio(),
            result => result,
        }
    }
    #[cfg(windows)]
    {
        use interprocess::os::windows::local_socket::ListenerOptionsExt;
        use interprocess::os::windows::security_descriptor::SecurityDescriptor;
        let sddl = widestring::U16CString::from_str(PIPE_SDDL).map_err(std::io::Error::other)?;
        let descriptor = SecurityDescriptor::deserialize(&sddl)?;
        options()?.security_descriptor(descriptor).create_tokio()
    }
}

/// What identifies the file at `path` (device and inode), `None` when there is none. (A named
/// pipe, on Windows, cannot be removed: nothing to watch there.)
fn file_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(path).ok().map(|meta| (meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The named pipe's security descriptor: a protected DACL giving full access to the pipe's
/// owner (this user) and SYSTEM, and nothing to anyone else.
#[cfg(windows)]
pub const PIPE_SDDL: &str = "D:P(A;;GA;;;OW)(A;;GA;;;SY)";

/// Resolves on SIGINT or SIGTERM. SIGHUP is ignored: the daemon outlives the terminal that
/// happened to start it.
pub async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(_hangup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup())) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The accept loop. Returns after `shutdown` resolves, a client asks it to stop, or it has been
/// idle for the configured time; the socket is gone and in-flight requests are drained by then.
pub async fn run(
    listener: Listener,
    service: Arc<Service>,
    options: DaemonOptions,
    shutdown: impl Future<Output = ()>,
) {
    let (stop, mut stopped) = watch::channel(false);
    let idle_timeout = options.idle_timeout;
    let max_connections = options.max_connections.max(2);
    let shed_below = watch::Sender::new(0);
    let buffers = tokio::sync::Semaphore::new(MAX_BUFFERED);
    let rebind = options.rebind.clone();
    let mut bound = rebind.as_ref().and_then(|config| file_identity(&config.socket_path()));
    // The lock this daemon holds: while its file is still the one in the runtime directory, the
    // socket path is this daemon's to bind again.
    let lock = rebind.as_ref().and_then(|config| file_identity(&config.daemon_lock_path()));
    let mut socket_check = tokio::time::interval(SOCKET_CHECK);
    let shared = Arc::new(Shared { service, options, started: Instant::now(), stop, shed_below, buffers });
    let mut listener = listener;
    let mut connections = JoinSet::new();
    let mut accepted_count = 0_u64;
    let refresher = tokio::spawn(shared.service.tokens().clone().keep_fresh());
    let mut last_activity = tokio::time::Instant::now();
    let far_future = Duration::from_secs(86_400 * 365);
    tokio::pin!(shutdown);

    loop {
        let idle_at = last_activity + idle_timeout.unwrap_or(far_future);
        let mut lost = false;
        tokio::select! {
            () = &mut shutdown => break,
            _ = stopped.changed() => break,
            // At the cap, connections wait in the listen backlog (the helper's connect does not)
            // until one ends.
            accepted = listener.accept(), if connections.len() < max_connections => match accepted {
                Ok(stream) => {
                    last_activity = tokio::time::Instant::now();
                    let id = accepted_count;
                    accepted_count += 1;
                    connections.spawn(serve_connection(stream, shared.clone(), id));
                    if connections.len() >= max_connections {
                        // The older half that is still silent makes room. A helper sends its
                        // request as it connects, so only stalled or idle clients are shed.
                        let below = accepted_count.saturating_sub((max_connections / 2) as u64);
                        tracing::warn!(connections = connections.len(), "too many connections; dropping idle ones");
                        shared.shed_below.send_replace(below);
                    }
                }
                Err(e) => {
                    // Out of descriptors, say: keep serving once the pressure passes.
                    tracing::warn!(error = %e, "failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {
                last_activity = tokio::time::Instant::now();
            }
            () = tokio::time::sleep_until(idle_at), if idle_timeout.is_some() && connections.is_empty() => {
                tracing::info!("idle; exiting");
                break;
            }
            _ = socket_check.tick(), if bound.is_some() => {
                lost = rebind.as_ref().is_some_and(|config| file_identity(&config.socket_path()) != bound);
            }
        }
        if lost && let Some(config) = &rebind {
            // The file is gone or another's: the old listener must not remove it on its way.
            listener.do_not_reclaim_name_on_drop();
            if file_identity(&config.daemon_lock_path()) != lock {
                // The whole directory went, and perhaps another daemon has begun in a new one:
                // this one is no longer the one that may bind there.
                tracing::warn!(dir = %config.runtime_dir.display(), "the runtime directory was replaced; exiting");
                break;
            }
            tracing::warn!(socket = %config.socket_path().display(), "the socket was removed or replaced; binding it again");
            match bind(config) {
                Ok(new) => {
                    listener = new;
                    bound = file_identity(&config.socket_path());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot bind the socket again; exiting");
                    break;
                }
            }
        }
    }

    // Removing the socket first lets new helpers start a successor while these finish.
    drop(listener);
    refresher.abort();
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async { while connections.join_next().await.is_some() {} });
    if drained.await.is_err() {
        tracing::warn!(left = connections.len(), "requests still running at exit were abandoned");
        connections.abort_all();
    }
    tracing::info!("daemon stopped");
}

async fn serve_connection(stream: Stream, shared: Arc<Shared>, id: u64) {
    if let Err(e) = check_peer(&stream) {
        tracing::warn!(error = %e, "refused a connection");
        return;
    }
    if let Err(e) = exchange(&stream, &shared, id).await {
        // A client that went away, sent garbage or stalled affects only its own connection.
        tracing::debug!(error = %e, "connection ended early");
    }
}

async fn exchange(stream: &Stream, shared: &Shared, id: u64) -> Result<(), FrameError> {
    let hello: Hello = receive(shared, id, frame::read_async_within(stream, frame::MAX_HELLO)).await?;
    let mut out = zeroize::Zeroizing::new(Vec::new());
    frame::encode(&Hello::ours(false), &mut out)?;
    if hello.protocol != PROTOCOL_VERSION {
        tracing::info!(client = hello.protocol, ours = PROTOCOL_VERSION, "a client speaks another protocol");
        if hello.replace_on_mismatch {
            tracing::info!("exiting so that the client can start its own version");
            shared.stop.send_replace(true);
        }
        return send(stream, &out).await;
    }
    let answer = async {
        let request = frame::read_async_budgeted::<Request>(stream, frame::MAX_FRAME, &shared.buffers);
        match receive(shared, id, request).await {
            Ok(request) => Ok(handle(request, shared).await),
            Err(e @ FrameError::Malformed(_)) => {
                Ok(Response::Error { kind: ErrorKind::BadRequest, message: e.to_string() })
            }
            Err(e) => Err(e),
        }
    };
    tokio::pin!(answer);
    // An answer at hand leaves with the hello in one write, so the helper is woken once; a slow
    // one (a token to refresh) is preceded by the hello, which tells the helper to keep waiting.
    let response = if let Ok(response) = tokio::time::timeout(HELLO_WITH_ANSWER, &mut answer).await {
        response?
    } else {
        send(stream, &out).await?;
        out.clear();
        answer.await?
    };
    frame::encode(&response, &mut out)?;
    send(stream, &out).await
}

/// Reads from connection `id` within [`READ_TIMEOUT`], unless it is shed first.
async fn receive<T>(
    shared: &Shared,
    id: u64,
    read: impl Future<Output = Result<T, FrameError>>,
) -> Result<T, FrameError> {
    let mut shed = shared.shed_below.subscribe();
    tokio::select! {
        result = timed(READ_TIMEOUT, read) => result,
        _ = shed.wait_for(|&below| id < below) => Err(FrameError::Io(std::io::Error::other("shed to make room"))),
    }
}

async fn send(mut stream: &Stream, bytes: &[u8]) -> Result<(), FrameError> {
    use tokio::io::AsyncWriteExt as _;
    timed(WRITE_TIMEOUT, async { Ok(stream.write_all(bytes).await?) }).await
}

async fn handle(request: Request, shared: &Shared) -> Response {
    if request == Request::Shutdown {
        tracing::info!("asked to stop");
        shared.stop.send_replace(true);
        return Response::Done;
    }
    let mut response = shared.service.handle(request).await;
    if let Response::Status { status } = &mut response {
        status.daemon = Some(DaemonInfo {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            protocol: PROTOCOL_VERSION,
            uptime_secs: shared.started.elapsed().as_secs(),
            socket: shared.options.socket.clone(),
        });
    }
    response
}

async fn timed<T>(limit: Duration, work: impl Future<Output = Result<T, FrameError>>) -> Result<T, FrameError> {
    tokio::time::timeout(limit, work).await.unwrap_or_else(|_| Err(FrameError::Io(std::io::ErrorKind::TimedOut.into())))
}

/// Only processes of the daemon's own user may talk to it.
#[cfg(unix)]
fn check_peer(stream: &Stream) -> std::io::Result<()> {
    use interprocess::local_socket::traits::StreamCommon as _;
    let ours = rustix::process::geteuid().as_raw();
    match stream.peer_creds()?.euid() {
        Some(uid) if uid == ours => Ok(()),
        Some(uid) => Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("the peer runs as uid {uid}, not {ours}"),
        )),
        None => Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, "the peer's uid is unknown")),
    }
}

/// On Windows the pipe's security descriptor admits only this user and SYSTEM.
#[cfg(windows)]
#[expect(clippy::unnecessary_wraps, reason = "the signature of the Unix check")]
fn check_peer(_stream: &Stream) -> std::io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn connections_fit_in_the_descriptor_limit() {
        assert_eq!(connections_within(None), MAX_CONNECTIONS);
        assert_eq!(connections_within(Some(1_024)), MAX_CONNECTIONS);
        // macOS's default, when it cannot be raised.
        assert_eq!(connections_within(Some(256)), 192);
        assert_eq!(connections_within(Some(20)), 16);
    }
}
