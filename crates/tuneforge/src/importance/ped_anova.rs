//! PED-ANOVA: parameter importance from the Pearson divergence between where the best trials lie
//! and where all trials lie, one parameter at a time, in closed form (no surrogate model).
//!
//! For parameter `d`, `p_top` is the density of its values among the top-γ quantile of trials
//! and `p_all` among all of them (Gaussian kernel density on a grid for numbers, smoothed
//! frequencies for categories). The importance is `D_PE(p_top || p_all) =
//! sum p_all (p_top / p_all - 1)^2`: zero when the best trials are spread like all trials
//! (the parameter does not matter), large when they concentrate. The paper's factor `γ^2` is
//! common to all parameters and cancels when the importances are normalised.
//!
//! # References
//! - S. Watanabe, A. Bansal, F. Hutter, "PED-ANOVA: Efficiently Quantifying Hyperparameter
//!   Importance in Arbitrary Subspaces", IJCAI 2023 (Theorem 1: the local HPI of the γ-set is
//!   γ² times a Pearson divergence of the γ-set's marginal to the γ'-set's).

/// Grid points for numeric parameters.
const GRID: usize = 128;

/// One parameter's values in unit space, and its number of categories (`None`: numeric).
pub struct Column<'a> {
    /// Unit-space values, one per trial.
    pub values: &'a [f64],
    /// Categories when categorical.
    pub categories: Option<usize>,
}

/// The density of `values` on the grid (numeric) or over the categories, summing to 1.
fn density(values: &[f64], categories: Option<usize>, bandwidth_from: &[f64]) -> Vec<f64> {
    match categories {
        Some(k) => {
            // One pseudo-count spread over the categories keeps every ratio finite.
            let mut c = vec![1.0 / k as f64; k];
            for &v in values {
                c[((v * k as f64).floor() as usize).min(k - 1)] += 1.0;
            }
            let s: f64 = c.iter().sum();
            c.iter().map(|x| x / s).collect()
        }
        None => {
            let n = bandwidth_from.len().max(2) as f64;
            let mean = bandwidth_from.iter().sum::<f64>() / n;
            let sd = (bandwidth_from
                .iter()
                .map(|v| (v - mean) * (v - mean))
                .sum::<f64>()
                / n)
                .sqrt();
            // Scott's rule on the reference set, never narrower than the grid.
            let h = (1.06 * sd * n.powf(-0.2)).max(1.0 / GRID as f64);
            let mut p = vec![1e-12; GRID];
            for (g, pg) in p.iter_mut().enumerate() {
                let x = (g as f64 + 0.5) / GRID as f64;
                for &v in values {
                    let z = (x - v) / h;
                    *pg += (-0.5 * z * z).exp();
                }
            }
            let s: f64 = p.iter().sum();
            p.iter().map(|x| x / s).collect()
        }
    }
}

/// The unnormalised importance of each column: the Pearson divergence of its top-trials
/// density from its all-trials density. `top` marks the γ-set.
pub fn divergences(columns: &[Column<'_>], top: &[bool]) -> Vec<f64> {
    columns
        .iter()
        .map(|c| {
            let best: Vec<f64> = c
                .values
                .iter()
                .zip(top)
                .filter(|(_, t)| **t)
                .map(|(v, _)| *v)
                .collect();
            let p_top = density(&best, c.categories, c.values);
            let p_all = density(c.values, c.categories, c.values);
            p_top
                .iter()
                .zip(&p_all)
                .map(|(t, a)| a * (t / a - 1.0).powi(2))
                .sum()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn the_parameter_that_decides_the_best_trials_scores_highest() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let n = 1000;
        let x0: Vec<f64> = (0..n).map(|_| rng.random()).collect();
        let x1: Vec<f64> = (0..n).map(|_| rng.random()).collect();
        let cat: Vec<f64> = (0..n)
            .map(|_| (rng.random_range(0..3) as f64 + 0.5) / 3.0)
            .collect();
        // Minimise (x0 - 0.2)^2 + 0.01 x1; the category does nothing.
        let y: Vec<f64> = (0..n)
            .map(|i| (x0[i] - 0.2).powi(2) + 0.01 * x1[i])
            .collect();
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| y[a].total_cmp(&y[b]));
        let mut top = vec![false; n];
        for &i in &order[..n / 10] {
            top[i] = true;
        }
        let d = divergences(
            &[
                Column {
                    values: &x0,
                    categories: None,
                },
                Column {
                    values: &x1,
                    categories: None,
                },
                Column {
                    values: &cat,
                    categories: Some(3),
                },
            ],
            &top,
        );
        assert!(d[0] > 10.0 * d[1] && d[0] > 10.0 * d[2], "{d:?}");
    }
}
