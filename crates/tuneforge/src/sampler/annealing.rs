//! Simulated annealing: a random walk that always accepts a better neighbour and accepts a worse
//! one with probability exp(−Δ/T), the temperature T cooling geometrically, so the walk explores
//! first and settles later.
//!
//! The walk is replayed from the history at each ask (each trial is a proposed neighbour of the
//! walk's current point, accepted or not with a draw seeded by its number), so the sampler holds
//! no state and a resumed study continues the same walk. Δ is measured in units of the spread of
//! the values seen so far, so the schedule does not depend on the objective's scale.
//!
//! # References
//! - S. Kirkpatrick, C. D. Gelatt, M. P. Vecchi, "Optimization by Simulated Annealing",
//!   Science 220, 1983 (Metropolis acceptance, cooling schedule).
//!
//! ```
//! use tuneforge::{Study, Optimize};
//! use tuneforge::sampler::AnnealingConfig;
//! let study = Study::builder("doc-sa").sampler(AnnealingConfig::default().build(2)).build().unwrap();
//! study.optimize(|t| -> tuneforge::Result<f64> {
//!     let x = t.suggest_float("x", -5.0, 5.0).get()?;
//!     let y = t.suggest_float("y", -5.0, 5.0).get()?;
//!     Ok((x - 1.0).powi(2) + (y + 1.0).powi(2))
//! }, Optimize::trials(300)).unwrap();
//! assert!(study.best_value().unwrap().unwrap() < 0.05);
//! ```

use indexmap::IndexMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{EvolutionSampler, Sampler, SobolSampler, StudyView, internal_values};
use crate::distribution::Distribution;
use crate::error::Result;
use crate::record::FrozenTrial;
use crate::seed::mix;

/// Settings of [`AnnealingSampler`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnnealingConfig {
    /// Initial temperature, in units of the spread of observed values. Default 1.0.
    pub t0: f64,
    /// Cooling factor per step. Default 0.97.
    pub cooling: f64,
    /// Quasi-random trials before the walk starts (its start is the best of them). Default 10.
    pub n_startup_trials: usize,
}

impl Default for AnnealingConfig {
    fn default() -> Self {
        AnnealingConfig {
            t0: 1.0,
            cooling: 0.97,
            n_startup_trials: 10,
        }
    }
}

impl AnnealingConfig {
    /// Builds the sampler with this seed.
    pub fn build(self, seed: u64) -> AnnealingSampler {
        AnnealingSampler {
            startup: SobolSampler::new(seed),
            cfg: self,
            seed,
        }
    }
}

/// The simulated-annealing sampler. See the module documentation.
#[derive(Clone, Debug)]
pub struct AnnealingSampler {
    cfg: AnnealingConfig,
    seed: u64,
    startup: SobolSampler,
}

/// Whether the Metropolis rule accepts a move that worsens the loss by `delta` (in units of the
/// value spread) at temperature `t`, given a uniform draw `u`.
pub fn accepts(delta: f64, t: f64, u: f64) -> bool {
    delta <= 0.0 || (t > 0.0 && u < (-delta / t).exp())
}

impl AnnealingSampler {
    /// Replays the walk over the history: the trial the walk stands on now, and the step count.
    pub fn current<'a>(&self, study: &'a StudyView) -> Option<(&'a FrozenTrial, usize)> {
        let dir = *study.directions.first()?;
        let done: Vec<&FrozenTrial> = study.complete().filter(|t| t.value().is_some()).collect();
        if done.len() < self.cfg.n_startup_trials.max(1) {
            return None;
        }
        let (startup, walk) = done.split_at(self.cfg.n_startup_trials.max(1));
        let loss = |t: &FrozenTrial| dir.to_loss(t.value().unwrap_or(f64::INFINITY));
        let mut cur = *startup.iter().min_by(|a, b| loss(a).total_cmp(&loss(b)))?;
        let values: Vec<f64> = done.iter().map(|t| loss(t)).collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let spread = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64)
            .sqrt()
            .max(1e-12);
        let mut t = self.cfg.t0;
        for cand in walk {
            let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed, cand.number ^ 0xA11));
            if accepts((loss(cand) - loss(cur)) / spread, t, rng.random()) {
                cur = cand;
            }
            t *= self.cfg.cooling;
        }
        Some((cur, walk.len()))
    }
}

impl Sampler for AnnealingSampler {
    fn infer_relative_space(
        &self,
        study: &StudyView,
        _trial: &FrozenTrial,
    ) -> IndexMap<String, Distribution> {
        if study.directions.len() != 1 {
            return IndexMap::new();
        }
        self.current(study)
            .map(|(c, _)| c.distributions.clone().into_iter().collect())
            .unwrap_or_default()
    }

    fn sample_relative(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
        _space: &IndexMap<String, Distribution>,
    ) -> Result<IndexMap<String, f64>> {
        let Some((cur, _)) = self.current(study) else {
            return Ok(IndexMap::new());
        };
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed, trial.number ^ 0x5A));
        internal_values(EvolutionSampler::mutate(cur, &mut rng), &cur.distributions)
    }

    fn sample_independent(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
        name: &str,
        dist: &Distribution,
    ) -> Result<f64> {
        self.startup.sample_independent(study, trial, name, dist)
    }

    fn name(&self) -> &'static str {
        "annealing"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Optimize, Study};

    #[test]
    fn the_metropolis_rule_accepts_worse_moves_less_as_it_cools() {
        assert!(accepts(-1.0, 0.0, 0.99), "better moves are always taken");
        let rate = |t: f64| {
            (0..1000)
                .filter(|i| accepts(0.5, t, (*i as f64 + 0.5) / 1000.0))
                .count()
        };
        let (hot, warm, cold) = (rate(5.0), rate(0.5), rate(0.05));
        assert!(hot > warm && warm > cold, "{hot} {warm} {cold}");
        assert!((hot as f64 / 1000.0 - (-0.1f64).exp()).abs() < 0.01);
        assert_eq!(rate(0.0), 0);
    }

    #[test]
    fn the_walk_settles_near_the_optimum_and_replays_deterministically() {
        let s = Study::builder("sa")
            .sampler(AnnealingConfig::default().build(4))
            .build()
            .unwrap();
        s.optimize(
            |t| -> crate::Result<f64> {
                let mut v = 0.0;
                for i in 0..3 {
                    v += (t.suggest_int(&format!("k{i}"), 0, 20).get()? - 13).abs() as f64;
                }
                Ok(v)
            },
            Optimize::trials(300),
        )
        .unwrap();
        assert!(s.best_value().unwrap().unwrap() <= 1.0);
        let view = s.view().unwrap();
        let sampler = AnnealingConfig::default().build(4);
        let (a, steps) = sampler.current(&view).unwrap();
        let (b, _) = sampler.current(&view).unwrap();
        assert_eq!(a.number, b.number);
        assert_eq!(steps, 290);
    }
}
