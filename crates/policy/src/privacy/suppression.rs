//! Small-cell suppression of aggregates of people, consistent across every
//! table served, so that no hidden count can be worked out.
//!
//! A *table* is an aggregate analysis: groups (mesh cells, 町丁目) × measures.
//! Every measure is a *quantity*: the number of the group's people in one set
//! (a share publishes it given the group's size). A cell is disclosive when
//! it counts 1 to k − 1 people.
//!
//! 1. **Primary**: such cells are suppressed; so is every measure of a group
//!    of 1 to k − 1 people.
//! 2. **Within a group**: the quantities are vectors over *atoms* (the sets of
//!    people with the same combination of measure memberships). What the
//!    published quantities and the group size span is known to anyone; if a
//!    hidden cell, an atom or a difference of two known sets with 1 to k − 1
//!    people lies in that span, one more quantity is suppressed.
//! 3. **Across groups and tables**: for every known cell A and every column
//!    of a table (its own, for the column total, or another table over the
//!    same people: a coarser mesh, 町丁目, a narrower filter), the cells that
//!    lie wholly inside A are found once from the people themselves. What A
//!    holds beyond its known inside cells is derivable; if that is 1 to k − 1
//!    people, another cell is suppressed. A cell that is the only unknown
//!    part of a known whole becomes known, and feeds step 2 again.
//!
//! The steps repeat until nothing changes. Column totals count as public,
//! which also covers differencing of two overlapping requests: both are
//! tables here, and their nested cells are checked pair by pair.
//! Sums and means are protected as the counts of their sets (a sum of ones is
//! a count). Group sizes are public only for tables over the whole
//! population (the census prints them); a filtered source (65+) has none.

use std::collections::HashMap;

pub use chiiki_analysis::disclosure::{MeasureKind, Table};

/// Which (group, measure) cells of each table are hidden.
#[derive(Debug, Clone, PartialEq)]
pub struct Suppressed {
    /// `cells[t][g * measures + m]`
    pub cells: Vec<Vec<bool>>,
    /// Per table: cells hidden for being small themselves (the rest are
    /// complementary).
    pub primary: Vec<usize>,
}

impl Suppressed {
    pub fn is_hidden(&self, table: usize, measures: usize, group: usize, measure: usize) -> bool {
        self.cells[table][group * measures + measure]
    }
}

/// A cell in the working state: table, group, quantity index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Cell {
    t: usize,
    g: usize,
    q: usize,
}

/// Per table: the quantities (counts and shares) and their values.
struct Work {
    /// Measure index of each quantity.
    quantity_measure: Vec<usize>,
    size_public: bool,
    /// The group's size per group.
    size: Vec<u64>,
    /// `value[g * nq + q]`
    value: Vec<u64>,
    /// Signatures over quantities (bit q) present anywhere in the table.
    atoms: Vec<u64>,
    /// `atom_count[g * na + a]`
    atom_count: Vec<u64>,
    hidden: Vec<bool>,
    /// Quantities that count the whole group (no filter): public, like its size.
    public: Vec<bool>,
}

impl Work {
    fn nq(&self) -> usize {
        self.quantity_measure.len()
    }
    fn known(&self, g: usize, q: usize) -> bool {
        !self.hidden[g * self.nq() + q] || self.public[q]
    }
}

/// One side of a relation: what is known to the world.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Whole {
    /// A cell of a table.
    Cell(Cell),
    /// A group's size: public.
    GroupSize,
    /// A column's total over all groups: public.
    Total,
}

/// Cells of a column lying wholly inside a whole; the rest of the whole
/// (`outside`) is fewer than k people.
#[derive(Debug, Clone)]
struct Relation {
    whole: Whole,
    whole_value: u64,
    /// Inside cells (table, group, quantity), `None` quantity = group size (public).
    inside: Vec<(Cell, u64)>,
    outside: u64,
}

/// Suppresses the tables' small cells, with complementary suppression.
pub fn suppress(tables: &[Table], k: u64) -> Suppressed {
    let mut work: Vec<Work> = tables.iter().map(prepare).collect();
    for w in &mut work {
        primary(w, k);
    }
    let primary_counts: Vec<usize> = work
        .iter()
        .map(|w| w.hidden.iter().filter(|&&h| h).count())
        .collect();
    let relations = relations(tables, &work, k);
    // Each round finds what the published cells give away and hides one more
    // cell per disclosure, until nothing is given away.
    for _round in 0..100_000 {
        let mut fixes: Vec<Cell> = Vec::new();
        for (t, w) in work.iter().enumerate() {
            for g in 0..w.size.len() {
                group_pass(t, w, g, k, &mut fixes);
            }
        }
        relation_pass(&relations, &work, k, &mut fixes);
        let mut progressed = false;
        for c in fixes {
            let w = &mut work[c.t];
            let i = c.g * w.nq() + c.q;
            if !w.hidden[i] {
                w.hidden[i] = true;
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    // Quantities are the measures, in order.
    let cells = work.into_iter().map(|w| w.hidden).collect();
    Suppressed {
        cells,
        primary: primary_counts,
    }
}

fn prepare(table: &Table) -> Work {
    // Every measure is a quantity: a sum or mean may give away the number
    // it sums over (a sum of ones is a count), so it is treated as one.
    let quantity_measure: Vec<usize> = (0..table.measures.len()).collect();
    let nq = quantity_measure.len();
    // Signatures over quantities.
    let sig_q = |sig: u64| -> u64 {
        quantity_measure
            .iter()
            .enumerate()
            .fold(0u64, |acc, (q, &m)| acc | ((sig >> m & 1) << q))
    };
    let mut atom_index: HashMap<u64, usize> = HashMap::new();
    let mut atoms = Vec::new();
    for &(_, _, sig) in &table.records {
        let s = sig_q(sig);
        atom_index.entry(s).or_insert_with(|| {
            atoms.push(s);
            atoms.len() - 1
        });
    }
    let na = atoms.len();
    let mut size = vec![0u64; table.groups];
    let mut value = vec![0u64; table.groups * nq];
    let mut atom_count = vec![0u64; table.groups * na];
    for &(_, g, sig) in &table.records {
        let g = g as usize;
        let s = sig_q(sig);
        size[g] += 1;
        atom_count[g * na + atom_index[&s]] += 1;
        for q in 0..nq {
            if s >> q & 1 == 1 {
                value[g * nq + q] += 1;
            }
        }
    }
    let public = (0..nq)
        .map(|q| table.size_public && atoms.iter().all(|a| a >> q & 1 == 1))
        .collect();
    Work {
        quantity_measure,
        size_public: table.size_public,
        size,
        hidden: vec![false; value.len()],
        public,
        value,
        atoms,
        atom_count,
    }
}

fn small(v: u64, k: u64) -> bool {
    v > 0 && v < k
}

fn primary(w: &mut Work, k: u64) {
    let nq = w.nq();
    for g in 0..w.size.len() {
        for q in 0..nq {
            let i = g * nq + q;
            w.hidden[i] = small(w.size[g], k) || small(w.value[i], k);
        }
    }
}

/// Row-reduced vectors: membership of a vector in their span.
struct Span {
    rows: Vec<(usize, Vec<f64>)>,
}

impl Span {
    fn new() -> Span {
        Span { rows: Vec::new() }
    }

    fn reduce(&self, v: &[f64]) -> Vec<f64> {
        let mut v = v.to_vec();
        for (pivot, row) in &self.rows {
            let f = v[*pivot];
            if f != 0.0 {
                for (x, r) in v.iter_mut().zip(row) {
                    *x -= f * r;
                }
            }
        }
        v
    }

    fn add(&mut self, v: &[f64]) {
        let r = self.reduce(v);
        if let Some(p) = r.iter().position(|x| x.abs() > 1e-9) {
            let f = r[p];
            self.rows.push((p, r.iter().map(|x| x / f).collect()));
        }
    }

    fn contains(&self, v: &[f64]) -> bool {
        self.reduce(v).iter().all(|x| x.abs() < 1e-9)
    }
}

/// The quantity's vector over the table's atoms.
fn quantity_vector(w: &Work, q: usize) -> Vec<f64> {
    w.atoms.iter().map(|a| (a >> q & 1) as f64).collect()
}

/// What the world knows of group `g`: its size, its known quantities, and
/// that the atoms of a published zero are empty. `without` leaves one out.
fn known_span(w: &Work, g: usize, without: Option<usize>) -> Span {
    let na = w.atoms.len();
    let mut span = Span::new();
    if w.size_public {
        span.add(&vec![1.0; na]);
    }
    for q in 0..w.nq() {
        if Some(q) == without || !w.known(g, q) {
            continue;
        }
        span.add(&quantity_vector(w, q));
        if w.value[g * w.nq() + q] == 0 {
            for (a, atom) in w.atoms.iter().enumerate() {
                if atom >> q & 1 == 1 {
                    let mut e = vec![0.0; na];
                    e[a] = 1.0;
                    span.add(&e);
                }
            }
        }
    }
    span
}

fn count_of(w: &Work, g: usize, v: &[f64]) -> f64 {
    let na = w.atoms.len();
    v.iter()
        .enumerate()
        .map(|(a, x)| x * w.atom_count[g * na + a] as f64)
        .sum()
}

/// Checks one group: a hidden cell, an atom or a difference of two known
/// sets of 1 to k − 1 people that the known cells give away is a
/// disclosure; the published quantity to hide for it goes to `fixes`.
fn group_pass(t: usize, w: &Work, g: usize, k: u64, fixes: &mut Vec<Cell>) {
    let nq = w.nq();
    let na = w.atoms.len();
    if na == 0 || w.size[g] == 0 {
        return;
    }
    let span = known_span(w, g, None);
    let mut disclosed: Vec<Vec<f64>> = Vec::new();
    for q in 0..nq {
        if !w.known(g, q) && span.contains(&quantity_vector(w, q)) {
            disclosed.push(quantity_vector(w, q));
        }
    }
    for a in 0..na {
        if small(w.atom_count[g * na + a], k) {
            let mut e = vec![0.0; na];
            e[a] = 1.0;
            if span.contains(&e) {
                disclosed.push(e);
            }
        }
    }
    // Differences of two known nested sets (the group itself included when
    // its size is public).
    let mut known: Vec<Vec<f64>> = Vec::new();
    if w.size_public {
        known.push(vec![1.0; na]);
    }
    known.extend(
        (0..nq)
            .filter(|&q| w.known(g, q))
            .map(|q| quantity_vector(w, q)),
    );
    for u in &known {
        for v in &known {
            let nested = u.iter().zip(v).all(|(a, b)| b <= a) && u != v;
            if nested {
                let d: Vec<f64> = u.iter().zip(v).map(|(a, b)| a - b).collect();
                if small(count_of(w, g, &d).round() as u64, k) {
                    disclosed.push(d);
                }
            }
        }
    }
    if let Some(target) = disclosed.first() {
        // The cheapest published quantity whose removal hides the target,
        // else the cheapest published quantity.
        let mut published: Vec<usize> = (0..nq)
            .filter(|&q| !w.hidden[g * nq + q] && !w.public[q])
            .collect();
        published.sort_by_key(|&q| w.value[g * nq + q]);
        let pick = published
            .iter()
            .copied()
            .find(|&q| !known_span(w, g, Some(q)).contains(target))
            .or_else(|| published.first().copied());
        if let Some(q) = pick {
            fixes.push(Cell { t, g, q });
        }
    }
}

/// Finds, once, every relation in which a known whole holds cells of a
/// column wholly inside it, with fewer than k people outside them.
fn relations(tables: &[Table], work: &[Work], k: u64) -> Vec<Relation> {
    // People indexed per population.
    let mut people: HashMap<&str, HashMap<i64, u32>> = HashMap::new();
    for t in tables {
        let ids = people.entry(t.population.as_str()).or_default();
        for &(fid, _, _) in &t.records {
            let n = ids.len() as u32;
            ids.entry(fid).or_insert(n);
        }
    }
    // Per table: each person's (group, quantity signature), by person index.
    const NONE: u32 = u32::MAX;
    let membership: Vec<Vec<(u32, u64)>> = tables
        .iter()
        .zip(work)
        .map(|(t, w)| {
            let ids = &people[t.population.as_str()];
            let mut m = vec![(NONE, 0u64); ids.len()];
            for &(fid, g, sig) in &t.records {
                let s = w
                    .quantity_measure
                    .iter()
                    .enumerate()
                    .fold(0u64, |acc, (q, &mi)| acc | ((sig >> mi & 1) << q));
                m[ids[&fid] as usize] = (g, s);
            }
            m
        })
        .collect();
    // Members of each group of each table, by person index.
    let members: Vec<Vec<Vec<u32>>> = tables
        .iter()
        .zip(&membership)
        .zip(work)
        .map(|((_, m), w)| {
            let mut out = vec![Vec::new(); w.size.len()];
            for (p, &(g, _)) in m.iter().enumerate() {
                if g != NONE {
                    out[g as usize].push(p as u32);
                }
            }
            out
        })
        .collect();

    let mut out = Vec::new();
    for (t1, w1) in work.iter().enumerate() {
        // Wholes of t1: its cells, its groups (public sizes), and its columns'
        // totals (public). `None` quantity = everyone.
        let mut wholes: Vec<(Whole, Vec<u32>)> = Vec::new();
        for (g, group) in members[t1].iter().enumerate() {
            for q in 0..w1.nq() {
                if w1.value[g * w1.nq() + q] > 0 {
                    let set: Vec<u32> = group
                        .iter()
                        .copied()
                        .filter(|&p| membership[t1][p as usize].1 >> q & 1 == 1)
                        .collect();
                    wholes.push((Whole::Cell(Cell { t: t1, g, q }), set));
                }
            }
            if w1.size_public {
                wholes.push((Whole::GroupSize, group.clone()));
            }
        }
        for q in 0..w1.nq() {
            let set: Vec<u32> = (0..membership[t1].len() as u32)
                .filter(|&p| {
                    let (g, s) = membership[t1][p as usize];
                    g != NONE && s >> q & 1 == 1
                })
                .collect();
            wholes.push((Whole::Total, set));
        }
        for (t2, w2) in work.iter().enumerate() {
            if tables[t2].population != tables[t1].population {
                continue;
            }
            for q2 in 0..w2.nq() {
                let mut inside_count = vec![0u64; w2.size.len()];
                for (whole, set) in &wholes {
                    // Within one table, only the column totals relate cells
                    // of different groups; the rest is the group check.
                    if t2 == t1 && !matches!(whole, Whole::Total) {
                        continue;
                    }
                    let mut touched = Vec::new();
                    for &p in set {
                        let (g, s) = membership[t2][p as usize];
                        if g != NONE && s >> q2 & 1 == 1 {
                            if inside_count[g as usize] == 0 {
                                touched.push(g as usize);
                            }
                            inside_count[g as usize] += 1;
                        }
                    }
                    let mut inside = Vec::new();
                    let mut inside_total = 0u64;
                    for &g in &touched {
                        let v = w2.value[g * w2.nq() + q2];
                        if inside_count[g] == v {
                            inside.push((Cell { t: t2, g, q: q2 }, v));
                            inside_total += v;
                        }
                        inside_count[g] = 0;
                    }
                    let outside = set.len() as u64 - inside_total;
                    if !inside.is_empty() && outside < k {
                        out.push(Relation {
                            whole: *whole,
                            whole_value: set.len() as u64,
                            inside,
                            outside,
                        });
                    }
                }
            }
        }
    }
    out
}

/// Applies the relations: what a known whole holds beyond its known inside
/// cells is derivable; 1 to k − 1 people there, or a single hidden inside
/// cell that makes up the rest exactly, is a disclosure.
fn relation_pass(relations: &[Relation], work: &[Work], k: u64, fixes: &mut Vec<Cell>) {
    for r in relations {
        if let Whole::Cell(c) = r.whole {
            if !work[c.t].known(c.g, c.q) {
                continue;
            }
        }
        let unknown: Vec<&(Cell, u64)> = r
            .inside
            .iter()
            .filter(|(c, _)| !work[c.t].known(c.g, c.q))
            .collect();
        let rest = r.outside + unknown.iter().map(|(_, v)| v).sum::<u64>();
        let exact = unknown.len() == 1 && r.outside == 0;
        if !small(rest, k) && !exact {
            continue;
        }
        // Hide one more inside cell (the smallest, not empty when the rest
        // is too small), or the whole itself when it is published and smaller.
        let published = |c: &Cell| {
            let w = &work[c.t];
            !w.hidden[c.g * w.nq() + c.q] && !w.public[c.q]
        };
        let inside = r
            .inside
            .iter()
            .filter(|(c, v)| published(c) && (*v > 0 || !small(rest, k)))
            .min_by_key(|(_, v)| *v);
        let whole = match r.whole {
            Whole::Cell(c) if published(&c) => Some((c, r.whole_value)),
            _ => None,
        };
        let pick = match (inside, whole) {
            (Some((c, v)), Some((w, wv))) => Some(if wv < *v { w } else { *c }),
            (Some((c, _)), None) => Some(*c),
            (None, Some((w, _))) => Some(w),
            (None, None) => None,
        };
        if let Some(c) = pick {
            fixes.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of `groups` with one count measure: group g holds `counts[g]`
    /// people in the set and `others[g]` outside it. Ids start at `first`.
    fn table(id: &str, counts: &[u64], others: &[u64], first: i64) -> Table {
        let mut records = Vec::new();
        let mut fid = first;
        for (g, (&c, &o)) in counts.iter().zip(others).enumerate() {
            for i in 0..c + o {
                records.push((fid, g as u32, (i < c) as u64));
                fid += 1;
            }
        }
        Table {
            id: id.into(),
            population: "residents".into(),
            measures: vec![MeasureKind::Count],
            groups: counts.len(),
            size_public: true,
            records,
        }
    }

    fn hidden(s: &Suppressed, t: usize) -> Vec<bool> {
        s.cells[t].clone()
    }

    #[test]
    fn small_counts_and_their_complements_are_hidden() {
        // Group 1 has 2 in the set (primary); the column total is public, so
        // one more cell must go; group 3's 9 of 10 would reveal its 1 outsider.
        let t = table("aged", &[20, 2, 30, 9, 40], &[5, 8, 6, 1, 7], 1);
        let s = suppress(&[t], 3);
        let h = hidden(&s, 0);
        assert!(h[1], "primary");
        assert!(h[3], "9 of 10: the one outside the set is disclosed");
        assert!(h.iter().filter(|&&x| x).count() >= 2);
    }

    #[test]
    fn a_lone_hidden_cell_is_protected_against_the_column_total() {
        let t = table("aged", &[20, 2, 30, 40], &[5, 8, 6, 7], 1);
        let s = suppress(&[t], 3);
        let h = hidden(&s, 0);
        assert!(h[1]);
        // Total − published ≥ 3: at least two hidden, summing to 3 or more.
        let counts = [20u64, 2, 30, 40];
        let hidden_sum: u64 = (0..4).filter(|&g| h[g]).map(|g| counts[g]).sum();
        assert!(h.iter().filter(|&&x| x).count() >= 2 && hidden_sum >= 3);
    }

    #[test]
    fn nested_tables_do_not_give_away_the_difference() {
        // The same people counted as 65+ and as 66+: group 0 differs by one.
        let people = [
            (0u32, 70),
            (0, 65),
            (0, 80),
            (0, 81),
            (0, 90),
            (1, 66),
            (1, 67),
            (1, 68),
            (1, 69),
            (1, 70),
        ];
        let mk = |id: &str, min_age: i64| Table {
            id: id.into(),
            population: "residents".into(),
            measures: vec![MeasureKind::Count],
            groups: 2,
            size_public: true,
            records: people
                .iter()
                .enumerate()
                .map(|(i, &(g, age))| (i as i64, g, (age >= min_age) as u64))
                .collect(),
        };
        let s = suppress(&[mk("a65", 65), mk("a66", 66)], 3);
        // Group 0: 5 and 4 — both shown would reveal the one person aged 65.
        assert!(s.cells[0][0] || s.cells[1][0]);
    }

    #[test]
    fn a_hidden_child_cannot_be_recovered_from_its_parent() {
        // Four fine groups inside one coarse group; fine group 3 holds 2 in
        // the set (and 5 outside it, so the count is not the group size).
        let fine = table("fine", &[10, 12, 15, 2], &[5, 5, 5, 5], 1);
        let mut coarse = fine.clone();
        coarse.id = "coarse".into();
        coarse.groups = 1;
        for r in &mut coarse.records {
            r.1 = 0;
        }
        let s = suppress(&[fine, coarse], 3);
        let fine_hidden: Vec<usize> = (0..4).filter(|&g| s.cells[0][g]).collect();
        assert!(fine_hidden.contains(&3));
        assert!(fine_hidden.len() >= 2 || s.cells[1][0], "{fine_hidden:?}");
        // A count of the whole group is its size, public like the census'
        // populations: it needs no complement (tiny groups are still hidden).
        let whole = table("whole", &[10, 4, 2], &[0, 0, 0], 1);
        assert_eq!(suppress(&[whole], 3).cells[0], vec![false, false, true]);
    }
}
