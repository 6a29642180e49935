//! The registry in memory: residents, each with a list of versions, and the
//! log of applied 異動.
//!
//! History is kept as versions: each [`Version`] says where and with whom a
//! resident is registered (or that they moved out or died) from its date
//! until the next version's date. "As of D" is the last version dated on or
//! before D. Who a person is ([`Person`]: name, birth date, care flags) is
//! kept as last reported, without history. Ages are never stored: they are
//! computed from the birth date on the date asked about.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::date::days;
use super::record::{Person, Placement};
use super::values::ChangeKind;

/// Whether a resident is on the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Registered,
    MovedOut,
    Dead,
}

/// One stretch of a resident's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// First day this version holds; it holds until the next version's day.
    #[serde(with = "days")]
    pub from: NaiveDate,
    pub status: Status,
    /// The placement; after a 転出 or 死亡, the last one held.
    pub placement: Placement,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resident {
    /// 住民票コード
    pub id: String,
    pub person: Person,
    /// Ordered by `from`; never empty.
    pub versions: Vec<Version>,
}

impl Resident {
    pub fn new(id: String, person: Person, first: Version) -> Resident {
        Resident {
            id,
            person,
            versions: vec![first],
        }
    }

    /// The version in force on `date`; `None` before the first one.
    pub fn version_on(&self, date: NaiveDate) -> Option<&Version> {
        let after = self.versions.partition_point(|v| v.from <= date);
        after.checked_sub(1).map(|i| &self.versions[i])
    }

    /// The latest version.
    pub fn current(&self) -> &Version {
        self.versions
            .last()
            .expect("a resident has at least one version")
    }
}

/// Identity of an applied 異動: a hash of the resident, the 異動日, the
/// 異動事由 and the values the row carries. The same row applied again has the
/// same identity and is skipped.
pub type EventId = [u8; 16];

/// One applied 異動, for idempotence and audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedEvent {
    pub id: EventId,
    pub resident_id: String,
    #[serde(with = "days")]
    pub date: NaiveDate,
    pub kind: ChangeKind,
    /// `file:line` of the row it came from.
    pub source: String,
}

/// Where the registry's history starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// The full export it was imported from.
    pub source: String,
    /// The export's date; history of rows without 異動日 starts here.
    #[serde(with = "days")]
    pub as_of: NaiveDate,
    /// The municipality the registry is of (a name or 全国地方公共団体コード,
    /// as given at import): the city of its addresses that name none.
    /// Empty when not given; it is then inferred from the addresses.
    pub city: Vec<String>,
}

/// The whole registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    pub baseline: Baseline,
    /// Sorted by 住民票コード, unique. A sorted vector rather than a map:
    /// it loads twice as fast, and lookups are a binary search.
    pub(crate) residents: Vec<Resident>,
    /// Applied deltas' events, in the order applied.
    pub(crate) events: Vec<AppliedEvent>,
    /// Position of each event in `events` by id; rebuilt on load.
    #[serde(skip)]
    pub(crate) applied: HashMap<EventId, usize>,
}

impl Registry {
    /// A registry of `residents`, whose ids must be unique.
    pub fn new(baseline: Baseline, mut residents: Vec<Resident>) -> Registry {
        residents.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        debug_assert!(residents.windows(2).all(|w| w[0].id != w[1].id));
        Registry {
            baseline,
            residents,
            events: Vec::new(),
            applied: HashMap::new(),
        }
    }

    /// Rebuilds the index of applied events after deserialising.
    pub(crate) fn index_events(&mut self) {
        self.applied = self
            .events
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id, i))
            .collect();
    }

    /// Every resident ever known, registered or not, by 住民票コード.
    pub fn residents(&self) -> &[Resident] {
        &self.residents
    }

    pub fn resident(&self, resident_id: &str) -> Option<&Resident> {
        let i = self
            .residents
            .binary_search_by(|r| r.id.as_str().cmp(resident_id))
            .ok()?;
        Some(&self.residents[i])
    }

    /// Number of residents ever known.
    pub fn known(&self) -> usize {
        self.residents.len()
    }

    pub fn events(&self) -> &[AppliedEvent] {
        &self.events
    }

    /// The residents registered on `date`, with their placement on that date,
    /// by 住民票コード.
    pub fn as_of(&self, date: NaiveDate) -> impl Iterator<Item = ResidentView<'_>> {
        self.residents
            .iter()
            .filter_map(move |resident| ResidentView::on(resident, date))
    }

    /// One resident on `date`, if registered then.
    pub fn view(&self, resident_id: &str, date: NaiveDate) -> Option<ResidentView<'_>> {
        ResidentView::on(self.resident(resident_id)?, date)
    }

    /// How many residents are registered on `date`.
    pub fn count_as_of(&self, date: NaiveDate) -> usize {
        self.as_of(date).count()
    }
}

/// A resident as registered on one date.
#[derive(Debug, Clone, Copy)]
pub struct ResidentView<'a> {
    pub resident: &'a Resident,
    /// The version in force on the date asked about.
    pub version: &'a Version,
}

impl<'a> ResidentView<'a> {
    fn on(resident: &'a Resident, date: NaiveDate) -> Option<Self> {
        let version = resident.version_on(date)?;
        (version.status == Status::Registered).then_some(ResidentView { resident, version })
    }

    /// 住民票コード
    pub fn resident_id(&self) -> &'a str {
        &self.resident.id
    }

    pub fn person(&self) -> &'a Person {
        &self.resident.person
    }

    pub fn placement(&self) -> &'a Placement {
        &self.version.placement
    }

    pub fn household_id(&self) -> &'a str {
        &self.version.placement.household_id
    }

    pub fn address(&self) -> &'a str {
        &self.version.placement.address
    }

    /// Completed years on `date`; `None` when the birth date's precision
    /// (a year or a month only) leaves the age open on that date.
    pub fn age_on(&self, date: NaiveDate) -> Option<u32> {
        self.resident.person.birth_date.age_on(date)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::date::PartialDate;
    use crate::values::Sex;

    pub fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    pub fn person(name: &str, born: NaiveDate) -> Person {
        Person {
            name: name.into(),
            name_kana: String::new(),
            birth_date: PartialDate::day(born),
            sex: Sex::Female,
            needs_support: false,
            care_level: None,
            disability: false,
        }
    }

    /// 佐藤 花子, registered at 白山一丁目1番1号 since 2020-04-01.
    pub fn hanako() -> Resident {
        Resident::new(
            "1".into(),
            person("佐藤 花子", ymd(1940, 3, 2)),
            Version {
                from: ymd(2020, 4, 1),
                status: Status::Registered,
                placement: placement("H1", "白山一丁目1番1号"),
            },
        )
    }

    /// A registry of one resident, [`hanako`].
    pub fn one_resident_registry(source: &str) -> Registry {
        let resident = hanako();
        Registry::new(
            Baseline {
                source: source.into(),
                as_of: ymd(2025, 4, 1),
                city: Vec::new(),
            },
            vec![resident],
        )
    }

    pub fn placement(household: &str, address: &str) -> Placement {
        Placement {
            household_id: household.into(),
            relationship: "世帯主".into(),
            address: address.into(),
            address_extra: String::new(),
        }
    }

    #[test]
    fn versions_answer_as_of() {
        let mut r = hanako();
        r.versions.push(Version {
            from: ymd(2024, 6, 10),
            status: Status::Registered,
            placement: placement("H1", "本郷二丁目3-5"),
        });
        r.versions.push(Version {
            from: ymd(2025, 1, 15),
            status: Status::MovedOut,
            placement: placement("H1", "本郷二丁目3-5"),
        });
        let reg = Registry::new(
            Baseline {
                source: "test".into(),
                as_of: ymd(2024, 1, 1),
                city: Vec::new(),
            },
            vec![r],
        );
        assert!(reg.view("1", ymd(2020, 3, 31)).is_none());
        assert_eq!(
            reg.view("1", ymd(2020, 4, 1)).unwrap().address(),
            "白山一丁目1番1号"
        );
        assert_eq!(
            reg.view("1", ymd(2024, 6, 9)).unwrap().address(),
            "白山一丁目1番1号"
        );
        assert_eq!(
            reg.view("1", ymd(2024, 6, 10)).unwrap().address(),
            "本郷二丁目3-5"
        );
        assert!(reg.view("1", ymd(2025, 1, 14)).is_some());
        assert!(reg.view("1", ymd(2025, 1, 15)).is_none());
        assert_eq!(reg.count_as_of(ymd(2024, 12, 31)), 1);
        assert_eq!(reg.count_as_of(ymd(2025, 12, 31)), 0);
        assert_eq!(reg.known(), 1);
        let v = reg.view("1", ymd(2025, 1, 1)).unwrap();
        assert_eq!(v.age_on(ymd(2025, 3, 1)), Some(84));
        assert_eq!(v.age_on(ymd(2025, 3, 2)), Some(85));
    }
}
