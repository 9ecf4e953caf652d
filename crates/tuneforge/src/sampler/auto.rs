//! The default sampler: picks the strategy that fits the study, trial by trial.
//!
//! - Several objectives → TPE (its split ranks trials by non-dominated sorting).
//! - A conditional space (complete trials with different parameter sets) → TPE, whose group
//!   decomposition models each branch on the trials that have it.
//! - A finite space (every parameter integer, stepped or categorical: a grid) → TPE, which
//!   models each cell directly and passes over configurations already tried, where the GP
//!   optimises a continuous relaxation and snaps it back onto the grid. On the six tabular
//!   problems of the sampler benchmark, over 40 seeds at 100 evaluations (`tuneforge-bench
//!   samplers --samplers gp,tpe --seeds 40 --budget 100 --problems fcnet,mlp`), TPE's median
//!   regret was at most the GP's on five and clearly lower on four.
//! - Otherwise, while the history is small (under `gp_max_trials` complete trials) → GP-BO,
//!   the most sample-efficient at small budgets; beyond that → TPE, whose cost grows linearly
//!   where the GP's grows cubically.
//!
//! Both start with the same quasi-random (Sobol) trials, so switching loses nothing. Parameters
//! outside the GP's joint proposal (new conditional ones) are drawn by TPE's independent model.
//! The rule follows the benchmark in docs/BENCHMARKS.md, where GP-BO leads on continuous and
//! mixed spaces at 100 evaluations and TPE on conditional ones.
//!
//! ```
//! use tuneforge::{Study, Optimize};
//! use tuneforge::sampler::AutoSampler;
//! let study = Study::builder("doc-auto").sampler(AutoSampler::new(1)).build().unwrap();
//! study.optimize(|t| -> tuneforge::Result<f64> {
//!     let x = t.suggest_float("x", -5.0, 5.0).get()?;
//!     Ok((x - 2.0).powi(2))
//! }, Optimize::trials(25)).unwrap();
//! assert!(study.best_value().unwrap().unwrap() < 1e-3);
//! ```

use indexmap::IndexMap;

use super::{GpConfig, GpSampler, Sampler, StudyView, TpeConfig, TpeSampler};
use crate::distribution::Distribution;
use crate::error::Result;
use crate::record::FrozenTrial;

/// The strategy [`AutoSampler`] uses for a trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Gaussian-process BO.
    Gp,
    /// Tree-structured Parzen estimator.
    Tpe,
}

/// Chooses between GP-BO and TPE from the study's shape and history.
#[derive(Debug)]
pub struct AutoSampler {
    tpe: TpeSampler,
    gp: GpSampler,
    /// Complete trials beyond which TPE replaces the GP. Default 300.
    pub gp_max_trials: usize,
}

impl AutoSampler {
    /// The default sampler with this seed.
    pub fn new(seed: u64) -> Self {
        AutoSampler {
            tpe: TpeConfig::default().build(seed),
            gp: GpConfig::default().build(seed),
            gp_max_trials: 300,
        }
    }

    /// The strategy for the next trial of `study`.
    pub fn choose(&self, study: &StudyView) -> Choice {
        if study.directions.len() > 1 {
            return Choice::Tpe;
        }
        let mut first: Option<Vec<&String>> = None;
        let mut n = 0;
        for t in study.complete() {
            n += 1;
            let keys: Vec<&String> = t.params.keys().collect();
            match &first {
                None => {
                    if !t.distributions.is_empty()
                        && t.distributions.values().all(|d| d.cardinality().is_some())
                    {
                        return Choice::Tpe;
                    }
                    first = Some(keys)
                }
                Some(f)
                    if f.len() != keys.len() || f.iter().any(|k| !t.params.contains_key(*k)) =>
                {
                    return Choice::Tpe;
                }
                _ => {}
            }
        }
        if n >= self.gp_max_trials {
            Choice::Tpe
        } else {
            Choice::Gp
        }
    }

    fn pick(&self, study: &StudyView) -> &dyn Sampler {
        match self.choose(study) {
            Choice::Gp => &self.gp,
            Choice::Tpe => &self.tpe,
        }
    }
}

impl Sampler for AutoSampler {
    fn infer_relative_space(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
    ) -> IndexMap<String, Distribution> {
        self.pick(study).infer_relative_space(study, trial)
    }

    fn sample_relative(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
        space: &IndexMap<String, Distribution>,
    ) -> Result<IndexMap<String, f64>> {
        self.pick(study).sample_relative(study, trial, space)
    }

    fn sample_independent(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
        name: &str,
        dist: &Distribution,
    ) -> Result<f64> {
        self.tpe.sample_independent(study, trial, name, dist)
    }

    fn name(&self) -> &'static str {
        "auto"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Direction, Optimize, Outcome, Study};

    #[test]
    fn picks_gp_for_plain_spaces_and_tpe_for_conditional_or_finite_ones_many_objectives_or_long_histories()
     {
        let plain = Study::builder("p").build().unwrap();
        plain
            .optimize(
                |t| -> crate::Result<f64> { t.suggest_float("x", 0.0, 1.0).get() },
                Optimize::trials(5),
            )
            .unwrap();
        let auto = AutoSampler::new(0);
        assert_eq!(auto.choose(&plain.view().unwrap()), Choice::Gp);
        let short = AutoSampler {
            gp_max_trials: 5,
            ..AutoSampler::new(0)
        };
        assert_eq!(short.choose(&plain.view().unwrap()), Choice::Tpe);

        let cond = Study::builder("c").build().unwrap();
        cond.optimize(
            |t| -> crate::Result<f64> {
                if t.suggest_categorical("k", &["a", "b"])? == "a" {
                    t.suggest_float("x", 0.0, 1.0).get()?;
                }
                Ok(0.0)
            },
            Optimize::trials(12),
        )
        .unwrap();
        assert_eq!(auto.choose(&cond.view().unwrap()), Choice::Tpe);

        let grid = Study::builder("g").build().unwrap();
        grid.optimize(
            |t| -> crate::Result<f64> {
                let a = t.suggest_int("a", 0, 5).get()?;
                let b = t.suggest_float("b", 0.0, 1.0).step(0.1).get()?;
                t.suggest_categorical("c", &["x", "y"])?;
                Ok(a as f64 + b)
            },
            Optimize::trials(3),
        )
        .unwrap();
        assert_eq!(auto.choose(&grid.view().unwrap()), Choice::Tpe);

        let mo = Study::builder("m")
            .directions([Direction::Minimize, Direction::Maximize])
            .build()
            .unwrap();
        let t = mo.ask().unwrap();
        mo.tell(t, Outcome::Complete(vec![1.0, 2.0])).unwrap();
        assert_eq!(auto.choose(&mo.view().unwrap()), Choice::Tpe);
    }
}
