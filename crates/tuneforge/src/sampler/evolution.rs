//! Regularized (aging) evolution: a tournament picks a parent among a random sample of the
//! population, the child is the parent with exactly one parameter mutated, and the population is
//! always the most recent trials, so the oldest member leaves first, not the worst.
//!
//! Aging keeps the search from clinging to lucky old results (the regularization of the
//! paper). The population is derived from the study's history, so any number of workers share
//! one evolution through the storage, with no sampler state. Until the population is full,
//! trials are quasi-random (Sobol).
//!
//! # References
//! - E. Real, A. Aggarwal, Y. Huang, Q. V. Le, "Regularized Evolution for Image Classifier
//!   Architecture Search", AAAI 2019 (Algorithm 1: population P, sample S, one mutation, remove
//!   the oldest).
//!
//! ```
//! use tuneforge::{Study, Optimize};
//! use tuneforge::sampler::EvolutionConfig;
//! let study = Study::builder("doc-rea").sampler(EvolutionConfig::default().build(3)).build().unwrap();
//! study.optimize(|t| -> tuneforge::Result<f64> {
//!     let mut s = 0.0;
//!     for i in 0..4 {
//!         s += (t.suggest_int(&format!("x{i}"), 0, 9).get()? - 7).abs() as f64;
//!     }
//!     Ok(s)
//! }, Optimize::trials(300)).unwrap();
//! assert_eq!(study.best_value().unwrap(), Some(0.0));
//! ```

use indexmap::IndexMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Sampler, SobolSampler, StudyView, internal_values};
use crate::distribution::{Distribution, ParamValue};
use crate::error::Result;
use crate::record::FrozenTrial;
use crate::seed::mix;

/// Settings of [`EvolutionSampler`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvolutionConfig {
    /// Population size P (the most recent P complete trials). Default 50.
    pub population: usize,
    /// Tournament sample size S. Default 10.
    pub sample: usize,
}

impl Default for EvolutionConfig {
    fn default() -> Self {
        EvolutionConfig {
            population: 50,
            sample: 10,
        }
    }
}

impl EvolutionConfig {
    /// Builds the sampler with this seed.
    pub fn build(self, seed: u64) -> EvolutionSampler {
        EvolutionSampler {
            startup: SobolSampler::new(seed),
            cfg: self,
            seed,
        }
    }
}

/// The regularized-evolution sampler. See the module documentation.
#[derive(Clone, Debug)]
pub struct EvolutionSampler {
    cfg: EvolutionConfig,
    seed: u64,
    startup: SobolSampler,
}

impl EvolutionSampler {
    /// The current population: the most recently finished complete trials, newest last.
    pub fn population<'a>(&self, study: &'a StudyView) -> Vec<&'a FrozenTrial> {
        let mut done: Vec<&FrozenTrial> =
            study.complete().filter(|t| t.value().is_some()).collect();
        done.sort_by_key(|t| (t.finished_ms, t.number));
        let skip = done.len().saturating_sub(self.cfg.population.max(1));
        done.split_off(skip)
    }

    /// The child of `parent`: the same parameters with exactly one changed (to another value of
    /// its distribution). Parameters with a single possible value are never chosen.
    pub fn mutate(parent: &FrozenTrial, rng: &mut impl Rng) -> IndexMap<String, ParamValue> {
        let mut child = parent.params.clone();
        let mutable: Vec<&String> = parent
            .distributions
            .iter()
            .filter(|(_, d)| !d.is_single())
            .map(|(n, _)| n)
            .collect();
        if mutable.is_empty() {
            return child;
        }
        let name = mutable[rng.random_range(0..mutable.len())];
        let new = mutate_value(&parent.distributions[name], &parent.params[name], rng);
        child.insert(name.clone(), new);
        child
    }
}

/// A value of `dist` different from `old`: another choice of a categorical; for numbers a
/// Gaussian step in the unit interval, widened until the value changes, and finally any other
/// value of the range.
pub fn mutate_value(dist: &Distribution, old: &ParamValue, rng: &mut impl Rng) -> ParamValue {
    if let Distribution::Categorical { choices } = dist {
        let others: Vec<&ParamValue> = choices.iter().filter(|c| *c != old).collect();
        return match others.len() {
            0 => old.clone(),
            n => others[rng.random_range(0..n)].clone(),
        };
    }
    let u = dist.to_unit(old).unwrap_or(0.5);
    for scale in [0.1, 0.2, 0.4, 1.0, 1.0, 1.0, 1.0, 1.0] {
        let a: f64 = rng.random::<f64>().max(1e-300);
        let b: f64 = rng.random();
        let z = (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos();
        let cand = dist.from_unit((u + scale * z).clamp(0.0, 1.0));
        if &cand != old {
            return cand;
        }
    }
    match dist.values() {
        Some(values) => {
            let others: Vec<ParamValue> = values.into_iter().filter(|v| v != old).collect();
            if others.is_empty() {
                old.clone()
            } else {
                others[rng.random_range(0..others.len())].clone()
            }
        }
        None => dist.from_unit(rng.random()),
    }
}

impl Sampler for EvolutionSampler {
    fn infer_relative_space(
        &self,
        study: &StudyView,
        _trial: &FrozenTrial,
    ) -> IndexMap<String, Distribution> {
        if study.directions.len() != 1 || self.population(study).len() < self.cfg.population.max(1)
        {
            return IndexMap::new();
        }
        // The parent decides the space: every parameter it has.
        self.population(study)
            .last()
            .map(|t| t.distributions.clone().into_iter().collect())
            .unwrap_or_default()
    }

    fn sample_relative(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
        _space: &IndexMap<String, Distribution>,
    ) -> Result<IndexMap<String, f64>> {
        let pop = self.population(study);
        if pop.is_empty() {
            return Ok(IndexMap::new());
        }
        let dir = study.directions[0];
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed, trial.number ^ 0xE7));
        // Tournament: the best of S members drawn with replacement.
        let mut parent = pop[rng.random_range(0..pop.len())];
        for _ in 1..self.cfg.sample.max(1) {
            let c = pop[rng.random_range(0..pop.len())];
            if let (Some(a), Some(b)) = (c.value(), parent.value())
                && dir.better(a, b)
            {
                parent = c;
            }
        }
        internal_values(Self::mutate(parent, &mut rng), &parent.distributions)
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
        "evolution"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Optimize, Outcome, Study};

    #[test]
    fn mutation_changes_exactly_one_parameter() {
        let s = Study::builder("m").build().unwrap();
        let mut t = s.ask().unwrap();
        t.suggest_categorical("op", &["conv", "pool", "skip"])
            .unwrap();
        t.suggest_int("width", 8, 64).get().unwrap();
        t.suggest_float("lr", 1e-4, 1.0).log().get().unwrap();
        t.suggest_int("fixed", 3, 3).get().unwrap();
        let parent = s.tell(t, Outcome::Complete(vec![1.0])).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for _ in 0..200 {
            let child = EvolutionSampler::mutate(&parent, &mut rng);
            let changed: Vec<&String> = child
                .iter()
                .filter(|(k, v)| parent.params[*k] != **v)
                .map(|(k, _)| k)
                .collect();
            assert_eq!(changed.len(), 1, "{child:?}");
            assert_ne!(changed[0], "fixed");
            for (k, v) in &child {
                assert!(parent.distributions[k].contains(v));
            }
        }
    }

    #[test]
    fn the_population_drops_the_oldest_not_the_worst() {
        let sampler = EvolutionConfig {
            population: 3,
            sample: 2,
        }
        .build(0);
        let s = Study::builder("age").build().unwrap();
        // The best value comes first; three worse ones follow.
        for v in [0.0, 5.0, 6.0, 7.0] {
            let mut t = s.ask().unwrap();
            t.suggest_float("x", 0.0, 1.0).get().unwrap();
            s.tell(t, Outcome::Complete(vec![v])).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        let view = s.view().unwrap();
        let pop: Vec<f64> = sampler
            .population(&view)
            .iter()
            .map(|t| t.value().unwrap())
            .collect();
        assert_eq!(
            pop,
            vec![5.0, 6.0, 7.0],
            "the best but oldest member has aged out"
        );
    }

    #[test]
    fn evolution_improves_on_its_startup_and_is_reproducible() {
        let run = |seed| {
            let s = Study::builder("e")
                .sampler(
                    EvolutionConfig {
                        population: 20,
                        sample: 5,
                    }
                    .build(seed),
                )
                .build()
                .unwrap();
            s.optimize(
                |t| -> crate::Result<f64> {
                    let op = t.suggest_categorical("op", &["a", "b", "c", "d"])?;
                    let mut v = if op == "c" { 0.0 } else { 3.0 };
                    for i in 0..5 {
                        v += (t.suggest_int(&format!("k{i}"), 0, 9).get()? - 2).abs() as f64;
                    }
                    Ok(v)
                },
                Optimize::trials(400),
            )
            .unwrap();
            let ts = s.trials().unwrap();
            let best_startup = ts[..20]
                .iter()
                .filter_map(|t| t.value())
                .fold(f64::INFINITY, f64::min);
            (
                best_startup,
                s.best_value().unwrap().unwrap(),
                ts.into_iter().map(|t| t.params).collect::<Vec<_>>(),
            )
        };
        let (start, best, seq) = run(1);
        assert!(
            best < start && best <= 1.0,
            "startup {start}, evolved {best}"
        );
        assert_eq!(seq, run(1).2);
    }
}
