//! `chiiki store migrate`: copies every layer between the data directory's
//! GeoParquet files and a PostGIS database, then reads each back and
//! compares feature counts and checksums, printing one line per layer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::config::{Config, StoreKind};
use chiiki_store::{GeoParquetStore, LayerStore, PostgisStore, StateStore};

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
    let state = database
        .state()
        .context("the database keeps no shared state")?;
    match args.to {
        StoreKind::Postgis => shared_files_into(&data, &state)?,
        StoreKind::Geoparquet => shared_files_from(&state, &data)?,
    }
    registry_across(&data, state, args.to)
}

/// Copies the registry with its history, and its record-key secret, to
/// the other store when that has none yet.
fn registry_across(data: &Path, state: Arc<StateStore>, to: StoreKind) -> Result<()> {
    use chiiki_registry::record_keys::RecordKeys;
    use chiiki_registry::store::{copy_if_missing, RegistryPlace};
    let directory = RegistryPlace::Directory(data.to_path_buf());
    let database = RegistryPlace::Database(state);
    let (from, to) = match to {
        StoreKind::Postgis => (&directory, &database),
        StoreKind::Geoparquet => (&database, &directory),
    };
    if !from.exists()? {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let copied = copy_if_missing(from, to)?;
    let keys = RecordKeys::copy_if_missing(from, to)?;
    println!(
        "{:<32} {}",
        "registry",
        if copied {
            format!("copied in {:.2?}", started.elapsed())
        } else {
            "already there; kept".to_string()
        }
    );
    println!(
        "{:<32} {}",
        "registry record keys",
        if keys {
            "copied"
        } else {
            "already there; kept"
        }
    );
    Ok(())
}

/// What every process serving one store must share, as files of a data
/// directory and as documents of the database: the token list (hashes
/// only), the pseudonym key (so that pseudonyms handed out stay valid)
/// and the analyses saved through the service.
fn shared_files(data: &Path, state: &StateStore) -> Result<Vec<(String, PathBuf)>> {
    let mut names: Vec<String> = vec![
        chiiki_policy::auth::tokens::TOKENS_DOCUMENT.to_string(),
        chiiki_policy::privacy::PSEUDONYM_KEY_DOCUMENT.to_string(),
    ];
    let prefix = chiiki_server::ANALYSIS_PREFIX;
    let saved = chiiki_server::saved_analyses_dir(data);
    if let Ok(entries) = std::fs::read_dir(&saved) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                if let Some(id) = path.file_stem().and_then(|s| s.to_str()) {
                    names.push(format!("{prefix}{id}"));
                }
            }
        }
    }
    names.extend(state.documents(prefix)?.into_iter().map(|(name, _)| name));
    names.sort();
    names.dedup();
    Ok(names
        .into_iter()
        .map(|name| {
            let path = match name.strip_prefix(prefix) {
                Some(id) => saved.join(format!("{id}.json")),
                None if name == chiiki_policy::auth::tokens::TOKENS_DOCUMENT => {
                    chiiki_policy::auth::tokens::token_file(data)
                }
                None => chiiki_policy::privacy::pseudonym_key_path(data),
            };
            (name, path)
        })
        .collect())
}

/// Copies the shared files of `data` into documents the database does
/// not have yet; where it has one already, the database's stays (and is
/// said so when it differs). The audit log is not copied: the file stays
/// the record of what that directory's service disclosed, and the
/// database's chain is its own.
fn shared_files_into(data: &Path, state: &StateStore) -> Result<()> {
    println!();
    for (name, path) in shared_files(data, state)? {
        let Some(text) = read_if_there(&path)? else {
            continue;
        };
        let said = if state.insert_new(&name, &text)? {
            "copied"
        } else if same_json(state.document(&name)?.map(|d| d.0).as_deref(), &text) {
            "already there, the same"
        } else {
            "the database's differs and is kept"
        };
        println!("{:<32} {said}", name);
    }
    println!(
        "the audit log of {} stays there; the database's has its own chain",
        data.display()
    );
    Ok(())
}

/// Writes the database's shared documents as files of `data` where there
/// are none yet; a file that is there stays (and is said so when it differs).
fn shared_files_from(state: &StateStore, data: &Path) -> Result<()> {
    println!();
    for (name, path) in shared_files(data, state)? {
        let Some((text, _)) = state.document(&name)? else {
            continue;
        };
        let said = match read_if_there(&path)? {
            None => {
                write_private(&path, &text)?;
                "written"
            }
            Some(file) if same_json(Some(file.as_str()), &text) => "already there, the same",
            Some(_) => "the file differs and is kept",
        };
        println!("{:<32} {said}", path.display());
    }
    Ok(())
}

fn read_if_there(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Whether `a` holds the same JSON value as `b` (the database keeps JSON
/// in its own layout).
fn same_json(a: Option<&str>, b: &str) -> bool {
    let parse = |t: &str| serde_json::from_str::<serde_json::Value>(t).ok();
    a.and_then(parse).is_some_and(|a| Some(a) == parse(b))
}

/// Writes `text` to `path`, readable by its owner only (a key, hashes of
/// tokens), in a directory only its owner may enter when it is new.
fn write_private(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.is_dir()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    chiiki_core::fs::write_atomically_with(path, |f| {
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        std::io::Write::write_all(f, text.as_bytes())
    })?;
    Ok(())
}
