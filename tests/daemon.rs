//! The daemon's life: autostart, one daemon per user, recovery, replacement, hostile clients,
//! and the helper answering without it.
#![cfg(unix)]
#![allow(clippy::unwrap_used, reason = "helpers of tests: a failed step should fail the test")]

mod support;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use git_credential_azdo::ipc::frame;
use git_credential_azdo::ipc::{Hello, Request};
use support::{TestEnv, assert_success, process_alive, stderr, stdout, wait_for};

const GET: &str = "protocol=https\nhost=example.com\n\n";
const ANSWER: &str = "username=alice\npassword=pw\n";

/// An environment with one stored credential and no daemon running.
fn env_with_credential() -> TestEnv {
    TestEnv::with_credential("https://alice:pw@example.com")
}

/// Takes the daemon's place as a test double: holds its lock and listens on its socket.
fn fake_daemon(env: &TestEnv) -> (std::fs::File, UnixListener) {
    std::fs::create_dir_all(env.runtime_dir()).unwrap();
    std::fs::set_permissions(env.runtime_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let lock = std::fs::File::create(env.runtime_dir().join("daemon.lock")).unwrap();
    lock.lock().unwrap();
    (lock, UnixListener::bind(env.socket()).unwrap())
}

/// Accepts one connection within `limit` (failing the test after it), with its reads and
/// writes bounded by `limit` too.
fn accept_within(listener: &UnixListener, limit: Duration) -> UnixStream {
    listener.set_nonblocking(true).unwrap();
    let start = std::time::Instant::now();
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                stream.set_read_timeout(Some(limit)).unwrap();
                stream.set_write_timeout(Some(limit)).unwrap();
                return stream;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(start.elapsed() < limit, "no connection within {limit:?}");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Helpers get their answers, quietly, and the daemon `pid` is the one serving: `status` asks
/// the daemon and reports its pid, or reads the stores itself when the daemon cannot be reached.
#[cfg(target_os = "linux")]
fn git_is_served_by(env: &TestEnv, pid: u32) {
    for _ in 0..3 {
        let out = env.helper(&["get"], GET);
        assert_eq!((stdout(&out).as_str(), stderr(&out).as_str()), (ANSWER, ""));
    }
    let status = env.helper(&["status"], "");
    assert!(stdout(&status).contains(&format!("running (pid {pid},")), "the daemon answered: {}", stdout(&status));
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_helper_starts_an_owner_only_daemon_on_demand() {
    let env = env_with_credential();
    let out = env.helper(&["get"], GET);
    assert_success(&out, "get");
    assert_eq!(stdout(&out), ANSWER);
    assert_eq!(stderr(&out), "");
    let pid = env.daemon_pid().expect("a daemon runs");
    assert_eq!(mode(&env.runtime_dir()), 0o700);
    assert_eq!(mode(&env.socket()), 0o600);

    // The next helper uses the same daemon.
    assert_eq!(stdout(&env.helper(&["get"], GET)), ANSWER);
    assert_eq!(env.daemon_pid(), Some(pid));
}

#[test]
#[cfg(target_os = "linux")]
fn the_daemon_keeps_neither_the_repository_directory_nor_one_commands_git_settings() {
    let env = env_with_credential();
    let repo = env.path("some-repo");
    std::fs::create_dir_all(&repo).unwrap();
    let mut cmd = env.command("git");
    cmd.current_dir(&repo).args(["-c", "credential.helper=", "-c"]).arg(format!("credential.helper={}", support::BIN));
    cmd.args(["-c", "http.extraHeader=X-One-Command: yes", "credential", "fill"]);
    let out = support::run(cmd, "url=https://example.com\n\n");
    assert_success(&out, "git credential fill");
    let pid = env.daemon_pid().expect("git's helper started the daemon");
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap();
    assert_eq!(cwd, env.runtime_dir(), "the daemon does not sit in the repository");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let environ = String::from_utf8_lossy(&environ);
    assert!(!environ.contains("GIT_CONFIG_PARAMETERS"), "{environ}");
    assert!(environ.contains("GIT_CREDENTIAL_AZDO_STORE=file"), "the user's settings are kept");
}

/// The helper that starts the daemon may run in a pipeline or a pod whose environment holds
/// secrets (the job token, a client secret): the daemon outlives that job and runs programs of
/// its own (the Azure CLI, `git config`), so none of them is in its environment. (It is given
/// what it needs with each request instead.)
#[test]
#[cfg(target_os = "linux")]
fn the_daemon_keeps_no_secret_of_the_environment_that_started_it() {
    let env = env_with_credential();
    let secrets = [
        ("SYSTEM_ACCESSTOKEN", "job-token-secret"),
        ("AZURE_DEVOPS_EXT_PAT", "env-pat-secret"),
        ("AZURE_CLIENT_SECRET", "client-secret"),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "oidc-request-secret"),
        ("IDENTITY_HEADER", "identity-header-secret"),
        ("MSI_SECRET", "msi-secret"),
    ];
    let mut cmd = env.command(support::BIN);
    cmd.arg("get").envs(secrets);
    let out = support::run(cmd, GET);
    assert_eq!(stdout(&out), ANSWER);
    let pid = env.daemon_pid().expect("the helper started the daemon");
    let environ = String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/environ")).unwrap()).into_owned();
    for (name, secret) in secrets {
        assert!(!environ.contains(secret) && !environ.contains(&format!("{name}=")), "{name}");
    }
    assert!(environ.contains("GIT_CREDENTIAL_AZDO_STORE=file"), "the user's settings are kept");
}

#[test]
#[cfg(target_os = "linux")]
fn twenty_racing_helpers_leave_exactly_one_daemon() {
    let env = env_with_credential();
    let helpers: Vec<_> = (0..20)
        .map(|_| {
            let mut cmd = env.command(support::BIN);
            cmd.arg("get").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            child.stdin.take().unwrap().write_all(GET.as_bytes()).unwrap();
            child
        })
        .collect();
    for child in helpers {
        let out = support::output_within(child, Duration::from_secs(30));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), ANSWER, "{}", String::from_utf8_lossy(&out.stderr));
    }
    let pid = env.daemon_pid().expect("a daemon runs");
    // A daemon that lost the race gives up within its lock wait; wait for that to settle.
    wait_for("the losers to exit", Duration::from_secs(15), || env.daemon_processes() == [pid]);
}

#[test]
fn a_stale_socket_after_kill_9_is_recovered() {
    let env = env_with_credential();
    assert_eq!(stdout(&env.helper(&["get"], GET)), ANSWER);
    let old = env.daemon_pid().unwrap();
    Command::new("kill").args(["-9", &old.to_string()]).status().unwrap();
    // The pid can look dead (a zombie leader) while the process's other threads still hold the
    // socket; what matters is that the socket refuses connections.
    wait_for(
        "the dead daemon's socket to refuse",
        Duration::from_secs(10),
        || matches!(UnixStream::connect(env.socket()), Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused),
    );
    assert!(env.socket().exists(), "kill -9 leaves the socket file behind");

    let out = env.helper(&["get"], GET);
    assert_eq!(stdout(&out), ANSWER);
    assert_eq!(stderr(&out), "");
    let new = env.daemon_pid().expect("a new daemon runs");
    assert_ne!(new, old);
}

#[test]
fn a_daemon_of_another_protocol_version_is_replaced() {
    let env = env_with_credential();
    // An "old" daemon: holds the lock and the socket, speaks protocol 0, exits when asked.
    let (lock, listener) = fake_daemon(&env);
    let socket = env.socket();
    let old = std::thread::spawn(move || {
        let mut stream = accept_within(&listener, Duration::from_secs(20));
        let hello: Hello = frame::read_sync(&mut stream).unwrap();
        let old_hello = Hello { protocol: 0, version: "0.0.1".into(), pid: 1, replace_on_mismatch: false };
        frame::write_sync(&mut stream, &old_hello).unwrap();
        // Exit as a real daemon would: socket gone, lock released.
        drop(listener);
        std::fs::remove_file(socket).unwrap();
        drop(lock);
        hello
    });

    let out = env.helper(&["get"], GET);
    assert_eq!(stdout(&out), ANSWER, "{}", stderr(&out));
    let hello = old.join().unwrap();
    assert!(hello.replace_on_mismatch, "the helper asked the old daemon to make way");
    let pid = env.daemon_pid().expect("a current daemon took over");
    let status = env.helper(&["status", "--json"], "");
    assert!(stdout(&status).contains(&format!("\"pid\": {pid}")), "{}", stdout(&status));
}

#[test]
fn garbage_and_stalled_clients_do_not_stop_the_daemon_serving_others() {
    let env = env_with_credential();
    assert_eq!(stdout(&env.helper(&["get"], GET)), ANSWER);
    let pid = env.daemon_pid().unwrap();

    let mut stalled = UnixStream::connect(env.socket()).unwrap();
    let mut half_hello = UnixStream::connect(env.socket()).unwrap();
    half_hello.write_all(&[0, 0, 0, 200, b'{']).unwrap();
    let mut oversized = UnixStream::connect(env.socket()).unwrap();
    oversized.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let mut garbage = UnixStream::connect(env.socket()).unwrap();
    garbage.write_all(b"\x00\x00\x00\x05hello this is not json at all").unwrap();

    for _ in 0..3 {
        let out = env.helper(&["get"], GET);
        assert_eq!(stdout(&out), ANSWER);
    }
    // The daemon closed the connections that sent nonsense, without answering them.
    assert!(hung_up_silently(&mut oversized));
    assert!(hung_up_silently(&mut garbage));
    // A well-formed hello with a malformed request gets a typed error back.
    let mut bad_request = UnixStream::connect(env.socket()).unwrap();
    let mut out = Vec::new();
    frame::encode(&Hello::ours(false), &mut out).unwrap();
    out.extend_from_slice(b"\x00\x00\x00\x02{}");
    bad_request.write_all(&out).unwrap();
    bad_request.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _: Hello = frame::read_sync(&mut bad_request).unwrap();
    let answer: git_credential_azdo::ipc::Response = frame::read_sync(&mut bad_request).unwrap();
    assert!(
        matches!(
            answer,
            git_credential_azdo::ipc::Response::Error { kind: git_credential_azdo::ipc::ErrorKind::BadRequest, .. }
        ),
        "{answer:?}"
    );
    assert_eq!(env.daemon_pid(), Some(pid), "the same daemon is still serving");

    // Stalled clients are timed out rather than held forever.
    assert!(hung_up_silently(&mut stalled), "the daemon hung up on a silent client");
    assert!(hung_up_silently(&mut half_hello), "and on one that stopped half-way");
}

#[test]
#[cfg(target_os = "linux")]
fn a_thousand_idle_connections_are_dropped_while_others_are_served_and_memory_stays_bounded() {
    use std::sync::atomic::{AtomicBool, Ordering};
    /// Sets its flag when dropped, a panic included.
    struct SetOnDrop<'a>(&'a AtomicBool);
    impl Drop for SetOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }

    let env = env_with_credential();
    assert_eq!(stdout(&env.helper(&["get"], GET)), ANSWER);
    let pid = env.daemon_pid().unwrap();
    let (rss_before, fds_before) = (rss_kib(pid), open_fds(pid));
    // This test holds a thousand sockets of its own.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    if limit.current.is_some_and(|soft| soft < 1200) {
        let raised = rustix::process::Rlimit { current: limit.maximum.map(|hard| hard.min(4096)), ..limit };
        rustix::process::setrlimit(rustix::process::Resource::Nofile, raised).unwrap();
    }

    // The most connections the daemon holds at any moment, sampled until it has accepted them
    // all (it answered `status`, whose connection queued behind them).
    let stop = AtomicBool::new(false);
    let (held, mut idle) = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| {
            let mut most = 0;
            while !stop.load(Ordering::Relaxed) {
                most = most.max(open_fds(pid).saturating_sub(fds_before));
                std::thread::sleep(Duration::from_millis(1));
            }
            most
        });
        let stopping = SetOnDrop(&stop);
        // More than the daemon serves at once (512): silent ones, and ones that stopped after
        // the length of a hello.
        let idle: Vec<UnixStream> = (0..1000)
            .map(|i| {
                let mut stream = UnixStream::connect(env.socket()).unwrap();
                if i % 2 == 1 {
                    stream.write_all(&[0, 0, 0, 64]).unwrap();
                }
                stream
            })
            .collect();
        git_is_served_by(&env, pid);
        drop(stopping);
        (sampler.join().unwrap(), idle)
    });
    // The cap: the rest waited in the listen backlog, or were shed to make room. (The margin is
    // for the files a get opens meanwhile.)
    assert!(held <= 512 + 8, "the daemon held {held} connections at once");
    let grown = rss_kib(pid).saturating_sub(rss_before);
    assert!(grown < 16 * 1024, "the daemon grew by {grown} KiB");

    for (i, stream) in idle.iter_mut().enumerate() {
        assert!(hung_up_silently(stream), "idle connection {i} was dropped");
    }
    wait_for("the daemon to close the idle connections", Duration::from_secs(20), || open_fds(pid) <= fds_before);
    assert_eq!(env.daemon_pid(), Some(pid), "the same daemon is still serving");
}

#[test]
#[cfg(target_os = "linux")]
fn a_daemon_whose_backlog_is_full_does_not_hang_the_helper() {
    let env = env_with_credential();
    // A daemon that never accepts (stopped, say), and connections waiting until its listen
    // backlog is full: a blocking connect would wait for ever.
    let (lock, listener) = fake_daemon(&env);
    let address = socket2::SockAddr::unix(env.socket()).unwrap();
    let mut waiting = Vec::new();
    loop {
        let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
        socket.set_nonblocking(true).unwrap();
        match socket.connect(&address) {
            Ok(()) => waiting.push(socket),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("connect: {e}"),
        }
        assert!(waiting.len() < 100_000, "the backlog never filled");
    }

    let out = env.helper(&["get"], GET);
    assert_eq!(stdout(&out), ANSWER, "answered in-process: {}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(env.daemon_processes(), Vec::<u32>::new(), "no daemon was started beside the busy one");
    drop((listener, lock));
}

#[test]
#[cfg(target_os = "linux")]
fn a_request_larger_than_git_sends_is_refused_at_once_and_starts_nothing() {
    let env = env_with_credential();
    // Well over the IPC frame limit (8 MiB): each line within git's limit, so only the whole is
    // too large.
    let line = format!("wwwauth[]=Bearer {}\n", "x".repeat(60_000));
    let request = format!("protocol=https\nhost=example.com\n{}\n", line.repeat(150));
    let out = env.helper(&["get"], &request);
    assert!(!out.status.success());
    assert_eq!(
        support::our_only_line(&out),
        "git-credential-azdo: the credential request is longer than 1024 KiB, more than git sends"
    );
    assert_eq!(stdout(&out), "");
    assert_eq!(env.daemon_processes(), Vec::<u32>::new(), "no daemon was started for it");
    assert!(!env.runtime_dir().exists(), "not even its directory");
    // A request within the limit is answered as ever.
    assert_eq!(stdout(&env.helper(&["get"], GET)), ANSWER);
}

#[test]
#[cfg(target_os = "linux")]
fn large_requests_sent_slowly_hold_a_bounded_amount_of_the_daemons_memory() {
    let env = env_with_credential();
    assert_eq!(stdout(&env.helper(&["get"], GET)), ANSWER);
    let pid = env.daemon_pid().unwrap();
    let (before, fds_before) = (vm_size_kib(pid), open_fds(pid));
    // Connections that announce the largest request allowed (8 MiB) and send a little of it.
    let mut hello = Vec::new();
    frame::encode(&Hello::ours(false), &mut hello).unwrap();
    let slow: Vec<UnixStream> = (0..100)
        .map(|_| {
            let mut stream = UnixStream::connect(env.socket()).unwrap();
            stream.write_all(&hello).unwrap();
            stream.write_all(&u32::try_from(frame::MAX_FRAME).unwrap().to_be_bytes()).unwrap();
            stream.write_all(&[b'{'; 1024]).unwrap();
            stream
        })
        .collect();
    // git's requests are served meanwhile.
    git_is_served_by(&env, pid);
    // 100 such requests would take 800 MiB; the daemon takes at most 32 MiB for them. (The
    // margin is for what new threads reserve: a stack, and an allocator arena of 64 MiB.)
    let grown = vm_size_kib(pid).saturating_sub(before);
    assert!(grown < 400 * 1024, "the daemon's memory grew by {grown} KiB");
    // Each is dropped, over the budget at once or too slow after the read timeout.
    wait_for("the daemon to close them", Duration::from_secs(20), || open_fds(pid) <= fds_before);
    drop(slow);
    assert_eq!(env.daemon_pid(), Some(pid));
}

#[test]
#[cfg(target_os = "linux")]
fn a_socket_removed_or_replaced_under_the_daemon_costs_git_no_wait_and_is_bound_again() {
    let mut env = env_with_credential();
    assert_eq!(stdout(&env.helper(&["get"], GET)), ANSWER);
    let pid = env.daemon_pid().unwrap();
    let served_by_the_daemon =
        |env: &TestEnv| stdout(&env.helper(&["status"], "")).contains(&format!("running (pid {pid},"));
    // What the helpers do, from their own words.
    let log = env.path("helpers.log");
    env.set_env("GIT_CREDENTIAL_AZDO_LOG", "debug");
    env.set_env("GIT_CREDENTIAL_AZDO_LOG_FILE", &log);

    // A tmp cleaner removes the socket.
    std::fs::remove_file(env.socket()).unwrap();
    for _ in 0..3 {
        let out = env.helper(&["get"], GET);
        assert_eq!(stdout(&out), ANSWER, "answered in-process: {}", stderr(&out));
        assert_eq!(stderr(&out), "");
    }
    // Not a daemon started to wait (3 s) for the running one's lock and then give up.
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("answering without the daemon"), "{said}");
    assert!(!said.contains("starting the daemon") && !said.contains("started the daemon"), "{said}");
    assert_eq!(env.daemon_processes(), vec![pid], "no other daemon was started");
    env.remove_env("GIT_CREDENTIAL_AZDO_LOG");
    wait_for("the daemon to bind its socket again", Duration::from_secs(15), || env.socket().exists());
    assert!(served_by_the_daemon(&env));
    assert_eq!(mode(&env.socket()), 0o600);

    // Replaced by another socket, which answers nothing: the daemon takes its path back.
    std::fs::remove_file(env.socket()).unwrap();
    let impostor = UnixListener::bind(env.socket()).unwrap();
    let impostor_inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(env.socket()).unwrap());
    wait_for("the daemon to bind its socket again", Duration::from_secs(15), || {
        std::fs::metadata(env.socket()).is_ok_and(|m| std::os::unix::fs::MetadataExt::ino(&m) != impostor_inode)
    });
    drop(impostor);
    assert!(served_by_the_daemon(&env));
    assert_eq!(env.daemon_processes(), vec![pid]);

    // The whole directory goes: the next helper starts a daemon in a new one, and this one,
    // whose lock is no longer the directory's, leaves it that daemon's socket and exits.
    std::fs::remove_dir_all(env.runtime_dir()).unwrap();
    assert_eq!(stdout(&env.helper(&["get"], GET)), ANSWER);
    wait_for("the old daemon to exit", Duration::from_secs(15), || !process_alive(pid));
    let new = env.daemon_pid().expect("a new daemon");
    assert_ne!(new, pid);
    assert_eq!(env.daemon_processes(), vec![new]);
    assert!(stdout(&env.helper(&["status"], "")).contains(&format!("running (pid {new},")));
}

/// The process's virtual memory size, from /proc: what it has allocated, touched or not.
#[cfg(target_os = "linux")]
fn vm_size_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The process's resident memory, from /proc.
#[cfg(target_os = "linux")]
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[cfg(target_os = "linux")]
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

/// Whether the peer closed the connection without sending anything (a reset counts: the daemon
/// closed with our unread bytes in its buffer).
fn hung_up_silently(stream: &mut UnixStream) -> bool {
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut rest = Vec::new();
    match stream.read_to_end(&mut rest) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[test]
fn the_helper_answers_in_process_when_the_daemon_is_stuck() {
    let env = env_with_credential();
    // A daemon that accepts and then never answers, holding the lock so none can replace it.
    let (lock, listener) = fake_daemon(&env);
    let stuck = std::thread::spawn(move || {
        let held: Vec<UnixStream> = (0..2).map(|_| accept_within(&listener, Duration::from_secs(20))).collect();
        held.len()
    });

    let out = env.helper(&["get"], GET);
    assert_eq!(stdout(&out), ANSWER, "answered in-process: {}", stderr(&out));
    assert_eq!(stderr(&out), "");
    // The same holds for store: the credential lands in the store the daemon would use.
    let store = env.helper(&["store"], "protocol=https\nhost=other.example.com\nusername=bob\npassword=pb\n\n");
    assert_success(&store, "store");
    let mut in_process = env.command(support::BIN);
    in_process.env("GIT_CREDENTIAL_AZDO_NO_DAEMON", "1").arg("get");
    let got = support::run(in_process, "protocol=https\nhost=other.example.com\n\n");
    assert_eq!(stdout(&got), "username=bob\npassword=pb\n");
    assert_eq!(stuck.join().unwrap(), 2, "both helpers tried the stuck daemon first");
    drop(lock);
}

/// A daemon that says hello and then never answers (stopped, say), while what the helper does
/// in-process is slow too: `git config` hangs, or a state file's lock is held. Each has its
/// own limit, but together they must not take git past the helper's deadline: the helper ends
/// in time, with the answer when it can still have it, else one line.
#[test]
fn the_helper_ends_by_its_deadline_when_the_daemon_stalls_after_its_hello_and_the_rest_is_slow() {
    /// `GIT_CREDENTIAL_AZDO_TIMEOUT`: the daemon is given 4.5 s of it, the in-process answer 0.5 s.
    const DEADLINE: Duration = Duration::from_secs(5);
    /// What starting the helper and git's process may add beyond the deadline itself.
    const SLACK: Duration = Duration::from_millis(700);
    let mut env = env_with_credential();
    env.set_env("GIT_CREDENTIAL_AZDO_TIMEOUT", DEADLINE.as_secs().to_string());
    // A `git` that hangs, before the real one on the helper's PATH.
    let bin = env.path("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(
        bin.join("git"),
        "#!/bin/sh
exec sleep 60\n",
    )
    .unwrap();
    std::fs::set_permissions(bin.join("git"), std::fs::Permissions::from_mode(0o755)).unwrap();
    env.set_env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()));
    let (lock, listener) = fake_daemon(&env);
    let stalling = std::thread::spawn(move || {
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut stream = accept_within(&listener, Duration::from_secs(20));
            let _: Hello = frame::read_sync(&stream).unwrap();
            let _: Request = frame::read_sync(&stream).unwrap();
            let mut hello = Vec::new();
            frame::encode(&Hello::ours(false), &mut hello).unwrap();
            stream.write_all(&hello).unwrap();
            held.push(stream);
        }
        // Kept open until the test ends: the helpers are left waiting for an answer.
        held
    });

    let started = std::time::Instant::now();
    let out = env.helper(&["get"], GET);
    let took = started.elapsed();
    assert!(took < DEADLINE + SLACK, "get took {took:?}");
    assert_eq!(stdout(&out), ANSWER, "answered in-process in time: {}", stderr(&out));
    assert_eq!(stderr(&out), "");

    // A store whose lock is held (by this test): the in-process store would wait 2 s for it.
    let held = std::fs::File::create(env.state_dir().join("credentials.lock")).unwrap();
    held.lock().unwrap();
    let started = std::time::Instant::now();
    let out = env.helper(&["store"], "protocol=https\nhost=other.example.com\nusername=bob\npassword=pb\n\n");
    let took = started.elapsed();
    assert!(took < DEADLINE + SLACK, "store took {took:?}");
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out),
        "git-credential-azdo: could not answer within 5.0 s (GIT_CREDENTIAL_AZDO_TIMEOUT); try again in a moment\n"
    );
    drop(held);
    assert_eq!(stalling.join().unwrap().len(), 2, "both helpers tried the stalling daemon first");
    drop(lock);
}

#[test]
fn the_helper_answers_when_no_daemon_can_be_started() {
    let mut env = env_with_credential();
    // A runtime directory that cannot be created: the daemon has nowhere to live.
    std::fs::write(env.path("not-a-dir"), "").unwrap();
    env.set_env("GIT_CREDENTIAL_AZDO_RUNTIME_DIR", env.path("not-a-dir/run"));
    let out = env.helper(&["get"], GET);
    assert_eq!(stdout(&out), ANSWER);
    assert_eq!(stderr(&out), "");
}

#[test]
fn the_daemon_exits_when_idle_and_removes_its_socket() {
    let mut env = env_with_credential();
    env.set_env("GIT_CREDENTIAL_AZDO_IDLE_TIMEOUT", "0.3");
    assert_eq!(stdout(&env.helper(&["get"], GET)), ANSWER);
    // It may be gone already.
    let pid = env.last_daemon_pid().expect("a daemon was started");
    wait_for("the idle daemon to exit", Duration::from_secs(15), || !process_alive(pid));
    assert!(!env.socket().exists(), "an orderly exit removes the socket");
}

#[test]
fn the_foreground_daemon_stops_on_sigterm_and_on_the_stop_command() {
    let env = env_with_credential();
    for how in ["sigterm", "stop"] {
        let mut cmd = env.command(support::BIN);
        cmd.arg("daemon").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut daemon = cmd.spawn().unwrap();
        wait_for("the socket", Duration::from_secs(10), || env.socket().exists());
        assert_eq!(stdout(&env.helper(&["get"], GET)), ANSWER);
        assert_eq!(env.daemon_pid(), Some(daemon.id()), "the helper used the foreground daemon");
        if how == "sigterm" {
            Command::new("kill").args(["-TERM", &daemon.id().to_string()]).status().unwrap();
        } else {
            let out = env.helper(&["daemon", "stop"], "");
            assert_eq!(stdout(&out), "the daemon is stopping\n");
        }
        let status = support::wait_for_exit(&mut daemon, Duration::from_secs(10));
        assert!(status.success(), "{how}: {status}");
        let mut err = String::new();
        daemon.stderr.take().unwrap().read_to_string(&mut err).unwrap();
        assert_eq!(err, "", "{how}: a quiet daemon");
        assert!(!env.socket().exists(), "{how}: the socket is removed");
    }
    assert_eq!(stdout(&env.helper(&["daemon", "stop"], "")), "no daemon is running\n");
}

#[test]
#[cfg(target_os = "linux")]
fn another_user_cannot_talk_to_the_daemon() {
    let python = "/usr/bin/python3";
    if !running_as_root()
        || Command::new("setpriv").arg("--version").output().is_err()
        || !std::path::Path::new(python).exists()
    {
        // Needs root to act as a second user; CI runs as root with setpriv (util-linux) and
        // Debian's python3.
        support::skip("needs root, setpriv and /usr/bin/python3 to act as a second user");
        return;
    }
    let env = env_with_credential();
    assert_eq!(stdout(&env.helper(&["get"], GET)), ANSWER);
    // Open the directory and the socket to everyone, so that only the daemon's check remains.
    for dir in [env.root.path().to_owned(), env.path("run"), env.runtime_dir()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(env.socket(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut request = Vec::new();
    frame::encode(&Hello::ours(false), &mut request).unwrap();
    frame::encode(&git_credential_azdo::ipc::Request::Status, &mut request).unwrap();
    // The daemon may hang up while the request is still being sent, or with it unread.
    let script = "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.connect(sys.argv[1])\n\
                  s.settimeout(10)\nn=0\ntry:\n  s.sendall(sys.stdin.buffer.read())\n  n=len(s.recv(65536))\n\
                  except (BrokenPipeError, ConnectionResetError):\n  pass\nprint(n)";
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", python, "-c", script]).arg(env.socket());
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(&request).unwrap();
    let out = support::output_within(child, Duration::from_secs(30));
    assert_success(&out, "the other user's client");
    assert_eq!(stdout(&out).trim(), "0", "the daemon hung up without a byte: {}", stderr(&out));
    // The same request from our own user is answered.
    let mut ours = UnixStream::connect(env.socket()).unwrap();
    ours.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    ours.write_all(&request).unwrap();
    let hello: Hello = frame::read_sync(&mut ours).unwrap();
    assert_eq!(hello.protocol, git_credential_azdo::ipc::PROTOCOL_VERSION);
}

#[cfg(target_os = "linux")]
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// systemd's socket activation, done as systemd does it: a listening socket on fd 3,
/// `LISTEN_FDS=1`, `LISTEN_PID` = the daemon's pid.
const SOCKET_ACTIVATE: &str = "import os, socket, sys
path, exe = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(path)
os.chmod(path, 0o600)
s.listen(16)
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)
os.set_inheritable(3, True)
os.environ['LISTEN_FDS'] = '1'
os.environ['LISTEN_PID'] = str(os.getpid())
os.execv(exe, [exe, 'daemon'])
";

#[test]
fn a_socket_handed_over_by_systemd_is_served_and_left_in_place() {
    let env = env_with_credential();
    std::fs::create_dir_all(env.runtime_dir()).unwrap();
    std::fs::set_permissions(env.runtime_dir(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut manager = env.command("python3");
    manager.args(["-c", SOCKET_ACTIVATE]).arg(env.socket()).arg(support::BIN);
    let mut daemon = manager.stdin(Stdio::null()).stdout(Stdio::null()).spawn().unwrap();
    wait_for("the manager's socket", Duration::from_secs(10), || env.socket().exists());

    // Connections queue on the manager's socket until the daemon it started accepts them.
    let out = env.helper(&["get"], GET);
    assert_eq!(stdout(&out), ANSWER);
    wait_for("the daemon's lock", Duration::from_secs(10), || env.daemon_pid().is_some());
    assert_eq!(env.daemon_pid(), Some(daemon.id()), "the activated daemon answered; no other was started");
    #[cfg(target_os = "linux")]
    assert_eq!(env.daemon_processes(), vec![daemon.id()]);
    let status = stdout(&env.helper(&["status"], ""));
    assert!(status.contains(&format!("socket {})", env.socket().display())), "{status}");

    assert_success(&env.helper(&["daemon", "stop"], ""), "daemon stop");
    assert!(support::wait_for_exit(&mut daemon, Duration::from_secs(10)).success());
    assert!(env.socket().exists(), "the manager's socket stays for the next activation");
}
