//! Samplers: where the next configuration comes from.
//!
//! A sampler is asked at three moments of a trial's life:
//! 1. [`Sampler::reserve`], *before* the trial exists: samplers that hand out a finite set of
//!    points (grid search) claim one here, exactly once across all workers, or report that the
//!    space is exhausted. Others return [`Reservation::Free`].
//! 2. [`Sampler::infer_relative_space`] and [`Sampler::sample_relative`], right after the trial
//!    is created: a joint proposal for the parameters the sampler can infer from history
//!    (model-based samplers). Values are in the internal representation.
//! 3. [`Sampler::sample_independent`], when the objective suggests a parameter that the relative
//!    proposal does not cover (first trials, conditional parameters). Required.
//!
//! [`Sampler::after_trial`] is called when a trial of this process finishes.
//! Samplers are seeded: the randomness of trial `n` depends only on the sampler seed, `n` and the
//! history, so the same seed gives the same sequence, and concurrent workers never collide.

pub mod annealing;
pub mod asha_scheduler;
pub mod asng;
pub mod auto;
pub mod bohb;
pub mod cmaes;
pub mod evolution;
pub mod genetic;
pub mod gp;
pub(crate) mod grid;
pub mod hyperband_scheduler;
pub mod local_search;
pub mod nsga2;
mod random;
pub mod reinforce;
pub mod smac;
mod sobol;
pub mod tpe;

pub use annealing::{AnnealingConfig, AnnealingSampler};
pub use asha_scheduler::AshaScheduler;
pub use auto::AutoSampler;
pub use bohb::BohbSampler;
pub use cmaes::{CmaEsConfig, CmaEsSampler};
pub use evolution::{EvolutionConfig, EvolutionSampler};
pub use genetic::{GeneticConfig, GeneticSampler};
pub use gp::{GpConfig, GpSampler};
pub use grid::GridSampler;
pub use hyperband_scheduler::HyperbandScheduler;
pub use local_search::LocalSearchSampler;
pub use nsga2::{Nsga2Config, Nsga2Sampler};
pub use random::RandomSampler;
pub use reinforce::{ReinforceConfig, ReinforceSampler};
pub use smac::{RfConfig, RfSampler};
pub use sobol::SobolSampler;
pub use tpe::{TpeConfig, TpeSampler};

use indexmap::IndexMap;
use std::collections::HashSet;
use std::sync::Arc;

use crate::distribution::{Distribution, ParamValue};
use crate::error::Result;
use crate::record::{Direction, FrozenTrial, TrialState};

/// What a sampler sees of its study: the directions and a snapshot of every trial.
#[derive(Clone, Debug)]
pub struct StudyView {
    /// One direction per objective.
    pub directions: Vec<Direction>,
    /// All trials, ordered by number. Each trial is shared, so a snapshot costs pointers only.
    pub trials: Arc<Vec<Arc<FrozenTrial>>>,
}

impl StudyView {
    /// A view over trials read from storage.
    pub fn new(directions: Vec<Direction>, trials: Vec<FrozenTrial>) -> Self {
        StudyView {
            directions,
            trials: Arc::new(trials.into_iter().map(Arc::new).collect()),
        }
    }

    /// Completed trials.
    pub fn complete(&self) -> impl Iterator<Item = &FrozenTrial> {
        self.trials
            .iter()
            .map(|t| t.as_ref())
            .filter(|t| t.state == TrialState::Complete)
    }

    /// Trials in any of `states`.
    pub fn in_states<'a>(
        &'a self,
        states: &'a [TrialState],
    ) -> impl Iterator<Item = &'a FrozenTrial> + 'a {
        self.trials
            .iter()
            .map(|t| t.as_ref())
            .filter(move |t| states.contains(&t.state))
    }
}

/// Converts parameter values to the internal representation of their distributions in `dists`
/// (the form [`Sampler::sample_relative`] returns).
pub(crate) fn internal_values(
    params: IndexMap<String, ParamValue>,
    dists: &IndexMap<String, Distribution>,
) -> Result<IndexMap<String, f64>> {
    params
        .into_iter()
        .map(|(name, v)| {
            let d = dists.get(&name).ok_or_else(|| {
                crate::error::Error::invalid(format!("no distribution for parameter '{name}'"))
            })?;
            Ok((name.clone(), d.to_internal(&v)?))
        })
        .collect()
}

/// The index a uniform draw `u` in `[0, 1)` selects from the probabilities `probs` (the first
/// whose running sum exceeds `u`; the last when rounding leaves `u` past the total).
pub(crate) fn pick_by_probability(probs: impl ExactSizeIterator<Item = f64>, u: f64) -> usize {
    let last = probs.len().saturating_sub(1);
    let mut acc = 0.0;
    for (i, p) in probs.enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    last
}

/// A configuration's identity: each value's internal representation (see
/// [`Distribution::to_internal`]), bit for bit; `None` when a value is outside its distribution.
pub(crate) fn configuration_key<'a>(
    dists: impl IntoIterator<Item = &'a Distribution>,
    values: &[ParamValue],
) -> Option<Vec<u64>> {
    values
        .iter()
        .zip(dists)
        .map(|(v, d)| d.to_internal(v).ok().map(f64::to_bits))
        .collect()
}

/// The configurations over `params` that trials other than `except` already hold, in any state
/// (keys of [`configuration_key`]); trials lacking one of the parameters are left out. Empty
/// unless every parameter is finite (integer, stepped or categorical): on a continuous axis a
/// repeat cannot be told from a near miss. Samplers use it to pass over proposals that would
/// evaluate a deterministic objective again at a point it already knows.
pub(crate) fn tried_configurations(
    study: &StudyView,
    params: &[(&str, &Distribution)],
    except: u64,
) -> HashSet<Vec<u64>> {
    if params.iter().any(|(_, d)| d.cardinality().is_none()) {
        return HashSet::new();
    }
    study
        .trials
        .iter()
        .filter(|t| t.number != except)
        .filter_map(|t| {
            let values: Option<Vec<ParamValue>> = params
                .iter()
                .map(|(n, _)| t.params.get(*n).cloned())
                .collect();
            configuration_key(params.iter().map(|(_, d)| *d), &values?)
        })
        .collect()
}

/// The parameters every complete trial has, each with one distribution (single-valued ones
/// left out), for samplers that model the whole history jointly (GP, random forest). Empty for
/// several objectives or while fewer than `min_complete` trials are complete.
pub(crate) fn intersection_space(
    study: &StudyView,
    min_complete: usize,
) -> IndexMap<String, Distribution> {
    if study.directions.len() != 1 {
        return IndexMap::new();
    }
    let mut complete = study.complete();
    let Some(first) = complete.next() else {
        return IndexMap::new();
    };
    let mut n = 1;
    let mut space: IndexMap<String, Distribution> = first
        .distributions
        .iter()
        .filter(|(_, d)| !d.is_single())
        .map(|(k, d)| (k.clone(), d.clone()))
        .collect();
    for t in complete {
        n += 1;
        space.retain(|k, d| t.distributions.get(k) == Some(d));
    }
    if n < min_complete {
        return IndexMap::new();
    }
    space
}

/// The answer of [`Sampler::reserve`].
#[derive(Clone, Debug, PartialEq)]
pub enum Reservation {
    /// Nothing to claim: create the trial and sample as usual.
    Free,
    /// Create the trial only if no other trial holds `key`, with these parameters fixed.
    Claim {
        /// The exactly-once key.
        key: String,
        /// The parameters of the claimed point.
        params: IndexMap<String, ParamValue>,
        /// System attributes the trial starts with (e.g. its budget).
        attrs: std::collections::BTreeMap<String, serde_json::Value>,
    },
    /// Create a trial with these system attributes and sample it as usual.
    Tagged {
        /// System attributes the trial starts with (e.g. its budget).
        attrs: std::collections::BTreeMap<String, serde_json::Value>,
    },
    /// Every point has been claimed: the study should stop.
    Exhausted,
}

/// A search strategy. See the module documentation for when each method is called.
pub trait Sampler: Send + Sync {
    /// Claims a point before the trial is created. Default: [`Reservation::Free`].
    fn reserve(&self, _study: &StudyView) -> Result<Reservation> {
        Ok(Reservation::Free)
    }

    /// The parameters this sampler proposes jointly for `trial`. Default: none.
    fn infer_relative_space(
        &self,
        _study: &StudyView,
        _trial: &FrozenTrial,
    ) -> IndexMap<String, Distribution> {
        IndexMap::new()
    }

    /// A joint proposal over `space`, in the internal representation. Default: none.
    fn sample_relative(
        &self,
        _study: &StudyView,
        _trial: &FrozenTrial,
        _space: &IndexMap<String, Distribution>,
    ) -> Result<IndexMap<String, f64>> {
        Ok(IndexMap::new())
    }

    /// One parameter, in the internal representation of `dist`.
    fn sample_independent(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
        name: &str,
        dist: &Distribution,
    ) -> Result<f64>;

    /// Called when a trial run by this process has finished.
    fn after_trial(&self, _study: &StudyView, _trial: &FrozenTrial) {}

    /// Whether [`Sampler::after_trial`] does anything (saves a history read per trial when not).
    fn observes_trials(&self) -> bool {
        false
    }

    /// A short name for messages and records.
    fn name(&self) -> &'static str;
}
