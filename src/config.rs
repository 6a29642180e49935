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
//! [[tokens]]
//! name = "planning-desk"
//! role = "planner"
//! token_sha256 = "…"    # or `token = "…"` in plain text for local testing
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::auth::Role;

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
    pub roles: Option<Vec<Role>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// A label for logs and audit; never the secret.
    pub name: String,
    pub role: Role,
    /// Hex SHA-256 of the token (preferred).
    #[serde(default)]
    pub token_sha256: Option<String>,
    /// The token itself, for local testing only.
    #[serde(default)]
    pub token: Option<String>,
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

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_limit: default_max_limit(),
            default_limit: default_limit(),
            public_url: None,
            title: default_title(),
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
        for t in &self.tokens {
            anyhow::ensure!(
                t.token_sha256.is_some() || t.token.is_some(),
                "token '{}' has neither token_sha256 nor token",
                t.name
            );
        }
        Ok(())
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
        assert_eq!(c.layers[0].roles.as_ref().unwrap()[1], Role::Analyst);
        assert_eq!(c.tokens[0].role, Role::Planner);
    }
}
