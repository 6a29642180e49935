//! `chiiki audit`: check the audit log's hash chain, and answer a resident's
//! request to know who saw their record.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chiiki_policy::audit::AuditPlace;

/// `chiiki audit verify | who-saw`.
#[derive(clap::Subcommand)]
pub enum AuditCommand {
    /// Check the whole hash chain; exits non-zero naming the first bad line.
    Verify {
        /// The log (default: the config's, `<data>/audit/audit.jsonl`).
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// The entries that disclosed one record (e.g. a 住民票コード).
    WhoSaw {
        id: i64,
        /// The resident layer the record belongs to.
        #[arg(long, default_value = "residents")]
        population: String,
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// The saved analyses that ever read one record (counted it in an
    /// aggregate or listed it), with who saved them and when they ran.
    AnalysesRead {
        id: i64,
        #[arg(long, default_value = "residents")]
        population: String,
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// The requests whose filters searched for a value (a name, an
    /// address): the log keeps only keyed hashes of such values.
    Searched {
        value: String,
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

/// The log `--file` names, else the config's: in the database with the
/// PostGIS store, else the file.
fn place(file: Option<PathBuf>, config: &crate::config::Config) -> Result<AuditPlace> {
    match file {
        Some(f) => Ok(AuditPlace::File(f)),
        None => config.audit_place(&config.data_dir),
    }
}

pub fn run(command: AuditCommand, config: &crate::config::Config) -> Result<()> {
    match command {
        AuditCommand::Verify { file } => {
            let place = place(file, config)?;
            let name = place.name();
            let v = place
                .verify()
                .with_context(|| format!("audit log {}", name.display()))?;
            println!(
                "{}: {} entries, chain intact, last hash {}",
                name.display(),
                v.entries,
                v.last_hash
            );
            Ok(())
        }
        AuditCommand::WhoSaw {
            id,
            population,
            file,
        } => {
            for e in place(file, config)?.who_saw(&population, id)? {
                println!(
                    "{}  token {}  role {}  {}  ({} records)",
                    e.time, e.token, e.role, e.request, e.records
                );
            }
            Ok(())
        }
        AuditCommand::AnalysesRead {
            id,
            population,
            file,
        } => {
            let place = place(file, config)?;
            let mut runs: std::collections::BTreeMap<String, (String, String, String, usize)> =
                Default::default();
            for e in place.who_saw(&population, id)? {
                if !e.request.starts_with("COMPUTE analysis ") {
                    continue;
                }
                let run = runs
                    .entry(e.collection.clone())
                    .or_insert_with(|| (e.role.clone(), e.token.clone(), e.time.clone(), 0));
                run.3 += 1;
            }
            if runs.is_empty() {
                println!("no analysis has read record {id} of '{population}'");
            }
            for (analysis, (role, token, first, n)) in runs {
                println!(
                    "{analysis}  saved by role {role} (token {token})  first read {first}  {n} run(s)"
                );
            }
            Ok(())
        }
        AuditCommand::Searched { value, file } => {
            for e in place(file, config)?.searched_for(&value)? {
                println!(
                    "{}  token {}  role {}  {}",
                    e.time, e.token, e.role, e.request
                );
            }
            Ok(())
        }
    }
}
