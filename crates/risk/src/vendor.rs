//! Vendor scores: a CSV `asset_id,score,model,scored_at` imported onto a
//! layer beside chiiki's own scores, as `vendor_score`, `vendor_model`,
//! `vendor_scored_at` and `vendor_source` (file name, its SHA-256 prefix and
//! the import time). `score` must be a number in 0–1, `scored_at` a date
//! (YYYY-MM-DD) or an RFC 3339 time, and every asset must exist in the layer.
//! One bad row rejects the whole file, naming file, line and field. A new
//! import replaces the previous vendor columns.

use std::collections::HashMap;
use std::path::Path;

use sha2::Digest;

use chiiki_core::layers::{Column, FieldType, Layer, Value};

use crate::error::{Result, RiskError};

/// The asset id column of a layer: its id field, else `<layer without s>_id`.
pub fn id_field(layer: &Layer) -> Result<String> {
    if let Some(f) = &layer.meta.id_field {
        if layer.column(f).is_some() {
            return Ok(f.clone());
        }
    }
    let guess = format!("{}_id", layer.meta.id.trim_end_matches('s'));
    if layer.column(&guess).is_some() {
        return Ok(guess);
    }
    Err(RiskError::NoIdColumn {
        layer: layer.meta.id.clone(),
        guess,
    })
}

/// Reads `csv_path` and returns the vendor columns for `layer`, and the
/// number of assets scored.
pub fn columns(
    layer: &Layer,
    id_field: &str,
    csv_path: &Path,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(Vec<Column>, usize)> {
    let bytes =
        std::fs::read(csv_path).map_err(chiiki_core::error::IoError::at(csv_path, "reading"))?;
    let file = csv_path.display().to_string();
    let ids = super::text_column(layer, id_field)?;
    let rows: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes.as_slice());
    let headers = reader
        .headers()
        .map_err(|e| RiskError::csv(csv_path, None, None, format!("no header: {e}")))?
        .clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            RiskError::csv(
                csv_path,
                Some(1),
                None,
                format!("no column '{name}' (want asset_id,score,model,scored_at)"),
            )
        })
    };
    let (c_id, c_score, c_model, c_at) = (
        col("asset_id")?,
        col("score")?,
        col("model")?,
        col("scored_at")?,
    );
    let mut got: Vec<Option<(f64, String, String)>> = vec![None; layer.len()];
    let mut n = 0;
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let bad = |field: Option<&str>, message: String| {
            RiskError::csv(csv_path, Some(line), field, message)
        };
        let rec = rec.map_err(|e| bad(None, format!("not a CSV row: {e}")))?;
        let field = |c: usize| rec.get(c).unwrap_or("");
        let id = field(c_id);
        let Some(&row) = rows.get(id) else {
            return Err(bad(
                Some("asset_id"),
                format!("'{id}' is not in layer '{}'", layer.meta.id),
            ));
        };
        let score: f64 = match field(c_score).parse::<f64>() {
            Ok(s) if (0.0..=1.0).contains(&s) => s,
            _ => {
                return Err(bad(
                    Some("score"),
                    format!("'{}' is not a number in 0–1", field(c_score)),
                ))
            }
        };
        let model = field(c_model);
        if model.is_empty() {
            return Err(bad(Some("model"), "empty".to_string()));
        }
        let at = field(c_at);
        if chrono::NaiveDate::parse_from_str(at, "%Y-%m-%d").is_err()
            && chrono::DateTime::parse_from_rfc3339(at).is_err()
        {
            return Err(bad(
                Some("scored_at"),
                format!("'{at}' is not a date (YYYY-MM-DD) or RFC 3339 time"),
            ));
        }
        if got[row].is_some() {
            return Err(bad(Some("asset_id"), format!("'{id}' appears twice")));
        }
        got[row] = Some((score, model.to_string(), at.to_string()));
        n += 1;
    }
    let source = format!(
        "{} (sha256 {}), imported {}",
        csv_path
            .file_name()
            .map_or(file.clone(), |f| f.to_string_lossy().to_string()),
        &hex::encode(sha2::Sha256::digest(&bytes))[..16],
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let mut score = Column::new("vendor_score", FieldType::Real);
    let mut model = Column::new("vendor_model", FieldType::Text);
    let mut at = Column::new("vendor_scored_at", FieldType::Text);
    let mut src = Column::new("vendor_source", FieldType::Text);
    for g in got {
        match g {
            Some((s, m, t)) => {
                score.push(Value::Real(s)).expect("real");
                model.push(Value::Text(m)).expect("text");
                at.push(Value::Text(t)).expect("text");
                src.push(Value::Text(source.clone())).expect("text");
            }
            None => {
                for c in [&mut score, &mut model, &mut at, &mut src] {
                    c.push(Value::Null).expect("null");
                }
            }
        }
    }
    Ok((vec![score, model, at, src], n))
}
