//! Asynchronous successive halving (ASHA) as a pruner.
//!
//! Li et al. 2020, "A System for Massively Parallel Hyperparameter Tuning" (MLSys), Algorithm 2:
//! rungs at resources r·η^(s+k); a configuration that reaches a rung is promoted (here: allowed
//! to continue) when it is among the best ⌊n/η⌋ of the n configurations that have reached that
//! rung so far, and stopped otherwise. Decisions never wait for a rung to fill, so workers never
//! idle; early on, with fewer than η configurations at a rung, the best one continues.
//! Each trial is judged once per rung, at the first report at or beyond it.

use super::{Pruner, Target, loss_at, losses, peers, rung_resources};
use crate::error::Result;
use crate::record::FrozenTrial;
use crate::sampler::StudyView;

/// ASHA: prune at each rung unless among the best 1/η that reached it.
#[derive(Clone, Debug)]
pub struct AshaPruner {
    /// Resource (step) of the first rung, r.
    pub min_resource: u64,
    /// The full resource R: a trial that reaches it is never pruned.
    pub max_resource: u64,
    /// Reduction factor η.
    pub reduction_factor: u64,
    /// Minimum early-stopping rate s: the first rung is at r·η^s.
    pub min_early_stopping_rate: u32,
    /// The metric and direction that drive pruning.
    pub target: Target,
}

impl AshaPruner {
    /// Rungs from `min_resource` up to `max_resource`, reduction factor `eta`.
    pub fn new(min_resource: u64, max_resource: u64, eta: u64) -> Self {
        AshaPruner {
            min_resource: min_resource.max(1),
            max_resource,
            reduction_factor: eta.max(2),
            min_early_stopping_rate: 0,
            target: Target::default(),
        }
    }

    /// The metric and direction that drive pruning.
    pub fn target(mut self, t: Target) -> Self {
        self.target = t;
        self
    }

    /// The first rung at r·η^s.
    pub fn min_early_stopping_rate(mut self, s: u32) -> Self {
        self.min_early_stopping_rate = s;
        self
    }

    /// The rung resources.
    pub fn rungs(&self) -> Vec<u64> {
        rung_resources(
            self.min_resource,
            self.max_resource,
            self.reduction_factor,
            self.min_early_stopping_rate,
        )
    }

    /// The decision for `trial` at the rungs `rungs` (resources, increasing) against the
    /// trials `competitors` yields.
    pub(crate) fn judge<'a>(
        &self,
        study: &'a StudyView,
        trial: &'a FrozenTrial,
        rungs: &[u64],
        competitors: impl Fn(&FrozenTrial) -> bool,
    ) -> Result<bool> {
        let Some((metric, d)) = self.target.resolve(study, trial)? else {
            return Ok(false);
        };
        let curve = losses(trial, &metric, d);
        let Some(&(step, _)) = curve.last() else {
            return Ok(false);
        };
        let previous = curve.len().checked_sub(2).map(|i| curve[i].0);
        // The rung this report crosses (judged once, at the first report reaching it).
        let Some(rung) = rungs
            .iter()
            .rev()
            .copied()
            .find(|&r| r <= step && previous.is_none_or(|p| p < r))
        else {
            return Ok(false);
        };
        let Some(mine) = loss_at(trial, &metric, d, rung, None) else {
            return Ok(false);
        };
        let others: Vec<f64> = peers(study, trial)
            .filter(|t| competitors(t))
            .filter_map(|t| loss_at(t, &metric, d, rung, Some(0)))
            .collect();
        let n = others.len() + 1;
        let keep = (n / self.reduction_factor as usize).max(1);
        let better = others.iter().filter(|&&o| o < mine).count();
        Ok(better >= keep)
    }
}

impl Pruner for AshaPruner {
    fn prune(&self, study: &StudyView, trial: &FrozenTrial) -> Result<bool> {
        self.judge(study, trial, &self.rungs(), |_| true)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{trial, view};
    use super::*;
    use crate::record::TrialState::{Complete, Pruned, Running};

    #[test]
    fn promotes_without_waiting_for_the_rung_to_fill() {
        let p = AshaPruner::new(1, 27, 3);
        // The very first trial to reach rung 1 goes on: nobody to wait for.
        let first = trial(0, Running, &[5.0]);
        assert!(!p.prune(&view(vec![first.clone()]), &first).unwrap());
        // Two at the rung (fewer than η): the better one continues, the worse one stops.
        let a = trial(0, Running, &[5.0, 4.0]);
        let b = trial(1, Running, &[7.0]);
        assert!(p.prune(&view(vec![a.clone(), b.clone()]), &b).unwrap());
        let c = trial(1, Running, &[3.0]);
        assert!(!p.prune(&view(vec![a, c.clone()]), &c).unwrap());
    }

    #[test]
    fn keeps_the_best_one_over_eta_of_those_that_reached_the_rung() {
        let p = AshaPruner::new(1, 81, 3);
        // Eight trials reached rung 1 (loss 1..8); with the new one, n = 9 and the best 3 go on.
        let mut hist: Vec<FrozenTrial> = (0..8)
            .map(|i| {
                trial(
                    i,
                    if i % 2 == 0 { Complete } else { Pruned },
                    &[i as f64 + 1.0],
                )
            })
            .collect();
        let good = trial(8, Running, &[2.5]);
        let bad = trial(8, Running, &[3.5]);
        hist.push(good.clone());
        assert!(
            !p.prune(&view(hist.clone()), &good).unwrap(),
            "third best of 9"
        );
        hist.pop();
        hist.push(bad.clone());
        assert!(p.prune(&view(hist), &bad).unwrap(), "fourth best of 9");
    }

    #[test]
    fn judges_each_rung_once_and_never_prunes_between_rungs() {
        let p = AshaPruner::new(1, 81, 3);
        let rivals: Vec<FrozenTrial> = (0..9).map(|i| trial(i, Complete, &[0.1; 10])).collect();
        // Step 2 lies between rungs 1 and 3: no decision there, however bad the value.
        let t = trial(20, Running, &[0.05, 9.0]);
        let mut all = rivals.clone();
        all.push(t.clone());
        assert!(!p.prune(&view(all), &t).unwrap());
        // At step 3 the rung is judged on the value there.
        let t = trial(20, Running, &[0.05, 9.0, 9.0]);
        let mut all = rivals;
        all.push(t.clone());
        assert!(p.prune(&view(all), &t).unwrap());
        assert_eq!(p.rungs(), vec![1, 3, 9, 27]);
    }
}
