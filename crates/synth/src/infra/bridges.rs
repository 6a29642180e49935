//! Bridges (橋梁) with their 定期点検 results.
//!
//! Most of 文京区's bridges cross the 神田川 on its southern boundary; the
//! river bridges are put where streets reach the river, densest along the
//! flood plain reach (関口–後楽), where the river runs at street level, and
//! sparse in the 御茶ノ水 gorge. The rest are overpasses (跨線橋) on busy
//! roads inside the ward, over rail cuttings.
//!
//! Health grades follow the 道路橋定期点検要領 (MLIT): 健全性 I (sound),
//! II (preventive maintenance advisable), III (early action needed), IV
//! (urgent). Nationally about 40 % / 50 % / 9 % / under 1 % of road bridges
//! are in each; the grades are handed out in those proportions, worst to the
//! oldest and most exposed bridges (with noise: age is not everything).

use geo::Coord;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::flood::Flood;
use super::geom::{dist, dist_to_linestring, plane_length, point_along, Plane};
use super::output::{GeoJson, Geom, Prop};
use super::roads::{RoadClass, Roads};
use super::streets::Streets;
use super::ward::Ward;

const RIVER_BRIDGES: usize = 25;
const OVERPASSES: usize = 15;
/// Along the river, reaches within this distance of a flood zone are the
/// flood plain, where bridges are this many times denser than in the gorge.
const FLOOD_PLAIN_M: f64 = 150.0;
const FLOOD_PLAIN_DENSITY: f64 = 3.0;
/// A street end this close to the river line is a street reaching it.
const STREET_END_TO_RIVER_M: f64 = 25.0;
/// A target site on the river takes a street end this close to it.
const SNAP_M: f64 = 80.0;
/// Overpasses are this far from the river and from each other at least.
const OVERPASS_SPACING_M: f64 = 350.0;

/// Shares of 健全性 I, III and IV; II is the rest.
const SHARE_I: f64 = 0.40;
const SHARE_III: f64 = 0.09;
const SHARE_IV: f64 = 0.01;
pub const GRADES: [&str; 4] = ["I", "II", "III", "IV"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    River,
    Overpass,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::River => "river",
            Kind::Overpass => "overpass",
        }
    }
}

pub struct Bridge {
    /// Plane metres.
    pub at: Coord,
    pub kind: Kind,
    pub name: String,
    pub build_year: i32,
    pub span_m: f64,
    pub grade: usize,
    pub last_inspection_year: i32,
    pub flood_rank: u8,
}

pub fn build(
    ward: &Ward,
    streets: &Streets,
    roads: &Roads,
    flood: &Flood,
    rng: &mut ChaCha8Rng,
) -> Vec<Bridge> {
    let mut sites: Vec<(Coord, Kind, bool)> = river_sites(ward, streets, flood, rng)
        .into_iter()
        .map(|(c, plain)| (c, Kind::River, plain))
        .collect();
    for c in overpass_sites(
        ward,
        roads,
        rng,
        &sites.iter().map(|s| s.0).collect::<Vec<_>>(),
    ) {
        sites.push((c, Kind::Overpass, false));
    }
    let noise = Normal::new(0.0, 0.15).expect("valid normal");
    let mut bridges: Vec<Bridge> = sites
        .into_iter()
        .map(|(at, kind, flood_plain)| {
            let build_year = match kind {
                // 帝都復興 rebuilt the 神田川 bridges after 1923; many were
                // rebuilt again in the post-war and high-growth decades.
                Kind::River => match rng.random_range(0.0..1.0) {
                    x if x < 0.40 => rng.random_range(1924..=1935),
                    x if x < 0.75 => rng.random_range(1950..=1975),
                    _ => rng.random_range(1976..=2010),
                },
                Kind::Overpass => rng.random_range(1955..=2010),
            };
            let span_m = match (kind, flood_plain) {
                (Kind::River, true) => rng.random_range(14.0..28.0),
                (Kind::River, false) => rng.random_range(30.0..70.0), // the gorge
                (Kind::Overpass, _) => rng.random_range(12.0..45.0),
            };
            // First inspection cycle 2019–2023, the second from 2024; a few
            // bridges are overdue for their second.
            let first = 2019 + rng.random_range(0..5);
            let last_inspection_year = if first + 5 <= 2025 && !rng.random_bool(0.1) {
                first + 5
            } else {
                first
            };
            Bridge {
                at,
                kind,
                name: String::new(),
                build_year,
                span_m,
                grade: 0,
                last_inspection_year,
                flood_rank: flood.near(at, 100.0).map_or(0, |(_, r)| r),
            }
        })
        .collect();
    // Deterioration: age, spray and flooding of river bridges, noise.
    let wear: Vec<f64> = bridges
        .iter()
        .map(|b| {
            (2025 - b.build_year) as f64 / 100.0
                + if b.kind == Kind::River { 0.05 } else { 0.0 }
                + 0.03 * b.flood_rank as f64
                + noise.sample(rng)
        })
        .collect();
    let n = bridges.len();
    let n_iv = (SHARE_IV * n as f64).floor() as usize;
    let n_iii = (SHARE_III * n as f64).round() as usize;
    let n_i = (SHARE_I * n as f64).round() as usize;
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| wear[a].total_cmp(&wear[b]).then(a.cmp(&b)));
    for (k, &i) in order.iter().enumerate() {
        bridges[i].grade = if k < n_i {
            0
        } else if k + n_iii + n_iv < n {
            1
        } else if k + n_iv < n {
            2
        } else {
            3
        };
    }
    name_bridges(&mut bridges, ward);
    bridges
}

/// Where the river bridges go: target sites spread along the river with
/// the flood plain denser, each snapped to a street end reaching the river.
fn river_sites(
    ward: &Ward,
    streets: &Streets,
    flood: &Flood,
    rng: &mut ChaCha8Rng,
) -> Vec<(Coord, bool)> {
    let river = &ward.river;
    let length = plane_length(river);
    let step = 10.0;
    let samples: Vec<(f64, bool)> = (0..=(length / step) as usize)
        .map(|k| {
            let s = k as f64 * step;
            (
                s,
                flood.near(point_along(river, s), FLOOD_PLAIN_M).is_some(),
            )
        })
        .collect();
    let mut cumulative = Vec::with_capacity(samples.len());
    let mut acc = 0.0;
    for &(_, plain) in &samples {
        acc += if plain { FLOOD_PLAIN_DENSITY } else { 1.0 };
        cumulative.push(acc);
    }
    let degree = {
        let mut d = vec![0usize; streets.nodes.len()];
        for &[a, b] in &streets.edges {
            d[a] += 1;
            d[b] += 1;
        }
        d
    };
    let mut ends: Vec<Coord> = streets
        .nodes
        .iter()
        .zip(&degree)
        .filter(|&(&c, &d)| d == 1 && dist_to_linestring(c, river) < STREET_END_TO_RIVER_M)
        .map(|(&c, _)| c)
        .collect();
    let mut out = Vec::with_capacity(RIVER_BRIDGES);
    for k in 0..RIVER_BRIDGES {
        let q = (k as f64 + 0.5 + rng.random_range(-0.3..0.3)) / RIVER_BRIDGES as f64 * acc;
        let i = cumulative
            .partition_point(|&c| c < q)
            .min(samples.len() - 1);
        let (s, plain) = samples[i];
        let target = point_along(river, s);
        let nearest = ends
            .iter()
            .enumerate()
            .map(|(j, &c)| (dist(c, target), j))
            .filter(|&(d, _)| d <= SNAP_M)
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let at = match nearest {
            Some((_, j)) => ends.swap_remove(j),
            None => target,
        };
        out.push((at, plain));
    }
    out
}

/// Overpasses on arterial and collector roads, spread over the ward.
fn overpass_sites(ward: &Ward, roads: &Roads, rng: &mut ChaCha8Rng, taken: &[Coord]) -> Vec<Coord> {
    let candidates: Vec<Coord> = roads
        .roads
        .iter()
        .filter(|r| r.class >= RoadClass::Collector && r.length_m > 30.0)
        .map(|r| point_along(&r.line, plane_length(&r.line) / 2.0))
        .filter(|&c| dist_to_linestring(c, &ward.river) > OVERPASS_SPACING_M)
        .collect();
    let mut out: Vec<Coord> = Vec::new();
    let mut tries = 0;
    while out.len() < OVERPASSES && tries < 10_000 && !candidates.is_empty() {
        tries += 1;
        let c = candidates[rng.random_range(0..candidates.len())];
        if out
            .iter()
            .chain(taken)
            .all(|&o| dist(o, c) >= OVERPASS_SPACING_M)
        {
            out.push(c);
        }
    }
    out
}

/// 〇〇橋 after the 町 a river bridge stands in, 〇〇跨線橋 for overpasses;
/// the second of a name becomes 〇〇第二橋, and so on.
fn name_bridges(bridges: &mut [Bridge], ward: &Ward) {
    let mut used: std::collections::BTreeMap<String, u32> = std::collections::BTreeMap::new();
    for b in bridges.iter_mut() {
        let oaza = ward.oaza_at(b.at).to_string();
        let suffix = match b.kind {
            Kind::River => "橋",
            Kind::Overpass => "跨線橋",
        };
        let count = used.entry(format!("{oaza}{suffix}")).or_insert(0);
        *count += 1;
        b.name = if *count == 1 {
            format!("{oaza}{suffix}")
        } else {
            format!("{oaza}第{}{suffix}", ordinal_kanji(*count))
        };
    }
}

fn ordinal_kanji(n: u32) -> String {
    const D: [&str; 10] = ["", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    match n {
        1..=9 => D[n as usize].to_string(),
        10..=99 => format!(
            "{}十{}",
            if n / 10 == 1 {
                ""
            } else {
                D[(n / 10) as usize]
            },
            D[(n % 10) as usize]
        ),
        _ => n.to_string(),
    }
}

/// `bridges.geojson`.
pub fn to_geojson(bridges: &[Bridge], plane: &Plane) -> Vec<u8> {
    let mut out = GeoJson::new("bridges");
    for (i, b) in bridges.iter().enumerate() {
        out.feature(
            i + 1,
            Geom::Point(plane.inv_rounded(b.at)),
            &[
                ("bridge_id", Prop::str(format!("B{:03}", i + 1))),
                ("name", Prop::str(&b.name)),
                ("kind", Prop::str(b.kind.as_str())),
                ("health_grade", Prop::str(GRADES[b.grade])),
                (
                    "last_inspection_year",
                    Prop::Int(b.last_inspection_year as i64),
                ),
                ("span_m", Prop::Num(b.span_m, 1)),
                ("build_year", Prop::Int(b.build_year as i64)),
                ("flood_depth_rank", Prop::Int(b.flood_rank as i64)),
            ],
        );
    }
    out.finish()
}
