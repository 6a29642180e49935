//! A grid over a set of polygons for point-in-polygon joins.
//!
//! The polygons' extent is cut into cells. For every cell the grid knows
//! which polygons cover it wholly and, for polygons whose boundary crosses
//! it, only the few edges inside it together with whether the cell's centre
//! is inside. A point then needs no R-tree walk and no full polygon test: its
//! cell answers at once for the polygons that cover it, and for the others a
//! segment from the point to the cell centre is tested against a handful of
//! edges (the point is inside when that segment crosses the boundary an even
//! number of times and the centre is inside, or an odd number of times and
//! the centre is outside).
//!
//! ```
//! use geo::{polygon, MultiPolygon};
//! use chiiki_analysis::polygon_grid::PolygonGrid;
//! let square = polygon![(x: 0.0, y: 0.0), (x: 2.0, y: 0.0), (x: 2.0, y: 2.0), (x: 0.0, y: 2.0)];
//! let grid = PolygonGrid::new(&[MultiPolygon(vec![square])], 16);
//! let mut hits = Vec::new();
//! grid.containing(1.0, 1.0, &mut hits);
//! assert_eq!(hits, vec![0]);
//! hits.clear();
//! grid.containing(3.0, 1.0, &mut hits);
//! assert!(hits.is_empty());
//! ```

use geo::{BoundingRect, Coord, LineString, MultiPolygon, Rect};

/// One polygon's boundary crossing one cell.
#[derive(Debug, Clone, Copy)]
struct Crossing {
    polygon: u32,
    /// Whether the cell's centre is inside the polygon.
    centre_inside: bool,
    /// Range of this crossing's edges in `PolygonGrid::edges`.
    first_edge: u32,
    edge_count: u32,
}

#[derive(Debug, Clone)]
pub struct PolygonGrid {
    extent: Rect<f64>,
    columns: usize,
    rows: usize,
    cell_w: f64,
    cell_h: f64,
    /// Per cell: range into `covering`.
    covering_start: Vec<u32>,
    covering: Vec<u32>,
    /// Per cell: range into `crossings`.
    crossing_start: Vec<u32>,
    crossings: Vec<Crossing>,
    /// Edges as (x1, y1, x2, y2).
    edges: Vec<[f64; 4]>,
}

/// Every ring of a polygon set, as edges.
fn rings(mp: &MultiPolygon<f64>) -> impl Iterator<Item = &LineString<f64>> {
    mp.0.iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
}

/// x positions where the horizontal line at `y` crosses the rings (half-open
/// rule, so a vertex on the line counts once), sorted.
fn scanline(mp: &MultiPolygon<f64>, y: f64, out: &mut Vec<f64>) {
    out.clear();
    for ring in rings(mp) {
        for l in ring.lines() {
            let (a, b) = (l.start, l.end);
            if (a.y <= y) != (b.y <= y) {
                out.push(a.x + (y - a.y) * (b.x - a.x) / (b.y - a.y));
            }
        }
    }
    out.sort_by(f64::total_cmp);
}

/// Whether `x` lies inside, given a sorted scanline.
fn inside_on_scanline(crossings: &[f64], x: f64) -> bool {
    crossings.partition_point(|&c| c <= x) % 2 == 1
}

impl PolygonGrid {
    /// Builds the grid over `polygons` with about `resolution` cells along the
    /// longer side of their extent.
    pub fn new(polygons: &[MultiPolygon<f64>], resolution: usize) -> PolygonGrid {
        let extent = extent(polygons);
        let resolution = resolution.max(1);
        let (w, h) = (extent.width().max(1e-12), extent.height().max(1e-12));
        let cell = w.max(h) / resolution as f64;
        let columns = ((w / cell).ceil() as usize).max(1);
        let rows = ((h / cell).ceil() as usize).max(1);
        let (cell_w, cell_h) = (w / columns as f64, h / rows as f64);
        let n = columns * rows;

        // Per cell, per polygon: covering, or the edges that cross it.
        let mut covering: Vec<Vec<u32>> = vec![Vec::new(); n];
        let mut crossing_edges: Vec<Vec<(u32, [f64; 4])>> = vec![Vec::new(); n];
        let mut touched = Vec::new();
        let mut line = Vec::new();
        for (k, mp) in polygons.iter().enumerate() {
            let k = k as u32;
            let Some(bb) = mp.bounding_rect() else {
                continue;
            };
            let col = |x: f64| {
                (((x - extent.min().x) / cell_w).floor().max(0.0) as usize).min(columns - 1)
            };
            let row =
                |y: f64| (((y - extent.min().y) / cell_h).floor().max(0.0) as usize).min(rows - 1);
            let (c0, c1, r0, r1) = (
                col(bb.min().x),
                col(bb.max().x),
                row(bb.min().y),
                row(bb.max().y),
            );
            // Cells each edge passes through (by its bounding box of cells,
            // then an exact segment–cell overlap test).
            touched.clear();
            for ring in rings(mp) {
                for l in ring.lines() {
                    let e = [l.start.x, l.start.y, l.end.x, l.end.y];
                    let (ec0, ec1) = (col(e[0].min(e[2])), col(e[0].max(e[2])));
                    let (er0, er1) = (row(e[1].min(e[3])), row(e[1].max(e[3])));
                    for r in er0..=er1 {
                        for c in ec0..=ec1 {
                            if segment_meets_cell(&e, self_cell(&extent, cell_w, cell_h, c, r)) {
                                touched.push((r * columns + c, e));
                            }
                        }
                    }
                }
            }
            touched.sort_by_key(|t| t.0);
            let mut crossed = vec![false; (c1 - c0 + 1) * (r1 - r0 + 1)];
            for &(cell_index, e) in &touched {
                let (r, c) = (cell_index / columns, cell_index % columns);
                crossed[(r - r0) * (c1 - c0 + 1) + (c - c0)] = true;
                crossing_edges[cell_index].push((k, e));
            }
            // Cells the boundary does not touch are wholly in or out: the
            // scanline through the row's centres decides.
            for r in r0..=r1 {
                let y = extent.min().y + (r as f64 + 0.5) * cell_h;
                scanline(mp, y, &mut line);
                for c in c0..=c1 {
                    if !crossed[(r - r0) * (c1 - c0 + 1) + (c - c0)] {
                        let x = extent.min().x + (c as f64 + 0.5) * cell_w;
                        if inside_on_scanline(&line, x) {
                            covering[r * columns + c].push(k);
                        }
                    }
                }
            }
        }

        // Flatten into ranges.
        let mut grid = PolygonGrid {
            extent,
            columns,
            rows,
            cell_w,
            cell_h,
            covering_start: Vec::with_capacity(n + 1),
            covering: Vec::new(),
            crossing_start: Vec::with_capacity(n + 1),
            crossings: Vec::new(),
            edges: Vec::new(),
        };
        for cell_index in 0..n {
            grid.covering_start.push(grid.covering.len() as u32);
            grid.covering.extend(&covering[cell_index]);
            grid.crossing_start.push(grid.crossings.len() as u32);
            let list = &mut crossing_edges[cell_index];
            list.sort_by_key(|(k, _)| *k);
            let (r, c) = (cell_index / columns, cell_index % columns);
            let centre = Coord {
                x: extent.min().x + (c as f64 + 0.5) * cell_w,
                y: extent.min().y + (r as f64 + 0.5) * cell_h,
            };
            let mut i = 0;
            while i < list.len() {
                let k = list[i].0;
                let start = grid.edges.len() as u32;
                while i < list.len() && list[i].0 == k {
                    grid.edges.push(list[i].1);
                    i += 1;
                }
                scanline(&polygons[k as usize], centre.y, &mut line);
                grid.crossings.push(Crossing {
                    polygon: k,
                    centre_inside: inside_on_scanline(&line, centre.x),
                    first_edge: start,
                    edge_count: grid.edges.len() as u32 - start,
                });
            }
        }
        grid.covering_start.push(grid.covering.len() as u32);
        grid.crossing_start.push(grid.crossings.len() as u32);
        grid
    }

    /// The cell index of a point, `None` outside the extent.
    #[inline]
    fn cell_of(&self, x: f64, y: f64) -> Option<usize> {
        let fx = (x - self.extent.min().x) / self.cell_w;
        let fy = (y - self.extent.min().y) / self.cell_h;
        if !(fx >= 0.0 && fy >= 0.0) {
            return None;
        }
        let (c, r) = (fx as usize, fy as usize);
        // A point on the far edge of the extent belongs to the last cell.
        let c = if c == self.columns && x <= self.extent.max().x {
            c - 1
        } else {
            c
        };
        let r = if r == self.rows && y <= self.extent.max().y {
            r - 1
        } else {
            r
        };
        (c < self.columns && r < self.rows).then_some(r * self.columns + c)
    }

    /// Pushes the indexes of the polygons containing (`x`, `y`) onto `out`.
    #[inline]
    pub fn containing(&self, x: f64, y: f64, out: &mut Vec<u32>) {
        let Some(cell) = self.cell_of(x, y) else {
            return;
        };
        let (a, b) = (
            self.covering_start[cell] as usize,
            self.covering_start[cell + 1] as usize,
        );
        out.extend_from_slice(&self.covering[a..b]);
        let (a, b) = (
            self.crossing_start[cell] as usize,
            self.crossing_start[cell + 1] as usize,
        );
        if a == b {
            return;
        }
        let (r, c) = (cell / self.columns, cell % self.columns);
        let cx = self.extent.min().x + (c as f64 + 0.5) * self.cell_w;
        let cy = self.extent.min().y + (r as f64 + 0.5) * self.cell_h;
        for crossing in &self.crossings[a..b] {
            let edges = &self.edges[crossing.first_edge as usize
                ..(crossing.first_edge + crossing.edge_count) as usize];
            let mut odd = false;
            for e in edges {
                if segments_cross([x, y, cx, cy], *e) {
                    odd = !odd;
                }
            }
            if odd != crossing.centre_inside {
                out.push(crossing.polygon);
            }
        }
    }

    /// Every (point, polygon) pair with the point inside the polygon, on all
    /// cores. Points are `[lon, lat]`; pairs come in point order.
    pub fn join(&self, points: &[[f64; 2]]) -> Vec<(u32, u32)> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = points.len().div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = points
                .chunks(chunk)
                .enumerate()
                .map(|(i, part)| {
                    s.spawn(move || {
                        let base = (i * chunk) as u32;
                        let mut pairs = Vec::with_capacity(part.len());
                        let mut hits = Vec::new();
                        for (j, p) in part.iter().enumerate() {
                            hits.clear();
                            self.containing(p[0], p[1], &mut hits);
                            for &k in &hits {
                                pairs.push((base + j as u32, k));
                            }
                        }
                        pairs
                    })
                })
                .collect();
            let mut out = Vec::new();
            for h in handles {
                out.extend(h.join().expect("join thread"));
            }
            out
        })
    }
}

fn self_cell(extent: &Rect<f64>, w: f64, h: f64, c: usize, r: usize) -> [f64; 4] {
    let x0 = extent.min().x + c as f64 * w;
    let y0 = extent.min().y + r as f64 * h;
    [x0, y0, x0 + w, y0 + h]
}

/// Whether segment `e` (x1, y1, x2, y2) meets the closed cell box.
fn segment_meets_cell(e: &[f64; 4], cell: [f64; 4]) -> bool {
    // Liang–Barsky clipping.
    let (x1, y1, dx, dy) = (e[0], e[1], e[2] - e[0], e[3] - e[1]);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, x1 - cell[0]),
        (dx, cell[2] - x1),
        (-dy, y1 - cell[1]),
        (dy, cell[3] - y1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return false;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                t0 = t0.max(t);
            } else {
                t1 = t1.min(t);
            }
            if t0 > t1 {
                return false;
            }
        }
    }
    true
}

#[inline]
fn orient(ax: f64, ay: f64, bx: f64, by: f64, cx: f64, cy: f64) -> f64 {
    (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)
}

/// Whether segments `s` and `e` cross. Touching at an end point of the edge
/// counts on one side only (the half-open rule on the edge's end), so a
/// crossing through a vertex shared by two edges is counted once.
#[inline]
fn segments_cross(s: [f64; 4], e: [f64; 4]) -> bool {
    let d1 = orient(e[0], e[1], e[2], e[3], s[0], s[1]);
    let d2 = orient(e[0], e[1], e[2], e[3], s[2], s[3]);
    if (d1 > 0.0) == (d2 > 0.0) {
        return false;
    }
    let d3 = orient(s[0], s[1], s[2], s[3], e[0], e[1]);
    let d4 = orient(s[0], s[1], s[2], s[3], e[2], e[3]);
    (d3 > 0.0) != (d4 > 0.0)
}

/// The smallest rectangle holding every polygon (a point at 0, 0 for none).
pub(crate) fn extent(polygons: &[MultiPolygon<f64>]) -> Rect<f64> {
    polygons
        .iter()
        .filter_map(|p| p.bounding_rect())
        .reduce(union)
        .unwrap_or(Rect::new(
            Coord { x: 0.0, y: 0.0 },
            Coord { x: 0.0, y: 0.0 },
        ))
}

/// The smallest rectangle holding both.
pub(crate) fn union(a: Rect<f64>, b: Rect<f64>) -> Rect<f64> {
    Rect::new(
        Coord {
            x: a.min().x.min(b.min().x),
            y: a.min().y.min(b.min().y),
        },
        Coord {
            x: a.max().x.max(b.max().x),
            y: a.max().y.max(b.max().y),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Contains, Point, Polygon};

    fn star(cx: f64, cy: f64, r: f64, n: usize) -> Polygon<f64> {
        let pts: Vec<(f64, f64)> = (0..2 * n)
            .map(|i| {
                let a = i as f64 * std::f64::consts::PI / n as f64;
                let rr = if i % 2 == 0 { r } else { r * 0.45 };
                (cx + rr * a.cos(), cy + rr * a.sin())
            })
            .collect();
        Polygon::new(LineString::from(pts), vec![])
    }

    #[test]
    fn agrees_with_geo_contains_on_stars_with_holes() {
        let mut polys = Vec::new();
        for i in 0..12 {
            let (cx, cy) = (
                139.70 + (i % 4) as f64 * 0.013,
                35.70 + (i / 4) as f64 * 0.011,
            );
            let mut outer = star(cx, cy, 0.012, 7 + i);
            if i % 3 == 0 {
                let hole = star(cx, cy, 0.003, 5);
                outer.interiors_push(hole.exterior().clone());
            }
            polys.push(MultiPolygon(vec![outer]));
        }
        for resolution in [1, 7, 64, 256] {
            let grid = PolygonGrid::new(&polys, resolution);
            let mut state = 12345u64;
            let mut rand = || {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 11) as f64 / (1u64 << 53) as f64
            };
            let mut hits = Vec::new();
            for _ in 0..20000 {
                let (x, y) = (139.68 + rand() * 0.08, 35.68 + rand() * 0.06);
                hits.clear();
                grid.containing(x, y, &mut hits);
                hits.sort();
                let expected: Vec<u32> = polys
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.contains(&Point::new(x, y)))
                    .map(|(k, _)| k as u32)
                    .collect();
                assert_eq!(hits, expected, "({x}, {y}) at resolution {resolution}");
            }
        }
    }
}
