//! # git-credential-azdo
//!
//! A git credential helper for Azure DevOps. The shape:
//!
//! ```text
//! git ──stdin/stdout──▶ helper (git-credential-azdo get|store|erase)   short-lived, synchronous
//!                         │  local socket / named pipe: versioned, length-prefixed JSON frames
//!                         ▼
//!                       daemon (git-credential-azdo daemon)              long-lived, tokio
//!                         └─ service
//!                              ├─ resolve: a plan: organization -> Entra account or PAT (per choice),
//!                              │           Server collection -> PAT, else stored; the service runs it
//!                              ├─ tokens: per-account access tokens, refreshed through Entra ID
//!                              ├─ accounts (accounts.json) and stored credentials (credentials/, a file per host)
//!                              └─ vault: secrets in the keyring, or owner-only files (one per secret)
//! ```
//!
//! ## Code map
//! - [`git`]: git's credential protocol ([`git::Credential`] reads and writes it) and the
//!   helper actions.
//! - [`ipc`]: the helper <-> daemon messages, framing, and the synchronous client with
//!   autostart.
//! - [`daemon`]: lock, socket (its own, or one systemd hands over), accept loop, idle exit
//!   and shutdown.
//! - [`service`]: one request in, one response out; shared by the daemon and the in-process
//!   fallback.
//! - [`store`]: secret stores and the credentials git asked us to keep.
//! - [`azdo`]: Azure DevOps knowledge: Services remotes and their organization, tenants,
//!   Server collections and what a PAT is for ([`azdo::Scope`]), `connectionData` checks, and
//!   the PAT lifecycle API ([`azdo::pat_api`]).
//! - [`choice`]: `azdo.<url>.auth` and `.identity`, the user's choices for a remote.
//! - [`identity`]: non-interactive identities (pipelines, workload identity, managed identity,
//!   the Azure CLI): read from the asking git's environment, fetched and cached by the daemon.
//! - [`resolve`]: which source answers a request (the domain's core decision): a
//!   [`resolve::Plan`] of sources in order and what to say when none answers, which the
//!   service carries out.
//! - [`tokens`]: the daemon's access tokens: single-flight refresh, refresh ahead, retries, from a
//!   [`tokens::TokenSource`] (Entra and the identities' endpoints, or a test's fake).
//! - [`accounts`]: Entra accounts, the organizations bound to them, their refresh tokens, and
//!   PATs per organization or collection.
//! - [`entra`]: Entra ID sign-in (browser with PKCE, device code) and refresh, with its errors.
//! - [`signin`]: the interactive sign-in shared by `login` and `get` in a terminal.
//! - [`net`]: git's own proxy and certificate settings (`http.<url>.proxy`, `sslCAInfo`...,
//!   and the environment) for every call made on git's behalf.
//! - [`config`]: settings from the environment; [`fs`]: private directories, atomic writes;
//!   [`secret`]: the redacting secret type; [`logging`], [`cli`].
//! - [`commands`]: the subcommands people type: `install` (git's configuration, through
//!   `git config`, and what Git Credential Manager configured: [`commands::gcm`]), `login`, `logout`, `accounts`, `status`, `daemon`, `completions`, `man`;
//!   `token` (the token git would get, for REST scripts: the daemon chooses it with `get`'s own
//!   code, [`ipc::Request::Token`]) and `pat` (PATs made, listed and revoked through the PAT API
//!   with the user's Entra token).
//!
//! ## Invariants
//! - stdout belongs to git in helper mode; stderr is silent on success.
//! - No secret reaches a log, an error message, `Debug` output or argv: secrets are
//!   [`secret::Secret`], error messages name keys and positions, never values.
//! - Every IPC step has a deadline; when the daemon cannot answer in time the helper answers
//!   in-process, so git never hangs or fails because of the daemon. A `get` carries what is
//!   left of the helper's deadline ([`ipc::Request::within`]); the daemon and the in-process
//!   answer end within it, whatever the network does.
//! - A cached token that has not expired is served at once; requests wait only when there is
//!   none, and then share one refresh ([`tokens`]).
//! - Only [`store`] touches the keyring and the secrets' files; the keyring is called from
//!   blocking threads only.
//! - State is written atomically, owner-only (0600 files in 0700 directories).
//! - No network call without a deadline; tokens are sent only to the Entra authority, the
//!   Azure DevOps base URL configured and its identity service (`vssps.` before its host, or as
//!   configured; for the PAT API) (https, or http on loopback), never to a host a server named,
//!   and HTTP clients do not follow redirects.
//! - stdout carries a secret only when the user asked for it: git's answer, `token`, and the
//!   PAT `pat create` made (shown once); never a PAT from `token`, never a PAT's value in
//!   `pat list`.
//! - Entra tokens and PATs handed to git are never stored through `store`; refresh tokens and
//!   PATs live only in the vault. A PAT goes only to its organization, or to repositories
//!   inside its collection.
//! - The helper talks only to a daemon of its own user: the socket's listener is checked
//!   before a byte is sent, and a runtime directory other users could write to is not used.
//! - No number from a server is computed with, and no token from one is kept, before
//!   [`entra::checks`] has checked it.
//! - Every file lock has a deadline (2 s); reads of the atomically replaced state files take
//!   none.
//! - Only the holder of `daemon.lock` binds or removes the daemon's socket. A socket given
//!   explicitly (`--socket`, another machine's daemon forwarded here) is never bound, replaced
//!   or started from the helper.
//! - `install` and `uninstall` touch only sections of their own (`credential.<url>/`), but for
//!   what `install` imports from Git Credential Manager when asked to (by default): the
//!   `azdo.[<url>.]auth` choice where none is set, and git's `credential.<url>.username` in the
//!   repository it runs in, where none is set. GCM's own settings are never changed.

pub mod accounts;
pub mod azdo;
pub mod choice;
pub mod cli;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod entra;
pub mod fs;
pub mod git;
pub mod identity;
pub mod ipc;
pub mod logging;
pub mod net;
pub mod resolve;
pub mod secret;
pub mod service;
pub mod signin;
pub mod store;
pub mod tokens;
