//! Policy settings: the `[privacy]`, `[audit]`, `[[tokens]]` and `[[layers]]`
//! sections of `chiiki.toml`. The binary reads the file; this crate only
//! describes them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::auth::PersonalField;

/// Disclosure control for aggregates served to roles below planner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// No count from 1 to k − 1 is published below exact aggregates (e-Stat
    /// uses 3 for small areas): the perturbation table sends them to 0 or k.
    #[serde(default = "default_k")]
    pub k: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The audit log, relative to the data directory.
    #[serde(default = "default_audit_path")]
    pub path: PathBuf,
    /// Flush every entry to disk before the response is sent.
    #[serde(default = "default_true")]
    pub fsync: bool,
}

/// Access to one layer, overriding what the import stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerPolicy {
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub public: Option<bool>,
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// Marks the layer's features as people: attribute → kind of personal
    /// data (`name`, `name_kana`, `birth_date`, `address`, `address_extra`,
    /// `resident_code`, `household_code`).
    #[serde(default)]
    pub personal_fields: Option<std::collections::BTreeMap<String, PersonalField>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// A label for logs and audit; never the secret.
    pub name: String,
    pub role: String,
    /// Hex SHA-256 of the token (preferred).
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// The token itself, for local testing only: at least
    /// [`MIN_SECRET_CHARS`] characters, of which at least
    /// [`MIN_DISTINCT_CHARS`] different ([`TokenConfig::check`]).
    #[serde(default)]
    pub token: Option<String>,
    /// After this time the token is refused. `chiiki token renew` extends
    /// it in the token file; a new value here replaces the renewal.
    #[serde(default)]
    pub expires: Option<chrono::DateTime<chrono::Utc>>,
}

/// The shortest secret a config may give in plain text (`token = "…"`).
///
/// Hand-written secrets are guessable in a way issued ones are not, and
/// entropy cannot be measured from one sample; so the rule is a floor
/// that a person typing a password will notice, not a strength meter:
/// 32 characters is 128 bits for a random hex string, and well above what
/// anyone types as a password. Tokens of `chiiki token create` carry 192
/// random bits; prefer them, or `token_sha256`.
pub const MIN_SECRET_CHARS: usize = 32;

/// The fewest different characters such a secret may have, which refuses
/// padding (`aaaa…`, `abab…`, `12341234…`) while a random hex string of
/// 32 characters passes (it has 14 different ones on average, and fewer
/// than 8 about 4 times in a hundred million).
pub const MIN_DISTINCT_CHARS: usize = 8;

impl TokenConfig {
    /// The hash the token is stored and recognised by: `token_sha256`
    /// (lowercase), else the SHA-256 of `token`.
    pub fn sha256(&self) -> Option<String> {
        match (&self.token_sha256, &self.token) {
            (Some(h), _) => Some(h.to_ascii_lowercase()),
            (None, Some(plain)) => Some(crate::auth::sha256_hex(plain)),
            (None, None) => None,
        }
    }

    /// Refuses an entry with no secret, a hash that is not one, or a plain
    /// secret that is too short ([`MIN_SECRET_CHARS`]), too plain
    /// ([`MIN_DISTINCT_CHARS`]) or longer than requests may carry; the
    /// error names the token.
    pub fn check(&self) -> Result<(), crate::PolicyError> {
        let refuse = |message: String| crate::PolicyError::ConfigToken {
            name: self.name.clone(),
            message,
        };
        if self.token_sha256.is_none() && self.token.is_none() {
            return Err(refuse("it has neither `token_sha256` nor `token`".into()));
        }
        if let Some(hash) = &self.token_sha256 {
            if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(refuse(
                    "`token_sha256` must be 64 hex digits (the SHA-256 of the token)".into(),
                ));
            }
        }
        if let Some(plain) = &self.token {
            let chars = plain.chars().count();
            let mut distinct: Vec<char> = plain.chars().collect();
            distinct.sort_unstable();
            distinct.dedup();
            let better = "better: `chiiki token create`, or `token_sha256`";
            if chars < MIN_SECRET_CHARS {
                return Err(refuse(format!(
                    "its `token` has {chars} characters; a secret in the config needs at least {MIN_SECRET_CHARS} ({better})"
                )));
            }
            if plain.len() > crate::auth::tokens::MAX_TOKEN_BYTES {
                return Err(refuse(format!(
                    "its `token` has {} bytes; a request may carry at most {}",
                    plain.len(),
                    crate::auth::tokens::MAX_TOKEN_BYTES
                )));
            }
            if distinct.len() < MIN_DISTINCT_CHARS {
                return Err(refuse(format!(
                    "its `token` has only {} different characters; a secret in the config needs at least {MIN_DISTINCT_CHARS} ({better})",
                    distinct.len()
                )));
            }
        }
        Ok(())
    }
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig { k: default_k() }
    }
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            path: default_audit_path(),
            fsync: true,
        }
    }
}

fn default_k() -> u64 {
    3
}
fn default_audit_path() -> PathBuf {
    PathBuf::from("audit/audit.jsonl")
}
fn default_true() -> bool {
    true
}
