//! Writes a synthetic point layer for benchmarks: N points over central Tokyo
//! with five attributes (age, name, score, flag, registered), seeded so every
//! run makes the same layer. Optionally also writes the same rows as CSV for
//! a peer server.
//!
//! ```sh
//! cargo run --release --example bench_layer -- --points 1000000 --data /tmp/bench --id points_1m [--csv /tmp/points.csv]
//! ```

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use chiiki_core::layers::{
    Access, Column, FieldType, Geometries, Layer, LayerMeta, LayerParts, Value,
};
use chiiki_store::geoparquet as store;
use clap::Parser;
use rand::{Rng, SeedableRng};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 1_000_000)]
    points: usize,
    #[arg(long)]
    data: PathBuf,
    #[arg(long, default_value = "points")]
    id: String,
    #[arg(long)]
    csv: Option<PathBuf>,
    #[arg(long, default_value_t = 20261122)]
    seed: u64,
}

const SURNAMES: [&str; 12] = [
    "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤", "吉田", "山田",
];

fn main() -> Result<()> {
    let args = Args::parse();
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut coords = Vec::with_capacity(args.points);
    let mut age = Column::new("age", FieldType::Integer);
    let mut name = Column::new("name", FieldType::Text);
    let mut score = Column::new("score", FieldType::Real);
    let mut flag = Column::new("flag", FieldType::Boolean);
    let mut registered = Column::new("registered", FieldType::Date);
    let mut csv = match &args.csv {
        Some(p) => {
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut w = std::io::BufWriter::new(std::fs::File::create(p)?);
            writeln!(w, "fid,lon,lat,age,name,score,flag,registered")?;
            Some(w)
        }
        None => None,
    };
    for i in 0..args.points {
        // Clustered like a city: most points near a few centres.
        let (cx, cy) = [
            (139.745, 35.715),
            (139.70, 35.69),
            (139.77, 35.70),
            (139.73, 35.66),
        ][i % 4];
        let spread: f64 = if rng.random_bool(0.8) { 0.02 } else { 0.08 };
        // Geocoded coordinates carry about 1 cm (7 decimals), like ABR's positions.
        let round7 = |v: f64| (v * 1e7).round() / 1e7;
        let lon = round7(cx + (rng.random::<f64>() - 0.5) * spread * 2.0);
        let lat = round7(cy + (rng.random::<f64>() - 0.5) * spread * 1.6);
        let a: i64 = rng.random_range(0..100);
        let n = format!(
            "{}{}",
            SURNAMES[rng.random_range(0..SURNAMES.len())],
            rng.random_range(1..10_000)
        );
        let s: f64 = (rng.random::<f64>() * 1000.0).round() / 1000.0;
        let f = rng.random_bool(0.04);
        let d: i32 = rng.random_range(7_000..20_000);
        coords.push([lon, lat]);
        age.push(Value::Integer(a)).unwrap();
        name.push(Value::Text(n.clone())).unwrap();
        score.push(Value::Real(s)).unwrap();
        flag.push(Value::Boolean(f)).unwrap();
        registered.push(Value::Date(d)).unwrap();
        if let Some(w) = csv.as_mut() {
            writeln!(
                w,
                "{},{lon},{lat},{a},{n},{s},{f},{}",
                i + 1,
                chiiki_core::layers::column::format_date(d)
            )?;
        }
    }
    if let Some(mut w) = csv {
        w.flush()?;
    }
    let layer = Layer::new(LayerParts {
        meta: LayerMeta {
            id: args.id.clone(),
            title: format!("benchmark points ({})", args.points),
            access: Access {
                public: true,
                roles: vec![],
            },
            time_field: Some("registered".into()),
            ..Default::default()
        },
        fids: (1..=args.points as i64).collect(),
        geometries: Geometries::Points(coords),
        columns: vec![age, name, score, flag, registered],
    });
    println!("layer heap ≈ {:.1} MB", layer.heap_bytes() as f64 / 1e6);
    let path = store::save(&args.data, &layer)?;
    println!("wrote {} points to {}", layer.len(), path.display());
    Ok(())
}
