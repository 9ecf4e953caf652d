//! NSGA-II for several objectives, with optional constraints.
//!
//! Deb, Pratap, Agarwal & Meyarivan 2002, "A Fast and Elitist Multiobjective Genetic Algorithm:
//! NSGA-II" (IEEE TEC 6(2)): the parents are the best P trials by non-domination rank, ties
//! broken by crowding distance (elitist, §III-C); two parents are picked by binary tournaments
//! on (rank, crowding); the child is made by simulated binary crossover (SBX, Deb & Agrawal
//! 1995) and polynomial mutation on numeric parameters (in the unit cube of each distribution),
//! uniform crossover and random reset on categorical ones. Constraints use constrained
//! dominance (§VI): a trial records `constraints` (values ≤ 0 mean satisfied) with
//! [`crate::Trial::set_constraints`]; feasible beats infeasible, smaller violation beats larger.
//!
//! Steady state: the parent set is selected from every complete trial at each ask, so any
//! number of workers share one population through the storage.

use indexmap::IndexMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Sampler, SobolSampler, StudyView, internal_values};
use crate::attrs;
use crate::distribution::{Distribution, ParamValue};
use crate::error::Result;
use crate::pareto::{constrained_dominates, crowding_distance, non_dominated_fronts};
use crate::record::FrozenTrial;
use crate::seed::mix;

/// Settings of [`Nsga2Sampler`].
#[derive(Clone, Debug, PartialEq)]
pub struct Nsga2Config {
    /// Parent population size P. Default 50.
    pub population: usize,
    /// Probability of crossover (else the child is a mutated copy). Default 0.9.
    pub crossover_prob: f64,
    /// SBX distribution index η_c. Default 20.
    pub eta_crossover: f64,
    /// Polynomial-mutation distribution index η_m. Default 20.
    pub eta_mutation: f64,
}

impl Default for Nsga2Config {
    fn default() -> Self {
        Nsga2Config {
            population: 50,
            crossover_prob: 0.9,
            eta_crossover: 20.0,
            eta_mutation: 20.0,
        }
    }
}

impl Nsga2Config {
    /// Builds the sampler with this seed.
    pub fn build(self, seed: u64) -> Nsga2Sampler {
        Nsga2Sampler {
            cfg: self,
            seed,
            startup: SobolSampler::new(seed),
        }
    }
}

/// The NSGA-II sampler. See the module documentation.
#[derive(Clone, Debug)]
pub struct Nsga2Sampler {
    cfg: Nsga2Config,
    seed: u64,
    startup: SobolSampler,
}

/// A trial's total constraint violation: the sum of its positive constraint values (0 when it
/// records none).
pub fn violation(t: &FrozenTrial) -> f64 {
    t.system_attrs
        .get(attrs::CONSTRAINTS)
        .and_then(|v| v.as_array())
        .map(|cs| {
            cs.iter()
                .map(|c| c.as_f64().unwrap_or(f64::INFINITY).max(0.0))
                .sum()
        })
        .unwrap_or(0.0)
}

struct Parents<'a> {
    trials: Vec<&'a FrozenTrial>,
    rank: Vec<usize>,
    crowding: Vec<f64>,
}

impl Nsga2Sampler {
    /// The P best complete trials by (rank, crowding distance).
    fn parents<'a>(&self, study: &'a StudyView) -> Parents<'a> {
        let done: Vec<&FrozenTrial> = study
            .complete()
            .filter(|t| {
                t.values
                    .as_ref()
                    .is_some_and(|v| v.len() == study.directions.len())
            })
            .collect();
        let losses: Vec<Vec<f64>> = done
            .iter()
            .map(|t| {
                t.values
                    .iter()
                    .flatten()
                    .zip(&study.directions)
                    .map(|(v, d)| d.to_loss(*v))
                    .collect()
            })
            .collect();
        let viol: Vec<f64> = done.iter().map(|t| violation(t)).collect();
        let fronts = non_dominated_fronts(done.len(), |a, b| {
            constrained_dominates(&losses[a], viol[a], &losses[b], viol[b])
        });
        let mut out = Parents {
            trials: Vec::new(),
            rank: Vec::new(),
            crowding: Vec::new(),
        };
        for (r, front) in fronts.iter().enumerate() {
            let cd = crowding_distance(&losses, front);
            let mut members: Vec<(usize, f64)> = front.iter().copied().zip(cd).collect();
            let room = self.cfg.population.max(2) - out.trials.len();
            if members.len() > room {
                // The last front that fits only partly: the least crowded go in.
                members.sort_by(|a, b| {
                    b.1.total_cmp(&a.1)
                        .then(done[a.0].number.cmp(&done[b.0].number))
                });
                members.truncate(room);
            }
            for (i, c) in members {
                out.trials.push(done[i]);
                out.rank.push(r);
                out.crowding.push(c);
            }
            if out.trials.len() >= self.cfg.population.max(2) {
                break;
            }
        }
        out
    }

    /// Binary tournament: lower rank wins, then larger crowding distance.
    fn tournament<'a>(&self, p: &Parents<'a>, rng: &mut impl Rng) -> &'a FrozenTrial {
        let a = rng.random_range(0..p.trials.len());
        let b = rng.random_range(0..p.trials.len());
        let a_wins =
            p.rank[a] < p.rank[b] || (p.rank[a] == p.rank[b] && p.crowding[a] >= p.crowding[b]);
        p.trials[if a_wins { a } else { b }]
    }
}

/// SBX on two unit-cube values: two children spread around the parents by a polynomial
/// distribution of index η.
fn sbx(x1: f64, x2: f64, eta: f64, rng: &mut impl Rng) -> (f64, f64) {
    let u: f64 = rng.random();
    let beta = if u <= 0.5 {
        (2.0 * u).powf(1.0 / (eta + 1.0))
    } else {
        (1.0 / (2.0 * (1.0 - u))).powf(1.0 / (eta + 1.0))
    };
    let c1 = 0.5 * ((1.0 + beta) * x1 + (1.0 - beta) * x2);
    let c2 = 0.5 * ((1.0 - beta) * x1 + (1.0 + beta) * x2);
    (c1.clamp(0.0, 1.0), c2.clamp(0.0, 1.0))
}

/// Polynomial mutation of a unit-cube value (Deb & Goyal 1996).
fn polynomial_mutation(x: f64, eta: f64, rng: &mut impl Rng) -> f64 {
    let u: f64 = rng.random();
    let delta = if u < 0.5 {
        (2.0 * u).powf(1.0 / (eta + 1.0)) - 1.0
    } else {
        1.0 - (2.0 * (1.0 - u)).powf(1.0 / (eta + 1.0))
    };
    (x + delta).clamp(0.0, 1.0)
}

impl Sampler for Nsga2Sampler {
    fn infer_relative_space(
        &self,
        study: &StudyView,
        _trial: &FrozenTrial,
    ) -> IndexMap<String, Distribution> {
        if study.complete().count() < self.cfg.population.max(2) {
            return IndexMap::new();
        }
        self.parents(study)
            .trials
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
        let p = self.parents(study);
        if p.trials.len() < 2 {
            return Ok(IndexMap::new());
        }
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed, trial.number ^ 0x5A62));
        let a = self.tournament(&p, &mut rng);
        let b = self.tournament(&p, &mut rng);
        let cross = rng.random::<f64>() < self.cfg.crossover_prob;
        let n = a.params.len().max(1) as f64;
        let mut child: IndexMap<String, ParamValue> = IndexMap::new();
        for (name, va) in &a.params {
            let d = &a.distributions[name];
            let vb = b
                .params
                .get(name)
                .filter(|_| b.distributions.get(name) == Some(d));
            let numeric = !matches!(d, Distribution::Categorical { .. });
            let mut v = match (cross, vb) {
                (true, Some(vb)) if numeric && rng.random::<bool>() => {
                    let (ua, ub) = (d.to_unit(va)?, d.to_unit(vb)?);
                    let (c1, c2) = sbx(ua, ub, self.cfg.eta_crossover, &mut rng);
                    d.from_unit(if rng.random::<bool>() { c1 } else { c2 })
                }
                (true, Some(vb)) if rng.random::<bool>() => vb.clone(),
                _ => va.clone(),
            };
            if !d.is_single() && rng.random::<f64>() < 1.0 / n {
                v = if numeric {
                    d.from_unit(polynomial_mutation(
                        d.to_unit(&v)?,
                        self.cfg.eta_mutation,
                        &mut rng,
                    ))
                } else {
                    d.from_unit(rng.random())
                };
            }
            child.insert(name.clone(), v);
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
        "nsga2"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pareto::hypervolume;
    use crate::{Direction, Optimize, RandomSampler, Study};

    /// ZDT1 (Zitzler, Deb & Thiele 2000) in 6 dimensions: the front is f2 = 1 − √f1 at g = 1.
    fn zdt1(t: &mut crate::Trial) -> crate::Result<(f64, f64)> {
        let x: Vec<f64> = (0..6)
            .map(|i| t.suggest_float(&format!("x{i}"), 0.0, 1.0).get())
            .collect::<crate::Result<_>>()?;
        let g = 1.0 + 9.0 * x[1..].iter().sum::<f64>() / 5.0;
        Ok((x[0], g * (1.0 - (x[0] / g).sqrt())))
    }

    fn front_hv(s: &Study) -> f64 {
        let pts: Vec<Vec<f64>> = s
            .best_trials()
            .unwrap()
            .iter()
            .map(|t| t.values.clone().unwrap())
            .collect();
        hypervolume(&pts, &[1.1, 11.0])
    }

    #[test]
    fn nsga2_pushes_the_front_further_than_random_search_on_zdt1() {
        let mut wins = 0;
        for seed in 0..3 {
            let run = |sampler: Box<dyn Fn() -> Study>| {
                let s = sampler();
                s.optimize(zdt1, Optimize::trials(400)).unwrap();
                front_hv(&s)
            };
            let ga = run(Box::new(move || {
                Study::builder("zdt1-nsga2")
                    .directions([Direction::Minimize, Direction::Minimize])
                    .sampler(Nsga2Config::default().build(seed))
                    .build()
                    .unwrap()
            }));
            let rs = run(Box::new(move || {
                Study::builder("zdt1-random")
                    .directions([Direction::Minimize, Direction::Minimize])
                    .sampler(RandomSampler::new(seed))
                    .build()
                    .unwrap()
            }));
            wins += usize::from(ga > rs);
        }
        assert_eq!(wins, 3);
    }

    #[test]
    fn constraints_steer_the_population_to_feasible_trials() {
        // Minimise (x, 1 − x) subject to x ≥ 0.6: the feasible front is x in [0.6, 1].
        let s = Study::builder("constrained")
            .directions([Direction::Minimize, Direction::Minimize])
            .sampler(
                Nsga2Config {
                    population: 20,
                    ..Default::default()
                }
                .build(4),
            )
            .build()
            .unwrap();
        s.optimize(
            |t| -> crate::Result<(f64, f64)> {
                let x = t.suggest_float("x", 0.0, 1.0).get()?;
                let y = t.suggest_float("y", 0.0, 1.0).get()?;
                t.set_constraints(&[0.6 - x])?;
                Ok((x + y, 1.0 - x + y))
            },
            Optimize::trials(200),
        )
        .unwrap();
        let trials = s.trials().unwrap();
        let late: Vec<&FrozenTrial> = trials.iter().skip(120).collect();
        let feasible = late.iter().filter(|t| violation(t) == 0.0).count();
        assert!(
            feasible as f64 >= 0.8 * late.len() as f64,
            "{feasible} of {}",
            late.len()
        );
        let early = trials
            .iter()
            .take(20)
            .filter(|t| violation(t) == 0.0)
            .count();
        assert!(
            early < 16,
            "the random start is not already feasible: {early}"
        );
    }
}
