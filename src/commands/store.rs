//! `chiiki store migrate`: copies every layer between the data directory's
//! GeoParquet files and a PostGIS database, then reads each back and
//! compares feature counts and checksums, printing one line per layer.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::config::{Config, StoreKind};
use chiiki_store::{GeoParquetStore, LayerStore, PostgisStore};

#[derive(Subcommand)]
pub enum StoreCommand {
    /// Copy every layer to the other store and verify counts and checksums:
    /// `--to postgis URL` from the data directory, `--to geoparquet --from URL` back.
    Migrate(MigrateArgs),
}

#[derive(Args)]
pub struct MigrateArgs {
    /// The store to copy into.
    #[arg(long, value_enum)]
    to: StoreKind,
    /// With `--to postgis`: the database (`postgres://user@host:port/db`;
    /// default: the config's `[postgis] url`). Its password comes from the
    /// config's `password_env` or `password_file`.
    url: Option<String>,
    /// With `--to geoparquet`: the database to copy from (default: the config's).
    #[arg(long)]
    from: Option<String>,
    /// The data directory (default: the config's data_dir).
    #[arg(long)]
    data: Option<PathBuf>,
}

pub fn run(command: StoreCommand, config: &Config) -> Result<()> {
    match command {
        StoreCommand::Migrate(args) => migrate(args, config),
    }
}

fn migrate(args: MigrateArgs, config: &Config) -> Result<()> {
    let data = config.data_dir(args.data.as_deref());
    let configured = config.postgis.as_ref().map(|p| p.url.clone());
    let url = match args.to {
        StoreKind::Postgis => {
            anyhow::ensure!(
                args.from.is_none(),
                "--from is for --to geoparquet; with --to postgis the source is the data directory"
            );
            args.url.or(configured)
        }
        StoreKind::Geoparquet => {
            anyhow::ensure!(
                args.url.is_none(),
                "with --to geoparquet name the database with --from URL"
            );
            args.from.or(configured)
        }
    }
    .context("no database: give its URL (or a [postgis] section in the config)")?;
    let password = match &config.postgis {
        Some(p) => p.password()?,
        None => None,
    };
    let database = PostgisStore::connect(&url, password.as_deref())?;
    let directory = GeoParquetStore::new(&data);
    let dir_name = chiiki_store::geoparquet::layers_dir(&data)
        .display()
        .to_string();
    let (from, to, from_name, to_name): (&dyn LayerStore, &dyn LayerStore, &str, &str) =
        match args.to {
            StoreKind::Postgis => (&directory, &database, &dir_name, &url),
            StoreKind::Geoparquet => (&database, &directory, &url, &dir_name),
        };
    println!("copying the layers of {from_name} into {to_name}");
    let started = std::time::Instant::now();
    let verified = chiiki_store::migrate::copy_all(from, to, &mut |id, n, secs| {
        println!("  {id:<32} {n:>9} features  {secs:>6.2} s");
    })?;
    let elapsed = started.elapsed();
    println!(
        "\n{:<32} {:>9} {:>9}  {:<24} {:<24}",
        "layer", "source", "target", "source checksum", "target checksum"
    );
    let short = |s: &str| format!("{}…", &s[..s.len().min(22)]);
    let mut wrong = Vec::new();
    for v in &verified {
        println!(
            "{:<32} {:>9} {:>9}  {:<24} {:<24} {}",
            v.id,
            v.source_features,
            v.target_features,
            short(&v.source_checksum),
            short(&v.target_checksum),
            if v.matches() { "ok" } else { "MISMATCH" }
        );
        if !v.matches() {
            wrong.push(v.id.clone());
        }
    }
    let features: usize = verified.iter().map(|v| v.source_features).sum();
    anyhow::ensure!(
        wrong.is_empty(),
        "{} of {} layers differ after the copy: {}",
        wrong.len(),
        verified.len(),
        wrong.join(", ")
    );
    println!(
        "{} layers, {features} features copied and verified in {:.2?}",
        verified.len(),
        elapsed
    );
    Ok(())
}
