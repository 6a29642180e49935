//! `chiiki.toml`: where data lives, where to listen, who may read what.
//!
//! Every setting has a default, so an empty file (or none) is a valid config.
//!
//! ```toml
//! data_dir = "demo-data"
//! bind = "127.0.0.1:8080"
//!
//! [server]
//! max_limit = 10000
//!
//! [[layers]]            # overrides the access stored with an imported layer
//! id = "shelters_emergency"
//! public = true
//!
//! [[tokens]]            # or issue them with `chiiki token create`
//! name = "planning-desk"
//! role = "planner"
//! token_sha256 = "…"    # or `token = "…"` in plain text for local testing
//!
//! [[roles]]             # overrides a default role or adds one
//! name = "welfare"
//! records = "filtered"
//! rows = "care_level IS NOT NULL"
//! personal_fields = ["name", "address"]
//!
//! [privacy]
//! k = 3                 # aggregates below k are suppressed for roles below planner
//!
//! [limits]
//! requests_per_minute = 600
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::auth::{PersonalField, RoleDef, Roles};

/// Where the real public data lives unless a flag or `CHIIKI_REAL_DATA` says otherwise.
pub const DEFAULT_REAL_DATA: &str = "../shared/data/real";
pub const REAL_DATA_ENV: &str = "CHIIKI_REAL_DATA";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default = "default_bind")]
    pub bind: String,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub layers: Vec<LayerPolicy>,
    #[serde(default)]
    pub tokens: Vec<TokenConfig>,
    #[serde(default)]
    pub registry: crate::registry::RegistryConfig,
    /// Saved analyses, each served as a collection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analyses: Vec<crate::query::analysis::Analysis>,
    /// Roles beyond (or overriding) admin, planner, health, analyst, public.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<RoleDef>,
    #[serde(default)]
    pub privacy: PrivacyConfig,
    #[serde(default)]
    pub limits: LimitsConfig,
    #[serde(default)]
    pub audit: AuditConfig,
}

/// Disclosure control for aggregates served to roles below planner.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Counts from 1 to k − 1 are suppressed (e-Stat uses 3 for small areas).
    #[serde(default = "default_k")]
    pub k: u64,
}

/// Bounds on what one request may ask of the service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Largest request body (POST /analyses), in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Longest URL query string, in bytes.
    #[serde(default = "default_max_query")]
    pub max_query_bytes: usize,
    /// Most CQL2 terms (comparisons, literals, operators) in one filter.
    #[serde(default = "default_max_filter_terms")]
    pub max_filter_terms: usize,
    /// Most measures in a saved aggregate.
    #[serde(default = "default_max_measures")]
    pub max_measures: usize,
    /// A request taking longer is answered 503.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
    /// Per token (anonymous callers: per address); 0 for no limit.
    #[serde(default = "default_rpm")]
    pub requests_per_minute: u32,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Largest page `limit` honours; larger requests are clamped to it.
    #[serde(default = "default_max_limit")]
    pub max_limit: usize,
    #[serde(default = "default_limit")]
    pub default_limit: usize,
    /// The URL clients reach the service at, for links; by default derived
    /// from the request's Host header.
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default = "default_title")]
    pub title: String,
    /// Origins allowed to call from a browser (CORS); none by default.
    #[serde(default)]
    pub cors_origins: Vec<String>,
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

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_bind() -> String {
    "127.0.0.1:8080".into()
}
fn default_max_limit() -> usize {
    10_000
}
fn default_limit() -> usize {
    10
}
fn default_title() -> String {
    "chiiki".into()
}
fn default_k() -> u64 {
    3
}
fn default_max_body() -> usize {
    64 * 1024
}
fn default_max_query() -> usize {
    8 * 1024
}
fn default_max_filter_terms() -> usize {
    256
}
fn default_max_measures() -> usize {
    32
}
fn default_timeout() -> f64 {
    30.0
}
fn default_rpm() -> u32 {
    600
}
fn default_audit_path() -> PathBuf {
    PathBuf::from("audit/audit.jsonl")
}
fn default_true() -> bool {
    true
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig { k: default_k() }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_body_bytes: default_max_body(),
            max_query_bytes: default_max_query(),
            max_filter_terms: default_max_filter_terms(),
            max_measures: default_max_measures(),
            timeout_seconds: default_timeout(),
            requests_per_minute: default_rpm(),
        }
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

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_limit: default_max_limit(),
            default_limit: default_limit(),
            public_url: None,
            title: default_title(),
            cors_origins: Vec::new(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: default_data_dir(),
            bind: default_bind(),
            server: ServerConfig::default(),
            layers: Vec::new(),
            tokens: Vec::new(),
            registry: Default::default(),
            analyses: Vec::new(),
            roles: Vec::new(),
            privacy: Default::default(),
            limits: Default::default(),
            audit: Default::default(),
        }
    }
}

impl Config {
    /// Reads a config file; relative `data_dir` is resolved against the file's directory.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        let mut config: Config =
            toml::from_str(&text).with_context(|| format!("parsing config {}", path.display()))?;
        if config.data_dir.is_relative() {
            if let Some(dir) = path.parent() {
                config.data_dir = dir.join(&config.data_dir);
            }
        }
        config
            .validate()
            .with_context(|| format!("in config {}", path.display()))?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<()> {
        anyhow::ensure!(
            self.server.max_limit >= 1,
            "server.max_limit must be at least 1"
        );
        anyhow::ensure!(
            (1..=self.server.max_limit).contains(&self.server.default_limit),
            "server.default_limit must be between 1 and server.max_limit"
        );
        let roles = self.roles()?;
        for t in &self.tokens {
            anyhow::ensure!(
                t.token_sha256.is_some() || t.token.is_some(),
                "token '{}' has neither token_sha256 nor token",
                t.name
            );
            roles
                .check(&t.role)
                .with_context(|| format!("token '{}'", t.name))?;
        }
        for l in &self.layers {
            for r in l.roles.iter().flatten() {
                roles
                    .check(r)
                    .with_context(|| format!("layer '{}'", l.id))?;
            }
        }
        for a in &self.analyses {
            for r in &a.roles {
                roles
                    .check(r)
                    .with_context(|| format!("analysis '{}'", a.id))?;
            }
        }
        anyhow::ensure!(self.privacy.k >= 1, "privacy.k must be at least 1");
        anyhow::ensure!(
            self.limits.timeout_seconds > 0.0,
            "limits.timeout_seconds must be positive"
        );
        Ok(())
    }

    /// The default roles with the config's overrides.
    pub fn roles(&self) -> Result<Roles> {
        Roles::new(&self.roles)
    }

    /// Where `chiiki token create` keeps the tokens it issues.
    pub fn token_file(&self) -> PathBuf {
        crate::auth::tokens::token_file(&self.data_dir)
    }

    pub fn audit_path(&self) -> PathBuf {
        self.data_dir.join(&self.audit.path)
    }
}

/// The real public data directory: the flag, else `CHIIKI_REAL_DATA`, else
/// `../shared/data/real`.
pub fn real_data_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_path_buf();
    }
    if let Ok(p) = std::env::var(REAL_DATA_ENV) {
        if !p.is_empty() {
            return PathBuf::from(p);
        }
    }
    PathBuf::from(DEFAULT_REAL_DATA)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_has_defaults() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.server.default_limit, 10);
        c.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<Config>("bnd = \"x\"").is_err());
    }

    #[test]
    fn tokens_and_policies_parse() {
        let c: Config = toml::from_str(
            r#"
            [[layers]]
            id = "flood"
            roles = ["planner", "analyst"]
            [[tokens]]
            name = "desk"
            role = "planner"
            token = "abc"
            "#,
        )
        .unwrap();
        assert_eq!(c.layers[0].roles.as_ref().unwrap()[1], "analyst");
        assert_eq!(c.tokens[0].role, "planner");
        c.validate().unwrap();
        let mut wrong = c.clone();
        wrong.tokens[0].role = "planer".into();
        assert!(wrong.validate().is_err());
    }
}
