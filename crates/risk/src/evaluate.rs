//! Evaluation on a held-out year: train on the years before N, score every
//! pipe with features as of 1 January of N, compare with N's breaks.
//!
//! - ROC AUC of "broke in N" (ties count half, Mann–Whitney);
//! - the share of N's breaks on the top 10 % of pipes by score (a tie group
//!   straddling the cut counts in proportion to the part inside it);
//! - baselines: oldest first (score = age) and random (AUC 0.5, 10 %).

use serde::{Deserialize, Serialize};

use super::pipes::{self, PipeData, TrainOptions};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub test_year: i32,
    pub train_years: [i32; 2],
    pub pipes: usize,
    /// Breaks in the test year, and the pipes they fell on.
    pub breaks: u32,
    pub pipes_broken: usize,
    pub model_auc: f64,
    pub model_top10: f64,
    pub oldest_first_auc: f64,
    pub oldest_first_top10: f64,
    pub random_auc: f64,
    pub random_top10: f64,
    pub shuffled_labels: bool,
    pub seed: u64,
}

/// Trains on the years before `test_year` and tests on it.
pub fn evaluate(
    data: &PipeData,
    test_year: i32,
    seed: u64,
    shuffle_labels: bool,
) -> crate::error::Result<Evaluation> {
    let model = pipes::train(
        data,
        &TrainOptions {
            until: test_year - 1,
            seed,
            shuffle_labels,
        },
    )?;
    let scores: Vec<f64> = pipes::score(&model, data, test_year)
        .into_iter()
        .map(|s| s.score)
        .collect();
    let oldest: Vec<f64> = data
        .pipes
        .iter()
        .map(|p| (test_year - p.install_year) as f64)
        .collect();
    let breaks: Vec<u32> = (0..data.pipes.len())
        .map(|i| data.broke(i, test_year))
        .collect();
    Ok(Evaluation {
        test_year,
        train_years: model.train_years,
        pipes: data.pipes.len(),
        breaks: breaks.iter().sum(),
        pipes_broken: breaks.iter().filter(|&&b| b > 0).count(),
        model_auc: auc(&scores, &breaks),
        model_top10: top_share(&scores, &breaks, 0.1),
        oldest_first_auc: auc(&oldest, &breaks),
        oldest_first_top10: top_share(&oldest, &breaks, 0.1),
        random_auc: 0.5,
        random_top10: 0.1,
        shuffled_labels: shuffle_labels,
        seed,
    })
}

/// ROC AUC of `scores` for the label "breaks > 0", ties counted half.
pub fn auc(scores: &[f64], breaks: &[u32]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Average ranks (1-based) over tie groups.
    let mut rank = vec![0.0; scores.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            rank[k] = avg;
        }
        i = j + 1;
    }
    let pos = breaks.iter().filter(|&&b| b > 0).count() as f64;
    let neg = scores.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return 0.5;
    }
    let sum: f64 = (0..scores.len())
        .filter(|&k| breaks[k] > 0)
        .map(|k| rank[k])
        .sum();
    (sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Share of all breaks that fall on the top `fraction` of items by score.
pub fn top_share(scores: &[f64], breaks: &[u32], fraction: f64) -> f64 {
    let total: u32 = breaks.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut room = fraction * scores.len() as f64;
    let mut caught = 0.0;
    let mut i = 0;
    while i < order.len() && room > 0.0 {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let size = (j - i + 1) as f64;
        let group: u32 = order[i..=j].iter().map(|&k| breaks[k]).sum();
        let take = room.min(size);
        caught += group as f64 * take / size;
        room -= take;
        i = j + 1;
    }
    caught / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_and_top_share() {
        assert_eq!(auc(&[0.1, 0.2, 0.3, 0.4], &[0, 0, 1, 1]), 1.0);
        assert_eq!(auc(&[0.4, 0.3, 0.2, 0.1], &[0, 0, 1, 1]), 0.0);
        assert_eq!(auc(&[1.0, 1.0, 1.0, 1.0], &[0, 1, 0, 1]), 0.5);
        let scores: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let mut breaks = vec![0; 20];
        breaks[19] = 3;
        breaks[0] = 1;
        assert_eq!(top_share(&scores, &breaks, 0.1), 0.75);
        // All tied: the top 10 % holds 10 % of every break in expectation.
        assert!((top_share(&[0.0; 20], &breaks, 0.1) - 0.1).abs() < 1e-12);
    }
}
