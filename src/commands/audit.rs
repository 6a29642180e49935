//! `chiiki audit`: check the audit log's hash chain, and answer a resident's
//! request to know who saw their record.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chiiki_policy::audit::{verify, who_saw};

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
    }
}
