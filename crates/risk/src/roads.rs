//! AI crack detections aggregated to road segments, recomputed from the
//! detections (`detection_id,road_id,lon,lat,crack_type,confidence,detected_on`)
//! rather than taken from the segments' precomputed fields.
//!
//! Per segment: `crack_count`, `crack_per_100m`, `crack_max_confidence`,
//! `crack_types` ("alligator 3; transverse 1") and a 0–1 score:
//! `1 − exp(−w / 2)` where `w` is the sum over detections of
//! confidence × type weight (alligator and pothole 1.0, transverse 0.6,
//! longitudinal 0.5, other 0.5) per 100 m of segment. More (or more severe,
//! or more certain) detections per 100 m always score higher.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chiiki_core::layers::{Column, FieldType, Layer, Value};

use crate::error::{Result, RiskError};

pub const MODEL_ID: &str = "roads-cracks-1";

pub fn type_weight(kind: &str) -> f64 {
    match kind {
        "alligator" | "pothole" => 1.0,
        "transverse" => 0.6,
        _ => 0.5,
    }
}

/// The score of a segment from its weighted detections per 100 m.
pub fn score(weighted_per_100m: f64) -> f64 {
    1.0 - (-weighted_per_100m / 2.0).exp()
}

#[derive(Default)]
struct Agg {
    count: usize,
    weighted: f64,
    max_conf: f64,
    types: BTreeMap<String, usize>,
}

pub fn columns(
    roads: &Layer,
    detections_csv: &Path,
    scored_at: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<Column>> {
    let ids = super::text_column(roads, "road_id")?;
    let lengths = super::number_column(roads, "length_m")?;
    let file = std::fs::File::open(detections_csv)
        .map_err(chiiki_core::error::IoError::at(detections_csv, "opening"))?;
    let mut reader = csv::Reader::from_reader(file);
    let headers = reader
        .headers()
        .map_err(|e| RiskError::csv(detections_csv, None, None, e))?
        .clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| {
            RiskError::csv(detections_csv, None, None, format!("no column '{name}'"))
        })
    };
    let (road_col, type_col, conf_col) = (col("road_id")?, col("crack_type")?, col("confidence")?);
    let mut agg: HashMap<String, Agg> = HashMap::new();
    for (line, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| RiskError::csv(detections_csv, Some(line + 2), None, e))?;
        let conf: f64 = rec
            .get(conf_col)
            .and_then(|c| c.trim().parse().ok())
            .filter(|c: &f64| (0.0..=1.0).contains(c))
            .ok_or_else(|| {
                RiskError::csv(
                    detections_csv,
                    Some(line + 2),
                    Some("confidence"),
                    "not a number in 0–1",
                )
            })?;
        let kind = rec.get(type_col).unwrap_or("").to_string();
        let a = agg
            .entry(rec.get(road_col).unwrap_or("").to_string())
            .or_default();
        a.count += 1;
        a.weighted += conf * type_weight(&kind);
        a.max_conf = a.max_conf.max(conf);
        *a.types.entry(kind).or_default() += 1;
    }
    let mut count = Column::new("crack_count", FieldType::Integer);
    let mut density = Column::new("crack_per_100m", FieldType::Real);
    let mut max_conf = Column::new("crack_max_confidence", FieldType::Real);
    let mut types = Column::new("crack_types", FieldType::Text);
    let mut scores = Vec::with_capacity(roads.len());
    let mut factors = Vec::with_capacity(roads.len());
    let empty = Agg::default();
    for r in 0..roads.len() {
        let a = agg.get(&ids[r]).unwrap_or(&empty);
        let hundreds = lengths[r].unwrap_or(100.0).max(1.0) / 100.0;
        let per = a.count as f64 / hundreds;
        let s = score(a.weighted / hundreds);
        let t = a
            .types
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join("; ");
        count.push(Value::Integer(a.count as i64)).expect("integer");
        density.push(Value::Real(per)).expect("real");
        max_conf
            .push(if a.count == 0 {
                Value::Null
            } else {
                Value::Real(a.max_conf)
            })
            .expect("real");
        types.push(Value::Text(t.clone())).expect("text");
        factors.push(if a.count == 0 {
            "no detections".to_string()
        } else {
            format!(
                "{per:.1} detections / 100 m; max confidence {:.2}; {t}",
                a.max_conf
            )
        });
        scores.push(s);
    }
    let ranks = super::ranks(&scores, &ids);
    let mut cols = vec![count, density, max_conf, types];
    cols.extend(super::risk_columns(
        &scores, &ranks, &factors, MODEL_ID, scored_at,
    ));
    Ok(cols)
}

#[cfg(test)]
mod tests {
    #[test]
    fn denser_scores_higher() {
        assert!(super::score(0.0) == 0.0);
        assert!(super::score(1.0) < super::score(2.0));
        assert!(super::score(50.0) <= 1.0);
    }
}
