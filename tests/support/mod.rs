//! Test support: an isolated user environment for the built binary and real git, and a git
//! HTTP server (real `git http-backend` behind a small front that checks Basic credentials).
#![allow(dead_code, reason = "each test binary uses a different part of the support module")]
#![allow(clippy::unwrap_used, reason = "test support: a failed set-up step should fail the test at once")]
#![allow(unreachable_pub, reason = "shared by several test crates, each using part of it")]

pub mod devops;
pub mod entra;
pub mod git_server;
pub mod proxy;
pub mod scale;
mod server;
pub mod vssps;
pub mod world;

pub use server::Server;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_git-credential-azdo");

/// The text of every file in `dir` (none when there is no such directory), one a line.
pub fn files_text(dir: &Path) -> String {
    let Ok(entries) = std::fs::read_dir(dir) else { return String::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files.iter().map(|p| std::fs::read_to_string(p).unwrap() + "\n").collect()
}

/// A throwaway home: HOME, XDG directories and git's global config all point into a temporary
/// directory, and the helper keeps secrets in its owner-only file (tests never touch the
/// developer's keyring). Dropping it stops the daemon it may have started.
pub struct TestEnv {
    pub root: tempfile::TempDir,
    extra_env: Vec<(String, OsString)>,
    bin: PathBuf,
}

impl TestEnv {
    pub fn new() -> Self {
        let root = tempfile::Builder::new().prefix("azdo").tempdir().expect("temp dir");
        for dir in ["home", "run", "data", "cache", "config"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(root.path().join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
        }
        std::fs::write(root.path().join("gitconfig"), "").unwrap();
        Self { root, extra_env: Vec::new(), bin: PathBuf::from(BIN) }
    }

    /// The helper binary that [`Self::helper`] and [`Self::git`] run: cargo's build of it
    /// unless a benchmark chose another.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    pub fn set_bin(&mut self, bin: PathBuf) {
        self.bin = bin;
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    /// The daemon's private runtime directory.
    pub fn runtime_dir(&self) -> PathBuf {
        self.path("run/git-credential-azdo")
    }

    pub fn socket(&self) -> PathBuf {
        self.runtime_dir().join("daemon.sock")
    }

    pub fn state_dir(&self) -> PathBuf {
        self.path("data/git-credential-azdo")
    }

    /// What the owner-only file store holds: the text of every secret's file, one a line.
    pub fn stored_secrets(&self) -> String {
        files_text(&self.state_dir().join("secrets"))
    }

    /// What is kept of the credentials git stored, without secrets: the text of every host's
    /// file, one a line.
    pub fn stored_credentials(&self) -> String {
        files_text(&self.state_dir().join("credentials"))
    }

    /// The file that keeps the credentials stored for `host` (https).
    pub fn host_file(&self, host: &str) -> PathBuf {
        let dir = self.state_dir().join("credentials");
        std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(&format!("\"host\": \"{host}\""))))
            .unwrap_or_else(|| panic!("no file in {} for {host}", dir.display()))
    }

    pub fn set_env(&mut self, key: &str, value: impl Into<OsString>) {
        self.extra_env.push((key.to_owned(), value.into()));
    }

    pub fn remove_env(&mut self, key: &str) {
        self.extra_env.retain(|(k, _)| k != key);
    }

    /// A command with this environment and nothing of the developer's git or helper settings.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("GIT_") || key.starts_with("XDG_") || key.ends_with("ASKPASS") {
                cmd.env_remove(&*key);
            }
        }
        cmd.env("HOME", self.path("home"))
            .env("XDG_RUNTIME_DIR", self.path("run"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("XDG_CACHE_HOME", self.path("cache"))
            .env("XDG_CONFIG_HOME", self.path("config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", self.path("gitconfig"))
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CREDENTIAL_AZDO_STORE", "file")
            .env("GIT_CREDENTIAL_AZDO_IDLE_TIMEOUT", "120")
            .current_dir(self.path("home"));
        for (key, value) in &self.extra_env {
            cmd.env(key, value);
        }
        cmd
    }

    /// Runs the helper binary with `args`, `stdin` as its input; waits at most 30 s.
    pub fn helper(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = self.command(&self.bin);
        cmd.args(args);
        run(cmd, stdin)
    }

    /// Runs real git with our helper as the only credential helper.
    pub fn git(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = self.command("git");
        cmd.args(["-c", "credential.helper=", "-c"]).arg(format!("credential.helper={}", self.bin.display()));
        cmd.args(["-c", "credential.interactive=false"]).args(args);
        run(cmd, stdin)
    }

    /// Runs real git with only the helpers the environment's git config names.
    pub fn git_as_configured(&self, args: &[&str], stdin: &str) -> Output {
        let mut cmd = self.command("git");
        cmd.args(["-c", "credential.interactive=false"]).args(args);
        run(cmd, stdin)
    }

    /// `git credential fill` for `url`: the (username, password) git would use, or `None`.
    pub fn fill(&self, url: &str) -> Option<(String, String)> {
        let out = self.git(&["credential", "fill"], &format!("url={url}\n\n"));
        if !out.status.success() {
            return None;
        }
        let text = String::from_utf8(out.stdout).unwrap();
        let field = |key: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).map(str::to_owned);
        Some((field("username")?, field("password")?))
    }

    pub fn approve(&self, url: &str) {
        let out = self.git(&["credential", "approve"], &format!("url={url}\n\n"));
        assert_success(&out, "git credential approve");
    }

    pub fn reject(&self, url: &str) {
        let out = self.git(&["credential", "reject"], &format!("url={url}\n\n"));
        assert_success(&out, "git credential reject");
    }

    /// The pid of the daemon holding the lock, if one is alive.
    pub fn daemon_pid(&self) -> Option<u32> {
        self.last_daemon_pid().filter(|&pid| process_alive(pid))
    }

    /// The pid the last daemon wrote in its lock, whether it still runs or not.
    pub fn last_daemon_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.runtime_dir().join("daemon.lock")).ok()?;
        text.trim().parse().ok()
    }

    /// Processes running our daemon for this environment (Linux: read from /proc).
    #[cfg(target_os = "linux")]
    pub fn daemon_processes(&self) -> Vec<u32> {
        self.processes("daemon")
    }

    /// Processes running `git-credential-azdo {subcommand}` for this environment (Linux: read
    /// from /proc).
    #[cfg(target_os = "linux")]
    pub fn processes(&self, subcommand: &str) -> Vec<u32> {
        let marker = format!("XDG_RUNTIME_DIR={}", self.path("run").display());
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
            let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
            if args.len() < 2 || !args[0].ends_with(b"git-credential-azdo") || args[1] != subcommand.as_bytes() {
                continue;
            }
            let Ok(environ) = std::fs::read(entry.path().join("environ")) else { continue };
            if environ.split(|&b| b == 0).any(|var| var == marker.as_bytes()) {
                pids.push(pid);
            }
        }
        pids
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Some(pid) = self.daemon_pid() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
    }
}

/// An HTTP client for a test's own requests to the fakes (on loopback, no proxy).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().timeout(Duration::from_secs(10)).build().unwrap()
}

/// The variable that, outside CI, lets a test this machine cannot run pass as skipped.
pub const ALLOW_SKIP: &str = "GIT_CREDENTIAL_AZDO_TEST_ALLOW_SKIP";

/// A test that this machine cannot run (it lacks a tool, a D-Bus session, or root) ends here:
/// it fails, saying why, because a test that did not run has not passed. Outside CI, with
/// `GIT_CREDENTIAL_AZDO_TEST_ALLOW_SKIP=1`, it passes instead and says `SKIPPED` on the
/// terminal (past the harness's capture, so it shows among the results). Under `CI` it always
/// fails: CI must provide everything (`.ci/run`).
pub fn skip(reason: &str) {
    let test = std::thread::current().name().unwrap_or("this test").to_owned();
    let ci = std::env::var_os("CI").is_some();
    if ci || std::env::var(ALLOW_SKIP).map_or(true, |v| v != "1") {
        let how = if ci {
            "CI must provide it (see .ci/run)".to_owned()
        } else {
            format!("run the tests as CI does (README, Development), or set {ALLOW_SKIP}=1 to let it pass as skipped")
        };
        panic!("{test} cannot run on this machine: {reason}; {how}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {reason} (passes only because {ALLOW_SKIP}=1)");
}

/// Waits until `condition` holds, failing the test after `limit`.
pub fn wait_for(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn process_alive(pid: u32) -> bool {
    // A zombie has exited; only its table entry remains.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Runs `cmd` with `stdin`, killing it if it runs over 30 seconds: no test may hang.
pub fn run(mut cmd: Command, stdin: &str) -> Output {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_owned();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(stdin.as_bytes());
    });
    let output = output_within(child, Duration::from_secs(30));
    writer.join().unwrap();
    output
}

/// Waits for `child` to exit and collects its output, killing it and failing the test if it
/// runs over `limit`.
pub fn output_within(child: std::process::Child, limit: Duration) -> Output {
    let pid = child.id();
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let overran = finished.recv_timeout(limit).is_err();
        if overran {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        overran
    });
    let output = child.wait_with_output().expect("wait");
    let _ = done.send(());
    assert!(!watchdog.join().unwrap(), "the command ran over {limit:?} and was killed");
    output
}

/// Waits for `child` to exit, killing it and failing the test after `limit`.
pub fn wait_for_exit(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the command ran over {limit:?} and was killed");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Our lines in the stderr of git (or of the helper), among whatever git printed.
pub fn our_lines(out: &Output) -> Vec<String> {
    stderr(out).lines().filter(|l| l.starts_with("git-credential-azdo:")).map(str::to_owned).collect()
}

/// The helper's stderr, checked to be exactly one line of ours.
pub fn our_only_line(out: &Output) -> String {
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("git-credential-azdo: "), "{err}");
    err.trim_end().to_owned()
}

/// Creates an empty bare repository `name` under `root` with one commit on `main`.
pub fn make_repo(env: &TestEnv, root: &Path, name: &str) {
    let work = env.path("seed");
    let git = |args: &[&str], dir: &Path| {
        let mut cmd = env.command("git");
        cmd.current_dir(dir).args(["-c", "user.name=Seed", "-c", "user.email=seed@example.com"]).args(args);
        let out = run(cmd, "");
        assert_success(&out, &format!("git {args:?}"));
    };
    std::fs::create_dir_all(&work).unwrap();
    git(&["init", "-q", "-b", "main"], &work);
    std::fs::write(work.join("README"), "hello\n").unwrap();
    git(&["add", "README"], &work);
    git(&["commit", "-q", "-m", "seed"], &work);
    let bare = root.join(name);
    git(&["clone", "-q", "--bare", work.to_str().unwrap(), bare.to_str().unwrap()], &work);
    std::fs::remove_dir_all(&work).unwrap();
}
