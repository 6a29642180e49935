//! Subcommands that drive one crate each: argument types (clap) and what
//! to print; the work itself is the crate's.

pub mod audit;
pub mod geocode;
pub mod registry;
pub mod risk;
pub mod store;
pub mod token;
