//! Issue 15: addresses that leave out what the geocoder used to need, built
//! from the real data (never hand-picked), each with the answer the data
//! allows:
//!
//! 1. no prefecture or city: a ward alone (上京区…, 北区… of 11 cities) or a
//!    bare town, with or without `--city` context ([`ward_cases`],
//!    [`bare_town_cases`]);
//! 2. 京都's street descriptions before the town (寺町通御池上る…,
//!    …上るより…下るまで…) ([`kyoto_cases`]);
//! 3. 堺市's N丁 towns (北長尾町２丁３－１０) and 札幌's 条・丁目 short forms
//!    (月寒東３-１８, 北1西2) ([`sakai_cases`], [`sapporo_cases`]);
//! 4. 旧字体/異体字 in town and city names ([`variant_cases`]), look-alike
//!    typos and U+FFFD ([`typo_cases`]);
//! 5. noise before and inside the address ([`noisy_rendering`]);
//!
//! and the near misses that must not match ([`near_miss_cases`]): a town of
//! another city (文京区本町), a real name one character from a town of the
//! city (東大島 where the city has 西大島), two-character names (本町/本郷).
//!
//! What "the data allows" is decided on the whole country
//! ([`super::universe`]): a name written without its city is expected to land
//! only when no other city has a reading for it, and to be `ambiguous` when
//! several have the very name.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::numerals::{fullwidth, kanji};
use super::universe::{
    core, edit_distance, key, loosely_related, split_chome, universe, variant_equal,
    variant_in_tables, UCity, UTown, Universe,
};
use super::{data, AbrAddress, SplitMix};

/// What the geocoder must answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// This town of this city. `level` (e.g. "residential_number") and
    /// `addr` are checked when non-empty; otherwise any level from
    /// oaza_chome down is right.
    Town {
        pref: String,
        city: String,
        town: String,
        level: &'static str,
        addr: String,
    },
    /// Several readings: level `ambiguous` with at least two candidates and
    /// no position (lon/lat NaN); with `or_none`, level `none` is right too.
    Ambiguous { or_none: bool },
    /// No town: the answer names `city` at city level and no town. Any
    /// answer at oaza_chome level or finer is a wrong place.
    NoTown { city: String },
}

/// How a misspelt input compares with the same address spelt right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// 旧字体/異体字: same place, a score no higher, and a reason the exact
    /// spelling's answer does not have.
    VariantReason,
    /// Look-alike or U+FFFD: same place, a strictly lower score, and a reason
    /// the exact spelling's answer does not have.
    LowerWithReason,
}

/// One input and its expected answer.
#[derive(Debug, Clone)]
pub struct Case {
    pub input: String,
    /// `--city` entries; empty means `geocode` without context.
    pub context: Vec<String>,
    pub expect: Expect,
    /// `used_context` as the case decides it (None: not checked).
    pub used_context: Option<bool>,
    /// The same address spelt exactly, for misspelt inputs.
    pub exact: Option<(String, Compare)>,
    /// Which habit or rule this case exercises (for the summary).
    pub class: &'static str,
}

impl Case {
    fn town(class: &'static str, input: String, c: &UCity, town: &str) -> Case {
        Case {
            input,
            context: Vec::new(),
            expect: Expect::Town {
                pref: c.pref.clone(),
                city: c.full(),
                town: town.to_string(),
                level: "",
                addr: String::new(),
            },
            used_context: Some(false),
            exact: None,
            class,
        }
    }

    fn ambiguous(class: &'static str, input: String, or_none: bool) -> Case {
        Case {
            input,
            context: Vec::new(),
            expect: Expect::Ambiguous { or_none },
            used_context: None,
            exact: None,
            class,
        }
    }

    fn no_town(class: &'static str, input: String, c: &UCity) -> Case {
        Case {
            input,
            context: Vec::new(),
            expect: Expect::NoTown { city: c.full() },
            used_context: None,
            exact: None,
            class,
        }
    }

    fn in_context(mut self, context: Vec<String>) -> Case {
        if matches!(self.expect, Expect::Town { .. }) {
            self.used_context = Some(!context.is_empty());
        }
        self.context = context;
        self
    }
}

/// Whether two town names are the same town for the geocoder (ケ/ヶ, 大字).
pub fn same_town(a: &str, b: &str) -> bool {
    key(a) == key(b)
}

// ── Helpers ──────────────────────────────────────────────────────────────

const KANJI_DIGITS: &str = "〇一二三四五六七八九十百";

/// The number that ends a name like 北長尾町二丁 (→ 北長尾町, 2).
fn split_cho(name: &str) -> Option<(String, u32)> {
    let head = name.strip_suffix('丁')?;
    let chars: Vec<char> = head.chars().collect();
    let mut i = chars.len();
    while i > 0 && KANJI_DIGITS.contains(chars[i - 1]) {
        i -= 1;
    }
    if i == 0 || i == chars.len() {
        return None;
    }
    let n = super::numerals::parse_kanji(&chars[i..].iter().collect::<String>())?;
    Some((chars[..i].iter().collect(), n))
}

/// (base, 条, 西/東 or "", 丁目) of a 札幌 name.
type JoParts = (String, u32, &'static str, u32);

/// A 札幌-style name: 月寒東三条十八丁目 → (月寒東, 3, "", 18);
/// 北一条西二丁目 → (北, 1, 西, 2).
fn split_jo(name: &str) -> Option<JoParts> {
    let (head, tail) = name.split_once('条')?;
    let chars: Vec<char> = head.chars().collect();
    let mut i = chars.len();
    while i > 0 && KANJI_DIGITS.contains(chars[i - 1]) {
        i -= 1;
    }
    if i == 0 || i == chars.len() {
        return None;
    }
    let n = super::numerals::parse_kanji(&chars[i..].iter().collect::<String>())?;
    let base: String = chars[..i].iter().collect();
    let (ew, rest) = match tail.chars().next()? {
        '西' => ("西", &tail['西'.len_utf8()..]),
        '東' => ("東", &tail['東'.len_utf8()..]),
        _ => ("", tail),
    };
    let digits = rest.strip_suffix("丁目")?;
    if digits.is_empty() || !digits.chars().all(|c| KANJI_DIGITS.contains(c)) {
        return None;
    }
    let m = super::numerals::parse_kanji(digits)?;
    Some((base, n, ew, m))
}

fn ends_with_numeral(name: &str) -> bool {
    name.chars()
        .last()
        .is_some_and(|c| KANJI_DIGITS.contains(c) || c.is_ascii_digit())
}

/// A number tail as registries write them, rotating with `j`; none where a
/// number could be read into the name (the name ends in a numeral, or the
/// bare name also has 丁目 towns: 本町3-5 vs 本町三丁目5).
fn tail(c: &UCity, town: &str, j: usize) -> String {
    if ends_with_numeral(town) && !town.ends_with("丁目") {
        return String::new();
    }
    let base_too = split_chome(town).1.is_none() && c.bases.contains(&key(town));
    let n = 1 + (j * 37) % 870;
    let m = 1 + (j * 13) % 30;
    match (j % 5, base_too) {
        (0, _) => String::new(),
        (1, _) | (3, true) => format!("{n}番地"),
        (2, _) => format!("{n}"),
        (3, false) => format!("{n}-{m}"),
        (_, true) => String::new(),
        (_, false) => format!("{n}番地{m}"),
    }
}

/// Cities that have a town and the ward/city name `name`, by how the name
/// is used: wards of 政令市 (ward == name) and 東京都's special wards
/// (city == name): the owners of a ward name written alone.
fn ward_owners() -> HashMap<String, Vec<usize>> {
    let u = universe();
    let mut owners: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, c) in u.cities.iter().enumerate() {
        if !c.ward.is_empty() {
            owners.entry(c.ward.clone()).or_default().push(i);
        } else if c.pref == "東京都" && c.county.is_empty() && c.city.ends_with('区') {
            owners.entry(c.city.clone()).or_default().push(i);
        }
    }
    owners
}

/// Whether `name` names exactly one row of mt_city_all as a city, a city +
/// ward, or a ward (so a context of that name is not ambiguous).
fn unique_city_name(name: &str) -> bool {
    // Compared folded: 鹿島市 (佐賀県) and 鹿嶋市 (茨城県) are one name to the
    // normaliser.
    let name = data::fold(name);
    data::cities()
        .iter()
        .filter(|c| {
            let same = |s: String| data::fold(&s) == name;
            if c.ward.is_empty() {
                same(c.city.clone()) || same(c.full())
            } else {
                same(c.ward.clone()) || same(format!("{}{}", c.city, c.ward))
            }
        })
        .count()
        == 1
}

/// The parent city of a 政令市 ward (京都市 for 京都市北区), as mt_city_all has it.
fn parent_city(c: &UCity) -> Option<&'static data::City> {
    if c.ward.is_empty() {
        return None;
    }
    data::cities()
        .iter()
        .find(|p| p.pref == c.pref && p.city == c.city && p.ward.is_empty())
}

/// One way of naming `c` as `--city`, rotating with `j`: its name when
/// unique, with the prefecture, its 6-digit or 5-digit lg_code, or (for a
/// ward) its parent city by name or code; with the cities it covers (all
/// wards of the parent).
fn context_for(c: &UCity, j: usize) -> (String, Vec<usize>) {
    let u = universe();
    let index = u.city_index(&c.pref, &c.full()).unwrap();
    let lg5 = |lg: &str| lg[..5].to_string();
    if let Some(p) = parent_city(c) {
        let wards: Vec<usize> = (0..u.cities.len())
            .filter(|&i| {
                let w = &u.cities[i];
                w.pref == c.pref && w.city == c.city && !w.ward.is_empty()
            })
            .collect();
        return match j % 6 {
            0 if unique_city_name(&p.city) => (p.city.clone(), wards),
            0 | 4 => (format!("{}{}", p.pref, p.city), wards),
            1 => (p.lg_code.clone(), wards),
            2 => (lg5(&p.lg_code), wards),
            3 => (c.lg_code.clone(), vec![index]),
            _ => (c.short(), vec![index]),
        };
    }
    let name = match j % 5 {
        0 if unique_city_name(&c.short()) => c.short(),
        0 | 3 => format!("{}{}", c.pref, c.full()),
        1 => c.lg_code.clone(),
        2 => lg5(&c.lg_code),
        _ if !c.county.is_empty() => format!("{}{}", c.pref, c.short()),
        _ => format!("{}{}", c.pref, c.full()),
    };
    (name, vec![index])
}

/// Every k-th element, spread over the whole list.
fn pick<T: Clone>(all: &[T], n: usize) -> Vec<T> {
    super::spread(all, n)
}

// ── 1. No prefecture or city ─────────────────────────────────────────────

/// A ward written without its city (and without prefecture).
///
/// - ward names unique in Japan (上京区, 西京区, 港北区 …, 120 of the 132
///   ward names incl. 東京's special wards): `per_city` towns of every such
///   政令市 ward → that town, without context;
/// - ward names shared by several cities (中央区 ×11, 北区 ×11, 南区 ×12,
///   西区 ×11, 東区 ×8, 緑区 ×5, 中区 ×5, 港区 ×3, 青葉区, 泉区, 鶴見区,
///   旭区): `per_city` towns of every owner, with `--city` (the parent city by
///   name or code, the ward's own code, …; sometimes with a second city
///   that has no such ward) → that town; without context → that town when
///   no other same-named ward has a reading for it, `ambiguous` when
///   another has the very name, else not asked.
pub fn ward_cases(per_city: usize) -> Vec<Case> {
    let u = universe();
    let mut out = Vec::new();
    let owners = ward_owners();
    let mut names: Vec<&String> = owners.keys().collect();
    names.sort();
    // Every row of mt_city_all counts for uniqueness (浜松市中央区 has no
    // towns in the reference, but the name is still shared).
    let all_owners = |ward: &str| {
        data::cities()
            .iter()
            .filter(|c| {
                c.ward == ward || (c.pref == "東京都" && c.ward.is_empty() && c.city == ward)
            })
            .count()
    };
    let mut j = 0;
    for ward in names {
        let shared = all_owners(ward) > 1;
        for &ci in &owners[ward] {
            let c = &u.cities[ci];
            if !shared && c.ward.is_empty() {
                continue; // 東京's unique special wards (文京区…) are plain cities
            }
            for t in pick(&c.plain_towns(), per_city) {
                j += 1;
                let input = format!("{ward}{}{}", t.name, tail(c, &t.name, j));
                if !shared {
                    out.push(Case::town("ward unique in Japan", input, c, &t.name));
                    continue;
                }
                let mut ctx = vec![context_for(c, j).0];
                if j % 3 == 0 {
                    ctx.push("和歌山市".into()); // a context city without wards
                }
                out.push(
                    Case::town("shared ward name, --city", input.clone(), c, &t.name)
                        .in_context(ctx),
                );
                let (named, reads) = who_has(u, &owners[ward], &t.name);
                if reads == [ci] {
                    out.push(Case::town(
                        "shared ward name, only one has the town",
                        input,
                        c,
                        &t.name,
                    ));
                } else if named >= 2 {
                    out.push(Case::ambiguous(
                        "shared ward name, several have the town",
                        input,
                        false,
                    ));
                }
            }
        }
    }
    out
}

/// Towns written with nothing before them. For `n` towns sampled across
/// Japan: with `--city` of their city (by name, prefecture + name, lg_code,
/// 郡 omitted) → that town; with that city and a second one → that town,
/// or `ambiguous` when the second city has a reading too; without
/// context → that town when no other city in Japan has a reading for the
/// name, `ambiguous` (or `none`) when other cities have the very name.
pub fn bare_town_cases(n: usize) -> Vec<Case> {
    let u = universe();
    let mut by_pref: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, c) in u.cities.iter().enumerate() {
        if c.towns.is_empty() {
            continue;
        }
        match by_pref.last_mut() {
            Some((p, v)) if *p == c.pref => v.push(i),
            _ => by_pref.push((c.pref.clone(), vec![i])),
        }
    }
    let all: Vec<usize> = by_pref
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    let mut rng = SplitMix(0x6368_6969_6b69_3135); // "chiiki15"
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut attempts = 0;
    while seen.len() < n && attempts < n * 20 {
        let (_, cities) = &by_pref[attempts % by_pref.len()];
        attempts += 1;
        let ci = cities[rng.below(cities.len())];
        let c = &u.cities[ci];
        let towns = c.plain_towns();
        if towns.is_empty() {
            continue;
        }
        let t = towns[rng.below(towns.len())];
        if !seen.insert((ci, t.name.clone())) {
            continue;
        }
        let j = seen.len();
        let input = format!("{}{}", t.name, tail(c, &t.name, j));
        let k = key(&t.name);

        // With context: the covered cities that have a reading decide.
        let other = all[rng.below(all.len())];
        let contexts = [
            vec![context_for(c, j)],
            vec![context_for(c, j + 1), context_for(&u.cities[other], j + 2)],
        ];
        for (n_ctx, ctx) in contexts.iter().enumerate() {
            let covered: BTreeSet<usize> =
                ctx.iter().flat_map(|(_, v)| v.iter().copied()).collect();
            if n_ctx == 1 && covered.len() < 2 {
                continue;
            }
            let names: Vec<String> = ctx.iter().map(|(n, _)| n.clone()).collect();
            let having = |i: &&usize| {
                let x = &u.cities[**i];
                x.keys.contains(&k) || x.bases.contains(&k)
            };
            let strong: Vec<&usize> = covered.iter().filter(having).collect();
            let weak = covered
                .iter()
                .filter(|&&i| u.cities[i].koaza.contains(&k))
                .count();
            let class = if n_ctx == 0 {
                "bare town, --city"
            } else {
                "bare town, two --city"
            };
            if strong == [&ci] && weak == 0 {
                out.push(Case::town(class, input.clone(), c, &t.name).in_context(names));
            } else if strong.len() >= 2 {
                out.push(
                    Case::ambiguous(
                        "bare town, several --city cities have it",
                        input.clone(),
                        false,
                    )
                    .in_context(names),
                );
            }
        }

        let readings = u.readings(&k);
        if readings.len() == 1 && readings.contains(&ci) {
            out.push(Case::town("bare town unique in Japan", input, c, &t.name));
        } else if u.towns_named(&k).len() >= 2 {
            out.push(Case::ambiguous("bare town in several cities", input, true));
        }
    }
    out
}

// ── 2. 京都's street descriptions ──────────────────────────────────────────

/// Real streets of central 京都 (the 通り名 of 上京・中京・下京・東山).
pub const KYOTO_STREETS: [&str; 40] = [
    "寺町通",
    "河原町通",
    "烏丸通",
    "四条通",
    "御池通",
    "今出川通",
    "堀川通",
    "西洞院通",
    "新町通",
    "室町通",
    "東洞院通",
    "高倉通",
    "丸太町通",
    "三条通",
    "五条通",
    "七条通",
    "大宮通",
    "千本通",
    "油小路通",
    "六角通",
    "蛸薬師通",
    "錦小路通",
    "綾小路通",
    "松原通",
    "仏光寺通",
    "高辻通",
    "押小路通",
    "二条通",
    "夷川通",
    "竹屋町通",
    "姉小路通",
    "柳馬場通",
    "富小路通",
    "麩屋町通",
    "御幸町通",
    "堺町通",
    "間之町通",
    "木屋町通",
    "中立売通",
    "下立売通",
];

/// The direction words, in every spelling the issue lists.
pub const KYOTO_DIRECTIONS: [&str; 10] = [
    "上る",
    "下る",
    "上ル",
    "下ル",
    "上がる",
    "下がる",
    "東入",
    "西入",
    "東入ル",
    "西入る",
];

/// Among `wards`: how many have a town named `name`, and which read it
/// (as a name or a spelling of one).
fn who_has(u: &Universe, wards: &[usize], name: &str) -> (usize, Vec<usize>) {
    let k = key(name);
    let named = wards
        .iter()
        .filter(|&&i| u.cities[i].keys.contains(&k))
        .count();
    let reads = wards
        .iter()
        .copied()
        .filter(|&i| u.cities[i].reads(&k))
        .collect();
    (named, reads)
}

/// The wards of a 政令市, as indexes of the universe's cities.
fn wards_of(u: &Universe, pref: &str, city: &str) -> Vec<usize> {
    u.cities
        .iter()
        .enumerate()
        .filter(|(_, c)| c.pref == pref && c.city == city && !c.ward.is_empty())
        .map(|(i, _)| i)
        .collect()
}

/// Every town of 上京区, 中京区, 下京区 and 東山区 behind a street
/// description (`{通}{交差する通}{方向}`, or `…{方向}より{通}{方向}まで`),
/// with 京都府京都市+区, 京都市+区, the ward alone, 京都市 alone or nothing
/// but `--city 京都市`, and a number tail (488, 488番地, 123番地の4) or none.
/// Without the ward, a town name that several wards of 京都市 have is
/// `ambiguous`. Town names that are only a number (四丁目, 一町目) are left
/// out.
pub fn kyoto_cases() -> Vec<Case> {
    let u = universe();
    let kyoto = wards_of(u, "京都府", "京都市");
    assert_eq!(kyoto.len(), 11, "京都市 has 11 wards");
    let mut out = Vec::new();
    let mut j = 0usize;
    for ward in ["上京区", "中京区", "下京区", "東山区"] {
        let ci = *kyoto.iter().find(|&&i| u.cities[i].ward == ward).unwrap();
        let c = &u.cities[ci];
        for t in c.plain_towns() {
            let bare_number = t
                .name
                .trim_end_matches("丁目")
                .trim_end_matches("町目")
                .chars()
                .all(|ch| KANJI_DIGITS.contains(ch));
            if bare_number {
                continue;
            }
            j += 1;
            let s = KYOTO_STREETS.len();
            let street = KYOTO_STREETS[j % s];
            let cross = KYOTO_STREETS[(j * 7 + 3) % s].trim_end_matches('通');
            let cross = if street.starts_with(cross) {
                KYOTO_STREETS[(j * 7 + 4) % s].trim_end_matches('通')
            } else {
                cross
            };
            let dir = KYOTO_DIRECTIONS[j % KYOTO_DIRECTIONS.len()];
            let description = if j % 3 == 2 {
                let until = KYOTO_STREETS[(j * 11 + 5) % s].trim_end_matches('通');
                let dir2 = KYOTO_DIRECTIONS[(j / 3 + 1) % KYOTO_DIRECTIONS.len()];
                format!("{street}{cross}{dir}より{until}{dir2}まで")
            } else {
                format!("{street}{cross}{dir}")
            };
            let number = match j % 4 {
                0 => String::new(),
                1 => format!("{}", 1 + j % 700),
                2 => format!("{}番地", 1 + j % 700),
                _ => format!("{}番地の{}", 1 + j % 700, 1 + j % 9),
            };
            let (named, reads) = who_has(u, &kyoto, &t.name);
            let in_city = |class, prefix: &str, ctx: Vec<String>| -> Option<Case> {
                let input = format!("{prefix}{description}{}{number}", t.name);
                if reads == [ci] {
                    Some(Case::town(class, input, c, &t.name).in_context(ctx))
                } else if named >= 2 {
                    Some(
                        Case::ambiguous(
                            "通り名, 京都市 without the ward, several wards have the town",
                            input,
                            false,
                        )
                        .in_context(ctx),
                    )
                } else {
                    None
                }
            };
            let with_ward = |class, prefix: String| {
                Case::town(
                    class,
                    format!("{prefix}{description}{}{number}", t.name),
                    c,
                    &t.name,
                )
            };
            let case = match j % 6 {
                0 => Some(with_ward(
                    "通り名, 京都府京都市+区",
                    format!("京都府京都市{ward}"),
                )),
                1 => Some(with_ward("通り名, 京都市+区", format!("京都市{ward}"))),
                2 => Some(with_ward("通り名, the ward alone", ward.to_string())),
                3 => in_city("通り名, 京都市 without the ward", "京都市", vec![]),
                4 => in_city(
                    "通り名, nothing but --city 京都市",
                    "",
                    vec!["京都市".into()],
                ),
                _ => in_city(
                    "通り名, 京都府京都市 without the ward",
                    "京都府京都市",
                    vec![],
                ),
            };
            out.push(
                case.unwrap_or_else(|| with_ward("通り名, 京都市+区", format!("京都市{ward}"))),
            );
        }
    }
    out
}

// ── 3. 堺市's N丁 and 札幌's 条・丁目 ───────────────────────────────────────

/// Every N丁 town of 堺市 (北長尾町二丁: 堺市 names its towns 一丁, 二丁 …, not
/// 丁目) in every spelling: 二丁3番10号, ２丁３－１０, 2-3-10 (where the bare
/// name is no town: 深阪 and 日置荘北町 are), 2丁3-10, 二丁, 2丁目3-10 (丁目
/// written for 丁), 二丁三番十号; with 大阪府堺市+区, 堺市+区, 堺市 alone
/// (`ambiguous` for 八田寺町, 小代, 太平寺, which two wards share), the ward
/// alone (堺区 is unique in Japan; the other wards with `--city 堺市`), or
/// nothing but `--city 堺市`.
pub fn sakai_cases() -> Vec<Case> {
    let u = universe();
    let sakai = wards_of(u, "大阪府", "堺市");
    assert_eq!(sakai.len(), 7, "堺市 has 7 wards");
    let mut out = Vec::new();
    let mut j = 0usize;
    for &ci in &sakai {
        let c = &u.cities[ci];
        for t in c.plain_towns() {
            let Some((base, n)) = split_cho(&t.name) else {
                continue;
            };
            j += 1;
            let (b, g) = (1 + j % 23, 1 + (j * 7) % 29);
            let hyphen_ok = !sakai.iter().any(|&i| u.cities[i].reads(&key(&base)));
            let body = match j % 8 {
                0 => format!("{base}{}丁{b}番{g}号", kanji(n)),
                1 => format!(
                    "{base}{}丁{}－{}",
                    fullwidth(n),
                    fullwidth(b as u32),
                    fullwidth(g as u32)
                ),
                2 if hyphen_ok => format!("{base}{n}-{b}-{g}"),
                2 | 3 => format!("{base}{n}丁{b}-{g}"),
                4 => format!("{base}{}丁", kanji(n)),
                5 => format!("{base}{n}丁目{b}-{g}"),
                6 => format!(
                    "{base}{}丁{}番{}号",
                    kanji(n),
                    kanji(b as u32),
                    kanji(g as u32)
                ),
                _ => format!("{base}{n}丁"),
            };
            let (named, reads) = who_has(u, &sakai, &t.name);
            let whole_city = |class, prefix: &str, ctx: Vec<String>| {
                let input = format!("{prefix}{body}");
                if reads == [ci] {
                    Case::town(class, input, c, &t.name).in_context(ctx)
                } else {
                    assert!(named >= 2, "{input}: {reads:?}");
                    Case::ambiguous("堺市 N丁, several wards have the town", input, false)
                        .in_context(ctx)
                }
            };
            let case = match (j / 8 + j) % 5 {
                0 => Case::town(
                    "堺市 N丁, 大阪府堺市+区",
                    format!("大阪府堺市{}{body}", c.ward),
                    c,
                    &t.name,
                ),
                1 => Case::town(
                    "堺市 N丁, 堺市+区",
                    format!("堺市{}{body}", c.ward),
                    c,
                    &t.name,
                ),
                2 => whole_city("堺市 N丁, 堺市 without the ward", "堺市", vec![]),
                3 => whole_city("堺市 N丁, nothing but --city 堺市", "", vec!["堺市".into()]),
                _ if c.ward == "堺区" => Case::town(
                    "堺市 N丁, 堺区 alone",
                    format!("{}{body}", c.ward),
                    c,
                    &t.name,
                ),
                _ => Case::town(
                    "堺市 N丁, the ward with --city 堺市",
                    format!("{}{body}", c.ward),
                    c,
                    &t.name,
                )
                .in_context(vec!["堺市".into()]),
            };
            out.push(case);
        }
    }
    out
}

/// `per_ward` 条・丁目 towns of each of 札幌市's 10 wards in the short forms:
/// `{base}N-M` (月寒東3-18 = 月寒東三条十八丁目; not where the base is a town
/// itself: 宮の森, 西岡 …), ３-１８ in full width, N条M, N-M-番-号, and for
/// 北/南 + 西/東 towns `北1西2`, `北１西２`, `北1条西2`; with 北海道札幌市+区,
/// 札幌市+区, the ward alone (中央区北1西2: 中央区 is 11 cities' ward name,
/// the town decides), 札幌市 alone or nothing but `--city 札幌市`.
pub fn sapporo_cases(per_ward: usize) -> Vec<Case> {
    let u = universe();
    let sapporo: Vec<usize> = u
        .cities
        .iter()
        .enumerate()
        .filter(|(_, c)| c.pref == "北海道" && c.city == "札幌市" && !c.ward.is_empty())
        .map(|(i, _)| i)
        .collect();
    assert_eq!(sapporo.len(), 10, "札幌市 has 10 wards");
    let owners = ward_owners();
    let mut out = Vec::new();
    let mut j = 0usize;
    for &ci in &sapporo {
        let c = &u.cities[ci];
        let towns: Vec<(&UTown, JoParts)> = c
            .plain_towns()
            .into_iter()
            .filter_map(|t| Some((t, split_jo(&t.name)?)))
            .collect();
        for (t, (base, n, ew, m)) in pick(&towns, per_ward) {
            j += 1;
            let (b, g) = (1 + j % 19, 1 + (j * 5) % 23);
            let base_is_town = sapporo.iter().any(|&i| u.cities[i].reads(&key(&base)));
            let (fw_n, fw_m) = (fullwidth(n), fullwidth(m));
            let body = if ew.is_empty() {
                match (j % 6, base_is_town) {
                    (1, false) => format!("{base}{n}-{m}"),
                    (2, false) => format!("{base}{fw_n}-{fw_m}"),
                    (2, true) => format!("{base}{fw_n}条{fw_m}丁目"),
                    (3, _) => format!("{base}{n}条{m}"),
                    (4, false) => format!("{base}{n}-{m}-{b}-{g}"),
                    (4, true) => format!("{base}{n}条{m}丁目{b}-{g}"),
                    (5, _) => format!("{base}{n}条{m}丁目{b}番{g}号"),
                    _ => format!("{base}{n}条{m}丁目"),
                }
            } else {
                match j % 6 {
                    1 => format!("{base}{n}{ew}{m}"),
                    2 => format!("{base}{fw_n}{ew}{fw_m}"),
                    3 => format!("{base}{n}条{ew}{m}"),
                    4 => format!("{base}{n}条{ew}{m}丁目{b}-{g}"),
                    5 => format!("{base}{}条{ew}{}丁目", kanji(n), kanji(m)),
                    _ => format!("{base}{n}条{ew}{m}丁目"),
                }
            };
            let k = key(&t.name);
            let in_city = |class, prefix: &str, ctx: Vec<String>| {
                let named = sapporo
                    .iter()
                    .filter(|&&i| u.cities[i].keys.contains(&k))
                    .count();
                let reads: Vec<usize> = sapporo
                    .iter()
                    .copied()
                    .filter(|&i| u.cities[i].reads(&k))
                    .collect();
                let input = format!("{prefix}{body}");
                if reads == [ci] {
                    Some(Case::town(class, input, c, &t.name).in_context(ctx))
                } else if named >= 2 {
                    Some(
                        Case::ambiguous("札幌 条・丁目, several wards have the town", input, false)
                            .in_context(ctx),
                    )
                } else {
                    None
                }
            };
            let ward_alone = || {
                let same: &Vec<usize> = &owners[&c.ward];
                let input = format!("{}{body}", c.ward);
                let reads: Vec<usize> = same
                    .iter()
                    .copied()
                    .filter(|&i| u.cities[i].reads(&k))
                    .collect();
                let named = same
                    .iter()
                    .filter(|&&i| u.cities[i].keys.contains(&k))
                    .count();
                if reads == [ci] {
                    Some(Case::town(
                        "札幌 条・丁目, the ward alone",
                        input,
                        c,
                        &t.name,
                    ))
                } else if named >= 2 {
                    Some(Case::ambiguous(
                        "札幌 条・丁目, the ward alone, several have the town",
                        input,
                        false,
                    ))
                } else {
                    None
                }
            };
            let case = match (j / 6 + j) % 5 {
                0 => None,
                1 => Some(Case::town(
                    "札幌 条・丁目, 札幌市+区",
                    format!("札幌市{}{body}", c.ward),
                    c,
                    &t.name,
                )),
                2 => ward_alone(),
                3 => in_city("札幌 条・丁目, 札幌市 without the ward", "札幌市", vec![]),
                _ => in_city(
                    "札幌 条・丁目, nothing but --city 札幌市",
                    "",
                    vec!["札幌市".into()],
                ),
            };
            out.push(case.unwrap_or_else(|| {
                Case::town(
                    "札幌 条・丁目, 北海道札幌市+区",
                    format!("北海道札幌市{}{body}", c.ward),
                    c,
                    &t.name,
                )
            }));
        }
    }
    out
}

// ── 4. Variant and look-alike characters ─────────────────────────────────

/// 旧字体/異体字 that people write for the 新字体 the reference has, and that
/// the itaiji_jageocoder folds do NOT cover: (in the reference, as written).
/// Vetted by hand from the ja-itaiji families and Unihan, which also list
/// pairs no one would write (丁/釘, 谷/穀, 中/塚); [`variant_cases`] checks
/// that each pair is in the tables and not folded.
pub const VARIANTS: [(char, char); 43] = [
    ('騨', '驒'),
    ('麹', '麴'),
    ('黒', '黑'),
    ('郎', '郞'),
    ('瀬', '瀨'),
    ('緑', '綠'),
    ('横', '橫'),
    ('温', '溫'),
    ('増', '增'),
    ('巣', '巢'),
    ('黄', '黃'),
    ('莱', '萊'),
    ('寛', '寬'),
    ('歩', '步'),
    ('頼', '賴'),
    ('教', '敎'),
    ('悦', '悅'),
    ('姉', '姊'),
    ('博', '愽'),
    ('毎', '每'),
    ('晩', '晚'),
    ('虚', '虛'),
    ('薫', '薰'),
    ('剥', '剝'),
    ('戻', '戾'),
    ('録', '錄'),
    ('歴', '歷'),
    ('暦', '曆'),
    ('呑', '吞'),
    ('屏', '屛'),
    ('緒', '緖'),
    ('徴', '徵'),
    ('俣', '俁'),
    ('戸', '戶'),
    ('姫', '姬'),
    ('郷', '鄉'),
    ('鴎', '鷗'),
    ('猫', '貓'),
    ('繋', '繫'),
    ('頬', '頰'),
    ('蝉', '蟬'),
    ('焔', '焰'),
    ('鶴', '靏'),
];

/// Look-alike characters typed for one another (巳/己/已, 冶/治, 祇/祗, …):
/// not variants in any table ([`typo_cases`] checks), so only edit distance
/// can match them.
pub const LOOKALIKES: [(char, char); 24] = [
    ('巳', '己'),
    ('己', '巳'),
    ('巳', '已'),
    ('己', '已'),
    ('冶', '治'),
    ('治', '冶'),
    ('祇', '祗'),
    ('祗', '祇'),
    ('末', '未'),
    ('未', '末'),
    ('鳥', '烏'),
    ('烏', '鳥'),
    ('栗', '粟'),
    ('崇', '祟'),
    ('綱', '網'),
    ('網', '綱'),
    ('壁', '璧'),
    ('侍', '待'),
    ('輪', '輸'),
    ('候', '侯'),
    ('緑', '縁'),
    ('縁', '緑'),
    ('士', '土'),
    ('微', '徴'),
];

/// The pairs of a table that fail its check (empty when all hold).
pub fn check_pair_tables() -> Vec<String> {
    let mut bad = Vec::new();
    for (a, b) in VARIANTS {
        if !variant_in_tables(a, b) {
            bad.push(format!(
                "{a}/{b} is in neither ja-itaiji (both ways) nor Unihan"
            ));
        }
        if data::fold_char(a) == data::fold_char(b) {
            bad.push(format!("{a}/{b} is already folded by itaiji_jageocoder"));
        }
    }
    for (a, b) in LOOKALIKES {
        if loosely_related(a, b) {
            bad.push(format!(
                "look-alike {a}/{b} is a variant pair in the tables"
            ));
        }
    }
    bad
}

/// Replaces the first `from` in the core of `name` (after 大字/字).
fn replace_in_core(name: &str, from: char, to: char) -> Option<String> {
    let c = core(name);
    let off = name.len() - c.len();
    let (i, _) = c.char_indices().find(|&(_, ch)| ch == from)?;
    let i = off + i;
    Some(format!(
        "{}{to}{}",
        &name[..i],
        &name[i + from.len_utf8()..]
    ))
}

/// Replaces the `pos`-th character of the core of `name`.
fn replace_at(name: &str, pos: usize, to: char) -> String {
    let c = core(name);
    let head = &name[..name.len() - c.len()];
    let mut chars: Vec<char> = c.chars().collect();
    chars[pos] = to;
    format!("{head}{}", chars.into_iter().collect::<String>())
}

/// A position in the core of `name` (after 大字/字) for a typo, rotating
/// with `j`: never a numeral, 条, 丁 or 目 (南八条西二丁目 → 南八�西二丁目,
/// 本通六丁目南 → 本通六�目南 garble the numbering, not the name).
fn name_position(name: &str, j: usize) -> Option<usize> {
    let fit: Vec<usize> = core(name)
        .chars()
        .enumerate()
        .filter(|&(_, c)| !KANJI_DIGITS.contains(c) && !"条丁目".contains(c))
        .map(|(i, _)| i)
        .collect();
    (!fit.is_empty()).then(|| fit[j % fit.len()])
}

/// Whether `written` (a misspelling of `name`, a town of `c`) points at
/// `name` alone: no real name in Japan, and no other town of `c` within
/// edit distance 1, variant-equal, or a prefix of it (小 of 小�川).
fn typo_points_home(c: &UCity, name: &str, written: &str) -> bool {
    let u = universe();
    let (wk, nk) = (key(written), key(name));
    let (wb, nb) = (key(&split_chome(written).0), key(&split_chome(name).0));
    if u.is_real_name(&wk) || u.is_real_name(&wb) {
        return false;
    }
    let wchars: Vec<char> = wb.chars().collect();
    c.keys.iter().chain(&c.bases).chain(&c.koaza).all(|other| {
        other == &nk
            || other == &nb
            || (edit_distance(&wchars, &other.chars().collect::<Vec<_>>(), 1) > 1
                && !variant_equal(&wb, other)
                && !wk.starts_with(other.as_str()))
    })
}

/// Old or variant characters written for the 新字体 of the reference:
/// up to `per_pair` towns of all Japan for each [`VARIANTS`] pair (the
/// variant spelling being no real name anywhere), and every city whose name
/// has such a character (one town each, with the prefecture). Each town
/// case is compared with the exact spelling (same place, score no higher,
/// a reason).
pub fn variant_cases(per_pair: usize) -> Vec<Case> {
    let u = universe();
    let mut out = Vec::new();
    for (a, b) in VARIANTS {
        let mut found: Vec<(usize, &UTown, String)> = Vec::new();
        for (ci, c) in u.cities.iter().enumerate() {
            for t in c.plain_towns() {
                if let Some(w) = replace_in_core(&t.name, a, b) {
                    found.push((ci, t, w));
                }
            }
        }
        let mut taken = HashSet::new();
        let step = (found.len() / per_pair.max(1)).max(1);
        for (ci, t, w) in found.iter().step_by(step).chain(found.iter()) {
            if taken.len() >= per_pair {
                break;
            }
            let c = &u.cities[*ci];
            if taken.contains(&(*ci, w)) || !typo_points_home(c, &t.name, w) {
                continue;
            }
            taken.insert((*ci, w));
            let mut case = Case::town(
                "旧字体/異体字 in the town",
                format!("{}{}{w}", c.pref, c.full()),
                c,
                &t.name,
            );
            case.exact = Some((
                format!("{}{}{}", c.pref, c.full(), t.name),
                Compare::VariantReason,
            ));
            out.push(case);
        }
    }
    // City names: 飛騨市 → 飛驒市, 横浜市 → 橫浜市 …
    for c in &u.cities {
        let towns = c.plain_towns();
        let Some(t) = towns.get(towns.len() / 2) else {
            continue;
        };
        let short = c.short();
        for (a, b) in VARIANTS {
            let Some(i) = short.find(a) else { continue };
            let varied = format!("{}{b}{}", &short[..i], &short[i + a.len_utf8()..]);
            if u.is_admin_name(&varied) {
                continue;
            }
            out.push(Case::town(
                "旧字体/異体字 in the city",
                format!("{}{}{varied}{}", c.pref, c.county, t.name),
                c,
                &t.name,
            ));
            break;
        }
    }
    out
}

/// Typos in town names of at least three characters, matched by edit
/// distance 1 within the city: the [`LOOKALIKES`] (up to `per_pair` towns
/// of all Japan each), U+FFFD for one character (`n_fffd` towns of all
/// Japan, at rotating positions, never on a numeral, 条, 丁 or 目), and on
/// real ABR rows of 文京区 and 和歌山市 (`n_abr` each, U+FFFD or a
/// look-alike) down to the 号. Only where the misspelling is no real name
/// anywhere and no other town of the city is as close. Each compared with
/// the exact spelling (lower score, a reason).
pub fn typo_cases(per_pair: usize, n_fffd: usize, n_abr: usize) -> Vec<Case> {
    let u = universe();
    let mut out = Vec::new();
    let long_enough = |name: &str| {
        let (base, _) = split_chome(name);
        core(&base).chars().count() >= 3
    };
    // Look-alikes across Japan.
    for (a, b) in LOOKALIKES {
        let mut taken = 0;
        'cities: for c in &u.cities {
            for t in c.plain_towns() {
                if taken >= per_pair {
                    break 'cities;
                }
                let (base, _) = split_chome(&t.name);
                if !long_enough(&t.name) || !core(&base).contains(a) {
                    continue;
                }
                let w = replace_in_core(&t.name, a, b).unwrap();
                if !typo_points_home(c, &t.name, &w) {
                    continue;
                }
                taken += 1;
                out.push(typo_case("look-alike typo", c, &t.name, &w));
            }
        }
    }
    // U+FFFD across Japan.
    let mut candidates: Vec<(&UCity, &UTown)> = Vec::new();
    for c in &u.cities {
        for t in c.plain_towns() {
            if long_enough(&t.name) {
                candidates.push((c, t));
            }
        }
    }
    let step = (candidates.len() / n_fffd.max(1)).max(1);
    let mut taken = 0;
    for (j, (c, t)) in candidates.iter().enumerate().step_by(step) {
        if taken >= n_fffd {
            break;
        }
        let (base, _) = split_chome(&t.name);
        let Some(pos) = name_position(&base, j) else {
            continue;
        };
        let w = replace_at(&t.name, pos, '\u{FFFD}');
        if !typo_points_home(c, &t.name, &w) {
            continue;
        }
        taken += 1;
        out.push(typo_case("U+FFFD in the town", c, &t.name, &w));
    }
    // ABR rows: down to the 号.
    for rows in [super::all_bunkyo_rsdt(), super::all_wakayama_rsdt()] {
        let fit: Vec<&AbrAddress> = rows
            .iter()
            .filter(|a| a.rsdt2.is_none() && core(&a.oaza).chars().count() >= 3)
            .collect();
        let mut taken = 0;
        let step = (fit.len() / n_abr.max(1)).max(1);
        for (j, a) in fit.iter().enumerate().step_by(step) {
            if taken >= n_abr {
                break;
            }
            let c = u.city(&a.pref, &a.city_full()).unwrap();
            let Some(pos) = name_position(&a.oaza, j) else {
                continue;
            };
            let oaza = LOOKALIKES
                .iter()
                .find_map(|&(x, y)| replace_in_core(&a.oaza, x, y))
                .unwrap_or_else(|| replace_at(&a.oaza, pos, '\u{FFFD}'));
            let chome = a
                .chome
                .map(|n| format!("{}丁目", kanji(n)))
                .unwrap_or_default();
            let written_town = format!("{oaza}{chome}");
            if !typo_points_home(c, &a.town(), &written_town) {
                continue;
            }
            taken += 1;
            let numbers = format!("{}番{}号", a.blk.unwrap(), a.rsdt.unwrap());
            let mut case = Case::town(
                "typo in an ABR town, down to the 号",
                format!("{}{}{written_town}{numbers}", a.pref, a.city_full()),
                c,
                &a.town(),
            );
            case.expect = Expect::Town {
                pref: a.pref.clone(),
                city: a.city_full(),
                town: a.town(),
                level: "residential_number",
                addr: a.addr(),
            };
            out.push(with_exact(
                case,
                format!("{}{}{}{numbers}", a.pref, a.city_full(), a.town()),
            ));
        }
    }
    out
}

// ── 5. Noise ─────────────────────────────────────────────────────────────

/// Number of [`noisy_rendering`] forms.
pub const NOISE_FORMS: usize = 10;

/// A real ABR 住居表示 row written with noise (form `j` of [`NOISE_FORMS`]):
/// 「(前期)」「（仮称）」「【現住所】」 before it, spaces inside the town name
/// (文京区 白 山1 - 1 - 1), between number and unit (1丁目 1番 1号). None for
/// rows with 枝番 (rsdt2) or without 住居表示.
pub fn noisy_rendering(a: &AbrAddress, j: usize) -> Option<String> {
    let (blk, rsdt) = (a.blk?, a.rsdt?);
    if a.rsdt2.is_some() {
        return None;
    }
    let city = a.city_full();
    let pref = &a.pref;
    let oaza = &a.oaza;
    let mut chars = oaza.chars();
    let first: String = chars.next()?.to_string();
    let rest: String = chars.collect();
    // 丁目 as a number leading the chain only where the bare name is no town.
    let omittable = a.chome.is_some()
        && !data::bare_oaza_is_town(&a.pref, &a.county, &a.city, &a.ward, &a.oaza);
    let chome_kanji = a
        .chome
        .map(|n| format!("{}丁目", kanji(n)))
        .unwrap_or_default();
    let chome_arabic = a.chome.map(|n| format!("{n}丁目")).unwrap_or_default();
    let chain = |sep: &str| match a.chome {
        Some(n) if omittable => format!("{n}{sep}{blk}{sep}{rsdt}"),
        _ => format!("{chome_kanji}{blk}{sep}{rsdt}"),
    };
    let fw = |n: u32| fullwidth(n);
    Some(match j % NOISE_FORMS {
        0 => format!("(前期){pref}{city}{oaza}{chome_kanji}{blk}番{rsdt}号"),
        1 => format!("（仮称）{city}{oaza}{}", chain("-")),
        2 => format!(
            "【現住所】{pref}{city}{oaza}{}{}番{}号",
            a.chome
                .map(|n| format!("{}丁目", fw(n)))
                .unwrap_or_default(),
            fw(blk),
            fw(rsdt)
        ),
        3 => format!("【送付先】 {city} {first}{rest}{chome_arabic}{blk}番{rsdt}号"),
        4 => format!("{city} {first} {rest}{}", chain(" - ")),
        5 => format!("{pref}{city}{oaza}{chome_arabic} {blk}番 {rsdt}号"),
        6 => format!(
            "{pref} {city} {oaza} {}{blk} 番 {rsdt} 号",
            a.chome.map(|n| format!("{n} 丁目 ")).unwrap_or_default()
        ),
        7 => format!(
            "{city}{first}\u{3000}{rest}{chome_kanji}{}番{}号",
            fw(blk),
            fw(rsdt)
        ),
        8 => format!("(後期) {city} {first} {rest}{chome_arabic}{blk}番{rsdt}号"),
        _ => format!("（仮称） {pref}{city}{oaza}{chome_arabic} {blk} - {rsdt}"),
    })
}

// ── Near misses ──────────────────────────────────────────────────────────

/// Inputs that look like a town of the city but are not, all data-driven;
/// each must stop at the city (never a town):
///
/// - a town of another city of the prefecture, which this city does not
///   have (文京区本町1-1): up to 2 for every 4th city;
/// - a real town name of Japan one character from a town of this city (the
///   city has 西大島, the input 東大島), names of ≥ 3 characters: up to `n`;
/// - two-character names one character apart (本町/本郷): up to `n / 2`;
/// - a two-character name with one character replaced by U+FFFD: up to
///   `n / 2`.
///
/// Never where a town of the city is a prefix of the input's name (or the
/// reverse), or a variant spelling of it.
pub fn near_miss_cases(n: usize) -> Vec<Case> {
    let u = universe();
    let mut out = Vec::new();

    // The issue's own example, checked against the data.
    let bunkyo = u.city("東京都", "文京区").unwrap();
    assert!(!bunkyo.reads(&key("本町")) && u.towns_named(&key("本町")).len() > 100);
    out.push(Case::no_town(
        "town of another city",
        "文京区本町1-1".into(),
        bunkyo,
    ));

    let clean =
        |c: &UCity, k: &str| {
            !c.reads(k)
                && !k.starts_with(|ch: char| KANJI_DIGITS.contains(ch) || ch.is_ascii_digit())
                && c.keys.iter().chain(&c.bases).chain(&c.koaza).all(|o| {
                    !k.starts_with(o.as_str()) && !o.starts_with(k) && !variant_equal(o, k)
                })
        };
    // A town of another city of the same prefecture.
    let mut rng = SplitMix(0x6e65_6172_6d69_7373); // "nearmiss"
    let with_towns: Vec<usize> = (0..u.cities.len())
        .filter(|&i| !u.cities[i].towns.is_empty())
        .collect();
    for (j, &ci) in with_towns.iter().enumerate().step_by(4) {
        let c = &u.cities[ci];
        let same_pref: Vec<usize> = with_towns
            .iter()
            .copied()
            .filter(|&i| i != ci && u.cities[i].pref == c.pref)
            .collect();
        if same_pref.is_empty() {
            continue;
        }
        let other = &u.cities[same_pref[rng.below(same_pref.len())]];
        let towns = other.plain_towns();
        let mut taken = 0;
        for _ in 0..20 {
            if taken == 2 || towns.is_empty() {
                break;
            }
            let t = towns[rng.below(towns.len())];
            if !clean(c, &key(&t.name)) {
                continue;
            }
            taken += 1;
            let input = match (j + taken) % 3 {
                0 => format!("{}{}{}", c.pref, c.full(), t.name),
                1 => format!("{}{}{}1-1", c.pref, c.full(), t.name),
                _ => format!("{}{}{}1番地", c.pref, c.short(), t.name),
            };
            out.push(Case::no_town("town of another city", input, c));
        }
    }

    // One character from a town of the city, and a real name elsewhere.
    // Index every town name by (length, position, name with that position masked).
    let mut display: HashMap<String, String> = HashMap::new();
    for c in &u.cities {
        for t in &c.towns {
            display
                .entry(key(&t.name))
                .or_insert_with(|| t.name.clone());
        }
    }
    let mut masked: HashMap<(usize, String), Vec<&String>> = HashMap::new();
    for k in display.keys() {
        let chars: Vec<char> = k.chars().collect();
        if chars.len() < 2 || chars.len() > 8 {
            continue;
        }
        for p in 0..chars.len() {
            let mut m = chars.clone();
            m[p] = '*';
            masked
                .entry((p, m.into_iter().collect()))
                .or_default()
                .push(k);
        }
    }
    // Cheap filters first, the full check on the sample: for every third
    // city, each town name gets at most one look-alike real name.
    for v in masked.values_mut() {
        v.sort();
    }
    let mut long: Vec<(usize, &String)> = Vec::new();
    let mut short: Vec<(usize, &String)> = Vec::new();
    for (ci, c) in u.cities.iter().enumerate().step_by(3) {
        let mut keys: Vec<&String> = c.keys.iter().collect();
        keys.sort();
        for o in keys {
            let chars: Vec<char> = o.chars().collect();
            if chars.len() < 2 || chars.len() > 8 {
                continue;
            }
            let mut near_o: Vec<&String> = Vec::new();
            for p in 0..chars.len() {
                let mut m = chars.clone();
                let original = m[p];
                m[p] = '*';
                let Some(near) = masked.get(&(p, m.into_iter().collect())) else {
                    continue;
                };
                for &k in near.iter().take(60) {
                    if k == o || c.reads(k) {
                        continue;
                    }
                    if !loosely_related(original, k.chars().nth(p).unwrap()) {
                        near_o.push(k);
                    }
                }
            }
            if near_o.is_empty() {
                continue;
            }
            let k = near_o[(ci + chars.len()) % near_o.len()];
            if chars.len() >= 3 {
                long.push((ci, k));
            } else {
                short.push((ci, k));
            }
        }
    }
    let mut take = |found: &mut Vec<(usize, &String)>, n: usize, class: &'static str| {
        found.sort();
        found.dedup();
        let step = (found.len() / n.max(1)).max(1);
        let mut taken = 0;
        for (ci, k) in found.iter().step_by(step).chain(found.iter()) {
            if taken >= n {
                break;
            }
            let c = &u.cities[*ci];
            let name = &display[*k];
            if !clean(c, k) || u.starts_with_admin_name(name) || name.contains('（') {
                continue;
            }
            taken += 1;
            let input = if taken % 2 == 0 {
                format!("{}{}{name}", c.pref, c.full())
            } else {
                format!("{}{}{name}1-1", c.pref, c.full())
            };
            if out.iter().any(|x: &Case| x.input == input) {
                continue;
            }
            out.push(Case::no_town(class, input, c));
        }
    };
    take(
        &mut long,
        n,
        "real name one character from a town of the city",
    );
    take(&mut short, n / 2, "two-character names one apart");

    // Two-character names with U+FFFD: too short for edit distance.
    let mut fffd = Vec::new();
    for c in &u.cities {
        for t in c.plain_towns() {
            let k = key(&t.name);
            if k.chars().count() != 2 || split_chome(&t.name).1.is_some() {
                continue;
            }
            let first = k.chars().next().unwrap();
            // No town of the city is that first character alone.
            if c.keys.contains(&first.to_string()) || c.bases.contains(&first.to_string()) {
                continue;
            }
            fffd.push((
                c,
                format!("{}\u{FFFD}", core(&t.name).chars().next().unwrap()),
            ));
        }
    }
    for (j, (c, name)) in super::spread(&fffd, n / 2).into_iter().enumerate() {
        let input = if j % 2 == 0 {
            format!("{}{}{name}", c.pref, c.full())
        } else {
            format!("{}{}{name}1-1", c.pref, c.full())
        };
        out.push(Case::no_town("two-character name with U+FFFD", input, c));
    }
    out
}

// ── The command line ─────────────────────────────────────────────────────

/// Rows for `chiiki geocode --city 京都市`: inputs that only the context
/// places, with their (city, town). Picked from the data: towns of 中京区,
/// 上京区 and 下京区 whose names are unique in 京都市 but exist in other
/// cities, written alone. (No town of 京都市北区 or 南区 is in another
/// city's 北区 or 南区, so 北区… alone is never ambiguous for them.)
pub fn kyoto_context_rows() -> Vec<(String, String, String)> {
    let u = universe();
    let kyoto: Vec<&UCity> = u
        .cities
        .iter()
        .filter(|c| c.pref == "京都府" && c.city == "京都市" && !c.ward.is_empty())
        .collect();
    let unique_in_kyoto_not_in_japan = |c: &UCity, t: &UTown| {
        let k = key(&t.name);
        let in_kyoto = kyoto.iter().filter(|x| x.reads(&k)).count();
        in_kyoto == 1
            && u.towns_named(&k).len() >= 2
            && !ends_with_numeral(&t.name)
            && !t.name.starts_with(|ch: char| KANJI_DIGITS.contains(ch))
            && c.keys.contains(&k)
    };
    let mut rows = Vec::new();
    for (w, tail) in [("中京区", ""), ("上京区", "1番地"), ("下京区", "600番地")] {
        let c = *kyoto.iter().find(|c| c.ward == w).unwrap();
        let t = c
            .plain_towns()
            .into_iter()
            .find(|t| unique_in_kyoto_not_in_japan(c, t))
            .unwrap_or_else(|| panic!("no {w} town name that other cities have too"));
        rows.push((format!("{}{tail}", t.name), c.full(), t.name.clone()));
    }
    rows
}

/// A 堺市 town written alone that only `--city 堺市` places: (input, city, town).
pub fn sakai_context_row() -> (String, String, String) {
    let u = universe();
    let sakai: Vec<&UCity> = u
        .cities
        .iter()
        .filter(|c| c.pref == "大阪府" && c.city == "堺市" && !c.ward.is_empty())
        .collect();
    for c in &sakai {
        for t in c.plain_towns() {
            let k = key(&t.name);
            if sakai.iter().filter(|x| x.reads(&k)).count() == 1
                && u.towns_named(&k).len() >= 2
                && !ends_with_numeral(&t.name)
                && !t.name.starts_with(|ch: char| KANJI_DIGITS.contains(ch))
                && !t.name.contains('通')
            {
                return (format!("{}1番地", t.name), c.full(), t.name.clone());
            }
        }
    }
    panic!("no 堺市 town name that other cities have too");
}

/// `case`, compared with `exact`, the same address spelt right: it must
/// score lower and give a reason the right spelling does not.
fn with_exact(mut case: Case, exact: String) -> Case {
    case.exact = Some((exact, Compare::LowerWithReason));
    case
}

/// Town `name` of `c` written `written` (a typo): expected to land on the
/// town, compared with the same address spelt right.
fn typo_case(class: &'static str, c: &UCity, name: &str, written: &str) -> Case {
    with_exact(
        Case::town(class, format!("{}{}{written}", c.pref, c.full()), c, name),
        format!("{}{}{}", c.pref, c.full(), name),
    )
}
