//! `chiiki demo`: builds the demo city's layers from the real public data in
//! `../shared/data/real` (see its SOURCES.md) and the demo's access tokens.
//!
//! Re-running is cheap and changes nothing: a layer whose source files are
//! unchanged is not imported again, and existing tokens are kept.

pub mod city;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::config::{Config, TokenConfig};
use chiiki_core::layers::{Access, Layer};
use chiiki_policy::auth::sha256_hex;
use chiiki_store::geoparquet as store;
use chiiki_store::import::{read_files, ImportOptions};

/// Bump when the import of demo layers changes, to force a rebuild.
const DEMO_FORMAT: &str = "demo-layers-2";

pub struct DemoLayer {
    pub id: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub attribution: &'static str,
    /// Paths relative to the real data directory.
    pub files: &'static [&'static str],
    pub id_field: Option<&'static str>,
}

pub const DEMO_LAYERS: &[DemoLayer] = &[
    DemoLayer {
        id: "flood_a31_tokyo",
        title: "洪水浸水想定区域 東京都 (A31, 2012)",
        description: "Flood inundation extents for Tokyo from 国土数値情報 A31 (2012), geometry only: the source has no depth attributes. Source CRS JGD2000.",
        attribution: "国土数値情報 (洪水浸水想定区域データ) 国土交通省",
        files: &["flood/A31-12_13.shp"],
        id_field: None,
    },
    DemoLayer {
        id: "bunkyo_towns",
        title: "文京区 町丁目 (2020年国勢調査 小地域)",
        description: "2020 Census small-area (町丁目) boundaries of 文京区 with population (JINKO) and households (SETAI).",
        attribution: "政府統計の総合窓口(e-Stat) 国勢調査 境界データ",
        files: &["bunkyo/r2ka13105.shp"],
        id_field: None,
    },
    DemoLayer {
        id: "shelters_emergency",
        title: "指定緊急避難場所 (文京区・会津若松市)",
        description: "Designated emergency evacuation sites of 文京区 (131059) and 会津若松市 (072028) with hazard flags.",
        attribution: "国土地理院 指定緊急避難場所データ",
        files: &[
            "shelters/shelter_emergency_131059.json",
            "shelters/shelter_emergency_072028.json",
        ],
        id_field: Some("NO"),
    },
    DemoLayer {
        id: "shelters_evacuation",
        title: "指定避難所 (文京区・会津若松市)",
        description: "Designated evacuation shelters of 文京区 (131059) and 会津若松市 (072028).",
        attribution: "国土地理院 指定避難所データ",
        files: &[
            "shelters/shelter_evacuation_131059.json",
            "shelters/shelter_evacuation_072028.json",
        ],
        id_field: Some("NO"),
    },
    DemoLayer {
        id: "yaizu_inland_flood_depth",
        title: "焼津市 内水浸水想定区域 (最大浸水深)",
        description: "Inland (pluvial) flood extents of 焼津市, one multipolygon per maximum depth class.",
        attribution: "焼津市オープンデータ (公共データ利用規約 1.0)",
        files: &["flood/yaizu_naisui_depth.geojson"],
        id_field: None,
    },
];

/// Identifies the state of a layer's source files without reading them whole.
pub(crate) fn fingerprint(files: &[PathBuf]) -> Result<String> {
    let mut h = Sha256::new();
    h.update(DEMO_FORMAT.as_bytes());
    for f in files {
        let md = std::fs::metadata(f).with_context(|| format!("reading {}", f.display()))?;
        h.update(
            f.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .as_bytes(),
        );
        h.update(md.len().to_le_bytes());
        let mtime = md
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        h.update(mtime.to_le_bytes());
    }
    Ok(hex::encode(h.finalize()))
}

/// The demo's shelter capacities (people), which the real data does not
/// carry: invented, deterministic, from the kind of place its name says and
/// seeded by its id. Schools 300–800, gymnasiums 200–600, community
/// centres and halls 50–150, anything else (care homes, small facilities)
/// 20–80. Served as the `capacity` column of `shelters_evacuation`; the
/// occupancy of a shelter is shown against it.
pub fn demo_capacity(id: i64, name: &str) -> i64 {
    let (low, high) = if ["学校", "学園", "大学", "高校"]
        .iter()
        .any(|k| name.contains(k))
    {
        (300, 800)
    } else if name.contains("体育館") || name.contains("アリーナ") {
        (200, 600)
    } else if ["公民館", "会館", "センター", "集会所", "交流館", "区民館"]
        .iter()
        .any(|k| name.contains(k))
    {
        (50, 150)
    } else {
        (20, 80)
    };
    let h = Sha256::digest(format!("chiiki demo capacity {id}").as_bytes());
    let n = u64::from_le_bytes(h[..8].try_into().expect("8 bytes"));
    // In steps of 10 people, as capacities are usually given.
    low + (n % ((high - low) as u64 / 10 + 1)) as i64 * 10
}

fn add_demo_capacity(parts: &mut chiiki_core::layers::LayerParts) {
    use chiiki_core::layers::{Column, FieldType, Value};
    let names = parts
        .columns
        .iter()
        .find(|c| c.name == "施設・場所名")
        .cloned();
    let mut capacity = Column::new("capacity", FieldType::Integer);
    for (row, &fid) in parts.fids.iter().enumerate() {
        let name = match names.as_ref().map(|c| c.get(row)) {
            Some(Value::Text(s)) => s,
            _ => String::new(),
        };
        let _ = capacity.push(Value::Integer(demo_capacity(fid, &name)));
    }
    parts.columns.retain(|c| c.name != "capacity");
    parts.columns.push(capacity);
}

/// What `build` did to one layer.
pub struct BuiltLayer {
    pub id: String,
    pub features: usize,
    pub rebuilt: bool,
    pub notes: Vec<String>,
}

/// Imports every demo layer that is missing or stale into `data_dir`.
pub fn build(real_data: &Path, data_dir: &Path) -> Result<Vec<BuiltLayer>> {
    if !real_data.is_dir() {
        bail!(
            "the real public data directory {} does not exist; point --real-data or {} at the shared data (../shared/data/real)",
            real_data.display(),
            crate::config::REAL_DATA_ENV
        );
    }
    let mut built = Vec::new();
    for demo in DEMO_LAYERS {
        // A fictional city has no 焼津市 or 会津若松市: keep what exists.
        let files: Vec<PathBuf> = demo
            .files
            .iter()
            .map(|f| real_data.join(f))
            .filter(|f| f.is_file())
            .collect();
        if files.is_empty() {
            continue;
        }
        let print = fingerprint(&files)?;
        if let Some(meta) = store::read_meta(data_dir, demo.id) {
            if meta.fingerprint == print {
                let features = store::load(&store::layer_path(data_dir, demo.id))
                    .map(|l| l.len())
                    .unwrap_or(0);
                built.push(BuiltLayer {
                    id: demo.id.into(),
                    features,
                    rebuilt: false,
                    notes: vec![],
                });
                continue;
            }
        }
        let opts = ImportOptions {
            layer_id: demo.id.into(),
            title: Some(demo.title.into()),
            description: Some(demo.description.into()),
            attribution: Some(demo.attribution.into()),
            id_field: demo.id_field.map(String::from),
            access: Access {
                public: true,
                roles: vec![],
            },
            ..Default::default()
        };
        let (mut parts, report) = read_files(&files, &opts)
            .with_context(|| format!("building demo layer {}", demo.id))?;
        parts.meta.fingerprint = print;
        if demo.id == "shelters_evacuation" {
            add_demo_capacity(&mut parts);
        }
        let layer = Layer::new(parts);
        store::save(data_dir, &layer)?;
        let mut notes = report.warnings.clone();
        if !report.repaired.is_empty() {
            notes.push(format!("{} geometries repaired", report.repaired.len()));
        }
        if !report.rejected.is_empty() {
            notes.push(format!("{} features rejected", report.rejected.len()));
        }
        built.push(BuiltLayer {
            id: demo.id.into(),
            features: layer.len(),
            rebuilt: true,
            notes,
        });
    }
    Ok(built)
}

/// The default roles, each with a demo token.
pub const DEMO_ROLES: [&str; 5] = ["admin", "planner", "health", "analyst", "public"];

/// The records the demo's planners read: people on the 避難行動要支援者名簿,
/// and people living in a flood zone (the demo adds each resident's deepest
/// flood rank to the resident layer).
pub const DEMO_PLANNER_ROWS: &str = "needs_support = TRUE OR flood_depth_rank IS NOT NULL";

/// The default planner role, reading [`DEMO_PLANNER_ROWS`].
pub fn demo_planner() -> chiiki_policy::auth::RoleDef {
    let mut planner = chiiki_policy::auth::Roles::default()
        .get("planner")
        .expect("planner is a default role")
        .clone();
    planner.rows = Some(DEMO_PLANNER_ROWS.into());
    planner
}

/// How long the demo's tokens are valid after they were made, unless
/// renewed (`chiiki token renew demo-planner --expires 90d`).
pub const DEMO_TOKEN_DAYS: i64 = 90;

/// The key of `demo-tokens.json` that holds when the tokens were made.
const ISSUED_KEY: &str = "issued";

/// The demo's tokens, one per role, and when they were made.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoTokens {
    /// The tokens by role.
    pub tokens: BTreeMap<String, String>,
    /// When the tokens were made: they expire [`DEMO_TOKEN_DAYS`] later.
    pub issued: DateTime<Utc>,
}

impl DemoTokens {
    /// When the tokens stop working unless renewed.
    pub fn expires(&self) -> DateTime<Utc> {
        self.issued + chrono::Duration::days(DEMO_TOKEN_DAYS)
    }
}

/// The demo's tokens, kept across runs in `demo-tokens.json`: one secret
/// per role, and the time they were made under `"issued"` (the file stays a
/// flat map, so `tokens["planner"]` keeps working for scripts). Keeping the
/// time means that running the demo again does not extend the tokens;
/// `chiiki token renew` does. A file from before `"issued"` existed gets
/// the current time, once.
pub fn demo_tokens(data_dir: &Path) -> Result<DemoTokens> {
    let path = data_dir.join("demo-tokens.json");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(mut tokens) = serde_json::from_str::<BTreeMap<String, String>>(&text) {
            let issued = tokens.remove(ISSUED_KEY).map(|t| {
                DateTime::parse_from_rfc3339(&t)
                    .map(|t| t.to_utc())
                    .with_context(|| format!("{}: '{ISSUED_KEY}' is not a time", path.display()))
            });
            if DEMO_ROLES.iter().all(|r| tokens.contains_key(*r)) {
                let kept = DemoTokens {
                    tokens,
                    issued: issued.transpose()?.unwrap_or_else(now_in_seconds),
                };
                save_demo_tokens(&path, &kept)?;
                return Ok(kept);
            }
        }
    }
    let mut tokens = BTreeMap::new();
    for role in DEMO_ROLES {
        let secret: [u8; 24] = rand::random();
        tokens.insert(
            role.to_string(),
            format!("demo-{}-{}", role, hex::encode(secret)),
        );
    }
    let made = DemoTokens {
        tokens,
        issued: now_in_seconds(),
    };
    save_demo_tokens(&path, &made)?;
    Ok(made)
}

/// The time now, to the second as the file keeps it: the expiry the config
/// derives from it must be the same on every run.
fn now_in_seconds() -> DateTime<Utc> {
    use chrono::SubsecRound;
    chiiki_core::clock::now().trunc_subsecs(0)
}

/// Writes `demo-tokens.json` unless it already says the same.
fn save_demo_tokens(path: &Path, tokens: &DemoTokens) -> Result<()> {
    let mut flat = tokens.tokens.clone();
    flat.insert(
        ISSUED_KEY.into(),
        tokens
            .issued
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    );
    let bytes = serde_json::to_string_pretty(&flat)?;
    if std::fs::read_to_string(path).ok().as_deref() != Some(bytes.as_str()) {
        chiiki_core::fs::write_atomically(path, bytes.as_bytes())?;
    }
    Ok(())
}

/// The config the demo serves with: its data dir, the bind address and the
/// demo tokens (stored hashed), which expire [`DEMO_TOKEN_DAYS`] after they
/// were made.
pub fn demo_config(data_dir: &Path, bind: &str, tokens: &DemoTokens) -> Config {
    let mut config = Config {
        data_dir: data_dir.to_path_buf(),
        bind: bind.to_string(),
        ..Config::default()
    };
    config.server.title = "chiiki demo — 文京区".into();
    config.analyses = demo_analyses();
    config.roles.push(demo_planner());
    for (role, token) in &tokens.tokens {
        if DEMO_ROLES.contains(&role.as_str()) {
            config.tokens.push(TokenConfig {
                name: format!("demo-{role}"),
                role: role.clone(),
                token_sha256: Some(sha256_hex(token)),
                token: None,
                expires: Some(tokens.expires()),
            });
        }
    }
    config
}

/// The demo's saved analyses (`data/analyses.toml`): the six questions.
pub fn demo_analyses() -> Vec<chiiki_analysis::Analysis> {
    #[derive(serde::Deserialize)]
    struct File {
        analyses: Vec<chiiki_analysis::Analysis>,
    }
    let file: File =
        toml::from_str(include_str!("../../data/analyses.toml")).expect("analyses.toml is valid");
    file.analyses
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_tokens_keep_their_issue_time_and_expire_90_days_after() {
        let dir = tempfile::tempdir().unwrap();
        let first = demo_tokens(dir.path()).unwrap();
        assert_eq!(first.tokens.len(), DEMO_ROLES.len());
        let path = dir.path().join("demo-tokens.json");
        let written = std::fs::read(&path).unwrap();
        // Scripts read the file as a map of role to token.
        let flat: serde_json::Value = serde_json::from_slice(&written).unwrap();
        assert_eq!(
            flat["planner"].as_str(),
            Some(first.tokens["planner"].as_str())
        );
        assert!(flat[ISSUED_KEY].is_string());

        // Running the demo again neither makes new tokens nor extends them.
        let again = demo_tokens(dir.path()).unwrap();
        assert_eq!(again.tokens, first.tokens);
        assert_eq!(again.issued, first.issued);
        assert_eq!(std::fs::read(&path).unwrap(), written);

        let config = demo_config(dir.path(), "127.0.0.1:0", &again);
        assert_eq!(config.tokens.len(), DEMO_ROLES.len());
        for t in &config.tokens {
            assert_eq!(
                t.expires,
                Some(again.issued + chrono::Duration::days(DEMO_TOKEN_DAYS)),
                "{}",
                t.name
            );
            t.check().unwrap();
        }
    }

    #[test]
    fn a_token_file_without_an_issue_time_gets_one_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo-tokens.json");
        let old: BTreeMap<String, String> = DEMO_ROLES
            .iter()
            .map(|r| {
                (
                    r.to_string(),
                    format!("demo-{r}-0123456789abcdef0123456789abcdef"),
                )
            })
            .collect();
        std::fs::write(&path, serde_json::to_string(&old).unwrap()).unwrap();
        let kept = demo_tokens(dir.path()).unwrap();
        assert_eq!(kept.tokens, old);
        let stamped = std::fs::read(&path).unwrap();
        assert_eq!(demo_tokens(dir.path()).unwrap().issued, kept.issued);
        assert_eq!(std::fs::read(&path).unwrap(), stamped);
    }
}
