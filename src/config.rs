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
//!                       # (at least 32 characters); listed, renewed and
//!                       # revoked like issued tokens (`chiiki token list`)
//!
//! [[roles]]             # overrides a default role or adds one
//! name = "welfare"
//! records = "filtered"
//! rows = "care_level IS NOT NULL"
//! personal_fields = ["name", "address"]
//!
//! [privacy]
//! k = 3                 # no count of 1..k-1 people is published below exact aggregates (cell-key perturbation)
//!
//! [limits]
//! requests_per_minute = 600
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use chiiki_policy::auth::{RoleDef, Roles};
pub use chiiki_policy::settings::{AuditConfig, LayerPolicy, PrivacyConfig, TokenConfig};
pub use chiiki_server::settings::{LimitsConfig, ServerConfig};

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
    pub registry: chiiki_registry::RegistryConfig,
    /// Saved analyses, each served as a collection.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub analyses: Vec<chiiki_analysis::Analysis>,
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

fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_bind() -> String {
    "127.0.0.1:8080".into()
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
            t.check()?;
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
        Ok(Roles::new(&self.roles)?)
    }

    /// The one rule for a command's `--data`: the flag when given, else
    /// the config's `data_dir`.
    pub fn data_dir(&self, flag: Option<&Path>) -> PathBuf {
        flag.map_or_else(|| self.data_dir.clone(), Path::to_path_buf)
    }

    /// What the service needs of this config to start.
    pub fn service(&self) -> Result<chiiki_server::settings::ServiceConfig> {
        Ok(chiiki_server::settings::ServiceConfig {
            data_dir: self.data_dir.clone(),
            bind: self.bind.clone(),
            server: self.server.clone(),
            limits: self.limits.clone(),
            layers: self.layers.clone(),
            tokens: self.tokens.clone(),
            roles: self.roles()?,
            analyses: self.analyses.clone(),
            privacy: self.privacy.clone(),
            audit: self.audit.clone(),
        })
    }

    /// Where `chiiki token create` keeps the tokens it issues.
    pub fn token_file(&self) -> PathBuf {
        chiiki_policy::auth::tokens::token_file(&self.data_dir)
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
    fn the_data_flag_wins_over_the_config() {
        let c: Config = toml::from_str("data_dir = \"from-config\"").unwrap();
        assert_eq!(c.data_dir(None), PathBuf::from("from-config"));
        assert_eq!(c.data_dir(Some(Path::new("flag"))), PathBuf::from("flag"));
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
            token = "desk-4f1c9a0e7b2d4c8e9a1f3b5d7c9e0a2b"
            "#,
        )
        .unwrap();
        assert_eq!(c.layers[0].roles.as_ref().unwrap()[1], "analyst");
        assert_eq!(c.tokens[0].role, "planner");
        c.validate().unwrap();
        let mut wrong = c.clone();
        wrong.tokens[0].role = "planer".into();
        assert!(wrong.validate().is_err());
        let mut short = c.clone();
        short.tokens[0].token = Some("abc".into());
        let err = short.validate().unwrap_err().to_string();
        assert!(err.contains("'desk'") && err.contains("32"), "{err}");
    }
}
