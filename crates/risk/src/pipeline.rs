//! The pipe model's life cycle, as the CLI and the demo drive it: train
//! (after a held-out evaluation), save a version, and score pipes, bridges
//! and roads onto their layers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::error::Result;
use crate::evaluate;
use crate::model::{self, PipeModel};
use crate::pipes::{self, PipeData, TrainOptions};
use chiiki_core::layers::{Column, FieldType, Value};
use chiiki_store::LayerStore;

/// The seed of the demo's and the CLI's training runs.
pub const DEFAULT_SEED: u64 = 7;

pub fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("template"),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(100));
    pb.set_message(msg.to_string());
    pb
}

/// Evaluates on the last year (or `until`), trains on every year up to it
/// and saves the model with the evaluation under `data_dir`.
pub fn train(
    data_dir: &Path,
    layers: &dyn LayerStore,
    breaks: &Path,
    until: Option<i32>,
    seed: u64,
    shuffle_labels: bool,
) -> Result<(PipeModel, PathBuf, bool)> {
    let pb = spinner("loading pipes and breaks");
    let data = PipeData::load(&crate::load_layer(layers, "pipes")?, breaks)?;
    let until = until.unwrap_or(data.years.1);
    pb.set_message(format!("evaluating: train ≤ {}, test {until}", until - 1));
    let e = evaluate::evaluate(&data, until, seed, shuffle_labels)?;
    pb.set_message(format!("training on ≤ {until}"));
    let mut m = pipes::train(
        &data,
        &TrainOptions {
            until,
            seed,
            shuffle_labels,
        },
    )?;
    m.evaluation = Some(e);
    pb.finish_and_clear();
    model::save(data_dir, m)
}

/// Writes `split,year,pipe_id,label,breaks,<features…>` for the training
/// years before `test_year` and the test year itself.
pub fn dump_examples(data: &PipeData, test_year: i32, path: &Path) -> Result<()> {
    let levels = pipes::Levels::of(&data.pipes);
    let file =
        std::fs::File::create(path).map_err(chiiki_core::error::IoError::at(path, "creating"))?;
    let failed = |e: csv::Error| chiiki_core::error::IoError::at(path, "writing")(e.into());
    let mut w = csv::Writer::from_writer(file);
    let mut header = vec![
        "split".to_string(),
        "year".into(),
        "pipe_id".into(),
        "label".into(),
        "breaks".into(),
    ];
    header.extend(levels.features().into_iter().map(|(n, _)| n));
    w.write_record(&header).map_err(failed)?;
    for year in data.years.0 + 1..=test_year {
        let split = if year == test_year { "test" } else { "train" };
        for (i, p) in data.pipes.iter().enumerate() {
            if p.install_year > year {
                continue;
            }
            let b = data.broke(i, year);
            let mut rec = vec![
                split.to_string(),
                year.to_string(),
                p.id.clone(),
                u8::from(b > 0).to_string(),
                b.to_string(),
            ];
            rec.extend(
                levels
                    .vector(p, year, data.prior_breaks(i, year))
                    .iter()
                    .map(|x| x.to_string()),
            );
            w.write_record(&rec).map_err(failed)?;
        }
    }
    w.flush()
        .map_err(chiiki_core::error::IoError::at(path, "writing"))?;
    Ok(())
}

/// What [`score`] wrote.
pub struct ScoreSummary {
    pub model: String,
    pub pipes: usize,
    pub bridges: Option<usize>,
    pub roads: Option<usize>,
}

impl std::fmt::Display for ScoreSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "risk scores: {} pipes ({})", self.pipes, self.model)?;
        if let Some(n) = self.bridges {
            write!(f, ", {n} bridges ({})", crate::bridges::MODEL_ID)?;
        }
        if let Some(n) = self.roads {
            write!(f, ", {n} road segments ({})", crate::roads::MODEL_ID)?;
        }
        Ok(())
    }
}

/// Scores pipes with `m` for its year, and bridges and roads for the same
/// year, and saves the three layers (those present) with the new columns.
pub fn score(
    layers: &dyn LayerStore,
    breaks: &Path,
    detections: &Path,
    m: &PipeModel,
    residents_layer: &str,
) -> Result<ScoreSummary> {
    let now = chiiki_core::clock::now();
    let pb = spinner("scoring pipes");
    let mut layer = crate::load_layer(layers, "pipes")?;
    let data = PipeData::load(&layer, breaks)?;
    let scored = pipes::score(m, &data, m.scores_year);
    let values: Vec<f64> = scored.iter().map(|s| s.score).collect();
    let ids: Vec<String> = data.pipes.iter().map(|p| p.id.clone()).collect();
    let ranks = crate::ranks(&values, &ids);
    let by_id: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let layer_ids = crate::text_column(&layer, "pipe_id")?;
    let mut cols = vec![
        Column::new("risk_score", FieldType::Real),
        Column::new("risk_rank", FieldType::Integer),
        Column::new("risk_factors", FieldType::Text),
        Column::new("risk_model", FieldType::Text),
        Column::new("risk_scored_at", FieldType::DateTime),
    ];
    for id in &layer_ids {
        let row: [Value; 5] = match by_id.get(id.as_str()) {
            Some(&i) => [
                Value::Real(values[i]),
                Value::Integer(ranks[i]),
                Value::Text(pipes::factors_text(&scored[i])),
                Value::Text(m.id.clone()),
                Value::DateTime(now.timestamp_millis()),
            ],
            None => [
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ],
        };
        for (c, v) in cols.iter_mut().zip(row) {
            c.push(v).expect("typed value");
        }
    }
    crate::set_columns(&mut layer, cols);
    crate::save_layer(layers, &layer)?;
    let mut summary = ScoreSummary {
        model: m.id.clone(),
        pipes: scored.len(),
        bridges: None,
        roads: None,
    };
    if crate::has_layer(layers, "bridges")? {
        pb.set_message("scoring bridges");
        let mut bridges = crate::load_layer(layers, "bridges")?;
        let residents = layers.load(residents_layer).ok();
        let cols = crate::bridges::columns(&bridges, residents.as_ref(), m.scores_year, now)?;
        crate::set_columns(&mut bridges, cols);
        crate::save_layer(layers, &bridges)?;
        summary.bridges = Some(bridges.len());
    }
    if crate::has_layer(layers, "roads")? && detections.is_file() {
        pb.set_message("scoring roads");
        let mut roads = crate::load_layer(layers, "roads")?;
        let cols = crate::roads::columns(&roads, detections, now)?;
        crate::set_columns(&mut roads, cols);
        crate::save_layer(layers, &roads)?;
        summary.roads = Some(roads.len());
    }
    pb.finish_and_clear();
    Ok(summary)
}
