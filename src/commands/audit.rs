//! `chiiki audit`: check the audit log's hash chain, and answer a resident's
//! request to know who saw their record.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chiiki_policy::audit::{searched_for, verify, who_saw};

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

pub fn run(command: AuditCommand, config: &crate::config::Config) -> Result<()> {
    match command {
        AuditCommand::Verify { file } => {
            let path = file.unwrap_or_else(|| config.audit_path());
            let v = verify(&path).with_context(|| format!("audit log {}", path.display()))?;
            println!(
                "{}: {} entries, chain intact, last hash {}",
                path.display(),
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
            let path = file.unwrap_or_else(|| config.audit_path());
            for e in who_saw(&path, &population, id)? {
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
            let path = file.unwrap_or_else(|| config.audit_path());
            let mut runs: std::collections::BTreeMap<String, (String, String, String, usize)> =
                Default::default();
            for e in who_saw(&path, &population, id)? {
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
            let path = file.unwrap_or_else(|| config.audit_path());
            for e in searched_for(&path, &value)? {
                println!(
                    "{}  token {}  role {}  {}",
                    e.time, e.token, e.role, e.request
                );
            }
            Ok(())
        }
    }
}
