//! Totals of the registry on one date: residents, households, sexes, the
//! age bands of Japanese statistics, and those needing help in an evacuation.

use std::collections::{BTreeMap, HashSet};

use chrono::NaiveDate;
use serde::Serialize;

use super::date::{age_on, PartialDate};
use super::model::Registry;
use super::values::{CareLevel, Sex};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub as_of: String,
    pub residents: usize,
    /// Distinct 世帯番号 among them.
    pub households: usize,
    pub male: usize,
    pub female: usize,
    /// 年少人口
    pub age_0_14: usize,
    /// 生産年齢人口
    pub age_15_64: usize,
    /// 老年人口 (includes 75+)
    pub age_65_plus: usize,
    /// 後期高齢者
    pub age_75_plus: usize,
    /// Residents whose birth date (a year or a month only) leaves the band
    /// open on this date.
    pub age_unknown: usize,
    /// 避難行動要支援者
    pub needs_support: usize,
    /// Residents with a 障害 flag.
    pub disability: usize,
    /// Residents per 要介護度, from 要支援1 to 要介護5; levels nobody has
    /// are left out.
    pub care_levels: Vec<(String, usize)>,
}

impl Summary {
    pub fn of(registry: &Registry, date: NaiveDate) -> Summary {
        let mut s = Summary {
            as_of: date.to_string(),
            residents: 0,
            households: 0,
            male: 0,
            female: 0,
            age_0_14: 0,
            age_15_64: 0,
            age_65_plus: 0,
            age_75_plus: 0,
            age_unknown: 0,
            needs_support: 0,
            disability: 0,
            care_levels: Vec::new(),
        };
        let mut households = HashSet::new();
        let mut care: BTreeMap<CareLevel, usize> = BTreeMap::new();
        for view in registry.as_of(date) {
            let person = view.person();
            s.residents += 1;
            households.insert(view.household_id());
            match person.sex {
                Sex::Male => s.male += 1,
                Sex::Female => s.female += 1,
            }
            match band(&person.birth_date, date) {
                Some(Band::Young) => s.age_0_14 += 1,
                Some(Band::Working) => s.age_15_64 += 1,
                Some(Band::Old) => s.age_65_plus += 1,
                Some(Band::Older) => {
                    s.age_65_plus += 1;
                    s.age_75_plus += 1;
                }
                None => s.age_unknown += 1,
            }
            s.needs_support += usize::from(person.needs_support);
            s.disability += usize::from(person.disability);
            if let Some(level) = person.care_level {
                *care.entry(level).or_default() += 1;
            }
        }
        s.households = households.len();
        s.care_levels = care
            .into_iter()
            .map(|(level, n)| (level.label().to_string(), n))
            .collect();
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Band {
    Young,
    Working,
    Old,
    Older,
}

fn band_of(age: u32) -> Band {
    match age {
        0..=14 => Band::Young,
        15..=64 => Band::Working,
        65..=74 => Band::Old,
        _ => Band::Older,
    }
}

/// The age band on `date`. A coarse birth date can still settle it (born
/// in 1940 is 65+ on any day of 2025), so both ends of the possible ages
/// are placed; `None` when they fall in different bands.
fn band(birth: &PartialDate, date: NaiveDate) -> Option<Band> {
    let youngest = band_of(age_on(birth.last_day(), date)?);
    let oldest = band_of(age_on(birth.first_day(), date)?);
    (youngest == oldest).then_some(oldest)
}

/// Numbers first: Japanese labels are double width, so padding them would
/// not line the numbers up.
impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "registry as of {}", self.as_of)?;
        let mut line = |n: usize, label: &str| writeln!(f, "{n:>10}  {label}");
        line(self.residents, "residents")?;
        line(self.households, "households")?;
        line(self.male, "male")?;
        line(self.female, "female")?;
        line(self.age_0_14, "age 0–14")?;
        line(self.age_15_64, "age 15–64")?;
        line(self.age_65_plus, "age 65+")?;
        line(self.age_75_plus, "age 75+")?;
        if self.age_unknown > 0 {
            line(
                self.age_unknown,
                "age not settled (birth year or month only)",
            )?;
        }
        line(self.needs_support, "避難行動要支援者")?;
        line(self.disability, "障害")?;
        for (level, n) in &self.care_levels {
            line(*n, level)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::date::parse_date;
    use crate::model::tests::{person, placement, ymd};
    use crate::model::{Baseline, Resident, Status, Version};

    fn resident(id: &str, birth: PartialDate, household: &str, needs_support: bool) -> Resident {
        let mut p = person("x", ymd(2000, 1, 1));
        p.birth_date = birth;
        p.needs_support = needs_support;
        Resident::new(
            id.into(),
            p,
            Version {
                from: ymd(2000, 1, 1),
                status: Status::Registered,
                placement: placement(household, "白山"),
            },
        )
    }

    #[test]
    fn bands_households_and_support() {
        let born = |t: &str| parse_date(t).unwrap();
        let residents = vec![
            resident("1", born("1940-03-02"), "H1", true),
            resident("2", born("1950-03-02"), "H1", false),
            resident("3", born("2015-06-01"), "H2", false),
            resident("4", born("1980"), "H2", false),
            resident("5", born("2010"), "H3", false),
        ];
        let reg = Registry::new(
            Baseline {
                source: "t".into(),
                as_of: ymd(2025, 1, 1),
                city: Vec::new(),
            },
            residents,
        );
        let s = Summary::of(&reg, ymd(2025, 3, 1));
        assert_eq!(s.residents, 5);
        assert_eq!(s.households, 3);
        // 1940-03-02 is 84 on 2025-03-01: 75+; 1950 is 74: 65+ only.
        assert_eq!((s.age_65_plus, s.age_75_plus), (2, 1));
        // Born in 1980 is 44 or 45: working age either way. Born in 2010 is
        // 14 or 15 on 2025-03-01: the band is open.
        assert_eq!((s.age_0_14, s.age_15_64, s.age_unknown), (1, 1, 1));
        assert_eq!(s.needs_support, 1);
        let later = Summary::of(&reg, ymd(2025, 12, 31));
        assert_eq!(
            (later.age_0_14, later.age_15_64, later.age_unknown),
            (1, 2, 0)
        );
    }
}
