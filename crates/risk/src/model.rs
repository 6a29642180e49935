//! The versioned model file: `<data>/models/pipes-v<N>.json`, with the
//! features, their standardisation and coefficients, the training years,
//! the seed, the held-out evaluation and the creation time.
//!
//! Saving a model equal to the latest one (all but id, version and time)
//! keeps the latest, so re-running training on unchanged data adds no version.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{Result, RiskError};
use super::evaluate::Evaluation;
use super::pipes::Levels;

pub const FORMAT: &str = "chiiki-pipe-risk-1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    /// Factor group the feature is reported under ("age", "material", …).
    pub group: String,
    pub mean: f64,
    pub sd: f64,
    /// Weight of the standardised feature in the log-odds of a break.
    pub coefficient: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipeModel {
    pub format: String,
    /// "pipes-v<N>".
    pub id: String,
    pub version: u32,
    pub algorithm: String,
    pub alpha: f64,
    pub seed: u64,
    pub shuffled_labels: bool,
    pub features: Vec<Feature>,
    pub intercept: f64,
    pub levels: Levels,
    /// First and last year of the break history read.
    pub history_years: [i32; 2],
    /// Years whose breaks were labels.
    pub train_years: [i32; 2],
    /// The year the model scores (features as of its 1 January).
    pub scores_year: i32,
    pub examples: usize,
    pub positive_examples: usize,
    /// The same recipe trained without the last year and tested on it.
    pub evaluation: Option<Evaluation>,
    /// RFC 3339.
    pub created_at: String,
    /// SHA-256 of the model as trained (all but id, version, time and this),
    /// to tell a retrained model from the saved one without comparing
    /// floats that went through JSON.
    #[serde(default)]
    pub content_sha256: String,
}

impl PipeModel {
    fn content_hash(&self) -> String {
        use sha2::Digest;
        let stripped = PipeModel {
            id: String::new(),
            version: 0,
            created_at: String::new(),
            content_sha256: String::new(),
            ..self.clone()
        };
        let json = serde_json::to_vec(&stripped).expect("a model serialises");
        hex::encode(sha2::Sha256::digest(json))
    }
}

pub fn models_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("models")
}

/// The saved versions, oldest first.
pub fn versions(data_dir: &Path) -> Vec<(u32, PathBuf)> {
    let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir(models_dir(data_dir))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let n = name
                .strip_prefix("pipes-v")?
                .strip_suffix(".json")?
                .parse()
                .ok()?;
            Some((n, e.path()))
        })
        .collect();
    v.sort();
    v
}

pub fn load(path: &Path) -> Result<PipeModel> {
    let text =
        std::fs::read_to_string(path).map_err(chiiki_core::error::IoError::at(path, "reading"))?;
    let m: PipeModel = serde_json::from_str(&text).map_err(|e| RiskError::Model {
        path: path.to_path_buf(),
        message: format!("not a model file: {e}"),
    })?;
    if m.format != FORMAT {
        return Err(RiskError::Model {
            path: path.to_path_buf(),
            message: format!("not a {FORMAT} model"),
        });
    }
    Ok(m)
}

/// The latest model of `data_dir`.
pub fn latest(data_dir: &Path) -> Result<PipeModel> {
    let (_, path) = versions(data_dir).pop().ok_or_else(|| RiskError::NoModel {
        dir: models_dir(data_dir),
    })?;
    load(&path)
}

/// Saves `model` as the next version, unless it equals the latest; returns
/// the model as saved (with id, version, time) and whether it is new.
pub fn save(data_dir: &Path, mut model: PipeModel) -> Result<(PipeModel, PathBuf, bool)> {
    model.content_sha256 = model.content_hash();
    let existing = versions(data_dir);
    if let Some((_, path)) = existing.last() {
        if let Ok(latest) = load(path) {
            if latest.content_sha256 == model.content_sha256 {
                return Ok((latest, path.clone(), false));
            }
        }
    }
    let version = existing.last().map_or(1, |(n, _)| n + 1);
    model.version = version;
    model.id = format!("pipes-v{version}");
    if model.created_at.is_empty() {
        model.created_at =
            chiiki_core::clock::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    }
    let path = models_dir(data_dir).join(format!("{}.json", model.id));
    let json = serde_json::to_string_pretty(&model).map_err(|e| RiskError::Model {
        path: path.clone(),
        message: format!("encoding the model: {e}"),
    })?;
    chiiki_core::fs::write_atomically(&path, json.as_bytes())?;
    Ok((model, path, true))
}
