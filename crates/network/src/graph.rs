//! The walking network: a petgraph undirected graph whose nodes are the
//! vertices lines share (after merging vertices within a tolerance) and the
//! lines' ends, and whose edges are the stretches of line between them,
//! weighted by their length in metres.

use chiiki_core::layers::{Geometries, Layer};
use petgraph::graph::{EdgeIndex, NodeIndex, UnGraph};
use petgraph::unionfind::UnionFind;
use rstar::primitives::{GeomWithData, Line};
use rstar::RTree;
use std::collections::HashMap;

/// A local metric plane (metres east and north of a centre), with the
/// GRS80 scales at the centre's latitude: the formula of the query floor's
/// `LocalPlane`, here one plane for the whole network.
#[derive(Debug, Clone, Copy)]
pub struct Plane {
    lon0: f64,
    lat0: f64,
    kx: f64,
    ky: f64,
}

impl Plane {
    /// The plane centred on (`lon`, `lat`).
    pub fn at(lon: f64, lat: f64) -> Plane {
        let (kx, ky) = chiiki_core::crs::metres_per_degree(lat);
        Plane {
            lon0: lon,
            lat0: lat,
            kx,
            ky,
        }
    }

    /// Metres east and north of the centre.
    #[inline]
    pub fn project(&self, p: [f64; 2]) -> [f64; 2] {
        [(p[0] - self.lon0) * self.kx, (p[1] - self.lat0) * self.ky]
    }

    /// Back to lon/lat.
    #[inline]
    pub fn unproject(&self, p: [f64; 2]) -> [f64; 2] {
        [p[0] / self.kx + self.lon0, p[1] / self.ky + self.lat0]
    }
}

/// An edge: its line in plane metres (from its first node to its second,
/// interior vertices kept) and its length.
#[derive(Debug, Clone)]
pub struct Edge {
    pub line: Vec<[f64; 2]>,
    pub metres: f64,
    /// The row of the layer it comes from.
    pub row: u32,
}

/// A segment of an edge, for snapping: its edge and where it starts along
/// the edge (metres).
pub(crate) type Segment = GeomWithData<Line<[f64; 2]>, (u32, f64)>;

/// The connected components of a network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Components {
    pub count: usize,
    /// The largest component's share of the network's length (0–1).
    pub largest_share: f64,
}

/// A walking network.
///
/// ```
/// use chiiki_network::Network;
/// // A street whose second half starts 0.3 m from where the first ends.
/// let lines = vec![
///     vec![[139.750, 35.700], [139.751, 35.700]],
///     vec![[139.751, 35.700003], [139.752, 35.700]],
/// ];
/// assert_eq!(Network::from_lines(&lines, 1.0).node_count(), 3);
/// assert_eq!(Network::from_lines(&lines, 0.1).node_count(), 4);
/// ```
pub struct Network {
    /// Node weights: positions in plane metres; edge weights: lengths.
    pub graph: UnGraph<[f64; 2], f64>,
    /// Edge `i`'s geometry, for edge index `i` of `graph`.
    pub edges: Vec<Edge>,
    pub plane: Plane,
    /// Vertices closer than this were merged (metres).
    pub tolerance: f64,
    pub(crate) segments: RTree<Segment>,
}

impl Network {
    /// The network of a layer of LineStrings / MultiLineStrings (lon/lat);
    /// other geometries are ignored.
    pub fn from_layer(layer: &Layer, tolerance: f64) -> Network {
        let mut lines = Vec::new();
        let mut rows = Vec::new();
        if let Geometries::Shapes(shapes) = &layer.geometries {
            for (row, g) in shapes.iter().enumerate() {
                let mut push = |l: &geo::LineString<f64>| {
                    lines.push(l.0.iter().map(|c| [c.x, c.y]).collect::<Vec<_>>());
                    rows.push(row as u32);
                };
                match g {
                    geo::Geometry::LineString(l) => push(l),
                    geo::Geometry::MultiLineString(m) => m.0.iter().for_each(push),
                    _ => {}
                }
            }
        }
        Network::build(&lines, &rows, tolerance)
    }

    /// The network of lines given as lon/lat vertices (row `i` is line `i`).
    pub fn from_lines(lines: &[Vec<[f64; 2]>], tolerance: f64) -> Network {
        let rows: Vec<u32> = (0..lines.len() as u32).collect();
        Network::build(lines, &rows, tolerance)
    }

    fn build(lines: &[Vec<[f64; 2]>], rows: &[u32], tolerance: f64) -> Network {
        let tolerance = tolerance.max(1e-6);
        let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
        for p in lines.iter().flatten() {
            for k in 0..2 {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        let plane = if lo[0].is_finite() {
            Plane::at((lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0)
        } else {
            Plane::at(0.0, 0.0)
        };
        // Vertices merged within the tolerance: each joins the first
        // representative within `tolerance` in its 3×3 cells, or becomes one.
        let mut cells: HashMap<(i64, i64), Vec<u32>> = HashMap::new();
        let mut reps: Vec<[f64; 2]> = Vec::new();
        let mut uses: Vec<u32> = Vec::new();
        let mut ends: Vec<bool> = Vec::new();
        let mut vertex_of = |p: [f64; 2]| -> u32 {
            let (cx, cy) = (
                (p[0] / tolerance).floor() as i64,
                (p[1] / tolerance).floor() as i64,
            );
            for dx in -1..=1 {
                for dy in -1..=1 {
                    if let Some(v) = cells.get(&(cx + dx, cy + dy)) {
                        for &r in v {
                            let q = reps[r as usize];
                            if (q[0] - p[0]).hypot(q[1] - p[1]) <= tolerance {
                                return r;
                            }
                        }
                    }
                }
            }
            let r = reps.len() as u32;
            reps.push(p);
            cells.entry((cx, cy)).or_default().push(r);
            r
        };
        let projected: Vec<Vec<[f64; 2]>> = lines
            .iter()
            .map(|l| l.iter().map(|&p| plane.project(p)).collect())
            .collect();
        let ids: Vec<Vec<u32>> = projected
            .iter()
            .map(|l| {
                let mut ids: Vec<u32> = l.iter().map(|&p| vertex_of(p)).collect();
                ids.dedup();
                ids
            })
            .collect();
        uses.resize(reps.len(), 0);
        ends.resize(reps.len(), false);
        for l in &ids {
            for &v in l {
                uses[v as usize] += 1;
            }
            if let (Some(&a), Some(&b)) = (l.first(), l.last()) {
                ends[a as usize] = true;
                ends[b as usize] = true;
            }
        }
        // Nodes: ends of lines and vertices used more than once.
        let mut graph: UnGraph<[f64; 2], f64> = UnGraph::default();
        let mut node_of: Vec<Option<NodeIndex>> = vec![None; reps.len()];
        let mut edges = Vec::new();
        for (li, l) in ids.iter().enumerate() {
            if l.len() < 2 {
                continue;
            }
            let mut node = |v: u32, graph: &mut UnGraph<[f64; 2], f64>| {
                *node_of[v as usize].get_or_insert_with(|| graph.add_node(reps[v as usize]))
            };
            let mut start = node(l[0], &mut graph);
            let mut line = vec![reps[l[0] as usize]];
            for &v in &l[1..] {
                line.push(reps[v as usize]);
                if ends[v as usize] || uses[v as usize] > 1 {
                    let end = node(v, &mut graph);
                    let metres = length(&line);
                    if start != end || metres > 0.0 {
                        graph.add_edge(start, end, metres);
                        edges.push(Edge {
                            line: std::mem::take(&mut line),
                            metres,
                            row: rows[li],
                        });
                    }
                    line = vec![reps[v as usize]];
                    start = end;
                }
            }
        }
        let segments = RTree::bulk_load(
            edges
                .iter()
                .enumerate()
                .flat_map(|(e, edge)| {
                    let mut along = 0.0;
                    edge.line.windows(2).map(move |w| {
                        let s = GeomWithData::new(Line::new(w[0], w[1]), (e as u32, along));
                        along += dist(w[0], w[1]);
                        s
                    })
                })
                .collect(),
        );
        Network {
            graph,
            edges,
            plane,
            tolerance,
            segments,
        }
    }

    pub fn node_count(&self) -> usize {
        self.graph.node_count()
    }

    pub fn edge_count(&self) -> usize {
        self.graph.edge_count()
    }

    /// Edge `e`'s two nodes (its line runs from the first to the second).
    pub fn ends(&self, e: u32) -> (NodeIndex, NodeIndex) {
        self.graph
            .edge_endpoints(EdgeIndex::new(e as usize))
            .expect("an edge of this network")
    }

    /// The total length of the network (metres).
    pub fn metres(&self) -> f64 {
        self.edges.iter().map(|e| e.metres).sum()
    }

    /// Each node's connected component, as a label (the index of one of
    /// its nodes): two nodes reach each other exactly when their labels are equal.
    pub fn component_labels(&self) -> Vec<usize> {
        let mut uf = UnionFind::<usize>::new(self.graph.node_count());
        for e in self.graph.edge_indices() {
            let (a, b) = self.graph.edge_endpoints(e).expect("edge");
            uf.union(a.index(), b.index());
        }
        uf.into_labeling()
    }

    /// How many connected components, and the largest's share of the length.
    pub fn components(&self) -> Components {
        let label = self.component_labels();
        let mut length: HashMap<usize, f64> = HashMap::new();
        for &l in &label {
            length.entry(l).or_insert(0.0);
        }
        for (e, edge) in self.edges.iter().enumerate() {
            let (a, _) = self.ends(e as u32);
            *length.entry(label[a.index()]).or_insert(0.0) += edge.metres;
        }
        let total = self.metres();
        let largest = length.values().copied().fold(0.0, f64::max);
        Components {
            count: length.len(),
            largest_share: if total > 0.0 { largest / total } else { 0.0 },
        }
    }
}

pub(crate) fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

fn length(line: &[[f64; 2]]) -> f64 {
    line.windows(2).map(|w| dist(w[0], w[1])).sum()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An `n`×`n` grid of streets `step` degrees apart, each street one line.
    pub(crate) fn grid(n: usize, step: f64) -> Vec<Vec<[f64; 2]>> {
        let (x0, y0) = (139.75, 35.70);
        let mut lines = Vec::new();
        for i in 0..n {
            let c = i as f64 * step;
            let along = |k: usize| k as f64 * step;
            lines.push((0..n).map(|k| [x0 + along(k), y0 + c]).collect());
            lines.push((0..n).map(|k| [x0 + c, y0 + along(k)]).collect());
        }
        lines
    }

    #[test]
    fn a_grid_has_a_node_at_every_crossing() {
        let net = Network::from_lines(&grid(4, 0.001), 1.0);
        assert_eq!(net.node_count(), 16);
        // 4 streets × 3 blocks, both ways.
        assert_eq!(net.edge_count(), 24);
        let c = net.components();
        assert_eq!(c.count, 1);
        assert!((c.largest_share - 1.0).abs() < 1e-12);
        // 12 blocks of ≈ 90.5 m east–west and 12 of ≈ 110.9 m north–south.
        let m = net.metres();
        assert!((m - 12.0 * (90.5 + 110.9)).abs() < 12.0, "{m}");
    }

    #[test]
    fn interior_vertices_stay_edge_geometry() {
        let lines = vec![vec![
            [139.750, 35.700],
            [139.7505, 35.7003],
            [139.751, 35.700],
        ]];
        let net = Network::from_lines(&lines, 1.0);
        assert_eq!((net.node_count(), net.edge_count()), (2, 1));
        assert_eq!(net.edges[0].line.len(), 3);
        assert!(net.edges[0].metres > dist(net.edges[0].line[0], net.edges[0].line[2]));
    }

    #[test]
    fn two_components_are_reported_with_the_largest_share() {
        let mut lines = grid(3, 0.001);
        // A lone street 1 km away, 0.001° of longitude ≈ 90.5 m.
        lines.push(vec![[139.80, 35.70], [139.801, 35.70]]);
        let net = Network::from_lines(&lines, 1.0);
        let c = net.components();
        assert_eq!(c.count, 2);
        let total = net.metres();
        assert!(
            (c.largest_share - (total - net.edges.last().unwrap().metres) / total).abs() < 1e-9
        );
    }

    #[test]
    fn near_coincident_vertices_merge_within_the_tolerance() {
        // Two streets crossing, the second drawn 0.5 m off the first's vertex.
        let off = 0.5 / 110_900.0;
        let lines = vec![
            vec![[139.750, 35.700], [139.751, 35.700], [139.752, 35.700]],
            vec![
                [139.751, 35.699],
                [139.751, 35.700 + off],
                [139.751, 35.701],
            ],
        ];
        let merged = Network::from_lines(&lines, 1.0);
        assert_eq!((merged.node_count(), merged.edge_count()), (5, 4));
        assert_eq!(merged.components().count, 1);
        let apart = Network::from_lines(&lines, 0.25);
        assert_eq!(apart.components().count, 2);
        assert_eq!((apart.node_count(), apart.edge_count()), (4, 2));
    }
}
