//! The helper's side of the IPC: synchronous (no async runtime on git's hot path), with a
//! deadline on every step, and able to start the daemon.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use interprocess::local_socket::Stream;
#[cfg(unix)]
use interprocess::local_socket::traits::Stream as _;

use super::frame::{self, FrameError};
use super::{Hello, PROTOCOL_VERSION, Request, Response};
use crate::config::Config;

/// A healthy daemon sends its hello at once; waiting longer means it is stuck.
pub const HELLO_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a helper waits for a daemon it started to come up.
const START_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no daemon is listening")]
    NotRunning(#[source] io::Error),
    /// A daemon is there but accepts no more connections for now; starting another cannot help.
    #[error("the daemon is too busy to take the connection")]
    Busy,
    /// A daemon runs (it holds its lock) but its socket cannot be reached: removed or replaced
    /// under it. It binds its socket again shortly; another daemon could only wait for it.
    #[error("the daemon runs but its socket cannot be reached")]
    Unreachable,
    #[error("the daemon did not answer in time")]
    Timeout,
    #[error("the daemon speaks protocol {daemon}, this helper {PROTOCOL_VERSION}")]
    VersionMismatch { daemon: u32 },
    #[error("the exchange with the daemon failed")]
    Frame(#[source] FrameError),
    #[error("failed to start the daemon")]
    Start(#[source] io::Error),
    /// The socket is not, or cannot be shown to be, served by a daemon of this user: nothing
    /// was sent, and no daemon is started or replaced there. One line for the user.
    #[error("{0}")]
    Untrusted(String),
}

impl From<FrameError> for ClientError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Io(io) if is_timeout(&io) => Self::Timeout,
            other => Self::Frame(other),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut)
}

/// One exchange with a running daemon, without starting one. Fails with
/// [`ClientError::NotRunning`] when none listens.
pub fn request(config: &Config, request: &Request, deadline: Instant) -> Result<Response, ClientError> {
    check_runtime_dir(config)?;
    exchange(config, request, deadline, false)
}

/// The runtime directory, unless a socket is given explicitly, must be one no other user can
/// have put a socket (or a link) in; else the daemon is not used at all.
fn check_runtime_dir(config: &Config) -> Result<(), ClientError> {
    if config.socket.is_some() {
        return Ok(());
    }
    crate::fs::check_runtime_dir(&config.runtime_dir).map_err(ClientError::Untrusted)
}

/// One exchange with the daemon, starting it (or replacing one of another version) when
/// needed, all before `deadline`.
pub fn request_with_autostart(config: &Config, request: &Request, deadline: Instant) -> Result<Response, ClientError> {
    check_runtime_dir(config)?;
    if config.socket.is_some() {
        // Another machine's daemon (forwarded here): neither replaced nor started from here.
        return exchange(config, request, deadline, false);
    }
    match exchange(config, request, deadline, true) {
        Ok(response) => return Ok(response),
        Err(ClientError::NotRunning(_)) if running_but_unreachable(config) => return Err(ClientError::Unreachable),
        // None listens, or one of another version makes way: a daemon of ours is started.
        Err(e @ (ClientError::NotRunning(_) | ClientError::VersionMismatch { .. })) => {
            tracing::debug!(error = %e, "starting the daemon");
        }
        // A daemon took the connection and is stuck, busy, or dropped it; or the request
        // cannot be sent at all. Starting another cannot help.
        Err(e) => return Err(e),
    }
    let start_deadline = deadline.min(Instant::now() + START_TIMEOUT);
    let _starting = start_daemon(config)?;
    let mut pause = Duration::from_millis(2);
    loop {
        std::thread::sleep(pause.min(start_deadline.saturating_duration_since(Instant::now())));
        pause = (pause * 2).min(Duration::from_millis(50));
        match exchange(config, request, deadline, true) {
            Ok(response) => return Ok(response),
            Err(e @ (ClientError::Timeout | ClientError::Busy)) => return Err(e),
            Err(e) if Instant::now() >= start_deadline => return Err(e),
            Err(_) => {}
        }
    }
}

/// Whether a daemon holds the daemon lock while no helper is starting one: then it runs, and
/// a socket that cannot be reached was removed or replaced under it.
fn running_but_unreachable(config: &Config) -> bool {
    // Opened, never created: no file is made in a directory not checked yet.
    let open = |path: std::path::PathBuf| std::fs::OpenOptions::new().read(true).write(true).open(path);
    let Ok(daemon) = open(config.daemon_lock_path()) else { return false };
    if !matches!(daemon.try_lock(), Err(std::fs::TryLockError::WouldBlock)) {
        return false;
    }
    open(config.autostart_lock_path()).map_or(true, |starting| starting.try_lock().is_ok())
}

/// Starts a detached daemon unless another helper is already doing so. The returned lock,
/// while held, tells racing helpers to wait for that daemon instead of starting their own.
fn start_daemon(config: &Config) -> Result<Option<std::fs::File>, ClientError> {
    crate::fs::ensure_runtime_dir(&config.runtime_dir).map_err(ClientError::Start)?;
    let lock = crate::fs::open_lock_file(&config.autostart_lock_path()).map_err(ClientError::Start)?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(e)) => return Err(ClientError::Start(e)),
    }
    let exe = std::env::current_exe().map_err(ClientError::Start)?;
    let mut command = std::process::Command::new(exe);
    command.arg("daemon").stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null());
    command.stderr(std::process::Stdio::null());
    // The daemon outlives this git invocation: it must not keep the repository directory busy
    // nor carry settings that were meant for this one git command only.
    command.current_dir(&config.runtime_dir);
    for (key, _) in std::env::vars_os() {
        if key.to_str().is_some_and(is_per_invocation_git_variable) {
            command.env_remove(key);
        }
    }
    // Nor the secrets of a job's environment: the daemon outlives the job, and passes its
    // environment on to the programs it runs (the Azure CLI, `git config`).
    for name in crate::identity::SECRET_VARIABLES {
        command.env_remove(name);
    }
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    #[cfg(windows)]
    {
        const DETACHED_PROCESS: u32 = 0x0000_0008;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        const CREATE_NO_WINDOW: u32 = 0x0800_0000;
        keep_standard_handles_from_children();
        std::os::windows::process::CommandExt::creation_flags(
            &mut command,
            DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW,
        );
    }
    // Not waited for: the daemon outlives this process and is re-parented when it exits.
    command.spawn().map_err(ClientError::Start)?;
    tracing::debug!("started the daemon");
    Ok(Some(lock))
}

/// Variables git sets for one command (`git -c`, the repository it runs in), as opposed to the
/// user's lasting environment.
fn is_per_invocation_git_variable(key: &str) -> bool {
    matches!(key, "GIT_DIR" | "GIT_WORK_TREE" | "GIT_PREFIX" | "GIT_INDEX_FILE" | "GIT_COMMON_DIR")
        || key == "GIT_CONFIG_PARAMETERS"
        || key == "GIT_CONFIG_COUNT"
        || key.starts_with("GIT_CONFIG_KEY_")
        || key.starts_with("GIT_CONFIG_VALUE_")
}

#[cfg(unix)]
fn exchange(config: &Config, request: &Request, deadline: Instant, replace: bool) -> Result<Response, ClientError> {
    let out = outgoing(&request.within(deadline), replace)?;
    let stream = connect(config)?;
    let set_deadline = |until: Instant| -> Result<(), ClientError> {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ClientError::Timeout);
        }
        stream
            .set_recv_timeout(Some(left))
            .and_then(|()| stream.set_send_timeout(Some(left)))
            .map_err(|e| ClientError::Frame(FrameError::Io(e)))
    };
    set_deadline(deadline.min(Instant::now() + HELLO_TIMEOUT))?;
    talk(&stream, &out, || set_deadline(deadline))
}

/// Windows named pipes have no read timeouts: the exchange runs on a thread that is abandoned
/// at the deadline.
#[cfg(windows)]
fn exchange(config: &Config, request: &Request, deadline: Instant, replace: bool) -> Result<Response, ClientError> {
    let out = outgoing(&request.within(deadline), replace)?;
    let stream = connect(config)?;
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = talk(&stream, &out, || Ok(()));
        // Closed before the answer is handed over, and without a flush: the daemon has read what
        // it needs by the time it answers. interprocess hands a pipe that may hold unread data
        // to a thread of its own that flushes it before closing, a thread that would start just
        // as the helper exits (under Wine such a thread fails as the process is torn down, and
        // can end the helper with status 1).
        let interprocess::local_socket::Stream::NamedPipe(pipe) = &stream;
        pipe.inner().assume_flushed();
        drop(stream);
        let _ = done.send(result);
    });
    result.recv_timeout(deadline.saturating_duration_since(Instant::now())).unwrap_or(Err(ClientError::Timeout))
}

/// Connects without blocking: a Unix socket's `connect` waits while the daemon's listen backlog
/// is full (a stopped daemon, one at its connection cap), and git must not wait with it.
#[cfg(unix)]
fn connect(config: &Config) -> Result<Stream, ClientError> {
    use socket2::{Domain, SockAddr, Socket, Type};
    let socket = Socket::new(Domain::UNIX, Type::STREAM, None).map_err(ClientError::NotRunning)?;
    socket.set_nonblocking(true).map_err(ClientError::NotRunning)?;
    let address = SockAddr::unix(config.socket_path()).map_err(ClientError::NotRunning)?;
    match socket.connect(&address) {
        Ok(()) => {}
        // A Unix socket connects at once or not at all: EAGAIN is a full backlog.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(ClientError::Busy),
        Err(e) => return Err(ClientError::NotRunning(e)),
    }
    socket.set_nonblocking(false).map_err(ClientError::NotRunning)?;
    let stream = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(socket));
    let stream = Stream::from(interprocess::os::unix::uds_local_socket::Stream::from(stream));
    check_server(config, &stream)?;
    Ok(stream)
}

/// Only a daemon of this user may be told anything: the user id of the process that listens
/// (`SO_PEERCRED` on Linux, `LOCAL_PEERCRED` on macOS), checked before the first byte is sent.
/// Holds for every socket, a forwarded one included (its forwarding sshd runs as the user).
#[cfg(unix)]
fn check_server(config: &Config, stream: &Stream) -> Result<(), ClientError> {
    use interprocess::local_socket::traits::StreamCommon as _;
    let ours = rustix::process::geteuid().as_raw();
    let path = config.socket_path();
    match stream.peer_creds().map(|creds| creds.euid()) {
        Ok(Some(uid)) if uid == ours => Ok(()),
        Ok(Some(uid)) => {
            Err(ClientError::Untrusted(format!("{} is served by user {uid}, not by user {ours}", path.display())))
        }
        Ok(None) | Err(_) => Err(ClientError::Untrusted(format!("cannot tell which user serves {}", path.display()))),
    }
}

/// Waits at most [`HELLO_TIMEOUT`] for a free instance of a busy pipe.
#[cfg(windows)]
fn connect(config: &Config) -> Result<Stream, ClientError> {
    use interprocess::ConnectWaitMode;
    use interprocess::local_socket::ConnectOptions;
    let name = super::socket_name(config).map_err(ClientError::NotRunning)?;
    let stream =
        match ConnectOptions::new().name(name).wait_mode(ConnectWaitMode::Timeout(HELLO_TIMEOUT)).connect_sync() {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(ClientError::Busy),
            result => result.map_err(ClientError::NotRunning)?,
        };
    check_server(config, &stream)?;
    Ok(stream)
}

/// Only a daemon of this user may be told anything. Any user can create a named pipe of any
/// name that is free, so the pipe's server must be the daemon that this user's runtime
/// directory (private to the user's profile) names in `daemon.pid`. A pipe given explicitly
/// (`--socket`) cannot be checked so, and is not used.
#[cfg(windows)]
fn check_server(config: &Config, stream: &Stream) -> Result<(), ClientError> {
    use interprocess::local_socket::traits::StreamCommon as _;
    if let Some(socket) = &config.socket {
        return Err(ClientError::Untrusted(format!(
            "cannot tell which user serves the pipe {} on Windows",
            socket.display()
        )));
    }
    let server = stream.peer_creds().ok().and_then(|creds| creds.pid());
    let daemon = std::fs::read_to_string(config.runtime_dir.join(DAEMON_PID)).ok();
    let daemon = daemon.and_then(|text| text.trim().parse::<u32>().ok());
    match (server, daemon) {
        (Some(server), Some(daemon)) if server == daemon => Ok(()),
        _ => Err(ClientError::Untrusted(format!(
            "the daemon's pipe is served by a process other than the daemon ({})",
            config.runtime_dir.join(DAEMON_PID).display()
        ))),
    }
}

/// On Windows, where a locked file cannot be read, the running daemon's pid, for
/// [`check_server`].
#[cfg(windows)]
pub const DAEMON_PID: &str = "daemon.pid";

/// The hello and the request, in one buffer: a warm exchange is one write and one round trip.
/// Encoded before connecting, so that a request too large to send starts nothing.
fn outgoing(request: &Request, replace: bool) -> Result<zeroize::Zeroizing<Vec<u8>>, ClientError> {
    let mut out = zeroize::Zeroizing::new(Vec::new());
    frame::encode(&Hello::ours(replace), &mut out)?;
    frame::encode(request, &mut out)?;
    Ok(out)
}

fn talk(
    stream: &Stream,
    out: &[u8],
    after_hello: impl FnOnce() -> Result<(), ClientError>,
) -> Result<Response, ClientError> {
    let mut writer = stream;
    writer.write_all(out).map_err(|e| ClientError::from(FrameError::Io(e)))?;
    let hello: Hello = frame::read_sync(stream)?;
    if hello.protocol != PROTOCOL_VERSION {
        return Err(ClientError::VersionMismatch { daemon: hello.protocol });
    }
    after_hello()?;
    Ok(frame::read_sync(stream)?)
}

/// Makes this process's standard handles non-inheritable before the daemon is started. std
/// creates every child with `bInheritHandles`, so the daemon would otherwise keep git's pipes to
/// the helper open for its whole life, whatever its own stdio: git reads the helper's answer
/// until the pipe closes, and would wait for the daemon to exit. Children std starts later with
/// `Stdio::inherit()` still get the handles: std passes them as inheritable duplicates.
#[cfg(windows)]
#[expect(unsafe_code, reason = "std has no stable way to start a process that inherits no handles")]
fn keep_standard_handles_from_children() {
    use std::os::windows::io::{AsHandle as _, AsRawHandle as _};
    use windows_sys::Win32::Foundation::{HANDLE_FLAG_INHERIT, SetHandleInformation};
    let handles = [
        io::stdin().as_handle().as_raw_handle(),
        io::stdout().as_handle().as_raw_handle(),
        io::stderr().as_handle().as_raw_handle(),
    ];
    for handle in handles {
        // SAFETY: a standard handle of this process (or null, which the call refuses), valid for
        // the duration of the call, whose inheritance flag alone changes. The result is ignored:
        // where there is no such handle, there is nothing to keep from the daemon.
        unsafe { SetHandleInformation(handle, HANDLE_FLAG_INHERIT, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(runtime_dir: &std::path::Path) -> Config {
        Config {
            runtime_dir: runtime_dir.to_owned(),
            state_dir: runtime_dir.join("state"),
            store: crate::config::StoreChoice::File,
            idle_timeout: None,
            timeout: Duration::from_secs(10),
            use_daemon: true,
            socket: None,
            entra: crate::config::EntraSettings {
                authority_host: url::Url::parse("https://login.example").unwrap(),
                client_id: "c".into(),
                tenant: None,
            },
            devops_url: url::Url::parse("https://dev.example").unwrap(),
            vssps_url: None,
            browser: None,
            git: crate::config::GitConfig::default(),
        }
    }

    #[test]
    fn a_request_too_large_for_a_frame_starts_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let config = config(&tmp.path().join("run"));
        let credential = crate::git::Credential {
            protocol: Some("https".into()),
            host: Some("example.com".into()),
            path: Some("p".repeat(frame::MAX_FRAME)),
            ..crate::git::Credential::default()
        };
        let request = Request::Get { credential, machine: crate::identity::MachineSources::default(), budget_ms: None };
        let started = Instant::now();
        let error = request_with_autostart(&config, &request, started + config.timeout).unwrap_err();
        assert!(matches!(error, ClientError::Frame(FrameError::TooLarge(_))), "{error}");
        assert!(!config.runtime_dir.exists(), "no daemon was started");
        assert!(started.elapsed() < START_TIMEOUT, "no daemon was waited for: {:?}", started.elapsed());
    }
}
