//! Residents and households on the real addresses, fitted to the census.
//!
//! 1. Each 町丁目's census population is spread over its ABR addresses,
//!    weighted by the density of the address's 250 m cell and a log-normal
//!    building size, so the 町丁目 totals are exact.
//! 2. Each 250 m cell's people are split into age bands (0–14, 15–64,
//!    65–74, 75+) exactly in the cell's census shares (largest remainder).
//! 3. Those people form households — elderly living alone, elderly couples,
//!    families with children (some with a grandparent), young singles,
//!    couples and sharers — in the cell's census proportions, and each
//!    household is placed on an address of the cell with room left.
//! 4. Sex, exact age, names, 続柄 and care flags (要介護度, 障害,
//!    避難行動要支援者) follow from the household's make-up.

use std::collections::{BTreeMap, BinaryHeap};

use chrono::{Datelike, Months, NaiveDate};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use super::city::City;
use super::names;

/// Age bands the census mesh table gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Band {
    Child,
    Adult,
    YoungOld,
    OldOld,
}

impl Band {
    pub fn of_age(age: u32) -> Band {
        match age {
            0..=14 => Band::Child,
            15..=64 => Band::Adult,
            65..=74 => Band::YoungOld,
            _ => Band::OldOld,
        }
    }
}

/// 要介護度 labels, mildest first.
pub const CARE_LEVELS: [&str; 7] = [
    "要支援1",
    "要支援2",
    "要介護1",
    "要介護2",
    "要介護3",
    "要介護4",
    "要介護5",
];

#[derive(Debug, Clone)]
pub struct Person {
    pub id: u64,
    pub household: usize,
    pub male: bool,
    pub birth: NaiveDate,
    pub relationship: &'static str,
    pub surname: u16,
    pub given: (&'static str, &'static str),
    /// Index into [`CARE_LEVELS`].
    pub care: Option<u8>,
    pub disability: bool,
    pub needs_support: bool,
    /// When the resident came to live here (birth for those born here).
    pub moved_on: NaiveDate,
    pub born_here: bool,
}

impl Person {
    pub fn name(&self) -> String {
        format!(
            "{}　{}",
            names::SURNAMES[self.surname as usize].0,
            self.given.0
        )
    }

    pub fn kana(&self) -> String {
        format!(
            "{} {}",
            names::SURNAMES[self.surname as usize].1,
            self.given.1
        )
    }

    pub fn age_on(&self, day: NaiveDate) -> u32 {
        age_on(self.birth, day)
    }
}

pub fn age_on(birth: NaiveDate, day: NaiveDate) -> u32 {
    let mut age = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age.max(0) as u32
}

#[derive(Debug, Clone)]
pub struct Household {
    pub id: u64,
    /// Index into the city's addresses.
    pub address: usize,
    /// 方書: building and room, empty for a house.
    pub extra: String,
    /// Indexes into the people, head first.
    pub members: Vec<usize>,
}

pub struct Population {
    pub people: Vec<Person>,
    pub households: Vec<Household>,
}

/// Who lives together, before ages and names are drawn.
#[derive(Debug, Clone)]
enum Kind {
    ElderAlone(Band),
    ElderCouple(Band, Band),
    /// Parents (15–64), children, optional grandparent.
    Family {
        parents: u8,
        children: u8,
        /// Children aged 15–64 still at home.
        adult_children: u8,
        grandparent: Option<Band>,
    },
    /// An elder with an adult child.
    ElderWithChild(Band),
    YoungAlone,
    YoungCouple,
    Sharers(u8),
}

impl Kind {
    fn size(&self) -> u32 {
        match self {
            Kind::ElderAlone(_) | Kind::YoungAlone => 1,
            Kind::ElderCouple(..) | Kind::ElderWithChild(_) | Kind::YoungCouple => 2,
            Kind::Family {
                parents,
                children,
                adult_children,
                grandparent,
            } => (*parents + *children + *adult_children) as u32 + grandparent.is_some() as u32,
            Kind::Sharers(n) => *n as u32,
        }
    }
}

/// Splits `total` into integer parts proportional to `weights`, summing to
/// `total` exactly (largest remainder; ties by index, for determinism).
pub fn apportion(total: u32, weights: &[f64]) -> Vec<u32> {
    let sum: f64 = weights.iter().sum();
    if weights.is_empty() {
        return vec![];
    }
    if sum <= 0.0 {
        let mut out = vec![0; weights.len()];
        out[0] = total;
        return out;
    }
    let exact: Vec<f64> = weights.iter().map(|w| total as f64 * w / sum).collect();
    let mut out: Vec<u32> = exact.iter().map(|x| x.floor() as u32).collect();
    let mut left = total - out.iter().sum::<u32>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| {
        let (ra, rb) = (exact[a] - exact[a].floor(), exact[b] - exact[b].floor());
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    for &i in order.iter().cycle() {
        if left == 0 {
            break;
        }
        out[i] += 1;
        left -= 1;
    }
    out
}

/// Draws the city's population: `target` people (the census total when
/// `None`), registered as of `as_of`.
pub fn generate(
    city: &City,
    target: Option<u32>,
    as_of: NaiveDate,
    rng: &mut ChaCha8Rng,
) -> Population {
    let census_total: u32 = city.towns.iter().map(|t| t.population).sum();
    let total = target.unwrap_or(census_total).min(census_total);
    let town_targets = apportion(
        total,
        &city
            .towns
            .iter()
            .map(|t| t.population as f64)
            .collect::<Vec<_>>(),
    );

    // 1. People per address.
    let mut per_mesh_addresses: BTreeMap<u64, usize> = BTreeMap::new();
    for a in &city.addresses {
        *per_mesh_addresses.entry(a.mesh).or_default() += 1;
    }
    let building = LogNormal::new(0.0, 0.9).expect("valid log-normal");
    let weights: Vec<f64> = city
        .addresses
        .iter()
        .map(|a| {
            // Cells the census lists without residents (parks, campuses,
            // Tokyo Dome) or not at all get nobody.
            let density = city
                .meshes
                .get(&a.mesh)
                .map_or(0.0, |m| m.population as f64)
                / per_mesh_addresses[&a.mesh] as f64;
            density * building.sample(rng)
        })
        .collect();
    let mut capacity = vec![0u32; city.addresses.len()];
    for (t, &people) in town_targets.iter().enumerate() {
        let idx: Vec<usize> = (0..city.addresses.len())
            .filter(|&i| city.addresses[i].town == t)
            .collect();
        let parts = apportion(people, &idx.iter().map(|&i| weights[i]).collect::<Vec<_>>());
        for (&i, n) in idx.iter().zip(parts) {
            capacity[i] = n;
        }
    }

    // 2–3. Households per 250 m cell.
    let mut by_mesh: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    for (i, a) in city.addresses.iter().enumerate() {
        by_mesh.entry(a.mesh).or_default().push(i);
    }
    let mut pop = Population {
        people: Vec::with_capacity(total as usize),
        households: Vec::new(),
    };
    let mut building_rooms: Vec<u32> = vec![0; city.addresses.len()];
    for (mesh, addresses) in &by_mesh {
        let people: u32 = addresses.iter().map(|&i| capacity[i]).sum();
        if people == 0 {
            continue;
        }
        let stats = city.meshes.get(mesh).copied().unwrap_or_default();
        let detail = *stats.detail(&city.meshes);
        let quotas = apportion(people, &detail.band_shares());
        let rate = |x: u32| {
            if detail.population == 0 {
                0.0
            } else {
                x as f64 / detail.population as f64
            }
        };
        let kinds = household_kinds(
            quotas,
            rate(detail.elderly_single),
            rate(detail.elderly_couple),
            // 文京区 proper has fewer people living alone than the cells around
            // it (1.80 people per household against 1.73).
            0.88 * rate(detail.one_person.saturating_sub(detail.elderly_single)),
            rng,
        );
        // Place the largest households first, each on the address of the
        // cell with the most room left; singles fill the last gaps exactly.
        let mut room: BinaryHeap<(u32, std::cmp::Reverse<usize>)> = addresses
            .iter()
            .map(|&i| (capacity[i], std::cmp::Reverse(i)))
            .collect();
        let p85 = if detail.age_75 > 0 {
            detail.age_85 as f64 / detail.age_75 as f64
        } else {
            0.35
        };
        for kind in kinds {
            let size = kind.size();
            let (left, std::cmp::Reverse(address)) = room.pop().expect("addresses in the cell");
            room.push((left.saturating_sub(size), std::cmp::Reverse(address)));
            add_household(&mut pop, kind, address, as_of, p85, rng);
            building_rooms[address] += 1;
        }
    }

    // 方書 for buildings holding several households.
    let mut next_room: Vec<u32> = vec![0; city.addresses.len()];
    let names: Vec<String> = (0..city.addresses.len())
        .map(|i| building_name(city, i, rng))
        .collect();
    for h in &mut pop.households {
        let a = h.address;
        if building_rooms[a] >= 3 {
            let n = next_room[a];
            next_room[a] += 1;
            let floors_rooms = 6;
            let room = (n / floors_rooms + 1) * 100 + n % floors_rooms + 1;
            h.extra = format!("{}{}号室", names[a], room);
        }
    }
    care_flags(&mut pop, as_of, rng);
    pop
}

/// The make-up of a cell's households, consuming the band quotas exactly.
fn household_kinds(
    quotas: Vec<u32>,
    elderly_single_rate: f64,
    elderly_couple_rate: f64,
    young_single_rate: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<Kind> {
    let (mut children, mut adults, mut young_old, mut old_old) =
        (quotas[0], quotas[1], quotas[2], quotas[3]);
    let people = children + adults + young_old + old_old;
    let mut kinds = Vec::new();
    let take_elder = |young_old: &mut u32, old_old: &mut u32, rng: &mut ChaCha8Rng| {
        let total = *young_old + *old_old;
        if total == 0 {
            return None;
        }
        if rng.random_range(0..total) < *old_old {
            *old_old -= 1;
            Some(Band::OldOld)
        } else {
            *young_old -= 1;
            Some(Band::YoungOld)
        }
    };
    let round = |x: f64| x.round() as u32;

    let alone = round(people as f64 * elderly_single_rate).min(young_old + old_old);
    for _ in 0..alone {
        if let Some(b) = take_elder(&mut young_old, &mut old_old, rng) {
            kinds.push(Kind::ElderAlone(b));
        }
    }
    let couples = round(people as f64 * elderly_couple_rate).min((young_old + old_old) / 2);
    for _ in 0..couples {
        if let (Some(a), Some(b)) = (
            take_elder(&mut young_old, &mut old_old, rng),
            take_elder(&mut young_old, &mut old_old, rng),
        ) {
            kinds.push(Kind::ElderCouple(a, b));
        }
    }
    // Families: about 1.7 children each, one or two parents.
    if children > 0 {
        let families = ((children as f64 / 1.7).round() as u32).clamp(1, children);
        let mut per_family = vec![1u8; families as usize];
        for _ in families..children {
            let i = rng.random_range(0..per_family.len());
            per_family[i] = per_family[i].saturating_add(1);
        }
        for kids in per_family {
            let parents = if adults >= 2 && rng.random_bool(0.88) {
                2
            } else if adults >= 1 {
                1
            } else {
                0
            };
            adults -= parents;
            let grandparent = if rng.random_bool(0.07) {
                take_elder(&mut young_old, &mut old_old, rng)
            } else {
                None
            };
            // Without any adult left, an elder heads the family.
            let grandparent = if parents == 0 && grandparent.is_none() {
                take_elder(&mut young_old, &mut old_old, rng)
            } else {
                grandparent
            };
            let adult_children = if adults > 0 && rng.random_bool(0.25) {
                1
            } else {
                0
            };
            adults -= adult_children;
            kinds.push(Kind::Family {
                parents: parents as u8,
                children: kids,
                adult_children: adult_children as u8,
                grandparent,
            });
        }
        children = 0;
    }
    // Remaining elders: couples, alone, or with an adult child.
    while young_old + old_old > 0 {
        let x: f64 = rng.random();
        let a = take_elder(&mut young_old, &mut old_old, rng).expect("elders left");
        if x < 0.25 && adults > 0 {
            adults -= 1;
            kinds.push(Kind::ElderWithChild(a));
        } else if x < 0.65 && young_old + old_old > 0 {
            let b = take_elder(&mut young_old, &mut old_old, rng).expect("elders left");
            kinds.push(Kind::ElderCouple(a, b));
        } else {
            kinds.push(Kind::ElderAlone(a));
        }
    }
    // Remaining adults: singles as the census says, then couples and sharers.
    let singles = round(people as f64 * young_single_rate).min(adults);
    for _ in 0..singles {
        kinds.push(Kind::YoungAlone);
    }
    adults -= singles;
    while adults > 0 {
        if adults >= 3 && rng.random_bool(0.3) {
            // Parents with grown children at home.
            let grown = if adults >= 4 && rng.random_bool(0.35) {
                2
            } else {
                1
            };
            adults -= 2 + grown;
            kinds.push(Kind::Family {
                parents: 2,
                children: 0,
                adult_children: grown as u8,
                grandparent: None,
            });
        } else if adults >= 3 && rng.random_bool(0.06) {
            adults -= 3;
            kinds.push(Kind::Sharers(3));
        } else if adults >= 2 && rng.random_bool(0.8) {
            adults -= 2;
            kinds.push(Kind::YoungCouple);
        } else {
            adults -= 1;
            kinds.push(Kind::YoungAlone);
        }
    }
    debug_assert_eq!(children, 0);
    kinds.shuffle(rng);
    // Largest first, so that the last, single-person households fill the
    // addresses' remaining room exactly.
    kinds.sort_by_key(|k| std::cmp::Reverse(k.size()));
    kinds
}

fn adult_age(rng: &mut ChaCha8Rng) -> u32 {
    // 文京区's 15–64 population by five-year group (students and young workers).
    const GROUPS: [f64; 10] = [0.06, 0.13, 0.14, 0.12, 0.11, 0.11, 0.11, 0.09, 0.07, 0.06];
    let mut x: f64 = rng.random::<f64>() * GROUPS.iter().sum::<f64>();
    for (i, w) in GROUPS.iter().enumerate() {
        if x < *w {
            return 15 + 5 * i as u32 + rng.random_range(0..5);
        }
        x -= w;
    }
    40
}

fn elder_age(band: Band, p85: f64, rng: &mut ChaCha8Rng) -> u32 {
    match band {
        Band::YoungOld => rng.random_range(65..=74),
        _ => {
            if rng.random_bool(p85.clamp(0.0, 1.0)) {
                if rng.random_bool(0.08) {
                    rng.random_range(95..=102)
                } else {
                    rng.random_range(85..=94)
                }
            } else {
                rng.random_range(75..=84)
            }
        }
    }
}

/// A birth date giving exactly `age` on `as_of`.
fn birth_for_age(age: u32, as_of: NaiveDate, rng: &mut ChaCha8Rng) -> NaiveDate {
    let latest = as_of
        .checked_sub_months(Months::new(12 * age))
        .unwrap_or(as_of);
    let earliest = as_of
        .checked_sub_months(Months::new(12 * (age + 1)))
        .and_then(|d| d.succ_opt())
        .unwrap_or(latest);
    let span = (latest - earliest).num_days().max(0);
    earliest + chrono::Duration::days(rng.random_range(0..=span))
}

fn add_household(
    pop: &mut Population,
    kind: Kind,
    address: usize,
    as_of: NaiveDate,
    p85: f64,
    rng: &mut ChaCha8Rng,
) {
    let h = pop.households.len();
    let surname = names::surname(rng);
    // (age, male, 続柄)
    let mut members: Vec<(u32, bool, &'static str)> = Vec::new();
    let head_male = rng.random_bool(0.78);
    let spouse = |male: bool| if male { "夫" } else { "妻" };
    match kind {
        Kind::ElderAlone(b) => {
            let female = if b == Band::OldOld { 0.72 } else { 0.62 };
            members.push((elder_age(b, p85, rng), !rng.random_bool(female), "世帯主"));
        }
        Kind::ElderCouple(a, b) => {
            members.push((elder_age(a, p85, rng), head_male, "世帯主"));
            members.push((elder_age(b, p85, rng), !head_male, spouse(!head_male)));
        }
        Kind::ElderWithChild(b) => {
            let age = elder_age(b, p85, rng);
            members.push((age, rng.random_bool(0.3), "世帯主"));
            let child = (age.saturating_sub(rng.random_range(25..=38))).clamp(15, 64);
            members.push((child, rng.random_bool(0.5), "子"));
        }
        Kind::Family {
            parents,
            children,
            adult_children,
            grandparent,
        } => {
            let kids: Vec<u32> = (0..children).map(|_| rng.random_range(0..=14)).collect();
            let grown: Vec<u32> = (0..adult_children)
                .map(|_| rng.random_range(15..=29))
                .collect();
            let oldest = kids.iter().chain(&grown).copied().max().unwrap_or(0);
            let parent_age = (oldest + rng.random_range(26..=40)).clamp(18, 64);
            if parents > 0 {
                let male = if parents == 1 {
                    rng.random_bool(0.15)
                } else {
                    head_male
                };
                members.push((parent_age, male, "世帯主"));
                if parents == 2 {
                    let other = (parent_age as i32 + rng.random_range(-4..=3)).clamp(18, 64) as u32;
                    members.push((other, !male, spouse(!male)));
                }
            }
            if let Some(g) = grandparent {
                let age = elder_age(g, p85, rng);
                let male = rng.random_bool(0.3);
                let rel = if members.is_empty() {
                    "世帯主"
                } else if male {
                    "父"
                } else {
                    "母"
                };
                members.push((age, male, rel));
            }
            let child_rel = if parents == 0 { "孫" } else { "子" };
            for k in grown.into_iter().chain(kids) {
                members.push((k, rng.random_bool(0.51), child_rel));
            }
            if members[0].2 != "世帯主" {
                members[0].2 = "世帯主";
            }
        }
        Kind::YoungAlone => {
            let age = adult_age(rng).clamp(18, 64);
            members.push((age, rng.random_bool(0.52), "世帯主"));
        }
        Kind::YoungCouple => {
            let age = adult_age(rng).clamp(20, 64);
            let other = (age as i32 + rng.random_range(-4..=4)).clamp(18, 64) as u32;
            members.push((age, head_male, "世帯主"));
            let rel = if rng.random_bool(0.9) {
                spouse(!head_male)
            } else {
                "同居人"
            };
            members.push((other, !head_male, rel));
        }
        Kind::Sharers(n) => {
            for i in 0..n {
                let age = rng.random_range(18..=35);
                members.push((
                    age,
                    rng.random_bool(0.5),
                    if i == 0 { "世帯主" } else { "同居人" },
                ));
            }
        }
    }
    let first = pop.people.len();
    let mut household_moved = None;
    for (age, male, relationship) in members {
        let birth = birth_for_age(age, as_of, rng);
        let own_surname = if relationship == "同居人" {
            names::surname(rng)
        } else {
            surname
        };
        let born_here = relationship == "子" && age <= 6 && rng.random_bool(0.6);
        let moved_on = if born_here {
            birth
        } else {
            // When the household came; each adult 同居人 on their own date.
            let since = household_moved.unwrap_or_else(|| {
                let years = rng.random_range(0..=age.min(40)) as i64;
                let day = as_of - chrono::Duration::days(years * 365 + rng.random_range(1..365));
                day.max(birth)
            });
            if household_moved.is_none() {
                household_moved = Some(since);
            }
            since.max(birth)
        };
        pop.people.push(Person {
            id: 0,
            household: h,
            male,
            birth,
            relationship,
            surname: own_surname,
            given: names::given(rng, male, birth.year()),
            care: None,
            disability: false,
            needs_support: false,
            moved_on,
            born_here,
        });
    }
    pop.households.push(Household {
        id: 0,
        address,
        extra: String::new(),
        members: (first..pop.people.len()).collect(),
    });
}

fn building_name(city: &City, address: usize, rng: &mut ChaCha8Rng) -> String {
    const KINDS: [&str; 8] = [
        "ハイツ",
        "コーポ",
        "マンション",
        "レジデンス",
        "パレス",
        "ハウス",
        "グランドメゾン",
        "コート",
    ];
    let town = &city.towns[city.addresses[address].town];
    let kind = KINDS[rng.random_range(0..KINDS.len())];
    if rng.random_bool(0.5) {
        format!("{}{}", town.oaza, kind)
    } else {
        format!("{kind}{}", town.oaza)
    }
}

/// 要介護度, 障害 and 避難行動要支援者: rising with age, 要支援者 mostly
/// among the very old living alone and those with heavy care needs.
fn care_flags(pop: &mut Population, as_of: NaiveDate, rng: &mut ChaCha8Rng) {
    let alone: Vec<bool> = pop
        .households
        .iter()
        .map(|h| h.members.len() == 1)
        .collect();
    // National shares of each level among those certified.
    const LEVEL_WEIGHTS: [f64; 7] = [0.14, 0.14, 0.20, 0.17, 0.13, 0.12, 0.10];
    for p in &mut pop.people {
        let age = p.age_on(as_of);
        let certified = match age {
            0..=64 => 0.003,
            65..=74 => 0.04,
            75..=84 => 0.19,
            _ => 0.55,
        };
        if rng.random_bool(certified) {
            let mut x = rng.random::<f64>();
            let mut level = 0;
            for (i, w) in LEVEL_WEIGHTS.iter().enumerate() {
                if x < *w {
                    level = i;
                    break;
                }
                x -= w;
                level = i;
            }
            // The oldest need more care.
            if age >= 90 && level < 6 && rng.random_bool(0.3) {
                level += 1;
            }
            p.care = Some(level as u8);
        }
        p.disability = rng.random_bool(match age {
            0..=17 => 0.015,
            18..=64 => 0.03,
            _ => 0.09,
        });
        let lives_alone = alone[p.household];
        let heavy_care = p.care.is_some_and(|c| c >= 4);
        let any_care = p.care.is_some_and(|c| c >= 2);
        let support: f64 = if heavy_care {
            0.9
        } else if any_care && lives_alone {
            0.75
        } else if any_care {
            0.4
        } else if (age >= 75 && lives_alone) || (p.disability && age >= 18) {
            0.25
        } else if age >= 75 {
            0.03
        } else {
            0.0
        };
        p.needs_support = rng.random_bool(support);
    }
}
