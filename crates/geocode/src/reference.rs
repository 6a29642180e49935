//! The reference index: prefectures, cities, towns (町字), 住居表示 addresses
//! and 地番 parcels with their positions, built once from the ABR CSV
//! masters as published (zipped or not) and the nationwide 町丁目 points, and
//! saved as one compact file that loads in a fraction of a second.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::normalize::{canonical, kanji_chome, parse_chome, Folds};
use crate::error::{GeocodeError, Result};

const FORMAT_VERSION: u32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pref {
    pub name: String,
    pub lon: f64,
    pub lat: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct City {
    pub pref: u32,
    pub lg_code: String,
    pub county: String,
    pub city: String,
    pub ward: String,
    pub lon: f64,
    pub lat: f64,
}

impl City {
    /// 郡 + 市区町村 + 政令市の区, as one string (西多摩郡奥多摩町, 大阪市北区).
    pub fn full_name(&self) -> String {
        format!("{}{}{}", self.county, self.city, self.ward)
    }
}

/// One town as the matcher reads it, borrowed from [`Towns`].
#[derive(Debug, Clone, Copy)]
pub struct Town<'a> {
    pub city: u32,
    /// 大字・町 + 丁目 as displayed (白山一丁目); for 小字-only towns the 小字.
    pub name: &'a str,
    pub koaza: &'a str,
    /// 丁目 (or 丁, as 堺市 numbers its towns) number, 0 when the town has none.
    pub chome: u32,
    /// Canonical name without 丁目 (and without a leading 大字/字), for the
    /// "丁目 omitted" reading.
    pub oaza_key: &'a str,
    /// Canonical name and 小字 as the matcher looks them up (no spaces, no
    /// leading 大字/字), computed once at build time rather than at every load.
    pub name_key: &'a str,
    pub koaza_key: &'a str,
    /// ABR 町字ID, when the town comes from the ABR.
    pub machiaza_id: &'a str,
    /// Representative point; NaN when none is known.
    pub lon: f64,
    pub lat: f64,
}

/// The names of a town, in the order [`Towns`] stores them.
const TOWN_TEXTS: usize = 6;

/// All towns, with their names in one string: a few large allocations to
/// decode instead of six per town, and a third of the memory.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Towns {
    text: String,
    rows: Vec<TownRow>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct TownRow {
    city: u32,
    chome: u32,
    lon: f64,
    lat: f64,
    /// Where the town's names start in `text`, and their lengths in bytes:
    /// name, koaza, oaza_key, name_key, koaza_key, machiaza_id.
    start: u32,
    lens: [u16; TOWN_TEXTS],
}

impl Towns {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Town `id`; panics when there is no such town (ids come from the index).
    pub fn get(&self, id: u32) -> Town<'_> {
        let row = &self.rows[id as usize];
        let mut at = row.start as usize;
        let mut texts = [""; TOWN_TEXTS];
        for (text, len) in texts.iter_mut().zip(row.lens) {
            *text = &self.text[at..at + len as usize];
            at += len as usize;
        }
        let [name, koaza, oaza_key, name_key, koaza_key, machiaza_id] = texts;
        Town {
            city: row.city,
            name,
            koaza,
            chome: row.chome,
            oaza_key,
            name_key,
            koaza_key,
            machiaza_id,
            lon: row.lon,
            lat: row.lat,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = Town<'_>> + '_ {
        (0..self.rows.len() as u32).map(|i| self.get(i))
    }

    /// The towns of `records`, in order: town `i` is `records[i]`.
    pub fn from_records(built: Vec<TownRecord>) -> Towns {
        let mut towns = Towns::default();
        for t in built {
            let start = towns.text.len() as u32;
            let mut lens = [0u16; TOWN_TEXTS];
            let texts = [
                &t.name,
                &t.koaza,
                &t.oaza_key,
                &t.name_key,
                &t.koaza_key,
                &t.machiaza_id,
            ];
            for (len, text) in lens.iter_mut().zip(texts) {
                // Names are short; a longer one is cut at a character boundary.
                let mut end = text.len().min(u16::MAX as usize);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                towns.text.push_str(&text[..end]);
                *len = end as u16;
            }
            towns.rows.push(TownRow {
                city: t.city,
                chome: t.chome,
                lon: t.lon,
                lat: t.lat,
                start,
                lens,
            });
        }
        towns
    }
}

/// A town as it goes into [`Towns`]: the fields of [`Town`], owned (the
/// index builder's, and hand-made indexes' in tests and fuzzing).
#[derive(Debug, Clone)]
pub struct TownRecord {
    pub city: u32,
    pub name: String,
    pub koaza: String,
    pub chome: u32,
    pub oaza_key: String,
    pub name_key: String,
    pub koaza_key: String,
    pub machiaza_id: String,
    pub lon: f64,
    pub lat: f64,
}

/// A 住居表示 address: town, 街区, 住居番号, 枝番 (0 when none).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Residence {
    pub town: u32,
    pub block: u32,
    pub number: u32,
    pub number2: u32,
    pub lon: f64,
    pub lat: f64,
}

/// A 地番 parcel: town, 本番, 枝番, 孫番 (0 when none). Position NaN when the
/// ABR has none for it.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Parcel {
    pub town: u32,
    pub n1: u32,
    pub n2: u32,
    pub n3: u32,
    pub lon: f64,
    pub lat: f64,
}

/// Everything the geocoder knows, as stored on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReferenceData {
    pub version: u32,
    pub folds: Vec<(char, char)>,
    pub prefs: Vec<Pref>,
    pub cities: Vec<City>,
    pub towns: Towns,
    /// Variant characters, for matching a name among the towns of a city:
    /// sorted pairs (a, b) of canonical characters that may stand for each
    /// other (ja-itaiji families and Unihan variants).
    pub variants: Vec<(char, char)>,
    /// Sorted by (town, block, number, number2).
    pub residences: Vec<Residence>,
    /// Sorted by (town, n1, n2, n3).
    pub parcels: Vec<Parcel>,
}

/// Where to build from.
#[derive(Debug, Clone, Default)]
pub struct BuildSources {
    /// Directories holding ABR masters (`mt_*.csv` or `mt_*.csv.zip`).
    pub abr_dirs: Vec<PathBuf>,
    /// The `towns/api` directory (ja.json and ja/<都道府県>/<市区町村>.json).
    pub towns_dir: Option<PathBuf>,
    /// The variant-character table (itaiji_jageocoder.json): folds.
    pub itaiji: Option<PathBuf>,
    /// Broader variant relations, for matching names within a city.
    pub variants: VariantSources,
}

/// Rows of an ABR CSV, read whole, with a header index.
pub struct Table {
    header: HashMap<String, usize>,
    pub rows: Vec<csv::StringRecord>,
    path: PathBuf,
}

impl Table {
    /// Reads a CSV as published: zipped or not, UTF-8 or CP932.
    pub fn read(path: &Path) -> Result<Table> {
        let mut bytes = Vec::new();
        if path.extension().is_some_and(|e| e == "zip") {
            let file = std::fs::File::open(path)
                .map_err(chiiki_core::error::IoError::at(path, "opening"))?;
            let zip_error = |source| GeocodeError::Zip {
                path: path.to_path_buf(),
                source,
            };
            let mut archive = zip::ZipArchive::new(file).map_err(zip_error)?;
            let index = (0..archive.len())
                .find(|&i| {
                    archive
                        .by_index(i)
                        .is_ok_and(|f| f.name().is_ok_and(|n| n.ends_with(".csv")))
                })
                .ok_or_else(|| GeocodeError::NoCsvInZip {
                    path: path.to_path_buf(),
                })?;
            archive
                .by_index(index)
                .map_err(zip_error)?
                .read_to_end(&mut bytes)
                .map_err(chiiki_core::error::IoError::at(path, "reading"))?;
        } else {
            bytes =
                std::fs::read(path).map_err(chiiki_core::error::IoError::at(path, "reading"))?;
        }
        let text = match std::str::from_utf8(&bytes) {
            Ok(t) => t.trim_start_matches('\u{feff}').to_string(),
            Err(_) => encoding_rs::SHIFT_JIS.decode(&bytes).0.into_owned(),
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(text.as_bytes());
        let header = reader
            .headers()
            .map_err(|source| GeocodeError::Header {
                path: path.to_path_buf(),
                source,
            })?
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim().to_string(), i))
            .collect();
        let mut rows = Vec::new();
        for (line, row) in reader.records().enumerate() {
            rows.push(row.map_err(|source| GeocodeError::Row {
                path: path.to_path_buf(),
                line: line as u64 + 2,
                source,
            })?);
        }
        Ok(Table {
            header,
            rows,
            path: path.to_path_buf(),
        })
    }

    /// Indexes of several columns at once.
    pub fn cols<const N: usize>(&self, names: [&str; N]) -> Result<[usize; N]> {
        let mut out = [0; N];
        for (o, n) in out.iter_mut().zip(names) {
            *o = self.col(n)?;
        }
        Ok(out)
    }

    pub fn col(&self, name: &str) -> Result<usize> {
        self.header
            .get(name)
            .copied()
            .ok_or_else(|| GeocodeError::NoColumn {
                path: self.path.clone(),
                column: name.to_string(),
                columns: Vec::new(),
            })
    }
}

fn num(s: &str) -> u32 {
    s.trim().parse().unwrap_or(0)
}

fn coord(s: &str) -> f64 {
    s.trim().parse().unwrap_or(f64::NAN)
}

/// Finds files in the ABR directories whose name starts with `prefix` and
/// does (or does not) contain `_pos_`.
fn find(dirs: &[PathBuf], prefix: &str, pos: bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for d in dirs {
        let Ok(entries) = std::fs::read_dir(d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let is_csv = name.ends_with(".csv") || name.ends_with(".csv.zip");
            if is_csv && name.starts_with(prefix) && name.contains("_pos_") == pos {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// A canonical name as the matcher's tables hold it.
fn lookup_key(canonical_name: &str) -> String {
    strip_aza(&canonical_name.replace(' ', "")).to_string()
}

/// Strips a leading 大字 or 字 from a canonical town name.
pub fn strip_aza(key: &str) -> &str {
    key.strip_prefix("大字")
        .or_else(|| key.strip_prefix('字'))
        .unwrap_or(key)
}

/// A town as a source describes it.
struct NewTown<'a> {
    name: &'a str,
    koaza: &'a str,
    chome: u32,
    oaza: &'a str,
    machiaza_id: &'a str,
    lon: f64,
    lat: f64,
}

type ResidenceKey = (String, String, String, String, String);

struct Builder {
    folds: Folds,
    prefs: Vec<Pref>,
    cities: Vec<City>,
    towns: Vec<TownRecord>,
    /// (city, canonical display name, canonical koaza) → town
    town_index: HashMap<(u32, String, String), u32>,
    /// (lg_code, machiaza_id) → town
    by_machiaza: HashMap<(String, String), u32>,
    residences: Vec<Residence>,
    parcels: Vec<Parcel>,
}

impl Builder {
    fn city_by_lg(&self) -> HashMap<String, u32> {
        self.cities
            .iter()
            .enumerate()
            .map(|(i, c)| (c.lg_code.clone(), i as u32))
            .collect()
    }

    /// The town of an ABR row (by lg_code + machiaza_id), unless the row is abolished.
    fn live_town(&self, r: &csv::StringRecord, lg: usize, id: usize, ablt: usize) -> Option<u32> {
        if !r[ablt].trim().is_empty() {
            return None;
        }
        self.by_machiaza
            .get(&(r[lg].to_string(), r[id].to_string()))
            .copied()
    }

    /// Adds a town, or completes the one already known under the same name.
    fn add_town(&mut self, city: u32, t: NewTown) -> u32 {
        let NewTown {
            name,
            koaza,
            chome,
            oaza,
            machiaza_id,
            lon,
            lat,
        } = t;
        let key = (
            city,
            canonical(name, &self.folds),
            canonical(koaza, &self.folds),
        );
        if let Some(&t) = self.town_index.get(&key) {
            let town = &mut self.towns[t as usize];
            if town.lon.is_nan() && !lon.is_nan() {
                town.lon = lon;
                town.lat = lat;
            }
            if town.machiaza_id.is_empty() {
                town.machiaza_id = machiaza_id.to_string();
            }
            return t;
        }
        let id = self.towns.len() as u32;
        self.towns.push(TownRecord {
            city,
            name: name.to_string(),
            koaza: koaza.to_string(),
            chome,
            oaza_key: strip_aza(&canonical(oaza, &self.folds).replace(' ', "")).to_string(),
            name_key: lookup_key(&key.1),
            koaza_key: lookup_key(&key.2),
            machiaza_id: machiaza_id.to_string(),
            lon,
            lat,
        });
        self.town_index.insert(key, id);
        id
    }
}

/// Splits a towns-JSON town name into 大字・町 and 丁目 (大塚一丁目 → 大塚, 1),
/// or 丁 as 堺市 numbers its towns (北長尾町二丁 → 北長尾町, 2).
fn split_chome(name: &str) -> (String, u32) {
    let head = name
        .strip_suffix("丁目")
        .or_else(|| name.strip_suffix('丁'));
    if let Some(head) = head {
        let chars: Vec<char> = head.chars().collect();
        let mut i = chars.len();
        while i > 0
            && (super::normalize::kanji_digit(chars[i - 1]).is_some()
                || matches!(chars[i - 1], '十' | '百'))
        {
            i -= 1;
        }
        // A name that is only a number (八丁) has no 大字・町 to split off.
        if i > 0 && i < chars.len() {
            if let Some(n) = super::normalize::kanji_number(&chars[i..]) {
                return (chars[..i].iter().collect(), n);
            }
        }
    }
    (name.to_string(), 0)
}

/// Where the variant-character relations come from.
#[derive(Debug, Clone, Default)]
pub struct VariantSources {
    /// ja-itaiji's families: a JSON map from a kanji to its family.
    pub families: Option<PathBuf>,
    /// Unihan_Variants.txt.
    pub unihan: Option<PathBuf>,
}

/// Pairs of canonical characters that may stand for each other, for the
/// characters the reference's names use: the families are broad, so they
/// only ever compare a written name with the towns of the city being read,
/// never fold text.
fn variant_pairs(
    sources: &VariantSources,
    folds: &Folds,
    used: &std::collections::HashSet<char>,
) -> Result<Vec<(char, char)>> {
    let mut pairs: Vec<(char, char)> = Vec::new();
    let fold = |c: char| canonical(&c.to_string(), folds).chars().next().unwrap_or(c);
    let mut add = |a: char, b: char| {
        let (a, b) = (fold(a), fold(b));
        if a != b && (used.contains(&a) || used.contains(&b)) {
            pairs.push((a, b));
            pairs.push((b, a));
        }
    };
    if let Some(path) = &sources.families {
        let text = std::fs::read_to_string(path)
            .map_err(chiiki_core::error::IoError::at(path, "reading"))?;
        let families: HashMap<String, Vec<String>> =
            serde_json::from_str(&text).map_err(GeocodeError::json(path))?;
        for (key, members) in &families {
            let Some(a) = single_char(key) else { continue };
            for m in members.iter().filter_map(|m| single_char(m)) {
                add(a, m);
            }
        }
    }
    if let Some(path) = &sources.unihan {
        let text = std::fs::read_to_string(path)
            .map_err(chiiki_core::error::IoError::at(path, "reading"))?;
        for line in text.lines().filter(|l| l.starts_with("U+")) {
            let mut fields = line.split('\t');
            let (Some(from), Some(_kind), Some(to)) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Some(a) = unihan_char(from) else { continue };
            // `U+5DF3 U+5DF1<kMatthews`: each target, without its sources.
            for target in to.split(' ') {
                if let Some(b) = unihan_char(target.split('<').next().unwrap_or("")) {
                    add(a, b);
                }
            }
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    Ok(pairs)
}

fn single_char(s: &str) -> Option<char> {
    let mut chars = s.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

/// `U+9A52` → '驒'.
fn unihan_char(code: &str) -> Option<char> {
    char::from_u32(u32::from_str_radix(code.strip_prefix("U+")?, 16).ok()?)
}

/// Representative points of a prefecture or city `_pos` master, by lg_code.
fn positions_by_lg_code(dirs: &[PathBuf], prefix: &str) -> Result<HashMap<String, (f64, f64)>> {
    let mut out = HashMap::new();
    for f in find(dirs, prefix, true) {
        let t = Table::read(&f)?;
        let [lg, lon, lat] = t.cols(["lg_code", "rep_lon", "rep_lat"])?;
        for r in &t.rows {
            out.insert(r[lg].to_string(), (coord(&r[lon]), coord(&r[lat])));
        }
    }
    Ok(out)
}

/// Builds the reference index from the given sources.
pub fn build(sources: &BuildSources) -> Result<ReferenceData> {
    let folds = match &sources.itaiji {
        Some(p) => Folds::from_json(
            &std::fs::read_to_string(p).map_err(chiiki_core::error::IoError::at(p, "reading"))?,
        )
        .map_err(GeocodeError::json(p))?,
        None => Folds::default(),
    };
    let mut b = Builder {
        folds,
        prefs: Vec::new(),
        cities: Vec::new(),
        towns: Vec::new(),
        town_index: HashMap::new(),
        by_machiaza: HashMap::new(),
        residences: Vec::new(),
        parcels: Vec::new(),
    };
    let dirs = &sources.abr_dirs;

    // Prefectures and cities (national masters).
    let pref_files = find(dirs, "mt_pref_all", false);
    let city_files = find(dirs, "mt_city_all", false);
    if pref_files.is_empty() || city_files.is_empty() {
        return Err(GeocodeError::NoMasters { dirs: dirs.clone() });
    }
    let pref_pos = positions_by_lg_code(dirs, "mt_pref_pos_all")?;
    let mut pref_by_name: HashMap<String, u32> = HashMap::new();
    for f in &pref_files {
        let t = Table::read(f)?;
        let [lg, name] = t.cols(["lg_code", "pref"])?;
        for r in &t.rows {
            let (lon, lat) = pref_pos
                .get(&r[lg])
                .copied()
                .unwrap_or((f64::NAN, f64::NAN));
            pref_by_name.insert(r[name].to_string(), b.prefs.len() as u32);
            b.prefs.push(Pref {
                name: r[name].to_string(),
                lon,
                lat,
            });
        }
    }
    let city_pos = positions_by_lg_code(dirs, "mt_city_pos_all")?;
    for f in &city_files {
        let t = Table::read(f)?;
        let [lg, pref, county, city, ward, ablt] =
            t.cols(["lg_code", "pref", "county", "city", "ward", "ablt_date"])?;
        for r in &t.rows {
            if !r[ablt].trim().is_empty() {
                continue; // abolished
            }
            let Some(&p) = pref_by_name.get(&r[pref]) else {
                continue;
            };
            let (lon, lat) = city_pos
                .get(&r[lg])
                .copied()
                .unwrap_or((f64::NAN, f64::NAN));
            b.cities.push(City {
                pref: p,
                lg_code: r[lg].to_string(),
                county: r[county].to_string(),
                city: r[city].to_string(),
                ward: r[ward].to_string(),
                lon,
                lat,
            });
        }
    }
    let city_by_lg = b.city_by_lg();

    // ABR towns and their positions.
    let mut town_pos: HashMap<(String, String), (f64, f64)> = HashMap::new();
    for f in find(dirs, "mt_town_", true) {
        let t = Table::read(&f)?;
        let [lg, id, lon, lat] = t.cols(["lg_code", "machiaza_id", "rep_lon", "rep_lat"])?;
        for r in &t.rows {
            town_pos.insert(
                (r[lg].to_string(), r[id].to_string()),
                (coord(&r[lon]), coord(&r[lat])),
            );
        }
    }
    for f in find(dirs, "mt_town_", false) {
        let t = Table::read(&f)?;
        let [lg, id, oaza, chome, koaza, ablt] = t.cols([
            "lg_code",
            "machiaza_id",
            "oaza_cho",
            "chome",
            "koaza",
            "ablt_date",
        ])?;
        for r in &t.rows {
            if !r[ablt].trim().is_empty() {
                continue;
            }
            let Some(&city) = city_by_lg.get(&r[lg]) else {
                continue;
            };
            let chome_n = parse_chome(&r[chome]).unwrap_or(0);
            let (oaza_s, koaza_s) = if r[oaza].is_empty() {
                // 小字-only towns (屋久島町): the 小字 is the town.
                (r[koaza].to_string(), String::new())
            } else {
                (r[oaza].to_string(), r[koaza].to_string())
            };
            let name = if chome_n > 0 {
                format!("{oaza_s}{}丁目", kanji_chome(chome_n))
            } else {
                oaza_s.clone()
            };
            let key = (r[lg].to_string(), r[id].to_string());
            let (lon, lat) = town_pos.get(&key).copied().unwrap_or((f64::NAN, f64::NAN));
            let town = b.add_town(
                city,
                NewTown {
                    name: &name,
                    koaza: &koaza_s,
                    chome: chome_n,
                    oaza: &oaza_s,
                    machiaza_id: &r[id],
                    lon,
                    lat,
                },
            );
            b.by_machiaza.insert(key, town);
        }
    }

    // 町丁目 points for all of Japan.
    if let Some(dir) = &sources.towns_dir {
        read_towns_json(&mut b, dir)?;
    }

    // 住居表示.
    let mut rsdt_pos: HashMap<ResidenceKey, (f64, f64)> = HashMap::new();
    for f in find(dirs, "mt_rsdtdsp_rsdt_", true) {
        let t = Table::read(&f)?;
        let [lg, id, blk, rsdt, rsdt2, lon, lat] = t.cols([
            "lg_code",
            "machiaza_id",
            "blk_id",
            "rsdt_id",
            "rsdt2_id",
            "rep_lon",
            "rep_lat",
        ])?;
        for r in &t.rows {
            rsdt_pos.insert(
                (
                    r[lg].into(),
                    r[id].into(),
                    r[blk].into(),
                    r[rsdt].into(),
                    r[rsdt2].into(),
                ),
                (coord(&r[lon]), coord(&r[lat])),
            );
        }
    }
    for f in find(dirs, "mt_rsdtdsp_rsdt_", false) {
        let t = Table::read(&f)?;
        let [lg, id, blk_id, rsdt_id, rsdt2_id, blk, rsdt, rsdt2, ablt] = t.cols([
            "lg_code",
            "machiaza_id",
            "blk_id",
            "rsdt_id",
            "rsdt2_id",
            "blk_num",
            "rsdt_num",
            "rsdt_num2",
            "ablt_date",
        ])?;
        for r in &t.rows {
            let Some(town) = b.live_town(r, lg, id, ablt) else {
                continue;
            };
            let key = (
                r[lg].into(),
                r[id].into(),
                r[blk_id].into(),
                r[rsdt_id].into(),
                r[rsdt2_id].into(),
            );
            let Some(&(lon, lat)) = rsdt_pos.get(&key) else {
                continue;
            };
            b.residences.push(Residence {
                town,
                block: num(&r[blk]),
                number: num(&r[rsdt]),
                number2: num(&r[rsdt2]),
                lon,
                lat,
            });
        }
    }

    // 地番.
    let mut prc_pos: HashMap<(String, String, String), (f64, f64)> = HashMap::new();
    for f in find(dirs, "mt_parcel_", true) {
        let t = Table::read(&f)?;
        let [lg, id, prc, lon, lat] =
            t.cols(["lg_code", "machiaza_id", "prc_id", "rep_lon", "rep_lat"])?;
        for r in &t.rows {
            prc_pos.insert(
                (r[lg].into(), r[id].into(), r[prc].into()),
                (coord(&r[lon]), coord(&r[lat])),
            );
        }
    }
    for f in find(dirs, "mt_parcel_", false) {
        let t = Table::read(&f)?;
        let [lg, id, prc, n1, n2, n3, ablt] = t.cols([
            "lg_code",
            "machiaza_id",
            "prc_id",
            "prc_num1",
            "prc_num2",
            "prc_num3",
            "ablt_date",
        ])?;
        for r in &t.rows {
            let Some(town) = b.live_town(r, lg, id, ablt) else {
                continue;
            };
            let (lon, lat) = prc_pos
                .get(&(r[lg].into(), r[id].into(), r[prc].into()))
                .copied()
                .unwrap_or((f64::NAN, f64::NAN));
            b.parcels.push(Parcel {
                town,
                n1: num(&r[n1]),
                n2: num(&r[n2]),
                n3: num(&r[n3]),
                lon,
                lat,
            });
        }
    }

    // Towns without a point take the centre of their addresses.
    let mut sums: HashMap<u32, (f64, f64, u32)> = HashMap::new();
    for r in &b.residences {
        let e = sums.entry(r.town).or_default();
        *e = (e.0 + r.lon, e.1 + r.lat, e.2 + 1);
    }
    for p in b.parcels.iter().filter(|p| !p.lon.is_nan()) {
        let e = sums.entry(p.town).or_default();
        *e = (e.0 + p.lon, e.1 + p.lat, e.2 + 1);
    }
    for (t, (x, y, n)) in sums {
        let town = &mut b.towns[t as usize];
        if town.lon.is_nan() && n > 0 {
            town.lon = x / n as f64;
            town.lat = y / n as f64;
        }
    }

    // A 大字・町 listed without 丁目 (and without a point) lies where its 丁目s are.
    let mut by_oaza: HashMap<(u32, String), (f64, f64, u32)> = HashMap::new();
    for t in b.towns.iter().filter(|t| t.chome > 0 && !t.lon.is_nan()) {
        let e = by_oaza.entry((t.city, t.oaza_key.clone())).or_default();
        *e = (e.0 + t.lon, e.1 + t.lat, e.2 + 1);
    }
    for t in b
        .towns
        .iter_mut()
        .filter(|t| t.chome == 0 && t.lon.is_nan())
    {
        if let Some(&(x, y, n)) = by_oaza.get(&(t.city, t.oaza_key.clone())) {
            t.lon = x / n as f64;
            t.lat = y / n as f64;
        }
    }

    b.residences
        .sort_by_key(|r| (r.town, r.block, r.number, r.number2));
    b.residences
        .dedup_by_key(|r| (r.town, r.block, r.number, r.number2));
    b.parcels.sort_by_key(|p| (p.town, p.n1, p.n2, p.n3));
    b.parcels.dedup_by_key(|p| (p.town, p.n1, p.n2, p.n3));
    let used: std::collections::HashSet<char> = b
        .towns
        .iter()
        .flat_map(|t| t.name_key.chars().chain(t.koaza_key.chars()))
        .chain(b.cities.iter().flat_map(|c| {
            canonical(&c.full_name(), &b.folds)
                .chars()
                .collect::<Vec<_>>()
        }))
        .collect();
    let variants = variant_pairs(&sources.variants, &b.folds, &used)?;
    Ok(ReferenceData {
        version: FORMAT_VERSION,
        folds: b.folds.pairs(),
        prefs: b.prefs,
        cities: b.cities,
        variants,
        towns: Towns::from_records(b.towns),
        residences: b.residences,
        parcels: b.parcels,
    })
}

#[derive(Deserialize)]
struct TownPoint {
    town: String,
    #[serde(default)]
    koaza: Option<String>,
    lat: Option<f64>,
    lng: Option<f64>,
}

fn read_towns_json(b: &mut Builder, dir: &Path) -> Result<()> {
    let index_path = dir.join("ja.json");
    let index: HashMap<String, Vec<String>> = serde_json::from_str(
        &std::fs::read_to_string(&index_path)
            .map_err(chiiki_core::error::IoError::at(&index_path, "reading"))?,
    )
    .map_err(GeocodeError::json(&index_path))?;
    // (pref, canonical full city name) → city
    let mut cities: HashMap<(u32, String), u32> = HashMap::new();
    for (i, c) in b.cities.iter().enumerate() {
        cities.insert((c.pref, canonical(&c.full_name(), &b.folds)), i as u32);
    }
    let prefs: HashMap<String, u32> = b
        .prefs
        .iter()
        .enumerate()
        .map(|(i, p)| (p.name.clone(), i as u32))
        .collect();
    let mut names: Vec<(&String, &Vec<String>)> = index.iter().collect();
    names.sort();
    for (pref, city_names) in names {
        let Some(&p) = prefs.get(pref) else { continue };
        for city_name in city_names {
            let Some(&city) = cities.get(&(p, canonical(city_name, &b.folds))) else {
                tracing::debug!("towns: no ABR city for {pref}{city_name}");
                continue;
            };
            let path = dir.join("ja").join(pref).join(format!("{city_name}.json"));
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue;
            };
            let points: Vec<TownPoint> =
                serde_json::from_str(&text).map_err(GeocodeError::json(&path))?;
            for t in points {
                let (oaza, chome) = split_chome(&t.town);
                let koaza = t.koaza.unwrap_or_default();
                let (lon, lat) = (t.lng.unwrap_or(f64::NAN), t.lat.unwrap_or(f64::NAN));
                b.add_town(
                    city,
                    NewTown {
                        name: &t.town,
                        koaza: &koaza,
                        chome,
                        oaza: &oaza,
                        machiaza_id: "",
                        lon,
                        lat,
                    },
                );
            }
        }
    }
    Ok(())
}

/// Writes the index (postcard) atomically.
pub fn save(data: &ReferenceData, path: &Path) -> Result<()> {
    let bytes = postcard::to_allocvec(data).map_err(GeocodeError::Encode)?;
    chiiki_core::fs::write_atomically(path, &bytes)?;
    Ok(())
}

pub fn load(path: &Path) -> Result<ReferenceData> {
    let bytes = std::fs::read(path).map_err(chiiki_core::error::IoError::at(
        path,
        "reading reference index",
    ))?;
    let data: ReferenceData =
        postcard::from_bytes(&bytes).map_err(|source| GeocodeError::NotAnIndex {
            path: path.to_path_buf(),
            source,
        })?;
    if data.version != FORMAT_VERSION {
        return Err(GeocodeError::IndexVersion {
            path: path.to_path_buf(),
            found: data.version,
            expected: FORMAT_VERSION,
        });
    }
    Ok(data)
}

/// `path`, if there is a file there; a note in the log if not.
fn existing(path: PathBuf) -> Option<PathBuf> {
    if path.is_file() {
        Some(path)
    } else {
        tracing::warn!("no {}: variant characters only as folded", path.display());
        None
    }
}

/// The sources as laid out in the real data directory.
pub fn sources_in_real_data(real: &Path) -> BuildSources {
    let abr = real.join("abr");
    let mut abr_dirs: Vec<PathBuf> = std::fs::read_dir(&abr)
        .map(|e| {
            e.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    abr_dirs.sort();
    BuildSources {
        abr_dirs,
        towns_dir: Some(real.join("towns/api")),
        itaiji: Some(real.join("normalize/itaiji_jageocoder.json")),
        // The broader variant tables are optional: without them names are
        // still matched as folded, and by one wrong character.
        variants: VariantSources {
            families: existing(real.join("normalize/ja-itaiji.json")),
            unihan: existing(real.join("normalize/Unihan_Variants.txt")),
        },
    }
}
