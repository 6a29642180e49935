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

use std::borrow::Cow;
use std::sync::OnceLock;

use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;

use super::normalize::{canonical, canonical_tracked, parse_number_tail, Folds, Numbers};
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
    /// Every level, coarsest first.
    pub const ALL: [Level; 8] = [
        Level::None,
        Level::Ambiguous,
        Level::Prefecture,
        Level::City,
        Level::OazaChome,
        Level::Block,
        Level::ResidentialNumber,
        Level::Parcel,
    ];

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

impl From<&Found<'_, '_>> for Geocoded {
    fn from(f: &Found) -> Geocoded {
        Geocoded {
            level: f.level,
            pref: f.pref.to_string(),
            city: f.city.to_string(),
            town: f.town.to_string(),
            koaza: f.koaza.to_string(),
            addr: f.addr(),
            lon: f.lon,
            lat: f.lat,
            score: f.score,
            remainder: f.remainder.to_string(),
            reason: f.reason.to_string(),
            candidates: f.candidates.clone(),
            used_context: f.used_context,
        }
    }
}

/// An answer as the matcher makes it, borrowing the reference's names
/// (`'g`) and the address text (`'t`): [`Geocoder::geocode_with`] hands it
/// to a caller that encodes it at once, without the allocations of a
/// [`Geocoded`].
#[derive(Debug, Clone)]
pub struct Found<'g, 't> {
    pub level: Level,
    pub pref: &'g str,
    /// 郡 + 市区町村 + 政令市の区.
    pub city: &'g str,
    /// 大字・町 + 丁目.
    pub town: &'g str,
    pub koaza: &'g str,
    /// The numbers matched below the town.
    pub numbers: Numbers,
    pub lon: f64,
    pub lat: f64,
    pub score: f64,
    pub remainder: Cow<'t, str>,
    pub reason: Cow<'static, str>,
    pub candidates: Vec<String>,
    pub used_context: bool,
}

impl<'g, 't> Found<'g, 't> {
    fn empty(reason: impl Into<Cow<'static, str>>, remainder: &'t str) -> Found<'g, 't> {
        Found {
            level: Level::None,
            pref: "",
            city: "",
            town: "",
            koaza: "",
            numbers: Numbers::default(),
            lon: f64::NAN,
            lat: f64::NAN,
            score: 0.0,
            remainder: Cow::Borrowed(remainder),
            reason: reason.into(),
            candidates: Vec::new(),
            used_context: false,
        }
    }

    /// The numbers as `N-N-N`.
    pub fn addr(&self) -> String {
        dash_joined(&self.numbers)
    }

    /// Adds a note to the reason.
    fn add_reason(&mut self, note: impl Into<Cow<'static, str>>) {
        let note = note.into();
        if self.reason.is_empty() {
            self.reason = note;
        } else if !note.is_empty() {
            self.reason = Cow::Owned(format!("{}; {note}", self.reason));
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
    /// Per town: where its 住居表示 addresses and its 地番 start and end in
    /// the reference's sorted tables (a lookup, not two binary searches).
    residence_ranges: Vec<(u32, u32)>,
    parcel_ranges: Vec<(u32, u32)>,

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
        let residence_ranges =
            ranges_by_town(data.towns.len(), data.residences.iter().map(|r| r.town));
        let parcel_ranges = ranges_by_town(data.towns.len(), data.parcels.iter().map(|p| p.town));
        Geocoder {
            residence_ranges,
            parcel_ranges,

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
        self.geocode_with(input, context, |f| Geocoded::from(f))
    }

    /// Geocodes an address and hands the answer to `f`, borrowed: the fast
    /// path for callers that encode it at once.
    pub fn geocode_with<R>(
        &self,
        input: &str,
        context: &Context,
        f: impl FnOnce(&Found<'_, '_>) -> R,
    ) -> R {
        let (canon, variants_folded) = canonical_tracked(input, &self.folds);
        let folded = address_text(canon);
        let mut g = self.geocode_canonical(&folded, context);
        if !g.remainder.is_empty() && variants_folded {
            // The remainder is reported as written (width-folded, but without
            // variant folding: 「ハイツ」, not 「ハイっ」).
            let display = address_text(canonical(input, &Folds::default()));
            if folded.ends_with(g.remainder.as_ref()) {
                let n = g.remainder.chars().count();
                let skip = display.chars().count().saturating_sub(n);
                g.remainder = Cow::Owned(display.chars().skip(skip).collect());
            }
        }
        f(&g)
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
    fn geocode_canonical<'t>(&self, text: &'t str, context: &Context) -> Found<'_, 't> {
        if text.is_empty() {
            return Found::empty("empty address", "");
        }

        // Prefecture, if written.
        let (pref, after_pref) = match self.prefs.longest(text) {
            Some((ids, rest)) => (Some(ids[0]), rest),
            None => (None, text),
        };
        let in_pref = |c: &u32| pref.is_none_or(|p| self.data.cities[*c as usize].pref == p);

        // City: the longest name that follows, within the prefecture if known.
        let (mut written, mut after_city): (Cow<[u32]>, &str) =
            match self.cities.longest(after_pref) {
                Some((ids, rest)) if ids.iter().all(in_pref) => (Cow::Borrowed(ids), rest),
                Some((ids, rest)) => (ids.iter().copied().filter(in_pref).collect(), rest),
                None => (Cow::Borrowed(&[]), after_pref),
            };
        // A city or ward written with variant characters (飛驒市, 綠区), or
        // a 政令市 followed by such a ward (北九州市戶畑区).
        let mut city_respelled = false;
        if written.iter().all(|&c| !self.wards_of(c).is_empty()) {
            let exact_len = after_pref.len() - after_city.len();
            let exact = &after_pref[..exact_len];
            if let Some((ids, written_len)) = self.city_by_variants(after_pref, exact, pref) {
                if written_len > exact_len {
                    written = Cow::Owned(ids);
                    after_city = &after_pref[written_len..];
                    city_respelled = true;
                }
            }
        }
        let (cities, rest, source) = if !written.is_empty() {
            let in_context: Cow<[u32]> = if written.len() > 1 && !context.is_empty() {
                written
                    .iter()
                    .copied()
                    .filter(|c| context.cities.contains(c))
                    .collect()
            } else {
                Cow::Borrowed(&[])
            };
            if !in_context.is_empty() {
                (in_context, after_city, CitySource::WrittenInContext)
            } else {
                (written, after_city, CitySource::Written)
            }
        } else if !context.is_empty() {
            let cities: Cow<[u32]> = if pref.is_none() {
                Cow::Borrowed(&context.cities)
            } else {
                context.cities.iter().copied().filter(in_pref).collect()
            };
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
                Cow::Borrowed(self.kyoto_wards.as_slice()),
                after_pref,
                CitySource::KyotoStreets,
            )
        } else {
            (Cow::Borrowed(&[][..]), after_pref, CitySource::Anywhere)
        };

        if source == CitySource::Anywhere {
            return self.anywhere_in(pref, after_pref, text);
        }
        // A 政令市 written without its ward: its wards' towns.
        let search: Cow<[u32]> = if cities.iter().all(|&c| self.wards_of(c).is_empty()) {
            Cow::Borrowed(&cities)
        } else {
            let mut search = Vec::with_capacity(cities.len());
            for &c in cities.iter() {
                let wards = self.wards_of(c);
                if wards.is_empty() {
                    search.push(c);
                } else {
                    search.extend(wards.iter().copied().filter(|w| !cities.contains(w)));
                }
            }
            Cow::Owned(search)
        };

        let mut readings: Vec<TownMatch> = Vec::new();
        for &c in search.iter() {
            readings.extend(self.town_readings(c, rest));
        }
        let mut spelled = None;
        if readings.is_empty() && search.len() <= 16 {
            if let Some((rewritten, note)) = self.respelled_town(&search, rest) {
                spelled = Some((rewritten, note));
            }
        }
        let respelled_rest;
        let mut notes: Vec<Cow<'static, str>> = Vec::new();
        if city_respelled {
            notes.push("city matched by a variant character".into());
        }
        if let Some((rewritten, note)) = spelled {
            respelled_rest = rewritten;
            for &c in search.iter() {
                readings.extend(
                    self.town_readings(c, &respelled_rest)
                        .into_iter()
                        .map(|m| m.rest_in(rest)),
                );
            }
            notes.push(note.into());
        }
        if readings.is_empty() {
            if source == CitySource::KyotoStreets {
                return self.anywhere_in(pref, after_pref, text);
            }
            return self.no_town(&cities, pref, rest, source);
        }
        match source {
            CitySource::Context | CitySource::WrittenInContext => {
                notes.push(format!("city from the context ({})", context.label()).into())
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
            g.add_reason("prefecture inferred from the town");
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
    fn no_town<'t>(
        &self,
        cities: &[u32],
        pref: Option<u32>,
        rest: &'t str,
        source: CitySource,
    ) -> Found<'_, 't> {
        match (cities, source) {
            ([c], CitySource::Written) => {
                self.at_city(*c, rest, "town (町字) not found in the city")
            }
            (_, CitySource::Written) => {
                let mut g = Found::empty("the city name exists in several places", rest);
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
                None => Found::empty("town (町字) not found in the context's cities", rest),
            },
        }
    }

    /// An address naming no city and with no context: the town alone, where
    /// its name is found in Japan (or in the prefecture written).
    fn anywhere_in<'t>(&self, pref: Option<u32>, rest: &'t str, text: &'t str) -> Found<'_, 't> {
        let index = self.anywhere();
        let mut readings = index.readings(&self.data.towns, rest);
        for m in &mut readings {
            if let Some(p) = pref {
                m.towns
                    .retain(|t| self.data.cities[self.data.towns.get(t).city as usize].pref == p);
            }
        }
        readings.retain(|m| !m.towns.is_empty() && plausible_after_town(m.rest));
        if readings.is_empty() {
            return match pref {
                Some(p) => self.at_prefecture(p, rest, "city not found in the prefecture"),
                None => Found::empty("neither prefecture nor city recognised", text),
            };
        }
        let towns: usize = readings.iter().map(|m| m.towns.len()).sum();
        if towns > MAX_TOWNS_ANYWHERE {
            let mut g = Found::empty(
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
        let mut g = self.best_reading(readings, &[Cow::Borrowed(CITY_INFERRED)]);
        if g.level > Level::Ambiguous {
            g.score -= 0.1;
        } else {
            g.reason = Cow::Borrowed(
                "no city written and the town name exists in several places: give the city (--city)",
            );
        }
        g
    }

    /// Every reading resolved as far down as its numbers go. The finest
    /// level wins; among equals the reading that used more of the text,
    /// then the one that did not have to read a number as 丁目. Several
    /// winners in different places make an ambiguous answer.
    fn best_reading<'t>(
        &self,
        readings: Vec<TownMatch<'t>>,
        notes: &[Cow<'static, str>],
    ) -> Found<'_, 't> {
        let mut scored: Vec<Resolved> = Vec::new();
        for m in &readings {
            for &town in m.towns.iter() {
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
        // Only the winners become full answers; one winner (nearly always)
        // without a vector of them.
        let winners = scored
            .iter()
            .filter(|x| rank(x) == best_rank && x.level == finest)
            .count();
        let mut winning = scored
            .into_iter()
            .filter(|x| rank(x) == best_rank && x.level == finest);
        if winners == 1 {
            let mut g = self.answer(winning.next().expect("one winner"));
            for note in notes {
                g.add_reason(note.clone());
                if is_respelling(note) {
                    g.score -= 0.1;
                }
            }
            return g;
        }
        let mut top: Vec<Found> = winning.map(|x| self.answer(x)).collect();
        top.dedup_by(|a, b| {
            a.town == b.town && a.city == b.city && a.koaza == b.koaza && a.numbers == b.numbers
        });
        if top.len() == 1 {
            let mut g = top.pop().expect("one answer");
            for note in notes {
                g.add_reason(note.clone());
                if is_respelling(note) {
                    g.score -= 0.1;
                }
            }
            return g;
        }
        if let Some(mut g) = self.merge_chome_towns(&readings, &top) {
            for note in notes {
                g.add_reason(note.clone());
            }
            return g;
        }
        let mut g = Found::empty("the address matches several places", "");
        g.remainder = top[0].remainder.clone();
        g.level = Level::Ambiguous;
        g.candidates = top
            .iter()
            .map(|a| {
                format!("{}{}{}{} {}", a.pref, a.city, a.town, a.koaza, a.addr())
                    .trim()
                    .to_string()
            })
            .collect();
        g
    }

    /// 「府中市宮町」 where only 宮町一丁目…三丁目 exist: the 大字・町 is known,
    /// the 丁目 is not. One answer at the centre of its 丁目s, not "ambiguous".
    fn merge_chome_towns<'g, 't>(
        &'g self,
        best: &[TownMatch],
        top: &[Found<'g, 't>],
    ) -> Option<Found<'g, 't>> {
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
                .any(|a| a.level != Level::OazaChome || !a.numbers.is_empty())
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
            .trim_end_matches(|c: char| "〇一二三四五六七八九十".contains(c));
        g.reason = Cow::Borrowed("丁目 not given: the centre of the town's 丁目s");
        g.score = Level::OazaChome.base_score() - 0.1;
        Some(g)
    }

    /// A city (or ward) written with variant characters, among the names of
    /// the prefecture's cities (or Japan's): the cities of that name and the
    /// length of text that names them.
    /// Only names that start with `exact` (the 政令市 found as written) are
    /// compared.
    fn city_by_variants(
        &self,
        text: &str,
        exact: &str,
        pref: Option<u32>,
    ) -> Option<(Vec<u32>, usize)> {
        let in_pref = |c: &u32| pref.is_none_or(|p| self.data.cities[*c as usize].pref == p);
        let names = self
            .cities
            .iter()
            .filter(|(name, ids)| name.starts_with(exact) && ids.iter().any(in_pref))
            .map(|(name, _)| name);
        let variants = fuzzy::Variants(&self.data.variants);
        let found = fuzzy::spellings(names, text, &variants);
        let [only] = found[..] else { return None };
        if only.likeness != fuzzy::Likeness::Variant {
            return None;
        }
        let (ids, _) = self.cities.longest(only.key)?;
        let ids: Vec<u32> = ids.iter().copied().filter(in_pref).collect();
        Some((ids, only.written_len))
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
        // What follows must be the numbers or more of the address, not
        // more name (台原町 is not in 磯原町本町); and what was written must
        // not be a place of its own somewhere else.
        let written = &text[..best.written_len];
        let written_name = written.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
        if !plausible_after_respelling(&text[best.written_len..])
            || self.is_known_name(written)
            || self.is_known_name(written_name)
        {
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

    fn at_prefecture<'t>(
        &self,
        p: u32,
        rest: &'t str,
        reason: impl Into<Cow<'static, str>>,
    ) -> Found<'_, 't> {
        let pref = &self.data.prefs[p as usize];
        let mut g = Found::empty(reason, rest);
        g.level = Level::Prefecture;
        g.pref = &pref.name;
        g.lon = pref.lon;
        g.lat = pref.lat;
        g.score = Level::Prefecture.base_score();
        g
    }

    fn at_city<'t>(
        &self,
        c: u32,
        rest: &'t str,
        reason: impl Into<Cow<'static, str>>,
    ) -> Found<'_, 't> {
        let city = &self.data.cities[c as usize];
        let mut g = self.at_prefecture(city.pref, rest, reason);
        g.level = Level::City;
        g.city = &self.city_names[c as usize];
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
            let exact = |n: u32, n2: u32| self.residence(town_id, [b, n, n2]);
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
                    r.reasons.push(
                        match n {
                            Some(n) => format!("住居番号 {b}-{n} not in the ABR; matched the 街区"),
                            None => "no 住居番号 after the 街区".to_string(),
                        }
                        .into(),
                    );
                } else {
                    r.reasons
                        .push(format!("街区 {b} not in the ABR for this town").into());
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
            let lookup = |k: (u32, u32, u32)| self.parcel(town_id, [k.0, k.1, k.2]);
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
                Some(_) => r.reasons.push(
                    format!(
                        "地番 {} is in the ABR without a position",
                        dash_joined(nums)
                    )
                    .into(),
                ),
                None => r
                    .reasons
                    .push(format!("地番 {} not in the ABR", dash_joined(nums)).into()),
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
    fn answer<'t>(&self, r: Resolved<'t>) -> Found<'_, 't> {
        let town = self.data.towns.get(r.town);
        let mut g = self.at_city(town.city, "", "");
        g.level = r.level;
        g.town = town.name;
        g.koaza = town.koaza;
        (g.lon, g.lat) = (r.lon, r.lat);
        g.numbers = r.nums.prefix(r.used);
        g.score = r.level.base_score() - if r.remainder.is_empty() { 0.0 } else { 0.05 };
        g.remainder = r.remainder;
        let mut reasons = r.reasons.into_iter();
        if let Some(first) = reasons.next() {
            g.reason = first;
            for more in reasons {
                g.add_reason(more);
            }
        }
        g
    }

    /// The 住居表示 address `numbers` (街区, 住居番号, 枝番) of `town`: a
    /// binary search among the town's addresses only (a few hundred, in a
    /// few cache lines).
    fn residence(&self, town: u32, numbers: [u32; 3]) -> Option<Residence> {
        let rows = self.residences_of(town);
        let [a, b, c] = numbers;
        let i = rows
            .binary_search_by_key(&(a, b, c), |r| (r.block, r.number, r.number2))
            .ok()?;
        Some(rows[i])
    }

    /// The 地番 `numbers` (本番, 枝番, 孫番) of `town`.
    fn parcel(&self, town: u32, numbers: [u32; 3]) -> Option<Parcel> {
        let rows = self.parcels_of(town);
        let [a, b, c] = numbers;
        let i = rows
            .binary_search_by_key(&(a, b, c), |p| (p.n1, p.n2, p.n3))
            .ok()?;
        Some(rows[i])
    }

    fn residences_of(&self, town: u32) -> &[Residence] {
        let (lo, hi) = self.residence_ranges[town as usize];
        &self.data.residences[lo as usize..hi as usize]
    }

    fn parcels_of(&self, town: u32) -> &[Parcel] {
        let (lo, hi) = self.parcel_ranges[town as usize];
        &self.data.parcels[lo as usize..hi as usize]
    }
}

/// Per town, the range of rows of a table sorted by town.
fn ranges_by_town(towns: usize, rows: impl Iterator<Item = u32>) -> Vec<(u32, u32)> {
    let mut ranges = vec![(0u32, 0u32); towns];
    for (i, town) in rows.enumerate() {
        let Some(range) = ranges.get_mut(town as usize) else {
            continue;
        };
        if range.1 == 0 {
            range.0 = i as u32;
        }
        range.1 = i as u32 + 1;
    }
    ranges
}

/// A town reading with its numbers looked up, before it becomes an answer.
struct Resolved<'t> {
    town: u32,
    level: Level,
    lon: f64,
    lat: f64,
    nums: Numbers,
    /// How many of `nums` the match used.
    used: usize,
    /// What was not used: building, room, or text that matched nothing.
    remainder: std::borrow::Cow<'t, str>,
    reasons: Vec<Cow<'static, str>>,
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
    // Digits and spaces are ASCII: bytes of other characters never match.
    let bytes = canon.as_bytes();
    let mut head_end = bytes
        .iter()
        .position(u8::is_ascii_digit)
        .unwrap_or(bytes.len());
    if memchr::memchr(b' ', &bytes[..head_end]).is_some() {
        let tail = canon.split_off(head_end);
        canon.retain(|c| c != ' ');
        head_end = canon.len();
        canon.push_str(&tail);
    }
    if memchr::memchr(b' ', &canon.as_bytes()[head_end..]).is_some() {
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
/// numbers, between a number and the word after it (「5 丁目」, 「12 番」), and
/// after 丁目/番/番地 before the next number of the address — but not before
/// a room number (「1-2-3 302」) or a building (「41番地 12番丁ハイツ」).
fn close_number_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == ' ' {
            // What is already written, and what comes.
            let before = out.as_str();
            let after = s[i + 1..].trim_start_matches(' ');
            let digit_before = before.ends_with(|c: char| c.is_ascii_digit());
            let closes = (before.ends_with('-') && after.starts_with(|c: char| c.is_ascii_digit()))
                || (digit_before && after.starts_with('-'))
                || (digit_before && NUMBER_WORDS.iter().any(|w| after.starts_with(w)))
                || (before.ends_with("丁目") && starts_numbered(after, &["番", "号", "-", ""]))
                || ((before.ends_with('番') || before.ends_with("番地"))
                    && starts_numbered(after, &["号", "-"]));
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

/// Words that end a number of the address.
const NUMBER_WORDS: [&str; 7] = ["丁目", "丁", "番地", "番", "号", "条", "地割"];

/// A number followed by one of `words` (`""` for the end of the text): part
/// of the address, not a room or a building (「2番 3号」, not 「1番 302」 or
/// 「12番丁ハイツ」).
fn starts_numbered(s: &str, words: &[&str]) -> bool {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && {
        // 「4 番」: the space before the word is closed in its turn.
        let rest = s[digits..].trim_start_matches(' ');
        words.iter().any(|w| {
            if w.is_empty() {
                rest.is_empty()
            } else {
                rest.starts_with(w)
            }
        })
    }
}

/// What may follow a town named without its city: the numbers, a space, or
/// nothing — not more unknown text, which would make a guess of any word.
fn plausible_after_town(rest: &str) -> bool {
    rest.is_empty()
        || rest.starts_with(|c: char| c.is_ascii_digit() || c == ' ' || c == '-')
        || rest.starts_with('第')
}

/// Whether a note says a name was matched though not written as the
/// reference writes it: such answers score 0.1 less.
fn is_respelling(note: &str) -> bool {
    note.contains("variant character") || note.contains("character differing")
}

/// What may follow a town name that was not written as the reference
/// writes it: the numbers, a 小字, or nothing.
fn plausible_after_respelling(rest: &str) -> bool {
    plausible_after_town(rest)
        || ["字", "小字", "大字", "丁目", "丁", "番", "号", "条"]
            .iter()
            .any(|w| rest.starts_with(w))
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
        assert_eq!(t("今福 5 丁目 4 番 26 号"), "今福5丁目4番26号");
        assert_eq!(
            t("十二番丁41番地 12番丁ハイツ"),
            "十二番丁41番地 12番丁ハイツ"
        );
        assert_eq!(t("白山1番 302"), "白山1番 302");
        assert_eq!(t("白山1-2-3 302"), "白山1-2-3 302");
        assert_eq!(t("白山1-2-3 メゾン 201"), "白山1-2-3 メゾン 201");
        // A note that never closes is text, not a note.
        assert_eq!(t("(文京区白山1"), "(文京区白山1");
    }
}
