//! 帯状疱疹 (shingles) vaccination records of residents aged 65+: one row per
//! dose. Uptake varies by 250 m cell — a few cells fall far below the
//! ward's average — so outreach has somewhere to go.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use super::population::Person;

pub const HEADER: [&str; 4] = ["住民票コード", "ワクチン", "接種回", "接種日"];
pub const RECOMBINANT: &str = "帯状疱疹(組換え)";
pub const LIVE: &str = "帯状疱疹(生)";

/// The routine programme started on 2025-04-01.
pub fn programme_start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 4, 1).expect("valid date")
}

/// Each cell's uptake: around 45 %, one cell in eight between 8 and 20 %.
pub fn cell_uptake(meshes: &[u64], rng: &mut ChaCha8Rng) -> BTreeMap<u64, f64> {
    let normal: Normal<f64> = Normal::new(0.45, 0.08).expect("valid normal");
    meshes
        .iter()
        .map(|&m| {
            let u = if rng.random_bool(0.125) {
                rng.random_range(0.08..0.20)
            } else {
                normal.sample(rng).clamp(0.2, 0.75)
            };
            (m, u)
        })
        .collect()
}

/// The dose rows of one resident, as (vaccine, dose, date).
pub fn doses(
    person: &Person,
    uptake: f64,
    as_of: NaiveDate,
    rng: &mut ChaCha8Rng,
) -> Vec<(&'static str, u8, NaiveDate)> {
    if person.age_on(as_of) < 65 {
        return vec![];
    }
    // Those needing care reach the clinic less often.
    let p = if person.care.is_some_and(|c| c >= 4) {
        uptake * 0.6
    } else {
        uptake
    };
    if !rng.random_bool(p.clamp(0.0, 1.0)) {
        return vec![];
    }
    let start = programme_start();
    let span = (as_of - start).num_days().max(1);
    let first = start + chrono::Duration::days(rng.random_range(0..span));
    if rng.random_bool(0.3) {
        return vec![(LIVE, 1, first)];
    }
    let mut out = vec![(RECOMBINANT, 1, first)];
    let second = first + chrono::Duration::days(rng.random_range(60..=180));
    if second < as_of && rng.random_bool(0.85) {
        out.push((RECOMBINANT, 2, second));
    }
    out
}
