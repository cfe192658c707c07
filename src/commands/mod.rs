//! The bodies of the subcommands that are not git's helper actions.

pub mod accounts;
pub mod daemon;
pub mod install;
pub mod login;
pub mod pat;
pub mod status;
