//! Layers: a named set of features with typed attribute columns, held in
//! memory in spatial (Hilbert) order with an R-tree, and persisted as
//! GeoParquet.
//!
//! Rows are kept in Hilbert order of their bounding-box centres, so features
//! that are near on the map are near in memory: a bbox query touches a few
//! contiguous runs of rows instead of scattering over the whole layer.

pub mod column;

use geo::{BoundingRect, Intersects, Rect};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};
use serde::{Deserialize, Serialize};

pub use column::{Column, ColumnData, FieldType, Value};

/// Who may read a layer. Admins read everything; `public` layers need no token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Access {
    #[serde(default)]
    pub public: bool,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// What chiiki knows about a layer beyond its rows; persisted with it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LayerMeta {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Where the rows came from (file name and driver), for provenance.
    #[serde(default)]
    pub source: String,
    /// The CRS the source was in, as detected or given.
    #[serde(default)]
    pub source_crs: String,
    #[serde(default)]
    pub attribution: String,
    /// The source attribute that became the feature id, if any.
    #[serde(default)]
    pub id_field: Option<String>,
    /// The attribute `datetime` filters on.
    #[serde(default)]
    pub time_field: Option<String>,
    #[serde(default)]
    pub access: Access,
    /// RFC 3339 time of the import.
    #[serde(default)]
    pub imported_at: String,
    /// Identifies the source files' state, so re-imports of unchanged data can be skipped.
    #[serde(default)]
    pub fingerprint: String,
    /// Whether the features are people, and which attributes are personal.
    #[serde(default)]
    pub privacy: crate::sensitivity::Privacy,
    /// Labels of columns where they differ from what `privacy` implies
    /// ([`Layer::label`] gives every column's).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, crate::sensitivity::Label>,
    /// Set when the features were picked by a filter on an identifier (a
    /// name, a 住民票コード): what picked them. Such a selection singles
    /// people out, so it may never be counted into an aggregate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picked_by_identifier: Option<String>,
}

/// Geometries of a layer. Pure point layers are stored as bare coordinates:
/// 16 bytes a feature instead of a 56-byte geometry enum.
#[derive(Debug, Clone)]
pub enum Geometries {
    Points(Vec<[f64; 2]>),
    Shapes(Vec<geo::Geometry<f64>>),
}

impl Geometries {
    pub fn from_geometries(geoms: Vec<geo::Geometry<f64>>) -> Geometries {
        if !geoms.is_empty() && geoms.iter().all(|g| matches!(g, geo::Geometry::Point(_))) {
            Geometries::Points(
                geoms
                    .iter()
                    .map(|g| match g {
                        geo::Geometry::Point(p) => [p.x(), p.y()],
                        _ => unreachable!("checked above"),
                    })
                    .collect(),
            )
        } else {
            Geometries::Shapes(geoms)
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Geometries::Points(p) => p.len(),
            Geometries::Shapes(s) => s.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, row: usize) -> geo::Geometry<f64> {
        match self {
            Geometries::Points(p) => geo::Geometry::Point(geo::Point::new(p[row][0], p[row][1])),
            Geometries::Shapes(s) => s[row].clone(),
        }
    }

    fn bounds(&self, row: usize) -> Option<Rect<f64>> {
        match self {
            Geometries::Points(p) => {
                let c = geo::coord! { x: p[row][0], y: p[row][1] };
                Some(Rect::new(c, c))
            }
            Geometries::Shapes(s) => s[row].bounding_rect(),
        }
    }

    /// The geometries of `rows`, in that order.
    pub fn pick(&self, rows: &[u32]) -> Geometries {
        match self {
            Geometries::Points(p) => {
                Geometries::Points(rows.iter().map(|&r| p[r as usize]).collect())
            }
            Geometries::Shapes(s) => {
                Geometries::Shapes(rows.iter().map(|&r| s[r as usize].clone()).collect())
            }
        }
    }

    fn permute(self, order: &[u32]) -> Geometries {
        match self {
            Geometries::Points(p) => {
                Geometries::Points(order.iter().map(|&i| p[i as usize]).collect())
            }
            Geometries::Shapes(mut s) => Geometries::Shapes(
                order
                    .iter()
                    .map(|&i| {
                        std::mem::replace(
                            &mut s[i as usize],
                            geo::Geometry::Point(geo::Point::new(0.0, 0.0)),
                        )
                    })
                    .collect(),
            ),
        }
    }

    /// The GeoJSON / OGC geometry type name, "Geometry" when mixed.
    pub fn type_name(&self) -> &'static str {
        fn name(g: &geo::Geometry<f64>) -> &'static str {
            match g {
                geo::Geometry::Point(_) => "Point",
                geo::Geometry::MultiPoint(_) => "MultiPoint",
                geo::Geometry::LineString(_) | geo::Geometry::Line(_) => "LineString",
                geo::Geometry::MultiLineString(_) => "MultiLineString",
                geo::Geometry::Polygon(_) | geo::Geometry::Rect(_) | geo::Geometry::Triangle(_) => {
                    "Polygon"
                }
                geo::Geometry::MultiPolygon(_) => "MultiPolygon",
                geo::Geometry::GeometryCollection(_) => "GeometryCollection",
            }
        }
        match self {
            Geometries::Points(_) => "Point",
            Geometries::Shapes(s) => {
                let mut names = s.iter().map(name);
                let first = names.next().unwrap_or("Geometry");
                if names.all(|n| n == first) {
                    first
                } else {
                    "Geometry"
                }
            }
        }
    }
}

/// Rows of a point layer are indexed in blocks of this many consecutive
/// (Hilbert-ordered, so spatially compact) rows.
const POINT_BLOCK: usize = 64;

enum SpatialIndex {
    /// R-tree over the bounding boxes of blocks of [`POINT_BLOCK`] rows: a
    /// packed Hilbert R-tree. A tenth of the memory of one entry per point,
    /// and queries scan contiguous rows.
    PointBlocks(RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>),
    /// R-tree over the bounding box of each feature.
    Boxes(RTree<GeomWithData<Rectangle<[f64; 2]>, u32>>),
}

/// The parts a layer is made of, before it is indexed.
pub struct LayerParts {
    pub meta: LayerMeta,
    pub fids: Vec<i64>,
    pub geometries: Geometries,
    pub columns: Vec<Column>,
}

/// A layer ready to answer queries.
pub struct Layer {
    pub meta: LayerMeta,
    /// Feature id of each row.
    pub fids: Vec<i64>,
    pub geometries: Geometries,
    pub columns: Vec<Column>,
    index: SpatialIndex,
    /// Rows sorted by their fid, for lookups by id.
    rows_by_fid: Vec<u32>,
    /// Bounding box of all features in storage lon/lat, `None` when empty.
    pub extent: Option<Rect<f64>>,
    time_column: Option<usize>,
    /// The people's own ids, when `fids` are pseudonyms (a role that may not
    /// see 住民票コード gets those): what the audit log records.
    pub record_ids: Option<Vec<i64>>,
}

impl Layer {
    /// Sorts the rows into spatial order and indexes them.
    pub fn new(parts: LayerParts) -> Layer {
        let order = hilbert_order(&parts.geometries);
        let sorted = LayerParts {
            fids: order.iter().map(|&i| parts.fids[i as usize]).collect(),
            columns: parts.columns.iter().map(|c| c.permute(&order)).collect(),
            geometries: parts.geometries.permute(&order),
            meta: parts.meta,
        };
        Layer::from_sorted(sorted)
    }

    /// Indexes rows that are already in spatial order (as stored on disk).
    pub fn from_sorted(parts: LayerParts) -> Layer {
        let LayerParts {
            meta,
            fids,
            geometries,
            columns,
        } = parts;
        let index = match &geometries {
            Geometries::Points(p) => SpatialIndex::PointBlocks(RTree::bulk_load(
                p.chunks(POINT_BLOCK)
                    .enumerate()
                    .map(|(block, pts)| {
                        let mut lo = pts[0];
                        let mut hi = pts[0];
                        for c in pts {
                            lo = [lo[0].min(c[0]), lo[1].min(c[1])];
                            hi = [hi[0].max(c[0]), hi[1].max(c[1])];
                        }
                        GeomWithData::new(Rectangle::from_corners(lo, hi), block as u32)
                    })
                    .collect(),
            )),
            Geometries::Shapes(s) => SpatialIndex::Boxes(RTree::bulk_load(
                s.iter()
                    .enumerate()
                    .filter_map(|(i, g)| {
                        let r = g.bounding_rect()?;
                        Some(GeomWithData::new(
                            Rectangle::from_corners(r.min().into(), r.max().into()),
                            i as u32,
                        ))
                    })
                    .collect(),
            )),
        };
        let mut rows_by_fid: Vec<u32> = (0..fids.len() as u32).collect();
        rows_by_fid.sort_unstable_by_key(|&r| fids[r as usize]);
        let extent = (0..geometries.len())
            .filter_map(|i| geometries.bounds(i))
            .reduce(|a, b| {
                Rect::new(
                    geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
                    geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
                )
            });
        let time_column = meta
            .time_field
            .as_ref()
            .and_then(|f| columns.iter().position(|c| &c.name == f));
        Layer {
            meta,
            fids,
            geometries,
            columns,
            index,
            rows_by_fid,
            extent,
            time_column,
            record_ids: None,
        }
    }

    pub fn len(&self) -> usize {
        self.fids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fids.is_empty()
    }

    pub fn column(&self, name: &str) -> Option<(usize, &Column)> {
        self.columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.name == name)
    }

    /// The disclosure label of column `name`: the layer's own, else what its
    /// privacy implies.
    pub fn label(&self, name: &str) -> crate::sensitivity::Label {
        self.meta
            .labels
            .get(name)
            .copied()
            .unwrap_or_else(|| self.meta.privacy.default_label(name))
    }

    pub fn time_column(&self) -> Option<&Column> {
        self.time_column.map(|i| &self.columns[i])
    }

    /// The row of feature `fid`.
    pub fn row_of(&self, fid: i64) -> Option<usize> {
        self.rows_by_fid
            .binary_search_by_key(&fid, |&r| self.fids[r as usize])
            .ok()
            .map(|i| self.rows_by_fid[i] as usize)
    }

    /// Rows whose geometry intersects `bbox` (storage lon/lat), in row order,
    /// so paging through them is stable.
    pub fn rows_in_bbox(&self, bbox: Rect<f64>) -> Vec<u32> {
        let envelope =
            AABB::from_corners([bbox.min().x, bbox.min().y], [bbox.max().x, bbox.max().y]);
        let mut rows: Vec<u32> = match &self.index {
            SpatialIndex::PointBlocks(tree) => {
                let Geometries::Points(points) = &self.geometries else {
                    unreachable!("block index is built for points only")
                };
                let (x0, y0, x1, y1) = (bbox.min().x, bbox.min().y, bbox.max().x, bbox.max().y);
                let mut blocks: Vec<u32> = tree
                    .locate_in_envelope_intersecting(&envelope)
                    .map(|b| b.data)
                    .collect();
                blocks.sort_unstable();
                let mut rows = Vec::new();
                for block in blocks {
                    let start = block as usize * POINT_BLOCK;
                    let end = (start + POINT_BLOCK).min(points.len());
                    for (i, p) in points[start..end].iter().enumerate() {
                        if p[0] >= x0 && p[0] <= x1 && p[1] >= y0 && p[1] <= y1 {
                            rows.push((start + i) as u32);
                        }
                    }
                }
                return rows;
            }
            SpatialIndex::Boxes(tree) => {
                let Geometries::Shapes(shapes) = &self.geometries else {
                    unreachable!("box index is built for shapes only")
                };
                tree.locate_in_envelope_intersecting(&envelope)
                    .filter(|b| {
                        // A box wholly inside the query needs no exact test.
                        let lo = b.geom().lower();
                        let hi = b.geom().upper();
                        let inside = lo[0] >= bbox.min().x
                            && lo[1] >= bbox.min().y
                            && hi[0] <= bbox.max().x
                            && hi[1] <= bbox.max().y;
                        inside || shapes[b.data as usize].intersects(&bbox)
                    })
                    .map(|b| b.data)
                    .collect()
            }
        };
        rows.sort_unstable();
        rows
    }

    /// Approximate heap memory held by the layer, for benchmarks and logs.
    pub fn heap_bytes(&self) -> usize {
        let geoms = match &self.geometries {
            Geometries::Points(p) => p.capacity() * 16,
            Geometries::Shapes(s) => {
                use geo::CoordsIter;
                s.capacity() * std::mem::size_of::<geo::Geometry<f64>>()
                    + s.iter().map(|g| g.coords_count() * 16).sum::<usize>()
            }
        };
        let index = match &self.index {
            SpatialIndex::PointBlocks(t) | SpatialIndex::Boxes(t) => {
                // Each entry sits in a node enum with its parent's bookkeeping.
                t.size() * 2 * std::mem::size_of::<GeomWithData<Rectangle<[f64; 2]>, u32>>()
            }
        };
        geoms
            + index
            + self.fids.capacity() * 8
            + self.rows_by_fid.capacity() * 4
            + self.columns.iter().map(Column::heap_bytes).sum::<usize>()
    }
}

/// Row order along a Hilbert curve over the layer's extent.
fn hilbert_order(geoms: &Geometries) -> Vec<u32> {
    let n = geoms.len();
    let centres: Vec<Option<(f64, f64)>> = (0..n)
        .map(|i| geoms.bounds(i).map(|r| (r.center().x, r.center().y)))
        .collect();
    let (mut minx, mut miny, mut maxx, mut maxy) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (x, y) in centres.iter().flatten() {
        minx = minx.min(*x);
        miny = miny.min(*y);
        maxx = maxx.max(*x);
        maxy = maxy.max(*y);
    }
    let scale = |v: f64, lo: f64, hi: f64| -> u32 {
        if hi > lo {
            (((v - lo) / (hi - lo)) * 65535.0) as u32
        } else {
            0
        }
    };
    let mut keyed: Vec<(u64, u32)> = centres
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let key = c.map_or(u64::MAX, |(x, y)| {
                fast_hilbert::xy2h(scale(x, minx, maxx), scale(y, miny, maxy), 16)
            });
            (key, i as u32)
        })
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point_layer(points: &[(f64, f64)]) -> Layer {
        let mut name = Column::new("name", FieldType::Text);
        for i in 0..points.len() {
            name.push(Value::Text(format!("p{i}"))).unwrap();
        }
        Layer::new(LayerParts {
            meta: LayerMeta::default(),
            fids: (0..points.len() as i64).map(|i| i * 10).collect(),
            geometries: Geometries::Points(points.iter().map(|&(x, y)| [x, y]).collect()),
            columns: vec![name],
        })
    }

    #[test]
    fn bbox_query_matches_brute_force_after_spatial_sort() {
        let pts: Vec<(f64, f64)> = (0..2000)
            .map(|i| {
                let t = i as f64;
                (
                    139.7 + (t * 0.618).fract() * 0.1,
                    35.7 + (t * 0.382).fract() * 0.05,
                )
            })
            .collect();
        let layer = point_layer(&pts);
        let bbox = Rect::new(
            geo::coord! {x: 139.72, y: 35.71},
            geo::coord! {x: 139.75, y: 35.73},
        );
        let got: Vec<i64> = layer
            .rows_in_bbox(bbox)
            .iter()
            .map(|&r| layer.fids[r as usize])
            .collect();
        let mut want: Vec<i64> = pts
            .iter()
            .enumerate()
            .filter(|(_, (x, y))| *x >= 139.72 && *x <= 139.75 && *y >= 35.71 && *y <= 35.73)
            .map(|(i, _)| i as i64 * 10)
            .collect();
        let mut got_sorted = got.clone();
        got_sorted.sort();
        want.sort();
        assert_eq!(got_sorted, want);
        assert!(!want.is_empty());
        // Attributes follow their rows through the sort.
        let row = layer.row_of(1230).unwrap();
        assert_eq!(layer.columns[0].get(row), Value::Text("p123".into()));
        assert_eq!(
            layer.geometries.get(row),
            geo::Geometry::Point(pts[123].into())
        );
    }

    #[test]
    fn polygon_bbox_uses_exact_intersection() {
        // An L-shaped polygon whose bounding box covers the query but whose area does not.
        let poly: geo::Polygon<f64> = geo::Polygon::new(
            geo::LineString::from(vec![
                (0.0, 0.0),
                (10.0, 0.0),
                (10.0, 1.0),
                (1.0, 1.0),
                (1.0, 10.0),
                (0.0, 10.0),
                (0.0, 0.0),
            ]),
            vec![],
        );
        let layer = Layer::new(LayerParts {
            meta: LayerMeta::default(),
            fids: vec![1],
            geometries: Geometries::Shapes(vec![poly.into()]),
            columns: vec![],
        });
        let outside = Rect::new(geo::coord! {x: 5.0, y: 5.0}, geo::coord! {x: 6.0, y: 6.0});
        let touching = Rect::new(geo::coord! {x: 5.0, y: 0.5}, geo::coord! {x: 6.0, y: 6.0});
        assert!(layer.rows_in_bbox(outside).is_empty());
        assert_eq!(layer.rows_in_bbox(touching), vec![0]);
    }
}
