//! Point-in-polygon join benchmark: residents × flood polygons.
//!
//! ```sh
//! cargo run --release --example bench_pip -- <residents_truth.csv> <A31 .shp> <out dir> [polygons]
//! ```
//!
//! Reads the residents' positions (as `chiiki synth` records them), puts them
//! in the service's spatial (Hilbert) order, takes the `polygons` (default
//! 500) A31 flood polygons nearest the residents' centre, and times:
//! building the polygon grid, the join on it, and — for scale — an R-tree
//! over polygon boxes with geo's `Contains`. Writes `points.csv` and
//! `polygons.geojson` to `<out dir>` for the GeoPandas peer (`bench/pip.sh`)
//! and prints one `key value` line per measure.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use chiiki_analysis::polygon_grid::PolygonGrid;
use chiiki_core::layers::{Geometries, Layer, LayerParts};
use chiiki_store::import::{read_files, ImportOptions};
use geo::{BoundingRect, Centroid, Contains, Geometry, MultiPolygon, Point};
use rstar::{RTree, RTreeObject, AABB};

struct Boxed(usize, AABB<[f64; 2]>);

impl RTreeObject for Boxed {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.1
    }
}

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        best = best.min(t.elapsed().as_secs_f64());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(
        args.len() >= 3,
        "usage: bench_pip <residents_truth.csv> <A31 .shp> <out dir> [polygons]"
    );
    let (truth, shp, out) = (
        PathBuf::from(&args[0]),
        PathBuf::from(&args[1]),
        PathBuf::from(&args[2]),
    );
    let wanted: usize = args.get(3).map_or(Ok(500), |s| s.parse())?;
    std::fs::create_dir_all(&out)?;

    // Residents, in the service's order.
    let mut reader =
        csv::Reader::from_path(&truth).with_context(|| format!("reading {}", truth.display()))?;
    let header = reader.headers()?.clone();
    let col = |n: &str| {
        header
            .iter()
            .position(|h| h == n)
            .context("no lon/lat column")
    };
    let (lon, lat) = (col("lon")?, col("lat")?);
    let mut points = Vec::new();
    for r in reader.records() {
        let r = r?;
        points.push([r[lon].parse::<f64>()?, r[lat].parse::<f64>()?]);
    }
    let n = points.len();
    let layer = Layer::new(LayerParts {
        meta: Default::default(),
        fids: (1..=n as i64).collect(),
        geometries: Geometries::Points(points),
        columns: vec![],
    });
    let Geometries::Points(points) = &layer.geometries else {
        unreachable!("a point layer")
    };

    // The flood polygons nearest the residents' centre.
    gdal_quiet();
    let (parts, _) = read_files(
        std::slice::from_ref(&shp),
        &ImportOptions {
            layer_id: "flood".into(),
            ..Default::default()
        },
    )?;
    let Geometries::Shapes(shapes) = parts.geometries else {
        anyhow::bail!("{}: not polygons", shp.display())
    };
    let (cx, cy) = (
        points.iter().map(|p| p[0]).sum::<f64>() / n as f64,
        points.iter().map(|p| p[1]).sum::<f64>() / n as f64,
    );
    let mut polygons: Vec<MultiPolygon<f64>> = shapes
        .into_iter()
        .filter_map(|g| match g {
            Geometry::Polygon(p) => Some(MultiPolygon(vec![p])),
            Geometry::MultiPolygon(m) => Some(m),
            _ => None,
        })
        .collect();
    let distance = |m: &MultiPolygon<f64>| {
        m.centroid().map_or(f64::INFINITY, |c| {
            (c.x() - cx).powi(2) + (c.y() - cy).powi(2)
        })
    };
    polygons.sort_by(|a, b| distance(a).total_cmp(&distance(b)));
    polygons.truncate(wanted);
    gdal_quiet();
    let stars = overlapping_stars(points, 500);
    write_points(&out, points)?;
    println!("points {n}");
    for (name, set) in [("real", &polygons), ("dense", &stars)] {
        measure(name, set, points)?;
        write_polygons(&out.join(format!("polygons_{name}.geojson")), set)?;
    }
    Ok(())
}

fn gdal_quiet() {
    gdal::config::set_error_handler(|_, _, _| {});
}

/// 500 overlapping 64-vertex polygons over the points' extent (seeded), so
/// that most points fall in several: the join's heavy case.
fn overlapping_stars(points: &[[f64; 2]], count: usize) -> Vec<MultiPolygon<f64>> {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for p in points {
        x0 = x0.min(p[0]);
        y0 = y0.min(p[1]);
        x1 = x1.max(p[0]);
        y1 = y1.max(p[1]);
    }
    let mut state = 20261122u64;
    let mut rand = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..count)
        .map(|_| {
            let (cx, cy) = (x0 + rand() * (x1 - x0), y0 + rand() * (y1 - y0));
            let r = (x1 - x0).max(y1 - y0) * (0.012 + 0.024 * rand());
            let ring: Vec<(f64, f64)> = (0..64)
                .map(|i| {
                    let a = i as f64 * std::f64::consts::TAU / 64.0;
                    let rr = r * (0.6 + 0.4 * rand());
                    (cx + rr * a.cos(), cy + rr * 0.8 * a.sin())
                })
                .collect();
            MultiPolygon(vec![geo::Polygon::new(ring.into(), vec![])])
        })
        .collect()
}

fn measure(name: &str, polygons: &[MultiPolygon<f64>], points: &[[f64; 2]]) -> Result<()> {
    let n = points.len();
    let vertices: usize = polygons
        .iter()
        .flat_map(|m| &m.0)
        .map(|p| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>())
        .sum();
    let (build, grid) = best_of(5, || PolygonGrid::new(polygons, 256));
    let (join, pairs) = best_of(5, || grid.join(points));

    // For scale: an R-tree over polygon boxes + geo Contains, on all cores.
    let tree = RTree::bulk_load(
        polygons
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let r = m.bounding_rect()?;
                Some(Boxed(
                    i,
                    AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                ))
            })
            .collect(),
    );
    let (rtree, rtree_pairs) = best_of(2, || {
        let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
        let chunk = n.div_ceil(threads);
        std::thread::scope(|s| {
            let handles: Vec<_> = points
                .chunks(chunk)
                .map(|part| {
                    let tree = &tree;
                    s.spawn(move || {
                        let mut count = 0usize;
                        for p in part {
                            let pt = Point::new(p[0], p[1]);
                            for b in tree.locate_in_envelope_intersecting(&AABB::from_point(*p)) {
                                count += polygons[b.0].contains(&pt) as usize;
                            }
                        }
                        count
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .sum::<usize>()
        })
    });
    println!("{name}_polygons {}", polygons.len());
    println!("{name}_vertices {vertices}");
    println!("{name}_pairs {}", pairs.len());
    println!("{name}_grid_build_s {build:.4}");
    println!("{name}_grid_join_s {join:.4}");
    println!("{name}_rtree_contains_s {rtree:.4}");
    anyhow::ensure!(
        rtree_pairs == pairs.len(),
        "{name}: the grid found {} pairs, geo's Contains {rtree_pairs}",
        pairs.len()
    );
    Ok(())
}

fn write_points(out: &std::path::Path, points: &[[f64; 2]]) -> Result<()> {
    let mut csv_out = String::with_capacity(points.len() * 28);
    csv_out.push_str("lon,lat\n");
    for p in points {
        csv_out.push_str(&format!("{:.7},{:.7}\n", p[0], p[1]));
    }
    std::fs::write(out.join("points.csv"), csv_out)?;
    Ok(())
}

fn write_polygons(path: &std::path::Path, polygons: &[MultiPolygon<f64>]) -> Result<()> {
    let fc = geojson::FeatureCollection {
        bbox: None,
        foreign_members: None,
        features: polygons
            .iter()
            .enumerate()
            .map(|(i, m)| geojson::Feature {
                id: Some(geojson::feature::Id::Number(i.into())),
                geometry: Some(geojson::Geometry::from(m)),
                ..Default::default()
            })
            .collect(),
    };
    std::fs::write(path, fc.to_string())?;
    Ok(())
}
