//! Visit rounds for outreach: people grouped into homes (a household is
//! visited once, all its listed members together), homes into rounds of at
//! most `max_homes`, each round ordered as a short walk along a network.
//!
//! Homes are first split by area (e.g. the mesh cell each was listed for)
//! and by the part of the network they reach, so a round never crosses
//! either; a part of more than [`MAX_PIECE`] homes is halved across its
//! longer side until no piece is larger. In each piece, one short walk through all its homes
//! ([`chiiki_network::tour::short_walk`]) is cut into the fewest rounds
//! where its longest links are ([`chiiki_network::tour::rounds`]), and each
//! round's own order is then improved again. A round is an open walk, from
//! its first home to its last.

use chiiki_network::tour::{self, Matrix, Subset};
use chiiki_network::{Network, Snap};
use std::collections::BTreeMap;

/// A home to visit: the people listed there and where it is.
#[derive(Debug, Clone)]
pub struct Home {
    /// Rows of the list's source, in the source's order.
    pub members: Vec<u32>,
    pub point: [f64; 2],
    /// Rounds never mix homes of different areas.
    pub area: String,
}

/// One round: its homes in walking order and the walk between them.
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    /// Indices into the homes given, in the order to visit them.
    pub homes: Vec<usize>,
    /// Metres from the previous home, for each home after the first.
    pub legs: Vec<f64>,
}

impl Round {
    /// The whole walk (metres).
    pub fn walk(&self) -> f64 {
        self.legs.iter().sum()
    }
}

/// The most homes walked through as one piece: a part with more (a list
/// without areas, a whole ward) is first halved across its longer side
/// until no piece is larger, so the distance matrix (n²) and the walk's
/// improvement stay small whatever list is asked.
pub const MAX_PIECE: usize = 256;

/// `members` in pieces of at most [`MAX_PIECE`] homes, each half of the
/// one before across its longer side, in order (west or south first).
fn split(homes: &[Home], mut members: Vec<usize>, out: &mut Vec<Vec<usize>>) {
    if members.len() <= MAX_PIECE {
        out.push(members);
        return;
    }
    let (mut lo, mut hi) = ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]);
    for &i in &members {
        for k in 0..2 {
            lo[k] = lo[k].min(homes[i].point[k]);
            hi[k] = hi[k].max(homes[i].point[k]);
        }
    }
    // Degrees of longitude are shorter than of latitude in Japan: compare
    // the sides in metres, roughly.
    let across = (hi[0] - lo[0]) * ((lo[1] + hi[1]) / 2.0).to_radians().cos();
    let axis = usize::from(hi[1] - lo[1] > across);
    members.sort_by(|&a, &b| {
        homes[a].point[axis]
            .total_cmp(&homes[b].point[axis])
            .then(a.cmp(&b))
    });
    let upper = members.split_off(members.len() / 2);
    split(homes, members, out);
    split(homes, upper, out);
}

/// The rounds that visit every home of `homes` once: each at most
/// `max_homes` homes, none crossing areas or parts of the network; areas
/// in name order. Homes that reach no line of the network (an empty
/// network) are rounds of their own.
pub fn plan(net: &Network, homes: &[Home], max_homes: usize) -> Vec<Round> {
    let snaps: Vec<Option<Snap>> = net.snap_all(&homes.iter().map(|h| h.point).collect::<Vec<_>>());
    let component = net.component_labels();
    // Parts: (area, component of the home's edge) → homes, in input order.
    let mut parts: BTreeMap<(&str, usize), Vec<usize>> = BTreeMap::new();
    let mut stranded = Vec::new();
    for (i, (h, s)) in homes.iter().zip(&snaps).enumerate() {
        match s {
            Some(s) => {
                let (a, _) = net.ends(s.edge);
                parts
                    .entry((h.area.as_str(), component[a.index()]))
                    .or_default()
                    .push(i);
            }
            None => stranded.push(i),
        }
    }
    // Within an area, its parts in the order of their first home.
    let mut ordered: Vec<(&(&str, usize), &Vec<usize>)> = parts.iter().collect();
    ordered.sort_by_key(|((area, _), members)| (*area, members[0]));
    let mut out = Vec::new();
    let pieces = ordered.into_iter().flat_map(|(_, members)| {
        let mut pieces = Vec::new();
        split(homes, members.clone(), &mut pieces);
        pieces
    });
    for members in pieces {
        let points: Vec<Snap> = members
            .iter()
            .map(|&i| snaps[i].expect("snapped"))
            .collect();
        let mut d = chiiki_network::walks::between(net, &points);
        // Homes at one address (flats of a building) are no walk apart.
        let n = members.len();
        for (a, &i) in members.iter().enumerate() {
            for (b, &j) in members.iter().enumerate() {
                if homes[i].point == homes[j].point {
                    d[a * n + b] = 0.0;
                }
            }
        }
        let whole = Matrix {
            n: members.len(),
            d: &d,
        };
        let walk = tour::short_walk(&whole);
        for range in tour::rounds(&whole, &walk, max_homes) {
            let chosen = &walk[range];
            let local = Subset {
                d: &whole,
                subset: chosen,
            };
            let order = tour::short_walk(&local);
            let homes: Vec<usize> = order.iter().map(|&k| chosen[k]).collect();
            let legs = homes
                .windows(2)
                .map(|w| whole.d[w[0] * whole.n + w[1]])
                .collect();
            out.push(Round {
                homes: homes.iter().map(|&k| members[k]).collect(),
                legs,
            });
        }
    }
    out.extend(stranded.into_iter().map(|i| Round {
        homes: vec![i],
        legs: Vec::new(),
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 6 × 6 grid of streets 0.001° apart.
    fn grid() -> Network {
        let (x0, y0, step) = (139.75, 35.70, 0.001);
        let mut lines = Vec::new();
        for i in 0..6 {
            let c = i as f64 * step;
            lines.push((0..6).map(|k| [x0 + k as f64 * step, y0 + c]).collect());
            lines.push((0..6).map(|k| [x0 + c, y0 + k as f64 * step]).collect());
        }
        Network::from_lines(&lines, 1.0)
    }

    fn home(i: u32, lon: f64, lat: f64, area: &str) -> Home {
        Home {
            members: vec![i],
            point: [lon, lat],
            area: area.into(),
        }
    }

    #[test]
    fn rounds_visit_every_home_once_within_the_size_and_the_area() {
        let net = grid();
        let mut homes = Vec::new();
        for k in 0..23u32 {
            let (i, j) = (k % 5, k / 5);
            let area = if i < 2 { "west" } else { "east" };
            homes.push(home(
                k,
                139.7502 + i as f64 * 0.001,
                35.7004 + j as f64 * 0.001,
                area,
            ));
        }
        let rounds = plan(&net, &homes, 4);
        let mut seen: Vec<usize> = rounds.iter().flat_map(|r| r.homes.clone()).collect();
        seen.sort();
        assert_eq!(seen, (0..homes.len()).collect::<Vec<_>>());
        for r in &rounds {
            assert!(!r.homes.is_empty() && r.homes.len() <= 4);
            assert_eq!(r.legs.len(), r.homes.len() - 1);
            let area = &homes[r.homes[0]].area;
            assert!(r.homes.iter().all(|&h| &homes[h].area == area));
        }
        // The fewest rounds per area: 10 west homes, 13 east.
        assert_eq!(rounds.len(), 10usize.div_ceil(4) + 13usize.div_ceil(4));
        // Areas in name order.
        assert_eq!(homes[rounds[0].homes[0]].area, "east");
    }

    #[test]
    fn a_round_walks_in_a_sensible_order_along_a_street() {
        let net = grid();
        // Four homes along one street, listed out of order.
        let homes: Vec<Home> = [0.0003, 0.0031, 0.0012, 0.0022]
            .iter()
            .enumerate()
            .map(|(k, dx)| home(k as u32, 139.75 + dx, 35.70, "a"))
            .collect();
        let rounds = plan(&net, &homes, 8);
        assert_eq!(rounds.len(), 1);
        let r = &rounds[0];
        assert!(
            r.homes == [0, 2, 3, 1] || r.homes == [1, 3, 2, 0],
            "{:?}",
            r.homes
        );
        let metres =
            net.plane.project([139.7531, 35.70])[0] - net.plane.project([139.7503, 35.70])[0];
        assert!((r.walk() - metres).abs() < 1e-6, "{} vs {metres}", r.walk());
    }

    #[test]
    fn a_large_list_is_walked_in_pieces_and_still_visits_everyone() {
        let net = grid();
        // 700 homes in one area, spread over the grid.
        let homes: Vec<Home> = (0..700u32)
            .map(|k| {
                let (i, j) = (k % 28, k / 28);
                home(
                    k,
                    139.7501 + i as f64 * 0.00018,
                    35.7001 + j as f64 * 0.0002,
                    "all",
                )
            })
            .collect();
        let mut pieces = Vec::new();
        split(&homes, (0..homes.len()).collect(), &mut pieces);
        assert!(pieces.len() > 700 / MAX_PIECE);
        assert!(pieces.iter().all(|p| p.len() <= MAX_PIECE));
        let rounds = plan(&net, &homes, 8);
        let mut seen: Vec<usize> = rounds.iter().flat_map(|r| r.homes.clone()).collect();
        seen.sort();
        assert_eq!(seen, (0..homes.len()).collect::<Vec<_>>());
        assert!(rounds
            .iter()
            .all(|r| r.homes.len() <= 8 && r.walk().is_finite()));
    }

    #[test]
    fn homes_on_another_part_of_the_network_get_their_own_rounds() {
        let mut lines: Vec<Vec<[f64; 2]>> = vec![vec![[139.75, 35.70], [139.752, 35.70]]];
        lines.push(vec![[139.80, 35.70], [139.802, 35.70]]);
        let net = Network::from_lines(&lines, 1.0);
        let homes = vec![
            home(0, 139.7505, 35.70, "a"),
            home(1, 139.8005, 35.70, "a"),
            home(2, 139.7515, 35.70, "a"),
        ];
        let rounds = plan(&net, &homes, 8);
        assert_eq!(rounds.len(), 2);
        assert!(rounds.iter().all(|r| r.walk().is_finite()));
    }
}
