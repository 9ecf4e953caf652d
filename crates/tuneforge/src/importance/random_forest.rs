//! Regression random forests: bootstrap-sampled CART trees, each split chosen to reduce the sum
//! of squared errors most among a random subset of features, leaves predicting their mean.
//! Used by fANOVA ([`super::fanova`]), which reads the trees' leaf boxes.
//!
//! # References
//! - L. Breiman, "Random Forests", Machine Learning 45, 2001 (bagging plus random feature
//!   subsets; the forest's prediction is the mean of its trees).
//! - L. Breiman, J. Friedman, R. Olshen, C. Stone, "Classification and Regression Trees", 1984.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Settings of [`RandomForest::fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct ForestConfig {
    /// Trees. Default 32.
    pub trees: usize,
    /// Fewest samples in a leaf. Default 2.
    pub min_samples_leaf: usize,
    /// Deepest split level. Default 32.
    pub max_depth: usize,
    /// Features tried per split; `None`: all of them. Default `None`.
    pub max_features: Option<usize>,
    /// Seed of the bootstrap and feature draws.
    pub seed: u64,
}

impl Default for ForestConfig {
    fn default() -> Self {
        ForestConfig {
            trees: 32,
            min_samples_leaf: 2,
            max_depth: 32,
            max_features: None,
            seed: 0,
        }
    }
}

/// A tree node.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// `x[feature] <= threshold` goes left.
    Split {
        /// Feature index.
        feature: usize,
        /// Threshold.
        threshold: f64,
        /// Left child index.
        left: usize,
        /// Right child index.
        right: usize,
    },
    /// A leaf and its prediction.
    Leaf(f64),
}

/// One regression tree (node 0 is the root).
#[derive(Clone, Debug, PartialEq)]
pub struct Tree {
    /// The nodes.
    pub nodes: Vec<Node>,
}

impl Tree {
    /// The prediction for `x`.
    pub fn predict(&self, x: &[f64]) -> f64 {
        let mut i = 0;
        loop {
            match self.nodes[i] {
                Node::Leaf(v) => return v,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => i = if x[feature] <= threshold { left } else { right },
            }
        }
    }

    /// Every leaf as (lower corner, upper corner, value), within the box `[lo, hi]`.
    pub fn leaves(&self, lo: &[f64], hi: &[f64]) -> Vec<(Vec<f64>, Vec<f64>, f64)> {
        let mut out = Vec::new();
        let mut stack = vec![(0usize, lo.to_vec(), hi.to_vec())];
        while let Some((i, l, h)) = stack.pop() {
            match self.nodes[i] {
                Node::Leaf(v) => out.push((l, h, v)),
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    let t = threshold.clamp(l[feature], h[feature]);
                    let mut lh = h.clone();
                    lh[feature] = t;
                    let mut rl = l.clone();
                    rl[feature] = t;
                    stack.push((left, l, lh));
                    stack.push((right, rl, h));
                }
            }
        }
        out
    }
}

/// A fitted forest.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomForest {
    /// The trees.
    pub trees: Vec<Tree>,
    /// Input dimension.
    pub dim: usize,
}

struct Builder<'a> {
    x: &'a [Vec<f64>],
    y: &'a [f64],
    cfg: &'a ForestConfig,
    nodes: Vec<Node>,
}

impl Builder<'_> {
    fn mean(&self, idx: &[usize]) -> f64 {
        idx.iter().map(|&i| self.y[i]).sum::<f64>() / idx.len().max(1) as f64
    }

    fn build(&mut self, idx: &mut [usize], depth: usize, rng: &mut ChaCha8Rng) -> usize {
        let at = self.nodes.len();
        self.nodes.push(Node::Leaf(self.mean(idx)));
        let n = idx.len();
        let leaf = self.cfg.min_samples_leaf.max(1);
        if depth >= self.cfg.max_depth || n < 2 * leaf {
            return at;
        }
        let dim = self.x[0].len();
        let mut features: Vec<usize> = (0..dim).collect();
        let k = self.cfg.max_features.unwrap_or(dim).clamp(1, dim);
        for j in 0..k {
            let r = rng.random_range(j..dim);
            features.swap(j, r);
        }
        let total: f64 = idx.iter().map(|&i| self.y[i]).sum();
        let total_sq: f64 = idx.iter().map(|&i| self.y[i] * self.y[i]).sum();
        let parent_sse = total_sq - total * total / n as f64;
        if parent_sse <= 1e-12 * total_sq.abs().max(1e-300) {
            return at;
        }
        // (gain, feature, threshold)
        let mut best: Option<(f64, usize, f64)> = None;
        let mut order: Vec<usize> = idx.to_vec();
        for &f in &features[..k] {
            order.sort_unstable_by(|&a, &b| self.x[a][f].total_cmp(&self.x[b][f]));
            let (mut ls, mut lsq) = (0.0, 0.0);
            for (c, &i) in order.iter().enumerate().take(n - leaf) {
                ls += self.y[i];
                lsq += self.y[i] * self.y[i];
                let nl = c + 1;
                if nl < leaf {
                    continue;
                }
                let (a, b) = (self.x[i][f], self.x[order[c + 1]][f]);
                if a == b {
                    continue;
                }
                let nr = n - nl;
                let rs = total - ls;
                let rsq = total_sq - lsq;
                let sse = (lsq - ls * ls / nl as f64) + (rsq - rs * rs / nr as f64);
                let gain = parent_sse - sse;
                if best.is_none_or(|(g, _, _)| gain > g) {
                    best = Some((gain, f, 0.5 * (a + b)));
                }
            }
        }
        let Some((gain, feature, threshold)) = best else {
            return at;
        };
        if gain <= 0.0 {
            return at;
        }
        let mut split = 0;
        for j in 0..n {
            if self.x[idx[j]][feature] <= threshold {
                idx.swap(j, split);
                split += 1;
            }
        }
        let (l, r) = idx.split_at_mut(split);
        let left = self.build(l, depth + 1, rng);
        let right = self.build(r, depth + 1, rng);
        self.nodes[at] = Node::Split {
            feature,
            threshold,
            left,
            right,
        };
        at
    }
}

impl RandomForest {
    /// Fits a forest to rows `x` (all of one length) and targets `y`. An empty input gives an
    /// empty forest, whose predictions are NaN.
    pub fn fit(x: &[Vec<f64>], y: &[f64], cfg: &ForestConfig) -> RandomForest {
        let dim = x.first().map_or(0, Vec::len);
        if x.is_empty() || x.len() != y.len() {
            return RandomForest {
                trees: Vec::new(),
                dim,
            };
        }
        let n = x.len();
        let grow = |t: usize| {
            let mut rng = ChaCha8Rng::seed_from_u64(crate::seed::mix(cfg.seed, t as u64));
            let mut idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            let mut b = Builder {
                x,
                y,
                cfg,
                nodes: Vec::new(),
            };
            b.build(&mut idx, 0, &mut rng);
            Tree { nodes: b.nodes }
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, |p| p.get())
            .clamp(1, cfg.trees.max(1));
        let mut trees: Vec<(usize, Tree)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|w| {
                    let grow = &grow;
                    s.spawn(move || {
                        (w..cfg.trees)
                            .step_by(threads)
                            .map(|t| (t, grow(t)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        });
        trees.sort_by_key(|(t, _)| *t);
        RandomForest {
            trees: trees.into_iter().map(|(_, t)| t).collect(),
            dim,
        }
    }

    /// Mean and variance of the trees' predictions at `x`.
    pub fn predict(&self, x: &[f64]) -> (f64, f64) {
        let n = self.trees.len() as f64;
        let p: Vec<f64> = self.trees.iter().map(|t| t.predict(x)).collect();
        let m = p.iter().sum::<f64>() / n;
        let v = p.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n;
        (m, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forest_fits_a_step_and_generalises() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let x: Vec<Vec<f64>> = (0..400)
            .map(|_| vec![rng.random::<f64>(), rng.random::<f64>()])
            .collect();
        let f = |p: &[f64]| if p[0] > 0.3 { 5.0 } else { 1.0 } + 0.1 * p[1];
        let y: Vec<f64> = x.iter().map(|p| f(p)).collect();
        let forest = RandomForest::fit(&x, &y, &ForestConfig::default());
        assert_eq!(forest.trees.len(), 32);
        for p in [[0.1, 0.5], [0.9, 0.5], [0.5, 0.1]] {
            let (m, _) = forest.predict(&p);
            assert!((m - f(&p)).abs() < 0.3, "{p:?}: {m} vs {}", f(&p));
        }
        // Leaves tile the unit square.
        let area: f64 = forest.trees[0]
            .leaves(&[0.0, 0.0], &[1.0, 1.0])
            .iter()
            .map(|(l, h, _)| (h[0] - l[0]) * (h[1] - l[1]))
            .sum();
        assert!((area - 1.0).abs() < 1e-12);
        assert!(
            RandomForest::fit(&[], &[], &ForestConfig::default())
                .trees
                .is_empty()
        );
    }
}
