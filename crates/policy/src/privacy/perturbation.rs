//! The cell-key method: noise on every count of people a role below exact
//! aggregates reads, the same noise for the same people in every table.
//!
//! This is how flexible table builders over microdata protect counts when
//! users may ask any table they like (ABS TableBuilder; the 2021 census of
//! England and Wales). Suppressing small cells, as chiiki did before, has
//! to know every other table a user can see to stop differencing, and it
//! cannot know the tables planners will create tomorrow. The cell-key
//! method does not need to:
//!
//! 1. Every resident has a fixed random **record key** in 0..=255, kept with
//!    the registry (`record_key`, shown to nobody).
//! 2. A cell's **cell key** is the sum of its members' record keys, mod 256.
//!    The same set of people has the same cell key in every table, however
//!    it was asked for (a mesh cell, a 町丁目, a filter); a set that differs
//!    by one person has an unrelated key.
//! 3. The published count is read from the **perturbation table**
//!    ([`PTable`]) at the row of the true count and the column of the cell
//!    key. The table is published here; its noise is what makes a
//!    difference of two tables, or an inclusion–exclusion of four,
//!    uncertain.
//!
//! The table (k = 3, the threshold of `privacy.k`), in 256ths:
//!
//! | true n     | published                                                   |
//! |------------|-------------------------------------------------------------|
//! | 0          | 0 (an empty cell stays empty)                               |
//! | 1 … k − 1  | 0 with 1 − n/k, k with n/k (unbiased)                       |
//! | k          | k: 192, k + 1: 48, k + 2: 16                                |
//! | k + 1      | k: 64, k + 1: 128, k + 2: 48, k + 3: 16                      |
//! | ≥ k + 2    | n − 2: 16, n − 1: 48, n: 128, n + 1: 48, n + 2: 16            |
//!
//! No published count is 1 … k − 1, so the small-cell suppression chiiki
//! used before is no longer needed: a published 0 may hide 1 or 2 people,
//! a published 3 may be 1 to 5. Above k + 1 the noise is unbiased with
//! variance 0.875. A **share** is the ratio of two perturbed counts, shown
//! only when its perturbed denominator is at least 2k; a **sum or mean of
//! an attribute** that is not a flag (a magnitude) is not shown below
//! exact aggregates at all.

use chiiki_analysis::disclosure::{MeasureKind, Table};

/// The published perturbation table for threshold `k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PTable {
    k: u64,
}

impl PTable {
    /// The table for small-count threshold `k` (at least 1).
    pub fn new(k: u64) -> PTable {
        PTable { k: k.max(1) }
    }

    pub fn k(&self) -> u64 {
        self.k
    }

    /// The row of true count `n`: each published value with its weight in
    /// 256ths (the weights sum to 256).
    pub fn row(&self, n: u64) -> Vec<(u64, u32)> {
        let k = self.k;
        match n {
            0 => vec![(0, 256)],
            n if n < k => {
                let up = ((256 * n + k / 2) / k) as u32;
                vec![(0, 256 - up), (k, up)]
            }
            n if n == k => vec![(k, 192), (k + 1, 48), (k + 2, 16)],
            n if n == k + 1 => vec![(k, 64), (k + 1, 128), (k + 2, 48), (k + 3, 16)],
            n => vec![(n - 2, 16), (n - 1, 48), (n, 128), (n + 1, 48), (n + 2, 16)],
        }
    }

    /// The published value of true count `n` in a cell whose key is `key`.
    ///
    /// ```
    /// use chiiki_policy::privacy::perturbation::PTable;
    /// let t = PTable::new(3);
    /// assert_eq!(t.perturb(0, 200), 0);
    /// assert!((0..=255).all(|key| !(1..3).contains(&t.perturb(2, key))));
    /// assert!((0..=255).all(|key| t.perturb(100, key).abs_diff(100) <= 2));
    /// ```
    pub fn perturb(&self, n: u64, key: u8) -> u64 {
        let mut cumulative = 0u32;
        let row = self.row(n);
        for &(value, weight) in &row {
            cumulative += weight;
            if (key as u32) < cumulative {
                return value;
            }
        }
        row.last().map_or(n, |r| r.0)
    }

    /// Every true count that may be published as `p`: what an attacker who
    /// knows this table (it is published) can say of a cell from its value.
    pub fn possible_truths(&self, p: u64) -> Vec<u64> {
        (0..=p + 2 + self.k)
            .filter(|&n| self.row(n).iter().any(|&(v, w)| v == p && w > 0))
            .collect()
    }
}

/// The cell key of a set of people: the sum of their record keys, mod 256.
pub fn cell_key(keys: impl IntoIterator<Item = u8>) -> u8 {
    keys.into_iter().fold(0u8, |acc, k| acc.wrapping_add(k))
}

/// The values of an aggregate of people as a role below exact aggregates
/// reads them, group-major (`values[g * measures + m]`), `None` where
/// nothing may be shown. `record_key` gives each counted person's key.
pub fn perturb_table(
    table: &Table,
    ptable: &PTable,
    record_key: &dyn Fn(i64) -> u8,
) -> Vec<Option<f64>> {
    const BITS: usize = 64;
    let groups = table.groups;
    // Per group and set bit: members and the sum of their keys (mod 256);
    // per group: everyone counted in it.
    let mut count = vec![0u64; groups * BITS];
    let mut key = vec![0u8; groups * BITS];
    let mut size = vec![0u64; groups];
    let mut size_key = vec![0u8; groups];
    for &(id, g, sets) in &table.records {
        let g = g as usize;
        let k = record_key(id);
        size[g] += 1;
        size_key[g] = size_key[g].wrapping_add(k);
        let mut bits = sets;
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            count[g * BITS + b] += 1;
            key[g * BITS + b] = key[g * BITS + b].wrapping_add(k);
            bits &= bits - 1;
        }
    }
    let published = |g: usize, set: Option<u8>| -> u64 {
        match set {
            Some(b) => {
                let i = g * BITS + b as usize;
                ptable.perturb(count[i], key[i])
            }
            None => ptable.perturb(size[g], size_key[g]),
        }
    };
    let mut out = Vec::with_capacity(groups * table.measures.len());
    for g in 0..groups {
        for kind in &table.measures {
            out.push(match *kind {
                MeasureKind::Count { set } => Some(published(g, Some(set)) as f64),
                MeasureKind::Ratio { num, den } => {
                    let (n, d) = (published(g, Some(num)), published(g, den));
                    (d >= 2 * ptable.k)
                        .then(|| ((n.min(d) as f64 / d as f64) * 10_000.0).round() / 10_000.0)
                }
                MeasureKind::Magnitude => None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_a_distribution_that_never_publishes_a_small_count() {
        for k in [2u64, 3, 5] {
            let t = PTable::new(k);
            for n in 0..200 {
                let row = t.row(n);
                assert_eq!(row.iter().map(|r| r.1).sum::<u32>(), 256, "k {k} n {n}");
                assert!(row.iter().all(|&(v, _)| v == 0 || v >= k), "k {k} n {n}");
                // Zero only from zero or a small count.
                assert!(n < k || row.iter().all(|&(v, _)| v > 0));
                let mean: f64 = row.iter().map(|&(v, w)| v as f64 * w as f64).sum::<f64>() / 256.0;
                if n < k || n >= k + 2 {
                    assert!((mean - n as f64).abs() < 0.02, "k {k} n {n}: mean {mean}");
                }
            }
        }
    }

    #[test]
    fn perturbing_follows_the_row_weights() {
        let t = PTable::new(3);
        for n in [1u64, 2, 3, 4, 10] {
            let mut got: std::collections::BTreeMap<u64, u32> = Default::default();
            for key in 0..=255u8 {
                *got.entry(t.perturb(n, key)).or_default() += 1;
            }
            let want: std::collections::BTreeMap<u64, u32> = t.row(n).into_iter().collect();
            assert_eq!(got, want, "n {n}");
        }
    }

    #[test]
    fn possible_truths_are_what_an_attacker_can_say() {
        let t = PTable::new(3);
        assert_eq!(t.possible_truths(0), vec![0, 1, 2]);
        assert_eq!(t.possible_truths(3), vec![1, 2, 3, 4, 5]);
        assert_eq!(t.possible_truths(10), vec![8, 9, 10, 11, 12]);
        for p in 0..50 {
            for n in t.possible_truths(p) {
                assert!((0..=255).any(|key| t.perturb(n, key) == p));
            }
        }
    }

    /// Two groups; people 1..=6 in group 0, 7..=8 in group 1; measure 0
    /// counts set bit 0, measure 1 is the share of set bit 0.
    fn table(sets: &[u64]) -> Table {
        Table {
            population: "residents".into(),
            measures: vec![
                MeasureKind::Count { set: 0 },
                MeasureKind::Ratio { num: 0, den: None },
                MeasureKind::Magnitude,
            ],
            groups: 2,
            records: sets
                .iter()
                .enumerate()
                .map(|(i, &s)| (i as i64 + 1, (i >= 6) as u32, s))
                .collect(),
        }
    }

    #[test]
    fn the_same_people_get_the_same_noise_in_any_table() {
        let t = PTable::new(3);
        let key = |id: i64| (id * 37 % 256) as u8;
        let a = perturb_table(&table(&[1, 1, 1, 1, 0, 0, 1, 1]), &t, &key);
        // Another table over the same people in set 0, listed in another
        // order with other members outside the set: the same count.
        let mut other = table(&[1, 1, 1, 1, 0, 0, 1, 1]);
        other.records.reverse();
        other.records.push((99, 0, 0));
        other.groups = 2;
        let b = perturb_table(&other, &t, &key);
        assert_eq!(a[0], b[0]);
        assert_eq!(a[3], b[3]);
        let truth = 4u64;
        let published = a[0].unwrap() as u64;
        assert!(t.possible_truths(published).contains(&truth));
        // Group 1 has 2 in the set: published 0 or 3, never 2.
        assert!(
            matches!(a[3], Some(v) if v == 0.0 || v == 3.0),
            "{:?}",
            a[3]
        );
        // Magnitudes are never shown; a ratio over fewer than 2k is not.
        assert_eq!(a[2], None);
        assert_eq!(a[4], None, "a share of 2 people");
    }

    #[test]
    fn cell_keys_wrap() {
        assert_eq!(cell_key([200, 100]), 44);
        assert_eq!(cell_key([]), 0);
    }
}
