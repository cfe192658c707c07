//! Tracing set-up. Silent unless asked: git shows our stderr to the user, so nothing may be
//! written there when things go well.
//!
//! `GIT_CREDENTIAL_AZDO_LOG` takes a filter (`debug`, `git_credential_azdo=trace`), and
//! `GIT_CREDENTIAL_AZDO_LOG_FILE` a file to append to instead of stderr (owner-only). No event
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
    let file = std::env::var_os(ENV_LOG_FILE).and_then(|path| {
        let mut options = std::fs::OpenOptions::new();
        options.create(true).append(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(path).ok()
    });
    // A second initialisation (tests) is harmless; its error is not.
    let _ = match file {
        Some(file) => builder.with_ansi(false).with_writer(Mutex::new(file)).finish().with(filter).try_init(),
        None => {
            builder.with_ansi(colour(&std::io::stderr())).with_writer(std::io::stderr).finish().with(filter).try_init()
        }
    };
}

/// Whether log lines written to `stream` may carry colour: only on a terminal, and not when the
/// user asked for none (<https://no-color.org>).
fn colour(stream: &impl std::io::IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}
