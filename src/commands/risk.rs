//! `chiiki risk train | evaluate | score | import-vendor`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Args, Subcommand};

use chiiki_risk::evaluate::{self, Evaluation};
use chiiki_risk::model;
use chiiki_risk::pipeline::{dump_examples, spinner};
use chiiki_risk::pipes::PipeData;

pub use chiiki_risk::pipeline::{score, train, DEFAULT_SEED};

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

pub fn run(command: RiskCommand, config: &crate::config::Config) -> Result<()> {
    let dir = |d: &Option<PathBuf>| config.data_dir(d.as_deref());
    match command {
        RiskCommand::Train(a) => {
            let data_dir = dir(&a.inputs.data);
            let layers = config.layer_store(&data_dir)?;
            let (m, path, new) = train(
                &data_dir,
                layers.as_ref(),
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
                &chiiki_risk::load_layer(config.layer_store(&data_dir)?.as_ref(), "pipes")?,
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
                config.layer_store(&data_dir)?.as_ref(),
                &breaks_path(&data_dir, &a.inputs.breaks),
                &detections,
                &m,
                chiiki_registry::points::DEFAULT_LAYER,
            )?;
            println!("{s}");
            Ok(())
        }
        RiskCommand::ImportVendor(a) => {
            let data_dir = dir(&a.data);
            let layers = config.layer_store(&data_dir)?;
            let mut layer = chiiki_risk::load_layer(layers.as_ref(), &a.layer)?;
            let field = match a.id_field {
                Some(f) => f,
                None => chiiki_risk::vendor::id_field(&layer)?,
            };
            let (cols, n) =
                chiiki_risk::vendor::columns(&layer, &field, &a.file, chiiki_core::clock::now())?;
            chiiki_risk::set_columns(&mut layer, cols);
            chiiki_risk::save_layer(layers.as_ref(), &layer)?;
            println!(
                "{n} vendor scores from {} on {} of {} features of '{}'",
                a.file.display(),
                n,
                layer.len(),
                a.layer
            );
            Ok(())
        }
    }
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
