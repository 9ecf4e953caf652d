//! A steady-state genetic algorithm: two parents chosen by tournament from the best trials so
//! far, a child by uniform crossover (each parameter from either parent), then mutation of each
//! parameter with probability 1/n (at least one when the child equals a parent).
//!
//! The population (the `population` best complete trials, elitist) is read from the history at
//! each ask, so workers share it through the storage.
//!
//! # References
//! - J. H. Holland, "Adaptation in Natural and Artificial Systems", 1975 (selection, crossover,
//!   mutation).
//! - D. E. Goldberg and K. Deb, "A Comparative Analysis of Selection Schemes Used in Genetic
//!   Algorithms", FOGA 1991 (tournament selection).
//! - G. Syswerda, "Uniform Crossover in Genetic Algorithms", ICGA 1989.
//!
//! ```
//! use tuneforge::{Study, Optimize};
//! use tuneforge::sampler::GeneticConfig;
//! let study = Study::builder("doc-ga").sampler(GeneticConfig::default().build(5)).build().unwrap();
//! study.optimize(|t| -> tuneforge::Result<f64> {
//!     let mut s = 0.0;
//!     for i in 0..6 {
//!         s += if t.suggest_categorical(&format!("b{i}"), &[false, true])? { 0.0 } else { 1.0 };
//!     }
//!     Ok(s)
//! }, Optimize::trials(200)).unwrap();
//! assert_eq!(study.best_value().unwrap(), Some(0.0));
//! ```

use indexmap::IndexMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::evolution::mutate_value;
use super::{EvolutionSampler, Sampler, SobolSampler, StudyView, internal_values};
use crate::distribution::{Distribution, ParamValue};
use crate::error::Result;
use crate::record::FrozenTrial;
use crate::seed::mix;

/// Settings of [`GeneticSampler`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GeneticConfig {
    /// Population: the best this many complete trials. Default 30.
    pub population: usize,
    /// Tournament size. Default 3.
    pub tournament: usize,
}

impl Default for GeneticConfig {
    fn default() -> Self {
        GeneticConfig {
            population: 30,
            tournament: 3,
        }
    }
}

impl GeneticConfig {
    /// Builds the sampler with this seed.
    pub fn build(self, seed: u64) -> GeneticSampler {
        GeneticSampler {
            startup: SobolSampler::new(seed),
            cfg: self,
            seed,
        }
    }
}

/// The genetic-algorithm sampler. See the module documentation.
#[derive(Clone, Debug)]
pub struct GeneticSampler {
    cfg: GeneticConfig,
    seed: u64,
    startup: SobolSampler,
}

/// Uniform crossover: each parameter of `a` taken from `a` or, when `b` has it with the same
/// distribution, from `b` with probability 1/2.
pub fn uniform_crossover(
    a: &FrozenTrial,
    b: &FrozenTrial,
    rng: &mut impl Rng,
) -> IndexMap<String, ParamValue> {
    a.params
        .iter()
        .map(|(k, v)| {
            let from_b = b.distributions.get(k) == a.distributions.get(k) && rng.random::<bool>();
            (
                k.clone(),
                if from_b {
                    b.params[k].clone()
                } else {
                    v.clone()
                },
            )
        })
        .collect()
}

impl GeneticSampler {
    fn population<'a>(&self, study: &'a StudyView) -> Vec<&'a FrozenTrial> {
        let dir = study.directions[0];
        let mut done: Vec<&FrozenTrial> =
            study.complete().filter(|t| t.value().is_some()).collect();
        done.sort_by(|a, b| {
            let (x, y) = (
                dir.to_loss(a.value().unwrap_or(f64::INFINITY)),
                dir.to_loss(b.value().unwrap_or(f64::INFINITY)),
            );
            x.total_cmp(&y).then(a.number.cmp(&b.number))
        });
        done.truncate(self.cfg.population.max(2));
        done
    }

    fn tournament<'a>(&self, pop: &[&'a FrozenTrial], rng: &mut impl Rng) -> &'a FrozenTrial {
        // The population is sorted best first: the smallest index drawn wins.
        let best = (0..self.cfg.tournament.max(1))
            .map(|_| rng.random_range(0..pop.len()))
            .min()
            .unwrap_or(0);
        pop[best]
    }
}

impl Sampler for GeneticSampler {
    fn infer_relative_space(
        &self,
        study: &StudyView,
        _trial: &FrozenTrial,
    ) -> IndexMap<String, Distribution> {
        if study.directions.len() != 1 || study.complete().count() < self.cfg.population.max(2) {
            return IndexMap::new();
        }
        self.population(study)
            .first()
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
        if pop.len() < 2 {
            return Ok(IndexMap::new());
        }
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed, trial.number ^ 0x6A));
        let a = self.tournament(&pop, &mut rng);
        let b = self.tournament(&pop, &mut rng);
        let mut child = uniform_crossover(a, b, &mut rng);
        let n = child.len().max(1) as f64;
        for (name, v) in child.iter_mut() {
            let d = &a.distributions[name];
            if !d.is_single() && rng.random::<f64>() < 1.0 / n {
                *v = mutate_value(d, v, &mut rng);
            }
        }
        if child == a.params || child == b.params {
            // A copy of a parent teaches nothing: change one parameter.
            let mut base = a.clone();
            base.params = child;
            child = EvolutionSampler::mutate(&base, &mut rng);
        }
        internal_values(child, &a.distributions)
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
        "genetic"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Optimize, Outcome, Study};

    #[test]
    fn crossover_takes_every_gene_from_one_parent_and_mixes_both() {
        let s = Study::builder("x").build().unwrap();
        let make = || {
            let mut t = s.ask().unwrap();
            for i in 0..20 {
                t.suggest_int(&format!("g{i}"), 0, 9).get().unwrap();
            }
            s.tell(t, Outcome::Complete(vec![0.0])).unwrap()
        };
        let (a, b) = (make(), make());
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let child = uniform_crossover(&a, &b, &mut rng);
        let mut from_a = 0;
        let mut from_b = 0;
        for (k, v) in &child {
            assert!(*v == a.params[k] || *v == b.params[k]);
            from_a += (*v == a.params[k]) as usize;
            from_b += (*v == b.params[k]) as usize;
        }
        assert!(from_a > 3 && from_b > 3, "{from_a} {from_b}");
    }

    #[test]
    fn the_algorithm_improves_on_its_random_start() {
        let s = Study::builder("ga")
            .sampler(GeneticConfig::default().build(3))
            .build()
            .unwrap();
        s.optimize(
            |t| -> crate::Result<f64> {
                let mut v = 0.0;
                for i in 0..8 {
                    v += (t.suggest_int(&format!("k{i}"), 0, 9).get()? - 6).abs() as f64;
                }
                Ok(v)
            },
            Optimize::trials(400),
        )
        .unwrap();
        let ts = s.trials().unwrap();
        let start = ts[..30]
            .iter()
            .filter_map(|t| t.value())
            .fold(f64::INFINITY, f64::min);
        let best = s.best_value().unwrap().unwrap();
        assert!(best < start / 3.0, "start {start}, best {best}");
    }
}
