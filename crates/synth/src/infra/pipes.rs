//! Water mains (配水管) under the streets, with ten years of break history.
//!
//! A main runs under every street: pipe segments are chains of street
//! edges of one road class, merged straight through junctions up to a
//! length chosen so that the ward has about 2,000 segments, as a
//! 水道施設台帳 lists them between valves and junctions.
//!
//! Breaks follow a Poisson process per pipe and year whose rate truly
//! depends on what the 台帳 records — material and age together (cast
//! iron and asbestos cement worsen fast with age, ductile iron barely, PVC
//! turns brittle in mid life, polyethylene stays good), soil (corrosive
//! lowland and fill), diameter, flood depth, traffic and length — times an
//! unrecorded per-pipe frailty. A model can learn the rate from the
//! attributes and the history; ranking pipes by age alone does clearly
//! worse. The rate itself is written to `pipes_truth.csv` for evaluation.

use crate::error::Result;
use chrono::{Datelike, NaiveDate};
use geo::{Coord, LineString};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Normal, Poisson};

use super::flood::Flood;
use super::geom::{dist, plane_length, point_along, Plane};
use super::output::{Csv, GeoJson, Geom, Prop};
use super::roads::{pick, RoadClass, Roads};
use super::streets::Streets;

/// About this many pipe segments (the test accepts 1,700–2,300).
const TARGET_PIPES: usize = 2_000;
/// A chain goes on through a junction only if it turns less than this
/// (Voronoi junctions are Y-shaped: going "straight" turns about 60°)…
const MAX_TURN_DEG: f64 = 80.0;
/// …unless it is still a stub shorter than this share of the target, which
/// takes any way on rather than stay a segment of its own.
const STUB_SHARE: f64 = 0.4;
const STUB_MAX_TURN_DEG: f64 = 150.0;

/// Filled-in hollows on the terrace, and installation-era centres.
const FILL_PATCHES: usize = 5;
const ERA_CENTRES: usize = 14;

/// Share of mains renewed since 1995 (耐震化 / 老朽管更新).
const RENEWED_SHARE: f64 = 0.2;

/// The break history covers these years.
pub const FIRST_YEAR: i32 = 2016;
pub const LAST_YEAR: i32 = 2025;
const YEARS: usize = (LAST_YEAR - FIRST_YEAR + 1) as usize;
/// Expected breaks per year over the whole ward: a few percent of pipes.
const BREAKS_PER_YEAR: f64 = 90.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Material {
    /// 鋳鉄管 (grey cast iron), laid until the 1960s.
    Cip,
    /// ダクタイル鋳鉄管, the standard since the 1970s.
    Dip,
    /// 鋼管, mostly large mains and bridge crossings.
    Sp,
    /// 硬質塩化ビニル管, small mains from the 1960s to the 1990s.
    Vp,
    /// 水道配水用ポリエチレン管, since the late 1990s.
    Pe,
    /// 石綿セメント管, laid until the 1970s.
    Acp,
}

const MATERIALS: [Material; 6] = [
    Material::Cip,
    Material::Dip,
    Material::Sp,
    Material::Vp,
    Material::Pe,
    Material::Acp,
];

impl Material {
    pub fn as_str(self) -> &'static str {
        match self {
            Material::Cip => "CIP",
            Material::Dip => "DIP",
            Material::Sp => "SP",
            Material::Vp => "VP",
            Material::Pe => "PE",
            Material::Acp => "ACP",
        }
    }

    fn metallic(self) -> bool {
        matches!(self, Material::Cip | Material::Dip | Material::Sp)
    }

    /// Breaks per km and year at a given age, on terrace ground, 150 mm.
    fn hazard_per_km(self, age: f64) -> f64 {
        match self {
            Material::Cip => 0.08 * (0.045 * (age - 40.0)).exp(),
            Material::Acp => 0.10 * (0.055 * (age - 40.0)).exp(),
            Material::Dip => 0.025 * (0.012 * (age - 40.0)).exp(),
            Material::Sp => 0.04 * (0.03 * (age - 40.0)).exp(),
            // PVC joints and walls turn brittle in mid life.
            Material::Vp => 0.04 + 0.20 * (-((age - 35.0) / 9.0).powi(2)).exp(),
            Material::Pe => 0.015,
        }
    }

    /// What goes wrong with it, by cause, as weights.
    fn causes(self) -> [f64; 6] {
        // corrosion, circumferential_crack, longitudinal_crack, joint_leak, third_party, other
        match self {
            Material::Cip => [0.35, 0.35, 0.05, 0.15, 0.05, 0.05],
            Material::Acp => [0.0, 0.50, 0.20, 0.20, 0.05, 0.05],
            Material::Dip => [0.25, 0.0, 0.0, 0.45, 0.20, 0.10],
            Material::Sp => [0.60, 0.0, 0.0, 0.20, 0.10, 0.10],
            Material::Vp => [0.0, 0.15, 0.35, 0.30, 0.15, 0.05],
            Material::Pe => [0.0, 0.0, 0.0, 0.40, 0.45, 0.15],
        }
    }
}

const CAUSES: [&str; 7] = [
    "corrosion",
    "circumferential_crack",
    "longitudinal_crack",
    "joint_leak",
    "third_party_damage",
    "other",
    "ground_movement",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Soil {
    /// 武蔵野台地 (関東ローム), most of the ward.
    TerraceLoam,
    /// Alluvium of the 神田川 valley floor, where the flood zones are.
    LowlandAlluvial,
    /// Filled-in valleys and ponds.
    Fill,
}

impl Soil {
    pub fn as_str(self) -> &'static str {
        match self {
            Soil::TerraceLoam => "terrace_loam",
            Soil::LowlandAlluvial => "lowland_alluvial",
            Soil::Fill => "fill",
        }
    }
}

pub struct Pipe {
    pub id: String,
    /// Plane metres.
    pub line: LineString,
    pub road_class: RoadClass,
    pub material: Material,
    pub diameter_mm: u32,
    pub install_year: i32,
    pub soil: Soil,
    pub flood_rank: u8,
    pub length_m: f64,
    /// True expected breaks in each year of the history.
    pub rate_by_year: [f64; YEARS],
    pub rate_next_year: f64,
}

impl Pipe {
    pub fn true_rate_per_year(&self) -> f64 {
        self.rate_by_year.iter().sum::<f64>() / YEARS as f64
    }
}

pub struct Break {
    pub pipe: usize,
    pub date: NaiveDate,
    pub cause: &'static str,
}

pub fn build(
    streets: &Streets,
    roads: &Roads,
    flood: &Flood,
    plane: &Plane,
    rng: &mut ChaCha8Rng,
) -> Vec<Pipe> {
    let classes: Vec<RoadClass> = roads.roads.iter().map(|r| r.class).collect();
    let chains = chains_near_target(streets, &classes);
    let fills = fill_patches(streets, flood, rng);
    let eras = era_centres(streets, rng);
    let year_noise = Normal::new(0.0, 8.0).expect("valid normal");
    // What the 台帳 does not record (workmanship, bedding, local pressure):
    // a per-pipe factor with mean 1 that no model can learn from attributes.
    let frailty = LogNormal::new(-0.35f64 * 0.35 / 2.0, 0.35).expect("valid lognormal");
    let mut pipes: Vec<Pipe> = chains
        .into_iter()
        .enumerate()
        .map(|(i, (nodes, class))| {
            let line = LineString(nodes.iter().map(|&n| streets.nodes[n]).collect());
            let mid = point_along(&line, plane_length(&line) / 2.0);
            let flood_rank = flood.max_rank_on_line(&line);
            let soil = if flood_rank > 0 || flood.near(mid, 60.0).is_some() {
                Soil::LowlandAlluvial
            } else if fills.iter().any(|&(c, r)| dist(c, mid) < r) {
                Soil::Fill
            } else {
                Soil::TerraceLoam
            };
            // A fifth of the mains have been renewed under the ward-wide
            // replacement programme since the mid-1990s, wherever they are.
            let install_year = if rng.random_bool(RENEWED_SHARE) {
                rng.random_range(1995..=2020)
            } else {
                (era_at(&eras, mid) + year_noise.sample(rng))
                    .round()
                    .clamp(1950.0, 2020.0) as i32
            };
            let diameter_mm = diameter(class, rng);
            let material = material(install_year, diameter_mm, rng);
            let length_m = plane.geodesic_length(&line);
            let hidden = frailty.sample(rng);
            let raw = |year: i32| {
                if year < install_year {
                    return 0.0;
                }
                let age = (year - install_year) as f64 + 0.5;
                let soil_factor = match (soil, material.metallic()) {
                    (Soil::TerraceLoam, _) => 1.0,
                    (Soil::LowlandAlluvial, true) if material == Material::Sp => 2.4,
                    (Soil::LowlandAlluvial, true) => 1.9,
                    (Soil::LowlandAlluvial, false) => 1.3,
                    (Soil::Fill, true) => 2.0,
                    (Soil::Fill, false) => 1.5,
                };
                let traffic = match class {
                    RoadClass::Arterial => 1.15,
                    RoadClass::Collector => 1.05,
                    RoadClass::Local => 1.0,
                };
                length_m / 1000.0
                    * material.hazard_per_km(age)
                    * soil_factor
                    * (150.0 / diameter_mm as f64).powf(0.8)
                    * (1.0 + 0.15 * flood_rank as f64)
                    * traffic
                    * hidden
            };
            let mut rate_by_year = [0.0; YEARS];
            for (k, r) in rate_by_year.iter_mut().enumerate() {
                *r = raw(FIRST_YEAR + k as i32);
            }
            Pipe {
                id: format!("P{:05}", i + 1),
                line,
                road_class: class,
                material,
                diameter_mm,
                install_year,
                soil,
                flood_rank,
                length_m,
                rate_by_year,
                rate_next_year: raw(LAST_YEAR + 1),
            }
        })
        .collect();
    // Scale so that the ward sees about BREAKS_PER_YEAR breaks a year.
    let total: f64 = pipes.iter().map(Pipe::true_rate_per_year).sum();
    if total > 0.0 {
        let k = BREAKS_PER_YEAR / total;
        for p in &mut pipes {
            p.rate_by_year.iter_mut().for_each(|r| *r *= k);
            p.rate_next_year *= k;
        }
    }
    pipes
}

/// Draws the break history: Poisson counts per pipe and year, dated with
/// the winter peak of main breaks (cold water, frost, pressure surges).
pub fn simulate_breaks(pipes: &[Pipe], rng: &mut ChaCha8Rng) -> Vec<Break> {
    const MONTH_WEIGHTS: [f64; 12] = [1.5, 1.5, 1.1, 0.9, 0.8, 0.8, 0.9, 1.0, 0.9, 0.8, 0.9, 1.3];
    let mut breaks = Vec::new();
    for (i, p) in pipes.iter().enumerate() {
        for (k, &rate) in p.rate_by_year.iter().enumerate() {
            let year = FIRST_YEAR + k as i32;
            let n = match Poisson::new(rate) {
                Ok(d) if rate > 0.0 => d.sample(rng) as usize,
                _ => 0,
            };
            for _ in 0..n {
                let month = pick(rng, &MONTH_WEIGHTS) as u32 + 1;
                let first = NaiveDate::from_ymd_opt(year, month, 1).expect("valid month");
                let days = days_in_month(first);
                let date = first + chrono::Days::new(rng.random_range(0..days) as u64);
                let mut weights = [0.0; CAUSES.len()];
                weights[..6].copy_from_slice(&p.material.causes());
                if p.soil != Soil::TerraceLoam {
                    weights[6] = 0.15;
                }
                breaks.push(Break {
                    pipe: i,
                    date,
                    cause: CAUSES[pick(rng, &weights)],
                });
            }
        }
    }
    breaks.sort_by_key(|b| (b.date, b.pipe));
    breaks
}

fn days_in_month(first: NaiveDate) -> u32 {
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    };
    next.map_or(28, |n| (n - first).num_days() as u32)
}

/// Chains merged to a length that yields about TARGET_PIPES segments.
fn chains_near_target(streets: &Streets, classes: &[RoadClass]) -> Vec<(Vec<usize>, RoadClass)> {
    let total: f64 = (0..streets.edges.len()).map(|e| streets.length(e)).sum();
    let mut target = total / TARGET_PIPES as f64;
    let mut best = chains(streets, classes, target);
    for _ in 0..8 {
        let n = best.len();
        if n.abs_diff(TARGET_PIPES) <= TARGET_PIPES / 20 {
            break;
        }
        // The count responds weakly to the target (chains also end where
        // the road class changes): step boldly.
        target *= (n as f64 / TARGET_PIPES as f64).powi(3).clamp(0.5, 2.0);
        best = chains(streets, classes, target);
    }
    best
}

/// Merges street edges of one class into chains of about `target` metres,
/// going straight on at junctions; returns the node sequence of each.
fn chains(streets: &Streets, classes: &[RoadClass], target: f64) -> Vec<(Vec<usize>, RoadClass)> {
    let adj = streets.adjacency();
    let mut used = vec![false; streets.edges.len()];
    let mut out = Vec::new();
    for start in 0..streets.edges.len() {
        if used[start] {
            continue;
        }
        used[start] = true;
        let class = classes[start];
        let [a, b] = streets.edges[start];
        let mut nodes = std::collections::VecDeque::from([a, b]);
        let mut length = streets.length(start);
        // Extend forward from the back, then backward from the front.
        for forward in [true, false] {
            while length < target {
                let (v, u) = if forward {
                    (nodes[nodes.len() - 1], nodes[nodes.len() - 2])
                } else {
                    (nodes[0], nodes[1])
                };
                let heading = angle(streets.nodes[u], streets.nodes[v]);
                let max_turn = if length < STUB_SHARE * target {
                    STUB_MAX_TURN_DEG.to_radians()
                } else {
                    MAX_TURN_DEG.to_radians()
                };
                let next = adj[v]
                    .iter()
                    .filter(|&&e| !used[e] && classes[e] == class)
                    .filter_map(|&e| {
                        let [x, y] = streets.edges[e];
                        let w = if x == v { y } else { x };
                        if nodes.contains(&w) {
                            return None;
                        }
                        let turn = turn_between(heading, angle(streets.nodes[v], streets.nodes[w]));
                        (turn <= max_turn).then_some((turn, e, w))
                    })
                    .min_by(|p, q| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1)));
                let Some((_, e, w)) = next else {
                    break;
                };
                used[e] = true;
                length += streets.length(e);
                if forward {
                    nodes.push_back(w);
                } else {
                    nodes.push_front(w);
                }
            }
        }
        out.push((nodes.into_iter().collect(), class));
    }
    out
}

fn angle(from: Coord, to: Coord) -> f64 {
    (to.y - from.y).atan2(to.x - from.x)
}

fn turn_between(a: f64, b: f64) -> f64 {
    let d = (b - a).rem_euclid(std::f64::consts::TAU);
    d.min(std::f64::consts::TAU - d)
}

/// A few filled-in hollows (old ponds, valley heads) on the terrace.
fn fill_patches(streets: &Streets, flood: &Flood, rng: &mut ChaCha8Rng) -> Vec<(Coord, f64)> {
    let mut out = Vec::new();
    let mut tries = 0;
    while out.len() < FILL_PATCHES && tries < 1_000 && !streets.nodes.is_empty() {
        tries += 1;
        let c = streets.nodes[rng.random_range(0..streets.nodes.len())];
        let r = rng.random_range(120.0..260.0);
        if flood.near(c, r + 150.0).is_none() {
            out.push((c, r));
        }
    }
    out
}

/// Neighbourhoods were piped (and re-piped) in different decades: a smooth
/// field of installation eras from a dozen seeded centres.
fn era_centres(streets: &Streets, rng: &mut ChaCha8Rng) -> Vec<(Coord, f64)> {
    if streets.nodes.is_empty() {
        return Vec::new();
    }
    (0..ERA_CENTRES)
        .map(|_| {
            let c = streets.nodes[rng.random_range(0..streets.nodes.len())];
            (c, rng.random_range(1955.0..2005.0))
        })
        .collect()
}

fn era_at(centres: &[(Coord, f64)], p: Coord) -> f64 {
    let (mut sum, mut weight) = (0.0, 0.0);
    for &(c, era) in centres {
        let d = dist(c, p);
        let w = 1.0 / (d * d + 200.0 * 200.0);
        sum += w * era;
        weight += w;
    }
    if weight > 0.0 {
        sum / weight
    } else {
        1975.0
    }
}

fn diameter(class: RoadClass, rng: &mut ChaCha8Rng) -> u32 {
    let (sizes, weights): (&[u32], &[f64]) = match class {
        RoadClass::Arterial => (&[200, 250, 300, 400, 500], &[0.10, 0.15, 0.35, 0.30, 0.10]),
        RoadClass::Collector => (&[150, 200, 250, 300], &[0.30, 0.40, 0.20, 0.10]),
        RoadClass::Local => (&[75, 100, 150, 200], &[0.15, 0.35, 0.40, 0.10]),
    };
    sizes[pick(rng, weights)]
}

/// What was laid in that year at that size.
fn material(year: i32, diameter_mm: u32, rng: &mut ChaCha8Rng) -> Material {
    // CIP, DIP, SP, VP, PE, ACP
    let mut w: [f64; 6] = match year {
        ..=1959 => [0.50, 0.10, 0.12, 0.00, 0.00, 0.28],
        1960..=1969 => [0.30, 0.30, 0.10, 0.10, 0.00, 0.20],
        1970..=1979 => [0.08, 0.62, 0.08, 0.16, 0.00, 0.06],
        1980..=1994 => [0.00, 0.78, 0.06, 0.14, 0.02, 0.00],
        _ => [0.00, 0.72, 0.05, 0.03, 0.20, 0.00],
    };
    if diameter_mm > 150 {
        w[3] = 0.0; // VP
        w[4] = 0.0; // PE
    }
    if diameter_mm >= 400 {
        w[2] *= 3.0; // large mains are often steel
        w[5] = 0.0; // no ACP
    }
    MATERIALS[pick(rng, &w)]
}

/// `pipes.geojson`.
pub fn to_geojson(pipes: &[Pipe], plane: &Plane) -> Vec<u8> {
    let mut out = GeoJson::new("pipes");
    for (i, p) in pipes.iter().enumerate() {
        let line = plane.line_lonlat(&p.line);
        out.feature(
            i + 1,
            Geom::LineString(&line),
            &[
                ("pipe_id", Prop::str(&p.id)),
                ("material", Prop::str(p.material.as_str())),
                ("diameter_mm", Prop::Int(p.diameter_mm as i64)),
                ("install_year", Prop::Int(p.install_year as i64)),
                ("length_m", Prop::Num(p.length_m, 2)),
                ("soil_class", Prop::str(p.soil.as_str())),
                ("flood_depth_rank", Prop::Int(p.flood_rank as i64)),
                ("road_class", Prop::str(p.road_class.as_str())),
            ],
        );
    }
    out.finish()
}

/// `pipe_breaks.csv`.
pub fn breaks_csv(pipes: &[Pipe], breaks: &[Break]) -> Result<Vec<u8>> {
    let mut csv = Csv::new(&["break_id", "pipe_id", "date", "year", "cause"])?;
    for (i, b) in breaks.iter().enumerate() {
        csv.row(&[
            format!("BK{:06}", i + 1),
            pipes[b.pipe].id.clone(),
            b.date.to_string(),
            b.date.year().to_string(),
            b.cause.to_string(),
        ])?;
    }
    csv.finish()
}

/// `pipes_truth.csv`: the true expected breaks per year, averaged over the
/// history (`true_rate_per_year`) and for the year after it.
pub fn truth_csv(pipes: &[Pipe]) -> Result<Vec<u8>> {
    let next = format!("true_rate_{}", LAST_YEAR + 1);
    let mut csv = Csv::new(&["pipe_id", "true_rate_per_year", &next])?;
    for p in pipes {
        csv.row(&[
            p.id.clone(),
            format!("{:.6}", p.true_rate_per_year()),
            format!("{:.6}", p.rate_next_year),
        ])?;
    }
    csv.finish()
}
