//! Roads: one centreline segment per street edge, classed by how much
//! through traffic the network would route over it, with pavement cracks
//! as a dash-cam AI survey reports them (as 港区 does with camera cars).
//!
//! Classes are kept simple: an approximate edge betweenness — how many
//! shortest paths between sampled junctions use the segment — ranks the
//! segments, the top 10 % of the network length is `arterial`, the next
//! 20 % `collector`, the rest `local`. Heavily used segments join up into
//! continuous through routes by construction, as arterials do.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::error::Result;
use chrono::{Datelike, NaiveDate, Weekday};
use geo::{Coord, LineString};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Poisson};

use super::flood::Flood;
use super::geom::{lerp, Plane};
use super::output::{Csv, GeoJson, Geom, Prop};
use super::streets::Streets;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RoadClass {
    Local,
    Collector,
    Arterial,
}

impl RoadClass {
    pub fn as_str(self) -> &'static str {
        match self {
            RoadClass::Local => "local",
            RoadClass::Collector => "collector",
            RoadClass::Arterial => "arterial",
        }
    }
}

/// Shares of the network length that are arterial, and arterial or collector.
const ARTERIAL_SHARE: f64 = 0.10;
const COLLECTOR_SHARE: f64 = 0.30;
/// Junctions the shortest-path trees are grown from.
const BETWEENNESS_SOURCES: usize = 150;

/// The dash-cam survey: weekdays from this date, the ward driven west to east.
const SURVEY_START: (i32, u32, u32) = (2025, 6, 2);
const SURVEY_DAYS: usize = 30;

pub const CRACK_TYPES: [&str; 4] = ["longitudinal", "transverse", "alligator", "pothole"];
/// How much one detection of each type says about the pavement.
const CRACK_SEVERITY: [f64; 4] = [0.4, 0.5, 1.0, 1.0];

pub struct Road {
    pub id: String,
    pub class: RoadClass,
    /// Plane metres.
    pub line: LineString,
    pub length_m: f64,
    pub crack_score: f64,
    pub detections: usize,
    pub surveyed_on: NaiveDate,
}

pub struct Detection {
    pub road: usize,
    /// Plane metres.
    pub at: Coord,
    pub crack_type: usize,
    pub confidence: f64,
    pub detected_on: NaiveDate,
}

pub struct Roads {
    pub roads: Vec<Road>,
    pub detections: Vec<Detection>,
}

pub fn build(streets: &Streets, flood: &Flood, plane: &Plane, rng: &mut ChaCha8Rng) -> Roads {
    let classes = classify(streets, rng);
    let survey_days = survey_days();
    let (minx, maxx) = streets
        .nodes
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), c| {
            (lo.min(c.x), hi.max(c.x))
        });
    let confidence = Beta::new(5.0, 2.0).expect("valid beta");
    let mut roads = Vec::with_capacity(streets.edges.len());
    let mut detections = Vec::new();
    for (edge, &[a, b]) in streets.edges.iter().enumerate() {
        let (pa, pb) = (streets.nodes[a], streets.nodes[b]);
        let line = LineString(vec![pa, pb]);
        let length_m = plane.geodesic_length(&line);
        let class = classes[edge];
        // Pavement age since the last resurfacing; busier roads are
        // resurfaced more often but wear faster; water in the subgrade of
        // flood-prone lowland speeds the wear up.
        let (max_age, traffic) = match class {
            RoadClass::Arterial => (12.0, 1.4),
            RoadClass::Collector => (18.0, 1.15),
            RoadClass::Local => (30.0, 1.0),
        };
        let age: f64 = rng.random_range(0.0..max_age);
        let wet = if flood.max_rank_on_line(&line) > 0 {
            1.3
        } else {
            1.0
        };
        let wear = (age / 25.0).powf(1.5) * traffic * wet * rng.random_range(0.8..1.25);
        let mid_x = (pa.x + pb.x) / 2.0;
        let day = (((mid_x - minx) / (maxx - minx).max(1.0)) * SURVEY_DAYS as f64) as usize;
        let surveyed_on = survey_days[day.min(SURVEY_DAYS - 1)];
        let expected = length_m / 100.0 * (0.3 + 4.0 * wear * wear);
        let count = poisson(rng, expected);
        let mut signal = 0.0;
        let road_index = roads.len();
        let mut found: Vec<Detection> = (0..count)
            .map(|_| {
                let w = wear.min(1.0);
                // Cracks start as lines along and across the wheel paths;
                // alligator cracking and potholes come with worn pavement.
                let weights = [
                    0.45 - 0.20 * w, // longitudinal
                    0.35 - 0.05 * w, // transverse
                    0.15 + 0.20 * w, // alligator
                    0.03 + 0.05 * w, // pothole
                ];
                let crack_type = pick(rng, &weights);
                let conf = 0.35 + 0.64 * confidence.sample(rng);
                signal += CRACK_SEVERITY[crack_type] * conf;
                Detection {
                    road: road_index,
                    at: lerp(pa, pb, rng.random_range(0.0..1.0)),
                    crack_type,
                    confidence: conf,
                    detected_on: surveyed_on,
                }
            })
            .collect();
        // Confidence- and severity-weighted detections per 100 m, squashed
        // into 0–1: 0 = nothing seen, → 1 = cracked all along.
        let per_100m = signal / (length_m / 100.0).max(0.25);
        let crack_score = 1.0 - (-0.5 * per_100m).exp();
        found.sort_by(|x, y| {
            let along = |d: &Detection| super::geom::dist(pa, d.at);
            along(x).total_cmp(&along(y))
        });
        detections.extend(found);
        roads.push(Road {
            id: format!("R{:05}", road_index + 1),
            class,
            line,
            length_m,
            crack_score,
            detections: count,
            surveyed_on,
        });
    }
    Roads { roads, detections }
}

fn poisson(rng: &mut ChaCha8Rng, lambda: f64) -> usize {
    if lambda <= 0.0 || !lambda.is_finite() {
        return 0;
    }
    match Poisson::new(lambda) {
        Ok(p) => p.sample(rng) as usize,
        Err(_) => 0,
    }
}

/// An index drawn with the given (non-negative) weights.
pub fn pick(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().map(|w| w.max(0.0)).sum();
    let mut x = rng.random_range(0.0..total.max(f64::MIN_POSITIVE));
    for (i, w) in weights.iter().enumerate() {
        x -= w.max(0.0);
        if x < 0.0 {
            return i;
        }
    }
    weights.len() - 1
}

fn survey_days() -> Vec<NaiveDate> {
    let (y, m, d) = SURVEY_START;
    let mut day = NaiveDate::from_ymd_opt(y, m, d).expect("valid survey start");
    let mut out = Vec::with_capacity(SURVEY_DAYS);
    while out.len() < SURVEY_DAYS {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            out.push(day);
        }
        day = day.succ_opt().expect("date in range");
    }
    out
}

/// Classes by approximate edge betweenness (see the module doc).
fn classify(streets: &Streets, rng: &mut ChaCha8Rng) -> Vec<RoadClass> {
    let n = streets.nodes.len();
    let adj = streets.adjacency();
    let lengths: Vec<f64> = (0..streets.edges.len())
        .map(|e| streets.length(e))
        .collect();
    let mut usage = vec![0.0f64; streets.edges.len()];
    let k = BETWEENNESS_SOURCES.min(n);
    let mut sources = rand::seq::index::sample(rng, n, k).into_vec();
    sources.sort_unstable();
    for s in sources {
        let (order, parent) = shortest_path_tree(streets, &adj, &lengths, s);
        // Every node reached counts the tree edges on its path from `s`:
        // summing subtree sizes bottom-up gives each edge its path count.
        let mut below = vec![1.0f64; n];
        for &v in order.iter().rev() {
            if let Some(e) = parent[v] {
                usage[e] += below[v];
                let [a, b] = streets.edges[e];
                let up = if a == v { b } else { a };
                below[up] += below[v];
            }
        }
    }
    let mut ranked: Vec<usize> = (0..streets.edges.len()).collect();
    ranked.sort_by(|&a, &b| usage[b].total_cmp(&usage[a]).then(a.cmp(&b)));
    let total: f64 = lengths.iter().sum();
    let mut classes = vec![RoadClass::Local; streets.edges.len()];
    let mut acc = 0.0;
    for e in ranked {
        classes[e] = if acc < ARTERIAL_SHARE * total {
            RoadClass::Arterial
        } else if acc < COLLECTOR_SHARE * total {
            RoadClass::Collector
        } else {
            RoadClass::Local
        };
        acc += lengths[e];
    }
    classes
}

#[derive(PartialEq)]
struct Item(f64, usize);
impl Eq for Item {}
impl PartialOrd for Item {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Item {
    fn cmp(&self, other: &Self) -> Ordering {
        // Min-heap on distance, ties by node id.
        other.0.total_cmp(&self.0).then(other.1.cmp(&self.1))
    }
}

/// Dijkstra from `s`: nodes in order of settling, and each node's tree edge.
fn shortest_path_tree(
    streets: &Streets,
    adj: &[Vec<usize>],
    lengths: &[f64],
    s: usize,
) -> (Vec<usize>, Vec<Option<usize>>) {
    let n = streets.nodes.len();
    let mut d = vec![f64::INFINITY; n];
    let mut parent = vec![None; n];
    let mut done = vec![false; n];
    let mut order = Vec::with_capacity(n);
    let mut heap = BinaryHeap::new();
    d[s] = 0.0;
    heap.push(Item(0.0, s));
    while let Some(Item(dv, v)) = heap.pop() {
        if done[v] {
            continue;
        }
        done[v] = true;
        order.push(v);
        for &e in &adj[v] {
            let [a, b] = streets.edges[e];
            let w = if a == v { b } else { a };
            let nd = dv + lengths[e];
            if nd < d[w] {
                d[w] = nd;
                parent[w] = Some(e);
                heap.push(Item(nd, w));
            }
        }
    }
    (order, parent)
}

impl Roads {
    /// `roads.geojson`.
    pub fn to_geojson(&self, plane: &Plane) -> Vec<u8> {
        let mut out = GeoJson::new("roads");
        for (i, r) in self.roads.iter().enumerate() {
            let line = plane.line_lonlat(&r.line);
            out.feature(
                i + 1,
                Geom::LineString(&line),
                &[
                    ("road_id", Prop::str(&r.id)),
                    ("road_class", Prop::str(r.class.as_str())),
                    ("length_m", Prop::Num(r.length_m, 2)),
                    ("crack_score", Prop::Num(r.crack_score, 3)),
                    ("crack_detections", Prop::Int(r.detections as i64)),
                    ("surveyed_on", Prop::str(r.surveyed_on.to_string())),
                ],
            );
        }
        out.finish()
    }

    /// `crack_detections.csv`.
    pub fn detections_csv(&self, plane: &Plane) -> Result<Vec<u8>> {
        let mut csv = Csv::new(&[
            "detection_id",
            "road_id",
            "lon",
            "lat",
            "crack_type",
            "confidence",
            "detected_on",
        ])?;
        for (i, d) in self.detections.iter().enumerate() {
            let ll = plane.inv_rounded(d.at);
            csv.row(&[
                format!("D{:06}", i + 1),
                self.roads[d.road].id.clone(),
                format!("{:.7}", ll.x),
                format!("{:.7}", ll.y),
                CRACK_TYPES[d.crack_type].to_string(),
                format!("{:.3}", d.confidence),
                d.detected_on.to_string(),
            ])?;
        }
        csv.finish()
    }
}
