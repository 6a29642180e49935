//! Points snapped to the nearest edge of a network (an R-tree over the
//! edges' segments), keeping how far the point is from the edge and where
//! along the edge it lands.

use crate::graph::{dist, Network};
use rstar::PointDistance;
use rustc_hash::FxHashMap;

/// Where a point joins the network.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snap {
    /// The edge (index into [`Network::edges`]).
    pub edge: u32,
    /// Metres along the edge from its first node.
    pub offset: f64,
    /// Metres from the point to the edge.
    pub distance: f64,
}

impl Network {
    /// Point `p` (lon/lat) snapped to the nearest edge; `None` for an empty
    /// network.
    ///
    /// ```
    /// use chiiki_network::Network;
    /// let net = Network::from_lines(&[vec![[139.750, 35.700], [139.752, 35.700]]], 1.0);
    /// // 0.0001° north (≈ 11.1 m) of the street's middle.
    /// let s = net.snap([139.751, 35.7001]).unwrap();
    /// assert_eq!(s.edge, 0);
    /// assert!((s.distance - 11.09).abs() < 0.05 && (s.offset - 90.5).abs() < 0.5);
    /// ```
    pub fn snap(&self, p: [f64; 2]) -> Option<Snap> {
        let q = self.plane.project(p);
        let seg = self.segments.nearest_neighbor(&q)?;
        let line = seg.geom();
        let (a, b) = (line.from, line.to);
        let len = dist(a, b);
        let t = if len > 0.0 {
            (((q[0] - a[0]) * (b[0] - a[0]) + (q[1] - a[1]) * (b[1] - a[1])) / (len * len))
                .clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (edge, start) = seg.data;
        let metres = self.edges[edge as usize].metres;
        Some(Snap {
            edge,
            offset: (start + t * len).min(metres),
            distance: line.distance_2(&q).sqrt(),
        })
    }

    /// Every point snapped, on all cores. Each distinct position is
    /// snapped once: residents share their building's point (the demo's
    /// 240,159 residents stand on 29,829), so this is the nearest-edge
    /// search for the buildings, not for the people.
    pub fn snap_all(&self, points: &[[f64; 2]]) -> Vec<Option<Snap>> {
        let mut slot: FxHashMap<[u64; 2], u32> = FxHashMap::default();
        let mut distinct: Vec<[f64; 2]> = Vec::new();
        let of: Vec<u32> = points
            .iter()
            .map(|p| {
                *slot
                    .entry([p[0].to_bits(), p[1].to_bits()])
                    .or_insert_with(|| {
                        distinct.push(*p);
                        distinct.len() as u32 - 1
                    })
            })
            .collect();
        let snapped = self.snap_each(&distinct);
        of.iter().map(|&i| snapped[i as usize]).collect()
    }

    /// Every point snapped, on all cores, one search each.
    fn snap_each(&self, points: &[[f64; 2]]) -> Vec<Option<Snap>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = points.len().div_ceil(threads).max(4096);
        let mut out = vec![None; points.len()];
        std::thread::scope(|s| {
            for (ps, os) in points.chunks(chunk).zip(out.chunks_mut(chunk)) {
                s.spawn(move || {
                    for (p, o) in ps.iter().zip(os) {
                        *o = self.snap(*p);
                    }
                });
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::Network;

    #[test]
    fn a_point_snaps_to_the_nearest_edge_with_its_offset() {
        // An L: east 0.002° then north 0.002°.
        let lines = vec![vec![
            [139.750, 35.700],
            [139.752, 35.700],
            [139.752, 35.702],
        ]];
        let net = Network::from_lines(&lines, 1.0);
        assert_eq!(net.edge_count(), 1);
        let s = net.snap([139.7525, 35.701]).unwrap();
        // ≈ 45 m east of the northbound leg, half way up it.
        assert!((s.distance - 45.25).abs() < 0.2, "{s:?}");
        assert!((s.offset - (181.0 + 110.9)).abs() < 0.5, "{s:?}");
        // Beyond the start: the start itself.
        let s = net.snap([139.749, 35.700]).unwrap();
        assert_eq!(s.offset, 0.0);
        assert_eq!(net.snap_all(&[[139.749, 35.700]]), vec![Some(s)]);
    }

    #[test]
    fn an_empty_network_snaps_nothing() {
        let net = Network::from_lines(&[], 1.0);
        assert_eq!(net.snap([139.75, 35.7]), None);
    }
}
