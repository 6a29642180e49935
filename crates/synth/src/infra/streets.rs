//! The street graph: the edges of the Voronoi diagram of the 住居表示 blocks.
//!
//! A 街区 (block) of 住居表示 is by definition an area bounded by streets,
//! rivers or railways, and its ABR addresses sit inside it. The Voronoi
//! cell of a block's centroid is therefore a fair stand-in for the block,
//! and the cell edges — the lines halfway between neighbouring blocks —
//! for the streets between them. The graph is clipped to the ward.

use crate::error::{Result, SynthError};
use geo::Coord;
use spade::{DelaunayTriangulation, Point2, Triangulation};

use super::geom::{dist, lerp};
use super::ward::{Block, Ward};

/// Voronoi edges shorter than this are artefacts of nearly co-circular
/// block centroids, not streets: their ends are merged into one junction.
const MIN_EDGE_M: f64 = 4.0;

/// A street runs along the blocks it separates: the part of a Voronoi edge
/// further than this from them crosses open ground and is dropped. Without
/// it, 東大, 小石川植物園, 護国寺 or 六義園 would be crossed by long
/// parallel edges between the rows of blocks around them (and blocks more
/// than twice this apart get no street between them at all).
const MAX_STREET_REACH_M: f64 = 130.0;

/// Far-away sites around the ward that close the Voronoi cells of the
/// outermost blocks, so that every street inside the ward is a bounded edge.
const FRAME_MARGIN_M: f64 = 2_000.0;

pub struct Streets {
    /// Junctions, plane metres.
    pub nodes: Vec<Coord>,
    /// Street segments between two junctions (straight).
    pub edges: Vec<[usize; 2]>,
}

impl Streets {
    /// Incident edges of every node, in edge order.
    pub fn adjacency(&self) -> Vec<Vec<usize>> {
        let mut adj = vec![Vec::new(); self.nodes.len()];
        for (i, e) in self.edges.iter().enumerate() {
            adj[e[0]].push(i);
            adj[e[1]].push(i);
        }
        adj
    }

    pub fn length(&self, edge: usize) -> f64 {
        let [a, b] = self.edges[edge];
        dist(self.nodes[a], self.nodes[b])
    }
}

pub fn build(blocks: &[Block], ward: &Ward) -> Result<Streets> {
    let mut sites: Vec<Point2<f64>> = blocks
        .iter()
        .map(|b| Point2::new(b.pos.x, b.pos.y))
        .collect();
    let (mut minx, mut miny, mut maxx, mut maxy) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for s in &sites {
        minx = minx.min(s.x);
        miny = miny.min(s.y);
        maxx = maxx.max(s.x);
        maxy = maxy.max(s.y);
    }
    let (cx, cy) = ((minx + maxx) / 2.0, (miny + maxy) / 2.0);
    let radius = (maxx - minx).max(maxy - miny) / 2.0 + FRAME_MARGIN_M;
    for k in 0..32 {
        let a = k as f64 * std::f64::consts::TAU / 32.0;
        sites.push(Point2::new(cx + radius * a.cos(), cy + radius * a.sin()));
    }
    let triangulation: DelaunayTriangulation<Point2<f64>> = DelaunayTriangulation::bulk_load(sites)
        .map_err(SynthError::encode("triangulating the block centroids"))?;

    // Raw graph: Voronoi vertices are identified by their Delaunay face, so
    // edges meeting at a vertex share the node exactly.
    let mut graph = Graph::default();
    for edge in triangulation.undirected_voronoi_edges() {
        let [v0, v1] = edge.vertices();
        let (Some(f0), Some(f1)) = (v0.as_delaunay_face(), v1.as_delaunay_face()) else {
            continue; // unbounded: only around the far frame
        };
        let [s0, _] = edge.as_delaunay_edge().positions();
        let (p0, p1) = (f0.circumcenter(), f1.circumcenter());
        let (a, b) = (Coord { x: p0.x, y: p0.y }, Coord { x: p1.x, y: p1.y });
        let Some((c0, c1)) = within_circle(a, b, Coord { x: s0.x, y: s0.y }, MAX_STREET_REACH_M)
        else {
            continue;
        };
        for (t0, t1) in ward.clipper.clip(a, b) {
            let (t0, t1) = (t0.max(c0), t1.min(c1));
            if t1 - t0 < 1e-9 {
                continue;
            }
            let n0 = if t0 == 0.0 {
                graph.vertex(f0.fix().index(), a)
            } else {
                graph.cut(lerp(a, b, t0))
            };
            let n1 = if t1 == 1.0 {
                graph.vertex(f1.fix().index(), b)
            } else {
                graph.cut(lerp(a, b, t1))
            };
            graph.edges.push([n0, n1]);
        }
    }
    Ok(graph.simplify())
}

/// The parameter range of segment a–b inside the circle (c, r), if any.
/// Both sites of a Voronoi edge are equally far from every point of it, so
/// one circle serves for both.
fn within_circle(a: Coord, b: Coord, c: Coord, r: f64) -> Option<(f64, f64)> {
    let d = Coord {
        x: b.x - a.x,
        y: b.y - a.y,
    };
    let f = Coord {
        x: a.x - c.x,
        y: a.y - c.y,
    };
    let qa = d.x * d.x + d.y * d.y;
    let qb = 2.0 * (f.x * d.x + f.y * d.y);
    let qc = f.x * f.x + f.y * f.y - r * r;
    if qa == 0.0 {
        return None;
    }
    let disc = qb * qb - 4.0 * qa * qc;
    if disc <= 0.0 {
        return None;
    }
    let root = disc.sqrt();
    let (t0, t1) = ((-qb - root) / (2.0 * qa), (-qb + root) / (2.0 * qa));
    // Keep exact 0 and 1 when the ends are inside: they identify junctions.
    let (t0, t1) = (t0.max(0.0), t1.min(1.0));
    (t1 > t0).then_some((t0, t1))
}

#[derive(Default)]
struct Graph {
    nodes: Vec<Coord>,
    /// Delaunay face index → node, for Voronoi vertices.
    by_face: std::collections::BTreeMap<usize, usize>,
    edges: Vec<[usize; 2]>,
}

impl Graph {
    fn vertex(&mut self, face: usize, at: Coord) -> usize {
        if let Some(&n) = self.by_face.get(&face) {
            return n;
        }
        let n = self.cut(at);
        self.by_face.insert(face, n);
        n
    }

    fn cut(&mut self, at: Coord) -> usize {
        self.nodes.push(at);
        self.nodes.len() - 1
    }

    /// Merges the ends of very short edges, drops loops and duplicates, and
    /// renumbers the nodes in order of first use.
    fn simplify(self) -> Streets {
        let mut parent: Vec<usize> = (0..self.nodes.len()).collect();
        fn find(parent: &mut [usize], mut i: usize) -> usize {
            while parent[i] != i {
                parent[i] = parent[parent[i]];
                i = parent[i];
            }
            i
        }
        for &[a, b] in &self.edges {
            if dist(self.nodes[a], self.nodes[b]) < MIN_EDGE_M {
                let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
                if ra != rb {
                    // Keep the smaller id as the junction: its position stays.
                    parent[ra.max(rb)] = ra.min(rb);
                }
            }
        }
        let mut renumber = vec![usize::MAX; self.nodes.len()];
        let mut nodes = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut edges = Vec::new();
        for &[a, b] in &self.edges {
            let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
            if ra == rb || !seen.insert((ra.min(rb), ra.max(rb))) {
                continue;
            }
            let mut id = |r: usize| {
                if renumber[r] == usize::MAX {
                    renumber[r] = nodes.len();
                    nodes.push(self.nodes[r]);
                }
                renumber[r]
            };
            let (na, nb) = (id(ra), id(rb));
            edges.push([na, nb]);
        }
        Streets { nodes, edges }
    }
}
