//! `chiiki risk train | evaluate | score | import-vendor`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use super::evaluate::{self, Evaluation};
use super::model::{self, PipeModel};
use super::pipes::{self, PipeData, TrainOptions};
use crate::layers::{store, Column, FieldType, Value};

pub const DEFAULT_SEED: u64 = 7;

#[derive(Subcommand)]
pub enum RiskCommand {
    /// Train the pipe model on every year of history (after evaluating the
    /// same recipe on the last year) and save it as the next version in <data>/models.
    Train(TrainArgs),
    /// Train on the years before --test-year, test on it, print the report.
    Evaluate(EvaluateArgs),
    /// Score pipes (latest model), bridges and roads; rewrite their layers.
    Score(ScoreArgs),
    /// Import vendor scores (CSV asset_id,score,model,scored_at) onto a layer.
    ImportVendor(VendorArgs),
}

#[derive(Args, Clone)]
pub struct Inputs {
    /// Data directory (default: the config's data_dir).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Break history CSV (default <data>/synthetic/pipe_breaks.csv).
    #[arg(long)]
    pub breaks: Option<PathBuf>,
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub inputs: Inputs,
    /// Last year whose breaks are labels (default: the last year of the history).
    #[arg(long)]
    pub until: Option<i32>,
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Shuffle the training labels (leakage check).
    #[arg(long)]
    pub shuffle_labels: bool,
}

#[derive(Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub inputs: Inputs,
    /// The held-out year (default: the last year of the history).
    #[arg(long)]
    pub test_year: Option<i32>,
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    #[arg(long)]
    pub shuffle_labels: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also write the training and test examples (raw features, label,
    /// breaks) as CSV, to compare other learners on the same features.
    #[arg(long)]
    pub dump_examples: Option<PathBuf>,
}

#[derive(Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub inputs: Inputs,
    /// Model file (default: the latest in <data>/models).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Crack detections CSV (default <data>/synthetic/crack_detections.csv).
    #[arg(long)]
    pub detections: Option<PathBuf>,
}

#[derive(Args)]
pub struct VendorArgs {
    /// The CSV: asset_id,score,model,scored_at.
    pub file: PathBuf,
    /// The layer the assets are in (pipes, bridges, roads…).
    #[arg(long)]
    pub layer: String,
    /// The layer's asset id column (default: its id field or <layer>_id).
    #[arg(long)]
    pub id_field: Option<String>,
    #[arg(long)]
    pub data: Option<PathBuf>,
}

fn breaks_path(data: &Path, given: &Option<PathBuf>) -> PathBuf {
    given
        .clone()
        .unwrap_or_else(|| data.join("synthetic").join("pipe_breaks.csv"))
}

fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("template"),
    );
    pb.enable_steady_tick(std::time::Duration::from_millis(100));
    pb.set_message(msg.to_string());
    pb
}

pub fn run(command: RiskCommand, config: &crate::config::Config) -> Result<()> {
    let dir = |d: &Option<PathBuf>| d.clone().unwrap_or_else(|| config.data_dir.clone());
    match command {
        RiskCommand::Train(a) => {
            let data_dir = dir(&a.inputs.data);
            let (m, path, new) = train(
                &data_dir,
                &breaks_path(&data_dir, &a.inputs.breaks),
                a.until,
                a.seed,
                a.shuffle_labels,
            )?;
            if let Some(e) = &m.evaluation {
                print_evaluation(e);
            }
            println!(
                "{} {} ({} examples, years {}–{}, scores {}){}",
                if new { "saved" } else { "unchanged:" },
                path.display(),
                m.examples,
                m.train_years[0],
                m.train_years[1],
                m.scores_year,
                if new {
                    ""
                } else {
                    " — same as the latest version"
                }
            );
            Ok(())
        }
        RiskCommand::Evaluate(a) => {
            let data_dir = dir(&a.inputs.data);
            let pb = spinner("loading pipes and breaks");
            let data = PipeData::load(
                &super::load_layer(&data_dir, "pipes")?,
                &breaks_path(&data_dir, &a.inputs.breaks),
            )?;
            pb.set_message("training and testing");
            let test_year = a.test_year.unwrap_or(data.years.1);
            if let Some(path) = &a.dump_examples {
                dump_examples(&data, test_year, path)?;
            }
            let e = evaluate::evaluate(&data, test_year, a.seed, a.shuffle_labels)?;
            pb.finish_and_clear();
            if a.json {
                println!("{}", serde_json::to_string_pretty(&e)?);
            } else {
                print_evaluation(&e);
            }
            Ok(())
        }
        RiskCommand::Score(a) => {
            let data_dir = dir(&a.inputs.data);
            let m = match &a.model {
                Some(p) => model::load(p)?,
                None => model::latest(&data_dir)?,
            };
            let detections = a
                .detections
                .clone()
                .unwrap_or_else(|| data_dir.join("synthetic").join("crack_detections.csv"));
            let s = score(
                &data_dir,
                &breaks_path(&data_dir, &a.inputs.breaks),
                &detections,
                &m,
            )?;
            println!("{s}");
            Ok(())
        }
        RiskCommand::ImportVendor(a) => {
            let data_dir = dir(&a.data);
            let mut layer = super::load_layer(&data_dir, &a.layer)?;
            let field = match a.id_field {
                Some(f) => f,
                None => super::vendor::id_field(&layer)?,
            };
            let (cols, n) = super::vendor::columns(&layer, &field, &a.file, chrono::Utc::now())?;
            super::set_columns(&mut layer, cols);
            store::save(&data_dir, &layer)?;
            println!(
                "{n} vendor scores from {} on {} of {} features of '{}' (restart `chiiki serve` to serve them)",
                a.file.display(),
                n,
                layer.len(),
                a.layer
            );
            Ok(())
        }
    }
}

/// Evaluates on the last year (or `until`), trains on every year up to it
/// and saves the model with the evaluation.
pub fn train(
    data_dir: &Path,
    breaks: &Path,
    until: Option<i32>,
    seed: u64,
    shuffle_labels: bool,
) -> Result<(PipeModel, PathBuf, bool)> {
    let pb = spinner("loading pipes and breaks");
    let data = PipeData::load(&super::load_layer(data_dir, "pipes")?, breaks)?;
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
fn dump_examples(data: &PipeData, test_year: i32, path: &Path) -> Result<()> {
    let levels = pipes::Levels::of(&data.pipes);
    let mut w = csv::Writer::from_path(path)?;
    let mut header = vec![
        "split".to_string(),
        "year".into(),
        "pipe_id".into(),
        "label".into(),
        "breaks".into(),
    ];
    header.extend(levels.features().into_iter().map(|(n, _)| n));
    w.write_record(&header)?;
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
            w.write_record(&rec)?;
        }
    }
    w.flush()?;
    Ok(())
}

pub fn print_evaluation(e: &Evaluation) {
    println!(
        "pipe break risk, trained on {}–{}, tested on {} ({} pipes, {} breaks on {} pipes){}:",
        e.train_years[0],
        e.train_years[1],
        e.test_year,
        e.pipes,
        e.breaks,
        e.pipes_broken,
        if e.shuffled_labels {
            " [labels shuffled]"
        } else {
            ""
        }
    );
    println!("  {:<14} {:>7} {:>16}", "", "ROC AUC", "top-10 % capture");
    for (name, auc, top) in [
        ("model", e.model_auc, e.model_top10),
        ("oldest first", e.oldest_first_auc, e.oldest_first_top10),
        ("random", e.random_auc, e.random_top10),
    ] {
        println!("  {name:<14} {auc:>7.3} {:>15.1} %", top * 100.0);
    }
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
            write!(f, ", {n} bridges ({})", super::bridges::MODEL_ID)?;
        }
        if let Some(n) = self.roads {
            write!(f, ", {n} road segments ({})", super::roads::MODEL_ID)?;
        }
        Ok(())
    }
}

/// Scores pipes with `m` for its year, and bridges and roads for the same
/// year, and saves the three layers (those present) with the new columns.
pub fn score(
    data_dir: &Path,
    breaks: &Path,
    detections: &Path,
    m: &PipeModel,
) -> Result<ScoreSummary> {
    let now = chrono::Utc::now();
    let pb = spinner("scoring pipes");
    let mut layer = super::load_layer(data_dir, "pipes")?;
    let data = PipeData::load(&layer, breaks)?;
    let scored = pipes::score(m, &data, m.scores_year);
    let values: Vec<f64> = scored.iter().map(|s| s.score).collect();
    let ids: Vec<String> = data.pipes.iter().map(|p| p.id.clone()).collect();
    let ranks = super::ranks(&values, &ids);
    let by_id: HashMap<&str, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let layer_ids = super::text_column(&layer, "pipe_id")?;
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
    super::set_columns(&mut layer, cols);
    store::save(data_dir, &layer)?;
    let mut summary = ScoreSummary {
        model: m.id.clone(),
        pipes: scored.len(),
        bridges: None,
        roads: None,
    };
    if store::layer_path(data_dir, "bridges").is_file() {
        pb.set_message("scoring bridges");
        let mut bridges = super::load_layer(data_dir, "bridges")?;
        let residents = store::load(&store::layer_path(
            data_dir,
            crate::demo::city::RESIDENTS_LAYER,
        ))
        .ok();
        let cols = super::bridges::columns(&bridges, residents.as_ref(), m.scores_year, now)?;
        super::set_columns(&mut bridges, cols);
        store::save(data_dir, &bridges)?;
        summary.bridges = Some(bridges.len());
    }
    if store::layer_path(data_dir, "roads").is_file() && detections.is_file() {
        pb.set_message("scoring roads");
        let mut roads = super::load_layer(data_dir, "roads")?;
        let cols = super::roads::columns(&roads, detections, now)?;
        super::set_columns(&mut roads, cols);
        store::save(data_dir, &roads)?;
        summary.roads = Some(roads.len());
    }
    pb.finish_and_clear();
    Ok(summary)
}
