//! Promotion-based Hyperband: the brackets of Hyperband run as synchronous successive halving,
//! each survivor continued by a new trial that resumes from the previous one's checkpoint.
//!
//! Li et al. 2018, "Hyperband: A Novel Bandit-Based Approach to Hyperparameter Optimization"
//! (JMLR 18), Algorithm 1: brackets s = s_max, ..., 0, repeated; bracket s starts n_0
//! configurations at resource r_0 and after each rung keeps the best ⌊n_i/η⌋ for η times the
//! resource ([`crate::pruner::hyperband_brackets`]). A rung is judged only when every one of its
//! trials has finished, as in the paper. Falkner et al. 2018 (BOHB, ICML) run the same
//! schedule with model-based proposals and, in parallel, start the next bracket while a rung
//! waits for its last results; this scheduler does the same, so no worker idles: when every
//! open bracket waits, a new one is opened. Wrap a [`super::BohbSampler`] for BOHB as
//! published, a random sampler for Hyperband.
//!
//! The schedule is read from the trials' system attributes alone (bracket, rung, budget), so
//! any number of workers share it through the storage and a restarted worker resumes it.
//! Every slot is an exactly-once claim: a new configuration `hb:<bracket>:<i>`, a promotion
//! `promote:<trial>`. A trial that failed or was pruned counts as finished without a value; one
//! re-run after its worker died is replaced by the re-run, which keeps its place (bracket,
//! rung, budget, checkpoint), so the rung waits for it.

use indexmap::IndexMap;
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use super::asha_scheduler::{
    delegate_sampling_to_inner, promotion, schedule_state, unpromoted_best,
};
use super::{Reservation, Sampler, StudyView};
use crate::attrs;
use crate::distribution::Distribution;
use crate::error::Result;
use crate::pruner::{Bracket, Target, hyperband_brackets};
use crate::record::FrozenTrial;

/// Synchronous Hyperband with promotions around a sampler for new configurations.
pub struct HyperbandScheduler {
    inner: Arc<dyn Sampler>,
    brackets: Vec<Bracket>,
    target: Target,
}

impl HyperbandScheduler {
    /// Hyperband's brackets for resources `min_resource..=max_resource` and reduction factor
    /// `eta`; new configurations from `inner`.
    pub fn new(inner: Arc<dyn Sampler>, min_resource: u64, max_resource: u64, eta: u64) -> Self {
        HyperbandScheduler {
            inner,
            brackets: hyperband_brackets(min_resource.max(1), max_resource.max(1), eta),
            target: Target::default(),
        }
    }

    /// The objective value's direction (the metric is the trial's value).
    pub fn target(mut self, t: Target) -> Self {
        self.target = t;
        self
    }

    /// Keeps only the `n` most exploratory brackets (s_max down to s_max − n + 1); `n` = 1 is
    /// synchronous successive halving on Hyperband's budgets.
    pub fn max_brackets(mut self, n: usize) -> Self {
        self.brackets.truncate(n.max(1));
        self
    }

    /// The brackets, in the order they run (s_max first), then again from the start.
    pub fn brackets(&self) -> &[Bracket] {
        &self.brackets
    }

    /// The bracket that the `j`-th opened bracket runs.
    pub fn bracket(&self, j: u64) -> &Bracket {
        &self.brackets[(j % self.brackets.len() as u64) as usize]
    }
}

/// The bracket (running index) and rung a trial belongs to, under a Hyperband schedule.
pub fn bracket_rung_of(t: &FrozenTrial) -> Option<(u64, usize)> {
    let j = t.system_attrs.get(attrs::BRACKET)?.as_u64()?;
    let k = t.system_attrs.get(attrs::RUNG)?.as_u64()?;
    Some((j, k as usize))
}

impl Sampler for HyperbandScheduler {
    fn reserve(&self, study: &StudyView) -> Result<Reservation> {
        let (direction, claimed) = schedule_state(&self.target, study);
        // A trial re-run after its worker died is replaced in its rung by the re-run.
        let retried: HashSet<u64> = study
            .trials
            .iter()
            .filter_map(|t| t.system_attrs.get(attrs::RETRY_OF).and_then(|v| v.as_u64()))
            .collect();
        let mut members: BTreeMap<(u64, usize), Vec<&FrozenTrial>> = BTreeMap::new();
        for t in study.trials.iter() {
            if let Some(key) = bracket_rung_of(t)
                && !retried.contains(&t.number)
            {
                members.entry(key).or_default().push(t);
            }
        }
        let opened = members.keys().map(|&(j, _)| j + 1).max().unwrap_or(0);
        let place = |j: u64, k: usize| {
            BTreeMap::from([
                (attrs::BRACKET.to_string(), j.into()),
                (attrs::RUNG.to_string(), (k as u64).into()),
            ])
        };
        // The oldest bracket with a slot to fill gets it; a new bracket when all wait.
        for j in 0..=opened {
            let bracket = self.bracket(j);
            for (k, &(n, budget)) in bracket.rungs.iter().enumerate() {
                let here = members.get(&(j, k)).map_or(&[][..], |v| v.as_slice());
                if k == 0 {
                    if (here.len() as u64) < n {
                        let mut attrs = place(j, 0);
                        attrs.insert(attrs::BUDGET.to_string(), budget.into());
                        return Ok(Reservation::Claim {
                            key: format!("hb:{j}:{}", here.len()),
                            params: IndexMap::new(),
                            attrs,
                        });
                    }
                } else {
                    // The previous rung has finished: its best n continue.
                    let below = members.get(&(j, k - 1)).map_or(&[][..], |v| v.as_slice());
                    let best =
                        unpromoted_best(below.iter().copied(), direction, |_| n as usize, &claimed);
                    if let Some(t) = best {
                        return Ok(promotion(t, budget, place(j, k)));
                    }
                }
                // Every slot of this rung is taken; the next rung waits for all of them.
                if here.iter().any(|t| !t.state.is_finished()) {
                    break;
                }
            }
        }
        unreachable!("the bracket opened last always has a free slot at its first rung")
    }

    delegate_sampling_to_inner!();

    fn name(&self) -> &'static str {
        "hyperband-promotion"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TrialState;
    use crate::sampler::asha_scheduler::budget_of;
    use crate::{Outcome, RandomSampler, Study, Trial};

    fn study(seed: u64) -> Study {
        Study::builder("hb-sync")
            .sampler(HyperbandScheduler::new(
                Arc::new(RandomSampler::new(seed)),
                1,
                9,
                3,
            ))
            .build()
            .unwrap()
    }

    /// The loss of a configuration at a budget: noisy when cheap, so that the ranking changes
    /// between rungs and survivors must be picked from the rung itself.
    fn loss(t: &mut Trial) -> f64 {
        let x = t.suggest_float("x", 0.0, 1.0).get().unwrap();
        let b = budget_of(t.frozen()).unwrap() as f64;
        (x - 0.3).abs() + (x * 37.0 / b).sin() / b
    }

    fn attr(t: &FrozenTrial, k: &str) -> Option<u64> {
        t.system_attrs.get(k).and_then(|v| v.as_u64())
    }

    /// One bracket kept: every opened bracket is the most exploratory one, with Hyperband's
    /// budgets (R = 52, η = 3: 27 configurations at 2 epochs, 9 at 6, 3 at 17, 1 at 52).
    #[test]
    fn max_brackets_keeps_the_most_exploratory_ones() {
        let sched =
            HyperbandScheduler::new(Arc::new(RandomSampler::new(0)), 1, 52, 3).max_brackets(1);
        assert_eq!(sched.brackets().len(), 1);
        for j in 0..5 {
            assert_eq!(
                sched.bracket(j).rungs,
                vec![(27, 2), (9, 6), (3, 17), (1, 52)]
            );
        }
        let two =
            HyperbandScheduler::new(Arc::new(RandomSampler::new(0)), 1, 52, 3).max_brackets(2);
        assert_eq!(
            two.brackets().iter().map(|b| b.s).collect::<Vec<_>>(),
            vec![3, 2]
        );
    }

    /// Li et al. 2018, Algorithm 1 with R = 9, η = 3: brackets s = 2, 1, 0 with rungs
    /// (9, 1), (3, 3), (1, 9); (5, 3), (1, 9); (3, 9). One worker runs them in that order, each
    /// rung keeps exactly the best ⌊n/η⌋ of the one below, and a promotion resumes from its
    /// parent at the parent's budget.
    #[test]
    fn runs_the_papers_brackets_in_order_keeping_exactly_the_best_of_each_rung() {
        let s = study(3);
        let rounds = 2;
        for _ in 0..22 * rounds {
            let mut t = s.ask().unwrap();
            let v = loss(&mut t);
            s.tell(t, Outcome::Complete(vec![v])).unwrap();
        }
        let trials = s.trials().unwrap();
        let sched = HyperbandScheduler::new(Arc::new(RandomSampler::new(0)), 1, 9, 3);
        let shape: Vec<Vec<(u64, u64)>> =
            sched.brackets().iter().map(|b| b.rungs.clone()).collect();
        assert_eq!(
            shape,
            vec![
                vec![(9, 1), (3, 3), (1, 9)],
                vec![(5, 3), (1, 9)],
                vec![(3, 9)]
            ]
        );
        // Trials come bracket by bracket, rung by rung: the sequence of (bracket, rung) pairs
        // never goes back.
        let order: Vec<(u64, usize)> = trials.iter().map(|t| bracket_rung_of(t).unwrap()).collect();
        assert!(order.windows(2).all(|w| w[0] <= w[1]), "{order:?}");
        for j in 0..3 * rounds as u64 {
            let b = sched.bracket(j);
            for (k, &(n, budget)) in b.rungs.iter().enumerate() {
                let here: Vec<&FrozenTrial> = trials
                    .iter()
                    .filter(|t| bracket_rung_of(t) == Some((j, k)))
                    .collect();
                assert_eq!(here.len() as u64, n, "bracket {j} rung {k}");
                assert!(here.iter().all(|t| budget_of(t) == Some(budget)));
                if k == 0 {
                    assert!(here.iter().all(|t| attr(t, attrs::RESUME_FROM).is_none()));
                    continue;
                }
                let mut below: Vec<&FrozenTrial> = trials
                    .iter()
                    .filter(|t| bracket_rung_of(t) == Some((j, k - 1)))
                    .collect();
                below.sort_by(|a, b| a.value().unwrap().total_cmp(&b.value().unwrap()));
                let mut want: Vec<u64> = below[..n as usize].iter().map(|t| t.number).collect();
                let mut got: Vec<u64> = here
                    .iter()
                    .map(|t| attr(t, attrs::RESUME_FROM).unwrap())
                    .collect();
                want.sort_unstable();
                got.sort_unstable();
                assert_eq!(got, want, "bracket {j} rung {k}: exactly the best {n}");
                for t in &here {
                    let parent = &trials[attr(t, attrs::RESUME_FROM).unwrap() as usize];
                    assert_eq!(parent.params, t.params);
                    assert_eq!(attr(t, attrs::RESUME_BUDGET), budget_of(parent));
                }
            }
        }
    }

    /// A rung is judged only when all its trials have finished; meanwhile workers get a new
    /// bracket, and once the rung is complete the oldest bracket's promotions come first. A
    /// failed trial counts as finished and is never promoted.
    #[test]
    fn a_rung_waits_for_all_its_trials_and_other_workers_open_the_next_bracket() {
        let s = study(5);
        let mut open: Vec<Trial> = (0..9).map(|_| s.ask().unwrap()).collect();
        let last = open.pop().unwrap();
        let failed = open.pop().unwrap();
        let failed_number = failed.number();
        s.tell(failed, Outcome::Failed("crashed".into())).unwrap();
        for mut t in open {
            let v = loss(&mut t);
            s.tell(t, Outcome::Complete(vec![v])).unwrap();
        }
        // Bracket 0's first rung still waits for `last`: the next trial starts bracket 1.
        let t = s.ask().unwrap();
        assert_eq!(bracket_rung_of(t.frozen()), Some((1, 0)));
        assert_eq!(budget_of(t.frozen()), Some(3));
        s.tell(t, Outcome::Pruned).unwrap();
        let mut last = last;
        let v = loss(&mut last);
        s.tell(last, Outcome::Complete(vec![v])).unwrap();
        // Now bracket 0 promotes its best three (of the eight with a value).
        let promoted: Vec<u64> = (0..3)
            .map(|_| {
                let t = s.ask().unwrap();
                assert_eq!(bracket_rung_of(t.frozen()), Some((0, 1)));
                let from = attr(t.frozen(), attrs::RESUME_FROM).unwrap();
                s.tell(t, Outcome::Failed("stopped".into())).unwrap();
                from
            })
            .collect();
        assert!(!promoted.contains(&failed_number));
        // Rung 1 of bracket 0 is full and finished without a value: nothing to promote, so
        // the next trial goes on filling bracket 1.
        let t = s.ask().unwrap();
        assert_eq!(bracket_rung_of(t.frozen()), Some((1, 0)));
    }

    /// A trial whose worker died is re-run in its place: the re-run keeps its bracket, rung,
    /// budget and (for a promotion) the checkpoint it resumes from, the rung waits for it, and
    /// the promotions after it rank its value with the others.
    #[test]
    fn a_dead_workers_trial_is_re_run_in_its_place_and_its_rung_waits_for_it() {
        use crate::liveness::Liveness;
        use std::time::Duration;
        let live = Liveness {
            interval: Duration::from_millis(100),
            grace: Duration::from_millis(500),
            max_retries: 1,
        };
        let s = Study::builder("hb-dead")
            .sampler(HyperbandScheduler::new(
                Arc::new(RandomSampler::new(8)),
                1,
                9,
                3,
            ))
            .liveness(live)
            .build()
            .unwrap();
        let mut open: Vec<Trial> = (0..9).map(|_| s.ask().unwrap()).collect();
        let dead = open.pop().unwrap();
        let dead_number = dead.number();
        drop(dead); // its process is gone: no more heartbeats
        for mut t in open {
            let v = loss(&mut t);
            s.tell(t, Outcome::Complete(vec![v])).unwrap();
        }
        std::thread::sleep(Duration::from_millis(1200));
        let reaped = s.reap_stale().unwrap();
        assert_eq!(reaped.len(), 1);
        let mut retry = s.ask().unwrap();
        let r = retry.frozen().clone();
        assert_eq!(attr(&r, attrs::RETRY_OF), Some(dead_number));
        assert_eq!(bracket_rung_of(&r), Some((0, 0)));
        assert_eq!(budget_of(&r), Some(1));
        // While the re-run runs, bracket 0 waits: another worker starts bracket 1.
        let other = s.ask().unwrap();
        assert_eq!(bracket_rung_of(other.frozen()), Some((1, 0)));
        s.tell(other, Outcome::Pruned).unwrap();
        let v = loss(&mut retry);
        s.tell(retry, Outcome::Complete(vec![v])).unwrap();
        // Rung 1 of bracket 0: the best three of the nine values, the re-run's included.
        let promotion = s.ask().unwrap();
        let p = promotion.frozen().clone();
        assert_eq!(bracket_rung_of(&p), Some((0, 1)));
        let trials = s.trials().unwrap();
        let mut values: Vec<(f64, u64)> = trials
            .iter()
            .filter(|t| bracket_rung_of(t) == Some((0, 0)) && t.state == TrialState::Complete)
            .map(|t| (t.value().unwrap(), t.number))
            .collect();
        assert_eq!(values.len(), 9);
        values.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(attr(&p, attrs::RESUME_FROM), Some(values[0].1));
        // The promotion's worker dies too: its re-run resumes from the same checkpoint.
        drop(promotion);
        std::thread::sleep(Duration::from_millis(1200));
        assert_eq!(s.reap_stale().unwrap().len(), 1);
        let again = s.ask().unwrap();
        let a = again.frozen();
        assert_eq!(attr(a, attrs::RETRY_OF), Some(p.number));
        assert_eq!(bracket_rung_of(a), Some((0, 1)));
        assert_eq!(budget_of(a), Some(3));
        assert_eq!(attr(a, attrs::RESUME_FROM), attr(&p, attrs::RESUME_FROM));
        assert_eq!(attr(a, attrs::RESUME_BUDGET), Some(1));
        assert_eq!(a.params, p.params);
    }
}
