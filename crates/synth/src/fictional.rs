//! A fictional ward, 東京都架空区, written in the formats of the real public
//! data directory, for machines without `../shared/data/real`.
//!
//! [`write`] lays out a directory exactly like the parts of the real data
//! that chiiki reads — the ABR masters (zipped CSV, as published), the
//! 町丁目 points, the variant-character table, the census 小地域 polygons
//! (CP932 shapefile), the census 250 m mesh table, the A31 flood extents
//! (JGD2000 shapefile without attributes) and the GSI shelters (GeoJSON) —
//! under the same file names, so that the resident generator, the
//! infrastructure generator, the address reference build and the demo's
//! layers run on it unchanged. The directory names still say `bunkyo`
//! because that is where the readers look.
//!
//! The ward: 26 町丁目 of ten 大字・町 on a slightly irregular, slightly
//! rotated grid of 街区 (about 60 × 80 m between 12 m streets) around
//! 139.60 E, 35.60 N, about 1.7 × 1.3 km; 住居表示 numbers every 8.5 m of
//! frontage, clockwise round each block, with gaps as in real blocks (and,
//! as in 文京区's ABR, no 枝番); a river (緑川) along its southern edge
//! whose flood extents reach into the southern towns. Populations are
//! drawn per town and per 250 m cell, with a few old neighbourhoods where
//! 40 % and more are 65 or older.
//!
//! Nothing here is real: the names are invented, the place is arbitrary.
//! Deterministic: one `ChaCha8Rng` drawn in a fixed order, sorted outputs,
//! fixed float formatting, fixed dates in zip entries and .dbf headers —
//! the same seed gives byte-identical files.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Result, SynthError};
use gdal::vector::{
    FieldValue, LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType, ToGdal,
};
use geo::{Area, Coord, Intersects, LineString, Polygon};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::Serialize;

use super::city::kanji_number;
use chiiki_core::mesh::{self, MeshLevel};

/// What [`write`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FictionalSummary {
    /// 町丁目 (ABR towns, census polygons).
    pub towns: usize,
    /// 住居表示 addresses with a position.
    pub addresses: usize,
    /// Census population (sum of JINKO).
    pub population: u64,
}

/// The prefecture and the fictional ward.
pub const PREF: &str = "東京都";
pub const CITY: &str = "架空区";
const PREF_LG: &str = "130001";
const PREF_KANA: &str = "トウキョウト";
const PREF_ROMA: &str = "Tokyo";
/// JIS X 0402 13999 with its check digit; no real municipality has it.
pub const LG_CODE: &str = "139998";
const CITY_KANA: &str = "カクウク";
const CITY_ROMA: &str = "Kaku-ku";
const CENSUS_PREF: &str = "13";
const CENSUS_CITY: &str = "999";
const EFFECTIVE: &str = "1947-04-17";

/// The ward's centre.
const LON0: f64 = 139.60;
const LAT0: f64 = 35.60;

/// The grid of 街区: columns (west → east) and rows (north → south), the
/// spacing of street centre lines in metres, street width, rotation
/// (negative: clockwise, so the south-west corner is the western tip) and
/// the jitter of street crossings.
const NX: usize = 24;
const NY: usize = 14;
const PITCH_S: f64 = 72.0;
const PITCH_T: f64 = 92.0;
const STREET: f64 = 12.0;
const ROTATION_DEG: f64 = -10.0;
const JITTER: f64 = 6.0;
/// Building fronts are this far inside the block edge, one 住居番号 per
/// this many metres of frontage.
const SETBACK: f64 = 8.0;
const FRONTAGE: f64 = 8.5;

/// Bands of rows (north → south), how many towns each holds, and the
/// columns missing at the east end of the northern band (the ward's
/// notched north-east corner).
const BAND_ROWS: [usize; 4] = [3, 4, 3, 4];
const BAND_TOWNS: [usize; 4] = [6, 7, 6, 7];
const NOTCH: usize = 4;

/// People per address on average, before each town's density factor.
const PEOPLE_PER_ADDRESS: f64 = 8.0;

struct Oaza {
    name: &'static str,
    kana: &'static str,
    roma: &'static str,
    /// Number of 丁目; 0 for a town without.
    chome: u32,
}

/// Handed out in snake order over the bands (north band west → east, next
/// band east → west, …), so that the 丁目 of one 大字 are neighbours and
/// 川端 lies by the river.
const OAZA: [Oaza; 10] = [
    oaza("桜台", "サクラダイ", "Sakuradai", 4),
    oaza("緑町", "ミドリチョウ", "Midoricho", 3),
    oaza("若葉", "ワカバ", "Wakaba", 3),
    oaza("白鷺", "シラサギ", "Shirasagi", 2),
    oaza("旭ケ丘", "アサヒガオカ", "Asahigaoka", 3),
    oaza("宮前", "ミヤマエ", "Miyamae", 0),
    oaza("西原", "ニシハラ", "Nishihara", 3),
    oaza("松風", "マツカゼ", "Matsukaze", 2),
    oaza("汐見", "シオミ", "Shiomi", 2),
    oaza("川端", "カワバタ", "Kawabata", 3),
];

const fn oaza(name: &'static str, kana: &'static str, roma: &'static str, chome: u32) -> Oaza {
    Oaza {
        name,
        kana,
        roma,
        chome,
    }
}

/// Towns whose residents are old (the 1960s 団地 of the ward).
const OLD_TOWNS: [(&str, u32); 3] = [("宮前", 0), ("白鷺", 2), ("松風", 1)];

/// Paths inside the data directory, as in the real one.
pub const ABR_DIR: &str = "abr/bunkyo-131059";
pub const ABR_NATIONAL: &str = "abr/national";
pub const TOWNS_DIR: &str = "towns/api";
pub const ITAIJI: &str = "normalize/itaiji_jageocoder.json";
pub const CENSUS_POLYGONS: &str = "bunkyo/r2ka13105.shp";
pub const MESH_TABLE: &str = "mesh/bunkyo_mesh250_2020.csv";
pub const FLOOD: &str = "flood/A31-12_13.shp";
pub const SHELTERS_EMERGENCY: &str = "shelters/shelter_emergency_131059.json";
pub const SHELTERS_EVACUATION: &str = "shelters/shelter_evacuation_131059.json";

/// Variant characters (旧字体/異体字 → 新字体, and the kana the normaliser
/// folds), in the table's format: one character to one character.
const ITAIJI_PAIRS: [(char, char); 22] = [
    ('ケ', 'が'),
    ('ヶ', 'が'),
    ('ガ', 'が'),
    ('ツ', 'っ'),
    ('ッ', 'っ'),
    ('ノ', 'の'),
    ('之', 'の'),
    ('乃', 'の'),
    ('櫻', '桜'),
    ('澤', '沢'),
    ('濱', '浜'),
    ('邊', '辺'),
    ('邉', '辺'),
    ('髙', '高'),
    ('﨑', '崎'),
    ('嶋', '島'),
    ('舘', '館'),
    ('龍', '竜'),
    ('廣', '広'),
    ('國', '国'),
    ('會', '会'),
    ('驛', '駅'),
];

/// Local plane (metres east and north of the ward's centre) ↔ JGD2011
/// lon/lat, equirectangular on GRS80 at the centre: exact enough over 2 km.
struct Frame {
    kx: f64,
    ky: f64,
}

impl Frame {
    fn new() -> Frame {
        const A: f64 = 6_378_137.0;
        const F: f64 = 1.0 / 298.257_222_101;
        let e2 = F * (2.0 - F);
        let (s, c) = LAT0.to_radians().sin_cos();
        let w = (1.0 - e2 * s * s).sqrt();
        let n = A / w;
        let m = A * (1.0 - e2) / (w * w * w);
        Frame {
            kx: n * c * std::f64::consts::PI / 180.0,
            ky: m * std::f64::consts::PI / 180.0,
        }
    }

    fn lonlat(&self, p: Coord) -> Coord {
        Coord {
            x: LON0 + p.x / self.kx,
            y: LAT0 + p.y / self.ky,
        }
    }
}

/// The street grid: crossing points for i in -1..=NX+1, j in -1..=NY+1, in
/// local metres; (s, t) grid coordinates map to the plane bilinearly.
struct Grid {
    nodes: Vec<Coord>,
}

impl Grid {
    const W: usize = NX + 3;

    fn new(rng: &mut ChaCha8Rng) -> Grid {
        let (sin, cos) = ROTATION_DEG.to_radians().sin_cos();
        let e_s = Coord { x: cos, y: sin };
        let e_t = Coord { x: sin, y: -cos };
        let (cs, ct) = (NX as f64 / 2.0, NY as f64 / 2.0);
        let mut nodes = Vec::with_capacity(Grid::W * (NY + 3));
        for j in -1..=(NY as i32 + 1) {
            for i in -1..=(NX as i32 + 1) {
                let (ds, dt) = ((i as f64 - cs) * PITCH_S, (j as f64 - ct) * PITCH_T);
                let jx = rng.random_range(-JITTER..=JITTER);
                let jy = rng.random_range(-JITTER..=JITTER);
                nodes.push(Coord {
                    x: ds * e_s.x + dt * e_t.x + jx,
                    y: ds * e_s.y + dt * e_t.y + jy,
                });
            }
        }
        Grid { nodes }
    }

    fn node(&self, i: i32, j: i32) -> Coord {
        self.nodes[(j + 1) as usize * Grid::W + (i + 1) as usize]
    }

    /// The plane point of grid coordinates (s, t), s in [-1, NX+1], t in [-1, NY+1].
    fn at(&self, s: f64, t: f64) -> Coord {
        let i = (s.floor() as i32).clamp(-1, NX as i32);
        let j = (t.floor() as i32).clamp(-1, NY as i32);
        let (u, v) = (s - i as f64, t - j as f64);
        let (a, b) = (self.node(i, j), self.node(i + 1, j));
        let (c, d) = (self.node(i, j + 1), self.node(i + 1, j + 1));
        let top = a * (1.0 - u) + b * u;
        let bottom = c * (1.0 - u) + d * u;
        top * (1.0 - v) + bottom * v
    }
}

/// A 町丁目: its 大字, 丁目 and its rectangle of grid cells.
struct Town {
    oaza: usize,
    chome: u32,
    s0: usize,
    s1: usize,
    t0: usize,
    t1: usize,
    population: u32,
    households: u32,
    /// Share of 65+ (drawn per town; cells mix their towns').
    elderly: f64,
    /// Representative point (mean of its addresses), lon/lat.
    rep: Coord,
}

impl Town {
    fn oaza(&self) -> &'static Oaza {
        &OAZA[self.oaza]
    }

    fn name(&self) -> String {
        if self.chome == 0 {
            self.oaza().name.to_string()
        } else {
            format!("{}{}丁目", self.oaza().name, kanji_number(self.chome))
        }
    }

    fn is_old(&self) -> bool {
        OLD_TOWNS.contains(&(self.oaza().name, self.chome))
    }

    fn machiaza_id(&self) -> String {
        format!("{:04}{:03}", self.oaza + 1, self.chome)
    }

    /// The census 小地域 code: 町 code (4 digits) + 丁目 (2 digits).
    fn s_area(&self) -> String {
        format!("{:03}0{:02}", (self.oaza + 1) * 10, self.chome)
    }

    /// The outline through every street crossing on its edges, clockwise.
    fn outline(&self, grid: &Grid) -> Vec<Coord> {
        let (s0, s1, t0, t1) = (
            self.s0 as i32,
            self.s1 as i32,
            self.t0 as i32,
            self.t1 as i32,
        );
        let mut ring = Vec::new();
        for i in s0..s1 {
            ring.push(grid.node(i, t0));
        }
        for j in t0..t1 {
            ring.push(grid.node(s1, j));
        }
        for i in (s0 + 1..=s1).rev() {
            ring.push(grid.node(i, t1));
        }
        for j in (t0 + 1..=t1).rev() {
            ring.push(grid.node(s0, j));
        }
        ring.push(ring[0]);
        ring
    }
}

/// One 住居表示 address.
struct Address {
    town: usize,
    block: u32,
    number: u32,
    /// Grid coordinates (to find the middle of a town).
    s: f64,
    t: f64,
    /// As written in the file (9 decimals) and read back.
    lon: f64,
    lat: f64,
}

/// Splits `width` columns into `n` towns of 3 to 5 columns.
fn split_columns(width: usize, n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    let mut parts = vec![3usize; n];
    let mut left = width - 3 * n;
    while left > 0 {
        let i = rng.random_range(0..n);
        if parts[i] < 5 {
            parts[i] += 1;
            left -= 1;
        }
    }
    parts
}

fn plan_towns(rng: &mut ChaCha8Rng) -> Vec<Town> {
    let mut names: Vec<(usize, u32)> = Vec::new();
    for (k, o) in OAZA.iter().enumerate() {
        if o.chome == 0 {
            names.push((k, 0));
        }
        for c in 1..=o.chome {
            names.push((k, c));
        }
    }
    let mut next = names.into_iter();
    let mut towns = Vec::new();
    let mut t0 = 0;
    for (band, (&rows, &count)) in BAND_ROWS.iter().zip(&BAND_TOWNS).enumerate() {
        let width = if band == 0 { NX - NOTCH } else { NX };
        let widths = split_columns(width, count, rng);
        let mut cells: Vec<(usize, usize)> = Vec::new();
        let mut s0 = 0;
        for w in widths {
            cells.push((s0, s0 + w));
            s0 += w;
        }
        if band % 2 == 1 {
            cells.reverse();
        }
        for (s0, s1) in cells {
            let (oaza, chome) = next.next().expect("as many names as towns");
            towns.push(Town {
                oaza,
                chome,
                s0,
                s1,
                t0,
                t1: t0 + rows,
                population: 0,
                households: 0,
                elderly: 0.0,
                rep: Coord { x: 0.0, y: 0.0 },
            });
        }
        t0 += rows;
    }
    debug_assert!(next.next().is_none());
    debug_assert_eq!(t0, NY);
    towns
}

/// Rounds to `places` decimals as written and read back.
fn rounded(x: f64, places: usize) -> f64 {
    format!("{x:.places$}")
        .parse()
        .expect("a formatted float parses")
}

/// Lays out the 住居表示 addresses of every town: blocks numbered in snake
/// order, 住居番号 clockwise round each block from its north-west corner.
fn lay_addresses(towns: &[Town], grid: &Grid, frame: &Frame, rng: &mut ChaCha8Rng) -> Vec<Address> {
    let inset_s = (STREET / 2.0 + SETBACK) / PITCH_S;
    let inset_t = (STREET / 2.0 + SETBACK) / PITCH_T;
    let (w, h) = (
        PITCH_S * (1.0 - 2.0 * inset_s),
        PITCH_T * (1.0 - 2.0 * inset_t),
    );
    let perimeter = 2.0 * (w + h);
    let slots = (perimeter / FRONTAGE).floor() as u32;
    let mut out = Vec::new();
    for (ti, town) in towns.iter().enumerate() {
        let mut block = 0;
        for (r, j) in (town.t0..town.t1).enumerate() {
            let columns: Vec<usize> = if r % 2 == 0 {
                (town.s0..town.s1).collect()
            } else {
                (town.s0..town.s1).rev().collect()
            };
            for i in columns {
                block += 1;
                let n = rng.random_range(10..=25u32.min(slots));
                // n of the slots, in order: numbers with gaps, as in real blocks.
                let mut taken: BTreeSet<u32> = BTreeSet::new();
                while taken.len() < n as usize {
                    taken.insert(rng.random_range(0..slots));
                }
                for slot in taken {
                    let along = (slot as f64 + 0.5 + rng.random_range(-0.2..0.2)) * perimeter
                        / slots as f64;
                    let (ds, dt) = perimeter_point(along, w, h);
                    let s = i as f64 + inset_s + ds / PITCH_S;
                    let t = j as f64 + inset_t + dt / PITCH_T;
                    let p = frame.lonlat(grid.at(s, t));
                    out.push(Address {
                        town: ti,
                        block,
                        number: slot + 1,
                        s,
                        t,
                        lon: rounded(p.x, 9),
                        lat: rounded(p.y, 9),
                    });
                }
            }
        }
    }
    out
}

/// The point `along` metres clockwise round a w × h rectangle from its
/// north-west corner, as offsets (east, south) from that corner.
fn perimeter_point(along: f64, w: f64, h: f64) -> (f64, f64) {
    if along < w {
        (along, 0.0)
    } else if along < w + h {
        (w, along - w)
    } else if along < 2.0 * w + h {
        (w - (along - w - h), h)
    } else {
        (0.0, h - (along - 2.0 * w - h))
    }
}

/// Draws each town's population, households and share of 65+.
fn people(towns: &mut [Town], addresses: &[Address], rng: &mut ChaCha8Rng) {
    let mut count = vec![0u32; towns.len()];
    for a in addresses {
        count[a.town] += 1;
    }
    let density = Normal::<f64>::new(0.0, 0.25).expect("valid normal");
    let elderly = Normal::<f64>::new(0.21, 0.035).expect("valid normal");
    for (t, n) in towns.iter_mut().zip(count) {
        let f = density.sample(rng).exp().clamp(0.6, 1.6);
        t.population = (n as f64 * PEOPLE_PER_ADDRESS * f).round() as u32;
        let size = rng.random_range(1.65..2.25);
        t.households = (t.population as f64 / size).round() as u32;
        t.elderly = elderly.sample(rng).clamp(0.12, 0.32);
        if t.is_old() {
            t.elderly = rng.random_range(0.42..0.47);
        }
    }
}

/// The 50 figures (T001142001–050) of a cell, indexed 0–49.
type Figures = [u32; 50];

/// Column index of T001142nnn.
const fn col(n: usize) -> usize {
    n - 1
}

/// Figures of a cell of `pop` people of which a share `s65` is 65+.
fn figures(pop: u32, s65: f64, rng: &mut ChaCha8Rng) -> Figures {
    let p = pop as f64;
    let round = |x: f64| x.round().max(0.0) as u32;
    let s_child = (0.125 - 0.18 * (s65 - 0.21) + rng.random_range(-0.02..0.02)).clamp(0.04, 0.18);
    let child = round(p * s_child);
    let old = round(p * s65).min(pop - child);
    let a15_17 = round(child as f64 * 0.2);
    let a18_19 = round(child as f64 * 0.15 + p * 0.01);
    let working = pop - child - old;
    let (a15_17, a18_19) = if a15_17 + a18_19 <= working {
        (a15_17, a18_19)
    } else {
        (0, 0)
    };
    let a20_64 = working - a15_17 - a18_19;
    let old75 = round(old as f64 * rng.random_range(0.46..0.58));
    let old85 = round(old75 as f64 * rng.random_range(0.28..0.38));
    let old95 = round(old85 as f64 * 0.1);
    // Disjoint bands and their share of men.
    let bands = [
        (child, 0.51),
        (a15_17, 0.51),
        (a18_19, 0.50),
        (a20_64, 0.49),
        (old - old75, 0.46),
        (old75 - old85, 0.42),
        (old85 - old95, 0.32),
        (old95, 0.18),
    ];
    let split: Vec<(u32, u32)> = bands
        .iter()
        .map(|&(n, m)| {
            let men = round(n as f64 * (m + rng.random_range(-0.03..0.03))).min(n);
            (men, n - men)
        })
        .collect();
    let mut f = [0u32; 50];
    let mut triple = |first: usize, range: std::ops::Range<usize>| {
        let (m, w) = split[range]
            .iter()
            .fold((0, 0), |(a, b), &(m, w)| (a + m, b + w));
        f[col(first)] = m + w;
        f[col(first + 1)] = m;
        f[col(first + 2)] = w;
    };
    triple(1, 0..8); // total
    triple(4, 0..1); // 0–14
    triple(7, 1..8); // 15+
    triple(10, 1..4); // 15–64
    triple(13, 2..8); // 18+
    triple(16, 3..8); // 20+
    triple(19, 4..8); // 65+
    triple(22, 5..8); // 75+
    triple(25, 6..8); // 85+
    triple(28, 7..8); // 95+
    let foreign = round(p * rng.random_range(0.02..0.07));
    let foreign_men = round(foreign as f64 * rng.random_range(0.45..0.55));
    f[col(31)] = foreign;
    f[col(32)] = foreign_men;
    f[col(33)] = foreign - foreign_men;

    // Households: a few people live in institutions, the others in general
    // households of 1 to 7+ people.
    let institution = round(p * 0.012);
    let general_people = pop - institution;
    let one_share =
        (0.52 + rng.random_range(-0.08..0.08) - 0.6 * (s_child - 0.12)).clamp(0.3, 0.66);
    const MULTI: [f64; 6] = [0.50, 0.24, 0.17, 0.06, 0.02, 0.01];
    let multi_mean: f64 = MULTI
        .iter()
        .enumerate()
        .map(|(k, w)| (k + 2) as f64 * w)
        .sum();
    let mean = one_share + (1.0 - one_share) * multi_mean;
    let general = round(general_people as f64 / mean).max(u32::from(general_people > 0));
    let mut sizes = [0u32; 7];
    sizes[0] = round(general as f64 * one_share).min(general);
    let multi = general - sizes[0];
    let parts = super::population::apportion(multi, &MULTI);
    sizes[1..].copy_from_slice(&parts);
    // No more people in households than live in the cell.
    let people_in =
        |s: &[u32; 7]| -> u32 { s.iter().enumerate().map(|(k, n)| (k as u32 + 1) * n).sum() };
    while people_in(&sizes) > general_people {
        match (1..7).rev().find(|&k| sizes[k] > 0) {
            Some(k) => {
                sizes[k] -= 1;
                sizes[0] += 1;
            }
            None => break,
        }
    }
    let alone = sizes[0];
    let pairs = sizes[1];
    let multi = general - alone;
    f[col(34)] = general + u32::from(institution > 0);
    f[col(35)] = general;
    f[col(36)..col(36) + 7].copy_from_slice(&sizes);
    let relatives = round(multi as f64 * rng.random_range(0.90..0.96));
    let nuclear = round(relatives as f64 * rng.random_range(0.84..0.92));
    f[col(43)] = relatives;
    f[col(44)] = nuclear;
    f[col(45)] = relatives - nuclear;
    f[col(46)] = round(child as f64 * 0.3).min(relatives);
    let elderly_single = round(old as f64 * rng.random_range(0.2..0.3)).min(alone);
    let elderly_couple = round(old as f64 * rng.random_range(0.18..0.24))
        .min(pairs)
        .min((old - elderly_single) / 2);
    let with_old = (elderly_single
        + elderly_couple
        + round((old - elderly_single - 2 * elderly_couple) as f64 * 0.55))
    .min(general);
    f[col(47)] = with_old.max(elderly_single + elderly_couple);
    f[col(48)] = round((alone - elderly_single) as f64 * rng.random_range(0.2..0.4));
    f[col(49)] = elderly_single;
    f[col(50)] = elderly_couple;
    f
}

/// One row of the mesh table.
struct MeshRow {
    code: u64,
    /// 0 none, 1 holds hidden neighbours, 2 hidden.
    status: u8,
    into: Option<u64>,
    merged: Vec<u64>,
    figures: Figures,
}

/// Cells with fewer people than this are hidden (秘匿) into a neighbour.
const HIDE_BELOW: u32 = 30;

fn mesh_rows(towns: &[Town], addresses: &[Address], rng: &mut ChaCha8Rng) -> Vec<MeshRow> {
    let mut per_town = vec![0u32; towns.len()];
    for a in addresses {
        per_town[a.town] += 1;
    }
    // Expected people, 65+ and people of the old towns each address brings
    // to its cell.
    let mut cells: BTreeMap<u64, (f64, f64, f64)> = BTreeMap::new();
    for a in addresses {
        let code = mesh::code(a.lon, a.lat, MeshLevel::M250m).expect("the ward is in Japan");
        let t = &towns[a.town];
        let people = t.population as f64 / per_town[a.town] as f64;
        let e = cells.entry(code).or_default();
        e.0 += people;
        e.1 += people * t.elderly;
        if t.is_old() {
            e.2 += people;
        }
    }
    // The old neighbourhoods: cells mostly of old towns, at least three.
    let mut by_oldness: Vec<(f64, u64)> = cells
        .iter()
        .filter(|(_, c)| c.0 >= 100.0)
        .map(|(&code, c)| (c.2 / c.0, code))
        .collect();
    by_oldness.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let old_cells: BTreeSet<u64> = by_oldness
        .iter()
        .enumerate()
        .filter(|&(i, &(share, _))| share >= 0.5 || i < 3)
        .map(|(_, &(_, code))| code)
        .collect();
    let noise = Normal::new(0.0, 0.02).expect("valid normal");
    let mut rows: Vec<MeshRow> = cells
        .iter()
        .map(|(&code, &(people, old, _))| {
            let pop = people.round().max(1.0) as u32;
            let mut s65 = (old / people + noise.sample(rng)).clamp(0.08, 0.5);
            if old_cells.contains(&code) {
                s65 = s65.max(rng.random_range(0.405..0.47));
            }
            MeshRow {
                code,
                status: 0,
                into: None,
                merged: Vec::new(),
                figures: figures(pop, s65, rng),
            }
        })
        .collect();

    // Hide the smallest cells into their most populous neighbour.
    let index: BTreeMap<u64, usize> = rows.iter().enumerate().map(|(i, r)| (r.code, i)).collect();
    for i in 0..rows.len() {
        if rows[i].figures[col(1)] >= HIDE_BELOW || rows[i].status != 0 {
            continue;
        }
        let Some(cell) = mesh::cell(rows[i].code) else {
            continue;
        };
        let (cx, cy) = (
            (cell.min().x + cell.max().x) / 2.0,
            (cell.min().y + cell.max().y) / 2.0,
        );
        let (w, h) = (cell.width(), cell.height());
        let mut best: Option<usize> = None;
        for (dx, dy) in [(-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0)] {
            let Some(n) = mesh::code(cx + dx * w, cy + dy * h, MeshLevel::M250m)
                .and_then(|c| index.get(&c).copied())
            else {
                continue;
            };
            if rows[n].status == 2 || rows[n].figures[col(1)] < 5 * HIDE_BELOW {
                continue;
            }
            if best.is_none_or(|b| rows[n].figures[col(1)] > rows[b].figures[col(1)]) {
                best = Some(n);
            }
        }
        let Some(host) = best else { continue };
        let hidden = rows[i].figures;
        for (c, (sum, v)) in rows[host].figures.iter_mut().zip(hidden).enumerate() {
            if !is_always_shown(c) {
                *sum += v;
            }
        }
        rows[host].status = 1;
        let code = rows[i].code;
        rows[host].merged.push(code);
        rows[i].status = 2;
        rows[i].into = Some(rows[host].code);
    }
    rows
}

/// Columns a hidden cell still shows: population (total, men, women) and
/// households (all, general).
fn is_always_shown(c: usize) -> bool {
    matches!(c + 1, 1..=3 | 34 | 35)
}

/// The Japanese names of T001142001–050, as in the table's second header line.
const MESH_NAMES: [&str; 50] = [
    "人口（総数）",
    "人口（総数）　男",
    "人口（総数）　女",
    "０～１４歳人口　総数",
    "０～１４歳人口　男",
    "０～１４歳人口　女",
    "１５歳以上人口　総数",
    "１５歳以上人口　男",
    "１５歳以上人口　女",
    "１５～６４歳人口　総数",
    "１５～６４歳人口　男",
    "１５～６４歳人口　女",
    "１８歳以上人口　総数",
    "１８歳以上人口　男",
    "１８歳以上人口　女",
    "２０歳以上人口　総数",
    "２０歳以上人口　男",
    "２０歳以上人口　女",
    "６５歳以上人口　総数",
    "６５歳以上人口　男",
    "６５歳以上人口　女",
    "７５歳以上人口　総数",
    "７５歳以上人口　男",
    "７５歳以上人口　女",
    "８５歳以上人口　総数",
    "８５歳以上人口　男",
    "８５歳以上人口　女",
    "９５歳以上人口　総数",
    "９５歳以上人口　男",
    "９５歳以上人口　女",
    "外国人人口　総数",
    "外国人人口　男",
    "外国人人口　女",
    "世帯総数",
    "一般世帯数",
    "１人世帯数　一般世帯数",
    "２人世帯数　一般世帯数",
    "３人世帯数　一般世帯数",
    "４人世帯数　一般世帯数",
    "５人世帯数　一般世帯数",
    "６人世帯数　一般世帯数",
    "７人以上世帯数　一般世帯数",
    "親族のみの世帯数　一般世帯数",
    "核家族世帯数　一般世帯数",
    "核家族以外の世帯数　一般世帯数",
    "６歳未満世帯員のいる世帯数　一般世帯数",
    "６５歳以上世帯員のいる世帯数　一般世帯数",
    "世帯主の年齢が２０～２９歳の１人世帯数　一般世帯数",
    "高齢単身世帯数　一般世帯数",
    "高齢夫婦世帯数　一般世帯数",
];

fn mesh_table(rows: &[MeshRow]) -> String {
    let mut out = String::from("KEY_CODE,HTKSYORI,HTKSAKI,GASSAN");
    for n in 1..=50 {
        out.push_str(&format!(",T001142{n:03}"));
    }
    out.push_str("\n,,,");
    for name in MESH_NAMES {
        out.push_str(",　");
        out.push_str(name);
    }
    out.push('\n');
    for r in rows {
        let into = r.into.map_or(String::new(), |c| c.to_string());
        let merged: Vec<String> = r.merged.iter().map(|c| c.to_string()).collect();
        out.push_str(&format!(
            "{},{},{into},{}",
            r.code,
            r.status,
            merged.join(";")
        ));
        for (c, v) in r.figures.iter().enumerate() {
            if r.status == 2 && !is_always_shown(c) {
                out.push_str(",*");
            } else {
                out.push_str(&format!(",{v}"));
            }
        }
        out.push('\n');
    }
    out
}

/// The flood extents along the river: three depth bands reaching into the
/// ward from its southern edge, cut into pieces along the river (as A31
/// tiles its extents), in grid coordinates (s, t) sampled along s.
struct Flood {
    /// Reach north of the southern edge, in rows, of the three bands' northern edges.
    reach: [Vec<f64>; 3],
    samples: Vec<f64>,
}

/// The river's far bank, south of the ward, in rows.
const FAR_BANK: f64 = 0.45;
const FLOOD_CUTS: [f64; 8] = [-1.0, 3.0, 7.5, 11.0, 14.5, 18.0, 21.5, 25.0];

impl Flood {
    fn new(rng: &mut ChaCha8Rng) -> Flood {
        let samples: Vec<f64> = (0..=104).map(|k| -1.0 + k as f64 * 0.25).collect();
        let mut wave = || {
            let (phase, length) = (
                rng.random_range(0.0..std::f64::consts::TAU),
                rng.random_range(5.0..11.0),
            );
            let (phase2, length2) = (
                rng.random_range(0.0..std::f64::consts::TAU),
                rng.random_range(2.0..4.0),
            );
            move |s: f64| {
                0.5 + 0.35 * (std::f64::consts::TAU * s / length + phase).sin()
                    + 0.15 * (std::f64::consts::TAU * s / length2 + phase2).sin()
            }
        };
        let (w1, w2, w3) = (wave(), wave(), wave());
        let r1: Vec<f64> = samples.iter().map(|&s| 0.25 + 0.35 * w1(s)).collect();
        let r2: Vec<f64> = samples
            .iter()
            .zip(&r1)
            .map(|(&s, r)| r + 0.3 + 0.6 * w2(s))
            .collect();
        let r3: Vec<f64> = samples
            .iter()
            .zip(&r2)
            .map(|(&s, r)| r + 0.2 + 1.0 * w3(s))
            .collect();
        Flood {
            reach: [r1, r2, r3],
            samples,
        }
    }

    /// Northern edge of band `b` at sample k, as a t coordinate.
    fn edge(&self, b: usize, k: usize) -> f64 {
        NY as f64 - self.reach[b][k]
    }

    /// The pieces, in lon/lat.
    fn pieces(&self, grid: &Grid, frame: &Frame) -> Vec<Polygon> {
        let mut out = Vec::new();
        let ll = |s: f64, t: f64| frame.lonlat(grid.at(s, t));
        for cut in FLOOD_CUTS.windows(2) {
            let ks: Vec<usize> = (0..self.samples.len())
                .filter(|&k| self.samples[k] >= cut[0] - 1e-9 && self.samples[k] <= cut[1] + 1e-9)
                .collect();
            for b in 0..3 {
                let north = |k: usize| self.edge(b, k);
                let south = |k: usize| {
                    if b == 0 {
                        NY as f64 + FAR_BANK
                    } else {
                        self.edge(b - 1, k)
                    }
                };
                let mut ring: Vec<Coord> =
                    ks.iter().map(|&k| ll(self.samples[k], north(k))).collect();
                ring.extend(ks.iter().rev().map(|&k| ll(self.samples[k], south(k))));
                ring.push(ring[0]);
                out.push(Polygon::new(LineString(ring), vec![]));
            }
        }
        out
    }
}

/// A shelter: where, what, and its flags.
struct Shelter {
    name: String,
    address: String,
    lon: f64,
    lat: f64,
    flooded: bool,
    /// For evacuation shelters: 要配慮者 only (welfare facilities).
    care: bool,
}

/// The address of the first 住居番号 of the block nearest the middle of a town.
fn site(
    towns: &[Town],
    addresses: &[Address],
    town: usize,
    flood: &[Polygon],
) -> Option<(String, &'static str, f64, f64, bool)> {
    let t = &towns[town];
    let (ms, mt) = ((t.s0 + t.s1) as f64 / 2.0, (t.t0 + t.t1) as f64 / 2.0);
    let a = addresses.iter().filter(|a| a.town == town).min_by(|a, b| {
        let d = |a: &Address| (a.s - ms).powi(2) + (a.t - mt).powi(2);
        d(a).total_cmp(&d(b))
            .then(a.block.cmp(&b.block))
            .then(a.number.cmp(&b.number))
    })?;
    let chome = if t.chome > 0 {
        format!("{}-", t.chome)
    } else {
        String::new()
    };
    let address = format!(
        "{PREF}{CITY}{}{chome}{}-{}",
        t.oaza().name,
        a.block,
        a.number
    );
    let point = geo::Point::new(a.lon, a.lat);
    let flooded = flood.iter().any(|p| p.intersects(&point));
    Some((address, t.oaza().name, a.lon, a.lat, flooded))
}

fn shelters(
    towns: &[Town],
    addresses: &[Address],
    flood: &[Polygon],
) -> (Vec<Shelter>, Vec<Shelter>) {
    let first_of = |oaza: usize| towns.iter().position(|t| t.oaza == oaza && t.chome <= 1);
    let mut evacuation = Vec::new();
    for k in 0..OAZA.len() {
        let Some(town) = first_of(k) else { continue };
        let Some((address, name, lon, lat, flooded)) = site(towns, addresses, town, flood) else {
            continue;
        };
        let kind = if k % 3 == 2 { "中学校" } else { "小学校" };
        evacuation.push(Shelter {
            name: format!("{CITY}立{name}{kind}"),
            address,
            lon,
            lat,
            flooded,
            care: false,
        });
    }
    // Welfare facilities for people needing care, in the second 丁目 of three 大字.
    for (oaza, name) in [
        (1, "特別養護老人ホーム緑町の郷"),
        (6, "介護老人保健施設にしはら"),
        (8, "汐見高齢者在宅サービスセンター"),
    ] {
        let Some(town) = towns.iter().position(|t| t.oaza == oaza && t.chome == 2) else {
            continue;
        };
        let Some((address, _, lon, lat, flooded)) = site(towns, addresses, town, flood) else {
            continue;
        };
        evacuation.push(Shelter {
            name: name.to_string(),
            address,
            lon,
            lat,
            flooded,
            care: true,
        });
    }
    // Wide-area emergency sites: parks and grounds.
    let mut emergency = Vec::new();
    for (oaza, chome, name) in [
        (0, 3, "桜台公園一帯"),
        (2, 2, "若葉運動場一帯"),
        (4, 2, "旭ケ丘緑地"),
        (5, 0, "宮前団地・宮前中央公園一帯"),
        (9, 2, "緑川河川敷グラウンド"),
    ] {
        let Some(town) = towns
            .iter()
            .position(|t| t.oaza == oaza && t.chome == chome)
        else {
            continue;
        };
        let Some((address, _, lon, lat, flooded)) = site(towns, addresses, town, flood) else {
            continue;
        };
        emergency.push(Shelter {
            name: name.to_string(),
            address,
            lon,
            lat,
            flooded,
            care: false,
        });
    }
    (emergency, evacuation)
}

#[derive(Serialize)]
struct FeatureCollection<P> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'static str,
    features: Vec<Feature<P>>,
}

#[derive(Serialize)]
struct Feature<P> {
    #[serde(rename = "type")]
    kind: &'static str,
    geometry: PointGeometry,
    properties: P,
}

#[derive(Serialize)]
struct PointGeometry {
    #[serde(rename = "type")]
    kind: &'static str,
    coordinates: [f64; 2],
}

#[derive(Serialize)]
struct EmergencyProps {
    #[serde(rename = "NO")]
    no: u32,
    #[serde(rename = "共通ID")]
    common_id: String,
    #[serde(rename = "都道府県名及び市町村名")]
    municipality: String,
    #[serde(rename = "施設・場所名")]
    name: String,
    #[serde(rename = "住所")]
    address: String,
    #[serde(rename = "洪水")]
    flood: &'static str,
    #[serde(rename = "崖崩れ、土石流及び地滑り")]
    landslide: &'static str,
    #[serde(rename = "高潮")]
    storm_surge: &'static str,
    #[serde(rename = "地震")]
    earthquake: &'static str,
    #[serde(rename = "津波")]
    tsunami: &'static str,
    #[serde(rename = "大規模な火事")]
    fire: &'static str,
    #[serde(rename = "内水氾濫")]
    inland_flood: &'static str,
    #[serde(rename = "火山現象")]
    volcano: &'static str,
    #[serde(rename = "指定避難所との住所同一")]
    same_as_shelter: &'static str,
    #[serde(rename = "備考")]
    remarks: &'static str,
}

#[derive(Serialize)]
struct EvacuationProps {
    #[serde(rename = "NO")]
    no: u32,
    #[serde(rename = "共通ID")]
    common_id: String,
    #[serde(rename = "都道府県名及び市町村名")]
    municipality: String,
    #[serde(rename = "施設・場所名")]
    name: String,
    #[serde(rename = "住所")]
    address: String,
    #[serde(rename = "指定緊急避難場所との住所同一")]
    same_as_site: &'static str,
    #[serde(rename = "その他市町村長が必要と認める事項")]
    other: Option<&'static str>,
    #[serde(rename = "受入対象者")]
    accepted: Option<&'static str>,
    #[serde(rename = "備考")]
    remarks: &'static str,
}

fn point(lon: f64, lat: f64) -> PointGeometry {
    PointGeometry {
        kind: "Point",
        coordinates: [rounded(lon, 6), rounded(lat, 6)],
    }
}

fn geojson<P: Serialize>(features: Vec<Feature<P>>) -> Result<Vec<u8>> {
    let fc = FeatureCollection {
        kind: "FeatureCollection",
        name: LG_CODE,
        features,
    };
    let mut bytes = serde_json::to_vec_pretty(&fc).map_err(SynthError::encode("GeoJSON"))?;
    bytes.push(b'\n');
    Ok(bytes)
}

fn emergency_json(sites: &[Shelter]) -> Result<Vec<u8>> {
    let city_code = &LG_CODE[..5];
    let features = sites
        .iter()
        .enumerate()
        .map(|(i, s)| Feature {
            kind: "Feature",
            geometry: point(s.lon, s.lat),
            properties: EmergencyProps {
                no: 90_001 + i as u32,
                common_id: format!("E{city_code}{:05}201", i + 1),
                municipality: format!("{PREF}{CITY}"),
                name: s.name.clone(),
                address: s.address.clone(),
                flood: if s.flooded { "" } else { "1" },
                landslide: "",
                storm_surge: "",
                earthquake: "1",
                tsunami: "",
                fire: "1",
                inland_flood: if s.flooded { "" } else { "1" },
                volcano: "",
                same_as_shelter: "",
                remarks: "",
            },
        })
        .collect();
    geojson(features)
}

fn evacuation_json(shelters: &[Shelter]) -> Result<Vec<u8>> {
    let city_code = &LG_CODE[..5];
    let features = shelters
        .iter()
        .enumerate()
        .map(|(i, s)| Feature {
            kind: "Feature",
            geometry: point(s.lon, s.lat),
            properties: EvacuationProps {
                no: 80_001 + i as u32,
                common_id: format!(
                    "E{city_code}{:05}{}",
                    i + 1,
                    if s.care { "121" } else { "111" }
                ),
                municipality: format!("{PREF}{CITY}"),
                name: s.name.clone(),
                address: s.address.clone(),
                same_as_site: "",
                other: if s.care { Some("") } else { None },
                accepted: if s.care { Some("要配慮者") } else { None },
                remarks: if s.flooded {
                    "洪水時は使用不可"
                } else {
                    ""
                },
            },
        })
        .collect();
    geojson(features)
}

/// A zip holding one CSV, as the ABR publishes them (fixed timestamp).
fn zip_one(inner: &str, text: &str) -> Result<Vec<u8>> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let time = zip::DateTime::from_date_and_time(2024, 1, 10, 0, 0, 0)
        .map_err(|e| SynthError::Encode(format!("zip date: {e:?}")))?;
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .last_modified_time(time)
        .unix_permissions(0o644);
    w.start_file(inner, options)
        .map_err(SynthError::encode("zipping"))?;
    w.write_all(text.as_bytes())
        .map_err(SynthError::encode("zipping"))?;
    Ok(w.finish()
        .map_err(SynthError::encode("zipping"))?
        .into_inner())
}

/// 1 → １.
fn full_width(n: u32) -> String {
    n.to_string()
        .chars()
        .map(|c| char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap_or(c))
        .collect()
}

fn lines(rows: impl IntoIterator<Item = String>, eol: &str) -> String {
    let mut out = String::new();
    for r in rows {
        out.push_str(&r);
        out.push_str(eol);
    }
    out
}

fn abr_town_csv(towns: &[Town]) -> String {
    let header = "lg_code,machiaza_id,machiaza_type,pref,pref_kana,pref_roma,county,county_kana,county_roma,city,city_kana,city_roma,ward,ward_kana,ward_roma,oaza_cho,oaza_cho_kana,oaza_cho_roma,chome,chome_kana,chome_number,koaza,koaza_kana,koaza_roma,machiaza_dist,rsdt_addr_flg,rsdt_addr_mtd_code,oaza_cho_aka_flg,koaza_aka_code,oaza_cho_gsi_uncmn,koaza_gsi_uncmn,status_flg,wake_num_flg,efct_date,ablt_date,src_code,post_code,remarks";
    let mut sorted: Vec<&Town> = towns.iter().collect();
    sorted.sort_by_key(|t| t.machiaza_id());
    let rows = sorted.iter().map(|t| {
        let o = t.oaza();
        let (kind, chome, chome_kana, chome_n) = if t.chome == 0 {
            (1, String::new(), String::new(), String::new())
        } else {
            let fw = full_width(t.chome);
            (2, format!("{fw}丁目"), format!("{fw}チョウメ"), t.chome.to_string())
        };
        // Fictional postal codes: 199-00xx, one per 大字.
        let post = format!("19900{:02}", t.oaza + 1);
        format!(
            "{LG_CODE},{},{kind},{PREF},{PREF_KANA},{PREF_ROMA},,,,{CITY},{CITY_KANA},{CITY_ROMA},,,,{},{},{},{chome},{chome_kana},{chome_n},,,,,1,1,0,0,0,0,1,1,{EFFECTIVE},,0,{post},",
            t.machiaza_id(),
            o.name,
            o.kana,
            o.roma
        )
    });
    lines(std::iter::once(header.to_string()).chain(rows), "\n")
}

fn abr_address_csvs(towns: &[Town], addresses: &[Address]) -> (String, String) {
    let mut sorted: Vec<&Address> = addresses.iter().collect();
    sorted.sort_by_key(|a| (towns[a.town].machiaza_id(), a.block, a.number));
    // No 枝番 (rsdt2_id, rsdt_num2), as in 文京区's ABR.
    let ids = |a: &Address| {
        (
            towns[a.town].machiaza_id(),
            format!("{:03}", a.block),
            format!("{:03}", a.number),
        )
    };
    let master_header = "lg_code,machiaza_id,blk_id,rsdt_id,rsdt2_id,city,ward,oaza_cho,chome,koaza,machiaza_dist,blk_num,rsdt_num,rsdt_num2,basic_rsdt_div,rsdt_addr_flg,rsdt_addr_mtd_code,status_flg,efct_date,ablt_date,src_code,remarks";
    let master = sorted.iter().map(|a| {
        let (id, blk, rsdt) = ids(a);
        let t = &towns[a.town];
        let chome = if t.chome == 0 {
            String::new()
        } else {
            format!("{}丁目", full_width(t.chome))
        };
        format!(
            "{LG_CODE},{id},{blk},{rsdt},,{CITY},,{},{chome},,,{},{},,0,1,1,0,{EFFECTIVE},,0,",
            t.oaza().name,
            a.block,
            a.number
        )
    });
    let pos_header = "lg_code,machiaza_id,blk_id,rsdt_id,rsdt2_id,rsdt_addr_flg,rsdt_addr_mtd_code,rep_lon,rep_lat,rep_srid,rep_scale,rep_src_code,rsdt_addr_code_rdbl,rsdt_addr_data_mnt_date,basic_rsdt_div";
    let pos = sorted.iter().map(|a| {
        let (id, blk, rsdt) = ids(a);
        format!(
            "{LG_CODE},{id},{blk},{rsdt},,1,1,{:.9},{:.9},EPSG:6668,2500,1,,2019-04-04,0",
            a.lon, a.lat
        )
    });
    (
        lines(
            std::iter::once(master_header.to_string()).chain(master),
            "\n",
        ),
        lines(std::iter::once(pos_header.to_string()).chain(pos), "\n"),
    )
}

/// The national masters: 東京都 and the fictional ward only.
fn national_csvs(centre: Coord) -> [(String, String); 4] {
    let pref = lines(
        [
            "lg_code,pref,pref_kana,pref_roma,efct_date,ablt_date,remarks".to_string(),
            format!("{PREF_LG},{PREF},{PREF_KANA},{PREF_ROMA},{EFFECTIVE},,"),
        ],
        "\r\n",
    );
    let pos_header = "lg_code,rep_lon,rep_lat,rep_srid,rep_scale,plygn_fname,plygn_kcode,plygn_fmt,plygn_srid,plygn_scale";
    let pos_row = |lg: &str| format!("{lg},{:.6},{:.6},EPSG:6668,,,,,,", centre.x, centre.y);
    let pref_pos = lines([pos_header.to_string(), pos_row(PREF_LG)], "\r\n");
    let city = lines(
        [
            "lg_code,pref,pref_kana,pref_roma,county,county_kana,county_roma,city,city_kana,city_roma,ward,ward_kana,ward_roma,efct_date,ablt_date,remarks".to_string(),
            format!("{LG_CODE},{PREF},{PREF_KANA},{PREF_ROMA},,,,{CITY},{CITY_KANA},{CITY_ROMA},,,,{EFFECTIVE},,"),
        ],
        "\r\n",
    );
    let city_pos = lines([pos_header.to_string(), pos_row(LG_CODE)], "\r\n");
    [
        ("mt_pref_all.csv".into(), pref),
        ("mt_pref_pos_all.csv".into(), pref_pos),
        ("mt_city_all.csv".into(), city),
        ("mt_city_pos_all.csv".into(), city_pos),
    ]
}

#[derive(Serialize)]
struct TownPoint {
    town: String,
    koaza: &'static str,
    lat: f64,
    lng: f64,
}

fn itaiji_json() -> String {
    let entries: Vec<String> = ITAIJI_PAIRS
        .iter()
        .map(|&(a, b)| format!("\"\\u{:04x}\": \"\\u{:04x}\"", a as u32, b as u32))
        .collect();
    format!("{{{}}}", entries.join(", "))
}

/// A field of a shapefile: name, type, width, precision.
type FieldSpec = (&'static str, OGRFieldType::Type, i32, i32);

/// Writes a polygon shapefile with GDAL's ESRI Shapefile driver.
fn write_shapefile(
    path: &Path,
    epsg: u32,
    fields: &[FieldSpec],
    features: &[(Polygon, Vec<FieldValue>)],
    options: &[&str],
) -> Result<()> {
    for ext in ["shp", "shx", "dbf", "prj", "cpg"] {
        let p = path.with_extension(ext);
        if p.exists() {
            std::fs::remove_file(&p).map_err(chiiki_core::error::IoError::at(&p, "removing"))?;
        }
    }
    let gdal_failed = |what: &'static str| {
        move |source| SynthError::Shapefile {
            path: path.to_path_buf(),
            what,
            source,
        }
    };
    let driver = gdal::DriverManager::get_driver_by_name("ESRI Shapefile")
        .map_err(gdal_failed("creating"))?;
    let mut dataset = driver
        .create_vector_only(path)
        .map_err(gdal_failed("creating"))?;
    let srs = gdal::spatial_ref::SpatialRef::from_epsg(epsg).map_err(gdal_failed("creating"))?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    let layer = dataset
        .create_layer(LayerOptions {
            name: &name,
            srs: Some(&srs),
            ty: OGRwkbGeometryType::wkbPolygon,
            options: Some(options),
        })
        .map_err(gdal_failed("creating"))?;
    for &(field, ty, width, precision) in fields {
        let defn = gdal::vector::FieldDefn::new(field, ty).map_err(gdal_failed("creating"))?;
        defn.set_width(width);
        if precision > 0 {
            defn.set_precision(precision);
        }
        defn.add_to_layer(&layer).map_err(gdal_failed("creating"))?;
    }
    for (polygon, values) in features {
        let mut feature = gdal::vector::Feature::new(layer.defn())
            .map_err(gdal_failed("writing a feature to"))?;
        for (i, v) in values.iter().enumerate() {
            feature
                .set_field(i, v)
                .map_err(gdal_failed("writing a feature to"))?;
        }
        let geometry = polygon
            .to_gdal()
            .map_err(gdal_failed("writing a feature to"))?;
        feature
            .set_geometry(geometry)
            .map_err(gdal_failed("writing a feature to"))?;
        feature
            .create(&layer)
            .map_err(gdal_failed("writing a feature to"))?;
    }
    dataset.close().map_err(gdal_failed("writing"))?;
    Ok(())
}

fn census_polygons(
    path: &Path,
    towns: &[Town],
    grid: &Grid,
    frame: &Frame,
    addresses: &[Address],
) -> Result<()> {
    use OGRFieldType::{OFTInteger, OFTInteger64, OFTReal, OFTString};
    let fields: [FieldSpec; 15] = [
        ("KEY_CODE", OFTString, 11, 0),
        ("PREF", OFTString, 2, 0),
        ("CITY", OFTString, 3, 0),
        ("S_AREA", OFTString, 6, 0),
        ("PREF_NAME", OFTString, 12, 0),
        ("CITY_NAME", OFTString, 16, 0),
        ("S_NAME", OFTString, 96, 0),
        ("HCODE", OFTInteger, 4, 0),
        ("AREA", OFTReal, 15, 3),
        ("PERIMETER", OFTReal, 15, 3),
        ("KBSUM", OFTInteger, 4, 0),
        ("JINKO", OFTInteger64, 10, 0),
        ("SETAI", OFTInteger64, 10, 0),
        ("X_CODE", OFTReal, 15, 6),
        ("Y_CODE", OFTReal, 15, 6),
    ];
    let mut blocks: BTreeMap<usize, BTreeSet<u32>> = BTreeMap::new();
    for a in addresses {
        blocks.entry(a.town).or_default().insert(a.block);
    }
    let mut sorted: Vec<(usize, &Town)> = towns.iter().enumerate().collect();
    sorted.sort_by_key(|(_, t)| t.s_area());
    let features: Vec<(Polygon, Vec<FieldValue>)> = sorted
        .iter()
        .map(|&(i, t)| {
            let plane = t.outline(grid);
            let local = Polygon::new(LineString(plane.clone()), vec![]);
            let perimeter: f64 = plane
                .windows(2)
                .map(|w| ((w[1].x - w[0].x).powi(2) + (w[1].y - w[0].y).powi(2)).sqrt())
                .sum();
            let lonlat = Polygon::new(
                LineString(plane.iter().map(|&c| frame.lonlat(c)).collect()),
                vec![],
            );
            let s = |v: &str| FieldValue::StringValue(v.to_string());
            let values = vec![
                s(&format!("{}{}{}", CENSUS_PREF, CENSUS_CITY, t.s_area())),
                s(CENSUS_PREF),
                s(CENSUS_CITY),
                s(&t.s_area()),
                s(PREF),
                s(CITY),
                s(&t.name()),
                FieldValue::IntegerValue(8101),
                FieldValue::RealValue(rounded(local.unsigned_area(), 3)),
                FieldValue::RealValue(rounded(perimeter, 3)),
                FieldValue::IntegerValue(blocks.get(&i).map_or(0, |b| b.len()) as i32),
                FieldValue::Integer64Value(t.population as i64),
                FieldValue::Integer64Value(t.households as i64),
                FieldValue::RealValue(rounded(t.rep.x, 6)),
                FieldValue::RealValue(rounded(t.rep.y, 6)),
            ];
            (lonlat, values)
        })
        .collect();
    // CP932 attribute text without a .cpg (language driver 0x13), as the
    // e-Stat files come; a fixed .dbf date for byte-identical output.
    write_shapefile(
        path,
        6668,
        &fields,
        &features,
        &["ENCODING=LDID/19", "DBF_DATE_LAST_UPDATE=2021-06-25"],
    )
}

fn flood_file(path: &Path, pieces: &[Polygon]) -> Result<()> {
    let features: Vec<(Polygon, Vec<FieldValue>)> =
        pieces.iter().map(|p| (p.clone(), vec![])).collect();
    write_shapefile(
        path,
        4612,
        &[],
        &features,
        &["DBF_DATE_LAST_UPDATE=2012-03-31"],
    )?;
    // The A31 file comes without its attribute table.
    let dbf = path.with_extension("dbf");
    if dbf.exists() {
        std::fs::remove_file(&dbf).map_err(chiiki_core::error::IoError::at(&dbf, "removing"))?;
    }
    Ok(())
}

fn put(dir: &Path, relative: &str, bytes: &[u8]) -> Result<PathBuf> {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(chiiki_core::error::IoError::at(parent, "creating"))?;
    }
    super::write_file(&path, bytes)?;
    Ok(path)
}

fn sources_md(
    seed: u64,
    summary: &FictionalSummary,
    cells: usize,
    flood: usize,
    shelters: (usize, usize),
) -> String {
    format!(
        "# Fictional data: {PREF}{CITY}\n\n\
         Generated by chiiki (`chiiki::synth::fictional::write`, seed {seed}) for machines without the real\n\
         public data. Nothing here is real: the ward, its towns, addresses, populations, flood extents and\n\
         shelters are invented. The files have the names, formats, encodings and CRSs of the real data\n\
         directory (so they still say `bunkyo` and `131059`), so that chiiki reads them unchanged.\n\n\
         | folder | what |\n|---|---|\n\
         | abr/ | ABR masters as zipped UTF-8 CSV: {PREF} and {CITY} ({LG_CODE}); {} 町字, {} 住居表示 addresses with positions (EPSG:6668) |\n\
         | towns/api/ | 町丁目 representative points of {CITY} |\n\
         | normalize/ | a small variant-character table ({} folds) |\n\
         | bunkyo/ | 小地域 polygons, JGD2011 shapefile, CP932 .dbf, KEY_CODE/S_NAME/JINKO/SETAI; population {} |\n\
         | mesh/ | 250 m mesh table in the census format (T001142001–050), {cells} cells |\n\
         | flood/ | flood extents along the 緑川, JGD2000 shapefile without .dbf, {flood} polygons |\n\
         | shelters/ | {} emergency sites and {} evacuation shelters, GeoJSON |\n",
        summary.towns,
        summary.addresses,
        ITAIJI_PAIRS.len(),
        summary.population,
        shelters.0,
        shelters.1,
    )
}

/// Writes a fictional ward in the real data's formats into `dir`.
pub fn write(dir: &Path, seed: u64) -> Result<FictionalSummary> {
    std::fs::create_dir_all(dir).map_err(chiiki_core::error::IoError::at(dir, "creating"))?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let frame = Frame::new();
    let grid = Grid::new(&mut rng);
    let mut towns = plan_towns(&mut rng);
    let addresses = lay_addresses(&towns, &grid, &frame, &mut rng);
    people(&mut towns, &addresses, &mut rng);
    let mut sums = vec![(0.0, 0.0, 0u32); towns.len()];
    for a in &addresses {
        let e = &mut sums[a.town];
        *e = (e.0 + a.lon, e.1 + a.lat, e.2 + 1);
    }
    for (t, (x, y, n)) in towns.iter_mut().zip(sums) {
        t.rep = Coord {
            x: rounded(x / n.max(1) as f64, 6),
            y: rounded(y / n.max(1) as f64, 6),
        };
    }
    let cells = mesh_rows(&towns, &addresses, &mut rng);
    let flood = Flood::new(&mut rng);
    let centre = frame.lonlat(grid.at(NX as f64 / 2.0, NY as f64 / 2.0));

    // ABR.
    put(
        dir,
        &format!("{ABR_DIR}/mt_town_bunkyo.csv.zip"),
        &zip_one("mt_town_all.csv", &abr_town_csv(&towns))?,
    )?;
    let (master, pos) = abr_address_csvs(&towns, &addresses);
    put(
        dir,
        &format!("{ABR_DIR}/mt_rsdtdsp_rsdt_bunkyo.csv.zip"),
        &zip_one("mt_rsdtdsp_rsdt_pref13.csv", &master)?,
    )?;
    put(
        dir,
        &format!("{ABR_DIR}/mt_rsdtdsp_rsdt_pos_bunkyo.csv.zip"),
        &zip_one("mt_rsdtdsp_rsdt_pos_pref13.csv", &pos)?,
    )?;
    for (inner, text) in national_csvs(centre) {
        put(
            dir,
            &format!("{ABR_NATIONAL}/{inner}.zip"),
            &zip_one(&inner, &text)?,
        )?;
    }

    // 町丁目 points and the variant table.
    put(
        dir,
        &format!("{TOWNS_DIR}/ja.json"),
        &serde_json::to_vec(&BTreeMap::from([(PREF, [CITY])]))
            .map_err(SynthError::encode("JSON"))?,
    )?;
    let mut points: Vec<(String, &Town)> = towns.iter().map(|t| (t.machiaza_id(), t)).collect();
    points.sort_by(|a, b| a.0.cmp(&b.0));
    let points: Vec<TownPoint> = points
        .iter()
        .map(|(_, t)| TownPoint {
            town: t.name(),
            koaza: "",
            lat: t.rep.y,
            lng: t.rep.x,
        })
        .collect();
    put(
        dir,
        &format!("{TOWNS_DIR}/ja/{PREF}/{CITY}.json"),
        &serde_json::to_vec(&points).map_err(SynthError::encode("JSON"))?,
    )?;
    put(dir, ITAIJI, itaiji_json().as_bytes())?;

    // Census polygons and mesh table.
    let shp = dir.join(CENSUS_POLYGONS);
    let shp_dir = shp.parent().expect("has a parent");
    std::fs::create_dir_all(shp_dir)
        .map_err(chiiki_core::error::IoError::at(shp_dir, "creating"))?;
    census_polygons(&shp, &towns, &grid, &frame, &addresses)?;
    put(dir, MESH_TABLE, mesh_table(&cells).as_bytes())?;

    // Flood extents and shelters.
    let pieces = flood.pieces(&grid, &frame);
    let a31 = dir.join(FLOOD);
    let a31_dir = a31.parent().expect("has a parent");
    std::fs::create_dir_all(a31_dir)
        .map_err(chiiki_core::error::IoError::at(a31_dir, "creating"))?;
    flood_file(&a31, &pieces)?;
    let (emergency, evacuation) = shelters(&towns, &addresses, &pieces);
    put(dir, SHELTERS_EMERGENCY, &emergency_json(&emergency)?)?;
    put(dir, SHELTERS_EVACUATION, &evacuation_json(&evacuation)?)?;

    let summary = FictionalSummary {
        towns: towns.len(),
        addresses: addresses.len(),
        population: towns.iter().map(|t| t.population as u64).sum(),
    };
    put(
        dir,
        "SOURCES.md",
        sources_md(
            seed,
            &summary,
            cells.len(),
            pieces.len(),
            (emergency.len(), evacuation.len()),
        )
        .as_bytes(),
    )?;
    Ok(summary)
}
