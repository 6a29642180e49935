//! Bearer tokens: issued by `chiiki token create`, kept hashed in
//! `<data>/tokens.json`, with an expiry and a revocation time.
//!
//! Only the SHA-256 of a token is ever stored, so a copy of the data
//! directory gives no access. The running service re-reads the file when it
//! changes, so `chiiki token revoke` takes effect on the next request.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use crate::error::{PolicyError, Result};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use super::{sha256_hex, Principal, Roles};
use crate::settings::TokenConfig;

/// One issued token, as stored: never the secret itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Public identifier, for lists, revocation and the audit log.
    pub id: String,
    pub name: String,
    pub role: String,
    pub sha256: String,
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub expires: Option<DateTime<Utc>>,
    #[serde(default)]
    pub revoked: Option<DateTime<Utc>>,
}

impl TokenRecord {
    pub fn status(&self, now: DateTime<Utc>) -> &'static str {
        if self.revoked.is_some() {
            "revoked"
        } else if self.expires.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct TokenFile {
    pub tokens: Vec<TokenRecord>,
}

pub fn token_file(data_dir: &Path) -> PathBuf {
    data_dir.join("tokens.json")
}

impl TokenFile {
    /// The file's tokens; none when it does not exist.
    pub fn load(path: &Path) -> Result<TokenFile> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| PolicyError::file(path, Some(e.line() as u64), "not a token file")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TokenFile::default()),
            Err(e) => Err(chiiki_core::error::IoError::at(path, "reading")(e).into()),
        }
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes =
            serde_json::to_vec_pretty(self).map_err(|e| PolicyError::file(path, None, e))?;
        chiiki_core::fs::write_atomically(path, &bytes)?;
        Ok(())
    }

    /// Issues a token: returns its record and the secret, shown once.
    pub fn create(
        &mut self,
        name: &str,
        role: &str,
        expires: Option<DateTime<Utc>>,
    ) -> (TokenRecord, String) {
        let mut rng = rand::rng();
        let mut secret = [0u8; 24];
        rng.fill_bytes(&mut secret);
        let id = loop {
            let mut bytes = [0u8; 4];
            rng.fill_bytes(&mut bytes);
            let candidate = format!("t{}", hex::encode(bytes));
            if !self.tokens.iter().any(|t| t.id == candidate) {
                break candidate;
            }
        };
        let token = format!("chiiki_{}", hex::encode(secret));
        let record = TokenRecord {
            id,
            name: name.to_string(),
            role: role.to_string(),
            sha256: sha256_hex(&token),
            created: chiiki_core::clock::now(),
            expires,
            revoked: None,
        };
        self.tokens.push(record.clone());
        (record, token)
    }

    /// Revokes the tokens with this id or name; returns how many.
    pub fn revoke(&mut self, id_or_name: &str) -> usize {
        let now = chiiki_core::clock::now();
        let mut n = 0;
        for t in &mut self.tokens {
            if (t.id == id_or_name || t.name == id_or_name) && t.revoked.is_none() {
                t.revoked = Some(now);
                n += 1;
            }
        }
        n
    }
}

/// Why a presented token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the Authorization header must be 'Bearer <token>'")]
    Malformed,
    #[error("unknown token")]
    Unknown,
    #[error("the token has expired")]
    Expired,
    #[error("the token has been revoked")]
    Revoked,
    #[error("the token's role '{0}' is not defined")]
    UndefinedRole(String),
}

/// All accepted tokens: those of the config and those of the token file.
pub struct TokenStore {
    roles: Roles,
    from_config: HashMap<String, TokenRecord>,
    file: Option<PathBuf>,
    /// The file's tokens by hash, and the modification time they were read at.
    from_file: Mutex<(Option<SystemTime>, HashMap<String, TokenRecord>)>,
}

impl TokenStore {
    pub fn new(roles: Roles, tokens: &[TokenConfig], file: Option<PathBuf>) -> TokenStore {
        let mut from_config = HashMap::new();
        for t in tokens {
            let hash = match (&t.token_sha256, &t.token) {
                (Some(h), _) => h.to_ascii_lowercase(),
                (None, Some(plain)) => sha256_hex(plain),
                (None, None) => continue,
            };
            from_config.insert(
                hash.clone(),
                TokenRecord {
                    id: t.name.clone(),
                    name: t.name.clone(),
                    role: t.role.clone(),
                    sha256: hash,
                    created: DateTime::<Utc>::UNIX_EPOCH,
                    expires: t.expires,
                    revoked: None,
                },
            );
        }
        TokenStore {
            roles,
            from_config,
            file,
            from_file: Mutex::new((None, HashMap::new())),
        }
    }

    pub fn roles(&self) -> &Roles {
        &self.roles
    }

    /// The token file's record for `hash`, re-reading the file if it changed.
    fn file_record(&self, hash: &str) -> Option<TokenRecord> {
        let path = self.file.as_ref()?;
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        let mut cache = self.from_file.lock().unwrap_or_else(|e| e.into_inner());
        if cache.0 != modified {
            let tokens = match TokenFile::load(path) {
                Ok(f) => f.tokens,
                Err(e) => {
                    // A broken file accepts nobody rather than everybody.
                    tracing::error!("{e:#}");
                    Vec::new()
                }
            };
            *cache = (
                modified,
                tokens.into_iter().map(|t| (t.sha256.clone(), t)).collect(),
            );
        }
        cache.1.get(hash).cloned()
    }

    /// Resolves an `Authorization` header value (or its absence).
    pub fn authenticate(&self, header: Option<&str>) -> Result<Principal, TokenError> {
        let Some(value) = header else {
            return Ok(Principal::anonymous(&self.roles));
        };
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or(TokenError::Malformed)?;
        let hash = sha256_hex(token);
        let record = self
            .from_config
            .get(&hash)
            .cloned()
            .or_else(|| self.file_record(&hash))
            .ok_or(TokenError::Unknown)?;
        match record.status(chiiki_core::clock::now()) {
            "revoked" => return Err(TokenError::Revoked),
            "expired" => return Err(TokenError::Expired),
            _ => {}
        }
        let role = self
            .roles
            .get(&record.role)
            .ok_or_else(|| TokenError::UndefinedRole(record.role.clone()))?;
        Ok(Principal {
            token_id: Some(record.id),
            token_name: Some(record.name),
            role: role.clone(),
        })
    }
}

/// Parses `--expires`: a date (end of that day, UTC), an RFC 3339 time, or a
/// duration from now such as `90d`, `12h` or `30m`.
pub fn parse_expiry(s: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let end = d.and_hms_opt(23, 59, 59).expect("a valid time").and_utc();
        if end <= now {
            return Err(PolicyError::Invalid(format!("expiry {s} is in the past")));
        }
        return Ok(end);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        if t.with_timezone(&Utc) <= now {
            return Err(PolicyError::Invalid(format!("expiry {s} is in the past")));
        }
        return Ok(t.with_timezone(&Utc));
    }
    let (number, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = number.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        PolicyError::Invalid(format!(
            "expiry '{s}': use a date, an RFC 3339 time, or 90d / 12h / 30m"
        ))
    })?;
    let d = match unit {
        "d" => chrono::Duration::days(n),
        "h" => chrono::Duration::hours(n),
        "m" => chrono::Duration::minutes(n),
        _ => {
            return Err(PolicyError::Invalid(format!(
                "expiry '{s}': the unit must be d, h or m"
            )))
        }
    };
    Ok(now + d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_resolve_until_revoked_or_expired() {
        let dir = tempfile::tempdir().unwrap();
        let path = token_file(dir.path());
        let mut file = TokenFile::default();
        let (desk, desk_token) = file.create("desk", "planner", None);
        let (_, old_token) = file.create(
            "old",
            "analyst",
            Some(Utc::now() - chrono::Duration::seconds(1)),
        );
        let (_, ghost_token) = file.create("ghost", "nobody", None);
        file.save(&path).unwrap();
        assert!(!std::fs::read_to_string(&path)
            .unwrap()
            .contains(&desk_token));

        let store = TokenStore::new(Roles::default(), &[], Some(path.clone()));
        let who = store
            .authenticate(Some(&format!("Bearer {desk_token}")))
            .unwrap();
        assert_eq!(
            (who.role.name.as_str(), who.token_id.as_deref()),
            ("planner", Some(desk.id.as_str()))
        );
        assert_eq!(
            store.authenticate(Some(&format!("Bearer {old_token}"))),
            Err(TokenError::Expired)
        );
        assert_eq!(
            store.authenticate(Some(&format!("Bearer {ghost_token}"))),
            Err(TokenError::UndefinedRole("nobody".into()))
        );
        assert_eq!(
            store.authenticate(Some("Bearer chiiki_forged")),
            Err(TokenError::Unknown)
        );
        assert_eq!(
            store.authenticate(Some("Basic abc")),
            Err(TokenError::Malformed)
        );
        assert!(store.authenticate(None).unwrap().is_anonymous());

        // Revocation reaches the running store through the file.
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut file = TokenFile::load(&path).unwrap();
        assert_eq!(file.revoke("desk"), 1);
        file.save(&path).unwrap();
        let bumped = SystemTime::now() + std::time::Duration::from_secs(1);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(bumped)
            .unwrap();
        assert_eq!(
            store.authenticate(Some(&format!("Bearer {desk_token}"))),
            Err(TokenError::Revoked)
        );
    }

    #[test]
    fn config_tokens_may_be_hashed_or_plain() {
        let store = TokenStore::new(
            Roles::default(),
            &[
                TokenConfig {
                    name: "desk".into(),
                    role: "planner".into(),
                    token_sha256: Some(sha256_hex("s3cret")),
                    token: None,
                    expires: None,
                },
                TokenConfig {
                    name: "lab".into(),
                    role: "analyst".into(),
                    token_sha256: None,
                    token: Some("plain".into()),
                    expires: None,
                },
            ],
            None,
        );
        assert_eq!(
            store.authenticate(Some("Bearer s3cret")).unwrap().role.name,
            "planner"
        );
        assert_eq!(
            store.authenticate(Some("Bearer plain")).unwrap().role.name,
            "analyst"
        );
    }

    #[test]
    fn expiry_forms() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            parse_expiry("90d", now).unwrap(),
            now + chrono::Duration::days(90)
        );
        assert_eq!(
            parse_expiry("2027-03-31", now).unwrap().to_rfc3339(),
            "2027-03-31T23:59:59+00:00"
        );
        assert!(parse_expiry("2020-01-01", now).is_err());
        assert!(parse_expiry("soon", now).is_err());
        assert!(parse_expiry("0d", now).is_err());
    }
}
