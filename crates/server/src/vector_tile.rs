//! One layer's features as a Mapbox Vector Tile (MVT 2.1) of the
//! WebMercatorQuad tile matrix set: tile addressing, projection into tile
//! units, clipping to the tile and its buffer, and encoding
//! ([`crate::mvt_writer`] writes the protobuf).
//!
//! Geometries are projected to tile units (4096 a side), clipped to the
//! tile grown by [`BUFFER`] units (so that strokes and symbols at an edge
//! join the neighbour's), rounded to whole units and rid of vertices that
//! fall on the previous one: a tile never holds more detail than it can
//! show. Nothing is thinned: every feature that reaches the tile is in it.

use std::f64::consts::PI;

use chiiki_core::layers::{ColumnData, Geometries, Layer};
use geo::{Coord, Geometry, LineString, Polygon, Rect};

use crate::mvt_writer::{GeomType, LayerWriter, Value};

/// Tile units a side.
pub const EXTENT: u32 = 4096;
/// Tile units kept beyond each edge.
pub const BUFFER: f64 = 64.0;
/// The deepest tile matrix served.
pub const MAX_ZOOM: u8 = 22;
/// Web Mercator's latitude limit.
const MAX_LAT: f64 = 85.051_128_779_806_59;

/// A tile of WebMercatorQuad: matrix `z`, column `x`, row `y` (from the top).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileId {
    pub z: u8,
    pub x: u32,
    pub y: u32,
}

impl TileId {
    /// The tile, or `None` when it lies outside the tile matrix set.
    pub fn new(z: u32, x: u32, y: u32) -> Option<TileId> {
        let z = u8::try_from(z).ok().filter(|&z| z <= MAX_ZOOM)?;
        let n = 1u32 << z;
        (x < n && y < n).then_some(TileId { z, x, y })
    }

    /// Tile units across the whole world at this zoom.
    fn world(&self) -> f64 {
        f64::from(EXTENT) * f64::from(1u32 << self.z)
    }

    /// Longitude and latitude of tile unit (`u`, `v`) of this tile.
    fn unproject(&self, u: f64, v: f64) -> Coord<f64> {
        let world = self.world();
        let gx = f64::from(self.x) * f64::from(EXTENT) + u;
        let gy = f64::from(self.y) * f64::from(EXTENT) + v;
        let lon = gx / world * 360.0 - 180.0;
        let lat = (PI * (1.0 - 2.0 * gy / world)).sinh().atan().to_degrees();
        Coord { x: lon, y: lat }
    }

    /// The tile grown by `buffer` tile units on each side, in lon/lat.
    pub fn bounds(&self, buffer: f64) -> Rect<f64> {
        let e = f64::from(EXTENT);
        Rect::new(
            self.unproject(-buffer, e + buffer),
            self.unproject(e + buffer, -buffer),
        )
    }

    fn projector(&self) -> Projector {
        Projector {
            world: self.world(),
            x0: f64::from(self.x) * f64::from(EXTENT),
            y0: f64::from(self.y) * f64::from(EXTENT),
        }
    }
}

/// Lon/lat to the tile units of one tile.
struct Projector {
    world: f64,
    x0: f64,
    y0: f64,
}

impl Projector {
    fn apply(&self, lon: f64, lat: f64) -> Coord<f64> {
        let mx = (lon + 180.0) / 360.0;
        let phi = lat.clamp(-MAX_LAT, MAX_LAT).to_radians();
        let my = (1.0 - (phi.tan() + 1.0 / phi.cos()).ln() / PI) / 2.0;
        Coord {
            x: mx * self.world - self.x0,
            y: my * self.world - self.y0,
        }
    }
}

/// A side of the clip rectangle (tile units: y grows downwards).
#[derive(Clone, Copy)]
enum Edge {
    Left,
    Right,
    Top,
    Bottom,
}

/// The clip rectangle in tile units: the tile and its buffer.
#[derive(Clone, Copy)]
struct Clip {
    lo: f64,
    hi: f64,
}

impl Clip {
    fn new() -> Clip {
        Clip {
            lo: -BUFFER,
            hi: f64::from(EXTENT) + BUFFER,
        }
    }

    fn contains(&self, c: Coord<f64>) -> bool {
        c.x >= self.lo && c.x <= self.hi && c.y >= self.lo && c.y <= self.hi
    }

    /// A ring clipped to the rectangle (Sutherland–Hodgman: exact for a
    /// convex clip; a concave ring may keep zero-width runs along the
    /// edge, which fill nothing). Open ring in, open ring out.
    fn ring(&self, ring: &[Coord<f64>]) -> Vec<Coord<f64>> {
        let mut out: Vec<Coord<f64>> = ring.to_vec();
        for edge in [Edge::Left, Edge::Right, Edge::Top, Edge::Bottom] {
            if out.is_empty() {
                break;
            }
            let input = std::mem::take(&mut out);
            let mut prev = input[input.len() - 1];
            for &cur in &input {
                let (pi, ci) = (self.inside(edge, prev), self.inside(edge, cur));
                if ci != pi {
                    out.push(self.cross(edge, prev, cur));
                }
                if ci {
                    out.push(cur);
                }
                prev = cur;
            }
        }
        out
    }

    fn inside(&self, edge: Edge, c: Coord<f64>) -> bool {
        match edge {
            Edge::Left => c.x >= self.lo,
            Edge::Right => c.x <= self.hi,
            Edge::Top => c.y >= self.lo,
            Edge::Bottom => c.y <= self.hi,
        }
    }

    /// Where segment `a`–`b` crosses the line along `edge`.
    fn cross(&self, edge: Edge, a: Coord<f64>, b: Coord<f64>) -> Coord<f64> {
        let at_x = |v: f64| {
            let t = (v - a.x) / (b.x - a.x);
            Coord {
                x: v,
                y: a.y + t * (b.y - a.y),
            }
        };
        let at_y = |v: f64| {
            let t = (v - a.y) / (b.y - a.y);
            Coord {
                x: a.x + t * (b.x - a.x),
                y: v,
            }
        };
        match edge {
            Edge::Left => at_x(self.lo),
            Edge::Right => at_x(self.hi),
            Edge::Top => at_y(self.lo),
            Edge::Bottom => at_y(self.hi),
        }
    }

    /// A line clipped to the rectangle: the runs of it inside (Liang–Barsky
    /// on each segment, joined where they meet).
    fn line(&self, line: &[Coord<f64>]) -> Vec<Vec<Coord<f64>>> {
        let mut runs: Vec<Vec<Coord<f64>>> = Vec::new();
        let mut open = false;
        for w in line.windows(2) {
            match self.segment(w[0], w[1]) {
                Some((a, b)) => {
                    if !open {
                        runs.push(vec![a]);
                    }
                    if let Some(run) = runs.last_mut() {
                        run.push(b);
                    }
                    // The run goes on only if the segment ended inside.
                    open = b == w[1];
                }
                None => open = false,
            }
        }
        runs
    }

    fn segment(&self, a: Coord<f64>, b: Coord<f64>) -> Option<(Coord<f64>, Coord<f64>)> {
        let (dx, dy) = (b.x - a.x, b.y - a.y);
        let (mut t0, mut t1) = (0.0f64, 1.0f64);
        for (p, q) in [
            (-dx, a.x - self.lo),
            (dx, self.hi - a.x),
            (-dy, a.y - self.lo),
            (dy, self.hi - a.y),
        ] {
            if p == 0.0 {
                if q < 0.0 {
                    return None;
                }
            } else {
                let r = q / p;
                if p < 0.0 {
                    t0 = t0.max(r);
                } else {
                    t1 = t1.min(r);
                }
            }
        }
        if t0 > t1 {
            return None;
        }
        let at = |t: f64| Coord {
            x: a.x + t * dx,
            y: a.y + t * dy,
        };
        Some((
            if t0 > 0.0 { at(t0) } else { a },
            if t1 < 1.0 { at(t1) } else { b },
        ))
    }
}

/// Rounds to whole tile units, dropping a vertex that lands on the one
/// before it or on the straight line through its neighbours (a grid-like
/// A31 polygon keeps only its corners).
fn snap(coords: impl Iterator<Item = Coord<f64>>) -> Vec<(i32, i32)> {
    let mut out: Vec<(i32, i32)> = Vec::new();
    for c in coords {
        let p = (c.x.round() as i32, c.y.round() as i32);
        if out.last() == Some(&p) {
            continue;
        }
        if let [.., a, b] = out[..] {
            if straight(a, b, p) {
                out.pop();
            }
        }
        out.push(p);
    }
    out
}

/// Whether `b` lies on the segment from `a` to `c`, between them.
fn straight(a: (i32, i32), b: (i32, i32), c: (i32, i32)) -> bool {
    let (ab, bc) = ((b.0 - a.0, b.1 - a.1), (c.0 - b.0, c.1 - b.1));
    i64::from(ab.0) * i64::from(bc.1) == i64::from(ab.1) * i64::from(bc.0)
        && i64::from(ab.0) * i64::from(bc.0) + i64::from(ab.1) * i64::from(bc.1) > 0
}

/// Twice the signed area of a ring in tile units (y down): positive for
/// what MVT calls an exterior ring.
fn area2(ring: &[(i32, i32)]) -> i64 {
    let n = ring.len();
    (0..n)
        .map(|i| {
            let (x0, y0) = ring[i];
            let (x1, y1) = ring[(i + 1) % n];
            i64::from(x0) * i64::from(y1) - i64::from(x1) * i64::from(y0)
        })
        .sum()
}

/// A geometry in tile units, ready for the encoder.
enum TileGeometry {
    Points(Vec<(i32, i32)>),
    Lines(Vec<Vec<(i32, i32)>>),
    /// Rings, exterior first, each oriented as MVT asks.
    Polygons(Vec<Vec<(i32, i32)>>),
}

/// Projects and clips `g`; `None` when nothing of it is left in the tile.
fn tile_geometry(g: &Geometry<f64>, p: &Projector, clip: Clip) -> Option<TileGeometry> {
    let project = |ls: &LineString<f64>| -> Vec<Coord<f64>> {
        ls.0.iter().map(|c| p.apply(c.x, c.y)).collect()
    };
    let points = |pts: &mut dyn Iterator<Item = Coord<f64>>| {
        let kept: Vec<(i32, i32)> = pts
            .map(|c| p.apply(c.x, c.y))
            .filter(|&c| clip.contains(c))
            .map(|c| (c.x.round() as i32, c.y.round() as i32))
            .collect();
        (!kept.is_empty()).then_some(TileGeometry::Points(kept))
    };
    let lines = |ls: &mut dyn Iterator<Item = &LineString<f64>>| {
        let runs: Vec<Vec<(i32, i32)>> = ls
            .flat_map(|l| clip.line(&project(l)))
            .map(|run| snap(run.into_iter()))
            .filter(|run| run.len() >= 2)
            .collect();
        (!runs.is_empty()).then_some(TileGeometry::Lines(runs))
    };
    let polygons = |ps: &mut dyn Iterator<Item = &Polygon<f64>>| {
        let mut rings = Vec::new();
        for poly in ps {
            let Some(exterior) = ring(&project(poly.exterior()), clip, true) else {
                continue;
            };
            rings.push(exterior);
            for hole in poly.interiors() {
                rings.extend(ring(&project(hole), clip, false));
            }
        }
        (!rings.is_empty()).then_some(TileGeometry::Polygons(rings))
    };
    match g {
        Geometry::Point(pt) => points(&mut std::iter::once(pt.0)),
        Geometry::MultiPoint(mp) => points(&mut mp.0.iter().map(|pt| pt.0)),
        Geometry::LineString(l) => lines(&mut std::iter::once(l)),
        Geometry::Line(l) => lines(&mut std::iter::once(&LineString::from(vec![
            l.start, l.end,
        ]))),
        Geometry::MultiLineString(ml) => lines(&mut ml.0.iter()),
        Geometry::Polygon(poly) => polygons(&mut std::iter::once(poly)),
        Geometry::MultiPolygon(mp) => polygons(&mut mp.0.iter()),
        Geometry::Rect(r) => polygons(&mut std::iter::once(&r.to_polygon())),
        Geometry::Triangle(t) => polygons(&mut std::iter::once(&t.to_polygon())),
        // One feature has one geometry type in MVT: a collection has none.
        Geometry::GeometryCollection(_) => None,
    }
}

/// A ring clipped, snapped and oriented (`exterior`: positive area), or
/// `None` when it covers no area of the tile.
fn ring(coords: &[Coord<f64>], clip: Clip, exterior: bool) -> Option<Vec<(i32, i32)>> {
    let mut open = coords;
    if open.len() > 1 && open.first() == open.last() {
        open = &open[..open.len() - 1];
    }
    let clipped = clip.ring(open);
    let mut snapped = snap(clipped.into_iter());
    while snapped.len() > 1 && snapped.first() == snapped.last() {
        snapped.pop();
    }
    if snapped.len() < 3 {
        return None;
    }
    let a = area2(&snapped);
    if a == 0 {
        return None;
    }
    if (a > 0) != exterior {
        snapped.reverse();
    }
    Some(snapped)
}

/// Writes `g` as the geometry of the feature being written.
fn write_geometry(w: &mut LayerWriter<'_>, g: &TileGeometry) -> GeomType {
    match g {
        TileGeometry::Points(p) => {
            w.geometry.points(p);
            GeomType::Point
        }
        TileGeometry::Lines(lines) => {
            lines.iter().for_each(|l| w.geometry.line(l));
            GeomType::LineString
        }
        TileGeometry::Polygons(rings) => {
            rings.iter().for_each(|r| w.geometry.ring(r));
            GeomType::Polygon
        }
    }
}

/// Rows of `layer` that may reach tile `tile`: those whose bounding box
/// meets the tile and its buffer, from the layer's spatial index.
pub fn candidates(layer: &Layer, tile: TileId) -> Vec<u32> {
    layer.rows_in_bbox(tile.bounds(BUFFER))
}

/// An encoded tile: the bytes (empty when no feature reached the tile)
/// and the rows it holds.
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub rows: Vec<u32>,
}

/// Encodes `rows` of `layer` into tile `tile`: one MVT layer named as the
/// collection, every column of the layer as a property (nulls left out),
/// the feature id where it is a non-negative integer.
pub fn encode(layer: &Layer, rows: &[u32], tile: TileId) -> Encoded {
    let p = tile.projector();
    let clip = Clip::new();
    let keys = layer.columns.iter().map(|c| c.name.as_str()).collect();
    let mut w = LayerWriter::new(keys, rows.len());
    let mut kept = Vec::with_capacity(rows.len());
    for &row in rows {
        let r = row as usize;
        w.begin();
        let kind = match &layer.geometries {
            Geometries::Points(pts) => {
                let c = p.apply(pts[r][0], pts[r][1]);
                if !clip.contains(c) {
                    continue;
                }
                w.geometry
                    .points(&[(c.x.round() as i32, c.y.round() as i32)]);
                GeomType::Point
            }
            Geometries::Shapes(shapes) => match tile_geometry(&shapes[r], &p, clip) {
                Some(g) => write_geometry(&mut w, &g),
                None => continue,
            },
        };
        for (i, c) in layer.columns.iter().enumerate() {
            if c.is_null(r) {
                continue;
            }
            let value = match &c.data {
                ColumnData::Integer(v) => Value::Int(v[r]),
                ColumnData::Real(v) => Value::double(v[r]),
                ColumnData::Text(v) => Value::Text(v.get(r)),
                ColumnData::Boolean(v) => Value::Bool(v[r]),
                ColumnData::Date(v) => Value::Date(v[r]),
                ColumnData::DateTime(v) => Value::DateTime(v[r]),
            };
            w.tag(i, value);
        }
        w.end(u64::try_from(layer.fids[r]).ok(), kind);
        kept.push(row);
    }
    let bytes = if w.is_empty() {
        Vec::new()
    } else {
        w.finish(&layer.meta.id, EXTENT)
    };
    Encoded { bytes, rows: kept }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_outside_the_matrix_set_are_refused() {
        assert!(TileId::new(0, 0, 0).is_some());
        assert!(TileId::new(14, 16383, 16383).is_some());
        assert!(TileId::new(14, 16384, 0).is_none());
        assert!(TileId::new(2, 0, 4).is_none());
        assert!(TileId::new(23, 0, 0).is_none());
        assert!(TileId::new(200, 0, 0).is_none());
    }

    #[test]
    fn projection_and_bounds_agree() {
        // The z14 tile over 文京区's 小石川.
        let t = TileId::new(14, 14551, 6450).unwrap();
        let b = t.bounds(0.0);
        let p = t.projector();
        let lo = p.apply(b.min().x, b.max().y);
        let hi = p.apply(b.max().x, b.min().y);
        assert!(lo.x.abs() < 1e-6 && lo.y.abs() < 1e-6, "{lo:?}");
        assert!((hi.x - 4096.0).abs() < 1e-6 && (hi.y - 4096.0).abs() < 1e-6);
        assert!(b.min().x > 139.7 && b.max().x < 139.8, "{b:?}");
        let grown = t.bounds(BUFFER);
        assert!(grown.min().x < b.min().x && grown.max().y > b.max().y);
    }

    #[test]
    fn rings_clip_to_the_buffer_and_face_the_right_way() {
        let clip = Clip::new();
        // A square larger than the tile, counter-clockwise in tile units.
        let big = [
            (-1000.0, -1000.0),
            (-1000.0, 5000.0),
            (5000.0, 5000.0),
            (5000.0, -1000.0),
        ]
        .map(|(x, y)| Coord { x, y });
        let r = ring(&big, clip, true).unwrap();
        assert!(area2(&r) > 0);
        for &(x, y) in &r {
            assert!(
                (-64..=4160).contains(&x) && (-64..=4160).contains(&y),
                "{r:?}"
            );
        }
        assert_eq!(area2(&r), 2 * 4224 * 4224);
        let hole = ring(&big, clip, false).unwrap();
        assert!(area2(&hole) < 0);
        // Wholly outside, or thinner than a unit: nothing.
        let away = big.map(|c| Coord {
            x: c.x + 20000.0,
            y: c.y,
        });
        assert!(ring(&away, clip, true).is_none());
        let sliver = [(10.0, 10.0), (10.2, 3000.0), (10.3, 10.0)].map(|(x, y)| Coord { x, y });
        assert!(ring(&sliver, clip, true).is_none());
    }

    #[test]
    fn lines_are_cut_into_the_runs_inside() {
        let clip = Clip::new();
        let line = [
            (-500.0, 100.0),
            (100.0, 100.0),
            (100.0, -500.0),
            (200.0, -500.0),
            (200.0, 200.0),
        ]
        .map(|(x, y)| Coord { x, y });
        let runs = clip.line(&line);
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(runs[0][0], Coord { x: -64.0, y: 100.0 });
        assert_eq!(runs[0][2], Coord { x: 100.0, y: -64.0 });
        assert_eq!(
            runs[1],
            vec![Coord { x: 200.0, y: -64.0 }, Coord { x: 200.0, y: 200.0 }]
        );
    }
}
