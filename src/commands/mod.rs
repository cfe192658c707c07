//! The bodies of the subcommands that are not git's helper actions.

pub mod daemon;
pub mod status;
