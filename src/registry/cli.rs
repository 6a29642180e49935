//! `chiiki registry …` subcommands.

use anyhow::Result;
use clap::Subcommand;

use crate::config::Config;

#[derive(Subcommand)]
pub enum RegistryCommand {}

pub fn run(command: RegistryCommand, _config: &Config) -> Result<()> {
    match command {}
}
