//! Synthetic registries for the tests: households of made-up residents on
//! real 文京区 町丁目 names, with common Japanese names, written as a 住民記録
//! system would export them (CP932 with Japanese headers, or UTF-8 with
//! English ones). No real person's data is used.

#![allow(dead_code)]

use std::fmt::Write as _;
use std::path::Path;

/// A small deterministic generator (SplitMix64), so every run and every
/// machine sees the same residents.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const SURNAMES: &[(&str, &str)] = &[
    ("佐藤", "サトウ"),
    ("鈴木", "スズキ"),
    ("高橋", "タカハシ"),
    ("田中", "タナカ"),
    ("伊藤", "イトウ"),
    ("渡辺", "ワタナベ"),
    ("山本", "ヤマモト"),
    ("中村", "ナカムラ"),
    ("小林", "コバヤシ"),
    ("加藤", "カトウ"),
    ("吉田", "ヨシダ"),
    ("山田", "ヤマダ"),
    ("佐々木", "ササキ"),
    ("山口", "ヤマグチ"),
    ("松本", "マツモト"),
    ("井上", "イノウエ"),
    ("木村", "キムラ"),
    ("斎藤", "サイトウ"),
];

const MALE: &[(&str, &str)] = &[
    ("翔太", "ショウタ"),
    ("蓮", "レン"),
    ("大翔", "ヒロト"),
    ("健一", "ケンイチ"),
    ("誠", "マコト"),
    ("浩", "ヒロシ"),
    ("茂", "シゲル"),
    ("博", "ヒロシ"),
    ("隆", "タカシ"),
    ("和夫", "カズオ"),
];

const FEMALE: &[(&str, &str)] = &[
    ("花子", "ハナコ"),
    ("陽菜", "ヒナ"),
    ("結衣", "ユイ"),
    ("美咲", "ミサキ"),
    ("恵子", "ケイコ"),
    ("洋子", "ヨウコ"),
    ("幸子", "サチコ"),
    ("由美", "ユミ"),
    ("久美子", "クミコ"),
    ("真由美", "マユミ"),
];

/// 文京区's 町 and how many 丁目 each has.
const TOWNS: &[(&str, u32)] = &[
    ("白山", 5),
    ("本郷", 7),
    ("小石川", 5),
    ("千石", 4),
    ("本駒込", 6),
    ("向丘", 2),
    ("根津", 2),
    ("千駄木", 5),
    ("弥生", 2),
    ("湯島", 4),
    ("西片", 2),
    ("春日", 2),
    ("後楽", 2),
    ("大塚", 6),
    ("音羽", 2),
    ("関口", 3),
    ("目白台", 3),
    ("水道", 2),
    ("小日向", 4),
];

const KANJI_DIGITS: [&str; 8] = ["〇", "一", "二", "三", "四", "五", "六", "七"];
const BUILDINGS: &[&str] = &["ハイツ", "コーポ", "マンション", "レジデンス", "荘"];
const CARE: &[&str] = &[
    "要支援1",
    "要支援2",
    "要介護1",
    "要介護2",
    "要介護3",
    "要介護4",
    "要介護5",
];

/// A date as (year, month, day).
pub type Ymd = (i32, u32, u32);

#[derive(Debug, Clone)]
pub struct Resident {
    pub id: String,
    pub household: String,
    pub name: String,
    pub kana: String,
    pub birth: Ymd,
    pub male: bool,
    pub relationship: &'static str,
    pub address: String,
    pub extra: String,
    /// 異動日; `None` for some, whose history starts at the baseline.
    pub moved_on: Option<Ymd>,
    pub born_here: bool,
    pub needs_support: bool,
    pub care: Option<&'static str>,
    pub disability: bool,
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn random_date(rng: &mut Rng, from_year: i32, to_year: i32) -> Ymd {
    let y = from_year + rng.below((to_year - from_year + 1) as u64) as i32;
    let m = 1 + rng.below(12) as u32;
    let d = 1 + rng.below(days_in_month(y, m) as u64) as u32;
    (y, m, d)
}

/// `n` residents (rounded up to whole households), all registered before
/// 2025-04-01, ids `1` followed by 10 digits from `first_id`.
pub fn residents(n: usize, seed: u64, first_id: u64) -> Vec<Resident> {
    let mut rng = Rng::new(seed);
    let mut out: Vec<Resident> = Vec::with_capacity(n + 8);
    let mut household_no = 0u64;
    while out.len() < n {
        household_no += 1;
        let household = format!("{:08}", seed % 1000 * 100_000 + household_no);
        let (surname, surname_kana) = *rng.pick(SURNAMES);
        let (town, chome) = *rng.pick(TOWNS);
        let c = 1 + rng.below(chome as u64) as usize;
        let (block, lot) = (1 + rng.below(30), 1 + rng.below(25));
        let address = if rng.below(2) == 0 {
            format!("東京都文京区{town}{}丁目{block}番{lot}号", KANJI_DIGITS[c])
        } else {
            format!("文京区{town}{c}丁目{block}-{lot}")
        };
        let extra = if rng.below(3) == 0 {
            format!(
                "{town}{}{}",
                rng.pick(BUILDINGS),
                100 * (1 + rng.below(9)) + 1 + rng.below(8)
            )
        } else {
            String::new()
        };
        let moved_in = random_date(&mut rng, 1990, 2024);
        let head_birth = random_date(&mut rng, 1930, 1998);
        let size = 1 + rng.below(5) as usize;
        let head_male = rng.below(3) != 0;
        for member in 0..size {
            let (relationship, male, birth) = match member {
                0 => ("世帯主", head_male, head_birth),
                1 => (
                    if head_male { "妻" } else { "夫" },
                    !head_male,
                    random_date(&mut rng, head_birth.0 - 3, head_birth.0 + 5),
                ),
                _ => {
                    let y = (head_birth.0 + 22 + rng.below(15) as i32).min(2024);
                    ("子", rng.below(2) == 0, random_date(&mut rng, y, y))
                }
            };
            let (given, given_kana) = *rng.pick(if male { MALE } else { FEMALE });
            let born_here = birth > moved_in;
            let moved_on = if born_here {
                Some(birth)
            } else if rng.below(10) == 0 {
                None
            } else {
                Some(moved_in)
            };
            let age_2025 = 2025 - birth.0;
            let id = format!("1{:010}", first_id + out.len() as u64);
            out.push(Resident {
                id,
                household: household.clone(),
                name: format!("{surname} {given}"),
                kana: format!("{surname_kana} {given_kana}"),
                birth,
                male,
                relationship,
                address: address.clone(),
                extra: extra.clone(),
                moved_on,
                born_here,
                needs_support: age_2025 >= 75 && rng.below(4) == 0,
                care: (age_2025 >= 70 && rng.below(3) == 0).then(|| *rng.pick(CARE)),
                disability: rng.below(25) == 0,
            });
        }
    }
    out
}

/// 和暦 of a date: (era name, era initial, year of the era).
pub fn wareki((y, m, d): Ymd) -> (&'static str, char, i32) {
    let on = (y, m, d);
    if on >= (2019, 5, 1) {
        ("令和", 'R', y - 2018)
    } else if on >= (1989, 1, 8) {
        ("平成", 'H', y - 1988)
    } else if on >= (1926, 12, 25) {
        ("昭和", 'S', y - 1925)
    } else if on >= (1912, 7, 30) {
        ("大正", 'T', y - 1911)
    } else {
        ("明治", 'M', y - 1867)
    }
}

fn full_width(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '0'..='9' => char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap(),
            c => c,
        })
        .collect()
}

/// The birth date written in one of the forms exports use, chosen by `style`.
pub fn date_text((y, m, d): Ymd, style: usize) -> String {
    let (era, initial, ey) = wareki((y, m, d));
    let era_year = if ey == 1 {
        "元".to_string()
    } else {
        ey.to_string()
    };
    match style % 7 {
        0 => format!("{y:04}-{m:02}-{d:02}"),
        1 => format!("{y}/{m}/{d}"),
        2 => format!("{era}{era_year}年{m}月{d}日"),
        3 => format!("{initial}{ey}.{m}.{d}"),
        4 => full_width(&format!("{era}{era_year}年{m}月{d}日")),
        5 => format!("{y:04}{m:02}{d:02}"),
        _ => format!("{y}年{m}月{d}日"),
    }
}

pub fn iso((y, m, d): Ymd) -> String {
    format!("{y:04}-{m:02}-{d:02}")
}

/// The export with Japanese headers (half-width ﾌﾘｶﾞﾅ and a padded header,
/// as real exports have), 和暦 and 西暦 birth dates, 男/女 and ○ flags.
pub fn japanese_csv(residents: &[Resident]) -> String {
    let mut s = String::from(
        " 住民票コード ,世帯番号,氏名,ﾌﾘｶﾞﾅ,生年月日,性別,続柄,住所,方書,異動日,異動事由,避難行動要支援者,要介護度,障害\r\n",
    );
    for (i, r) in residents.iter().enumerate() {
        let _ = write!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            r.id,
            r.household,
            r.name,
            r.kana,
            date_text(r.birth, i),
            if r.male { "男" } else { "女" },
            r.relationship,
            r.address,
            r.extra,
            r.moved_on.map(|d| date_text(d, i + 3)).unwrap_or_default(),
            if r.moved_on.is_none() {
                ""
            } else if r.born_here {
                "出生"
            } else {
                "転入"
            },
            if r.needs_support { "○" } else { "" },
            r.care.unwrap_or(""),
            if r.disability { "有" } else { "無" },
        );
    }
    s
}

/// The export with English headers, ISO dates and M/F, true/false flags.
pub fn english_csv(residents: &[Resident]) -> String {
    let mut s = String::from(
        "resident_id,household_id,name,name_kana,birth_date,sex,relationship,address,address_extra,moved_on,change_reason,needs_support,care_level,disability\n",
    );
    for r in residents {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.id,
            r.household,
            r.name,
            r.kana,
            iso(r.birth),
            if r.male { "M" } else { "F" },
            r.relationship,
            r.address,
            r.extra,
            r.moved_on.map(iso).unwrap_or_default(),
            match (r.moved_on, r.born_here) {
                (None, _) => "",
                (Some(_), true) => "birth",
                (Some(_), false) => "move_in",
            },
            r.needs_support,
            r.care.unwrap_or(""),
            r.disability,
        );
    }
    s
}

pub fn cp932(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::SHIFT_JIS.encode(text);
    assert!(!unmappable, "test text must be encodable in CP932");
    bytes.into_owned()
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// A delta row; unset values are blank.
#[derive(Debug, Clone, Default)]
pub struct Delta<'a> {
    pub id: &'a str,
    pub date: &'a str,
    pub reason: &'a str,
    pub household: &'a str,
    pub name: &'a str,
    pub birth: &'a str,
    pub sex: &'a str,
    pub relationship: &'a str,
    pub address: &'a str,
    pub extra: &'a str,
}

/// A delta file with Japanese headers (the row of `rows[i]` is on line i+2).
pub fn delta_csv(rows: &[Delta<'_>]) -> String {
    let mut s =
        String::from("住民票コード,世帯番号,氏名,生年月日,性別,続柄,住所,方書,異動日,異動事由\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{}",
            r.id,
            r.household,
            r.name,
            r.birth,
            r.sex,
            r.relationship,
            r.address,
            r.extra,
            r.date,
            r.reason
        );
    }
    s
}
