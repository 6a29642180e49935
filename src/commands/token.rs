//! `chiiki token create | revoke | list | rotate-keys`: tokens for the
//! service, kept hashed in `<data>/tokens.json` (the secret is printed once,
//! at creation), and the key of the pseudonyms the service hands out.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::config::Config;
use chiiki_policy::auth::tokens::{parse_expiry, token_file, TokenFile};
use chiiki_policy::privacy::{pseudonym_key_path, PseudonymKey};

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Issue a token and print it (once: only its hash is kept).
    Create {
        /// A label for lists and logs (a person or a desk), never the secret.
        #[arg(long)]
        name: String,
        /// admin, planner, health, analyst, public, or a role of the config.
        #[arg(long)]
        role: String,
        /// When it stops working: a date (2027-03-31), an RFC 3339 time, or
        /// a duration (90d, 12h).
        #[arg(long, default_value = "90d", conflicts_with = "no_expiry")]
        expires: String,
        /// A token that never expires (service accounts; revoke it by hand).
        #[arg(long)]
        no_expiry: bool,
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Revoke tokens by id or name; the running service refuses them at once.
    Revoke {
        id_or_name: String,
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// List the issued tokens (never their secrets).
    List {
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Replace the pseudonym key (`<data>/keys/pseudonym.key`): every
    /// pseudonym changes, and those handed out before no longer resolve to
    /// anybody. The service uses the new key from its next start. The
    /// audit key is not rotated: `chiiki audit who-saw` needs it for as
    /// long as the log is kept.
    RotateKeys {
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

pub fn run(command: TokenCommand, config: &Config) -> Result<()> {
    let dir = |d: &Option<PathBuf>| config.data_dir(d.as_deref());
    match command {
        TokenCommand::Create {
            name,
            role,
            expires,
            no_expiry,
            data,
        } => {
            config.roles()?.check(&role)?;
            let now = chiiki_core::clock::now();
            let expires = if no_expiry {
                None
            } else {
                Some(parse_expiry(&expires, now)?)
            };
            let path = token_file(&dir(&data));
            let mut file = TokenFile::load(&path)?;
            let (record, token) = file.create(&name, &role, expires);
            file.save(&path)
                .with_context(|| format!("saving {}", path.display()))?;
            eprintln!(
                "token {} for '{}' ({}), expires {}; it is shown only now:",
                record.id,
                record.name,
                record.role,
                record
                    .expires
                    .map_or("never".to_string(), |e| e.to_rfc3339())
            );
            println!("{token}");
            Ok(())
        }
        TokenCommand::Revoke { id_or_name, data } => {
            let path = token_file(&dir(&data));
            let mut file = TokenFile::load(&path)?;
            let n = file.revoke(&id_or_name);
            anyhow::ensure!(n > 0, "no active token with id or name '{id_or_name}'");
            file.save(&path)?;
            println!("revoked {n} token(s)");
            Ok(())
        }
        TokenCommand::List { data } => {
            let file = TokenFile::load(&token_file(&dir(&data)))?;
            let now = chiiki_core::clock::now();
            println!(
                "{:<10} {:<20} {:<10} {:<8} {:<20} expires",
                "id", "name", "role", "status", "created"
            );
            for t in &file.tokens {
                println!(
                    "{:<10} {:<20} {:<10} {:<8} {:<20} {}",
                    t.id,
                    t.name,
                    t.role,
                    t.status(now),
                    t.created.format("%Y-%m-%d %H:%M"),
                    t.expires.map_or("never".to_string(), |e| e
                        .format("%Y-%m-%d %H:%M")
                        .to_string())
                );
            }
            Ok(())
        }
        TokenCommand::RotateKeys { data } => {
            let path = pseudonym_key_path(&dir(&data));
            let key = PseudonymKey::rotate(&path)?;
            println!(
                "pseudonym key version {} written to {}; pseudonyms handed out before no longer resolve. Restart the service to use it.",
                key.version(),
                path.display()
            );
            Ok(())
        }
    }
}
