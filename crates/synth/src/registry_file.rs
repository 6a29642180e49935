//! The registry as a city hands it over: CP932 CSV with Japanese headers,
//! dates in 西暦 or 和暦, addresses in many styles — and a month of daily
//! 異動 files.

use std::path::Path;

use chrono::{Datelike, NaiveDate, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::city::City;
use super::error::{Result, SynthError};
use super::population::{age_on, Household, Person, Population, CARE_LEVELS};
use super::writing::{draw_perturbation, draw_style, render, Perturbation};

pub const HEADER: [&str; 14] = [
    "住民票コード",
    "世帯番号",
    "氏名",
    "氏名カナ",
    "生年月日",
    "性別",
    "続柄",
    "住所",
    "方書",
    "異動日",
    "異動事由",
    "避難行動要支援者",
    "要介護度",
    "障害",
];

/// How each household writes its address.
#[derive(Debug, Clone)]
pub struct Written {
    pub address: String,
    pub extra: String,
    pub style: u8,
    pub perturbation: Option<Perturbation>,
}

pub fn write_households(city: &City, pop: &Population, rng: &mut ChaCha8Rng) -> Vec<Written> {
    pop.households
        .iter()
        .map(|h| written(city, h, rng))
        .collect()
}

fn written(city: &City, h: &Household, rng: &mut ChaCha8Rng) -> Written {
    let a = &city.addresses[h.address];
    let style = draw_style(rng);
    let (address, extra, perturbation) = render(
        &city.towns[a.town],
        a,
        &h.extra,
        style,
        draw_perturbation(rng),
    );
    Written {
        address,
        extra,
        style,
        perturbation,
    }
}

/// 生年月日 as registries write it: mostly 西暦, some 和暦 (昭和15年3月2日,
/// S15.3.2), decided per person by `choice` in 0..100.
pub fn birth_text(birth: NaiveDate, choice: u32) -> String {
    let (y, m, d) = (birth.year(), birth.month(), birth.day());
    let era = [
        (NaiveDate::from_ymd_opt(2019, 5, 1), "令和", "R"),
        (NaiveDate::from_ymd_opt(1989, 1, 8), "平成", "H"),
        (NaiveDate::from_ymd_opt(1926, 12, 25), "昭和", "S"),
        (NaiveDate::from_ymd_opt(1912, 7, 30), "大正", "T"),
    ]
    .into_iter()
    .find(|(start, _, _)| start.is_some_and(|s| birth >= s));
    match (choice, era) {
        (0..=9, Some((start, name, _))) => {
            let year = y - start.map_or(y, |s| s.year()) + 1;
            format!("{name}{year}年{m}月{d}日")
        }
        (10..=14, Some((start, _, initial))) => {
            let year = y - start.map_or(y, |s| s.year()) + 1;
            format!("{initial}{year}.{m}.{d}")
        }
        (15..=40, _) => format!("{y}-{m:02}-{d:02}"),
        _ => format!("{y}/{m:02}/{d:02}"),
    }
}

pub fn date_text(d: NaiveDate) -> String {
    format!("{}/{:02}/{:02}", d.year(), d.month(), d.day())
}

/// One registry row for a person living at a written address.
pub fn row(
    p: &Person,
    household_id: u64,
    w: &Written,
    birth_choice: u32,
    moved_on: NaiveDate,
    reason: &str,
) -> [String; 14] {
    [
        format!("{:011}", p.id),
        format!("{household_id:08}"),
        p.name(),
        p.kana(),
        birth_text(p.birth, birth_choice),
        if p.male { "男" } else { "女" }.to_string(),
        p.relationship.to_string(),
        w.address.clone(),
        w.extra.clone(),
        date_text(moved_on),
        reason.to_string(),
        if p.needs_support { "○" } else { "" }.to_string(),
        p.care
            .map_or(String::new(), |c| CARE_LEVELS[c as usize].to_string()),
        if p.disability { "有" } else { "" }.to_string(),
    ]
}

/// Writes CSV rows in CP932, refusing any character CP932 cannot hold.
pub fn write_cp932(path: &Path, rows: &[[String; 14]]) -> Result<()> {
    let mut w = Cp932Writer::create(path)?;
    for r in rows {
        w.row(r)?;
    }
    w.finish()
}

/// A CP932 CSV file that appears whole when complete (an
/// [`chiiki_core::fs::AtomicFile`]), so a reader never sees half a registry.
pub struct Cp932Writer {
    path: std::path::PathBuf,
    csv: csv::Writer<Vec<u8>>,
    file: chiiki_core::fs::AtomicFile,
}

impl Cp932Writer {
    pub fn create(path: &Path) -> Result<Cp932Writer> {
        let mut w = Cp932Writer {
            path: path.to_path_buf(),
            csv: Self::text_writer(),
            file: chiiki_core::fs::AtomicFile::create(path)?,
        };
        w.csv.write_record(HEADER).map_err(|e| w.failed(e))?;
        Ok(w)
    }

    fn text_writer() -> csv::Writer<Vec<u8>> {
        csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(Vec::with_capacity(1 << 21))
    }

    fn failed(&self, source: csv::Error) -> SynthError {
        SynthError::Csv {
            path: self.path.clone(),
            source,
        }
    }

    pub fn row(&mut self, fields: &[String; 14]) -> Result<()> {
        self.csv.write_record(fields).map_err(|e| self.failed(e))?;
        if self.csv.get_ref().len() > 1 << 20 {
            self.flush_text()?;
        }
        Ok(())
    }

    fn flush_text(&mut self) -> Result<()> {
        use std::io::Write;
        let full = std::mem::replace(&mut self.csv, Self::text_writer());
        let text = full
            .into_inner()
            .map_err(|e| self.failed(e.into_error().into()))?;
        let text = std::str::from_utf8(&text).map_err(SynthError::encode("registry CSV"))?;
        let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
        if unmappable {
            return Err(SynthError::NotCp932 {
                path: self.path.clone(),
            });
        }
        self.file
            .write_all(&bytes)
            .map_err(chiiki_core::error::IoError::at(&self.path, "writing"))?;
        Ok(())
    }

    pub fn finish(mut self) -> Result<()> {
        self.flush_text()?;
        self.file.commit()?;
        Ok(())
    }
}

/// The state the delta generator evolves: who lives where.
pub struct Living<'a> {
    pub city: &'a City,
    pub people: Vec<Person>,
    /// Household of each person (index into `households`), `None` once gone.
    pub home: Vec<Option<usize>>,
    pub households: Vec<(u64, Written)>,
    pub next_person_id: u64,
    pub next_household_id: u64,
}

/// The day after the last 異動 file: the month after `as_of`.
pub fn delta_end(as_of: NaiveDate) -> NaiveDate {
    as_of
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(as_of)
}

/// A month of daily 異動 files (business days after `as_of`), written to
/// `dir` as `idou_YYYYMMDD.csv`. Returns the number of rows per file.
pub fn write_deltas(
    living: &mut Living,
    as_of: NaiveDate,
    dir: &Path,
    scale: f64,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<(String, usize)>> {
    std::fs::create_dir_all(dir).map_err(chiiki_core::error::IoError::at(dir, "creating"))?;
    let mut out = Vec::new();
    let mut day = as_of;
    let end = delta_end(as_of);
    while day < end {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            let rows = one_day(living, day, scale, rng);
            let name = format!("idou_{}.csv", day.format("%Y%m%d"));
            write_cp932(&dir.join(&name), &rows)?;
            out.push((name, rows.len()));
        }
        day = day.succ_opt().unwrap_or(end);
    }
    Ok(out)
}

/// About what a ward of 240,000 records on a working day: 60 転入, 55 転出,
/// 18 転居 households, 6 出生, 5 死亡, 3 世帯変更 (scaled).
fn one_day(
    living: &mut Living,
    day: NaiveDate,
    scale: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<[String; 14]> {
    let mut rows = Vec::new();
    let count = |n: f64, rng: &mut ChaCha8Rng| {
        let x = n * scale * rng.random_range(0.7..1.3);
        x.round() as usize
    };
    let present: Vec<usize> = (0..living.people.len())
        .filter(|&i| living.home[i].is_some())
        .collect();
    let mut touched = std::collections::BTreeSet::new();
    let pick = |rng: &mut ChaCha8Rng, touched: &mut std::collections::BTreeSet<usize>| {
        for _ in 0..20 {
            let i = present[rng.random_range(0..present.len())];
            if touched.insert(i) {
                return Some(i);
            }
        }
        None
    };
    // 転出: single residents leave.
    for _ in 0..count(55.0, rng) {
        if let Some(i) = pick(rng, &mut touched) {
            let h = living.home[i].take().expect("present");
            let p = &living.people[i];
            rows.push(row(
                p,
                living.households[h].0,
                &living.households[h].1,
                99,
                day,
                "転出",
            ));
        }
    }
    // 死亡: the old are likelier.
    let mut deaths = count(5.0, rng);
    for _ in 0..200 {
        if deaths == 0 {
            break;
        }
        if let Some(i) = pick(rng, &mut touched) {
            let p = &living.people[i];
            if age_on(p.birth, day) >= 75 && rng.random_bool(0.5) {
                let h = living.home[i].take().expect("present");
                rows.push(row(
                    p,
                    living.households[h].0,
                    &living.households[h].1,
                    99,
                    day,
                    "死亡",
                ));
                deaths -= 1;
            } else {
                touched.remove(&i);
            }
        }
    }
    // 転居: a household moves to another address of the ward.
    for _ in 0..count(18.0, rng) {
        let Some(i) = pick(rng, &mut touched) else {
            continue;
        };
        let Some(h) = living.home[i] else { continue };
        let to = rng.random_range(0..living.city.addresses.len());
        let a = &living.city.addresses[to];
        let (address, extra, _) = render(&living.city.towns[a.town], a, "", draw_style(rng), None);
        let (id, _) = living.households[h];
        let moved = Written {
            address,
            extra,
            style: 0,
            perturbation: None,
        };
        for m in 0..living.people.len() {
            if living.home[m] == Some(h) {
                touched.insert(m);
                rows.push(row(&living.people[m], id, &moved, 99, day, "転居"));
            }
        }
        living.households[h].1 = moved;
    }
    // 転入: new households of one to three.
    for _ in 0..count(40.0, rng) {
        let to = rng.random_range(0..living.city.addresses.len());
        let a = &living.city.addresses[to];
        let (address, extra, _) = render(&living.city.towns[a.town], a, "", draw_style(rng), None);
        let id = living.next_household_id;
        living.next_household_id += 1;
        living.households.push((
            id,
            Written {
                address,
                extra,
                style: 0,
                perturbation: None,
            },
        ));
        let h = living.households.len() - 1;
        let size = 1 + (rng.random::<f64>().powi(3) * 3.0) as usize;
        let surname = super::names::surname(rng);
        for k in 0..size {
            let age = if k < 2 {
                rng.random_range(19..=45)
            } else {
                rng.random_range(0..=10)
            };
            let birth = day
                .checked_sub_months(chrono::Months::new(12 * age + rng.random_range(1..12)))
                .unwrap_or(day);
            let male = if k == 1 {
                !living.people.last().is_some_and(|p| p.male)
            } else {
                rng.random_bool(0.5)
            };
            let p = Person {
                id: living.next_person_id,
                household: h,
                male,
                birth,
                relationship: match k {
                    0 => "世帯主",
                    1 if male => "夫",
                    1 => "妻",
                    _ => "子",
                },
                surname,
                given: super::names::given(rng, male, birth.year()),
                care: None,
                disability: false,
                needs_support: false,
                moved_on: day,
                born_here: false,
            };
            living.next_person_id += 1;
            rows.push(row(
                &p,
                id,
                &living.households[h].1,
                rng.random_range(0..100),
                day,
                "転入",
            ));
            living.people.push(p);
            living.home.push(Some(h));
        }
    }
    // 出生: a baby in a household with a 世帯主 aged 20–45.
    for _ in 0..count(6.0, rng) {
        for _ in 0..50 {
            let Some(i) = pick(rng, &mut touched) else {
                break;
            };
            let parent = &living.people[i];
            let age = age_on(parent.birth, day);
            if parent.relationship == "世帯主" && (20..=45).contains(&age) {
                let h = living.home[i].expect("present");
                let male = rng.random_bool(0.51);
                let birth = day - chrono::Duration::days(rng.random_range(1..14));
                let p = Person {
                    id: living.next_person_id,
                    household: h,
                    male,
                    birth,
                    relationship: "子",
                    surname: parent.surname,
                    given: super::names::given(rng, male, birth.year()),
                    care: None,
                    disability: false,
                    needs_support: false,
                    moved_on: day,
                    born_here: true,
                };
                living.next_person_id += 1;
                let (id, w) = &living.households[h];
                rows.push(row(&p, *id, w, 99, day, "出生"));
                living.people.push(p);
                living.home.push(Some(h));
                break;
            }
            touched.remove(&i);
        }
    }
    // 世帯変更: an adult child sets up a household of their own at the same address.
    for _ in 0..count(3.0, rng) {
        for _ in 0..50 {
            let Some(i) = pick(rng, &mut touched) else {
                break;
            };
            let p = &living.people[i];
            if p.relationship == "子" && age_on(p.birth, day) >= 20 {
                let h = living.home[i].expect("present");
                let id = living.next_household_id;
                living.next_household_id += 1;
                let w = living.households[h].1.clone();
                living.households.push((id, w));
                let nh = living.households.len() - 1;
                living.home[i] = Some(nh);
                living.people[i].relationship = "世帯主";
                let p = &living.people[i];
                rows.push(row(p, id, &living.households[nh].1, 99, day, "世帯変更"));
                break;
            }
            touched.remove(&i);
        }
    }
    rows
}
