//! The service's own settings: the `[server]` and `[limits]` sections of
//! `chiiki.toml`. The binary reads the file; this crate only describes them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Largest page `limit` honours; larger requests are clamped to it.
    #[serde(default = "default_max_limit")]
    pub max_limit: usize,
    #[serde(default = "default_limit")]
    pub default_limit: usize,
    /// The URL clients reach the service at, for links; by default the
    /// address the service is bound to (never a request's Host header).
    #[serde(default)]
    pub public_url: Option<String>,
    #[serde(default = "default_title")]
    pub title: String,
    /// Origins allowed to call from a browser (CORS); none by default.
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// How often, in seconds, the data directory is checked for changes
    /// written by the command line (0: never; `POST /admin/reload` still works).
    #[serde(default = "default_watch_seconds")]
    pub watch_seconds: u64,
    /// A base map under the web map's layers, for deployments online; none
    /// by default (町丁目 boundaries and the layers orient the eye).
    #[serde(default)]
    pub basemap: Option<BaseMap>,
}

/// An online base map for the web map: a MapLibre style URL, or XYZ raster
/// tiles such as 地理院タイル
/// (`https://cyberjapandata.gsi.go.jp/xyz/std/{z}/{x}/{y}.png`, attribution
/// 「地理院タイル」); the vector 地理院地図Vector is a style URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseMap {
    #[serde(default)]
    pub style: Option<String>,
    #[serde(default)]
    pub tiles: Option<String>,
    #[serde(default)]
    pub attribution: String,
}

impl BaseMap {
    /// The origin (`https://host[:port]`) the browser fetches it from.
    pub fn origin(&self) -> Option<String> {
        let url = self.style.as_deref().or(self.tiles.as_deref())?;
        let (scheme, rest) = url.split_once("://")?;
        let host = rest.split('/').next()?;
        let safe = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        };
        (matches!(scheme, "http" | "https") && safe(host)).then(|| format!("{scheme}://{host}"))
    }
}

fn default_watch_seconds() -> u64 {
    2
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
    /// Selections, analyses and pages being written at once on the blocking
    /// threads (default: twice the cores). Work of a request that timed out
    /// keeps its slot until it ends, so slow requests cannot pile up threads.
    #[serde(default = "default_max_blocking")]
    pub max_blocking: usize,
    /// How long a request waits for a blocking slot before it is answered
    /// 503 with `Retry-After` (at most `timeout_seconds`).
    #[serde(default = "default_blocking_wait")]
    pub blocking_wait_seconds: f64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_limit: default_max_limit(),
            default_limit: default_limit(),
            public_url: None,
            title: default_title(),
            cors_origins: Vec::new(),
            watch_seconds: default_watch_seconds(),
            basemap: None,
        }
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
            max_blocking: default_max_blocking(),
            blocking_wait_seconds: default_blocking_wait(),
        }
    }
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
fn default_max_blocking() -> usize {
    2 * std::thread::available_parallelism().map_or(4, |n| n.get())
}
fn default_blocking_wait() -> f64 {
    10.0
}

/// Everything the service needs to start, composed by the binary from
/// `chiiki.toml`, the command line and the crates' own sections.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub data_dir: std::path::PathBuf,
    pub bind: String,
    pub server: ServerConfig,
    pub limits: LimitsConfig,
    /// Access overrides for imported layers.
    pub layers: Vec<chiiki_policy::settings::LayerPolicy>,
    pub tokens: Vec<chiiki_policy::settings::TokenConfig>,
    pub roles: chiiki_policy::auth::Roles,
    /// Saved analyses from the config; those POSTed are read from the data directory.
    pub analyses: Vec<chiiki_analysis::Analysis>,
    pub privacy: chiiki_policy::settings::PrivacyConfig,
    pub audit: chiiki_policy::settings::AuditConfig,
}

impl ServiceConfig {
    /// Where `chiiki token create` keeps the tokens it issues.
    pub fn token_file(&self) -> std::path::PathBuf {
        chiiki_policy::auth::tokens::token_file(&self.data_dir)
    }

    pub fn audit_path(&self) -> std::path::PathBuf {
        self.data_dir.join(&self.audit.path)
    }

    /// The key of the pseudonyms that replace ids for roles that may not
    /// see them (made on first start; `chiiki token rotate-keys` replaces it).
    pub fn pseudonym_key_path(&self) -> std::path::PathBuf {
        chiiki_policy::privacy::pseudonym_key_path(&self.data_dir)
    }
}
