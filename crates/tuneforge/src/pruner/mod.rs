//! Pruners: decide from a running trial's intermediate reports whether to stop it early.
//!
//! A pruner has one required method, [`Pruner::prune`], called each time the objective asks
//! [`crate::Trial::should_prune`] after a report.

use crate::error::Result;
use crate::record::FrozenTrial;
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
