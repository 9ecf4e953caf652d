//! Pruners: decide from a running trial's intermediate reports whether to stop it early.
//!
//! A pruner has one required method, [`Pruner::prune`], called each time the objective asks
//! [`crate::Trial::should_prune`] after a report (the command runner asks after every metric
//! line). Every decision is a function of the study's history in the storage, so pruners hold
//! no state and work the same with any number of asynchronous workers.
//!
//! A trial reports several named metrics per step; [`Target`] says which one drives pruning and
//! in which direction (by default: the only metric reported and the study's first direction),
//! so a study with several objectives can prune on one metric while optimising several.
//!
//! The resource (epochs, steps, data fraction, model size) is the report's `step`.

mod asha;
mod curve_extrapolation;
mod hyperband;
mod percentile;
mod successive_halving;

pub use asha::AshaPruner;
pub use curve_extrapolation::CurveExtrapolationPruner;
pub use hyperband::{Bracket, HyperbandPruner, hyperband_brackets, hyperband_budgets};
pub use percentile::PercentilePruner;
pub use successive_halving::{asha_budgets, rung_resources, successive_halving_survivors};

use crate::error::{Error, Result};
use crate::record::{Direction, FrozenTrial, TrialState};
use crate::sampler::StudyView;

/// Early-stopping rule.
pub trait Pruner: Send + Sync {
    /// True when `trial` (running, with its reports so far) should stop now.
    fn prune(&self, study: &StudyView, trial: &FrozenTrial) -> Result<bool>;
}

/// Never prunes.
#[derive(Clone, Copy, Debug, Default)]
pub struct NopPruner;

impl Pruner for NopPruner {
    fn prune(&self, _study: &StudyView, _trial: &FrozenTrial) -> Result<bool> {
        Ok(false)
    }
}

/// Which reported metric drives pruning, and which way is better.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Target {
    /// The metric name; `None`: the only metric the trial reports.
    pub metric: Option<String>,
    /// Better direction; `None`: the study's direction (single-objective studies only).
    pub direction: Option<Direction>,
}

impl Target {
    /// A named metric and its direction.
    pub fn new(metric: impl Into<String>, direction: Direction) -> Self {
        Target {
            metric: Some(metric.into()),
            direction: Some(direction),
        }
    }

    /// The metric name and direction for `trial` of `study`; an error says what to set when
    /// either is ambiguous. `None` when the trial has reported nothing yet.
    pub fn resolve(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
    ) -> Result<Option<(String, Direction)>> {
        let direction = match (self.direction, study.directions.as_slice()) {
            (Some(d), _) => d,
            (None, [d]) => *d,
            (None, _) => {
                return Err(Error::invalid(
                    "the study has several objectives: tell the pruner which metric and \
                     direction drive pruning",
                ));
            }
        };
        if let Some(m) = &self.metric {
            return Ok(Some((m.clone(), direction)));
        }
        let mut names = trial.intermediate.values().flat_map(|m| m.keys());
        let Some(first) = names.next() else {
            return Ok(None);
        };
        if let Some(other) = names.find(|n| *n != first) {
            return Err(Error::invalid(format!(
                "the trial reports several metrics ('{first}', '{other}', ...): tell the pruner \
                 which one drives pruning"
            )));
        }
        Ok(Some((first.clone(), direction)))
    }
}

/// The trial's curve of `metric` as (step, loss) with smaller always better; a non-finite
/// value (a diverged run) counts as the worst possible.
pub(crate) fn losses(t: &FrozenTrial, metric: &str, d: Direction) -> Vec<(u64, f64)> {
    t.intermediate
        .iter()
        .filter_map(|(s, m)| m.get(metric).map(|v| (*s, to_loss(*v, d))))
        .collect()
}

pub(crate) fn to_loss(v: f64, d: Direction) -> f64 {
    if v.is_finite() {
        d.to_loss(v)
    } else {
        f64::INFINITY
    }
}

/// The loss a trial had when it first reached `resource` (its first report at a step of at
/// least `resource`), or for a complete trial that reported no such step, its final value.
pub(crate) fn loss_at(
    t: &FrozenTrial,
    metric: &str,
    d: Direction,
    resource: u64,
    objective: Option<usize>,
) -> Option<f64> {
    let reported = t
        .intermediate
        .range(resource..)
        .find_map(|(_, m)| m.get(metric).copied());
    match reported {
        Some(v) => Some(to_loss(v, d)),
        None if t.state == TrialState::Complete => objective
            .and_then(|i| t.values.as_ref().and_then(|v| v.get(i)).copied())
            .map(|v| to_loss(v, d)),
        None => None,
    }
}

/// The loss (smaller is better) trial `t` had at `budget`: its first report of `metric` at a
/// step of at least `budget`, or its final value when it completed without such a report.
/// A trial run by a promotion schedule (system attributes `budget` and, for a promotion,
/// `resume_budget`) observed only the budgets it trained through, above the one it resumed
/// from and up to its own: the lower ones belong to the trial it continues, and it never
/// reached the higher ones, however it ended.
pub fn loss_at_budget(t: &FrozenTrial, metric: &str, d: Direction, budget: u64) -> Option<f64> {
    let attr = |k: &str| t.system_attrs.get(k).and_then(|v| v.as_u64());
    if let Some(own) = attr(crate::attrs::BUDGET) {
        let from = attr(crate::attrs::RESUME_BUDGET).unwrap_or(0);
        if budget <= from || budget > own {
            return None;
        }
    }
    loss_at(t, metric, d, budget, Some(0))
}

/// Trials other than `me` that are running, complete or pruned (failed trials say nothing
/// about the objective).
pub(crate) fn peers<'a>(
    study: &'a StudyView,
    me: &'a FrozenTrial,
) -> impl Iterator<Item = &'a FrozenTrial> {
    study.trials.iter().map(|t| t.as_ref()).filter(move |t| {
        t.id != me.id
            && matches!(
                t.state,
                TrialState::Running | TrialState::Complete | TrialState::Pruned
            )
    })
}

#[cfg(test)]
pub(crate) mod testkit {
    //! Builds studies of synthetic curves for the pruners' tests.
    use crate::record::{Direction, FrozenTrial, Metrics, TrialState};
    use crate::sampler::StudyView;

    /// A trial with `curve` reported as metric "loss" at steps 1, 2, ...
    pub fn trial(number: u64, state: TrialState, curve: &[f64]) -> FrozenTrial {
        let mut t = FrozenTrial::new_for_tests(number, state);
        for (i, v) in curve.iter().enumerate() {
            t.intermediate
                .insert(i as u64 + 1, Metrics::from([("loss".to_string(), *v)]));
        }
        if state == TrialState::Complete {
            t.values = curve.last().map(|v| vec![*v]);
        }
        t
    }

    pub fn view(trials: Vec<FrozenTrial>) -> StudyView {
        StudyView::new(vec![Direction::Minimize], trials)
    }
}
