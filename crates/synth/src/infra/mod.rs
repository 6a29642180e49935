//! Synthetic infrastructure of the demo city: flood depth ranks, water pipes
//! with break history, bridges, roads with crack detections.
//!
//! Nothing of this is published for 文京区 (SOURCES.md: "bridges with 健全性
//! I–IV, water pipes with break history" are not open data), so it is
//! generated, but laid on the real public data so that it sits where a
//! city's infrastructure would: streets between the real ABR 住居表示 blocks,
//! the real A31 flood extents along the 神田川, the real ward outline.
//!
//! Files written (GeoJSON RFC 7946 in JGD2011 lon/lat, CSV in UTF-8):
//!
//! | file | what | module |
//! |---|---|---|
//! | `flood_depth.geojson` | A31 extents cut to the ward, synthetic depth ranks | `flood` |
//! | `roads.geojson`, `crack_detections.csv` | street centrelines, classes, dash-cam cracks | `streets`, `roads` |
//! | `pipes.geojson`, `pipe_breaks.csv`, `pipes_truth.csv` | water mains, 2016–2025 breaks, true rates | `pipes` |
//! | `bridges.geojson` | river bridges and overpasses with 健全性 I–IV | `bridges` |
//!
//! Deterministic: each part draws from its own `ChaCha8Rng` seeded with
//! `seed ^ PART_CONSTANT` (so a change in how one part draws does not shift
//! the random numbers of the others), and output is written in fixed orders
//! with fixed float formatting: the same seed gives byte-identical files.

mod bridges;
mod flood;
mod geom;
mod output;
mod pipes;
mod roads;
mod streets;
mod ward;

use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{Result, SynthError};
use geom::Plane;

/// What `generate` wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InfraSummary {
    pub flood_zones: usize,
    pub pipes: usize,
    pub pipe_breaks: usize,
    pub bridges: usize,
    pub roads: usize,
    pub crack_detections: usize,
}

/// Per-part seed constants (ASCII tags), one random stream per part.
const SEED_FLOOD: u64 = 0x466c_6f6f_645f_7231; // "Flood_r1"
const SEED_ROADS: u64 = 0x526f_6164_735f_7231; // "Roads_r1"
const SEED_PIPES: u64 = 0x5069_7065_735f_7231; // "Pipes_r1"
const SEED_BREAKS: u64 = 0x4272_6561_6b5f_7231; // "Break_r1"
const SEED_BRIDGES: u64 = 0x4272_6964_6765_7231; // "Bridger1"

fn part_rng(seed: u64, part: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ part)
}

/// Writes the infrastructure files into `out_dir` (created if missing).
pub fn generate(real_data: &Path, seed: u64, out_dir: &Path) -> Result<InfraSummary> {
    if !real_data.is_dir() {
        return Err(SynthError::NoRealData {
            dir: real_data.to_path_buf(),
        });
    }
    let plane = Plane::bunkyo();
    let ward = ward::load(real_data, &plane)?;
    let flood = flood::build(real_data, &ward, &plane, &mut part_rng(seed, SEED_FLOOD))?;
    let blocks = ward::blocks(real_data, &plane)?;
    let streets = streets::build(&blocks, &ward)?;
    let roads = roads::build(&streets, &flood, &plane, &mut part_rng(seed, SEED_ROADS));
    let pipes = pipes::build(
        &streets,
        &roads,
        &flood,
        &plane,
        &mut part_rng(seed, SEED_PIPES),
    );
    let breaks = pipes::simulate_breaks(&pipes, &mut part_rng(seed, SEED_BREAKS));
    let bridges = bridges::build(
        &ward,
        &streets,
        &roads,
        &flood,
        &mut part_rng(seed, SEED_BRIDGES),
    );

    std::fs::create_dir_all(out_dir).map_err(chiiki_core::error::IoError::at(
        out_dir,
        "creating the output directory",
    ))?;
    output::write_file(out_dir, "flood_depth.geojson", &flood.to_geojson(&plane))?;
    output::write_file(out_dir, "pipes.geojson", &pipes::to_geojson(&pipes, &plane))?;
    output::write_file(
        out_dir,
        "pipe_breaks.csv",
        &pipes::breaks_csv(&pipes, &breaks)?,
    )?;
    output::write_file(out_dir, "pipes_truth.csv", &pipes::truth_csv(&pipes)?)?;
    output::write_file(
        out_dir,
        "bridges.geojson",
        &bridges::to_geojson(&bridges, &plane),
    )?;
    output::write_file(out_dir, "roads.geojson", &roads.to_geojson(&plane))?;
    output::write_file(
        out_dir,
        "crack_detections.csv",
        &roads.detections_csv(&plane)?,
    )?;
    Ok(InfraSummary {
        flood_zones: flood.zones.len(),
        pipes: pipes.len(),
        pipe_breaks: breaks.len(),
        bridges: bridges.len(),
        roads: roads.roads.len(),
        crack_detections: roads.detections.len(),
    })
}
