//! The walking network and the nearest shelter by walking for every
//! resident of the demo city. Build the demo (`scripts/demo.sh`, or
//! `chiiki demo --data demo-data --no-serve`), then:
//!
//! ```sh
//! cargo run --release --example bench_walking -- --data demo-data
//! ```
//!
//! Prints the network (nodes, edges, components), the time to build it from
//! `roads`, the time to snap the shelters and residents and assign each
//! resident its nearest shelter by walking (best of `--runs`), and memory.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chiiki_core::layers::{Geometries, Layer};
use chiiki_network::{nearest_facilities, Network, TOLERANCE_M};
use chiiki_store::{GeoParquetStore, LayerStore};
use clap::Parser;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "demo-data")]
    data: std::path::PathBuf,
    #[arg(long, default_value = "roads")]
    network: String,
    #[arg(long, default_value = "residents")]
    points: String,
    #[arg(long, default_value = "shelters_evacuation")]
    facilities: String,
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// Resident and peak memory of this process (kB), from /proc.
fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn points(layer: &Layer) -> Result<&[[f64; 2]]> {
    match &layer.geometries {
        Geometries::Points(p) => Ok(p),
        Geometries::Shapes(_) => anyhow::bail!("{} is not a layer of points", layer.meta.id),
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let layers = GeoParquetStore::new(&args.data)
        .load_all()
        .with_context(|| format!("loading {}", args.data.display()))?;
    let find = |id: &str| {
        layers
            .iter()
            .find(|l| l.meta.id == id)
            .with_context(|| format!("no layer '{id}' in {}", args.data.display()))
    };
    let (roads, people, sites) = (
        find(&args.network)?,
        find(&args.points)?,
        find(&args.facilities)?,
    );
    let (people, sites) = (points(people)?, points(sites)?);
    let (rss0, _) = memory();

    let best = |f: &mut dyn FnMut()| {
        (0..args.runs.max(1))
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .min()
            .unwrap_or(Duration::ZERO)
    };
    let mut net = None;
    let build = best(&mut || net = Some(Network::from_layer(roads, TOLERANCE_M)));
    let net = net.expect("built");
    let (rss1, _) = memory();
    let c = net.components();
    println!(
        "network: {} lines of '{}' → {} nodes, {} edges, {:.1} km; {} components, the largest {:.1} % of the length",
        roads.len(),
        args.network,
        net.node_count(),
        net.edge_count(),
        net.metres() / 1000.0,
        c.count,
        100.0 * c.largest_share
    );
    let mut got = Vec::new();
    let assign = best(&mut || got = nearest_facilities(&net, sites, people));
    let (rss2, peak) = memory();
    let reached: Vec<f64> = got.iter().flatten().map(|a| a.metres).collect();
    let mut sorted = reached.clone();
    sorted.sort_by(f64::total_cmp);
    println!(
        "{} points, {} facilities: {} reach one; walking distance median {:.0} m, 90th percentile {:.0} m, beyond 300 m {}",
        people.len(),
        sites.len(),
        reached.len(),
        sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN),
        sorted.get(sorted.len() * 9 / 10).copied().unwrap_or(f64::NAN),
        got.iter().filter(|a| a.is_none_or(|a| a.metres > 300.0)).count()
    );
    println!(
        "build {:.1} ms, assign {:.1} ms (best of {}, {} threads)",
        build.as_secs_f64() * 1e3,
        assign.as_secs_f64() * 1e3,
        args.runs.max(1),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "memory: network {:.1} MB, assignment {:.1} MB (resident set growth); peak {:.0} MB with the layers loaded",
        rss1.saturating_sub(rss0) as f64 / 1024.0,
        rss2.saturating_sub(rss1) as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    Ok(())
}
