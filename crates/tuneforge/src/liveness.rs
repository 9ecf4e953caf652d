//! Liveness of running trials: the worker running a trial sends heartbeats to the storage, and
//! any worker of the study fails trials whose heartbeats stopped (their machine died, was
//! preempted, or lost the storage) and re-enqueues them under the study's retry policy.
//!
//! The policy is a property of the study (kept in its attributes), so every worker on every
//! machine applies the same one. Staleness is judged by the storage's clock where it has one
//! (PostgreSQL), so workers' clocks need not agree.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::record::TrialId;
use crate::storage::Storage;

/// Study attribute: seconds between heartbeats.
pub const ATTR_INTERVAL: &str = "heartbeat_interval_s";
/// Study attribute: seconds of silence after which a running trial is failed.
pub const ATTR_GRACE: &str = "heartbeat_grace_s";
/// Study attribute: how many times a trial whose worker died is re-run.
pub const ATTR_RETRIES: &str = "max_retries";

/// How a study watches its running trials.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Liveness {
    /// Time between two heartbeats of a running trial.
    pub interval: Duration,
    /// Silence after which a running trial is failed as dead.
    pub grace: Duration,
    /// Re-runs of a trial whose worker died (0: none).
    pub max_retries: u32,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            interval: Duration::from_secs(10),
            grace: Duration::from_secs(60),
            max_retries: 0,
        }
    }
}

impl Liveness {
    /// Checks the policy makes sense: a positive interval and a grace longer than it.
    pub fn validate(&self) -> Result<()> {
        if self.interval.is_zero() {
            return Err(Error::invalid("the heartbeat interval must be positive"));
        }
        if self.grace <= self.interval {
            return Err(Error::invalid(format!(
                "the heartbeat grace ({:?}) must be longer than the heartbeat interval ({:?}), \
                 or live trials would be failed",
                self.grace, self.interval
            )));
        }
        Ok(())
    }

    /// The policy stored in study attributes (defaults where absent or malformed).
    pub fn from_attrs(attrs: &BTreeMap<String, serde_json::Value>) -> Self {
        let d = Liveness::default();
        let secs = |k: &str| {
            attrs
                .get(k)
                .and_then(|v| v.as_f64())
                .filter(|s| s.is_finite() && *s > 0.0)
                .map(Duration::from_secs_f64)
        };
        let l = Liveness {
            interval: secs(ATTR_INTERVAL).unwrap_or(d.interval),
            grace: secs(ATTR_GRACE).unwrap_or(d.grace),
            max_retries: attrs
                .get(ATTR_RETRIES)
                .and_then(|v| v.as_u64())
                .map(|n| n.min(u32::MAX as u64) as u32)
                .unwrap_or(d.max_retries),
        };
        if l.validate().is_ok() { l } else { d }
    }

    /// Writes the policy into study attributes.
    pub fn to_attrs(&self, attrs: &mut BTreeMap<String, serde_json::Value>) {
        attrs.insert(ATTR_INTERVAL.into(), self.interval.as_secs_f64().into());
        attrs.insert(ATTR_GRACE.into(), self.grace.as_secs_f64().into());
        attrs.insert(ATTR_RETRIES.into(), self.max_retries.into());
    }
}

/// The running trials of one process that need heartbeats, and the one thread sending them.
pub(crate) struct Beats {
    storage: Arc<dyn Storage>,
    interval: Duration,
    trials: Mutex<HashSet<TrialId>>,
    thread: Mutex<bool>,
}

impl Beats {
    pub(crate) fn new(storage: Arc<dyn Storage>, interval: Duration) -> Arc<Self> {
        Arc::new(Beats {
            storage,
            interval,
            trials: Mutex::new(HashSet::new()),
            thread: Mutex::new(false),
        })
    }

    /// Starts heartbeats for `trial` until the returned guard is dropped.
    pub(crate) fn watch(self: &Arc<Self>, trial: TrialId) -> BeatGuard {
        self.lock_trials().insert(trial);
        let mut started = self.thread.lock().unwrap_or_else(|p| p.into_inner());
        if !*started {
            *started = true;
            let weak = Arc::downgrade(self);
            let interval = self.interval;
            // The thread holds only a weak reference: it ends once the study is gone.
            let spawned = std::thread::Builder::new()
                .name("tuneforge-heartbeat".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(interval);
                        let Some(beats) = weak.upgrade() else { return };
                        beats.beat_all();
                    }
                });
            if spawned.is_err() {
                // No thread, no heartbeats: the trial may be failed as stale later, which is
                // recoverable; refusing to run it would not be.
                *started = false;
            }
        }
        BeatGuard {
            beats: self.clone(),
            trial,
        }
    }

    fn lock_trials(&self) -> std::sync::MutexGuard<'_, HashSet<TrialId>> {
        self.trials.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn beat_all(&self) {
        let ids: Vec<TrialId> = self.lock_trials().iter().copied().collect();
        for id in ids {
            match self.storage.heartbeat(id) {
                Ok(()) => {}
                // Finished meanwhile (or failed as stale by another worker): stop beating it.
                Err(Error::TrialFinished(_)) | Err(Error::TrialNotFound(_)) => {
                    self.lock_trials().remove(&id);
                }
                // The storage retries transient failures itself; a beat that still fails is
                // retried at the next interval, and the grace covers several of them.
                Err(_) => {}
            }
        }
    }
}

/// Heartbeats continue while this lives.
pub(crate) struct BeatGuard {
    beats: Arc<Beats>,
    trial: TrialId,
}

impl Drop for BeatGuard {
    fn drop(&mut self) {
        self.beats.lock_trials().remove(&self.trial);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_round_trips_through_attrs_and_rejects_nonsense() {
        let l = Liveness {
            interval: Duration::from_millis(500),
            grace: Duration::from_secs(3),
            max_retries: 2,
        };
        let mut attrs = BTreeMap::new();
        l.to_attrs(&mut attrs);
        assert_eq!(Liveness::from_attrs(&attrs), l);
        assert_eq!(Liveness::from_attrs(&BTreeMap::new()), Liveness::default());
        let bad = Liveness {
            grace: Duration::from_millis(100),
            ..l
        };
        assert!(bad.validate().is_err());
        // A malformed stored policy falls back to the defaults rather than failing live trials.
        let mut attrs = BTreeMap::new();
        bad.to_attrs(&mut attrs);
        assert_eq!(Liveness::from_attrs(&attrs), Liveness::default());
    }
}
