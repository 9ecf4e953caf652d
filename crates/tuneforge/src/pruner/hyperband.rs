//! Hyperband: several successive-halving brackets that trade the number of configurations n
//! against the resource r each starts with, hedging against not knowing how early the final
//! quality shows.
//!
//! Li et al. 2018, "Hyperband: A Novel Bandit-Based Approach to Hyperparameter Optimization"
//! (JMLR 18), Algorithm 1: s_max = ⌊log_η(R/r_min)⌋; bracket s has n = ⌈(s_max+1)/(s+1)·η^s⌉
//! configurations starting at r = R·η^(−s), and runs successive halving with rungs
//! (⌊n·η^(−i)⌋, r·η^i). The budgets are anchored at R, not at r_min: with R = 52, η = 3 and
//! r_min = 1 the rungs are 2, 6 and 17 epochs (rounded from 52/27, 52/9, 52/3), not 1, 3, 9
//! and 27 as ASHA's r_min·η^k would give. As a pruner (asynchronous, as in Li et al. 2020 §3),
//! trials are dealt to brackets in Algorithm 1's order: the first n(s_max) trials to bracket
//! s_max, the next n(s_max − 1) to the next, down to s = 0, then again; each is judged by ASHA's
//! rule at its bracket's rungs, against the trials of its own bracket only. The bracket is a
//! function of the trial number, so every worker agrees without storing it.

use super::{AshaPruner, Pruner, Target};
use crate::error::Result;
use crate::record::FrozenTrial;
use crate::sampler::StudyView;

/// One bracket of Hyperband.
#[derive(Clone, Debug, PartialEq)]
pub struct Bracket {
    /// The bracket's index s (s_max: most configurations, smallest resource).
    pub s: u32,
    /// The rungs: (configurations, resource each), from the first to the last.
    pub rungs: Vec<(u64, u64)>,
}

impl Bracket {
    /// The resources at which the bracket's trials are judged: its rungs below
    /// `max_resource` (the last rung, the full resource, judges nothing).
    pub fn judged_at(&self, max_resource: u64) -> Vec<u64> {
        let mut out: Vec<u64> = self
            .rungs
            .iter()
            .map(|&(_, r)| r)
            .filter(|&r| r < max_resource)
            .collect();
        out.dedup();
        out
    }
}

/// Every resource some bracket of Hyperband judges at, and the full resource: the budgets a
/// model-based sampler over Hyperband (BOHB) fits its models at.
pub fn hyperband_budgets(min_resource: u64, max_resource: u64, eta: u64) -> Vec<u64> {
    let mut out: Vec<u64> = hyperband_brackets(min_resource, max_resource, eta)
        .iter()
        .flat_map(|b| b.rungs.iter().map(|&(_, r)| r))
        .collect();
    out.push(max_resource);
    out.sort_unstable();
    out.dedup();
    out
}

/// Hyperband's brackets for maximum resource `max_resource` (R), minimum `min_resource` and
/// reduction factor `eta`, from the most exploratory (s = s_max) to plain full-resource runs
/// (s = 0), as Algorithm 1 of Li et al. 2018 allocates them.
pub fn hyperband_brackets(min_resource: u64, max_resource: u64, eta: u64) -> Vec<Bracket> {
    let eta = eta.max(2);
    let ratio = (max_resource as f64 / min_resource.max(1) as f64).max(1.0);
    // ⌊log_η(R/r)⌋ computed in integers, immune to rounding.
    let mut s_max = 0u32;
    while (eta as f64).powi(s_max as i32 + 1) <= ratio * (1.0 + 1e-12) {
        s_max += 1;
    }
    (0..=s_max)
        .rev()
        .map(|s| {
            let n = ((s_max + 1) as f64 / (s + 1) as f64 * (eta as f64).powi(s as i32)).ceil();
            let r = max_resource as f64 / (eta as f64).powi(s as i32);
            let rungs = (0..=s)
                .map(|i| {
                    let ni = (n / (eta as f64).powi(i as i32)).floor() as u64;
                    let ri = (r * (eta as f64).powi(i as i32)).round() as u64;
                    (ni, ri)
                })
                .collect();
            Bracket { s, rungs }
        })
        .collect()
}

/// Hyperband as an asynchronous pruner.
#[derive(Clone, Debug)]
pub struct HyperbandPruner {
    /// Minimum resource r_min.
    pub min_resource: u64,
    /// Maximum resource R.
    pub max_resource: u64,
    /// Reduction factor η.
    pub reduction_factor: u64,
    /// The metric and direction that drive pruning.
    pub target: Target,
    brackets: Vec<Bracket>,
}

impl HyperbandPruner {
    /// Brackets for resources `min_resource..=max_resource` and reduction factor `eta`.
    pub fn new(min_resource: u64, max_resource: u64, eta: u64) -> Self {
        HyperbandPruner {
            min_resource: min_resource.max(1),
            max_resource,
            reduction_factor: eta.max(2),
            target: Target::default(),
            brackets: hyperband_brackets(min_resource, max_resource, eta),
        }
    }

    /// The metric and direction that drive pruning.
    pub fn target(mut self, t: Target) -> Self {
        self.target = t;
        self
    }

    /// Keeps only the `n` most exploratory brackets (s_max down to s_max − n + 1), dealt in the
    /// same order; `n` = 1 is asynchronous successive halving on Hyperband's budgets (the
    /// "brackets" option of asynchronous Hyperband in Li et al. 2020 and its followers).
    pub fn max_brackets(mut self, n: usize) -> Self {
        self.brackets.truncate(n.max(1));
        self
    }

    /// The brackets.
    pub fn brackets(&self) -> &[Bracket] {
        &self.brackets
    }

    /// The bracket index s of trial `number`: in each cycle of Σ n trials, the first n(s_max)
    /// go to s_max, the next n(s_max − 1) to s_max − 1, and so on down to s = 0.
    pub fn bracket_of(&self, number: u64) -> u32 {
        let total: u64 = self.brackets.iter().map(|b| b.rungs[0].0).sum();
        let mut pick = number % total.max(1);
        for b in &self.brackets {
            let n = b.rungs[0].0;
            if pick < n {
                return b.s;
            }
            pick -= n;
        }
        0
    }

    /// The resources at which the trials of bracket `s` are judged: R·η^(i−s), i < s.
    pub fn rungs_of(&self, s: u32) -> Vec<u64> {
        self.brackets
            .iter()
            .find(|b| b.s == s)
            .map(|b| b.judged_at(self.max_resource))
            .unwrap_or_default()
    }
}

impl Pruner for HyperbandPruner {
    fn prune(&self, study: &StudyView, trial: &FrozenTrial) -> Result<bool> {
        let s = self.bracket_of(trial.number);
        AshaPruner::new(self.min_resource, self.max_resource, self.reduction_factor)
            .target(self.target.clone())
            .judge(study, trial, &self.rungs_of(s), |t| {
                self.bracket_of(t.number) == s
            })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{trial, view};
    use super::*;
    use crate::record::TrialState::{Complete, Running};

    /// Table 1 of Li et al. 2018: R = 81, η = 3.
    #[test]
    fn brackets_allocate_what_the_paper_gives_for_r_81_and_eta_3() {
        let b = hyperband_brackets(1, 81, 3);
        let table: Vec<Vec<(u64, u64)>> = b.iter().map(|b| b.rungs.clone()).collect();
        assert_eq!(
            table,
            vec![
                vec![(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
                vec![(34, 3), (11, 9), (3, 27), (1, 81)],
                vec![(15, 9), (5, 27), (1, 81)],
                vec![(8, 27), (2, 81)],
                vec![(5, 81)],
            ]
        );
        assert_eq!(
            b.iter().map(|b| b.s).collect::<Vec<_>>(),
            vec![4, 3, 2, 1, 0]
        );
        // Another (R, η): R = 27 with r_min = 1, η = 3 gives s_max = 3.
        let b = hyperband_brackets(1, 27, 3);
        assert_eq!(b[0].rungs, vec![(27, 1), (9, 3), (3, 9), (1, 27)]);
        assert_eq!(b.last().unwrap().rungs, vec![(4, 27)]);
    }

    /// Algorithm 1's budgets are R·η^(−s+i): with R = 52 (not a power of η) they are anchored
    /// at R, so the most exploratory bracket judges at 2, 6 and 17, and r_min = 1 is never a rung.
    #[test]
    fn rungs_are_anchored_at_the_maximum_resource() {
        let p = HyperbandPruner::new(1, 52, 3);
        assert_eq!(
            p.brackets()[0].rungs,
            vec![(27, 2), (9, 6), (3, 17), (1, 52)]
        );
        assert_eq!(p.rungs_of(3), vec![2, 6, 17]);
        assert_eq!(p.rungs_of(2), vec![6, 17]);
        assert_eq!(p.rungs_of(1), vec![17]);
        assert!(p.rungs_of(0).is_empty());
        assert_eq!(hyperband_budgets(1, 52, 3), vec![2, 6, 17, 52]);
        assert_eq!(hyperband_budgets(1, 81, 3), vec![1, 3, 9, 27, 81]);
        // Two trials of bracket 3 (the first 27 trial numbers): the worse one is judged at
        // step 2, not at step 1, whatever it reported there.
        let rival = trial(0, Complete, &[9.0, 1.0, 1.0]);
        let at1 = trial(1, Running, &[0.5]);
        assert!(
            !p.prune(&view(vec![rival.clone(), at1.clone()]), &at1)
                .unwrap()
        );
        let at2 = trial(1, Running, &[0.5, 5.0]);
        assert!(p.prune(&view(vec![rival, at2.clone()]), &at2).unwrap());
        // Bracket 0 (full runs) is never judged.
        let full = (0..).find(|&n| p.bracket_of(n) == 0).unwrap();
        let rivals: Vec<FrozenTrial> = (0..)
            .filter(|&n| p.bracket_of(n) == 0 && n != full)
            .take(3)
            .map(|n| trial(n, Complete, &[0.0; 30]))
            .collect();
        let me = trial(full, Running, &[9.0; 17]);
        let mut all = rivals;
        all.push(me.clone());
        assert!(!p.prune(&view(all), &me).unwrap());
    }

    /// With only the most aggressive bracket kept, every trial is dealt to it and judged at
    /// its rungs (asynchronous successive halving on Hyperband's budgets).
    #[test]
    fn one_bracket_is_successive_halving_on_hyperbands_budgets() {
        let p = HyperbandPruner::new(1, 52, 3).max_brackets(1);
        assert_eq!(p.brackets().len(), 1);
        assert!((0..200).all(|n| p.bracket_of(n) == 3));
        assert_eq!(p.rungs_of(3), vec![2, 6, 17]);
        // Trial 40 (bracket 1 under all four brackets) now competes with trial 0 at step 2.
        let rival = trial(0, Complete, &[1.0; 52]);
        let me = trial(40, Running, &[0.5, 5.0]);
        assert!(
            p.prune(&view(vec![rival.clone(), me.clone()]), &me)
                .unwrap()
        );
        let all = HyperbandPruner::new(1, 52, 3);
        assert_eq!(all.bracket_of(40), 1);
        assert!(!all.prune(&view(vec![rival, me.clone()]), &me).unwrap());
    }

    /// Algorithm 1 runs its brackets from s_max down to 0, each with its n configurations: the
    /// trials are dealt in that order, cycle after cycle.
    #[test]
    fn trials_are_dealt_to_brackets_in_the_papers_order_and_numbers() {
        let p = HyperbandPruner::new(1, 81, 3);
        // n per bracket s = 4..0: 81, 34, 15, 8, 5 (143 in all).
        let mut want = Vec::new();
        for (s, n) in [(4, 81), (3, 34), (2, 15), (1, 8), (0, 5)] {
            want.extend(std::iter::repeat_n(s, n));
        }
        let first: Vec<u32> = (0..143).map(|t| p.bracket_of(t)).collect();
        assert_eq!(first, want);
        let third: Vec<u32> = (286..429).map(|t| p.bracket_of(t)).collect();
        assert_eq!(third, want, "the same order in every cycle");
    }

    #[test]
    fn a_trial_competes_only_within_its_bracket() {
        let p = HyperbandPruner::new(1, 81, 3);
        // Find a trial in the most exploratory bracket (first rung at 1) and rivals elsewhere.
        let me = (0..).find(|&n| p.bracket_of(n) == 4).unwrap();
        let others: Vec<u64> = (0..200)
            .filter(|&n| n != me && p.bracket_of(n) != 4)
            .take(10)
            .collect();
        let mut all: Vec<FrozenTrial> = others
            .iter()
            .map(|&n| trial(n, Complete, &[0.0; 9]))
            .collect();
        let t = trial(me, Running, &[5.0]);
        all.push(t.clone());
        // Better rivals in other brackets do not count: alone in its bracket, it continues.
        assert!(!p.prune(&view(all.clone()), &t).unwrap());
        let peer = (0..).find(|&n| n != me && p.bracket_of(n) == 4).unwrap();
        all.push(trial(peer, Complete, &[0.0; 9]));
        assert!(p.prune(&view(all), &t).unwrap());
    }
}
