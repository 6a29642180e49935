//! The nearest facility by walking for every point, in one pass: a virtual
//! source joined to both ends of every facility's edge (at the facility's
//! snap distance plus its offset to that end), one Dijkstra from it
//! (petgraph), then each point's distance is its own snap distance plus the
//! shorter way to either end of its edge — or straight along the edge to a
//! facility on the same edge.

use crate::graph::Network;
use crate::snap::Snap;
use petgraph::algo::dijkstra;
use petgraph::graph::NodeIndex;
use petgraph::visit::EdgeRef;
use std::collections::HashMap;

/// A point's nearest facility by walking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Assignment {
    /// Index of the facility in the slice given.
    pub facility: u32,
    /// Walking distance (metres): the point's snap distance, along the
    /// network, and the facility's snap distance.
    pub metres: f64,
}

/// Per node of the network: the walking distance to the nearest facility
/// and which (`None` where no facility is reachable).
pub fn node_distances(net: &Network, facilities: &[Option<Snap>]) -> Vec<Option<Assignment>> {
    let mut g = net.graph.clone();
    let source = g.add_node([f64::NAN; 2]);
    // The cheapest way in from the source at each node, and its facility.
    let mut entry: HashMap<NodeIndex, (f64, u32)> = HashMap::new();
    for (f, s) in facilities.iter().enumerate() {
        let Some(s) = s else { continue };
        let (a, b) = net.ends(s.edge);
        let len = net.edges[s.edge as usize].metres;
        for (n, d) in [(a, s.distance + s.offset), (b, s.distance + len - s.offset)] {
            let e = entry.entry(n).or_insert((d, f as u32));
            if d < e.0 {
                *e = (d, f as u32);
            }
        }
    }
    for (&n, &(d, _)) in &entry {
        g.add_edge(source, n, d);
    }
    let dist = dijkstra(&g, source, None, |e| *e.weight());
    // Each node takes the facility of the neighbour (or entry) it is
    // reached through: nodes in order of distance, predecessors first.
    let mut order: Vec<(NodeIndex, f64)> = dist
        .iter()
        .filter(|(n, _)| **n != source)
        .map(|(&n, &d)| (n, d))
        .collect();
    order.sort_by(|x, y| x.1.total_cmp(&y.1).then(x.0.cmp(&y.0)));
    let mut out: Vec<Option<Assignment>> = vec![None; net.graph.node_count()];
    for (n, d) in order {
        let mut best: Option<(f64, u32)> = entry.get(&n).copied();
        for e in net.graph.edges(n) {
            let other = if e.source() == n {
                e.target()
            } else {
                e.source()
            };
            if let Some(a) = out[other.index()] {
                let via = a.metres + *e.weight();
                if best.is_none_or(|b| via < b.0) {
                    best = Some((via, a.facility));
                }
            }
        }
        let (_, facility) = best.expect("a node reached has a way in");
        out[n.index()] = Some(Assignment {
            facility,
            metres: d,
        });
    }
    out
}

/// The nearest facility by walking for each snapped point.
pub fn nearest_snapped(
    net: &Network,
    facilities: &[Option<Snap>],
    points: &[Option<Snap>],
) -> Vec<Option<Assignment>> {
    let nodes = node_distances(net, facilities);
    let mut on_edge: HashMap<u32, Vec<(u32, Snap)>> = HashMap::new();
    for (f, s) in facilities.iter().enumerate() {
        if let Some(s) = s {
            on_edge.entry(s.edge).or_default().push((f as u32, *s));
        }
    }
    let one = |p: &Option<Snap>| -> Option<Assignment> {
        let p = p.as_ref()?;
        let (a, b) = net.ends(p.edge);
        let len = net.edges[p.edge as usize].metres;
        let mut best: Option<Assignment> = None;
        let mut consider = |c: Option<Assignment>| {
            if let Some(c) = c {
                if best.is_none_or(|b| c.metres < b.metres) {
                    best = Some(c);
                }
            }
        };
        for (n, along) in [(a, p.offset), (b, len - p.offset)] {
            consider(nodes[n.index()].map(|x| Assignment {
                facility: x.facility,
                metres: p.distance + along + x.metres,
            }));
        }
        for (f, s) in on_edge.get(&p.edge).into_iter().flatten() {
            consider(Some(Assignment {
                facility: *f,
                metres: p.distance + (p.offset - s.offset).abs() + s.distance,
            }));
        }
        best
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = points.len().div_ceil(threads).max(4096);
    let mut out = vec![None; points.len()];
    std::thread::scope(|s| {
        for (ps, os) in points.chunks(chunk).zip(out.chunks_mut(chunk)) {
            s.spawn(|| {
                for (p, o) in ps.iter().zip(os) {
                    *o = one(p);
                }
            });
        }
    });
    out
}

/// The nearest facility by walking for every point (both lon/lat): `None`
/// where none is reachable (another component, or an empty network).
///
/// ```
/// use chiiki_network::{nearest_facilities, Network};
/// // One street, a shelter at each end, a house a third of the way along.
/// let net = Network::from_lines(&[vec![[139.750, 35.700], [139.753, 35.700]]], 1.0);
/// let shelters = [[139.750, 35.700], [139.753, 35.700]];
/// let a = nearest_facilities(&net, &shelters, &[[139.751, 35.700]])[0].unwrap();
/// assert_eq!(a.facility, 0);
/// assert!((a.metres - 90.5).abs() < 0.5);
/// ```
pub fn nearest_facilities(
    net: &Network,
    facilities: &[[f64; 2]],
    points: &[[f64; 2]],
) -> Vec<Option<Assignment>> {
    let f = net.snap_all(facilities);
    let p = net.snap_all(points);
    nearest_snapped(net, &f, &p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::dist;
    use crate::graph::tests::grid;

    #[test]
    fn on_a_grid_the_distance_is_the_manhattan_distance() {
        let net = Network::from_lines(&grid(5, 0.001), 1.0);
        let (dx, dy) = (
            dist(
                net.plane.project([139.750, 35.7]),
                net.plane.project([139.751, 35.7]),
            ),
            dist(
                net.plane.project([139.75, 35.700]),
                net.plane.project([139.75, 35.701]),
            ),
        );
        // Shelters at two corners; people at every crossing.
        let shelters = [[139.750, 35.700], [139.754, 35.704]];
        let mut people = Vec::new();
        for i in 0..5 {
            for j in 0..5 {
                people.push([139.750 + i as f64 * 0.001, 35.700 + j as f64 * 0.001]);
            }
        }
        let got = nearest_facilities(&net, &shelters, &people);
        for (k, a) in got.iter().enumerate() {
            let (i, j) = ((k / 5) as f64, (k % 5) as f64);
            let to0 = i * dx + j * dy;
            let to1 = (4.0 - i) * dx + (4.0 - j) * dy;
            let a = a.unwrap();
            assert!((a.metres - to0.min(to1)).abs() < 1e-6, "{k}: {a:?}");
            if (to0 - to1).abs() > 1e-6 {
                assert_eq!(a.facility, (to1 < to0) as u32, "{k}");
            }
        }
    }

    #[test]
    fn another_component_is_unreachable() {
        let mut lines = grid(3, 0.001);
        lines.push(vec![[139.80, 35.70], [139.801, 35.70]]);
        let net = Network::from_lines(&lines, 1.0);
        let got = nearest_facilities(
            &net,
            &[[139.750, 35.700]],
            &[[139.8005, 35.70], [139.752, 35.702]],
        );
        assert_eq!(got[0], None);
        assert_eq!(got[1].unwrap().facility, 0);
    }

    #[test]
    fn a_point_and_a_shelter_on_one_edge_walk_along_it() {
        // A long street (≈ 905 m) with its ends far from the shelter.
        let net = Network::from_lines(&[vec![[139.750, 35.700], [139.760, 35.700]]], 1.0);
        let offset = 0.0001; // ≈ 11.1 m north of the street
        let shelter = [[139.755, 35.700 + offset]];
        let home = [[139.756, 35.700 - offset]];
        let a = nearest_facilities(&net, &shelter, &home)[0].unwrap();
        let along = dist(
            net.plane.project([139.755, 35.7]),
            net.plane.project([139.756, 35.7]),
        );
        let off = dist(
            net.plane.project([139.755, 35.7]),
            net.plane.project([139.755, 35.7 + offset]),
        );
        assert!((a.metres - (along + 2.0 * off)).abs() < 1e-3, "{a:?}");
    }

    #[test]
    fn the_nearest_of_several_facilities_is_found_through_the_network() {
        // A street with a dead end: the shelter nearer as the crow flies is
        // across a gap, the other round the corner.
        let lines = vec![
            vec![[139.750, 35.700], [139.752, 35.700]],
            vec![[139.752, 35.700], [139.752, 35.701]],
            vec![[139.750, 35.7012], [139.752, 35.7012]],
        ];
        let net = Network::from_lines(&lines, 1.0);
        let shelters = [[139.750, 35.7012], [139.752, 35.701]];
        let a = nearest_facilities(&net, &shelters, &[[139.750, 35.700]])[0].unwrap();
        assert_eq!(a.facility, 1);
        assert!((a.metres - (181.0 + 110.9)).abs() < 1.0, "{a:?}");
    }
}
