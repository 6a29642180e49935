//! Short walks through a few places, for visit rounds: the order to visit
//! them (a travelling-salesman heuristic for an open walk, which starts and
//! ends anywhere), and where to cut a long walk into rounds of at most N.
//!
//! The heuristic: a nearest-neighbour walk from every place (from a few
//! when there are many), each improved by 2-opt (reverse a stretch) and
//! or-opt (move a run of one to three places elsewhere, either way round)
//! until no move shortens it; the shortest wins. An open walk is solved as
//! a closed tour through a dummy place at distance 0 from all, cut there.
//! Rounds are at most a dozen homes, so this finds the best order almost
//! always (the tests compare it with exhaustive search).

/// Distances between places: `d(i, j)`, symmetric, finite.
pub trait Distances {
    fn len(&self) -> usize;
    fn get(&self, i: usize, j: usize) -> f64;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A row-major `n × n` matrix ([`crate::walks::between`]'s).
pub struct Matrix<'a> {
    pub n: usize,
    pub d: &'a [f64],
}

impl Distances for Matrix<'_> {
    fn len(&self) -> usize {
        self.n
    }
    fn get(&self, i: usize, j: usize) -> f64 {
        self.d[i * self.n + j]
    }
}

/// The places of `d` listed in `subset`, renumbered 0..subset.len().
pub struct Subset<'a, D: Distances> {
    pub d: &'a D,
    pub subset: &'a [usize],
}

impl<D: Distances> Distances for Subset<'_, D> {
    fn len(&self) -> usize {
        self.subset.len()
    }
    fn get(&self, i: usize, j: usize) -> f64 {
        self.d.get(self.subset[i], self.subset[j])
    }
}

/// The length of walking through `order`.
pub fn walk_length(d: &impl Distances, order: &[usize]) -> f64 {
    order.windows(2).map(|w| d.get(w[0], w[1])).sum()
}

/// Places `0..d.len()` in an order that makes the walk through them short.
///
/// ```
/// use chiiki_network::tour::{short_walk, walk_length, Matrix};
/// // Four houses on a street, at 0, 30, 10 and 20 m.
/// let at = [0.0f64, 30.0, 10.0, 20.0];
/// let d: Vec<f64> = at.iter().flat_map(|a| at.iter().map(move |b| (a - b).abs())).collect();
/// let m = Matrix { n: 4, d: &d };
/// let order = short_walk(&m);
/// assert_eq!(walk_length(&m, &order), 30.0);
/// assert!(order == [0, 2, 3, 1] || order == [1, 3, 2, 0]);
/// ```
pub fn short_walk(d: &impl Distances) -> Vec<usize> {
    let n = d.len();
    if n <= 2 {
        return (0..n).collect();
    }
    // The closed problem: place n is the dummy, 0 m from everyone.
    let dist = |i: usize, j: usize| {
        if i == n || j == n {
            0.0
        } else {
            d.get(i, j)
        }
    };
    // From every place for a round's few homes, else from a spread of them.
    let starts: Vec<usize> = if n <= 24 {
        (0..n).collect()
    } else {
        vec![0, n / 3, 2 * n / 3]
    };
    let mut best: Option<(f64, Vec<usize>)> = None;
    for &s in &starts {
        let mut tour = nearest_neighbour(n + 1, s, &dist);
        improve(&mut tour, &dist);
        let len: f64 = closed_length(&tour, &dist);
        if best.as_ref().is_none_or(|(b, _)| len < *b - 1e-9) {
            best = Some((len, tour));
        }
    }
    let (_, tour) = best.expect("at least one start");
    // Cut the closed tour at the dummy.
    let at = tour.iter().position(|&p| p == n).expect("the dummy");
    tour[at + 1..].iter().chain(&tour[..at]).copied().collect()
}

fn closed_length(tour: &[usize], dist: &impl Fn(usize, usize) -> f64) -> f64 {
    (0..tour.len())
        .map(|i| dist(tour[i], tour[(i + 1) % tour.len()]))
        .sum()
}

/// A closed tour of places `0..m` by always going to the nearest unvisited.
fn nearest_neighbour(m: usize, start: usize, dist: &impl Fn(usize, usize) -> f64) -> Vec<usize> {
    let mut seen = vec![false; m];
    let mut tour = Vec::with_capacity(m);
    let mut at = start;
    seen[at] = true;
    tour.push(at);
    for _ in 1..m {
        let next = (0..m)
            .filter(|&j| !seen[j])
            .min_by(|&a, &b| dist(at, a).total_cmp(&dist(at, b)))
            .expect("an unvisited place");
        seen[next] = true;
        tour.push(next);
        at = next;
    }
    tour
}

/// 2-opt and or-opt moves on a closed tour until none shortens it.
fn improve(tour: &mut Vec<usize>, dist: &impl Fn(usize, usize) -> f64) {
    const EPS: f64 = 1e-9;
    let m = tour.len();
    if m < 4 {
        return;
    }
    loop {
        let mut better = false;
        // 2-opt: links (a b) and (c e) become (a c) and (b e), reversing b..c.
        for i in 0..m - 1 {
            for j in i + 2..m {
                if i == 0 && j == m - 1 {
                    continue;
                }
                let (a, b) = (tour[i], tour[i + 1]);
                let (c, e) = (tour[j], tour[(j + 1) % m]);
                let gain = dist(a, b) + dist(c, e) - dist(a, c) - dist(b, e);
                if gain > EPS {
                    tour[i + 1..=j].reverse();
                    better = true;
                }
            }
        }
        // Or-opt: a run of 1–3 places moved between two others, either way
        // round. Runs are scanned by position; a move rebuilds the tour
        // (rare next to the gains evaluated) and the scan goes on.
        for len in 1..=3.min(m - 3) {
            let mut i = 0;
            while i < m {
                let at = |k: usize| tour[(i + k) % m];
                let (first, last) = (at(0), at(len - 1));
                let (prev, next) = (tour[(i + m - 1) % m], at(len));
                let removed = dist(prev, first) + dist(last, next) - dist(prev, next);
                // Links (x y) of the tour without the run: from `next` on.
                let mut found = None;
                for k in 0..m - len - 1 {
                    let (x, y) = (at(len + k), at(len + k + 1));
                    let forward = dist(x, first) + dist(last, y) - dist(x, y);
                    let backward = dist(x, last) + dist(first, y) - dist(x, y);
                    let (added, flip) = if backward < forward {
                        (backward, true)
                    } else {
                        (forward, false)
                    };
                    if removed - added > EPS {
                        found = Some((k, flip));
                        break;
                    }
                }
                if let Some((k, flip)) = found {
                    let mut run: Vec<usize> = (0..len).map(at).collect();
                    if flip {
                        run.reverse();
                    }
                    let rest: Vec<usize> = (0..m - len).map(|j| at(len + j)).collect();
                    let mut moved = Vec::with_capacity(m);
                    moved.extend_from_slice(&rest[..=k]);
                    moved.extend(run);
                    moved.extend_from_slice(&rest[k + 1..]);
                    *tour = moved;
                    better = true;
                }
                i += 1;
            }
        }
        if !better {
            return;
        }
    }
}

/// Where to cut a walk through `order` into the fewest rounds of at most
/// `max` places: the cut links are the longest the sizes allow, so rounds
/// end where the walk has its longest gaps. Returns each round's range of
/// positions in `order`.
///
/// ```
/// use chiiki_network::tour::{rounds, Matrix};
/// // Six houses along a street with one long gap after the second.
/// let at = [0.0f64, 10.0, 500.0, 510.0, 520.0, 530.0];
/// let d: Vec<f64> = at.iter().flat_map(|a| at.iter().map(move |b| (a - b).abs())).collect();
/// let cut = rounds(&Matrix { n: 6, d: &d }, &[0, 1, 2, 3, 4, 5], 4);
/// assert_eq!(cut, vec![0..2, 2..6]);
/// ```
pub fn rounds(d: &impl Distances, order: &[usize], max: usize) -> Vec<std::ops::Range<usize>> {
    let n = order.len();
    let max = max.max(1);
    if n == 0 {
        return Vec::new();
    }
    let count = n.div_ceil(max);
    // best[r][i]: the most link length removable with the first i places
    // in r rounds; a round of places i..j removes the link (j-1, j) after it.
    let link = |i: usize| d.get(order[i - 1], order[i]);
    let mut best = vec![vec![f64::NEG_INFINITY; n + 1]; count + 1];
    let mut from = vec![vec![0usize; n + 1]; count + 1];
    best[0][0] = 0.0;
    for r in 1..=count {
        for j in 1..=n {
            for size in 1..=max.min(j) {
                let i = j - size;
                if best[r - 1][i] == f64::NEG_INFINITY {
                    continue;
                }
                let cut = if j < n { link(j) } else { 0.0 };
                let v = best[r - 1][i] + cut;
                if v > best[r][j] {
                    best[r][j] = v;
                    from[r][j] = i;
                }
            }
        }
    }
    let mut out = Vec::with_capacity(count);
    let mut j = n;
    for r in (1..=count).rev() {
        let i = from[r][j];
        out.push(i..j);
        j = i;
    }
    out.reverse();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), so the tests need no crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    fn permutations(items: &mut Vec<usize>, k: usize, out: &mut dyn FnMut(&[usize])) {
        if k == items.len() {
            out(items);
            return;
        }
        for i in k..items.len() {
            items.swap(k, i);
            permutations(items, k + 1, out);
            items.swap(k, i);
        }
    }

    fn exhaustive(d: &impl Distances) -> f64 {
        let mut best = f64::INFINITY;
        let mut items: Vec<usize> = (0..d.len()).collect();
        permutations(&mut items, 0, &mut |p| best = best.min(walk_length(d, p)));
        best
    }

    /// Manhattan distances between random points: like walking a grid of streets.
    fn random_places(rng: &mut Rng, n: usize) -> Vec<f64> {
        let p: Vec<[f64; 2]> = (0..n)
            .map(|_| [rng.next() * 250.0, rng.next() * 250.0])
            .collect();
        p.iter()
            .flat_map(|a| {
                p.iter()
                    .map(move |b| (a[0] - b[0]).abs() + (a[1] - b[1]).abs())
            })
            .collect()
    }

    #[test]
    fn the_walk_is_within_a_quarter_of_the_best_for_up_to_eight_places() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut worst, mut exact, mut total) = (1.0f64, 0, 0);
        for n in 1..=8 {
            for _ in 0..60 {
                let d = random_places(&mut rng, n);
                let m = Matrix { n, d: &d };
                let order = short_walk(&m);
                let mut sorted = order.clone();
                sorted.sort();
                assert_eq!(sorted, (0..n).collect::<Vec<_>>(), "a permutation");
                let (got, best) = (walk_length(&m, &order), exhaustive(&m));
                assert!(got >= best - 1e-9);
                worst = worst.max(if best > 0.0 { got / best } else { 1.0 });
                exact += usize::from(got <= best + 1e-9);
                total += 1;
            }
        }
        assert!(worst <= 1.25, "worst ratio {worst}");
        // The heuristic should almost always find the best order itself.
        assert!(exact * 100 >= total * 95, "{exact} of {total} exact");
    }

    #[test]
    fn rounds_respect_the_size_and_cut_at_the_longest_gaps() {
        let mut rng = Rng(7);
        for n in [1, 5, 8, 9, 17, 40] {
            let d = random_places(&mut rng, n);
            let m = Matrix { n, d: &d };
            let order = short_walk(&m);
            for max in [1, 3, 8] {
                let cut = rounds(&m, &order, max);
                assert_eq!(cut.len(), n.div_ceil(max));
                assert_eq!(cut.first().unwrap().start, 0);
                assert_eq!(cut.last().unwrap().end, n);
                for w in cut.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
                assert!(cut.iter().all(|r| !r.is_empty() && r.len() <= max));
                // No other cut with as many rounds keeps more of the walk out.
                let kept: f64 = cut.iter().map(|r| walk_length(&m, &order[r.clone()])).sum();
                let even: f64 = (0..n)
                    .collect::<Vec<_>>()
                    .chunks(max)
                    .map(|c| walk_length(&m, &c.iter().map(|&i| order[i]).collect::<Vec<_>>()))
                    .sum();
                assert!(kept <= even + 1e-9, "n={n} max={max}: {kept} > {even}");
            }
        }
    }

    #[test]
    fn a_larger_walk_beats_the_nearest_neighbour_alone() {
        let mut rng = Rng(42);
        let n = 120;
        let d = random_places(&mut rng, n);
        let m = Matrix { n, d: &d };
        let order = short_walk(&m);
        let nn_only = {
            let dist = |i: usize, j: usize| m.get(i, j);
            let mut tour = nearest_neighbour(n, 0, &dist);
            tour.push(tour[0]);
            walk_length(&m, &tour[..n])
        };
        assert!(walk_length(&m, &order) < nn_only);
    }
}
