//! The median stopping rule and its percentile generalisation.
//!
//! Golovin et al. 2017, "Google Vizier: A Service for Black-Box Optimization" (KDD), §3.2.2:
//! stop a trial at step s if its best objective value by step s is strictly worse than the
//! median of the running averages of all completed trials' objectives reported up to step s.
//! With percentile p instead of the median (p = 50), the rule keeps trials that are at least as
//! good as the p-th percentile (smaller p prunes more). The rule never prunes during the first
//! `warmup_steps` steps of a trial, nor before `startup_trials` trials have completed.

use super::{Pruner, Target, losses};
use crate::error::Result;
use crate::record::{FrozenTrial, TrialState};
use crate::sampler::StudyView;

/// Median stopping (p = 50) or percentile stopping.
#[derive(Clone, Debug)]
pub struct PercentilePruner {
    /// The percentile of completed trials' running averages a trial must not be worse than.
    pub percentile: f64,
    /// Steps of a trial during which it is never pruned.
    pub warmup_steps: u64,
    /// Completed trials needed before anything is pruned.
    pub startup_trials: usize,
    /// The metric and direction that drive pruning.
    pub target: Target,
}

impl PercentilePruner {
    /// The median stopping rule (5 startup trials, no warm-up).
    pub fn median() -> Self {
        Self::percentile(50.0)
    }

    /// Percentile stopping at `p` (0 < p < 100).
    pub fn percentile(p: f64) -> Self {
        PercentilePruner {
            percentile: p.clamp(0.0, 100.0),
            warmup_steps: 0,
            startup_trials: 5,
            target: Target::default(),
        }
    }

    /// Never prune during a trial's first `steps` steps.
    pub fn warmup_steps(mut self, steps: u64) -> Self {
        self.warmup_steps = steps;
        self
    }

    /// Completed trials needed before pruning starts.
    pub fn startup_trials(mut self, n: usize) -> Self {
        self.startup_trials = n;
        self
    }

    /// The metric and direction that drive pruning.
    pub fn target(mut self, t: Target) -> Self {
        self.target = t;
        self
    }
}

/// The p-th percentile (linear interpolation) of `v`, sorted ascending.
fn percentile_of(v: &[f64], p: f64) -> f64 {
    let pos = (p / 100.0) * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

impl Pruner for PercentilePruner {
    fn prune(&self, study: &StudyView, trial: &FrozenTrial) -> Result<bool> {
        let Some((metric, d)) = self.target.resolve(study, trial)? else {
            return Ok(false);
        };
        let mine = losses(trial, &metric, d);
        let Some(&(step, _)) = mine.last() else {
            return Ok(false);
        };
        if step < self.warmup_steps {
            return Ok(false);
        }
        let best = mine.iter().map(|(_, l)| *l).fold(f64::INFINITY, f64::min);
        let mut averages: Vec<f64> = study
            .trials
            .iter()
            .filter(|t| t.state == TrialState::Complete && t.id != trial.id)
            .filter_map(|t| {
                let upto: Vec<f64> = losses(t, &metric, d)
                    .into_iter()
                    .take_while(|(s, _)| *s <= step)
                    .map(|(_, l)| l)
                    .collect();
                (!upto.is_empty()).then(|| upto.iter().sum::<f64>() / upto.len() as f64)
            })
            .collect();
        if averages.len() < self.startup_trials.max(1) {
            return Ok(false);
        }
        averages.sort_by(f64::total_cmp);
        Ok(best > percentile_of(&averages, self.percentile))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{trial, view};
    use super::*;
    use crate::record::TrialState::{Complete, Running};

    fn done(n: u64, level: f64) -> FrozenTrial {
        trial(n, Complete, &[level + 3.0, level + 2.0, level + 1.0, level])
    }

    #[test]
    fn median_stopping_prunes_strictly_worse_than_the_median_of_running_averages() {
        // Completed trials' running averages at step 2: 2.5, 3.5, 4.5, 5.5, 6.5 → median 4.5.
        let history: Vec<FrozenTrial> = (0..5).map(|i| done(i, i as f64)).collect();
        let p = PercentilePruner::median();
        let mut all = history.clone();
        let bad = trial(5, Running, &[9.0, 4.6]);
        all.push(bad.clone());
        assert!(p.prune(&view(all), &bad).unwrap(), "best 4.6 > median 4.5");
        let mut all = history.clone();
        let ok = trial(5, Running, &[9.0, 4.5]);
        all.push(ok.clone());
        assert!(
            !p.prune(&view(all), &ok).unwrap(),
            "equal to the median is kept"
        );
        // A smaller percentile is stricter: the 25th percentile at step 2 is 3.5.
        let strict = PercentilePruner::percentile(25.0);
        let mut all = history;
        let mid = trial(5, Running, &[9.0, 4.0]);
        all.push(mid.clone());
        assert!(strict.prune(&view(all.clone()), &mid).unwrap());
        assert!(!p.prune(&view(all), &mid).unwrap());
    }

    #[test]
    fn never_prunes_during_warmup_or_before_enough_trials_completed() {
        let history: Vec<FrozenTrial> = (0..5).map(|i| done(i, i as f64)).collect();
        let p = PercentilePruner::median().warmup_steps(3);
        for steps in 1..=4 {
            let curve = vec![1e9; steps];
            let t = trial(9, Running, &curve);
            let mut all = history.clone();
            all.push(t.clone());
            assert_eq!(p.prune(&view(all), &t).unwrap(), steps >= 3, "step {steps}");
        }
        let few: Vec<FrozenTrial> = (0..4).map(|i| done(i, i as f64)).collect();
        let t = trial(9, Running, &[1e9]);
        let mut all = few;
        all.push(t.clone());
        assert!(!PercentilePruner::median().prune(&view(all), &t).unwrap());
    }

    #[test]
    fn a_diverged_trial_is_pruned_and_ambiguous_metrics_are_an_error() {
        let mut all: Vec<FrozenTrial> = (0..5).map(|i| done(i, i as f64)).collect();
        let t = trial(9, Running, &[f64::NAN]);
        all.push(t.clone());
        assert!(
            PercentilePruner::median()
                .prune(&view(all.clone()), &t)
                .unwrap()
        );
        let mut two = t.clone();
        two.intermediate
            .get_mut(&1)
            .unwrap()
            .insert("acc".into(), 0.5);
        let e = PercentilePruner::median()
            .prune(&view(all), &two)
            .unwrap_err()
            .to_string();
        assert!(e.contains("several metrics"), "{e}");
    }
}
