//! REINFORCE architecture search: an LSTM controller ([`crate::nas::controller`]) emits each
//! architecture decision by decision; every finished trial's result updates the controller by
//! the policy gradient with a baseline.
//!
//! The reward is the objective (negated when minimising). Its advantage is `R - b`, with `b` an
//! exponential moving average of past rewards (decay 0.9), divided by the standard deviation
//! of all rewards so far so that the step size does not depend on the objective's units
//! (a deviation from the paper, which uses raw accuracies in [0, 1]). One Adam step per
//! finished trial, in trial-number order. Proposals whose identity was already evaluated are
//! drawn again (up to 20 times).
//!
//! The controller lives in the sampler, so it learns from the trials this process sees; with
//! several workers each worker's controller learns from every finished trial in the storage.
//!
//! # References
//! - B. Zoph, Q. V. Le, "Neural Architecture Search with Reinforcement Learning", ICLR 2017
//!   (LSTM controller, REINFORCE with a moving-average baseline).
//! - H. Pham et al., "Efficient Neural Architecture Search via Parameter Sharing", ICML 2018
//!   (entropy bonus).

use indexmap::IndexMap;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::{RandomSampler, Sampler, StudyView};
use crate::distribution::Distribution;
use crate::error::Result;
use crate::nas::ArchitectureSpace;
use crate::nas::controller::Controller;
use crate::record::{FrozenTrial, TrialState};
use crate::seed::mix;

/// Settings of [`ReinforceSampler`].
#[derive(Clone, Debug, PartialEq)]
pub struct ReinforceConfig {
    /// LSTM units. Default 32.
    pub hidden: usize,
    /// Adam learning rate. Default 0.02.
    pub learning_rate: f64,
    /// Entropy bonus weight. Default 0.001.
    pub entropy_weight: f64,
    /// Decay of the moving-average baseline. Default 0.9.
    pub baseline_decay: f64,
}

impl Default for ReinforceConfig {
    fn default() -> Self {
        ReinforceConfig {
            hidden: 32,
            learning_rate: 0.02,
            entropy_weight: 1e-3,
            baseline_decay: 0.9,
        }
    }
}

#[derive(Debug)]
struct Learner {
    controller: Controller,
    consumed: HashSet<u64>,
    baseline: Option<f64>,
    /// Welford running mean and sum of squares of the rewards.
    count: f64,
    mean: f64,
    m2: f64,
}

/// The REINFORCE sampler. See the module documentation.
#[derive(Debug)]
pub struct ReinforceSampler {
    space: Arc<dyn ArchitectureSpace>,
    /// The decisions as distributions (the relative search space), built once.
    relative: IndexMap<String, Distribution>,
    cfg: ReinforceConfig,
    seed: u64,
    learner: Mutex<Learner>,
    fallback: RandomSampler,
}

impl ReinforceSampler {
    /// A controller over `space` with the settings `cfg`.
    pub fn new(space: Arc<dyn ArchitectureSpace>, cfg: ReinforceConfig, seed: u64) -> Self {
        let sizes: Vec<usize> = space.decisions().iter().map(|d| d.choices.len()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, 0xC0));
        let mut controller = Controller::new(&sizes, cfg.hidden, &mut rng);
        controller.learning_rate = cfg.learning_rate;
        controller.entropy_weight = cfg.entropy_weight;
        ReinforceSampler {
            relative: crate::nas::relative_space(space.as_ref()),
            space,
            cfg,
            seed,
            learner: Mutex::new(Learner {
                controller,
                consumed: HashSet::new(),
                baseline: None,
                count: 0.0,
                mean: 0.0,
                m2: 0.0,
            }),
            fallback: RandomSampler::new(seed),
        }
    }

    /// Feeds every finished trial not yet learnt from to the controller, in number order.
    fn learn(&self, study: &StudyView, learner: &mut Learner) {
        if study.directions.len() != 1 {
            return;
        }
        let dir = study.directions[0];
        let mut fresh: Vec<&FrozenTrial> = study
            .complete()
            .filter(|t| !learner.consumed.contains(&t.number))
            .collect();
        fresh.sort_by_key(|t| t.number);
        for t in fresh {
            learner.consumed.insert(t.number);
            let (Some(v), Ok(arch)) = (t.value(), self.space.arch_of(&t.params)) else {
                continue;
            };
            // The reward: larger is better.
            let r = -dir.to_loss(v);
            learner.count += 1.0;
            let d = r - learner.mean;
            learner.mean += d / learner.count;
            learner.m2 += d * (r - learner.mean);
            let sd = (learner.m2 / learner.count).sqrt();
            if let Some(b) = learner.baseline
                && sd > 0.0
            {
                let adv = ((r - b) / sd).clamp(-3.0, 3.0);
                learner.controller.update(&arch, adv);
            }
            let decay = self.cfg.baseline_decay;
            learner.baseline = Some(match learner.baseline {
                None => r,
                Some(b) => decay * b + (1.0 - decay) * r,
            });
        }
    }

    /// The log-probability the controller now gives `arch` (after learning from `study`).
    pub fn log_prob(&self, study: &StudyView, arch: &[usize]) -> f64 {
        let mut l = self.learner.lock().unwrap_or_else(|e| e.into_inner());
        self.learn(study, &mut l);
        l.controller.log_prob(arch)
    }
}

impl Sampler for ReinforceSampler {
    fn infer_relative_space(
        &self,
        _study: &StudyView,
        _trial: &FrozenTrial,
    ) -> IndexMap<String, Distribution> {
        self.relative.clone()
    }

    fn sample_relative(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
        space: &IndexMap<String, Distribution>,
    ) -> Result<IndexMap<String, f64>> {
        let mut l = self.learner.lock().unwrap_or_else(|e| e.into_inner());
        self.learn(study, &mut l);
        let seen: HashSet<String> = study
            .in_states(&[
                TrialState::Complete,
                TrialState::Running,
                TrialState::Waiting,
            ])
            .filter(|t| t.number != trial.number)
            .filter_map(|t| self.space.arch_of(&t.params).ok())
            .map(|a| self.space.identity(&a))
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed, trial.number ^ 0x2E));
        let mut arch = l.controller.sample(&mut rng);
        for _ in 0..20 {
            if !seen.contains(&self.space.identity(&arch)) {
                break;
            }
            arch = l.controller.sample(&mut rng);
        }
        Ok(crate::nas::proposal(self.space.as_ref(), &arch, space))
    }

    fn sample_independent(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
        name: &str,
        dist: &Distribution,
    ) -> Result<f64> {
        self.fallback.sample_independent(study, trial, name, dist)
    }

    fn name(&self) -> &'static str {
        "reinforce"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nas::CellSpace;
    use crate::{Direction, Optimize, Study};

    #[test]
    fn on_a_space_with_one_good_architecture_it_learns_to_emit_it() {
        // A 3-node cell (3 edges, 125 cells); one cell scores 1, every other 0 plus a small
        // reward per edge that agrees with it, so the signal is sparse but not flat.
        let space: Arc<dyn ArchitectureSpace> = Arc::new(
            CellSpace::new(3, &["a", "b", "c", "d", "e"])
                .unwrap()
                .with_semantics(None, None)
                .unwrap(),
        );
        let target = vec![3, 1, 4];
        let sampler = Arc::new(ReinforceSampler::new(
            space.clone(),
            ReinforceConfig {
                hidden: 16,
                learning_rate: 0.05,
                ..Default::default()
            },
            7,
        ));
        let study = Study::builder("rl")
            .direction(Direction::Maximize)
            .sampler_arc(sampler.clone())
            .build()
            .unwrap();
        let s2 = space.clone();
        let t2 = target.clone();
        study
            .optimize(
                move |t| -> crate::Result<f64> {
                    let a = s2.suggest(t)?;
                    let agree = a.iter().zip(&t2).filter(|(x, y)| x == y).count() as f64;
                    Ok(if a == t2 { 1.0 } else { 0.1 * agree })
                },
                Optimize::trials(300),
            )
            .unwrap();
        let view = study.view().unwrap();
        let p = sampler.log_prob(&view, &target).exp();
        assert!(p > 0.5, "p(target) = {p} after 300 trials (uniform: 0.008)");
        let trials = study.trials().unwrap();
        let hits = trials
            .iter()
            .filter(|t| space.arch_of(&t.params).unwrap() == target)
            .count();
        assert!(hits >= 1, "the target was found");
    }
}
