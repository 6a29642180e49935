//! `chiiki token create | revoke | renew | list | rotate-keys`: tokens for
//! the service, kept hashed in `<data>/tokens.json` (the secret is printed
//! once, at creation), and the key of the pseudonyms the service hands out.
//!
//! With `store = "postgis"` the tokens are in the database instead, which
//! every process serving it reads: a revocation there is refused by all of
//! them within seconds.
//!
//! The config's `[[tokens]]` live in the same file (the service merges them
//! in when it starts): when the command works on the config's own data
//! directory, it merges them first, so that they can be listed, renewed and
//! revoked before the service has ever run.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::config::Config;
use chiiki_policy::auth::tokens::{parse_expiry, TokenFile, TokenPlace, TokenSource};
use chiiki_policy::privacy::{KeyPlace, PseudonymKey};

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
        /// For role shelter_staff (and only for it): the shelter whose
        /// occupancy the token posts, a feature id of shelters_evacuation.
        #[arg(long)]
        shelter: Option<i64>,
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Revoke tokens by id or name (config tokens too: they stay revoked
    /// while the config lists them); the running service refuses them at once.
    Revoke {
        id_or_name: String,
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Give tokens (by id or name, expired ones included, revoked ones not)
    /// a new expiry; the running service accepts them at once. A config
    /// token keeps its renewal until the config's `expires` changes.
    Renew {
        id_or_name: String,
        /// The new expiry: a date (2027-03-31), an RFC 3339 time, or a
        /// duration from now (90d, 12h).
        #[arg(long, default_value = "90d", conflicts_with = "no_expiry")]
        expires: String,
        /// Never expire from now on.
        #[arg(long)]
        no_expiry: bool,
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// List the tokens, issued and from the config (never their secrets).
    /// A config token the config no longer lists shows as `unlisted`: the
    /// service refuses it.
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

/// `--shelter` goes with role shelter_staff, always, and names a shelter
/// of the shelters layer when there is one (in the configured store).
fn check_shelter(role: &str, shelter: Option<i64>, config: &Config, data: &Path) -> Result<()> {
    use chiiki_server::occupancy::{SHELTERS, STAFF_ROLE};
    let Some(id) = shelter else {
        anyhow::ensure!(
            role != STAFF_ROLE,
            "a {STAFF_ROLE} token needs --shelter <id> (a feature id of {SHELTERS})"
        );
        return Ok(());
    };
    anyhow::ensure!(
        role == STAFF_ROLE,
        "--shelter is only for role {STAFF_ROLE}, not '{role}'"
    );
    match config.layer_store(data)?.load(SHELTERS) {
        Ok(layer) => anyhow::ensure!(
            layer.row_of(id).is_some(),
            "no shelter {id} in {SHELTERS} (see /collections/{SHELTERS}/items)"
        ),
        Err(chiiki_store::StoreError::NotFound(_)) => {}
        Err(e) => {
            return Err(e).with_context(|| {
                format!("reading {SHELTERS} from {}", config.layer_store_name(data))
            })
        }
    }
    Ok(())
}

pub fn run(command: TokenCommand, config: &Config) -> Result<()> {
    let dir = |d: &Option<PathBuf>| config.data_dir(d.as_deref());
    match command {
        TokenCommand::Create {
            name,
            role,
            expires,
            no_expiry,
            shelter,
            data,
        } => {
            config.roles()?.check(&role)?;
            check_shelter(&role, shelter, config, &dir(&data))?;
            let now = chiiki_core::clock::now();
            let expires = if no_expiry {
                None
            } else {
                Some(parse_expiry(&expires, now)?)
            };
            let place = config.token_place(&dir(&data))?;
            let (record, token) = place
                .update(|file| {
                    let (mut record, token) = file.create(&name, &role, expires);
                    if let Some(shelter) = shelter {
                        file.set_shelter(&record.id, shelter);
                        record.shelter = Some(shelter);
                    }
                    Ok((true, (record, token)))
                })
                .with_context(|| format!("saving the token to {place}"))?;
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
            let (place, own) = place_of(config, &dir(&data))?;
            let n = place
                .update(|file| {
                    merge_own(config, own, file)?;
                    let n = file.revoke(&id_or_name);
                    Ok((n > 0, n))
                })
                .with_context(|| format!("revoking in {place}"))?;
            anyhow::ensure!(n > 0, "no active token with id or name '{id_or_name}'");
            println!("revoked {n} token(s)");
            Ok(())
        }
        TokenCommand::Renew {
            id_or_name,
            expires,
            no_expiry,
            data,
        } => {
            let expires = if no_expiry {
                None
            } else {
                Some(parse_expiry(&expires, chiiki_core::clock::now())?)
            };
            let (place, own) = place_of(config, &dir(&data))?;
            let n = place
                .update(|file| {
                    merge_own(config, own, file)?;
                    let n = file.renew(&id_or_name, expires);
                    Ok((n > 0, n))
                })
                .with_context(|| format!("renewing in {place}"))?;
            anyhow::ensure!(
                n > 0,
                "no token with id or name '{id_or_name}' that is not revoked"
            );
            println!(
                "renewed {n} token(s) until {}",
                expires.map_or("never".to_string(), |e| e.to_rfc3339())
            );
            Ok(())
        }
        TokenCommand::List { data } => {
            let (place, own) = place_of(config, &dir(&data))?;
            let mut file = place.load()?;
            merge_own(config, own, &mut file)?;
            let listed: Option<HashSet<String>> =
                own.then(|| config.tokens.iter().filter_map(|t| t.sha256()).collect());
            let now = chiiki_core::clock::now();
            println!(
                "{:<10} {:<20} {:<10} {:<7} {:<9} {:<16} expires",
                "id", "name", "role", "source", "status", "created"
            );
            for t in &file.tokens {
                let unlisted = t.source == TokenSource::Config
                    && t.revoked.is_none()
                    && listed.as_ref().is_some_and(|l| !l.contains(&t.sha256));
                println!(
                    "{:<10} {:<20} {:<10} {:<7} {:<9} {:<16} {}",
                    t.id,
                    t.name,
                    t.role,
                    t.source.as_str(),
                    if unlisted { "unlisted" } else { t.status(now) },
                    t.created.format("%Y-%m-%d %H:%M"),
                    t.expires.map_or("never".to_string(), |e| e
                        .format("%Y-%m-%d %H:%M")
                        .to_string())
                );
            }
            Ok(())
        }
        TokenCommand::RotateKeys { data } => {
            let place = config.pseudonym_key_place(&dir(&data))?;
            let key = PseudonymKey::rotate_at(&place)?;
            let at = match &place {
                KeyPlace::File(path) => path.display().to_string(),
                KeyPlace::Database(state) => format!("{} (chiiki.documents)", state.url()),
            };
            println!(
                "pseudonym key version {} written to {at}; pseudonyms handed out before no longer resolve. Restart the service to use it.",
                key.version(),
            );
            Ok(())
        }
    }
}

/// Where the tokens of `data_dir` are ([`Config::token_place`]), and
/// whether they are the config's own: its data directory, or the database
/// every process of the config serves. A config describes its own tokens
/// only: merged into another directory's, its tokens would be listed there
/// yet refused by the service that serves it.
fn place_of(config: &Config, data_dir: &Path) -> Result<(TokenPlace, bool)> {
    let place = config.token_place(data_dir)?;
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    let own = match &place {
        TokenPlace::Database(_) => true,
        TokenPlace::File(_) => same(data_dir, &config.data_dir),
    };
    Ok((place, own))
}

/// The config's tokens merged into `file` when it is the config's own, so
/// that they can be listed, renewed and revoked before the service has run.
fn merge_own(config: &Config, own: bool, file: &mut TokenFile) -> chiiki_policy::error::Result<()> {
    if own {
        file.merge_config(&config.tokens)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TokenConfig;
    use chiiki_policy::auth::tokens::token_file;
    use chiiki_policy::auth::{TokenError, TokenStore};
    use chiiki_policy::privacy::pseudonym_key_path;

    const DESK: &str = "desk-4f1c9a0e7b2d4c8e9a1f3b5d7c9e0a2b";

    fn config(data: &Path, expires: Option<chrono::DateTime<chrono::Utc>>) -> Config {
        Config {
            data_dir: data.to_path_buf(),
            tokens: vec![TokenConfig {
                name: "desk".into(),
                role: "planner".into(),
                token_sha256: Some(chiiki_policy::auth::sha256_hex(DESK)),
                token: None,
                expires,
            }],
            ..Config::default()
        }
    }

    fn serve_tokens(config: &Config) -> TokenStore {
        TokenStore::new(
            config.roles().unwrap(),
            &config.tokens,
            Some(config.token_file()),
        )
        .unwrap()
    }

    fn desk(store: &TokenStore) -> Result<String, TokenError> {
        store
            .authenticate(Some(&format!("Bearer {DESK}")))
            .map(|p| p.role.name)
    }

    #[test]
    fn config_tokens_are_renewed_and_revoked_by_name_before_the_service_runs() {
        let dir = tempfile::tempdir().unwrap();
        let past = chiiki_core::clock::now() - chrono::Duration::days(1);
        let config = config(dir.path(), Some(past));
        let cmd = |c: TokenCommand| run(c, &config).unwrap();
        cmd(TokenCommand::List { data: None });
        assert!(!config.token_file().exists(), "listing writes nothing");
        assert_eq!(desk(&serve_tokens(&config)), Err(TokenError::Expired));

        cmd(TokenCommand::Renew {
            id_or_name: "desk".into(),
            expires: "30d".into(),
            no_expiry: false,
            data: None,
        });
        let file = TokenFile::load(&config.token_file()).unwrap();
        assert_eq!(file.tokens.len(), 1);
        assert_eq!(file.tokens[0].source, TokenSource::Config);
        assert_eq!(desk(&serve_tokens(&config)).as_deref(), Ok("planner"));

        cmd(TokenCommand::Revoke {
            id_or_name: file.tokens[0].id.clone(),
            data: None,
        });
        assert_eq!(desk(&serve_tokens(&config)), Err(TokenError::Revoked));
        assert!(run(
            TokenCommand::Renew {
                id_or_name: "desk".into(),
                expires: "30d".into(),
                no_expiry: false,
                data: None,
            },
            &config
        )
        .is_err());
    }

    #[test]
    fn another_data_directory_does_not_take_the_configs_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let config = config(dir.path(), None);
        let revoke = TokenCommand::Revoke {
            id_or_name: "desk".into(),
            data: Some(other.path().to_path_buf()),
        };
        assert!(run(revoke, &config).is_err());
        assert!(!token_file(other.path()).exists());
    }

    #[test]
    fn rotating_the_keys_bumps_the_pseudonym_key_version() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), None);
        let path = pseudonym_key_path(dir.path());
        let first = PseudonymKey::open(&path).unwrap();
        run(TokenCommand::RotateKeys { data: None }, &config).unwrap();
        let second = PseudonymKey::open(&path).unwrap();
        assert_eq!((first.version(), second.version()), (1, 2));
        assert_ne!(first.bytes(), second.bytes());
    }
}
