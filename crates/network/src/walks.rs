//! Walking distances between every pair of a few snapped points (the homes
//! of one visit round or one area): one Dijkstra from each distinct end
//! node of their edges, shared by every point on an edge that ends there.
//!
//! The search is written here rather than taken from petgraph because it
//! stops as soon as every target node is settled: the homes of one area
//! are a few hundred metres apart, so it visits a few dozen nodes of a
//! city's thousands (petgraph's `dijkstra` settles the whole graph; with it
//! the demo's visit rounds spent 0.56 s here).

use crate::graph::Network;
use crate::snap::Snap;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// The walking distance (metres) between every pair of `points`, row-major
/// (`d[i * n + j]`); `f64::INFINITY` where one cannot reach the other
/// (another component of the network).
///
/// A walk is the first point's snap distance, the way along its edge to
/// one of its ends, through the network to an end of the other's edge, and
/// along it and out to the other point — or straight along a shared edge.
///
/// ```
/// use chiiki_network::{walks::between, Network};
/// // An L of two streets: east ≈ 90.5 m, then north ≈ 110.9 m.
/// let net = Network::from_lines(
///     &[vec![[139.750, 35.700], [139.751, 35.700], [139.751, 35.701]]],
///     1.0,
/// );
/// let homes: Vec<_> = [[139.750, 35.700], [139.751, 35.701]]
///     .iter()
///     .map(|&p| net.snap(p).unwrap())
///     .collect();
/// let d = between(&net, &homes);
/// assert!((d[1] - 201.4).abs() < 0.5 && d[1] == d[2] && d[0] == 0.0);
/// ```
pub fn between(net: &Network, points: &[Snap]) -> Vec<f64> {
    let n = points.len();
    // Distances from each distinct end node of the points' edges to the
    // others (a search stops once it has reached them all).
    let mut targets: Vec<NodeIndex> = points
        .iter()
        .flat_map(|p| {
            let (a, b) = net.ends(p.edge);
            [a, b]
        })
        .collect();
    targets.sort();
    targets.dedup();
    let slot: HashMap<NodeIndex, usize> =
        targets.iter().enumerate().map(|(i, &t)| (t, i)).collect();
    let from: HashMap<NodeIndex, Vec<f64>> = targets
        .iter()
        .map(|&t| (t, to_targets(net, t, &slot)))
        .collect();
    // Each point's two ways onto the network: (end node, metres to it).
    let exits = |p: &Snap| {
        let (a, b) = net.ends(p.edge);
        let len = net.edges[p.edge as usize].metres;
        [(a, p.offset), (b, len - p.offset)]
    };
    let mut d = vec![f64::INFINITY; n * n];
    for i in 0..n {
        d[i * n + i] = 0.0;
        let p = &points[i];
        for j in i + 1..n {
            let q = &points[j];
            let mut best = f64::INFINITY;
            if p.edge == q.edge {
                best = (p.offset - q.offset).abs();
            }
            for (u, pu) in exits(p) {
                let reach = &from[&u];
                for (v, qv) in exits(q) {
                    best = best.min(pu + reach[slot[&v]] + qv);
                }
            }
            let walk = p.distance + best + q.distance;
            d[i * n + j] = walk;
            d[j * n + i] = walk;
        }
    }
    d
}

/// Dijkstra from `source` over the network until every node of `slot`
/// is settled: the distance to each, by its slot (infinite if unreachable).
fn to_targets(net: &Network, source: NodeIndex, slot: &HashMap<NodeIndex, usize>) -> Vec<f64> {
    let mut out = vec![f64::INFINITY; slot.len()];
    let mut left = slot.len();
    let mut best: HashMap<NodeIndex, f64> = HashMap::new();
    let mut heap = BinaryHeap::new();
    best.insert(source, 0.0);
    heap.push(Reverse((Metres(0.0), source)));
    while let Some(Reverse((Metres(d), n))) = heap.pop() {
        if best.get(&n).is_some_and(|&b| d > b) {
            continue;
        }
        if let Some(&s) = slot.get(&n) {
            if out[s].is_infinite() {
                out[s] = d;
                left -= 1;
                if left == 0 {
                    break;
                }
            }
        }
        for e in net.graph.edges(n) {
            let other = if e.source() == n {
                e.target()
            } else {
                e.source()
            };
            let via = d + *e.weight();
            if best.get(&other).is_none_or(|&b| via < b) {
                best.insert(other, via);
                heap.push(Reverse((Metres(via), other)));
            }
        }
    }
    out
}

/// A distance that orders (lengths are finite and never NaN).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Metres(f64);
impl Eq for Metres {}
impl PartialOrd for Metres {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Metres {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::dist;
    use crate::graph::tests::grid;
    use crate::nearest::nearest_facilities;

    #[test]
    fn on_a_grid_pairs_walk_the_manhattan_distance() {
        let net = Network::from_lines(&grid(5, 0.001), 1.0);
        let dx = dist(
            net.plane.project([139.750, 35.7]),
            net.plane.project([139.751, 35.7]),
        );
        let dy = dist(
            net.plane.project([139.75, 35.700]),
            net.plane.project([139.75, 35.701]),
        );
        let cells: [(i32, i32); 5] = [(0, 0), (4, 4), (1, 3), (2, 2), (3, 0)];
        let snaps: Vec<Snap> = cells
            .iter()
            .map(|&(i, j)| {
                net.snap([139.750 + i as f64 * 0.001, 35.700 + j as f64 * 0.001])
                    .unwrap()
            })
            .collect();
        let d = between(&net, &snaps);
        let n = cells.len();
        for (a, &(ia, ja)) in cells.iter().enumerate() {
            for (b, &(ib, jb)) in cells.iter().enumerate() {
                let manhattan = (ia - ib).abs() as f64 * dx + (ja - jb).abs() as f64 * dy;
                assert!((d[a * n + b] - manhattan).abs() < 1e-6, "{a}→{b}");
            }
        }
    }

    #[test]
    fn a_pair_agrees_with_the_nearest_facility_pass() {
        // Homes off the streets, between crossings: each pair's walk is
        // what the one-facility nearest pass gives for the same two points.
        let net = Network::from_lines(&grid(6, 0.001), 1.0);
        let homes = [
            [139.7503, 35.70012],
            [139.7538, 35.7021],
            [139.7511, 35.70449],
            [139.7547, 35.70003],
            [139.7533, 35.70337],
        ];
        let snaps: Vec<Snap> = homes.iter().map(|&p| net.snap(p).unwrap()).collect();
        let d = between(&net, &snaps);
        for (i, &p) in homes.iter().enumerate() {
            for (j, &q) in homes.iter().enumerate().filter(|(j, _)| *j != i) {
                let one = nearest_facilities(&net, &[q], &[p])[0].unwrap();
                assert!(
                    (d[i * homes.len() + j] - one.metres).abs() < 1e-6,
                    "{i}→{j}"
                );
            }
        }
    }

    #[test]
    fn another_component_is_out_of_reach() {
        let mut lines = grid(3, 0.001);
        lines.push(vec![[139.80, 35.70], [139.801, 35.70]]);
        let net = Network::from_lines(&lines, 1.0);
        let snaps = [
            net.snap([139.750, 35.700]).unwrap(),
            net.snap([139.8005, 35.700]).unwrap(),
        ];
        let d = between(&net, &snaps);
        assert!(d[1].is_infinite() && d[2].is_infinite());
    }
}
