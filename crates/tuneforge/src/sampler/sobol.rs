//! Quasi-random search with an Owen-scrambled Sobol sequence: points cover the space more evenly
//! than independent random draws (lower discrepancy), which helps at small budgets.
//!
//! Trial `n` takes the `n`-th point of the sequence; each parameter name gets its own dimension,
//! in the order names first appear in the study, so conditional parameters keep stable
//! dimensions. Past the sequence's 256 dimensions, parameters fall back to random draws.
//!
//! # References
//! - I. M. Sobol', "On the distribution of points in a cube and the approximate evaluation of
//!   integrals", USSR Comput. Math. Math. Phys. 7(4), 1967.
//! - A. B. Owen, "Randomly permuted (t,m,s)-nets and (t,s)-sequences", 1995 (scrambling).
//! - B. Burley, "Practical Hash-based Owen Scrambling", JCGT 9(4), 2020 (the scrambling used).
//!
//! ```
//! use tuneforge::{Study, SobolSampler};
//! let study = Study::builder("doc-sobol").sampler(SobolSampler::new(1)).build().unwrap();
//! study.optimize(|t| -> tuneforge::Result<f64> {
//!     let x = t.suggest_float("x", 0.0, 1.0).get()?;
//!     Ok((x - 0.3).abs())
//! }, tuneforge::Optimize::trials(16)).unwrap();
//! assert!(study.best_value().unwrap().unwrap() < 0.07);
//! ```

use super::{RandomSampler, Sampler, StudyView};
use crate::distribution::Distribution;
use crate::error::Result;
use crate::record::FrozenTrial;

/// Dimensions the Sobol tables cover.
pub const MAX_DIMENSIONS: usize = 256;

/// Scrambled Sobol sampling, seeded.
#[derive(Clone, Debug)]
pub struct SobolSampler {
    seed: u64,
    fallback: RandomSampler,
}

impl SobolSampler {
    /// A Sobol sampler whose scrambling is seeded by `seed`.
    pub fn new(seed: u64) -> Self {
        SobolSampler {
            seed,
            fallback: RandomSampler::new(seed),
        }
    }

    /// The `index`-th point's coordinate in dimension `dim`, in `[0, 1)`.
    pub fn point(&self, index: u64, dim: usize) -> f64 {
        sobol_burley::sample(index as u32, dim as u32, self.seed as u32) as f64
    }
}

/// The dimension of `name`: its position among parameter names in order of first appearance.
fn dimension(study: &StudyView, trial: &FrozenTrial, name: &str) -> usize {
    let mut seen: Vec<&str> = Vec::new();
    let earlier = study
        .trials
        .iter()
        .map(|t| t.as_ref())
        .filter(|t| t.number < trial.number);
    for t in earlier.chain(std::iter::once(trial)) {
        for k in t.params.keys() {
            if k == name {
                return seen.len();
            }
            if !seen.contains(&k.as_str()) {
                seen.push(k);
            }
        }
    }
    seen.len()
}

impl Sampler for SobolSampler {
    fn sample_independent(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
        name: &str,
        dist: &Distribution,
    ) -> Result<f64> {
        let dim = dimension(study, trial, name);
        if dim >= MAX_DIMENSIONS || trial.number >= u32::MAX as u64 {
            return self.fallback.sample_independent(study, trial, name, dist);
        }
        dist.to_internal(&dist.from_unit(self.point(trial.number, dim)))
    }

    fn name(&self) -> &'static str {
        "sobol"
    }
}
