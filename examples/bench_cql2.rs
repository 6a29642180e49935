//! CQL2 filter throughput on a synthetic 1M-point layer (the same kind of
//! layer `bench_layer` writes: clustered points over central Tokyo with
//! age, name, score, flag, registered), built in memory.
//!
//! ```sh
//! cargo run --release --example bench_cql2 [-- --points 1000000]
//! ```
//!
//! For each filter it prints the time to parse, bind and compile, and the
//! rows per second of evaluating it over every row of the layer. Spatial
//! filters are also timed the way the server runs them: candidates from the
//! R-tree envelope first, then the predicate.

use std::time::{Duration, Instant};

use anyhow::Result;
use chiiki_core::crs::Crs;
use chiiki_core::layers::{Column, FieldType, Geometries, Layer, LayerMeta, LayerParts, Value};
use chiiki_query::Filter;
use clap::Parser;
use rand::{Rng, SeedableRng};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    points: usize,
    #[arg(long, default_value_t = 20261122)]
    seed: u64,
    /// Repetitions per filter; the best is reported.
    #[arg(long, default_value_t = 7)]
    runs: usize,
}

const SURNAMES: [&str; 12] = [
    "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田",
];

fn make_layer(n: usize, seed: u64) -> Layer {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut coords = Vec::with_capacity(n);
    let mut age = Column::new("age", FieldType::Integer);
    let mut name = Column::new("name", FieldType::Text);
    let mut score = Column::new("score", FieldType::Real);
    let mut flag = Column::new("flag", FieldType::Boolean);
    let mut registered = Column::new("registered", FieldType::Date);
    for i in 0..n {
        let (cx, cy) = [
            (139.745, 35.715),
            (139.70, 35.69),
            (139.77, 35.70),
            (139.73, 35.66),
        ][i % 4];
        let spread: f64 = if rng.random_bool(0.8) { 0.02 } else { 0.08 };
        let round7 = |v: f64| (v * 1e7).round() / 1e7;
        coords.push([
            round7(cx + (rng.random::<f64>() - 0.5) * spread * 2.0),
            round7(cy + (rng.random::<f64>() - 0.5) * spread * 1.6),
        ]);
        age.push(Value::Integer(rng.random_range(0..100))).unwrap();
        name.push(Value::Text(format!(
            "{}{}",
            SURNAMES[rng.random_range(0..SURNAMES.len())],
            rng.random_range(1..10_000)
        )))
        .unwrap();
        score
            .push(Value::Real((rng.random::<f64>() * 1000.0).round() / 1000.0))
            .unwrap();
        flag.push(Value::Boolean(rng.random_bool(0.04))).unwrap();
        registered
            .push(Value::Date(rng.random_range(7_000..20_000)))
            .unwrap();
    }
    Layer::new(LayerParts {
        meta: LayerMeta {
            id: "bench".into(),
            ..Default::default()
        },
        fids: (1..=n as i64).collect(),
        geometries: Geometries::Points(coords),
        columns: vec![age, name, score, flag, registered],
    })
}

fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut out = None;
    let mut best = Duration::MAX;
    for _ in 0..runs {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed());
        out = Some(r);
    }
    (best, out.expect("at least one run"))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let t = Instant::now();
    let layer = make_layer(args.points, args.seed);
    let n = layer.len();
    println!("layer of {n} points built in {:.2?}\n", t.elapsed());
    let filters = [
        ("comparison", "age >= 65"),
        ("comparison AND", "age >= 65 AND score < 0.5"),
        ("date", "registered < DATE('1995-01-01')"),
        ("IN", "age IN (10, 20, 30, 40)"),
        ("LIKE prefix", "name LIKE '佐藤%'"),
        ("LIKE general", "name LIKE '%藤_2%'"),
        (
            "S_DWITHIN 500 m",
            "S_DWITHIN(geometry, POINT(139.745 35.715), 500, meters)",
        ),
        (
            "S_INTERSECTS polygon",
            "S_INTERSECTS(geometry, POLYGON((139.74 35.71, 139.75 35.71, 139.75 35.72, 139.74 35.71)))",
        ),
    ];
    println!(
        "{:<22} {:>10} {:>10} {:>12} {:>16} {:>16}",
        "filter", "matched", "compile", "scan all", "scan rows/s", "with R-tree"
    );
    for (label, text) in filters {
        let (compile, filter) = best(args.runs, || {
            let f = Filter::new(text, &layer, Crs::Crs84).expect("valid filter");
            let _ = f.compile(&layer);
            f
        });
        let (scan, rows) = best(args.runs, || filter.select(&layer, None));
        let pruned = filter.envelope().map(|env| {
            best(args.runs, || {
                let candidates = layer.rows_in_bbox(env);
                filter.select(&layer, Some(&candidates))
            })
        });
        if let Some((_, pruned_rows)) = &pruned {
            assert_eq!(pruned_rows, &rows, "pruning changed the answer of {text}");
        }
        println!(
            "{:<22} {:>10} {:>10.1?} {:>12.2?} {:>14.1} M {:>16}",
            label,
            rows.len(),
            compile,
            scan,
            n as f64 / scan.as_secs_f64() / 1e6,
            pruned.map_or("-".to_string(), |(d, _)| format!("{d:.2?}")),
        );
    }
    Ok(())
}
