//! The pipe break-risk model.
//!
//! A training example is a pipe-year: pipe × year, labelled "broke that
//! year", with features as of 1 January of that year. The break history
//! enters only as breaks in years *before* the example's year, so a model
//! never sees the year it is asked about. Examples start in the second year
//! of the history (the first has no history to count).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use rand::seq::SliceRandom;
use rand::SeedableRng;

use super::error::{Result, RiskError};
use super::model::{Feature, PipeModel};
use chiiki_core::layers::Layer;

/// L2 penalty of the logistic regression (linfa's `alpha`).
pub const ALPHA: f64 = 1.0;

/// A pipe of the inventory.
#[derive(Debug, Clone)]
pub struct Pipe {
    pub id: String,
    pub material: String,
    pub diameter_mm: f64,
    pub install_year: i32,
    pub length_m: f64,
    pub soil_class: String,
    pub flood_depth_rank: f64,
    pub road_class: String,
}

/// The inventory and its break history.
pub struct PipeData {
    pub pipes: Vec<Pipe>,
    /// Breaks per pipe (index into `pipes`) and year.
    pub breaks: HashMap<(usize, i32), u32>,
    /// First and last year of the break history.
    pub years: (i32, i32),
}

impl PipeData {
    /// Reads the inventory from the `pipes` layer and the history from a
    /// `break_id,pipe_id,date,year,cause` CSV.
    pub fn load(layer: &Layer, breaks_csv: &Path) -> Result<PipeData> {
        let ids = super::text_column(layer, "pipe_id")?;
        let material = super::text_column(layer, "material")?;
        let soil = super::text_column(layer, "soil_class")?;
        let road = super::text_column(layer, "road_class")?;
        let diameter = super::number_column(layer, "diameter_mm")?;
        let install = super::number_column(layer, "install_year")?;
        let length = super::number_column(layer, "length_m")?;
        let flood = super::number_column(layer, "flood_depth_rank")?;
        let mut pipes = Vec::with_capacity(layer.len());
        for r in 0..layer.len() {
            let Some(install_year) = install[r] else {
                continue; // unknown age: not scored
            };
            pipes.push(Pipe {
                id: ids[r].clone(),
                material: material[r].clone(),
                diameter_mm: diameter[r].unwrap_or(150.0),
                install_year: install_year as i32,
                length_m: length[r].unwrap_or(100.0),
                soil_class: soil[r].clone(),
                flood_depth_rank: flood[r].unwrap_or(0.0),
                road_class: road[r].clone(),
            });
        }
        pipes.sort_by(|a, b| a.id.cmp(&b.id));
        let index: HashMap<&str, usize> = pipes
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.as_str(), i))
            .collect();
        let file = std::fs::File::open(breaks_csv)
            .map_err(chiiki_core::error::IoError::at(breaks_csv, "opening"))?;
        let mut reader = csv::Reader::from_reader(file);
        let headers = reader
            .headers()
            .map_err(|e| RiskError::csv(breaks_csv, None, None, e))?
            .clone();
        let col = |name: &str| {
            headers.iter().position(|h| h == name).ok_or_else(|| {
                RiskError::csv(breaks_csv, None, None, format!("no column '{name}'"))
            })
        };
        let (pipe_col, year_col) = (col("pipe_id")?, col("year")?);
        let mut breaks = HashMap::new();
        let (mut first, mut last) = (i32::MAX, i32::MIN);
        for (line, rec) in reader.records().enumerate() {
            let rec = rec.map_err(|e| RiskError::csv(breaks_csv, Some(line + 2), None, e))?;
            let year: i32 = rec
                .get(year_col)
                .and_then(|y| y.trim().parse().ok())
                .ok_or_else(|| {
                    RiskError::csv(breaks_csv, Some(line + 2), Some("year"), "not a year")
                })?;
            let Some(&p) = rec.get(pipe_col).and_then(|id| index.get(id)) else {
                continue; // a pipe no longer in the inventory
            };
            *breaks.entry((p, year)).or_insert(0) += 1;
            first = first.min(year);
            last = last.max(year);
        }
        if breaks.is_empty() {
            return Err(RiskError::NoBreaks {
                path: breaks_csv.to_path_buf(),
            });
        }
        Ok(PipeData {
            pipes,
            breaks,
            years: (first, last),
        })
    }

    pub fn broke(&self, pipe: usize, year: i32) -> u32 {
        self.breaks.get(&(pipe, year)).copied().unwrap_or(0)
    }

    /// Breaks of `pipe` in the history before `year`.
    pub fn prior_breaks(&self, pipe: usize, year: i32) -> u32 {
        (self.years.0..year).map(|y| self.broke(pipe, y)).sum()
    }
}

/// The categorical levels a model knows.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Levels {
    pub material: Vec<String>,
    pub soil_class: Vec<String>,
    pub road_class: Vec<String>,
}

impl Levels {
    pub fn of(pipes: &[Pipe]) -> Levels {
        let set = |f: fn(&Pipe) -> &String| {
            pipes
                .iter()
                .map(|p| f(p).clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        Levels {
            material: set(|p| &p.material),
            soil_class: set(|p| &p.soil_class),
            road_class: set(|p| &p.road_class),
        }
    }

    /// Feature names and their groups, in vector order.
    pub fn features(&self) -> Vec<(String, &'static str)> {
        let mut f = vec![
            ("age".to_string(), "age"),
            ("log_length".to_string(), "length"),
            ("log_diameter".to_string(), "diameter"),
            ("flood_depth_rank".to_string(), "flood"),
            ("log_prior_breaks".to_string(), "prior breaks"),
        ];
        f.extend(
            self.material
                .iter()
                .map(|m| (format!("material={m}"), "material")),
        );
        f.extend(
            self.soil_class
                .iter()
                .map(|m| (format!("soil={m}"), "soil")),
        );
        f.extend(
            self.road_class
                .iter()
                .map(|m| (format!("road={m}"), "road")),
        );
        f
    }

    /// The raw (unstandardised) feature vector of a pipe as of 1 January of `year`.
    pub fn vector(&self, pipe: &Pipe, year: i32, prior_breaks: u32) -> Vec<f64> {
        let mut v = vec![
            (year - pipe.install_year) as f64,
            pipe.length_m.max(1.0).ln(),
            pipe.diameter_mm.max(1.0).ln(),
            pipe.flood_depth_rank,
            (prior_breaks as f64).ln_1p(),
        ];
        let onehot = |levels: &[String], value: &str, v: &mut Vec<f64>| {
            v.extend(levels.iter().map(|l| if l == value { 1.0 } else { 0.0 }))
        };
        onehot(&self.material, &pipe.material, &mut v);
        onehot(&self.soil_class, &pipe.soil_class, &mut v);
        onehot(&self.road_class, &pipe.road_class, &mut v);
        v
    }
}

/// Options of a training run.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    /// Last year whose breaks are labels; scores are for the year after.
    pub until: i32,
    pub seed: u64,
    /// Shuffle the labels among the examples (a leakage check: the model
    /// must then do no better than chance).
    pub shuffle_labels: bool,
}

/// Pipe-year examples for the years after the first of the history up to `until`.
pub fn examples(data: &PipeData, levels: &Levels, until: i32) -> (Vec<Vec<f64>>, Vec<bool>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for year in data.years.0 + 1..=until {
        for (i, p) in data.pipes.iter().enumerate() {
            if p.install_year > year {
                continue;
            }
            x.push(levels.vector(p, year, data.prior_breaks(i, year)));
            y.push(data.broke(i, year) > 0);
        }
    }
    (x, y)
}

/// Trains a model on the years up to `opts.until`.
pub fn train(data: &PipeData, opts: &TrainOptions) -> Result<PipeModel> {
    if opts.until <= data.years.0 {
        return Err(RiskError::Training(format!(
            "training needs at least two years of break history before {} (history starts in {})",
            opts.until + 1,
            data.years.0
        )));
    }
    let levels = Levels::of(&data.pipes);
    let names = levels.features();
    let (x, mut y) = examples(data, &levels, opts.until);
    if opts.shuffle_labels {
        y.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed));
    }
    let n = x.len();
    let d = names.len();
    // Standardise: mean 0, sd 1 (a constant feature keeps sd 1).
    let mut mean = vec![0.0; d];
    let mut sd = vec![0.0; d];
    for row in &x {
        for j in 0..d {
            mean[j] += row[j] / n as f64;
        }
    }
    for row in &x {
        for j in 0..d {
            sd[j] += (row[j] - mean[j]).powi(2) / n as f64;
        }
    }
    for s in &mut sd {
        *s = if *s > 1e-12 { s.sqrt() } else { 1.0 };
    }
    let mut records = Array2::<f64>::zeros((n, d));
    for (i, row) in x.iter().enumerate() {
        for j in 0..d {
            records[[i, j]] = (row[j] - mean[j]) / sd[j];
        }
    }
    let positives = y.iter().filter(|&&b| b).count();
    let targets = Array1::from(y);
    let dataset = Dataset::new(records, targets);
    let fitted = LogisticRegression::default()
        .alpha(ALPHA)
        .max_iterations(200)
        .gradient_tolerance(1e-6)
        .fit(&dataset)
        .map_err(|e| RiskError::Training(format!("fitting the logistic regression: {e}")))?;
    // linfa's positive class is the larger one; turn the weights into those
    // of "broke".
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    let features = names
        .into_iter()
        .enumerate()
        .map(|(j, (name, group))| Feature {
            name,
            group: group.to_string(),
            mean: mean[j],
            sd: sd[j],
            coefficient: sign * fitted.params()[j],
        })
        .collect();
    Ok(PipeModel {
        format: super::model::FORMAT.into(),
        id: String::new(),
        version: 0,
        algorithm: "L2-regularised logistic regression (linfa-logistic 0.7, L-BFGS)".into(),
        alpha: ALPHA,
        seed: opts.seed,
        shuffled_labels: opts.shuffle_labels,
        features,
        intercept: sign * fitted.intercept(),
        levels,
        history_years: [data.years.0, data.years.1],
        train_years: [data.years.0 + 1, opts.until],
        scores_year: opts.until + 1,
        examples: n,
        positive_examples: positives,
        evaluation: None,
        created_at: String::new(),
        content_sha256: String::new(),
    })
}

/// A scored pipe.
#[derive(Debug, Clone)]
pub struct PipeScore {
    pub score: f64,
    /// Contribution of each feature group to the log-odds, largest first.
    pub factors: Vec<(String, f64)>,
}

/// Scores every pipe for `year` with features as of 1 January of it.
pub fn score(model: &PipeModel, data: &PipeData, year: i32) -> Vec<PipeScore> {
    data.pipes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let prior = data.prior_breaks(i, year);
            let v = model.levels.vector(p, year, prior);
            let mut z = model.intercept;
            let mut groups: BTreeMap<&str, f64> = BTreeMap::new();
            for (f, x) in model.features.iter().zip(&v) {
                let c = f.coefficient * (x - f.mean) / f.sd;
                z += c;
                *groups.entry(f.group.as_str()).or_default() += c;
            }
            let mut factors: Vec<(String, f64)> = groups
                .into_iter()
                .map(|(g, c)| (describe(g, p, year, prior), c))
                .collect();
            factors.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            PipeScore {
                score: 1.0 / (1.0 + (-z).exp()),
                factors,
            }
        })
        .collect()
}

fn describe(group: &str, p: &Pipe, year: i32, prior: u32) -> String {
    match group {
        "age" => format!("age {} y", year - p.install_year),
        "length" => format!("length {:.0} m", p.length_m),
        "diameter" => format!("diameter {:.0} mm", p.diameter_mm),
        "flood" => format!("flood rank {}", p.flood_depth_rank),
        "prior breaks" => format!("prior breaks {prior}"),
        "material" => format!("material {}", p.material),
        "soil" => format!("soil {}", p.soil_class),
        "road" => format!("road {}", p.road_class),
        other => other.to_string(),
    }
}

/// "age 61 y +0.84; material CIP +0.62; prior breaks 2 +0.41": the three
/// largest contributions to the log-odds (those that raise the risk; the
/// largest one when none does).
pub fn factors_text(s: &PipeScore) -> String {
    let raising: Vec<&(String, f64)> = s.factors.iter().filter(|f| f.1 > 0.0).take(3).collect();
    let shown = if raising.is_empty() {
        s.factors.iter().take(1).collect()
    } else {
        raising
    };
    shown
        .iter()
        .map(|(d, c)| format!("{d} {c:+.2}"))
        .collect::<Vec<_>>()
        .join("; ")
}
