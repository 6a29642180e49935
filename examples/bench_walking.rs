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
//! resident its nearest shelter by walking (best of `--runs`; the snap and
//! the Dijkstra + assignment also apart), and memory.
//!
//! `--export DIR` also writes the same graph, the snaps and the answer as
//! CSV for the pgRouting peer (`bench/walking.sh`), and the measures as
//! `key value` lines in `DIR/chiiki.txt`:
//!
//! - `edges.csv`: `id,source,target,cost,wkt` — edge `i` of the network is
//!   id `i + 1`, node `n` is id `n + 1` (pgRouting's ids start at 1), cost
//!   in metres, the line from source to target in the network's plane
//!   (metres), for PostGIS to snap to;
//! - `shelters.csv`, `residents.csv`: `id,x,y,edge,offset,distance` — the
//!   point's index, its position in the plane, its snapped edge's id, metres
//!   along the edge from its source, metres from the point to the edge (the
//!   last three empty when it snaps nowhere);
//! - `chiiki.csv`: `id,facility,metres` — each resident's nearest shelter
//!   (its index) and walking distance, both empty when none is reachable.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chiiki_core::layers::{Geometries, Layer};
use chiiki_network::nearest::{nearest_snapped, node_distances};
use chiiki_network::{nearest_facilities, Assignment, Network, Snap, TOLERANCE_M};
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
    /// Write the graph, the snaps, the answer and the measures here.
    #[arg(long)]
    export: Option<std::path::PathBuf>,
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

/// Writes `header` and one line per row to `path`, through a buffer.
fn write_csv(path: &Path, header: &str, rows: impl Iterator<Item = String>) -> Result<()> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = std::io::BufWriter::new(file);
    writeln!(w, "{header}")?;
    for r in rows {
        writeln!(w, "{r}")?;
    }
    w.flush()?;
    Ok(())
}

/// The CSV files of `--export` (see the module doc). Floats are written
/// with `{:?}`, the shortest text that reads back to the same f64, so both
/// sides compute on identical numbers.
fn export(
    dir: &Path,
    net: &Network,
    (sites, shelters): (&[[f64; 2]], &[Option<Snap>]),
    (people, residents): (&[[f64; 2]], &[Option<Snap>]),
    got: &[Option<Assignment>],
) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    write_csv(
        &dir.join("edges.csv"),
        "id,source,target,cost,wkt",
        net.edges.iter().enumerate().map(|(e, edge)| {
            let (a, b) = net.ends(e as u32);
            let xy: Vec<String> = edge
                .line
                .iter()
                .map(|p| format!("{:?} {:?}", p[0], p[1]))
                .collect();
            format!(
                "{},{},{},{:?},\"LINESTRING({})\"",
                e + 1,
                a.index() + 1,
                b.index() + 1,
                edge.metres,
                xy.join(",")
            )
        }),
    )?;
    let points = |name: &str, at: &[[f64; 2]], snaps: &[Option<Snap>]| {
        write_csv(
            &dir.join(name),
            "id,x,y,edge,offset,distance",
            at.iter().zip(snaps).enumerate().map(|(i, (&p, s))| {
                let [x, y] = net.plane.project(p);
                match s {
                    Some(s) => format!(
                        "{i},{x:?},{y:?},{},{:?},{:?}",
                        s.edge + 1,
                        s.offset,
                        s.distance
                    ),
                    None => format!("{i},{x:?},{y:?},,,"),
                }
            }),
        )
    };
    points("shelters.csv", sites, shelters)?;
    points("residents.csv", people, residents)?;
    write_csv(
        &dir.join("chiiki.csv"),
        "id,facility,metres",
        got.iter().enumerate().map(|(i, a)| match a {
            Some(a) => format!("{i},{},{:?}", a.facility, a.metres),
            None => format!("{i},,"),
        }),
    )
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
    // The same two steps apart: pgRouting is given the snaps, so its peer
    // time is the second one's.
    let (mut fs, mut ps) = (Vec::new(), Vec::new());
    let snap = best(&mut || (fs, ps) = (net.snap_all(sites), net.snap_all(people)));
    let mut again = Vec::new();
    let walk = best(&mut || again = nearest_snapped(&net, &fs, &ps));
    // Its first part alone: the Dijkstra and every node's shelter.
    let mut nodes = Vec::new();
    let dijkstra = best(&mut || nodes = node_distances(&net, &fs));
    assert_eq!(again, got, "the steps apart give the same answer");
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
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "build {:.1} ms, assign {:.1} ms = snap {:.1} ms + Dijkstra and assignment {:.1} ms (the Dijkstra {:.1} ms) (best of {}, {threads} threads)",
        ms(build),
        ms(assign),
        ms(snap),
        ms(walk),
        ms(dijkstra),
        args.runs.max(1),
    );
    let mb = |kb: u64| kb as f64 / 1024.0;
    let (net_mb, assign_mb) = (mb(rss1.saturating_sub(rss0)), mb(rss2.saturating_sub(rss1)));
    println!(
        "memory: network {net_mb:.1} MB, assignment {assign_mb:.1} MB (resident set growth); peak {:.0} MB with the layers loaded",
        mb(peak)
    );
    if let Some(dir) = &args.export {
        export(dir, &net, (sites, &fs), (people, &ps), &got)?;
        let measures = [
            ("residents", people.len().to_string()),
            ("shelters", sites.len().to_string()),
            ("reached", reached.len().to_string()),
            ("nodes", net.node_count().to_string()),
            ("edges", net.edge_count().to_string()),
            ("threads", threads.to_string()),
            ("build_ms", format!("{:.1}", ms(build))),
            ("assign_ms", format!("{:.1}", ms(assign))),
            ("snap_ms", format!("{:.1}", ms(snap))),
            ("walk_ms", format!("{:.1}", ms(walk))),
            ("dijkstra_ms", format!("{:.1}", ms(dijkstra))),
            ("network_mb", format!("{net_mb:.1}")),
            ("assign_mb", format!("{assign_mb:.1}")),
            ("peak_mb", format!("{:.0}", mb(peak))),
        ];
        let text: String = measures.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
        std::fs::write(dir.join("chiiki.txt"), text)?;
    }
    Ok(())
}
