//! Areas of the city asked for by a request — a drawn polygon, JIS X 0410
//! mesh cells, or the polygons of a collection (a 町丁目, the cells of a
//! saved aggregate) — and the features of a layer of people inside one.
//!
//! A point is inside a polygon area by the same point-in-polygon grid the
//! `within` joins and the aggregates to polygons use ([`PolygonGrid`]), and
//! inside a mesh cell by the same arithmetic as the aggregates to meshes
//! ([`mesh::code`]: a point on a cell's edge belongs to the cell north or
//! east of it), so an area asked for by name selects exactly the people an
//! aggregate over the same cells or polygons counts.
//!
//! ```
//! use chiiki_analysis::area::Area;
//! // A square of about 1 km around 文京区役所, as a client would draw it.
//! let square = vec![vec![vec![
//!     [139.747, 35.704], [139.757, 35.704], [139.757, 35.712], [139.747, 35.712], [139.747, 35.704],
//! ]]];
//! let area = Area::from_rings(square, "area.polygon").unwrap();
//! assert!(area.contains(139.7522, 35.7081));
//! assert!(!area.contains(139.76, 35.7081));
//! let cell = Area::mesh(&["5339464033".to_string()], "area.mesh").unwrap();
//! assert!(cell.contains(139.7522, 35.7081));
//! ```

use geo::{Coord, InteriorPoint, LineString, MultiPolygon, Polygon, Rect, Validation};
use rustc_hash::FxHashSet;

use crate::polygon_grid::{extent, union, PolygonGrid};
use chiiki_core::layers::{Geometries, Layer};
use chiiki_core::mesh::{self, MeshLevel};

/// Why an area cannot be used; names the field of the request at fault
/// (`area.mesh[1]`, `area.polygon`), so the service can answer with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct AreaError {
    pub field: String,
    pub reason: String,
}

impl AreaError {
    fn new(field: impl Into<String>, reason: impl Into<String>) -> AreaError {
        AreaError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// An area: polygons, or mesh cells of any levels. A point is in the area
/// when it is in any of them.
#[derive(Debug, Clone)]
pub struct Area {
    shape: Shape,
    /// A box that holds the whole area (lon/lat): candidates come from the
    /// layer's spatial index by it.
    extent: Rect<f64>,
}

#[derive(Debug, Clone)]
enum Shape {
    Polygons {
        grid: PolygonGrid,
        count: usize,
    },
    /// The codes asked for, by level (coarsest first): a point is inside
    /// when its code at one of the levels is among them.
    Mesh(Vec<(MeshLevel, FxHashSet<u64>)>),
}

/// The resolution of the point-in-polygon grid over an area: enough for a
/// 町丁目 or a hand-drawn polygon to leave most cells wholly inside or out.
const GRID_RESOLUTION: usize = 128;

/// Polygons as GeoJSON gives them: polygons → rings (exterior first) →
/// positions `[lon, lat]`, each ring closed.
pub type Rings = Vec<Vec<Vec<[f64; 2]>>>;

impl Area {
    /// A polygon area drawn by a client, as GeoJSON polygons (one for a
    /// Polygon, several for a MultiPolygon) in CRS84. Refused, naming
    /// `field`, unless every ring is closed with at least four positions
    /// of longitude and latitude and the polygons are valid (no ring
    /// crosses itself or another, holes inside their exterior): a
    /// self-intersecting ring has no well-defined inside, and a list of
    /// people must not depend on how a point-in-polygon test guesses one.
    pub fn from_rings(polygons: Rings, field: &str) -> Result<Area, AreaError> {
        if polygons.is_empty() {
            return Err(AreaError::new(field, "has no polygon"));
        }
        let multi = polygons.len() > 1;
        let mut out = Vec::with_capacity(polygons.len());
        for (p, rings) in polygons.into_iter().enumerate() {
            let at = |r: usize| match (multi, r) {
                (true, 0) => format!("polygon {p}, exterior ring"),
                (true, r) => format!("polygon {p}, hole {}", r - 1),
                (false, 0) => "the exterior ring".to_string(),
                (false, r) => format!("hole {}", r - 1),
            };
            if rings.is_empty() {
                return Err(AreaError::new(field, format!("polygon {p} has no ring")));
            }
            let mut lines = Vec::with_capacity(rings.len());
            for (r, ring) in rings.into_iter().enumerate() {
                if ring.len() < 4 {
                    return Err(AreaError::new(
                        field,
                        format!(
                            "{} has {} positions; a ring needs at least 4",
                            at(r),
                            ring.len()
                        ),
                    ));
                }
                if let Some((i, c)) = ring.iter().enumerate().find(|(_, c)| {
                    !(c[0].is_finite()
                        && c[1].is_finite()
                        && (-180.0..=180.0).contains(&c[0])
                        && (-90.0..=90.0).contains(&c[1]))
                }) {
                    return Err(AreaError::new(
                        field,
                        format!(
                            "{} position {i} ({}, {}) is not a longitude and latitude (CRS84)",
                            at(r),
                            c[0],
                            c[1]
                        ),
                    ));
                }
                if ring.first() != ring.last() {
                    return Err(AreaError::new(
                        field,
                        format!(
                            "{} is not closed: its last position must repeat its first",
                            at(r)
                        ),
                    ));
                }
                lines.push(LineString::from(
                    ring.iter()
                        .map(|c| Coord { x: c[0], y: c[1] })
                        .collect::<Vec<_>>(),
                ));
            }
            let exterior = lines.remove(0);
            out.push(Polygon::new(exterior, lines));
        }
        let multi = MultiPolygon(out);
        if let Err(why) = multi.check_validation() {
            return Err(AreaError::new(field, format!("not a valid polygon: {why}")));
        }
        Ok(Area::of_polygons(vec![multi]))
    }

    /// The cells of JIS X 0410 `codes`, of any levels (80 km … 125 m), each
    /// as its digits. A code that is not one is refused, naming
    /// `field[i]`.
    pub fn mesh(codes: &[String], field: &str) -> Result<Area, AreaError> {
        if codes.is_empty() {
            return Err(AreaError::new(field, "names no mesh code"));
        }
        let mut by_level: Vec<(MeshLevel, FxHashSet<u64>)> = Vec::new();
        let mut extent: Option<Rect<f64>> = None;
        for (i, text) in codes.iter().enumerate() {
            let bad = || {
                AreaError::new(
                    format!("{field}[{i}]"),
                    format!(
                        "'{text}' is not a JIS X 0410 mesh code (4 to 11 digits, e.g. 53394611)"
                    ),
                )
            };
            // Digits only, without a leading zero that would make another
            // level's code of the same number.
            if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.starts_with('0')
            {
                return Err(bad());
            }
            let code: u64 = text.parse().map_err(|_| bad())?;
            let (Some(level), Some(cell)) = (mesh::level_of(code), mesh::cell(code)) else {
                return Err(bad());
            };
            match by_level.iter_mut().find(|(l, _)| *l == level) {
                Some((_, set)) => {
                    set.insert(code);
                }
                None => by_level.push((level, FxHashSet::from_iter([code]))),
            }
            extent = Some(match extent {
                None => cell,
                Some(e) => union(e, cell),
            });
        }
        by_level.sort_by_key(|(l, _)| *l);
        let extent = extent.ok_or_else(|| AreaError::new(field, "names no mesh code"))?;
        Ok(Area {
            shape: Shape::Mesh(by_level),
            extent,
        })
    }

    /// The polygons among `rows` of `layer` (a collection of 町丁目, the
    /// cells of an aggregate): refused, naming `field`, when none of them
    /// is a polygon.
    pub fn polygons_of(layer: &Layer, rows: &[u32], field: &str) -> Result<Area, AreaError> {
        let polygons: Vec<MultiPolygon<f64>> = match &layer.geometries {
            Geometries::Points(_) => Vec::new(),
            Geometries::Shapes(shapes) => rows
                .iter()
                .filter_map(|&r| match &shapes[r as usize] {
                    geo::Geometry::Polygon(p) => Some(MultiPolygon(vec![p.clone()])),
                    geo::Geometry::MultiPolygon(m) if !m.0.is_empty() => Some(m.clone()),
                    geo::Geometry::Rect(r) => Some(MultiPolygon(vec![r.to_polygon()])),
                    _ => None,
                })
                .collect(),
        };
        if polygons.is_empty() {
            return Err(AreaError::new(
                field,
                format!("no feature of '{}' picked is a polygon", layer.meta.id),
            ));
        }
        Ok(Area::of_polygons(polygons))
    }

    fn of_polygons(polygons: Vec<MultiPolygon<f64>>) -> Area {
        let extent = extent(&polygons);
        Area {
            shape: Shape::Polygons {
                grid: PolygonGrid::new(&polygons, GRID_RESOLUTION),
                count: polygons.len(),
            },
            extent,
        }
    }

    /// Whether the point (`lon`, `lat`) is in the area.
    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        match &self.shape {
            Shape::Polygons { grid, .. } => {
                let mut hits = Vec::new();
                grid.containing(lon, lat, &mut hits);
                !hits.is_empty()
            }
            Shape::Mesh(levels) => levels.iter().any(|(level, codes)| {
                mesh::code(lon, lat, *level).is_some_and(|c| codes.contains(&c))
            }),
        }
    }

    /// The rows of `layer` whose feature is in the area, in row order: a
    /// point layer's points; any other feature by a point on it (the one
    /// the CSV of items writes).
    pub fn select(&self, layer: &Layer) -> Vec<u32> {
        let candidates = layer.rows_in_bbox(self.extent);
        match &layer.geometries {
            Geometries::Points(points) => candidates
                .into_iter()
                .filter(|&r| {
                    let p = points[r as usize];
                    self.contains(p[0], p[1])
                })
                .collect(),
            Geometries::Shapes(shapes) => candidates
                .into_iter()
                .filter(|&r| {
                    shapes[r as usize]
                        .interior_point()
                        .is_some_and(|p| self.contains(p.x(), p.y()))
                })
                .collect(),
        }
    }

    /// A short description for logs: how many polygons or which cells.
    pub fn describe(&self) -> String {
        match &self.shape {
            Shape::Polygons { count, .. } => format!("{count} polygon(s)"),
            Shape::Mesh(levels) => {
                let mut codes: Vec<u64> =
                    levels.iter().flat_map(|(_, c)| c.iter().copied()).collect();
                codes.sort_unstable();
                const SHOWN: usize = 8;
                let mut text = codes
                    .iter()
                    .take(SHOWN)
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(",");
                if codes.len() > SHOWN {
                    text.push_str(&format!(",… ({} cells)", codes.len()));
                }
                format!("mesh {text}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<[f64; 2]> {
        vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    }

    #[test]
    fn a_polygon_with_a_hole_leaves_the_hole_out() {
        let area = Area::from_rings(
            vec![vec![square(0.0, 0.0, 4.0, 4.0), square(1.0, 1.0, 2.0, 2.0)]],
            "area.polygon",
        )
        .unwrap();
        assert!(area.contains(0.5, 0.5));
        assert!(!area.contains(1.5, 1.5), "inside the hole");
        assert!(area.contains(3.0, 3.0));
        assert!(!area.contains(5.0, 1.0));
    }

    #[test]
    fn bad_polygons_are_refused_naming_the_field() {
        let bow_tie = vec![vec![vec![
            [0.0, 0.0],
            [1.0, 1.0],
            [1.0, 0.0],
            [0.0, 1.0],
            [0.0, 0.0],
        ]]];
        let open = vec![vec![vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]]];
        let short = vec![vec![vec![[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]]];
        let off_earth = vec![vec![square(0.0, 0.0, 200.0, 1.0)]];
        let hole_outside = vec![vec![square(0.0, 0.0, 1.0, 1.0), square(2.0, 2.0, 3.0, 3.0)]];
        for (rings, says) in [
            (bow_tie, "self-intersection"),
            (open, "not closed"),
            (short, "at least 4"),
            (off_earth, "longitude and latitude"),
            (hole_outside, "not a valid polygon"),
            (vec![], "no polygon"),
        ] {
            let e = Area::from_rings(rings, "area.polygon").unwrap_err();
            assert_eq!(e.field, "area.polygon");
            assert!(e.reason.contains(says), "{e}");
        }
    }

    #[test]
    fn mesh_codes_are_checked_one_by_one() {
        let codes = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let area = Area::mesh(&codes(&["53394611", "533946114"]), "area.mesh").unwrap();
        let cell = mesh::cell(53394611).unwrap();
        let centre = cell.center();
        assert!(area.contains(centre.x, centre.y));
        assert!(!area.contains(cell.max().x + 1e-4, centre.y));
        for (bad, index) in [
            (codes(&["53394611", "5339465"]), 1), // 5 km codes end in 1–4
            (codes(&["53394611", "12"]), 1),
            (codes(&["053394611"]), 0),
            (codes(&["5339461x"]), 0),
            (codes(&["53394611", "53398011"]), 1), // 第2次 digits run 0–7
        ] {
            let e = Area::mesh(&bad, "area.mesh").unwrap_err();
            assert_eq!(e.field, format!("area.mesh[{index}]"), "{bad:?}: {e}");
        }
        assert!(Area::mesh(&[], "area.mesh").is_err());
    }

    #[test]
    fn a_point_on_a_cell_edge_belongs_to_the_cell_north_of_it() {
        let cell = mesh::cell(5339464033).unwrap();
        let area = Area::mesh(&["5339464033".to_string()], "area.mesh").unwrap();
        let x = cell.center().x;
        // As the aggregates to meshes count it: the south edge is in, the
        // north edge belongs to the next cell.
        assert_eq!(
            area.contains(x, cell.min().y),
            mesh::code(x, cell.min().y, MeshLevel::M250m) == Some(5339464033)
        );
        assert_eq!(
            area.contains(x, cell.max().y),
            mesh::code(x, cell.max().y, MeshLevel::M250m) == Some(5339464033)
        );
    }
}
