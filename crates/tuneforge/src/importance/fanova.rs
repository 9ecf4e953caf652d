//! fANOVA: how much of the objective's variance each parameter explains on its own, computed
//! exactly on a random forest fitted to the trials.
//!
//! A regression tree is piecewise constant over boxes of the unit hypercube. Under the uniform
//! measure its mean is `sum(vol * v)` and its variance `sum(vol * v^2) - mean^2`; the marginal of
//! parameter `i`, `a_i(x_i)`, averages the tree over all other parameters, which for a leaf is
//! its value times its volume in the other dimensions, added over the leaf's interval in `x_i`.
//! Those intervals are summed with a difference array over the sorted leaf edges, so one
//! parameter costs O(leaves log leaves) per tree. The main-effect share is
//! `Var(a_i) / Var(tree)`, averaged over the trees.
//!
//! # References
//! - F. Hutter, H. Hoos, K. Leyton-Brown, "An Efficient Approach for Assessing Hyperparameter
//!   Importance", ICML 2014 (functional ANOVA on random forests; marginals computed exactly
//!   over the trees' partitions; the variance fractions of the main effects).

use super::random_forest::RandomForest;

/// Per-parameter main-effect variance fractions (each in [0, 1]), averaged over the trees.
pub fn main_effects(forest: &RandomForest) -> Vec<f64> {
    let d = forest.dim;
    let mut sums = vec![0.0; d];
    let mut counted = 0usize;
    for tree in &forest.trees {
        let leaves = tree.leaves(&vec![0.0; d], &vec![1.0; d]);
        let vol = |l: &[f64], h: &[f64]| l.iter().zip(h).map(|(a, b)| b - a).product::<f64>();
        let mean: f64 = leaves.iter().map(|(l, h, v)| vol(l, h) * v).sum();
        let second: f64 = leaves.iter().map(|(l, h, v)| vol(l, h) * v * v).sum();
        let total = second - mean * mean;
        if total <= 1e-14 * second.abs().max(1e-300) {
            continue;
        }
        counted += 1;
        for (i, s) in sums.iter_mut().enumerate() {
            let var_i = marginal_segments(&leaves, i)
                .iter()
                .map(|&(a, b, m)| (b - a) * m * m)
                .sum::<f64>()
                - mean * mean;
            *s += (var_i / total).clamp(0.0, 1.0);
        }
    }
    sums.iter().map(|s| s / counted.max(1) as f64).collect()
}

/// The marginal of parameter `i` as segments `(from, to, mean value)` covering [0, 1].
fn marginal_segments(leaves: &[(Vec<f64>, Vec<f64>, f64)], i: usize) -> Vec<(f64, f64, f64)> {
    let mut edges: Vec<f64> = leaves
        .iter()
        .flat_map(|(l, h, _)| [l[i], h[i]])
        .chain([0.0, 1.0])
        .collect();
    edges.sort_by(f64::total_cmp);
    edges.dedup();
    let pos = |x: f64| edges.partition_point(|e| *e < x);
    let mut diff = vec![0.0; edges.len() + 1];
    for (l, h, v) in leaves {
        let width = h[i] - l[i];
        if width <= 0.0 {
            continue;
        }
        let other: f64 = l
            .iter()
            .zip(h)
            .enumerate()
            .filter(|(k, _)| *k != i)
            .map(|(_, (a, b))| b - a)
            .product();
        let w = v * other;
        diff[pos(l[i])] += w;
        diff[pos(h[i])] -= w;
    }
    let mut out = Vec::with_capacity(edges.len());
    let mut acc = 0.0;
    for k in 0..edges.len().saturating_sub(1) {
        acc += diff[k];
        out.push((edges[k], edges[k + 1], acc));
    }
    out
}

/// The forest's marginal of parameter `i` at the unit-space points `at` (averaged over trees):
/// the predicted objective when parameter `i` is set and every other is averaged out.
pub fn marginal(forest: &RandomForest, i: usize, at: &[f64]) -> Vec<f64> {
    let d = forest.dim;
    let mut out = vec![0.0; at.len()];
    for tree in &forest.trees {
        let segs = marginal_segments(&tree.leaves(&vec![0.0; d], &vec![1.0; d]), i);
        for (o, &x) in out.iter_mut().zip(at) {
            let k = segs
                .partition_point(|s| s.1 < x)
                .min(segs.len().saturating_sub(1));
            *o += segs.get(k).map_or(0.0, |s| s.2);
        }
    }
    let n = forest.trees.len().max(1) as f64;
    out.iter().map(|v| v / n).collect()
}

#[cfg(test)]
mod tests {
    use super::super::random_forest::ForestConfig;
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn an_additive_function_splits_its_variance_by_its_terms() {
        // f = 4 x0 + 1 x1 + 0 x2: Var(4 x0) = 16/12, Var(x1) = 1/12, so x0 explains 16/17 of the
        // variance, x1 1/17, x2 nothing (Hutter et al. 2014: main effects sum to 1 when
        // there are no interactions).
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        let x: Vec<Vec<f64>> = (0..2000)
            .map(|_| (0..3).map(|_| rng.random::<f64>()).collect())
            .collect();
        let y: Vec<f64> = x.iter().map(|p| 4.0 * p[0] + p[1]).collect();
        let f = RandomForest::fit(&x, &y, &ForestConfig::default());
        let e = main_effects(&f);
        assert!((e[0] - 16.0 / 17.0).abs() < 0.05, "{e:?}");
        assert!((e[1] - 1.0 / 17.0).abs() < 0.03, "{e:?}");
        assert!(e[2] < 0.01, "{e:?}");
        let m = marginal(&f, 0, &[0.1, 0.5, 0.9]);
        assert!(m[0] < m[1] && m[1] < m[2], "{m:?}");
        assert!((m[2] - m[0] - 3.2).abs() < 0.4, "{m:?}");
    }

    #[test]
    fn a_pure_interaction_has_no_main_effects() {
        // f = (x0 - 0.5)(x1 - 0.5): each marginal is flat, all variance is the interaction.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let x: Vec<Vec<f64>> = (0..3000)
            .map(|_| (0..2).map(|_| rng.random::<f64>()).collect())
            .collect();
        let y: Vec<f64> = x.iter().map(|p| (p[0] - 0.5) * (p[1] - 0.5)).collect();
        let e = main_effects(&RandomForest::fit(&x, &y, &ForestConfig::default()));
        assert!(e[0] < 0.1 && e[1] < 0.1, "{e:?}");
    }
}
