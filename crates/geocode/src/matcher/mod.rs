//! Matching a canonical address against the reference index, from the
//! prefecture down to the 号 or 地番, reporting the finest level found.
//!
//! - [`prefix`]: the longest known name a text starts with;
//! - [`town_index`]: the towns of a city by the names an address can start
//!   with (丁目 omitted, 堺市's N丁, 札幌's 条・丁目 short forms);
//! - [`context`]: the city of addresses that do not name one;
//! - [`fuzzy`]: variant and mistyped characters among a city's towns;
//! - [`streets`]: 京都's street descriptions before the town.

mod context;
mod fuzzy;
mod prefix;
mod streets;
mod town_index;

use std::sync::OnceLock;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use super::normalize::{canonical, canonical_tracked, parse_number_tail, Folds};
use super::reference::{strip_aza, Parcel, ReferenceData, Residence};
pub use context::Context;
use prefix::PrefixMap;
use town_index::{TownIndex, TownMatch};

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
    /// Why the match stopped above 号/地番 level, or how it was reached
    /// when not by the letter (a variant character, the context), for the
    /// 住民課 to check.
    pub reason: String,
    /// For ambiguous addresses: the places it could be.
    pub candidates: Vec<String>,
    /// The city came from the context, not from the address.
    pub used_context: bool,
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
            used_context: false,
        }
    }
}

/// Where the cities a town is looked up in came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CitySource {
    /// Written in the address (several when the name exists in several
    /// prefectures, or is a ward name several 政令市 have).
    Written,
    /// Written, and narrowed down by the context.
    WrittenInContext,
    /// Not written: the context's.
    Context,
    /// Not written: 京都's street description says 京都市.
    KyotoStreets,
    /// Not written: every town of Japan (or of the prefecture written).
    Anywhere,
}

/// The reason of an answer whose city the town's name alone gave.
pub(crate) const CITY_INFERRED: &str = "city inferred from the town name, found in one place only";

/// At most this many towns are resolved for an address that names no city;
/// beyond, it is ambiguous without looking further.
const MAX_TOWNS_ANYWHERE: usize = 24;

/// A loaded reference index with its lookup structures.
pub struct Geocoder {
    data: ReferenceData,
    folds: Folds,
    prefs: PrefixMap,
    cities: PrefixMap,
    /// The wards of each 政令市 (by the 政令市's own city id).
    wards: FxHashMap<u32, Vec<u32>>,
    /// Per city: its towns.
    city_towns: Vec<Vec<u32>>,
    /// Per city, built the first time an address reads a town there.
    town_indexes: Vec<OnceLock<TownIndex>>,
    /// Every town of Japan, for addresses that name no city (built on
    /// first need).
    anywhere: OnceLock<TownIndex>,
    /// Hashes of every town name of Japan, to tell a mistyped name from
    /// another place's (built on first need).
    known_names: OnceLock<FxHashSet<u64>>,
    /// The wards of 京都市.
    kyoto_wards: Vec<u32>,
    /// Per city: 郡 + 市区町村 + 政令市の区.
    city_names: Vec<String>,
}

impl Geocoder {
    pub fn new(data: ReferenceData) -> Geocoder {
        let folds = Folds::from_pairs(&data.folds);
        let key = |s: &str| canonical(s, &folds).replace(' ', "");
        let mut prefs = PrefixMap::default();
        for (i, p) in data.prefs.iter().enumerate() {
            prefs.insert(&key(&p.name), i as u32);
        }
        let mut cities = PrefixMap::default();
        let mut wards: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
        let designated: FxHashMap<(u32, &str), u32> = data
            .cities
            .iter()
            .enumerate()
            .filter(|(_, c)| c.ward.is_empty())
            .map(|(i, c)| ((c.pref, c.city.as_str()), i as u32))
            .collect();
        for (i, c) in data.cities.iter().enumerate() {
            let i = i as u32;
            cities.insert(&key(&c.full_name()), i);
            if !c.county.is_empty() {
                cities.insert(&key(&format!("{}{}", c.city, c.ward)), i);
            }
            if !c.ward.is_empty() {
                // 「上京区…」: the ward alone, as the city's own lists write it.
                cities.insert(&key(&c.ward), i);
                if let Some(&city) = designated.get(&(c.pref, c.city.as_str())) {
                    wards.entry(city).or_default().push(i);
                }
            }
        }
        let mut city_towns: Vec<Vec<u32>> = vec![Vec::new(); data.cities.len()];
        for (i, t) in data.towns.iter().enumerate() {
            if let Some(list) = city_towns.get_mut(t.city as usize) {
                list.push(i as u32);
            }
        }
        let kyoto_wards = data
            .cities
            .iter()
            .enumerate()
            .filter(|(_, c)| c.city == "京都市" && !c.ward.is_empty())
            .map(|(i, _)| i as u32)
            .collect();
        let city_names = data.cities.iter().map(|c| c.full_name()).collect();
        Geocoder {
            town_indexes: (0..data.cities.len()).map(|_| OnceLock::new()).collect(),
            city_names,
            data,
            folds,
            prefs,
            cities,
            wards,
            city_towns,
            anywhere: OnceLock::new(),
            known_names: OnceLock::new(),
            kyoto_wards,
        }
    }

    pub fn data(&self) -> &ReferenceData {
        &self.data
    }

    /// Geocodes an address that names its city (or whose ward or town
    /// names one by itself).
    pub fn geocode(&self, input: &str) -> Geocoded {
        self.geocode_in(input, &Context::none())
    }

    /// Geocodes an address, reading it in the `context`'s cities when it
    /// names none (or names a ward several cities have).
    pub fn geocode_in(&self, input: &str, context: &Context) -> Geocoded {
        let (canon, variants_folded) = canonical_tracked(input, &self.folds);
        let folded = address_text(canon);
        let mut g = self.geocode_canonical(&folded, context);
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

    fn town_index(&self, city: u32) -> &TownIndex {
        self.town_indexes[city as usize].get_or_init(|| {
            TownIndex::build(
                &self.data.towns,
                self.city_towns[city as usize].iter().copied(),
            )
        })
    }

    fn anywhere(&self) -> &TownIndex {
        self.anywhere
            .get_or_init(|| TownIndex::build(&self.data.towns, 0..self.data.towns.len() as u32))
    }

    /// Whether `name` (canonical) is the name of a town somewhere in Japan.
    fn is_known_name(&self, name: &str) -> bool {
        let known = self.known_names.get_or_init(|| {
            self.data
                .towns
                .iter()
                .flat_map(|t| [t.name_key, t.oaza_key])
                .map(name_hash)
                .collect()
        });
        known.contains(&name_hash(strip_aza(name)))
    }

    /// A 政令市 stands for its wards, where its towns are.
    fn wards_of(&self, city: u32) -> &[u32] {
        self.wards.get(&city).map_or(&[], Vec::as_slice)
    }

    /// Geocodes text already in canonical form with its head compacted.
    fn geocode_canonical(&self, text: &str, context: &Context) -> Geocoded {
        if text.is_empty() {
            return Geocoded::empty("empty address", "");
        }

        // Prefecture, if written.
        let (pref, after_pref) = match self.prefs.longest(text) {
            Some((ids, rest)) => (Some(ids[0]), rest),
            None => (None, text),
        };
        let in_pref = |c: &u32| pref.is_none_or(|p| self.data.cities[*c as usize].pref == p);

        // City: the longest name that follows, within the prefecture if known.
        let (mut written, mut after_city): (Vec<u32>, &str) = match self.cities.longest(after_pref)
        {
            Some((ids, rest)) => (ids.iter().copied().filter(in_pref).collect(), rest),
            None => (Vec::new(), after_pref),
        };
        let respelled;
        if written.is_empty() {
            // A city written with variant characters (飛驒市).
            if let Some((c, rest)) = self.city_by_variants(after_pref, pref) {
                respelled = rest;
                written = vec![c];
                after_city = &respelled;
            }
        }
        let (cities, rest, source) = if !written.is_empty() {
            let in_context: Vec<u32> = written
                .iter()
                .copied()
                .filter(|c| context.cities.contains(c))
                .collect();
            if written.len() > 1 && !in_context.is_empty() {
                (in_context, after_city, CitySource::WrittenInContext)
            } else {
                (written, after_city, CitySource::Written)
            }
        } else if !context.is_empty() {
            let cities: Vec<u32> = context.cities.iter().copied().filter(in_pref).collect();
            if cities.is_empty() {
                let p = pref.expect("only a written prefecture empties the context");
                return self.at_prefecture(p, after_pref, "city not found in the prefecture");
            }
            (cities, after_pref, CitySource::Context)
        } else if streets::has_directions(after_pref)
            && pref.is_none_or(|p| {
                self.kyoto_wards
                    .first()
                    .is_some_and(|&w| self.data.cities[w as usize].pref == p)
            })
        {
            (
                self.kyoto_wards.clone(),
                after_pref,
                CitySource::KyotoStreets,
            )
        } else {
            (Vec::new(), after_pref, CitySource::Anywhere)
        };

        if source == CitySource::Anywhere {
            return self.anywhere_in(pref, after_pref, text);
        }
        // A 政令市 written without its ward: its wards' towns.
        let mut search: Vec<u32> = Vec::with_capacity(cities.len());
        for &c in &cities {
            let wards = self.wards_of(c);
            if wards.is_empty() {
                search.push(c);
            } else {
                search.extend(wards.iter().copied().filter(|w| !cities.contains(w)));
            }
        }

        let mut readings: Vec<TownMatch> = Vec::new();
        for &c in &search {
            readings.extend(self.town_readings(c, rest));
        }
        let mut spelled = None;
        if readings.is_empty() && search.len() <= 16 {
            if let Some((rewritten, note)) = self.respelled_town(&search, rest) {
                spelled = Some((rewritten, note));
            }
        }
        let respelled_rest;
        let mut notes: Vec<String> = Vec::new();
        if let Some((rewritten, note)) = spelled {
            respelled_rest = rewritten;
            for &c in &search {
                readings.extend(
                    self.town_readings(c, &respelled_rest)
                        .into_iter()
                        .map(|m| m.rest_in(rest)),
                );
            }
            notes.push(note);
        }
        if readings.is_empty() {
            if source == CitySource::KyotoStreets {
                return self.anywhere_in(pref, after_pref, text);
            }
            return self.no_town(&cities, pref, rest, source);
        }
        match source {
            CitySource::Context | CitySource::WrittenInContext => {
                notes.push(format!("city from the context ({})", context.label()))
            }
            CitySource::KyotoStreets => {
                notes.push("city read from the street description (京都市)".into())
            }
            _ => {}
        }
        let mut g = self.best_reading(readings, &notes);
        g.used_context = matches!(source, CitySource::Context | CitySource::WrittenInContext)
            && g.level != Level::Ambiguous;
        if g.level != Level::Ambiguous
            && pref.is_none()
            && source == CitySource::Written
            && cities.len() > 1
        {
            g.reason = join_reason(&g.reason, "prefecture inferred from the town");
        }
        g
    }

    /// The readings of the town at the start of `text` in city `c`: after a
    /// street description in 京都市.
    fn town_readings<'t>(&self, c: u32, text: &'t str) -> Vec<TownMatch<'t>> {
        let index = self.town_index(c);
        if self.kyoto_wards.contains(&c) {
            for start in streets::town_starts(text) {
                let found = index.readings(&self.data.towns, &text[start..]);
                if !found.is_empty() {
                    return found;
                }
            }
        }
        index.readings(&self.data.towns, text)
    }

    /// No town found in the cities: the city, or the cities it could be.
    fn no_town(
        &self,
        cities: &[u32],
        pref: Option<u32>,
        rest: &str,
        source: CitySource,
    ) -> Geocoded {
        match (cities, source) {
            ([c], CitySource::Written) => {
                self.at_city(*c, rest, "town (町字) not found in the city")
            }
            (_, CitySource::Written) => {
                let mut g = Geocoded::empty("the city name exists in several places", rest);
                g.level = Level::Ambiguous;
                g.candidates = cities.iter().map(|&c| self.city_label(c)).collect();
                g
            }
            ([c], _) if self.wards_of(*c).is_empty() => {
                let mut g = self.at_city(*c, rest, "town (町字) not found in the context's city");
                g.used_context = source != CitySource::KyotoStreets;
                g
            }
            _ => match pref {
                Some(p) => self.at_prefecture(p, rest, "town (町字) not found"),
                None => Geocoded::empty("town (町字) not found in the context's cities", rest),
            },
        }
    }

    /// An address naming no city and with no context: the town alone, where
    /// its name is found in Japan (or in the prefecture written).
    fn anywhere_in(&self, pref: Option<u32>, rest: &str, text: &str) -> Geocoded {
        let index = self.anywhere();
        let mut readings = index.readings(&self.data.towns, rest);
        for m in &mut readings {
            if let Some(p) = pref {
                m.towns
                    .retain(|&t| self.data.cities[self.data.towns.get(t).city as usize].pref == p);
            }
        }
        readings.retain(|m| !m.towns.is_empty() && plausible_after_town(m.rest));
        if readings.is_empty() {
            return match pref {
                Some(p) => self.at_prefecture(p, rest, "city not found in the prefecture"),
                None => Geocoded::empty("neither prefecture nor city recognised", text),
            };
        }
        let towns: usize = readings.iter().map(|m| m.towns.len()).sum();
        if towns > MAX_TOWNS_ANYWHERE {
            let mut g = Geocoded::empty(
                "no city written and the town name exists in many places: give the city (--city)",
                rest,
            );
            g.level = Level::Ambiguous;
            let all: Vec<u32> = readings
                .iter()
                .flat_map(|m| m.towns.iter().copied())
                .collect();
            g.candidates = all.iter().take(10).map(|&t| self.town_label(t)).collect();
            g.candidates.push(format!("… {} places in all", all.len()));
            return g;
        }
        let mut g = self.best_reading(readings, &[CITY_INFERRED.to_string()]);
        if g.level > Level::Ambiguous {
            g.score -= 0.1;
        } else {
            g.reason = "no city written and the town name exists in several places: give the city (--city)".into();
        }
        g
    }

    /// Every reading resolved as far down as its numbers go. The finest
    /// level wins; among equals the reading that used more of the text,
    /// then the one that did not have to read a number as 丁目. Several
    /// winners in different places make an ambiguous answer.
    fn best_reading(&self, readings: Vec<TownMatch>, notes: &[String]) -> Geocoded {
        let mut scored: Vec<Resolved> = Vec::new();
        for m in &readings {
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
            let mut g = top.pop().expect("one answer");
            for note in notes {
                g.reason = join_reason(&g.reason, note);
                if note.starts_with("町字 ") {
                    g.score -= 0.1;
                }
            }
            return g;
        }
        if let Some(mut g) = self.merge_chome_towns(&readings, &top) {
            for note in notes {
                g.reason = join_reason(&g.reason, note);
            }
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
    fn merge_chome_towns(&self, best: &[TownMatch], top: &[Geocoded]) -> Option<Geocoded> {
        let towns: Vec<u32> = best.iter().flat_map(|m| m.towns.iter().copied()).collect();
        let first = self.data.towns.get(*towns.first()?);
        let same_oaza = towns.iter().all(|&t| {
            let t = self.data.towns.get(t);
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
                let t = self.data.towns.get(t);
                (t.lon, t.lat)
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
            .trim_end_matches('丁')
            .trim_end_matches(|c: char| "〇一二三四五六七八九十".contains(c))
            .to_string();
        g.reason = "丁目 not given: the centre of the town's 丁目s".into();
        g.score = Level::OazaChome.base_score() - 0.1;
        Some(g)
    }

    /// A city written with variant characters, among the prefecture's
    /// cities (or Japan's): the city and the text rewritten with its name.
    fn city_by_variants(&self, text: &str, pref: Option<u32>) -> Option<(u32, String)> {
        let names: Vec<(String, u32)> = self
            .data
            .cities
            .iter()
            .enumerate()
            .filter(|(_, c)| pref.is_none_or(|p| c.pref == p))
            .map(|(i, c)| {
                (
                    canonical(&c.full_name(), &self.folds).replace(' ', ""),
                    i as u32,
                )
            })
            .collect();
        let variants = fuzzy::Variants(&self.data.variants);
        let found = fuzzy::spellings(names.iter().map(|(n, _)| n.as_str()), text, &variants);
        let [only] = found[..] else { return None };
        if only.likeness != fuzzy::Likeness::Variant {
            return None;
        }
        let city = names.iter().find(|(n, _)| n == only.key)?.1;
        Some((city, text[only.written_len..].to_string()))
    }

    /// A town of `cities` written with variant characters or one wrong
    /// character: the text with the town's name as the reference writes
    /// it, and a note saying what was read.
    fn respelled_town(&self, cities: &[u32], text: &str) -> Option<(String, String)> {
        let text = strip_aza(text);
        let variants = fuzzy::Variants(&self.data.variants);
        let mut found: Vec<fuzzy::Spelling> = Vec::new();
        for &c in cities {
            let index = self.town_index(c);
            let names = index
                .names()
                .map(|(k, _)| k)
                .chain(index.chome_names().map(|(k, _)| k));
            found.extend(fuzzy::spellings(names, text, &variants));
        }
        // The best kind of likeness, the longest name; one name only.
        found.sort_by_key(|s| (s.likeness, std::cmp::Reverse(s.key.len())));
        let best = *found.first()?;
        let same =
            |s: &&fuzzy::Spelling| s.likeness == best.likeness && s.key.len() == best.key.len();
        if found.iter().filter(same).any(|s| s.key != best.key) {
            return None;
        }
        // What was written must not be a place of its own somewhere else.
        if self.is_known_name(&text[..best.written_len]) {
            return None;
        }
        let note = match best.likeness {
            fuzzy::Likeness::Variant => format!(
                "町字 matched by a variant character: {} written for {}",
                best.written, best.reference
            ),
            fuzzy::Likeness::OneCharacter => format!(
                "町字 matched with one character differing: {} written for {}",
                best.written, best.reference
            ),
        };
        Some((format!("{}{}", best.key, &text[best.written_len..]), note))
    }

    fn city_label(&self, c: u32) -> String {
        let city = &self.data.cities[c as usize];
        format!(
            "{}{}",
            self.data.prefs[city.pref as usize].name,
            city.full_name()
        )
    }

    fn town_label(&self, t: u32) -> String {
        let town = self.data.towns.get(t);
        format!("{}{}{}", self.city_label(town.city), town.name, town.koaza)
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

    /// Reads the numbers after the town and looks them up: 住居表示 first,
    /// then 地番, falling back to 街区 and to the town.
    fn resolve_numbers<'t>(
        &self,
        town_id: u32,
        rest: &'t str,
        chome_from_number: bool,
    ) -> Resolved<'t> {
        let town = self.data.towns.get(town_id);
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
        let town = self.data.towns.get(r.town);
        let mut g = self.at_city(town.city, &r.remainder, "");
        g.level = r.level;
        g.town = town.name.to_string();
        g.koaza = town.koaza.to_string();
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

/// The text matching works on: canonical, without a leading note in
/// brackets (「(前期)」, 「【新住所】」) or postal code, with no spaces before
/// the first number (spaces between prefecture, city and town carry no
/// meaning, while those after the numbers separate a building), and none
/// inside the numbers (「1丁目 2番 3号」, 「1 - 2 - 3」).
fn address_text(mut canon: String) -> String {
    let start = canon.len() - strip_postal_code(strip_leading_notes(&canon)).len();
    canon.drain(..start);
    let mut head_end = canon
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(canon.len());
    if canon[..head_end].contains(' ') {
        let tail = canon.split_off(head_end);
        canon.retain(|c| c != ' ');
        head_end = canon.len();
        canon.push_str(&tail);
    }
    if canon[head_end..].contains(' ') {
        canon = close_number_spaces(&canon);
    }
    canon
}

/// Brackets that open a note before an address, with their closing ones.
const NOTE_BRACKETS: [(char, char); 6] = [
    ('(', ')'),
    ('[', ']'),
    ('【', '】'),
    ('〔', '〕'),
    ('<', '>'),
    ('《', '》'),
];

/// Drops notes in brackets before the address: 「(前期)」, 「【新住所】」.
fn strip_leading_notes(s: &str) -> &str {
    let mut s = s.trim_start();
    while let Some(open) = s.chars().next() {
        let Some(&(_, close)) = NOTE_BRACKETS.iter().find(|(o, _)| *o == open) else {
            break;
        };
        match s.find(close) {
            Some(end) => s = s[end + close.len_utf8()..].trim_start(),
            None => break,
        }
    }
    s
}

/// Removes the spaces inside the address numbers: around a hyphen between
/// numbers, and after 丁目/番/番地 before the next number — but not before
/// a room number (「1-2-3 302」).
fn close_number_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == ' ' {
            let before = &s[..i];
            let after = &s[i + 1..];
            let after = after.trim_start_matches(' ');
            let digit_before = before.ends_with(|c: char| c.is_ascii_digit());
            let closes = (before.ends_with('-') && after.starts_with(|c: char| c.is_ascii_digit()))
                || (digit_before && after.starts_with('-'))
                || ((before.ends_with("丁目")
                    || before.ends_with('番')
                    || before.ends_with("番地"))
                    && starts_numbered(after));
            if closes {
                while chars.peek().is_some_and(|(_, c)| *c == ' ') {
                    chars.next();
                }
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// `3号`, `3番`, `3-`: a number that is part of the address, not a room.
fn starts_numbered(s: &str) -> bool {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && {
        let rest = &s[digits..];
        rest.starts_with('号') || rest.starts_with('番') || rest.starts_with('-') || rest.is_empty()
    }
}

/// What may follow a town named without its city: the numbers, a space, or
/// nothing — not more unknown text, which would make a guess of any word.
fn plausible_after_town(rest: &str) -> bool {
    rest.is_empty()
        || rest.starts_with(|c: char| c.is_ascii_digit() || c == ' ' || c == '-')
        || rest.starts_with('第')
}

/// A stable hash of a name, for sets of names.
fn name_hash(name: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    name.hash(&mut h);
    h.finish()
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
    fn postal_codes_and_spaces() {
        assert_eq!(strip_postal_code("〒113-0001 文京区"), "文京区");
        assert_eq!(strip_postal_code("113-0001文京区"), "文京区");
        assert_eq!(strip_postal_code("文京区"), "文京区");
        assert_eq!(
            compact_head("東京都 文京区 白山 1-2 メゾン 201"),
            "東京都文京区白山1-2 メゾン 201"
        );
    }

    #[test]
    fn notes_and_spaces_inside_numbers() {
        let t = |s: &str| address_text(s.to_string());
        assert_eq!(t("(前期)文京区白山1-1-1"), "文京区白山1-1-1");
        assert_eq!(t("【新住所】 (仮称) 文京区白山1"), "文京区白山1");
        assert_eq!(t("文京区 白 山1 - 1 - 1"), "文京区白山1-1-1");
        assert_eq!(t("白山1丁目 2番 3号"), "白山1丁目2番3号");
        assert_eq!(t("白山1-2-3 302"), "白山1-2-3 302");
        assert_eq!(t("白山1-2-3 メゾン 201"), "白山1-2-3 メゾン 201");
        // A note that never closes is text, not a note.
        assert_eq!(t("(文京区白山1"), "(文京区白山1");
    }
}
