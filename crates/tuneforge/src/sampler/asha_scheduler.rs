//! Promotion-based ASHA: every trial runs to a budget it is given; a configuration among the
//! best 1/η of a rung is promoted by a new trial with the same parameters, η times the budget,
//! and the previous trial's directory to resume from.
//!
//! Li et al. 2020, "A System for Massively Parallel Hyperparameter Tuning" (MLSys), Algorithm 2
//! (`get_job`): look for a promotable configuration from the top rung down (one among the best
//! ⌊n/η⌋ of the n trials at its rung that has not been promoted yet); if there is none, start a
//! new configuration at the bottom rung. This is the form for resources a running process
//! cannot simply continue with (a data fraction, a model size) or for checkpoints: the trial
//! command gets `{budget}` and `{resume}` (the directory of the trial it continues).
//!
//! Each promotion is a claim (`promote:N`), so with any number of workers a configuration is
//! promoted exactly once. New configurations come from the wrapped sampler.
//!
//! A tuneforge option, not in the paper: [`AshaScheduler::first_full_after`]. Under the rule
//! above a configuration reaches the full resource only once every rung below it holds η
//! results (for R = 52, η = 3 and rungs 2, 6, 17: 120 epochs in this module's test, and none
//! within 104 epochs on any LCBench task), so a study stopped early has no full-budget result.
//! With the option, until some trial has been given the full resource, the rule above runs
//! until the bottom rung holds the first n results; then the leader, the best configuration at
//! the highest rung reached, is promoted rung by rung to the full resource without waiting for
//! the rungs to fill, as the stopping form of ASHA lets its first trials run on; then the rule
//! above takes over again. For n ≤ η nothing has left the bottom rung by then, so the leader is
//! the best of the first n there (n·b₀ + R − b₀ epochs, b₀ being the bottom rung's budget: 56
//! for n = 3, b₀ = 2); for n = 9 on LCBench the leader has usually passed a rung or two
//! already and the first full result comes after 72-95 epochs (median 76).

use indexmap::IndexMap;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::{Reservation, Sampler, StudyView};
use crate::attrs;
use crate::distribution::Distribution;
use crate::error::Result;
use crate::pruner::{Target, asha_budgets};
use crate::record::{FrozenTrial, TrialState};

/// Promotion-based ASHA around a sampler for new configurations.
pub struct AshaScheduler {
    inner: Arc<dyn Sampler>,
    budgets: Vec<u64>,
    eta: u64,
    target: Target,
    first_full_after: Option<usize>,
}

impl AshaScheduler {
    /// Budgets r, rη, rη², ... below `max_resource`, then `max_resource`; new configurations
    /// from `inner`.
    pub fn new(inner: Arc<dyn Sampler>, min_resource: u64, max_resource: u64, eta: u64) -> Self {
        AshaScheduler {
            inner,
            budgets: asha_budgets(min_resource, max_resource, eta),
            eta: eta.max(2),
            target: Target::default(),
            first_full_after: None,
        }
    }

    /// Rungs at other budgets (increasing, the last being the full resource): Hyperband's
    /// R·η^(−k) ([`crate::pruner::hyperband_budgets`]) for instance.
    pub fn budgets_at(mut self, mut budgets: Vec<u64>) -> Self {
        budgets.sort_unstable();
        budgets.dedup();
        if !budgets.is_empty() {
            self.budgets = budgets;
        }
        self
    }

    /// The objective value's direction (the metric is the trial's value).
    pub fn target(mut self, t: Target) -> Self {
        self.target = t;
        self
    }

    /// Until a trial has been given the full resource: once the bottom rung holds `n` results,
    /// promote the leader (the best at the highest rung reached) straight on, one rung at a
    /// time, without waiting for each rung to hold η results (see the module documentation).
    /// `n` is at least 1.
    pub fn first_full_after(mut self, n: usize) -> Self {
        self.first_full_after = Some(n.max(1));
        self
    }

    /// The budgets of the rungs, the last being the full resource.
    pub fn budgets(&self) -> &[u64] {
        &self.budgets
    }
}

/// The budget a trial was given (None: not scheduled).
pub fn budget_of(t: &FrozenTrial) -> Option<u64> {
    t.system_attrs.get(attrs::BUDGET).and_then(|v| v.as_u64())
}

/// What a promotion schedule reads first: the direction of the value it ranks by, and the
/// claim keys already taken (`promote:N` among them).
pub(crate) fn schedule_state<'a>(
    target: &Target,
    study: &'a StudyView,
) -> (crate::Direction, HashSet<&'a str>) {
    let direction = target
        .direction
        .or_else(|| study.directions.first().copied())
        .unwrap_or(crate::Direction::Minimize);
    let claimed = study
        .trials
        .iter()
        .filter_map(|t| t.system_attrs.get(attrs::CLAIM).and_then(|v| v.as_str()))
        .collect();
    (direction, claimed)
}

/// What a trial counts as at its rung: its value, when it completed with one that is not NaN.
fn rung_result(t: &FrozenTrial) -> Option<f64> {
    t.value()
        .filter(|v| !v.is_nan())
        .filter(|_| t.state == TrialState::Complete)
}

/// The best of a rung's completed trials not yet promoted: the trials are ranked by their value
/// in `direction` (ties: the earlier trial first), `keep(n)` of the n ranked may be promoted,
/// and `claimed` holds the `promote:N` keys already taken.
pub(crate) fn unpromoted_best<'a>(
    rung: impl Iterator<Item = &'a FrozenTrial>,
    direction: crate::Direction,
    keep: impl FnOnce(usize) -> usize,
    claimed: &HashSet<&str>,
) -> Option<&'a FrozenTrial> {
    let mut ranked: Vec<(f64, &FrozenTrial)> = rung
        .filter_map(|t| rung_result(t).map(|v| (direction.to_loss(v), t)))
        .collect();
    ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.number.cmp(&b.1.number)));
    let keep = keep(ranked.len());
    ranked
        .into_iter()
        .take(keep)
        .map(|(_, t)| t)
        .find(|t| !claimed.contains(format!("promote:{}", t.number).as_str()))
}

/// The claim that continues trial `t` with `budget`: the same parameters, resuming from `t`'s
/// checkpoint at `t`'s budget, with `extra` attributes (a promotion is claimed once per trial).
pub(crate) fn promotion(
    t: &FrozenTrial,
    budget: u64,
    extra: BTreeMap<String, serde_json::Value>,
) -> Reservation {
    let mut params = t.fixed_params();
    params.extend(t.params.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut attrs = extra;
    attrs.insert(attrs::BUDGET.to_string(), budget.into());
    attrs.insert(attrs::RESUME_FROM.to_string(), t.number.into());
    if let Some(b) = budget_of(t) {
        attrs.insert(attrs::RESUME_BUDGET.to_string(), b.into());
    }
    Reservation::Claim {
        key: format!("promote:{}", t.number),
        params,
        attrs,
    }
}

/// The sampling methods of a scheduler: new configurations come from its `inner` sampler.
macro_rules! delegate_sampling_to_inner {
    () => {
        fn infer_relative_space(
            &self,
            study: &StudyView,
            trial: &FrozenTrial,
        ) -> IndexMap<String, Distribution> {
            self.inner.infer_relative_space(study, trial)
        }

        fn sample_relative(
            &self,
            study: &StudyView,
            trial: &FrozenTrial,
            space: &IndexMap<String, Distribution>,
        ) -> Result<IndexMap<String, f64>> {
            self.inner.sample_relative(study, trial, space)
        }

        fn sample_independent(
            &self,
            study: &StudyView,
            trial: &FrozenTrial,
            name: &str,
            dist: &Distribution,
        ) -> Result<f64> {
            self.inner.sample_independent(study, trial, name, dist)
        }
    };
}
pub(crate) use delegate_sampling_to_inner;

impl Sampler for AshaScheduler {
    fn reserve(&self, study: &StudyView) -> Result<Reservation> {
        let (direction, promoted) = schedule_state(&self.target, study);
        let full = self.budgets[self.budgets.len() - 1];
        // Before any full run, once the bottom rung holds the first n results, the leader goes
        // on; until then the usual rule.
        let leader_goes_on = self.first_full_after.is_some_and(|first| {
            let trials = study.trials.iter().map(|t| t.as_ref());
            !trials.clone().any(|t| budget_of(t) == Some(full))
                && trials
                    .filter(|t| budget_of(t) == Some(self.budgets[0]) && rung_result(t).is_some())
                    .count()
                    >= first
        });
        for k in (0..self.budgets.len() - 1).rev() {
            let rung = study
                .trials
                .iter()
                .map(|t| t.as_ref())
                .filter(|t| budget_of(t) == Some(self.budgets[k]));
            let eta = self.eta as usize;
            let keep = |n: usize| {
                if leader_goes_on {
                    (n / eta).max(1)
                } else {
                    n / eta
                }
            };
            if let Some(t) = unpromoted_best(rung, direction, keep, &promoted) {
                return Ok(promotion(t, self.budgets[k + 1], BTreeMap::new()));
            }
        }
        Ok(Reservation::Tagged {
            attrs: BTreeMap::from([(attrs::BUDGET.to_string(), self.budgets[0].into())]),
        })
    }

    delegate_sampling_to_inner!();

    fn name(&self) -> &'static str {
        "asha-promotion"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Optimize, RandomSampler, Study};

    /// Every trial runs to a rung budget; the best 1/η of each rung is promoted once, to η times
    /// the budget, resuming from the trial it continues; the best trial ran the full budget.
    /// Other rung budgets replace r·η^k, sorted and without repeats; an empty list keeps them.
    #[test]
    fn rungs_can_sit_at_other_budgets() {
        let base = || AshaScheduler::new(Arc::new(RandomSampler::new(0)), 1, 52, 3);
        assert_eq!(base().budgets(), &[1, 3, 9, 27, 52]);
        assert_eq!(
            base().budgets_at(vec![52, 17, 2, 6, 6]).budgets(),
            &[2, 6, 17, 52]
        );
        assert_eq!(base().budgets_at(Vec::new()).budgets(), &[1, 3, 9, 27, 52]);
    }

    #[test]
    fn promotes_the_best_one_over_eta_once_each_to_the_next_budget() {
        let s = Study::builder("asha-promote")
            .sampler(AshaScheduler::new(Arc::new(RandomSampler::new(2)), 1, 9, 3))
            .build()
            .unwrap();
        s.optimize(
            |t| -> crate::Result<f64> {
                let x = t.suggest_float("x", 0.0, 1.0).get()?;
                let budget = budget_of(t.frozen()).unwrap() as f64;
                // Cheap budgets look better than they are (as an undertrained loss can on a
                // small data fraction): the best must still be judged at the full budget.
                Ok((x - 0.5).abs() - 1.0 / budget)
            },
            Optimize::trials(60).jobs(3),
        )
        .unwrap();
        let trials = s.trials().unwrap();
        let mut seen = HashSet::new();
        for t in &trials {
            let b = budget_of(t).unwrap();
            assert!([1, 3, 9].contains(&b));
            if let Some(from) = t
                .system_attrs
                .get(attrs::RESUME_FROM)
                .and_then(|v| v.as_u64())
            {
                let parent = &trials[from as usize];
                assert_eq!(
                    budget_of(parent).unwrap() * 3,
                    b,
                    "η times the parent's budget"
                );
                assert_eq!(parent.params, t.params, "same configuration");
                assert!(seen.insert(from), "trial {from} promoted twice");
            }
        }
        let at = |b: u64| trials.iter().filter(|t| budget_of(t) == Some(b)).count();
        assert!(
            at(1) > at(3) && at(3) > at(9) && at(9) >= 1,
            "{} {} {}",
            at(1),
            at(3),
            at(9)
        );
        // Promoted trials are among the best of their rung: no rung-1 trial better than a
        // promoted one stayed unpromoted after enough trials (the rule is asynchronous, so
        // check the weaker property: promoted ones are in the better half).
        let rung1: Vec<&FrozenTrial> = trials.iter().filter(|t| budget_of(t) == Some(1)).collect();
        let mut vals: Vec<f64> = rung1.iter().map(|t| t.value().unwrap()).collect();
        vals.sort_by(f64::total_cmp);
        let median = vals[vals.len() / 2];
        for t in rung1.iter().filter(|t| seen.contains(&t.number)) {
            assert!(t.value().unwrap() <= median);
        }
        let best = s.best_trial().unwrap().unwrap();
        assert_eq!(
            budget_of(&best),
            Some(9),
            "the best is judged at the full budget"
        );
    }

    /// The first trial numbers at each budget, and who each promotion continues, for a
    /// sequential study on Hyperband's R = 52 budgets (2, 6, 17, 52).
    fn first_trials(first_full_after: Option<usize>, trials: usize) -> Vec<(u64, Option<u64>)> {
        places(&first_study(first_full_after, trials))
    }

    /// Each trial's budget and the trial it continues.
    fn places(trials: &[FrozenTrial]) -> Vec<(u64, Option<u64>)> {
        trials
            .iter()
            .map(|t| {
                let from = t.system_attrs.get(attrs::RESUME_FROM);
                (budget_of(t).unwrap(), from.and_then(|v| v.as_u64()))
            })
            .collect()
    }

    /// The trials of that study.
    fn first_study(first_full_after: Option<usize>, trials: usize) -> Vec<FrozenTrial> {
        let mut sched = AshaScheduler::new(Arc::new(RandomSampler::new(5)), 1, 52, 3)
            .budgets_at(vec![2, 6, 17, 52]);
        if let Some(n) = first_full_after {
            sched = sched.first_full_after(n);
        }
        let s = Study::builder("first-full").sampler(sched).build().unwrap();
        s.optimize(
            |t| -> crate::Result<f64> {
                let x = t.suggest_float("x", 0.0, 1.0).get()?;
                let budget = budget_of(t.frozen()).unwrap() as f64;
                Ok((x - 0.3).abs() + 1.0 / budget)
            },
            Optimize::trials(trials),
        )
        .unwrap();
        s.trials().unwrap()
    }

    /// With `first_full_after(3)` the first three configurations are screened at the bottom
    /// rung, the best of them runs on rung by rung to the full budget (3·2 + 50 = 56 epochs
    /// in all), and the usual rule then takes over: the next trial is a new configuration.
    /// Without it, the first full-budget trial comes only after the rungs filled. With n = 12,
    /// more than η, the usual rule promotes while the twelve are screened, and then the leader
    /// at the highest rung reached runs on.
    #[test]
    fn a_first_full_run_comes_after_screening_the_first_configurations() {
        let trials = first_trials(Some(3), 7);
        let budgets: Vec<u64> = trials.iter().map(|t| t.0).collect();
        assert_eq!(budgets, vec![2, 2, 2, 6, 17, 52, 2]);
        assert_eq!(trials[6].1, None, "a new configuration");
        // Trial 3 continues the best of trials 0..3 at budget 2, and 4 and 5 continue it.
        assert_eq!(trials[4].1, Some(3));
        assert_eq!(trials[5].1, Some(4));
        let from = trials[3].1.unwrap();
        assert!(from < 3);
        // Epochs trained up to and including the first full-budget trial.
        let until_full = |trials: &[(u64, Option<u64>)]| -> u64 {
            let last = trials.iter().position(|t| t.0 == 52).unwrap();
            trials[..=last]
                .iter()
                .map(|&(b, from)| b - from.map_or(0, |f| trials[f as usize].0))
                .sum()
        };
        assert_eq!(until_full(&trials), 56);

        let plain = first_trials(None, 60);
        assert!(
            until_full(&plain) >= 2 * 56,
            "{} {plain:?}",
            until_full(&plain)
        );
        assert_eq!(&plain[..3], &[(2, None), (2, None), (2, None)]);
        assert_eq!(plain[4], (2, None), "a rung-1 result alone is not promoted");

        // More than η first configurations: the usual rule runs until the bottom rung holds
        // all n results, then the leader at the highest rung goes on to the full budget.
        let trials = first_study(Some(12), 40);
        let twelve = places(&trials);
        let first_full = twelve.iter().position(|t| t.0 == 52).unwrap();
        let bottom = |until: usize| twelve[..until].iter().filter(|t| t.0 == 2).count();
        assert_eq!(bottom(first_full), 12, "{twelve:?}");
        // The last bottom-rung trial before the full run; after it only the leader's chain.
        let last_new = twelve[..first_full].iter().rposition(|t| t.0 == 2).unwrap();
        for j in last_new + 2..=first_full {
            assert_eq!(twelve[j].1, Some(j as u64 - 1), "{twelve:?}");
        }
        // Before that, a promotion left rung k only among the best ⌊n/η⌋ of its n results.
        for (i, &(b, from)) in twelve[..=last_new].iter().enumerate() {
            if let Some(f) = from {
                let parent_budget = twelve[f as usize].0;
                let mut rung: Vec<f64> = trials[..i]
                    .iter()
                    .filter(|t| budget_of(t) == Some(parent_budget))
                    .map(|t| t.value().unwrap())
                    .collect();
                rung.sort_by(f64::total_cmp);
                let keep = rung.len() / 3;
                assert!(
                    keep >= 1,
                    "trial {i} ({b}) promoted from a rung of {}",
                    rung.len()
                );
                assert!(trials[f as usize].value().unwrap() <= rung[keep - 1]);
            }
        }
        // The leader: the best trial at the highest budget reached when the chain began.
        let leader = twelve[last_new + 1].1.unwrap() as usize;
        let top = twelve[..=last_new]
            .iter()
            .map(|t| t.0)
            .filter(|&b| b < 52)
            .max()
            .unwrap();
        assert_eq!(twelve[leader].0, top);
        let best_at_top = trials[..=last_new]
            .iter()
            .filter(|t| budget_of(t) == Some(top))
            .map(|t| t.value().unwrap())
            .fold(f64::INFINITY, f64::min);
        assert_eq!(trials[leader].value().unwrap(), best_at_top);
        assert!(
            top > 2,
            "with 12 screened, the usual rule promoted some before the chain"
        );
        assert!(until_full(&twelve) < until_full(&plain), "{twelve:?}");
    }
}
