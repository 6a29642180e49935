//! The `chiiki` binary: the command line, `chiiki.toml`, and the demo city.
//!
//! Everything else lives in the workspace's crates, each a floor that may
//! only depend on the floors below it (README, "Layout"):
//! binary → server → policy → analysis → query → store → core, and the
//! producers (registry, geocode, risk, synth) → store → core.
//!
//! - [`cli`]: the commands, parsed with clap and merged into the config in
//!   one place ([`cli::Settings`]);
//! - [`config`]: `chiiki.toml`, composed of each crate's own section;
//! - [`commands`]: the subcommands of the producers and of policy;
//! - [`demo`]: the demo city built from the real public data.

pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod history;
