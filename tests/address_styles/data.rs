//! Reading the real data: ABR CSVs inside their zips, the city table, the
//! variant-character folds, post codes and the nationwide 町丁目 points.
//! Everything is read from the shared data directory, never copied.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::numerals::parse_chome;

/// The real public data (`CHIIKI_REAL_DATA`, else `../shared/data/real`).
pub fn real_data() -> PathBuf {
    match std::env::var("CHIIKI_REAL_DATA") {
        Ok(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/real"),
    }
}

/// One CSV row with access by column name.
pub struct Row<'a> {
    cols: &'a HashMap<String, usize>,
    rec: &'a csv::StringRecord,
}

impl Row<'_> {
    pub fn get(&self, name: &str) -> &str {
        let i = *self
            .cols
            .get(name)
            .unwrap_or_else(|| panic!("no column {name}"));
        self.rec.get(i).unwrap_or("").trim()
    }
}

/// Calls `f` for every row of the single CSV inside the zip at `rel`
/// (relative to the real data directory).
pub fn for_each_row(rel: &str, mut f: impl FnMut(&Row)) {
    let path = real_data().join(rel);
    let file = File::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let mut zip = zip::ZipArchive::new(file).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let entry = zip.by_index(0).unwrap();
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(entry);
    let cols: HashMap<String, usize> = reader
        .headers()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim_start_matches('\u{feff}').to_string(), i))
        .collect();
    let mut rec = csv::StringRecord::new();
    while reader
        .read_record(&mut rec)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    {
        f(&Row {
            cols: &cols,
            rec: &rec,
        });
    }
}

/// A row of mt_city_all.
#[derive(Debug, Clone)]
pub struct City {
    pub lg_code: String,
    pub pref: String,
    pub county: String,
    pub city: String,
    pub ward: String,
}

impl City {
    /// 郡 + 市区町村 + 政令市の区.
    pub fn full(&self) -> String {
        format!("{}{}{}", self.county, self.city, self.ward)
    }
}

pub fn cities() -> &'static [City] {
    static CITIES: OnceLock<Vec<City>> = OnceLock::new();
    CITIES.get_or_init(|| {
        let mut v = Vec::new();
        for_each_row("abr/national/mt_city_all.csv.zip", |r| {
            v.push(City {
                lg_code: r.get("lg_code").into(),
                pref: r.get("pref").into(),
                county: r.get("county").into(),
                city: r.get("city").into(),
                ward: r.get("ward").into(),
            })
        });
        v
    })
}

pub fn city_by_lg(lg_code: &str) -> &'static City {
    cities()
        .iter()
        .find(|c| c.lg_code == lg_code)
        .unwrap_or_else(|| panic!("lg_code {lg_code} not in mt_city_all"))
}

/// normalize/itaiji_jageocoder.json: a flat JSON object `{"髙": "高", "ケ": "が", …}`
/// mapping one character to the character it folds to.
pub fn folds() -> &'static HashMap<char, char> {
    static FOLDS: OnceLock<HashMap<char, char>> = OnceLock::new();
    FOLDS.get_or_init(|| {
        let path = real_data().join("normalize/itaiji_jageocoder.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let map: HashMap<String, String> = serde_json::from_str(&text).unwrap();
        map.into_iter()
            .filter_map(|(k, v)| {
                let (mut k, mut v) = (k.chars(), v.chars());
                match (k.next(), k.next(), v.next(), v.next()) {
                    (Some(k), None, Some(v), None) => Some((k, v)),
                    _ => None,
                }
            })
            .collect()
    })
}

/// The fold of one character (followed to its end; the table is one step).
pub fn fold_char(c: char) -> char {
    let mut c = c;
    for _ in 0..4 {
        match folds().get(&c) {
            Some(&n) if n != c => c = n,
            _ => break,
        }
    }
    c
}

pub fn fold(s: &str) -> String {
    s.chars().map(fold_char).collect()
}

/// The other members of `c`'s fold class (all characters that fold to the
/// same character as `c`), sorted.
pub fn variants(c: char) -> Vec<char> {
    static CLASSES: OnceLock<HashMap<char, Vec<char>>> = OnceLock::new();
    let classes = CLASSES.get_or_init(|| {
        let mut by_target: HashMap<char, Vec<char>> = HashMap::new();
        for (&k, _) in folds().iter() {
            by_target.entry(fold_char(k)).or_default().push(k);
        }
        let mut classes: HashMap<char, Vec<char>> = HashMap::new();
        for (target, mut members) in by_target {
            members.push(target);
            members.sort();
            members.dedup();
            for &m in &members {
                classes.insert(m, members.iter().copied().filter(|&x| x != m).collect());
            }
        }
        classes
    });
    classes.get(&c).cloned().unwrap_or_default()
}

/// Whether the bare 大字/町 name (without 丁目) is itself a town of the city,
/// in the ABR town masters we have or in towns/api. 和歌山市 has such names:
/// Town names of each (pref, city) in the towns JSON, loaded on demand.
type TownNamesByCity = HashMap<(String, String), HashSet<String>>;

/// 北出島 is both 北出島一丁目 (住居表示) and a bare 地番 town, and the ABR
/// keeps a bare 大字 row for 今福, 塩屋, 関戸, 手平 next to their 丁目. There
/// `北出島1-5-12` has two readings, so 丁目 is not omitted for them.
pub fn bare_oaza_is_town(pref: &str, county: &str, city: &str, ward: &str, oaza: &str) -> bool {
    static ABR_BARE: OnceLock<HashSet<(String, String, String)>> = OnceLock::new();
    static JSON_TOWNS: OnceLock<std::sync::Mutex<TownNamesByCity>> = OnceLock::new();
    let abr = ABR_BARE.get_or_init(|| {
        let mut s = HashSet::new();
        for rel in TOWN_MASTERS {
            for_each_row(rel, |r| {
                if r.get("chome").is_empty() && r.get("koaza").is_empty() {
                    let full = format!("{}{}{}", r.get("county"), r.get("city"), r.get("ward"));
                    s.insert((
                        r.get("pref").to_string(),
                        full,
                        r.get("oaza_cho").to_string(),
                    ));
                }
            });
        }
        s
    });
    let full = format!("{county}{city}{ward}");
    if abr.contains(&(pref.to_string(), full.clone(), oaza.to_string())) {
        return true;
    }
    let mut cache = JSON_TOWNS.get_or_init(Default::default).lock().unwrap();
    let towns = cache
        .entry((pref.to_string(), full.clone()))
        .or_insert_with(|| {
            json_city_for_abr(pref, &full)
                .map(|c| town_points(pref, c).into_iter().map(|t| t.town).collect())
                .unwrap_or_default()
        });
    towns.contains(oaza)
}

/// The ABR town masters (mt_town) we have.
pub const TOWN_MASTERS: [&str; 3] = [
    "abr/bunkyo-131059/mt_town_bunkyo.csv.zip",
    "abr/wakayama-302015/mt_town_pref30.csv.zip",
    "abr/yakushima-465054/mt_town_yakushima.csv.zip",
];

type TownKey = (String, String, String, u32, String); // city, ward, oaza, chome, koaza

/// Post codes from the ABR town masters we have (文京区, 和歌山県, 屋久島町).
/// The 住居表示 and 地番 tables carry none.
pub fn post_code(
    city: &str,
    ward: &str,
    oaza: &str,
    chome: Option<u32>,
    koaza: &str,
) -> Option<&'static str> {
    static CODES: OnceLock<HashMap<TownKey, String>> = OnceLock::new();
    let codes = CODES.get_or_init(|| {
        let mut m = HashMap::new();
        for rel in TOWN_MASTERS {
            for_each_row(rel, |r| {
                let code = r.get("post_code");
                if code.len() == 7 {
                    let key = (
                        r.get("city").to_string(),
                        r.get("ward").to_string(),
                        r.get("oaza_cho").to_string(),
                        parse_chome(r.get("chome")).unwrap_or(0),
                        r.get("koaza").to_string(),
                    );
                    m.insert(key, code.to_string());
                }
            });
        }
        m
    });
    let key = (
        city.into(),
        ward.into(),
        oaza.into(),
        chome.unwrap_or(0),
        koaza.into(),
    );
    codes.get(&key).map(|s| s.as_str())
}

/// One entry of towns/api/ja/<都道府県>/<市区町村>.json.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TownPoint {
    pub town: String,
    #[serde(default)]
    pub koaza: Option<String>,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
}

/// towns/api/ja.json: prefecture → city file names (郡+市区町村+区).
pub fn towns_index() -> &'static BTreeMap<String, Vec<String>> {
    static INDEX: OnceLock<BTreeMap<String, Vec<String>>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let text = std::fs::read_to_string(real_data().join("towns/api/ja.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    })
}

pub fn town_points(pref: &str, json_city: &str) -> Vec<TownPoint> {
    let path = real_data()
        .join("towns/api/ja")
        .join(pref)
        .join(format!("{json_city}.json"));
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        }
        Err(_) => Vec::new(),
    }
}

/// The ABR spelling of a towns/api city name (the two sources disagree on
/// ケ/ヶ: 龍ヶ崎市 vs ABR 龍ケ崎市), or None when the ABR has no such city
/// (浜松市's pre-2024 wards 中区, 北区, … are only in towns/api).
pub fn abr_city_for_json(pref: &str, json_city: &str) -> Option<&'static City> {
    static BY_FOLD: OnceLock<HashMap<(String, String), usize>> = OnceLock::new();
    let by_fold = BY_FOLD.get_or_init(|| {
        cities()
            .iter()
            .enumerate()
            .map(|(i, c)| ((c.pref.clone(), fold(&c.full())), i))
            .collect()
    });
    by_fold
        .get(&(pref.to_string(), fold(json_city)))
        .map(|&i| &cities()[i])
}

/// The towns/api file name for an ABR city (inverse of [`abr_city_for_json`]).
pub fn json_city_for_abr(pref: &str, abr_full: &str) -> Option<&'static str> {
    let f = fold(abr_full);
    towns_index()
        .get(pref)?
        .iter()
        .find(|c| fold(c) == f)
        .map(|s| s.as_str())
}

/// Keys of the `_pos` table of a zip: the listed id columns joined by '|'.
pub fn position_keys(rel: &str, id_cols: &[&str]) -> HashSet<String> {
    let mut keys = HashSet::new();
    for_each_row(rel, |r| {
        if !r.get("rep_lon").is_empty() {
            keys.insert(
                id_cols
                    .iter()
                    .map(|c| r.get(c))
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    });
    keys
}
