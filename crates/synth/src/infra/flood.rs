//! Flood depth ranks: the real A31 (2012) flood extents of Tokyo, cut to the
//! ward, each piece given a synthetic depth rank.
//!
//! The A31 file here has no .dbf, so the real depth ranks are lost; only
//! their polygons remain (the extents come as one polygon per depth class
//! piece, so they tile the flooded area without overlapping). The ranks are
//! made up to look like the 神田川 valley they are in: water is deepest on
//! the valley floor, far from the valley sides where the flooded area ends
//! on higher ground, and near the river itself.

use crate::error::{Result, SynthError};
use gdal::vector::LayerAccess;
use geo::Validation;
use geo::{
    Area, BooleanOps, BoundingRect, Coord, InteriorPoint, Intersects, LineString, MapCoords,
    MultiPolygon, Polygon, Rect,
};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};
use std::path::Path;

use super::geom::{dist_to_lines, dist_to_linestring, Plane};
use super::output::{GeoJson, Geom, Prop};
use super::ward::Ward;
use chiiki_core::crs::Transform;

pub const A31_TOKYO: &str = "flood/A31-12_13.shp";

/// Pieces smaller than this are slivers of the cut, not flood zones.
const MIN_ZONE_M2: f64 = 10.0;

/// The A31 / MLIT depth classes: rank, label, min and max depth in metres.
pub const DEPTH_CLASSES: [(u8, &str, f64, Option<f64>); 5] = [
    (1, "0.5m未満", 0.0, Some(0.5)),
    (2, "0.5-1.0m", 0.5, Some(1.0)),
    (3, "1.0-2.0m", 1.0, Some(2.0)),
    (4, "2.0-5.0m", 2.0, Some(5.0)),
    (5, "5.0m以上", 5.0, None),
];

/// Cumulative shares of the flooded area up to ranks 1–4 (the rest is rank
/// 5): mostly shallow, a few deep pockets on the 神田川 valley floor.
const RANK_SHARES: [f64; 4] = [0.36, 0.68, 0.91, 0.99];

pub const RANK_SOURCE: &str = "synthetic: A31 2012 has no depth attribute here";

pub struct Zone {
    /// Plane metres.
    pub area: Polygon,
    pub rank: u8,
}

pub struct Flood {
    pub zones: Vec<Zone>,
    index: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
}

impl Flood {
    /// Zones whose bounding box comes within `margin` metres of `r`'s.
    fn candidates(&self, min: Coord, max: Coord, margin: f64) -> impl Iterator<Item = usize> + '_ {
        let env = AABB::from_corners(
            [min.x - margin, min.y - margin],
            [max.x + margin, max.y + margin],
        );
        self.index
            .locate_in_envelope_intersecting(&env)
            .map(|g| g.data)
    }

    /// The deepest rank of the zones a line crosses, 0 when it crosses none.
    pub fn max_rank_on_line(&self, line: &LineString) -> u8 {
        let Some(r) = line.bounding_rect() else {
            return 0;
        };
        self.candidates(r.min(), r.max(), 0.0)
            .filter(|&i| self.zones[i].area.intersects(line))
            .map(|i| self.zones[i].rank)
            .max()
            .unwrap_or(0)
    }

    /// Distance to the nearest zone and the deepest rank within `radius`
    /// metres of `p`, `None` when no zone is that close.
    pub fn near(&self, p: Coord, radius: f64) -> Option<(f64, u8)> {
        let point = geo::Point::from(p);
        let mut best: Option<(f64, u8)> = None;
        for i in self.candidates(p, p, radius) {
            let z = &self.zones[i];
            let d = if z.area.intersects(&point) {
                0.0
            } else {
                std::iter::once(z.area.exterior())
                    .chain(z.area.interiors())
                    .map(|ring| dist_to_linestring(p, ring))
                    .fold(f64::INFINITY, f64::min)
            };
            if d <= radius {
                best = Some(match best {
                    None => (d, z.rank),
                    Some((bd, br)) => (bd.min(d), br.max(z.rank)),
                });
            }
        }
        best
    }
}

/// Reads the A31 extents, cuts them to the ward and ranks the pieces.
pub fn build(real: &Path, ward: &Ward, plane: &Plane, rng: &mut ChaCha8Rng) -> Result<Flood> {
    let path = real.join(A31_TOKYO);
    let mut pieces: Vec<Polygon> = Vec::new();
    for area in read_extents(&path, ward.bbox_lonlat)? {
        let area = area.map_coords(|c| plane.fwd(c));
        let cut = area.intersection(&ward.area);
        pieces.extend(
            cut.0
                .into_iter()
                .filter(|p| p.unsigned_area() >= MIN_ZONE_M2),
        );
    }
    let ranks = rank_pieces(&pieces, ward, rng);
    let zones: Vec<Zone> = pieces
        .into_iter()
        .zip(ranks)
        .map(|(area, rank)| Zone { area, rank })
        .collect();
    let index = RTree::bulk_load(
        zones
            .iter()
            .enumerate()
            .filter_map(|(i, z)| {
                let r = z.area.bounding_rect()?;
                Some(GeomWithData::new(
                    Rectangle::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                    i,
                ))
            })
            .collect(),
    );
    Ok(Flood { zones, index })
}

/// The A31 polygons whose bounding box meets `bbox` (lon/lat), repaired
/// when invalid (GEOS MakeValid, as the import does) and reprojected from
/// the file's CRS (JGD2000) to JGD2011. Read with a spatial filter: the ward
/// needs a few hundred of Tokyo's 7,303 polygons.
fn read_extents(path: &Path, bbox: Rect) -> Result<Vec<MultiPolygon>> {
    let dataset = gdal::Dataset::open(path)
        .map_err(|e| SynthError::input(path, format!("GDAL cannot open it: {e}")))?;
    let mut layer = dataset
        .layer(0)
        .map_err(|e| SynthError::input(path, format!("no vector layer: {e}")))?;
    let epsg = layer
        .spatial_ref()
        .and_then(|mut srs| {
            let _ = srs.auto_identify_epsg();
            srs.auth_code().ok()
        })
        .ok_or_else(|| SynthError::input(path, "no EPSG-identified CRS (.prj)"))?;
    let transform = Transform::new(&format!("EPSG:{epsg}"), "EPSG:6668").map_err(|e| {
        SynthError::input(
            path,
            format!("cannot reproject EPSG:{epsg} to JGD2011: {e}"),
        )
    })?;
    // The datum shift JGD2000 → JGD2011 is centimetres: a 0.001° pad is ample.
    let pad = 0.001;
    layer.set_spatial_filter_rect(
        bbox.min().x - pad,
        bbox.min().y - pad,
        bbox.max().x + pad,
        bbox.max().y + pad,
    );
    let no_options = gdal::cpl::CslStringList::new();
    let mut out = Vec::new();
    for (n, feature) in layer.features().enumerate() {
        let Some(g) = feature.geometry() else {
            continue;
        };
        // Validity is checked with geo: GDAL's check would print a GEOS
        // warning for each of the few invalid source polygons.
        let at_feature = |message: String| SynthError::Input {
            path: path.to_path_buf(),
            line: None,
            feature: Some(n as u64 + 1),
            message,
        };
        let read = |g: &gdal::vector::Geometry| {
            g.to_geo()
                .map_err(|e| at_feature(format!("unreadable geometry: {e}")))
        };
        let mut geom = read(g)?;
        if !geom.is_valid() {
            let fixed = g
                .make_valid(&no_options)
                .map_err(|e| at_feature(format!("cannot repair it: {e}")))?;
            geom = read(&fixed)?;
        }
        transform
            .apply_geometry(&mut geom)
            .map_err(|e| at_feature(format!("cannot reproject: {e}")))?;
        match geom {
            geo::Geometry::Polygon(p) => out.push(MultiPolygon(vec![p])),
            geo::Geometry::MultiPolygon(m) => out.push(m),
            geo::Geometry::GeometryCollection(gc) => out.push(MultiPolygon(
                gc.0.into_iter()
                    .filter_map(|g| match g {
                        geo::Geometry::Polygon(p) => Some(p),
                        _ => None,
                    })
                    .collect(),
            )),
            _ => {}
        }
    }
    if out.is_empty() {
        return Err(SynthError::input(
            path,
            "no flood extent within the ward's bounding box",
        ));
    }
    Ok(out)
}

/// Depth score of each piece: how far it lies from the valley sides (the
/// edges of the flooded area that are inside the ward, not on its river
/// boundary) plus closeness to the river, plus noise; ranks by quantile.
fn rank_pieces(pieces: &[Polygon], ward: &Ward, rng: &mut ChaCha8Rng) -> Vec<u8> {
    let flooded = geo::unary_union(pieces);
    let boundary = ward.clipper.boundary();
    let valley_sides: Vec<geo::Line> = flooded
        .0
        .iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .flat_map(|ring| ring.lines())
        .filter(|l| {
            let mid = Coord {
                x: (l.start.x + l.end.x) / 2.0,
                y: (l.start.y + l.end.y) / 2.0,
            };
            dist_to_lines(mid, boundary) > 15.0
        })
        .collect();
    let noise = Normal::new(0.0, 0.25).expect("valid normal");
    let scores: Vec<f64> = pieces
        .iter()
        .map(|p| {
            let at = p
                .interior_point()
                .map(|pt| pt.0)
                .or_else(|| p.exterior().0.first().copied())
                .unwrap_or(Coord { x: 0.0, y: 0.0 });
            let from_sides = dist_to_lines(at, &valley_sides).min(200.0);
            let from_river = dist_to_linestring(at, &ward.river);
            0.7 * (from_sides / 50.0).min(3.0)
                + 1.0 * (-from_river / 150.0).exp()
                + noise.sample(rng)
        })
        .collect();
    let mut order: Vec<usize> = (0..pieces.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
    // Quantiles by area, so that the shares are shares of flooded ground.
    let areas: Vec<f64> = pieces.iter().map(|p| p.unsigned_area()).collect();
    let total: f64 = areas.iter().sum();
    let mut ranks = vec![1u8; pieces.len()];
    let mut before = 0.0;
    for &i in &order {
        let q = (before + areas[i] / 2.0) / total;
        before += areas[i];
        ranks[i] = 1 + RANK_SHARES.iter().filter(|&&s| q >= s).count() as u8;
    }
    ranks
}

impl Flood {
    /// `flood_depth.geojson`: one Polygon per zone, RFC 7946 ring orientation.
    pub fn to_geojson(&self, plane: &Plane) -> Vec<u8> {
        use geo::orient::{Direction, Orient};
        let mut out = GeoJson::new("flood_depth");
        for (i, z) in self.zones.iter().enumerate() {
            let ring = |r: &LineString| {
                let mut c: Vec<Coord> = r.0.iter().map(|&c| plane.inv_rounded(c)).collect();
                c.dedup();
                LineString(c)
            };
            let poly = Polygon::new(
                ring(z.area.exterior()),
                z.area.interiors().iter().map(ring).collect(),
            )
            .orient(Direction::Default);
            let (rank, label, min, max) = DEPTH_CLASSES[(z.rank as usize - 1).min(4)];
            out.feature(
                i + 1,
                Geom::Polygon(&poly),
                &[
                    ("zone_id", Prop::str(zone_id(i))),
                    ("depth_rank", Prop::Int(rank as i64)),
                    ("depth_label", Prop::str(label)),
                    ("depth_min_m", Prop::Num(min, 1)),
                    ("depth_max_m", max.map_or(Prop::Null, |m| Prop::Num(m, 1))),
                    ("rank_source", Prop::str(RANK_SOURCE)),
                ],
            );
        }
        out.finish()
    }
}

pub fn zone_id(i: usize) -> String {
    format!("F{:04}", i + 1)
}
