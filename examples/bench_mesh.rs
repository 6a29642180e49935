//! Aggregation benchmark: 1M residents → 250 m mesh counts by age band,
//! through the same analysis engine the service runs.
//!
//! ```sh
//! cargo run --release --example bench_mesh -- <residents_truth.csv> <out.csv>
//! ```
//!
//! Reads positions and birth dates as `chiiki synth` records them, builds
//! the point layer, and times the aggregation (best of 5). Writes the
//! points (lon, lat, birth date) to `<out.csv>` for the pandas + jismesh
//! peer in `bench/mesh.sh`, and prints `key value` lines.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use chiiki_analysis::{Analysis, Measure, Op, Operation, Side, Sources, Target};
use chiiki_core::layers::column::{days_from_date, Column, FieldType, Value};
use chiiki_core::layers::{Geometries, Layer, LayerMeta, LayerParts};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() == 2,
        "usage: bench_mesh <residents_truth.csv> <out.csv>"
    );
    let mut reader = csv::Reader::from_path(&args[0]).with_context(|| args[0].clone())?;
    let header = reader.headers()?.clone();
    let col = |n: &str| header.iter().position(|h| h == n).context("column");
    let (lon, lat, birth) = (col("lon")?, col("lat")?, col("birth_date")?);
    let mut points = Vec::new();
    let mut births = Column::new("birth_date", FieldType::Date);
    let mut out = String::from("lon,lat,birth_date\n");
    for r in reader.records() {
        let r = r?;
        points.push([r[lon].parse::<f64>()?, r[lat].parse::<f64>()?]);
        births
            .push(Value::Date(days_from_date(r[birth].parse()?)))
            .map_err(|e| anyhow::anyhow!(e))?;
        out.push_str(&format!("{},{},{}\n", &r[lon], &r[lat], &r[birth]));
    }
    std::fs::write(&args[1], out)?;
    let n = points.len();
    let layer = Layer::new(LayerParts {
        meta: LayerMeta {
            id: "residents".into(),
            ..Default::default()
        },
        fids: (1..=n as i64).collect(),
        geometries: Geometries::Points(points),
        columns: vec![births],
    });
    let count = |name: &str, filter: Option<&str>| Measure {
        name: name.into(),
        op: Op::Count,
        column: None,
        filter: filter.map(String::from),
        in_table: None,
    };
    let analysis = Analysis {
        saved_by: None,
        parameters: Vec::new(),
        id: "age_bands_250m".into(),
        title: "age bands per 250 m cell".into(),
        description: String::new(),
        roles: vec![],
        public: true,
        operation: Operation::Aggregate {
            source: Side {
                layer: "residents".into(),
                filter: None,
                not_in: None,
            },
            to: Target::Mesh {
                mesh: "250m".into(),
            },
            measures: vec![
                count("population", None),
                count("age_0_14", Some("age < 15")),
                count("age_15_64", Some("age BETWEEN 15 AND 64")),
                count("age_65", Some("age >= 65")),
                count("age_75", Some("age >= 75")),
            ],
            having: None,
            table: None,
        },
    };
    let layers: BTreeMap<String, Arc<Layer>> = [("residents".to_string(), Arc::new(layer))]
        .into_iter()
        .collect();
    let analyses = BTreeMap::new();
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 10, 1).expect("date");
    let sources = Sources {
        view: &chiiki_analysis::Unrestricted,
        layers: &layers,
        analyses: &analyses,
        data_dir: std::path::Path::new("."),
        as_of,
    };
    let mut best = f64::INFINITY;
    let mut cells = 0;
    let mut total = 0i64;
    for _ in 0..5 {
        let t = Instant::now();
        let result = sources.run(&analysis)?;
        best = best.min(t.elapsed().as_secs_f64());
        cells = result.len();
        let (_, c) = result.column("age_65").context("age_65")?;
        total = (0..result.len())
            .map(|r| match c.get(r) {
                Value::Integer(i) => i,
                _ => 0,
            })
            .sum();
    }
    println!("points {n}");
    println!("cells {cells}");
    println!("aged_65 {total}");
    println!("aggregate_s {best:.4}");
    Ok(())
}
