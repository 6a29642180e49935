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
//!
//! store = "postgis"     # layers in PostgreSQL (default "geoparquet": <data_dir>/layers)
//! [postgis]
//! url = "postgres://chiiki@db.example.lg.jp:5432/gis"
//! password_env = "CHIIKI_PG_PASSWORD"     # or password_file = "…"; never in this file
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use chiiki_policy::auth::{RoleDef, Roles};
pub use chiiki_policy::settings::{AuditConfig, LayerPolicy, PrivacyConfig, TokenConfig};
pub use chiiki_server::settings::{LimitsConfig, ServerConfig};
use chiiki_store::{GeoParquetStore, LayerStore};

/// Where the real public data lives unless a flag or `CHIIKI_REAL_DATA` says otherwise.
pub const DEFAULT_REAL_DATA: &str = "../shared/data/real";
pub const REAL_DATA_ENV: &str = "CHIIKI_REAL_DATA";

/// Where the layers are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// GeoParquet files in `<data_dir>/layers` (embedded, the default).
    #[default]
    Geoparquet,
    /// PostgreSQL with PostGIS (`[postgis]`).
    Postgis,
}

impl StoreKind {
    fn is_default(&self) -> bool {
        *self == StoreKind::default()
    }
}

/// `[postgis]`: the database the layers are in when `store = "postgis"`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgisConfig {
    /// `postgres://user@host:port/db`, without a password.
    pub url: String,
    /// The environment variable holding the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// A file holding the password (its first line); relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Never accepted: read only to refuse it by name.
    #[serde(default, skip_serializing)]
    pub password: Option<toml::Value>,
}

impl PostgisConfig {
    fn validate(&self) -> Result<()> {
        anyhow::ensure!(
            self.password.is_none(),
            "postgis.password: a password may not be written in the config; name an environment variable with postgis.password_env or a file with postgis.password_file"
        );
        anyhow::ensure!(
            !(self.password_env.is_some() && self.password_file.is_some()),
            "postgis.password_env and postgis.password_file: give one, not both"
        );
        chiiki_store::postgis::parse_url(&self.url).context("postgis.url")?;
        Ok(())
    }

    /// The password from the environment variable or file named, if one is.
    pub fn password(&self) -> Result<Option<String>> {
        if let Some(var) = &self.password_env {
            let value = std::env::var(var)
                .with_context(|| format!("postgis.password_env names {var}, which is not set"))?;
            return Ok(Some(value));
        }
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("postgis.password_file: reading {}", path.display()))?;
            return Ok(Some(text.lines().next().unwrap_or_default().to_string()));
        }
        Ok(None)
    }

    /// Connects to the database (migrating its schema if needed).
    pub fn connect(&self) -> Result<chiiki_store::PostgisStore> {
        Ok(chiiki_store::PostgisStore::connect(
            &self.url,
            self.password()?.as_deref(),
        )?)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Where the layers are kept; everything else stays in `data_dir`.
    #[serde(default, skip_serializing_if = "StoreKind::is_default")]
    pub store: StoreKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgis: Option<PostgisConfig>,
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
            store: StoreKind::default(),
            postgis: None,
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
        if let Some(dir) = path.parent() {
            if config.data_dir.is_relative() {
                config.data_dir = dir.join(&config.data_dir);
            }
            if let Some(file) = config
                .postgis
                .as_mut()
                .and_then(|p| p.password_file.as_mut())
                .filter(|f| f.is_relative())
            {
                *file = dir.join(&*file);
            }
        }
        config
            .validate()
            .with_context(|| format!("in config {}", path.display()))?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<()> {
        if let Some(p) = &self.postgis {
            p.validate()?;
        }
        anyhow::ensure!(
            self.store != StoreKind::Postgis || self.postgis.is_some(),
            "store = \"postgis\" needs a [postgis] section with its url"
        );
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

    /// The layers' store: `<data>/layers` or the PostGIS database.
    pub fn layer_store(&self, data: &Path) -> Result<Arc<dyn LayerStore + Send + Sync>> {
        Ok(match self.store {
            StoreKind::Geoparquet => Arc::new(GeoParquetStore::new(data)),
            StoreKind::Postgis => Arc::new(self.postgis_config()?.connect()?),
        })
    }

    /// Where the layers are, for messages: a directory or a database URL.
    pub fn layer_store_name(&self, data: &Path) -> String {
        match (self.store, &self.postgis) {
            (StoreKind::Postgis, Some(p)) => p.url.clone(),
            _ => chiiki_store::geoparquet::layers_dir(data)
                .display()
                .to_string(),
        }
    }

    pub fn postgis_config(&self) -> Result<&PostgisConfig> {
        self.postgis
            .as_ref()
            .context("no [postgis] section in the config")
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

    /// The state several processes share when the layers are in PostGIS
    /// (tokens, saved analyses, the audit log, in the same database);
    /// `None` with the GeoParquet store, where each data directory keeps its own.
    pub fn shared_state(&self) -> Result<Option<Arc<chiiki_store::StateStore>>> {
        Ok(match self.store {
            StoreKind::Geoparquet => None,
            StoreKind::Postgis => self.postgis_config()?.connect()?.state(),
        })
    }

    /// Where the tokens of data directory `data` are: the database with
    /// the PostGIS store, else `<data>/tokens.json`.
    pub fn token_place(&self, data: &Path) -> Result<chiiki_policy::auth::tokens::TokenPlace> {
        use chiiki_policy::auth::tokens::{token_file, TokenPlace};
        Ok(match self.shared_state()? {
            Some(s) => TokenPlace::Database(s),
            None => TokenPlace::File(token_file(data)),
        })
    }

    /// Where the audit log of data directory `data` is: the database with
    /// the PostGIS store, else the file the config names.
    pub fn audit_place(&self, data: &Path) -> Result<chiiki_policy::audit::AuditPlace> {
        use chiiki_policy::audit::AuditPlace;
        Ok(match self.shared_state()? {
            Some(s) => AuditPlace::Database(s),
            None => AuditPlace::File(data.join(&self.audit.path)),
        })
    }

    /// Where the pseudonym key of data directory `data` is: the database
    /// with the PostGIS store, else `<data>/keys/pseudonym.key`.
    pub fn pseudonym_key_place(&self, data: &Path) -> Result<chiiki_policy::privacy::KeyPlace> {
        use chiiki_policy::privacy::{pseudonym_key_path, KeyPlace};
        Ok(match self.shared_state()? {
            Some(s) => KeyPlace::Database(s),
            None => KeyPlace::File(pseudonym_key_path(data)),
        })
    }

    /// Where the registry of data directory `data` is: the database with
    /// the PostGIS store, else `<data>/registry/registry.bin`.
    pub fn registry_place(&self, data: &Path) -> Result<chiiki_registry::store::RegistryPlace> {
        use chiiki_registry::store::RegistryPlace;
        Ok(match self.shared_state()? {
            Some(s) => RegistryPlace::Database(s),
            None => RegistryPlace::Directory(data.to_path_buf()),
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
    fn the_store_is_geoparquet_unless_postgis_is_configured_without_a_password() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c.store, StoreKind::Geoparquet);
        let out = toml::to_string(&c).unwrap();
        assert!(!out.contains("store") && !out.contains("postgis"), "{out}");

        let c: Config = toml::from_str(
            "store = \"postgis\"\n[postgis]\nurl = \"postgres://chiiki@db.example.lg.jp:5432/gis\"\npassword_env = \"CHIIKI_TEST_PG_PASSWORD_UNSET\"\n",
        )
        .unwrap();
        c.validate().unwrap();
        assert_eq!(c.store, StoreKind::Postgis);
        let err = c
            .postgis_config()
            .unwrap()
            .password()
            .unwrap_err()
            .to_string();
        assert!(err.contains("CHIIKI_TEST_PG_PASSWORD_UNSET"), "{err}");

        let refused = |toml_text: &str, key: &str| {
            let c: Config = toml::from_str(toml_text).unwrap();
            let err = format!("{:#}", c.validate().unwrap_err());
            assert!(err.contains(key), "{err}");
            assert!(!err.contains("s3cret"), "the password is repeated: {err}");
        };
        refused(
            "store = \"postgis\"\n[postgis]\nurl = \"postgres://chiiki:s3cret@db:5432/gis\"\n",
            "postgis.url",
        );
        refused(
            "[postgis]\nurl = \"postgres://chiiki@db/gis\"\npassword = \"s3cret\"\n",
            "postgis.password",
        );
        refused("store = \"postgis\"\n", "[postgis]");

        // A password file relative to the config file, its first line.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pg.pass"), "s3cret\n").unwrap();
        let path = dir.path().join("chiiki.toml");
        std::fs::write(
            &path,
            "store = \"postgis\"\n[postgis]\nurl = \"postgres://chiiki@db/gis\"\npassword_file = \"pg.pass\"\n",
        )
        .unwrap();
        let c = Config::load(&path).unwrap();
        assert_eq!(
            c.postgis_config().unwrap().password().unwrap().as_deref(),
            Some("s3cret")
        );
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
