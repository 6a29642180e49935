//! Every town name of Japan at once, for cases whose right answer depends on
//! what else exists: a ward name shared by 11 cities, a town name written
//! without its city, a misspelling that is another place's real name.
//!
//! The universe is what the reference index holds: towns/api (all of
//! Japan, mapped to the ABR spelling of each city) plus the ABR town masters
//! we have (文京区, 和歌山県, 屋久島町), with their 小字. Names are compared by
//! [`key`]: itaiji_jageocoder folds (ケ/ヶ/が, ノ/之/の, 739 旧字体) and a
//! leading 大字/字 dropped, as the geocoder's normaliser does.
//!
//! Also here: the two variant-character tables the geocoder may use for
//! candidate matching within a city (normalize/ja-itaiji.json families and
//! Unihan_Variants.txt), and a small edit distance.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::OnceLock;

use super::{data, numerals};

/// One distinct town name of a city.
#[derive(Debug, Clone)]
pub struct UTown {
    /// As the reference writes it (白山一丁目, 大字下島, 北長尾町二丁).
    pub name: String,
    /// How many towns/api rows carry this name (several when it has 小字).
    pub entries: u32,
    /// Whether one row is the bare town (no 小字).
    pub bare: bool,
    /// Whether a towns/api row has a position.
    pub has_pos: bool,
    /// Whether it is in towns/api (ABR-only names are not sampled).
    pub from_json: bool,
}

/// A city (郡 + 市区町村 + 政令市の区, as in mt_city_all) and its towns.
#[derive(Debug)]
pub struct UCity {
    pub pref: String,
    pub county: String,
    pub city: String,
    pub ward: String,
    pub lg_code: String,
    /// Sorted by name.
    pub towns: Vec<UTown>,
    /// [`key`] of every town name.
    pub keys: HashSet<String>,
    /// [`key`] of the 大字・町 of every N丁目 town (白山 for 白山一丁目).
    pub bases: HashSet<String>,
    /// [`key`] of every 小字.
    pub koaza: HashSet<String>,
    /// Indices of the towns [`UCity::plain_towns`] returns.
    plain: Vec<usize>,
}

impl UCity {
    /// 郡 + 市区町村 + 区 (西多摩郡奥多摩町, 大阪市北区, 文京区).
    pub fn full(&self) -> String {
        format!("{}{}{}", self.county, self.city, self.ward)
    }

    /// 市区町村 + 区 without the 郡 (奥多摩町, 大阪市北区).
    pub fn short(&self) -> String {
        format!("{}{}", self.city, self.ward)
    }

    /// Whether `key` names a town here: a town, the 大字・町 of its 丁目s, or a 小字.
    pub fn reads(&self, key: &str) -> bool {
        self.keys.contains(key) || self.bases.contains(key) || self.koaza.contains(key)
    }

    /// Towns fit to be written alone: one towns/api row without 小字, with a
    /// position, no placeholder like （大字なし）, not starting with the name
    /// of a prefecture or municipality (森町… is also 茅部郡森町), and a name
    /// of at least two characters.
    pub fn plain_towns(&self) -> Vec<&UTown> {
        self.plain.iter().map(|&i| &self.towns[i]).collect()
    }
}

/// All towns of Japan, indexed by name.
pub struct Universe {
    pub cities: Vec<UCity>,
    by_key: HashMap<String, Vec<usize>>,
    by_base: HashMap<String, Vec<usize>>,
    by_koaza: HashMap<String, Vec<usize>>,
    by_full: HashMap<(String, String), usize>,
    admin: HashSet<String>,
}

/// The universe, built once per test binary (about a second in release).
pub fn universe() -> &'static Universe {
    static U: OnceLock<Universe> = OnceLock::new();
    U.get_or_init(build)
}

/// The comparison key of a town name: folded as the normaliser folds, with a
/// leading 大字 or 字 dropped.
pub fn key(name: &str) -> String {
    let mut s = name;
    for p in ["大字", "字"] {
        if let Some(rest) = s.strip_prefix(p) {
            if !rest.is_empty() {
                s = rest;
                break;
            }
        }
    }
    data::fold(s)
}

/// A leading 大字 or 字 dropped (the part a typo may touch).
pub fn core(name: &str) -> &str {
    for p in ["大字", "字"] {
        if let Some(rest) = name.strip_prefix(p) {
            if !rest.is_empty() {
                return rest;
            }
        }
    }
    name
}

/// `北長尾町二丁` has no 丁目; `白山一丁目` → (`白山`, 1); `四丁目` (a whole town
/// name in 中京区) → (`四丁目`, None).
pub fn split_chome(name: &str) -> (String, Option<u32>) {
    if let Some(head) = name.strip_suffix("丁目") {
        let chars: Vec<char> = head.chars().collect();
        let mut i = chars.len();
        while i > 0 && "〇一二三四五六七八九十百".contains(chars[i - 1]) {
            i -= 1;
        }
        if i > 0 && i < chars.len() {
            let digits: String = chars[i..].iter().collect();
            if let Some(n) = numerals::parse_kanji(&digits) {
                return (chars[..i].iter().collect(), Some(n));
            }
        }
    }
    (name.to_string(), None)
}

impl Universe {
    /// Cities where `key` is a town name.
    pub fn towns_named(&self, key: &str) -> &[usize] {
        self.by_key.get(key).map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// Cities where `key` is the 大字・町 of 丁目 towns (白山 of 白山一丁目).
    pub fn bases_named(&self, key: &str) -> &[usize] {
        self.by_base.get(key).map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// Cities where `key` is a town name, the 大字・町 of 丁目 towns, or a 小字:
    /// every city in which the name written alone has a reading.
    pub fn readings(&self, key: &str) -> BTreeSet<usize> {
        [&self.by_key, &self.by_base, &self.by_koaza]
            .iter()
            .filter_map(|m| m.get(key))
            .flatten()
            .copied()
            .collect()
    }

    /// Whether `key` is any town, 大字・町 or 小字 name anywhere in Japan.
    pub fn is_real_name(&self, key: &str) -> bool {
        self.by_key.contains_key(key)
            || self.by_base.contains_key(key)
            || self.by_koaza.contains_key(key)
    }

    /// The index in [`Universe::cities`] of the city (pref, 郡+市区町村+区).
    pub fn city_index(&self, pref: &str, full: &str) -> Option<usize> {
        self.by_full
            .get(&(pref.to_string(), full.to_string()))
            .copied()
    }

    pub fn city(&self, pref: &str, full: &str) -> Option<&UCity> {
        self.by_full
            .get(&(pref.to_string(), full.to_string()))
            .map(|&i| &self.cities[i])
    }

    /// Whether a prefix of `name` is the name of a prefecture, 郡, city or
    /// ward (町村 included: a town called 森町… reads as 茅部郡森町).
    pub fn starts_with_admin_name(&self, name: &str) -> bool {
        let ends: Vec<usize> = name.char_indices().map(|(i, c)| i + c.len_utf8()).collect();
        ends.iter()
            .skip(1)
            .any(|&e| self.admin.contains(&data::fold(&name[..e])))
    }

    /// Whether `name` (folded) is the name of a municipality or ward.
    pub fn is_admin_name(&self, name: &str) -> bool {
        self.admin.contains(&data::fold(name))
    }
}

fn build() -> Universe {
    let mut cities: Vec<UCity> = Vec::new();
    let mut by_full: HashMap<(String, String), usize> = HashMap::new();
    let mut admin = HashSet::new();
    for c in data::cities() {
        by_full.insert((c.pref.clone(), c.full()), cities.len());
        admin.insert(data::fold(&c.pref));
        for n in [
            c.county.clone(),
            c.city.clone(),
            c.ward.clone(),
            format!("{}{}", c.city, c.ward),
            format!("{}{}", c.county, c.city),
            c.full(),
        ] {
            if !n.is_empty() {
                admin.insert(data::fold(&n));
            }
        }
        cities.push(UCity {
            pref: c.pref.clone(),
            county: c.county.clone(),
            city: c.city.clone(),
            ward: c.ward.clone(),
            lg_code: c.lg_code.clone(),
            towns: Vec::new(),
            keys: HashSet::new(),
            bases: HashSet::new(),
            koaza: HashSet::new(),
            plain: Vec::new(),
        });
    }
    // name → UTown per city, while reading.
    let mut towns: Vec<HashMap<String, UTown>> =
        (0..cities.len()).map(|_| HashMap::new()).collect();
    let mut koazas: Vec<HashSet<String>> = (0..cities.len()).map(|_| HashSet::new()).collect();
    for (pref, json_cities) in data::towns_index() {
        for json_city in json_cities {
            let Some(abr) = data::abr_city_for_json(pref, json_city) else {
                continue;
            };
            let i = by_full[&(abr.pref.clone(), abr.full())];
            for p in data::town_points(pref, json_city) {
                if p.town.is_empty() {
                    continue;
                }
                let koaza = p.koaza.clone().unwrap_or_default();
                let t = towns[i].entry(p.town.clone()).or_insert_with(|| UTown {
                    name: p.town.clone(),
                    entries: 0,
                    bare: false,
                    has_pos: false,
                    from_json: true,
                });
                t.entries += 1;
                t.bare |= koaza.is_empty();
                t.has_pos |= p.lat.is_some() && p.lng.is_some();
                if !koaza.is_empty() {
                    koazas[i].insert(koaza);
                }
            }
        }
    }
    for rel in data::TOWN_MASTERS {
        data::for_each_row(rel, |r| {
            if !r.get("ablt_date").is_empty() {
                return;
            }
            let full = format!("{}{}{}", r.get("county"), r.get("city"), r.get("ward"));
            let Some(&i) = by_full.get(&(r.get("pref").to_string(), full)) else {
                return;
            };
            let (oaza, koaza) = (r.get("oaza_cho"), r.get("koaza"));
            let name = if oaza.is_empty() {
                koaza.to_string()
            } else {
                match numerals::parse_chome(r.get("chome")) {
                    Some(n) => format!("{oaza}{}丁目", numerals::kanji(n)),
                    None => oaza.to_string(),
                }
            };
            if name.is_empty() {
                return;
            }
            if !oaza.is_empty() && !koaza.is_empty() {
                koazas[i].insert(koaza.to_string());
            }
            towns[i].entry(name.clone()).or_insert_with(|| UTown {
                name,
                entries: 1,
                bare: true,
                has_pos: false,
                from_json: false,
            });
        });
    }
    let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_base: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_koaza: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, (names, ks)) in towns.into_iter().zip(koazas).enumerate() {
        let c = &mut cities[i];
        let mut list: Vec<UTown> = names.into_values().collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        for t in &list {
            c.keys.insert(key(&t.name));
            if let (base, Some(_)) = split_chome(&t.name) {
                c.bases.insert(key(&base));
            }
        }
        for k in ks {
            c.koaza.insert(key(&k));
        }
        c.towns = list;
        for k in &c.keys {
            by_key.entry(k.clone()).or_default().push(i);
        }
        for k in &c.bases {
            by_base.entry(k.clone()).or_default().push(i);
        }
        for k in &c.koaza {
            by_koaza.entry(k.clone()).or_default().push(i);
        }
    }
    let starts_with_admin = |name: &str| {
        name.char_indices()
            .map(|(i, c)| i + c.len_utf8())
            .skip(1)
            .any(|e| admin.contains(&data::fold(&name[..e])))
    };
    for c in &mut cities {
        c.plain = (0..c.towns.len())
            .filter(|&i| {
                let t = &c.towns[i];
                t.entries == 1
                    && t.bare
                    && t.has_pos
                    && t.from_json
                    && !t.name.contains('（')
                    && !t.name.contains('(')
                    && key(&t.name).chars().count() >= 2
                    && !starts_with_admin(&t.name)
            })
            .collect();
    }
    Universe {
        cities,
        by_key,
        by_base,
        by_koaza,
        by_full,
        admin,
    }
}

// ── Variant-character tables ─────────────────────────────────────────────

/// normalize/ja-itaiji.json: kanji → its 異体字 family (the kanji included).
pub fn itaiji_families() -> &'static HashMap<char, Vec<char>> {
    static FAM: OnceLock<HashMap<char, Vec<char>>> = OnceLock::new();
    FAM.get_or_init(|| {
        let path = data::real_data().join("normalize/ja-itaiji.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let map: HashMap<String, Vec<String>> = serde_json::from_str(&text).unwrap();
        let one = |s: &str| {
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => Some(c),
                _ => None,
            }
        };
        map.iter()
            .filter_map(|(k, v)| Some((one(k)?, v.iter().filter_map(|m| one(m)).collect())))
            .collect()
    })
}

/// Unihan_Variants.txt: for each character, its variants and the relation
/// (kTraditionalVariant, kSemanticVariant, kZVariant, …), both directions.
pub fn unihan() -> &'static HashMap<char, Vec<(char, &'static str)>> {
    static UNI: OnceLock<HashMap<char, Vec<(char, &'static str)>>> = OnceLock::new();
    UNI.get_or_init(|| {
        const FIELDS: [&str; 6] = [
            "kTraditionalVariant",
            "kSimplifiedVariant",
            "kSemanticVariant",
            "kSpecializedSemanticVariant",
            "kZVariant",
            "kSpoofingVariant",
        ];
        let path = data::real_data().join("normalize/Unihan_Variants.txt");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        let cp = |s: &str| {
            let hex = s.split('<').next()?.strip_prefix("U+")?;
            char::from_u32(u32::from_str_radix(hex, 16).ok()?)
        };
        let mut m: HashMap<char, Vec<(char, &'static str)>> = HashMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut cols = line.split('\t');
            let (Some(a), Some(field), Some(rest)) = (cols.next(), cols.next(), cols.next()) else {
                continue;
            };
            let (Some(a), Some(field)) = (cp(a), FIELDS.iter().find(|f| **f == field)) else {
                continue;
            };
            for b in rest.split_whitespace().filter_map(cp) {
                m.entry(a).or_default().push((b, field));
                m.entry(b).or_default().push((a, field));
            }
        }
        m
    })
}

/// Whether two characters are variants of each other in ANY of the tables
/// the geocoder may use: the itaiji_jageocoder folds, a ja-itaiji family
/// (either direction) or a Unihan relation other than kSpoofingVariant.
/// Broad on purpose: cases that must not match avoid every such pair.
pub fn loosely_related(a: char, b: char) -> bool {
    if a == b || data::fold_char(a) == data::fold_char(b) {
        return true;
    }
    let fam = itaiji_families();
    if fam.get(&a).is_some_and(|f| f.contains(&b)) || fam.get(&b).is_some_and(|f| f.contains(&a)) {
        return true;
    }
    unihan()
        .get(&a)
        .is_some_and(|v| v.iter().any(|&(c, f)| c == b && f != "kSpoofingVariant"))
}

/// Whether the pair is a variant in the sense of issue 15: in each other's
/// ja-itaiji family, or a Unihan traditional/simplified/semantic/Z variant.
pub fn variant_in_tables(a: char, b: char) -> bool {
    let fam = itaiji_families();
    let both =
        fam.get(&a).is_some_and(|f| f.contains(&b)) && fam.get(&b).is_some_and(|f| f.contains(&a));
    both || unihan().get(&a).is_some_and(|v| {
        v.iter().any(|&(c, f)| {
            c == b && !matches!(f, "kSpoofingVariant" | "kSpecializedSemanticVariant")
        })
    })
}

/// Whether two names of the same length differ only in characters that are
/// [`loosely_related`] (so a variant-aware matcher may take one for the other).
pub fn variant_equal(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    a.len() == b.len() && a.iter().zip(&b).all(|(&x, &y)| loosely_related(x, y))
}

/// Levenshtein distance, capped: returns `cap + 1` as soon as it is exceeded.
pub fn edit_distance(a: &[char], b: &[char], cap: usize) -> usize {
    if a.len().abs_diff(b.len()) > cap {
        return cap + 1;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        let mut best = cur[0];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (ca != cb) as usize)
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
            best = best.min(cur[j + 1]);
        }
        if best > cap {
            return cap + 1;
        }
        prev = cur;
    }
    prev[b.len()].min(cap + 1)
}
