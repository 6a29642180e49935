//! Matching a canonical address against the reference index, from the
//! prefecture down to the 号 or 地番, reporting the finest level found.

use rustc_hash::FxHashMap;

use serde::Serialize;

use super::normalize::{canonical, canonical_tracked, parse_number_tail, Folds};
use super::reference::{strip_aza, Parcel, ReferenceData, Residence};

/// How far down an address was matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    None,
    Ambiguous,
    Prefecture,
    City,
    OazaChome,
    Block,
    ResidentialNumber,
    Parcel,
}

impl Level {
    pub fn as_str(&self) -> &'static str {
        match self {
            Level::None => "none",
            Level::Ambiguous => "ambiguous",
            Level::Prefecture => "prefecture",
            Level::City => "city",
            Level::OazaChome => "oaza_chome",
            Level::Block => "block",
            Level::ResidentialNumber => "residential_number",
            Level::Parcel => "parcel",
        }
    }

    /// The score of a clean match at this level.
    fn base_score(&self) -> f64 {
        match self {
            Level::ResidentialNumber | Level::Parcel => 1.0,
            Level::Block => 0.8,
            Level::OazaChome => 0.6,
            Level::City => 0.3,
            Level::Prefecture => 0.1,
            Level::None | Level::Ambiguous => 0.0,
        }
    }
}

/// The answer for one address.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Geocoded {
    pub level: Level,
    pub pref: String,
    /// 郡 + 市区町村 + 政令市の区.
    pub city: String,
    /// 大字・町 + 丁目.
    pub town: String,
    pub koaza: String,
    /// The block/number part as N-N-N.
    pub addr: String,
    pub lon: f64,
    pub lat: f64,
    pub score: f64,
    /// What was not used: building, room, or text that matched nothing.
    pub remainder: String,
    /// Why the match stopped above 号/地番 level, for the 住民課 to fix.
    pub reason: String,
    /// For ambiguous addresses: the places it could be.
    pub candidates: Vec<String>,
}

impl Geocoded {
    fn empty(reason: &str, remainder: &str) -> Geocoded {
        Geocoded {
            level: Level::None,
            pref: String::new(),
            city: String::new(),
            town: String::new(),
            koaza: String::new(),
            addr: String::new(),
            lon: f64::NAN,
            lat: f64::NAN,
            score: 0.0,
            remainder: remainder.to_string(),
            reason: reason.to_string(),
            candidates: Vec::new(),
        }
    }
}

/// A prefix dictionary: canonical key → ids, tried longest first.
#[derive(Default)]
struct PrefixMap {
    keys: FxHashMap<String, Vec<u32>>,
    max_chars: usize,
    /// `has_length[n]`: some key is `n` characters long.
    has_length: Vec<bool>,
    /// Longest key (in characters) beginning with each first character:
    /// most texts need only a few probes.
    max_by_first: FxHashMap<char, usize>,
}

impl PrefixMap {
    fn insert(&mut self, key: String, id: u32) {
        if key.is_empty() {
            return;
        }
        let n = key.chars().count();
        self.max_chars = self.max_chars.max(n);
        if self.has_length.len() <= n {
            self.has_length.resize(n + 1, false);
        }
        self.has_length[n] = true;
        let first = key.chars().next().expect("key is not empty");
        let longest = self.max_by_first.entry(first).or_default();
        *longest = (*longest).max(n);
        let ids = self.keys.entry(key).or_default();
        if !ids.contains(&id) {
            ids.push(id);
        }
    }

    /// The longest key that `text` starts with, and what follows it.
    fn longest<'t>(&self, text: &'t str) -> Option<(&[u32], &'t str)> {
        // Byte offsets of the ends of the first `max_chars` characters.
        let mut ends = [0usize; 64];
        let mut n = 0;
        let limit = match text.chars().next().and_then(|c| self.max_by_first.get(&c)) {
            Some(&m) => m,
            None => return None,
        };
        for (i, c) in text.char_indices().take(limit.min(ends.len())) {
            ends[n] = i + c.len_utf8();
            n += 1;
        }
        for (len, &end) in ends[..n].iter().enumerate().rev() {
            if !self.has_length[len + 1] {
                continue;
            }
            if let Some(ids) = self.keys.get(&text[..end]) {
                return Some((ids, &text[end..]));
            }
        }
        None
    }
}

/// A loaded reference index with its lookup structures.
pub struct Geocoder {
    data: ReferenceData,
    folds: Folds,
    prefs: PrefixMap,
    cities: PrefixMap,
    /// Per city: town names (with and without 小字).
    towns: Vec<PrefixMap>,
    /// Per city: 大字・町 names of towns that have 丁目 → (丁目, town).
    chome_oaza: Vec<PrefixMap>,
    /// Per city: 郡 + 市区町村 + 政令市の区.
    city_names: Vec<String>,
}

/// Markers of Kyoto street directions (通り名): the town follows the last one.
const KYOTO_DIRECTIONS: [&str; 12] = [
    "東入る",
    "西入る",
    "東入ル",
    "西入ル",
    "上がる",
    "下がる",
    "上る",
    "下る",
    "上ル",
    "下ル",
    "東入",
    "西入",
];

impl Geocoder {
    pub fn new(data: ReferenceData) -> Geocoder {
        let folds = Folds::from_pairs(&data.folds);
        let key = |s: &str| canonical(s, &folds).replace(' ', "");
        let mut prefs = PrefixMap::default();
        for (i, p) in data.prefs.iter().enumerate() {
            prefs.insert(key(&p.name), i as u32);
        }
        let mut cities = PrefixMap::default();
        for (i, c) in data.cities.iter().enumerate() {
            let i = i as u32;
            cities.insert(key(&c.full_name()), i);
            if !c.county.is_empty() {
                cities.insert(key(&format!("{}{}", c.city, c.ward)), i);
            }
        }
        let mut towns: Vec<PrefixMap> = (0..data.cities.len())
            .map(|_| PrefixMap::default())
            .collect();
        let mut chome_oaza: Vec<PrefixMap> = (0..data.cities.len())
            .map(|_| PrefixMap::default())
            .collect();
        for (i, t) in data.towns.iter().enumerate() {
            let i = i as u32;
            let map = &mut towns[t.city as usize];
            let name = &t.name_key;
            if t.koaza.is_empty() {
                map.insert(name.clone(), i);
            } else {
                let koaza = &t.koaza_key;
                map.insert(format!("{name}{koaza}"), i);
                map.insert(format!("{name}字{koaza}"), i);
                map.insert(format!("{name}小字{koaza}"), i);
            }
            if t.chome > 0 && t.koaza.is_empty() {
                chome_oaza[t.city as usize].insert(t.oaza_key.clone(), i);
            }
        }
        let city_names = data.cities.iter().map(|c| c.full_name()).collect();
        Geocoder {
            city_names,
            data,
            folds,
            prefs,
            cities,
            towns,
            chome_oaza,
        }
    }

    pub fn data(&self) -> &ReferenceData {
        &self.data
    }

    pub fn geocode(&self, input: &str) -> Geocoded {
        let (canon, variants_folded) = canonical_tracked(input, &self.folds);
        let folded = address_text(canon);
        let mut g = self.geocode_canonical(&folded);
        if !g.remainder.is_empty() && variants_folded {
            // The remainder is reported as written (width-folded, but without
            // variant folding: 「ハイツ」, not 「ハイっ」).
            let display = address_text(canonical(input, &Folds::default()));
            if folded.ends_with(&g.remainder) {
                let n = g.remainder.chars().count();
                let skip = display.chars().count().saturating_sub(n);
                g.remainder = display.chars().skip(skip).collect();
            }
        }
        g
    }

    /// Geocodes text already in canonical form with its head compacted.
    fn geocode_canonical(&self, text: &str) -> Geocoded {
        if text.is_empty() {
            return Geocoded::empty("empty address", "");
        }

        // Prefecture, if written.
        let (pref, after_pref) = match self.prefs.longest(text) {
            Some((ids, rest)) => (Some(ids[0]), rest),
            None => (None, text),
        };

        // City: the longest name that follows, within the prefecture if known.
        let (city_ids, after_city): (Vec<u32>, &str) = match self.cities.longest(after_pref) {
            Some((ids, rest)) => (
                ids.iter()
                    .copied()
                    .filter(|&c| pref.is_none_or(|p| self.data.cities[c as usize].pref == p))
                    .collect(),
                rest,
            ),
            None => (Vec::new(), after_pref),
        };
        if city_ids.is_empty() {
            return match pref {
                Some(p) => self.at_prefecture(p, after_pref, "city not found in the prefecture"),
                None => Geocoded::empty("neither prefecture nor city recognised", text),
            };
        }

        // Every reading of the town in every candidate city, each resolved
        // as far down as its numbers go. The finest level wins; among equals
        // the reading that used more of the text, then the one that did not
        // have to read a number as 丁目.
        let mut readings: Vec<(TownMatch, u32)> = Vec::new();
        for &c in &city_ids {
            for m in self.match_town(c, after_city) {
                readings.push((m, c));
            }
        }
        if readings.is_empty() {
            if city_ids.len() > 1 {
                let mut g =
                    Geocoded::empty("the city name exists in several prefectures", after_city);
                g.level = Level::Ambiguous;
                g.candidates = city_ids.iter().map(|&c| self.city_label(c)).collect();
                return g;
            }
            return self.at_city(city_ids[0], after_city, "town (町字) not found in the city");
        }
        let mut scored: Vec<Resolved> = Vec::new();
        for (m, _) in &readings {
            for &town in &m.towns {
                scored.push(self.resolve_numbers(town, m.rest, m.chome_from_number));
            }
        }
        // 号 and 地番 are equally fine; what is left over then decides
        // (北出島1-5-12: 一丁目 5-12, not 地番 1-5 with 12 left over).
        let rank = |x: &Resolved| {
            let level = match x.level {
                Level::Parcel => Level::ResidentialNumber,
                l => l,
            };
            (
                level,
                std::cmp::Reverse(x.remainder.len()),
                std::cmp::Reverse(x.town_rest_len),
                !x.chome_from_number,
            )
        };
        let best_rank = scored.iter().map(rank).max().expect("at least one reading");
        let finest = scored
            .iter()
            .filter(|x| rank(x) == best_rank)
            .map(|x| x.level)
            .max()
            .unwrap_or(Level::None);
        // Only the winners become full answers.
        let mut top: Vec<Geocoded> = scored
            .into_iter()
            .filter(|x| rank(x) == best_rank && x.level == finest)
            .map(|x| self.answer(x))
            .collect();
        top.dedup_by(|a, b| {
            a.town == b.town && a.city == b.city && a.koaza == b.koaza && a.addr == b.addr
        });
        if top.len() == 1 {
            let mut g = top.pop().unwrap();
            if pref.is_none() && city_ids.len() > 1 {
                g.reason = join_reason(&g.reason, "prefecture inferred from the town");
            }
            return g;
        }
        let best: Vec<(u32, TownMatch)> = readings.into_iter().map(|(m, c)| (c, m)).collect();
        if let Some(g) = self.merge_chome_towns(&best, &top) {
            return g;
        }
        let mut g = Geocoded::empty(
            "the address matches several places",
            top[0].remainder.as_str(),
        );
        g.level = Level::Ambiguous;
        g.candidates = top
            .iter()
            .map(|a| {
                format!("{}{}{}{} {}", a.pref, a.city, a.town, a.koaza, a.addr)
                    .trim()
                    .to_string()
            })
            .collect();
        g
    }

    /// 「府中市宮町」 where only 宮町一丁目…三丁目 exist: the 大字・町 is known,
    /// the 丁目 is not. One answer at the centre of its 丁目s, not "ambiguous".
    fn merge_chome_towns(&self, best: &[(u32, TownMatch)], top: &[Geocoded]) -> Option<Geocoded> {
        let towns: Vec<u32> = best
            .iter()
            .flat_map(|(_, m)| m.towns.iter().copied())
            .collect();
        let first = &self.data.towns[*towns.first()? as usize];
        let same_oaza = towns.iter().all(|&t| {
            let t = &self.data.towns[t as usize];
            t.city == first.city
                && t.chome > 0
                && t.oaza_key == first.oaza_key
                && t.koaza.is_empty()
        });
        if !same_oaza
            || top
                .iter()
                .any(|a| a.level != Level::OazaChome || !a.addr.is_empty())
        {
            return None;
        }
        let mut g = top[0].clone();
        let points: Vec<(f64, f64)> = towns
            .iter()
            .map(|&t| {
                (
                    self.data.towns[t as usize].lon,
                    self.data.towns[t as usize].lat,
                )
            })
            .filter(|p| !p.0.is_nan())
            .collect();
        if !points.is_empty() {
            g.lon = points.iter().map(|p| p.0).sum::<f64>() / points.len() as f64;
            g.lat = points.iter().map(|p| p.1).sum::<f64>() / points.len() as f64;
        }
        g.town = first
            .name
            .trim_end_matches("丁目")
            .trim_end_matches(|c: char| "〇一二三四五六七八九十".contains(c))
            .to_string();
        g.reason = "丁目 not given: the centre of the town's 丁目s".into();
        g.score = Level::OazaChome.base_score() - 0.1;
        Some(g)
    }

    fn city_label(&self, c: u32) -> String {
        let city = &self.data.cities[c as usize];
        format!(
            "{}{}",
            self.data.prefs[city.pref as usize].name,
            city.full_name()
        )
    }

    fn at_prefecture(&self, p: u32, rest: &str, reason: &str) -> Geocoded {
        let pref = &self.data.prefs[p as usize];
        let mut g = Geocoded::empty(reason, rest);
        g.level = Level::Prefecture;
        g.pref = pref.name.clone();
        g.lon = pref.lon;
        g.lat = pref.lat;
        g.score = Level::Prefecture.base_score();
        g
    }

    fn at_city(&self, c: u32, rest: &str, reason: &str) -> Geocoded {
        let city = &self.data.cities[c as usize];
        let mut g = self.at_prefecture(city.pref, rest, reason);
        g.level = Level::City;
        g.city = self.city_names[c as usize].clone();
        g.lon = city.lon;
        g.lat = city.lat;
        g.score = Level::City.base_score();
        g
    }

    fn match_town<'t>(&self, city: u32, text: &'t str) -> Vec<TownMatch<'t>> {
        let c = &self.data.cities[city as usize];
        let mut text = text;
        // 京都の通り名: 「寺町通御池上る上本能寺前町」 — the town follows the direction.
        if c.city == "京都市" {
            if let Some(end) = KYOTO_DIRECTIONS
                .iter()
                .filter_map(|m| text.rfind(m).map(|i| i + m.len()))
                .max()
            {
                let rest = &text[end..];
                if self.towns[city as usize].longest(strip_aza(rest)).is_some() {
                    text = rest;
                }
            }
        }
        let owned;
        if c.city == "札幌市" {
            if let Some(expanded) = expand_sapporo_jo(text) {
                owned = expanded;
                return self
                    .match_town_in(city, &owned)
                    .into_iter()
                    .map(|m| m.rest_in(text))
                    .collect();
            }
        }
        self.match_town_in(city, text)
    }

    fn match_town_in<'t>(&self, city: u32, text: &'t str) -> Vec<TownMatch<'t>> {
        let stripped = strip_aza(text);
        let direct = self.towns[city as usize].longest(stripped);
        // 「白山1-2-3」: 丁目 left out; read the first number as 丁目 only when
        // the bare name is not itself a town.
        let chome_reading =
            self.chome_oaza[city as usize]
                .longest(stripped)
                .and_then(|(ids, rest)| {
                    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                    if digits == 0 {
                        // No number at all: every 丁目 of the town is a candidate.
                        let rest_is_name = rest
                            .chars()
                            .next()
                            .is_some_and(|c| !c.is_ascii_digit() && c != '-');
                        if rest.is_empty() || rest_is_name {
                            return Some((ids.to_vec(), rest));
                        }
                        return None;
                    }
                    let n: u32 = rest[..digits].parse().ok()?;
                    let after = &rest[digits..];
                    let after = after
                        .strip_prefix('-')
                        .or_else(|| after.strip_prefix("の"))?;
                    let towns: Vec<u32> = ids
                        .iter()
                        .copied()
                        .filter(|&t| self.data.towns[t as usize].chome == n)
                        .collect();
                    (!towns.is_empty()).then_some((towns, after))
                });
        let mut readings = Vec::new();
        if let Some((ids, rest)) = direct {
            readings.push(TownMatch::new(ids.to_vec(), rest, false));
        }
        if let Some((towns, rest)) = chome_reading {
            readings.push(TownMatch::new(towns, rest, true));
        }
        readings
    }

    /// Reads the numbers after the town and looks them up: 住居表示 first,
    /// then 地番, falling back to 街区 and to the town.
    fn resolve_numbers<'t>(
        &self,
        town_id: u32,
        rest: &'t str,
        chome_from_number: bool,
    ) -> Resolved<'t> {
        let town = &self.data.towns[town_id as usize];
        let tail = rest.trim_start_matches([' ', '-']);
        let parsed = parse_number_tail(tail);
        let nums = parsed.numbers;
        let after_numbers = tail[parsed.consumed..]
            .trim_start_matches([' ', '-'])
            .trim();
        let mut r = Resolved {
            town: town_id,
            level: Level::OazaChome,
            lon: town.lon,
            lat: town.lat,
            used: nums.len(),
            nums,
            remainder: after_numbers.into(),
            reasons: Vec::new(),
            town_rest_len: rest.len(),
            chome_from_number,
        };
        let nums = &r.nums;

        let residences = self.residences_of(town_id);
        let parcels = self.parcels_of(town_id);
        if nums.is_empty() {
            r.reasons
                .push("no block or lot number in the address".into());
        } else if !residences.is_empty() {
            // 住居表示: 街区-住居番号(-枝番).
            let (b, n, n2) = (nums[0], nums.get(1).copied(), nums.get(2).copied());
            let exact = |n: u32, n2: u32| {
                residences
                    .binary_search_by_key(&(b, n, n2), |x| (x.block, x.number, x.number2))
                    .ok()
                    .map(|i| residences[i])
            };
            let found = match (n, n2) {
                (Some(n), Some(n2)) => exact(n, n2)
                    .map(|x| (x, 3))
                    .or_else(|| exact(n, 0).map(|x| (x, 2))),
                (Some(n), None) => exact(n, 0).map(|x| (x, 2)),
                _ => None,
            };
            if let Some((x, used)) = found {
                r.level = Level::ResidentialNumber;
                (r.lon, r.lat) = (x.lon, x.lat);
                r.used = used;
            } else {
                let block = residences.iter().filter(|x| x.block == b);
                let (count, lon, lat) = block.fold((0usize, 0.0, 0.0), |(c, lon, lat), x| {
                    (c + 1, lon + x.lon, lat + x.lat)
                });
                if count > 0 {
                    r.level = Level::Block;
                    r.lon = lon / count as f64;
                    r.lat = lat / count as f64;
                    r.used = 1;
                    r.reasons.push(match n {
                        Some(n) => format!("住居番号 {b}-{n} not in the ABR; matched the 街区"),
                        None => "no 住居番号 after the 街区".to_string(),
                    });
                } else {
                    r.reasons
                        .push(format!("街区 {b} not in the ABR for this town"));
                }
            }
        }
        if !nums.is_empty() && r.level < Level::Block && !parcels.is_empty() {
            // 地番: 本番-枝番(-孫番).
            let key = |n: &[u32]| {
                (
                    n[0],
                    n.get(1).copied().unwrap_or(0),
                    n.get(2).copied().unwrap_or(0),
                )
            };
            let lookup = |k: (u32, u32, u32)| {
                parcels
                    .binary_search_by_key(&k, |p| (p.n1, p.n2, p.n3))
                    .ok()
                    .map(|i| parcels[i])
            };
            let found: Option<(Parcel, usize)> = lookup(key(nums))
                .map(|p| (p, nums.len().min(3)))
                .or_else(|| {
                    (nums.len() == 3)
                        .then(|| lookup(key(&nums[..2])).map(|p| (p, 2)))
                        .flatten()
                });
            match found {
                Some((p, used)) if !p.lon.is_nan() => {
                    r.reasons.clear();
                    r.level = Level::Parcel;
                    (r.lon, r.lat) = (p.lon, p.lat);
                    r.used = used;
                }
                Some(_) => r.reasons.push(format!(
                    "地番 {} is in the ABR without a position",
                    dash_joined(nums)
                )),
                None => r
                    .reasons
                    .push(format!("地番 {} not in the ABR", dash_joined(nums))),
            }
        } else if !nums.is_empty() && residences.is_empty() && parcels.is_empty() {
            r.reasons
                .push("no 住居表示 or 地番 reference for this town".into());
        }
        if r.used < r.nums.len() && r.level >= Level::ResidentialNumber {
            // `1-2-302`: the extra number is a room.
            r.remainder = join_text(&dash_joined(&r.nums[r.used..]), after_numbers).into();
        }
        if chome_from_number {
            r.reasons.push("丁目 read from the first number".into());
        }
        if r.lon.is_nan() {
            // A town without any point: fall back to the city's.
            let city = &self.data.cities[town.city as usize];
            (r.lon, r.lat) = (city.lon, city.lat);
            r.reasons
                .push("no position for the town; city position used".into());
        }
        if r.level < Level::Block && r.reasons.is_empty() {
            r.reasons.push("only the town matched".into());
        }
        r
    }

    /// The full answer for a resolved reading.
    fn answer(&self, r: Resolved) -> Geocoded {
        let town = &self.data.towns[r.town as usize];
        let mut g = self.at_city(town.city, &r.remainder, "");
        g.level = r.level;
        g.town = town.name.clone();
        g.koaza = town.koaza.clone();
        (g.lon, g.lat) = (r.lon, r.lat);
        g.addr = dash_joined(&r.nums[..r.used]);
        g.score = r.level.base_score() - if r.remainder.is_empty() { 0.0 } else { 0.05 };
        g.reason = r.reasons.join("; ");
        g
    }

    fn residences_of(&self, town: u32) -> &[Residence] {
        let r = &self.data.residences;
        let lo = r.partition_point(|x| x.town < town);
        let hi = r.partition_point(|x| x.town <= town);
        &r[lo..hi]
    }

    fn parcels_of(&self, town: u32) -> &[Parcel] {
        let p = &self.data.parcels;
        let lo = p.partition_point(|x| x.town < town);
        let hi = p.partition_point(|x| x.town <= town);
        &p[lo..hi]
    }
}

/// A town reading with its numbers looked up, before it becomes an answer.
struct Resolved<'t> {
    town: u32,
    level: Level,
    lon: f64,
    lat: f64,
    nums: Vec<u32>,
    /// How many of `nums` the match used.
    used: usize,
    /// What was not used: building, room, or text that matched nothing.
    remainder: std::borrow::Cow<'t, str>,
    reasons: Vec<String>,
    /// Length of the text after the town name.
    town_rest_len: usize,
    chome_from_number: bool,
}

struct TownMatch<'t> {
    towns: Vec<u32>,
    rest: &'t str,
    chome_from_number: bool,
}

impl<'t> TownMatch<'t> {
    fn new(towns: Vec<u32>, rest: &'t str, chome_from_number: bool) -> TownMatch<'t> {
        TownMatch {
            towns,
            rest,
            chome_from_number,
        }
    }

    /// Maps the rest of a match made on a rewritten text back onto the
    /// original text, whose tail the rewrite copied unchanged.
    fn rest_in(self, original: &str) -> TownMatch<'_> {
        let start = original.len().saturating_sub(self.rest.len());
        TownMatch {
            towns: self.towns,
            rest: original.get(start..).unwrap_or(""),
            chome_from_number: self.chome_from_number,
        }
    }
}

/// 札幌: 「北1西2」 and 「北1条西2丁目」 both mean 北一条西二丁目.
fn expand_sapporo_jo(text: &str) -> Option<String> {
    let mut chars = text.char_indices().peekable();
    let (_, d1) = chars.next()?;
    if !"東西南北".contains(d1) {
        return None;
    }
    let mut pos = d1.len_utf8();
    let n1_len = text[pos..].bytes().take_while(u8::is_ascii_digit).count();
    if n1_len == 0 {
        return None;
    }
    let n1 = &text[pos..pos + n1_len];
    pos += n1_len;
    if text[pos..].starts_with('条') {
        pos += '条'.len_utf8();
    }
    let d2 = text[pos..].chars().next()?;
    if !"東西南北".contains(d2) {
        return None;
    }
    pos += d2.len_utf8();
    let n2_len = text[pos..].bytes().take_while(u8::is_ascii_digit).count();
    if n2_len == 0 {
        return None;
    }
    let n2 = &text[pos..pos + n2_len];
    pos += n2_len;
    if text[pos..].starts_with("丁目") {
        pos += "丁目".len();
    }
    Some(format!("{d1}{n1}条{d2}{n2}丁目{}", &text[pos..]))
}

/// Removes spaces before the first digit: spaces between prefecture, city and
/// town carry no meaning, while those after the numbers separate a building.
/// The text matching works on: canonical, without a postal code, head compacted.
fn address_text(mut canon: String) -> String {
    let start = canon.len() - strip_postal_code(&canon).len();
    canon.drain(..start);
    let head_end = canon
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(canon.len());
    if canon[..head_end].contains(' ') {
        let tail = canon.split_off(head_end);
        canon.retain(|c| c != ' ');
        canon.push_str(&tail);
    }
    canon
}

#[cfg(test)]
fn compact_head(s: &str) -> String {
    let head_end = s.find(|c: char| c.is_ascii_digit()).unwrap_or(s.len());
    let mut out = String::with_capacity(s.len());
    out.extend(s[..head_end].chars().filter(|c| *c != ' '));
    out.push_str(&s[head_end..]);
    out
}

/// Drops a leading postal code (〒113-0001).
fn strip_postal_code(s: &str) -> &str {
    let t = s.trim_start_matches('〒').trim_start();
    let b = t.as_bytes();
    if b.len() >= 8
        && b[..3].iter().all(u8::is_ascii_digit)
        && b[3] == b'-'
        && b[4..8].iter().all(u8::is_ascii_digit)
    {
        return t[8..].trim_start();
    }
    if b.len() >= 7 && b[..7].iter().all(u8::is_ascii_digit) && s.starts_with('〒') {
        return t[7..].trim_start();
    }
    s
}

/// Numbers as `N-N-N`.
fn dash_joined(nums: &[u32]) -> String {
    let mut s = String::with_capacity(nums.len() * 4);
    for (i, n) in nums.iter().enumerate() {
        if i > 0 {
            s.push('-');
        }
        s.push_str(itoa::Buffer::new().format(*n));
    }
    s
}

fn join_reason(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}; {b}")
    }
}

fn join_text(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a} {b}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sapporo_jo_forms() {
        assert_eq!(expand_sapporo_jo("北1西2").unwrap(), "北1条西2丁目");
        assert_eq!(
            expand_sapporo_jo("北1条西2丁目3-4").unwrap(),
            "北1条西2丁目3-4"
        );
        assert_eq!(
            expand_sapporo_jo("南10西15"),
            Some("南10条西15丁目".to_string())
        );
        assert!(expand_sapporo_jo("大通西1").is_none());
    }

    #[test]
    fn postal_codes_and_spaces() {
        assert_eq!(strip_postal_code("〒113-0001 文京区"), "文京区");
        assert_eq!(strip_postal_code("113-0001文京区"), "文京区");
        assert_eq!(strip_postal_code("文京区"), "文京区");
        assert_eq!(
            compact_head("東京都 文京区 白山 1-2 メゾン 201"),
            "東京都文京区白山1-2 メゾン 201"
        );
    }
}
