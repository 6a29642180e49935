//! The real public data the synthetic residents are laid on: 文京区's ABR
//! 住居表示 addresses with positions, its 町丁目 with their 2020 census
//! population, and the 2020 census 250 m mesh table.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chiiki_core::layers::column::Value;
use chiiki_core::mesh::{self, MeshLevel};
use chiiki_geocode::reference::Table;
use chiiki_store::import::{read_files, ImportOptions};

use crate::error::{Result, SynthError};

/// A 町丁目 of the ward.
#[derive(Debug, Clone)]
pub struct Town {
    /// 都道府県 and 市区町村 as the ABR writes them (東京都, 文京区).
    pub pref: String,
    pub city: String,
    /// ABR 町字ID (machiaza_id).
    pub machiaza_id: String,
    /// 大字・町 name (白山).
    pub oaza: String,
    /// 丁目 number, 0 when the town has none.
    pub chome: u32,
    /// 2020 census population (JINKO) and households (SETAI).
    pub population: u32,
    pub households: u32,
}

impl Town {
    /// The name as the census writes it: 白山一丁目.
    pub fn name(&self) -> String {
        if self.chome == 0 {
            self.oaza.clone()
        } else {
            format!("{}{}丁目", self.oaza, kanji_number(self.chome))
        }
    }
}

/// One 住居表示 address (a 住居番号 of a 街区) with its ABR position.
#[derive(Debug, Clone, Copy)]
pub struct Address {
    pub town: usize,
    pub block: u32,
    pub number: u32,
    /// 枝番, 0 when there is none.
    pub number2: u32,
    pub lon: f64,
    pub lat: f64,
    /// 250 m mesh code (JIS X 0410 4分の1地域メッシュ).
    pub mesh: u64,
}

/// Census figures of one 250 m cell (table T001142), as shares of its
/// population by age band.
#[derive(Debug, Clone, Copy, Default)]
pub struct MeshStats {
    pub population: u32,
    pub age_0_14: u32,
    pub age_15_64: u32,
    pub age_65: u32,
    pub age_75: u32,
    pub age_85: u32,
    pub households: u32,
    pub one_person: u32,
    pub elderly_single: u32,
    pub elderly_couple: u32,
    /// Hidden cell (秘匿): its detail columns are those of the cell it was folded into.
    pub hidden_into: Option<u64>,
}

/// Everything the population generator reads.
pub struct City {
    pub towns: Vec<Town>,
    pub addresses: Vec<Address>,
    pub meshes: BTreeMap<u64, MeshStats>,
}

pub const ABR_DIR: &str = "abr/bunkyo-131059";
pub const CENSUS_POLYGONS: &str = "bunkyo/r2ka13105.shp";
pub const MESH_TABLE: &str = "mesh/bunkyo_mesh250_2020.csv";

/// The input files, for fingerprints and messages.
pub fn input_files(real: &Path) -> Vec<PathBuf> {
    vec![
        real.join(ABR_DIR).join("mt_town_bunkyo.csv.zip"),
        real.join(ABR_DIR).join("mt_rsdtdsp_rsdt_bunkyo.csv.zip"),
        real.join(ABR_DIR)
            .join("mt_rsdtdsp_rsdt_pos_bunkyo.csv.zip"),
        real.join(CENSUS_POLYGONS),
        real.join(MESH_TABLE),
    ]
}

pub fn load(real: &Path) -> Result<City> {
    let files = input_files(real);
    let mut towns = read_towns(&files[0])?;
    attach_census(&mut towns, &files[3])?;
    let addresses = read_addresses(&files[1], &files[2], &towns)?;
    let meshes = read_mesh_table(&files[4])?;
    Ok(City {
        towns,
        addresses,
        meshes,
    })
}

fn read_towns(path: &Path) -> Result<Vec<Town>> {
    let t = Table::read(path)?;
    let [pref, city, id, oaza, chome] =
        t.cols(["pref", "city", "machiaza_id", "oaza_cho", "chome_number"])?;
    let mut towns: Vec<Town> = t
        .rows
        .iter()
        .map(|r| Town {
            pref: r[pref].to_string(),
            city: r[city].to_string(),
            machiaza_id: r[id].to_string(),
            oaza: r[oaza].to_string(),
            chome: r[chome].trim().parse().unwrap_or(0),
            population: 0,
            households: 0,
        })
        .collect();
    towns.sort_by(|a, b| a.machiaza_id.cmp(&b.machiaza_id));
    Ok(towns)
}

/// JINKO and SETAI of the census polygon named like the town.
fn attach_census(towns: &mut [Town], path: &Path) -> Result<()> {
    let opts = ImportOptions {
        layer_id: "census".into(),
        ..Default::default()
    };
    let (parts, _) = read_files(&[path.to_path_buf()], &opts)?;
    let column = |name: &str| {
        parts
            .columns
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| SynthError::input(path, format!("no field {name}")))
    };
    let (names, people, households) = (column("S_NAME")?, column("JINKO")?, column("SETAI")?);
    let mut by_name: HashMap<String, (u32, u32)> = HashMap::new();
    for row in 0..names.len() {
        let count = |v: Value| match v {
            Value::Integer(n) => n.max(0) as u32,
            Value::Real(f) => f.max(0.0) as u32,
            _ => 0,
        };
        if let Value::Text(name) = names.get(row) {
            by_name.insert(name, (count(people.get(row)), count(households.get(row))));
        }
    }
    for town in towns.iter_mut() {
        let Some(&(p, h)) = by_name.get(&town.name()) else {
            return Err(SynthError::input(
                path,
                format!(
                    "no census polygon for the ABR town {} ({})",
                    town.name(),
                    town.machiaza_id
                ),
            ));
        };
        town.population = p;
        town.households = h;
    }
    Ok(())
}

fn read_addresses(master: &Path, positions: &Path, towns: &[Town]) -> Result<Vec<Address>> {
    let m = Table::read(master)?;
    let p = Table::read(positions)?;
    let key_cols = ["machiaza_id", "blk_id", "rsdt_id", "rsdt2_id"];
    let pk = p.cols(key_cols)?;
    let [lon, lat] = p.cols(["rep_lon", "rep_lat"])?;
    let mut position: HashMap<[String; 4], (f64, f64)> = HashMap::new();
    for r in &p.rows {
        let key = pk.map(|i| r[i].to_string());
        if let (Ok(x), Ok(y)) = (r[lon].parse::<f64>(), r[lat].parse::<f64>()) {
            position.insert(key, (x, y));
        }
    }
    let mk = m.cols(key_cols)?;
    let [blk, num, num2] = m.cols(["blk_num", "rsdt_num", "rsdt_num2"])?;
    let town_index: HashMap<&str, usize> = towns
        .iter()
        .enumerate()
        .map(|(i, t)| (t.machiaza_id.as_str(), i))
        .collect();
    let mut out = Vec::new();
    for r in &m.rows {
        let key = mk.map(|i| r[i].to_string());
        let (Some(&(x, y)), Some(&town)) = (position.get(&key), town_index.get(&r[mk[0]])) else {
            continue;
        };
        let parse = |s: &str| s.trim().parse::<u32>().unwrap_or(0);
        out.push(Address {
            town,
            block: parse(&r[blk]),
            number: parse(&r[num]),
            number2: parse(&r[num2]),
            lon: x,
            lat: y,
            mesh: mesh::code(x, y, MeshLevel::M250m).unwrap_or(0),
        });
    }
    out.sort_by_key(|a| (a.town, a.block, a.number, a.number2));
    out.dedup_by_key(|a| (a.town, a.block, a.number, a.number2));
    if out.is_empty() {
        return Err(SynthError::input(master, "no address with a position"));
    }
    Ok(out)
}

/// The census mesh table: two header lines, then rows; `*` for hidden values.
pub fn read_mesh_table(path: &Path) -> Result<BTreeMap<u64, MeshStats>> {
    let file =
        std::fs::File::open(path).map_err(chiiki_core::error::IoError::at(path, "reading"))?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(file);
    let at_line = |line: usize, message: String| SynthError::Input {
        path: path.to_path_buf(),
        line: Some(line as u64),
        feature: None,
        message,
    };
    let header = reader
        .headers()
        .map_err(|e| at_line(1, e.to_string()))?
        .clone();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| SynthError::input(path, format!("no column {name}")))
    };
    let cols = [
        "KEY_CODE",
        "HTKSAKI",
        "T001142001",
        "T001142004",
        "T001142010",
        "T001142019",
        "T001142022",
        "T001142025",
        "T001142034",
        "T001142036",
        "T001142049",
        "T001142050",
    ]
    .map(col);
    let [key, into, pop, a0, a15, a65, a75, a85, hh, one, es, ec] = {
        let mut out = [0usize; 12];
        for (o, c) in out.iter_mut().zip(cols) {
            *o = c?;
        }
        out
    };
    let mut out = BTreeMap::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| at_line(i + 2, e.to_string()))?;
        let Ok(code) = row[key].parse::<u64>() else {
            continue; // the second header line (Japanese names)
        };
        let n = |c: usize| row.get(c).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
        out.insert(
            code,
            MeshStats {
                population: n(pop),
                age_0_14: n(a0),
                age_15_64: n(a15),
                age_65: n(a65),
                age_75: n(a75),
                age_85: n(a85),
                households: n(hh),
                one_person: n(one),
                elderly_single: n(es),
                elderly_couple: n(ec),
                hidden_into: row[into].parse().ok(),
            },
        );
    }
    Ok(out)
}

impl MeshStats {
    /// The cell whose detail figures stand for this one (itself unless hidden).
    pub fn detail<'a>(&'a self, all: &'a BTreeMap<u64, MeshStats>) -> &'a MeshStats {
        match self.hidden_into.and_then(|c| all.get(&c)) {
            Some(host) => host,
            None => self,
        }
    }

    /// Shares of 0–14, 15–64, 65–74 and 75+ in the population.
    pub fn band_shares(&self) -> [f64; 4] {
        let known = (self.age_0_14 + self.age_15_64 + self.age_65) as f64;
        if known == 0.0 {
            // No detail at all: 文京区's overall shares.
            return [0.12, 0.69, 0.09, 0.10];
        }
        [
            self.age_0_14 as f64 / known,
            self.age_15_64 as f64 / known,
            self.age_65.saturating_sub(self.age_75) as f64 / known,
            self.age_75 as f64 / known,
        ]
    }
}

pub fn kanji_number(n: u32) -> String {
    const D: [&str; 10] = ["〇", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    match n {
        0..=9 => D[n as usize].to_string(),
        10 => "十".into(),
        11..=19 => format!("十{}", D[(n % 10) as usize]),
        _ => {
            let tens = format!("{}十", D[(n / 10 % 10) as usize]);
            let hundreds = if n >= 100 {
                format!(
                    "{}百",
                    if n / 100 == 1 {
                        ""
                    } else {
                        D[(n / 100) as usize]
                    }
                )
            } else {
                String::new()
            };
            let tens = if (n / 10).is_multiple_of(10) {
                String::new()
            } else if n / 10 % 10 == 1 {
                "十".into()
            } else {
                tens
            };
            let ones = if n.is_multiple_of(10) {
                ""
            } else {
                D[(n % 10) as usize]
            };
            format!("{hundreds}{tens}{ones}")
        }
    }
}
