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
    /// The token itself, for local testing only.
    #[serde(default)]
    pub token: Option<String>,
    /// After this time the token is refused.
    #[serde(default)]
    pub expires: Option<chrono::DateTime<chrono::Utc>>,
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
