//! Risk scores for the infrastructure layers (issue 7).
//!
//! - [`pipes`]: a break-risk model for water mains, trained with linfa's
//!   L2-regularised logistic regression on pipe-years (a pipe in a year,
//!   labelled "broke that year", with features as of 1 January of that year:
//!   age, length, diameter, material, soil, flood depth rank, road class and
//!   the breaks of the *previous* years only). Scores are the probability of
//!   at least one break in the scoring year, with a rank and the factors that
//!   contribute most (coefficient × standardised value);
//! - [`evaluate`]: ROC AUC and the share of a held-out year's breaks caught
//!   by the top 10 % of pipes, against "oldest first" and random;
//! - [`model`]: the versioned model file `<data>/models/pipes-v<N>.json`;
//! - [`bridges`]: a documented index from 健全性, age, years since
//!   inspection, flood depth and the residents / 要支援者 nearby;
//! - [`roads`]: AI crack detections aggregated to road segments;
//! - [`vendor`]: externally computed scores imported beside chiiki's own.
//!
//! All of them become columns of the `pipes`, `bridges` and `roads` layers
//! (`risk_score`, `risk_rank`, `risk_factors`, `risk_model`,
//! `risk_scored_at`, and `vendor_*`), so CQL2 filters and saved analyses
//! use them like any other attribute.

pub mod bridges;
pub mod error;
pub mod evaluate;
pub mod model;
pub mod pipeline;
pub mod pipes;
pub mod roads;
pub mod vendor;

use chiiki_core::layers::{Column, FieldType, Layer, Value};
use chiiki_store::LayerStore;

use error::Result;
pub use error::RiskError;

/// Loads layer `id` from `layers` (the data directory's files or the database).
pub fn load_layer(layers: &dyn LayerStore, id: &str) -> Result<Layer> {
    layers.load(id).map_err(|source| RiskError::Layer {
        id: id.to_string(),
        source,
    })
}

/// Saves `layer` to `layers`.
pub fn save_layer(layers: &dyn LayerStore, layer: &Layer) -> Result<()> {
    layers.save(layer).map_err(|source| RiskError::Layer {
        id: layer.meta.id.clone(),
        source,
    })
}

/// Whether `layers` holds a layer `id`.
pub fn has_layer(layers: &dyn LayerStore, id: &str) -> Result<bool> {
    layers
        .metadata(id)
        .map(|m| m.is_some())
        .map_err(|source| RiskError::Layer {
            id: id.to_string(),
            source,
        })
}

/// Replaces (or adds) columns of `layer` by name; the others stay as they are.
pub fn set_columns(layer: &mut Layer, columns: Vec<Column>) {
    for c in &columns {
        assert_eq!(
            c.len(),
            layer.len(),
            "column {} has the wrong length",
            c.name
        );
    }
    layer
        .columns
        .retain(|c| !columns.iter().any(|n| n.name == c.name));
    layer.columns.extend(columns);
}

fn no_column(layer: &Layer, name: &str) -> RiskError {
    RiskError::NoColumn {
        layer: layer.meta.id.clone(),
        column: name.to_string(),
    }
}

/// The text of column `name` at every row ("" when null).
pub fn text_column(layer: &Layer, name: &str) -> Result<Vec<String>> {
    let (_, c) = layer.column(name).ok_or_else(|| no_column(layer, name))?;
    Ok((0..layer.len())
        .map(|r| match c.get(r) {
            Value::Text(s) => s,
            Value::Null => String::new(),
            Value::Integer(i) => i.to_string(),
            Value::Real(x) => x.to_string(),
            other => format!("{other:?}"),
        })
        .collect())
}

/// The numbers of column `name` at every row (`None` when null or not a number).
pub fn number_column(layer: &Layer, name: &str) -> Result<Vec<Option<f64>>> {
    let (_, c) = layer.column(name).ok_or_else(|| no_column(layer, name))?;
    Ok((0..layer.len())
        .map(|r| match c.get(r) {
            Value::Integer(i) => Some(i as f64),
            Value::Real(x) => Some(x),
            Value::Text(s) => s.trim().parse().ok(),
            _ => None,
        })
        .collect())
}

/// Ranks by score, 1 = highest; ties broken by the row's id text so ranks
/// are deterministic.
pub fn ranks(scores: &[f64], ids: &[String]) -> Vec<i64> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| {
        scores[b]
            .total_cmp(&scores[a])
            .then_with(|| ids[a].cmp(&ids[b]))
    });
    let mut rank = vec![0; scores.len()];
    for (i, &row) in order.iter().enumerate() {
        rank[row] = i as i64 + 1;
    }
    rank
}

/// The common `risk_*` columns of a layer.
pub fn risk_columns(
    scores: &[f64],
    ranks: &[i64],
    factors: &[String],
    model_id: &str,
    scored_at: chrono::DateTime<chrono::Utc>,
) -> Vec<Column> {
    let mut score = Column::new("risk_score", FieldType::Real);
    let mut rank = Column::new("risk_rank", FieldType::Integer);
    let mut factor = Column::new("risk_factors", FieldType::Text);
    let mut model = Column::new("risk_model", FieldType::Text);
    let mut at = Column::new("risk_scored_at", FieldType::DateTime);
    for i in 0..scores.len() {
        score.push(Value::Real(scores[i])).expect("real");
        rank.push(Value::Integer(ranks[i])).expect("integer");
        factor.push(Value::Text(factors[i].clone())).expect("text");
        model.push(Value::Text(model_id.to_string())).expect("text");
        at.push(Value::DateTime(scored_at.timestamp_millis()))
            .expect("datetime");
    }
    vec![score, rank, factor, model, at]
}
