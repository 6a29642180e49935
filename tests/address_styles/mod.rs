//! Test support: real ABR address rows rendered in the many ways 住民記録
//! staff and residents actually write them, plus hand-written tricky cases.
//!
//! ```ignore
//! mod address_styles;
//! use address_styles::*;
//!
//! for a in load_bunkyo_rsdt(200) {
//!     for style in 0..STYLE_COUNT {
//!         let Some(input) = render(&a, style) else { continue };
//!         let g = geocoder.geocode(&input);
//!         assert_eq!(g.town, a.town(), "{} ({})", input, style_name(style));
//!         assert_eq!(g.addr, a.addr());
//!         assert_eq!(g.level.as_str(), a.level());
//!         // style_flags(style).building: expect a non-empty remainder
//!     }
//! }
//! ```
//!
//! Data is read from the shared real data directory (`CHIIKI_REAL_DATA`, or
//! `../shared/data/real` next to the crate), never copied into the repo.
//! Loaders cache the parsed tables per test binary.
//!
//! Layout: [`styles`] holds the style table (one entry per writing habit),
//! [`tricky`] the hand-written cases and their check against the data,
//! [`data`] the readers, [`numerals`] the number spellings; [`unwritten`]
//! the cases of issue 15 (no city written, 通り名, N丁, 条・丁目, variants,
//! typos, noise, near misses), decided on all of Japan's town names
//! ([`universe`]).

#![allow(dead_code)]

pub mod data;
pub mod numerals;
pub mod styles;
pub mod tricky;
pub mod universe;
pub mod unwritten;

use std::collections::BTreeSet;
use std::sync::OnceLock;

#[allow(unused_imports)]
pub use styles::{render, render_all, style_flags, style_name, StyleFlags, STYLE_COUNT};
#[allow(unused_imports)]
pub use tricky::{check_tricky_cases, tricky_cases, TrickyCase};

/// One real ABR address, as the registry row's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbrAddress {
    /// 東京都
    pub pref: String,
    /// 郡 ("" if none)
    pub county: String,
    /// 文京区, 和歌山市
    pub city: String,
    /// 政令市の区 ("" if none)
    pub ward: String,
    /// oaza_cho as in ABR, e.g. 白山, 大字○○ or 葵町 ("" for 小字-only towns)
    pub oaza: String,
    /// 丁目 number, parsed from ABR's chome (１丁目/一丁目 → 1)
    pub chome: Option<u32>,
    /// 小字 ("" if none)
    pub koaza: String,
    /// 住居表示 block (街区) number
    pub blk: Option<u32>,
    /// 住居番号 (号)
    pub rsdt: Option<u32>,
    /// rsdt_num2 if any
    pub rsdt2: Option<u32>,
    /// 地番 prc_num1/2/3 for parcel rows
    pub prc: Option<(u32, Option<u32>, Option<u32>)>,
}

impl AbrAddress {
    /// 郡 + 市区町村 + 政令市の区 (西多摩郡奥多摩町, 大阪市北区, 文京区).
    pub fn city_full(&self) -> String {
        format!("{}{}{}", self.county, self.city, self.ward)
    }

    /// The town as the geocoder reports it: 大字・町 + 丁目 in 漢数字
    /// (白山一丁目, 葵町, 秋月); for 小字-only towns (屋久島町 安房) the 小字.
    pub fn town(&self) -> String {
        if self.oaza.is_empty() {
            return self.koaza.clone();
        }
        match self.chome {
            Some(c) => format!("{}{}丁目", self.oaza, numerals::kanji(c)),
            None => self.oaza.clone(),
        }
    }

    /// The numbers below the town, as the geocoder's `addr`: `街区-住居番号`
    /// (`1-1`, `1-1-2` with 枝番) or `本番-枝番-孫番` (`103-3`, `1663-54-1`).
    pub fn addr(&self) -> String {
        self.numbers()
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// The numbers below the town, in order.
    pub fn numbers(&self) -> Vec<u32> {
        if let Some(b) = self.blk {
            [Some(b), self.rsdt, self.rsdt2]
                .into_iter()
                .flatten()
                .collect()
        } else if let Some((p1, p2, p3)) = self.prc {
            [Some(p1), p2, p3].into_iter().flatten().collect()
        } else {
            Vec::new()
        }
    }

    /// The expected match level: "residential_number" or "parcel".
    pub fn level(&self) -> &'static str {
        if self.blk.is_some() {
            "residential_number"
        } else if self.prc.is_some() {
            "parcel"
        } else {
            "oaza_chome"
        }
    }

    pub fn is_parcel(&self) -> bool {
        self.prc.is_some()
    }

    /// ABR's post code for the town, when the town master has one.
    pub fn post_code(&self) -> Option<&'static str> {
        data::post_code(&self.city, &self.ward, &self.oaza, self.chome, &self.koaza)
    }
}

/// Every k-th element, spread over the whole table (rows are sorted by town,
/// so the sample covers all towns). `n >= len` returns everything.
fn spread<T: Clone>(all: &[T], n: usize) -> Vec<T> {
    if n >= all.len() {
        return all.to_vec();
    }
    (0..n).map(|i| all[i * all.len() / n].clone()).collect()
}

fn num(s: &str) -> Option<u32> {
    s.parse().ok()
}

/// All rows of a 住居表示 table that have a position.
fn read_rsdt(rel: &str, pos_rel: &str) -> Vec<AbrAddress> {
    let ids = ["machiaza_id", "blk_id", "rsdt_id", "rsdt2_id"];
    let positions = data::position_keys(pos_rel, &ids);
    let mut out = Vec::new();
    data::for_each_row(rel, |r| {
        let key = ids.iter().map(|c| r.get(c)).collect::<Vec<_>>().join("|");
        if !positions.contains(&key) || !r.get("ablt_date").is_empty() {
            return;
        }
        let city = data::city_by_lg(r.get("lg_code"));
        out.push(AbrAddress {
            pref: city.pref.clone(),
            county: city.county.clone(),
            city: r.get("city").into(),
            ward: r.get("ward").into(),
            oaza: r.get("oaza_cho").into(),
            chome: numerals::parse_chome(r.get("chome")),
            koaza: r.get("koaza").into(),
            blk: num(r.get("blk_num")),
            rsdt: num(r.get("rsdt_num")),
            rsdt2: num(r.get("rsdt_num2")),
            prc: None,
        });
    });
    out
}

/// All 地番 rows that have a position, are outside 住居表示 areas (in those
/// people write the 住居表示, and a 地番 like 1-1 would read as 街区-号) and
/// have numeric lot numbers (乙, ﾛ, ｲ sub-lots are left out).
fn read_parcels(rel: &str, pos_rel: &str, skip_rsdt_areas: bool) -> Vec<AbrAddress> {
    let ids = ["machiaza_id", "prc_id"];
    let positions = data::position_keys(pos_rel, &ids);
    let mut out = Vec::new();
    data::for_each_row(rel, |r| {
        let key = ids.iter().map(|c| r.get(c)).collect::<Vec<_>>().join("|");
        if !positions.contains(&key)
            || (skip_rsdt_areas && r.get("rsdt_addr_flg") == "1")
            || !r.get("ablt_date").is_empty()
        {
            return;
        }
        let (p1, p2, p3) = (r.get("prc_num1"), r.get("prc_num2"), r.get("prc_num3"));
        let numeric = |s: &str| s.is_empty() || s.bytes().all(|b| b.is_ascii_digit());
        if p1.is_empty() || !numeric(p1) || !numeric(p2) || !numeric(p3) {
            return;
        }
        let city = data::city_by_lg(r.get("lg_code"));
        out.push(AbrAddress {
            pref: city.pref.clone(),
            county: city.county.clone(),
            city: r.get("city").into(),
            ward: r.get("ward").into(),
            oaza: r.get("oaza_cho").into(),
            chome: numerals::parse_chome(r.get("chome")),
            koaza: r.get("koaza").into(),
            blk: None,
            rsdt: None,
            rsdt2: None,
            prc: Some((num(p1).unwrap(), num(p2), num(p3))),
        });
    });
    out
}

/// All 文京区 住居表示 addresses with a position (30,156).
pub fn all_bunkyo_rsdt() -> &'static [AbrAddress] {
    static ALL: OnceLock<Vec<AbrAddress>> = OnceLock::new();
    ALL.get_or_init(|| {
        read_rsdt(
            "abr/bunkyo-131059/mt_rsdtdsp_rsdt_bunkyo.csv.zip",
            "abr/bunkyo-131059/mt_rsdtdsp_rsdt_pos_bunkyo.csv.zip",
        )
    })
}

/// All 和歌山市 住居表示 addresses with a position.
pub fn all_wakayama_rsdt() -> &'static [AbrAddress] {
    static ALL: OnceLock<Vec<AbrAddress>> = OnceLock::new();
    ALL.get_or_init(|| {
        read_rsdt(
            "abr/wakayama-302015/mt_rsdtdsp_rsdt_wakayama.csv.zip",
            "abr/wakayama-302015/mt_rsdtdsp_rsdt_pos_wakayama.csv.zip",
        )
    })
}

/// All 和歌山市 地番 parcels with a position outside 住居表示 areas (~89,000).
pub fn all_wakayama_parcels() -> &'static [AbrAddress] {
    static ALL: OnceLock<Vec<AbrAddress>> = OnceLock::new();
    ALL.get_or_init(|| {
        read_parcels(
            "abr/wakayama-302015/mt_parcel_city302015.csv.zip",
            "abr/wakayama-302015/mt_parcel_pos_city302015.csv.zip",
            true,
        )
    })
}

/// All 熊毛郡屋久島町 地番 parcels with a position: a 郡, and 小字-only
/// towns (oaza "" and koaza 安房, 平内, …) next to plain 大字 (宮之浦, 一湊).
pub fn all_yakushima_parcels() -> &'static [AbrAddress] {
    static ALL: OnceLock<Vec<AbrAddress>> = OnceLock::new();
    ALL.get_or_init(|| {
        read_parcels(
            "abr/yakushima-465054/mt_parcel_city465054.csv.zip",
            "abr/yakushima-465054/mt_parcel_pos_city465054.csv.zip",
            true,
        )
    })
}

/// n 文京区 住居表示 rows, every k-th (deterministic).
pub fn load_bunkyo_rsdt(n: usize) -> Vec<AbrAddress> {
    spread(all_bunkyo_rsdt(), n)
}

/// n 和歌山市 住居表示 rows, every k-th (deterministic).
pub fn load_wakayama_rsdt(n: usize) -> Vec<AbrAddress> {
    spread(all_wakayama_rsdt(), n)
}

/// n 和歌山市 地番 rows (with position, outside 住居表示), every k-th.
pub fn load_wakayama_parcels(n: usize) -> Vec<AbrAddress> {
    spread(all_wakayama_parcels(), n)
}

/// n 屋久島町 地番 rows (with position), every k-th: exercises 郡 and 小字.
pub fn load_yakushima_parcels(n: usize) -> Vec<AbrAddress> {
    spread(all_yakushima_parcels(), n)
}

/// splitmix64: a fixed, dependency-free generator so samples never change
/// with a `rand` upgrade.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A deterministic sample of towns from towns/api across all prefectures
/// (round-robin over prefectures, random city and town within), for
/// 町字-level tests: `(pref, city, town, koaza)`.
///
/// `city` is 郡+市区町村+区 in the ABR's spelling (towns/api writes 龍ヶ崎市
/// where the ABR has 龍ケ崎市); cities the ABR does not have (浜松市's old
/// wards) are skipped, as are towns without a position and placeholders like
/// `（大字なし）`. No duplicates.
pub fn nationwide_town_sample(n: usize) -> Vec<(String, String, String, String)> {
    let index = data::towns_index();
    let prefs: Vec<(&String, Vec<(&String, String)>)> = index
        .iter()
        .map(|(pref, cities)| {
            let mapped: Vec<(&String, String)> = cities
                .iter()
                .filter_map(|c| data::abr_city_for_json(pref, c).map(|abr| (c, abr.full())))
                .collect();
            (pref, mapped)
        })
        .filter(|(_, cities)| !cities.is_empty())
        .collect();
    let mut rng = SplitMix(0x6368_6969_6b69); // "chiiki"
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut cache: std::collections::HashMap<(String, String), Vec<data::TownPoint>> =
        Default::default();
    let mut attempts = 0;
    while out.len() < n && attempts < n * 20 + 100 {
        let (pref, cities) = &prefs[attempts % prefs.len()];
        attempts += 1;
        let (json_city, abr_city) = &cities[rng.below(cities.len())];
        let towns = cache
            .entry((pref.to_string(), json_city.to_string()))
            .or_insert_with(|| {
                data::town_points(pref, json_city)
                    .into_iter()
                    .filter(|t| t.lat.is_some() && t.lng.is_some())
                    .filter(|t| !t.town.is_empty() && !t.town.contains('（'))
                    .collect()
            });
        if towns.is_empty() {
            continue;
        }
        let t = &towns[rng.below(towns.len())];
        let item = (
            pref.to_string(),
            abr_city.clone(),
            t.town.clone(),
            t.koaza.clone().unwrap_or_default(),
        );
        if seen.insert(item.clone()) {
            out.push(item);
        }
    }
    out
}
