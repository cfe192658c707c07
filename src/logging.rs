//! Tracing set-up. Silent unless asked: git shows our stderr to the user, so nothing may be
//! written there when things go well.
//!
//! `GIT_CREDENTIAL_AZDO_LOG` takes a filter (`debug`, `git_credential_azdo=trace`), and
//! `GIT_CREDENTIAL_AZDO_LOG_FILE` a file to append to instead of stderr (owner-only; never a
//! link, nor a file of another user's). No event
//! anywhere in the crate records a secret; [`crate::secret::Secret`] prints as `<redacted>`.
//! Lines are coloured only on a terminal (and not when `NO_COLOR` is set): never in the file,
//! never in a pipe or in git's captured stderr.

use std::sync::Mutex;

pub const ENV_LOG: &str = "GIT_CREDENTIAL_AZDO_LOG";
pub const ENV_LOG_FILE: &str = "GIT_CREDENTIAL_AZDO_LOG_FILE";

pub fn init() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let Ok(filter) = std::env::var(ENV_LOG) else { return };
    // `Targets` (`debug`, `warn,git_credential_azdo=trace`) rather than `EnvFilter`, whose
    // regular expressions would add most of a megabyte to a binary git starts on every fetch.
    let filter: tracing_subscriber::filter::Targets = filter
        .parse()
        .unwrap_or_else(|_| tracing_subscriber::filter::Targets::new().with_default(tracing::Level::DEBUG));
    // The builder alone would stop at INFO; the filter decides.
    let builder = tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_target(false);
    let file = std::env::var_os(ENV_LOG_FILE).and_then(|path| open_log_file(std::path::Path::new(&path)));
    // A second initialisation (tests) is harmless; its error is not.
    let _ = match file {
        Some(file) => builder.with_ansi(false).with_writer(Mutex::new(file)).finish().with(filter).try_init(),
        None => {
            builder.with_ansi(colour(&std::io::stderr())).with_writer(std::io::stderr).finish().with(filter).try_init()
        }
    };
}

/// Opens the log file to append to, creating it owner-only. A link, or a file that is not a
/// regular file of ours (one another user made in `/tmp` for us to write into), is not used:
/// one line says so, and the logs go nowhere.
fn open_log_file(path: &std::path::Path) -> Option<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let no_follow = rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK;
        options.mode(0o600).custom_flags(i32::try_from(no_follow.bits()).unwrap_or_default());
    }
    let refuse = |why: &str| {
        eprintln!("{}: not logging to {}: {why}", crate::config::APP, path.display());
        None
    };
    let file = match options.open(path) {
        Ok(file) => file,
        Err(e) => return refuse(&e.to_string()),
    };
    let Ok(meta) = file.metadata() else { return refuse("cannot read what it is") };
    if !meta.is_file() {
        return refuse("not a regular file");
    }
    #[cfg(unix)]
    if std::os::unix::fs::MetadataExt::uid(&meta) != rustix::process::geteuid().as_raw() {
        return refuse("it belongs to another user");
    }
    Some(file)
}

/// Whether log lines written to `stream` may carry colour: only on a terminal, and not when the
/// user asked for none (<https://no-color.org>).
fn colour(stream: &impl std::io::IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn the_log_file_is_ours_and_never_a_link_or_a_fifo() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        assert!(open_log_file(&path).is_some(), "created");
        assert!(open_log_file(&path).is_some(), "appended to");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        assert!(open_log_file(&link).is_none(), "a link is not followed");
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(open_log_file(&fifo).is_none(), "a FIFO is not written to");
    }
}
