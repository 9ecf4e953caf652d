//! A study as the dashboard sees it: the record and every trial, kept in memory and brought up
//! to date incrementally from the storage's change counter (only trials changed since the last
//! read are fetched), plus results derived from it that are costly to recompute.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tuneforge::storage::Storage;
use tuneforge::studyfile::{PrunerKind, PrunerSpec, StudyFile};
use tuneforge::{Direction, FrozenTrial, Result, StudyRecord, TrialState};

/// Most answers kept per study.
const MAX_ANSWERS: usize = 256;

/// One study in memory.
pub struct Snapshot {
    /// The study record (attributes re-read at every refresh).
    pub record: StudyRecord,
    /// Every trial, ordered by number.
    pub trials: Vec<FrozenTrial>,
    /// The storage's change counter the trials are current to.
    pub seq: u64,
    /// Objective (metric) names, one per direction.
    pub objectives: Vec<String>,
    /// The `[pruner]` section of the study file the study was created from, if any (parsed
    /// again only when the study's attributes change).
    pub pruner: Option<PrunerSpec>,
    /// Cached importance: (complete trials it was computed on, when, result).
    pub importance: HashMap<usize, (usize, Instant, serde_json::Value)>,
    /// Answers computed since the trials last changed, by request (emptied on every change).
    pub answers: HashMap<String, serde_json::Value>,
}

impl Snapshot {
    fn new(record: StudyRecord) -> Self {
        let objectives = record.objective_names();
        let pruner = pruner_of(&record);
        Snapshot {
            record,
            trials: Vec::new(),
            seq: 0,
            objectives,
            pruner,
            importance: HashMap::new(),
            answers: HashMap::new(),
        }
    }

    /// Fetches the trials changed since the last refresh and the study's attributes.
    pub fn refresh(&mut self, storage: &dyn Storage) -> Result<()> {
        let record = storage.load_study(&self.record.name)?;
        let changes = storage.trials_since(record.id, self.seq)?;
        for t in changes.trials {
            match self.trials.binary_search_by_key(&t.number, |x| x.number) {
                Ok(i) => self.trials[i] = t,
                Err(i) => self.trials.insert(i, t),
            }
        }
        if record.attrs != self.record.attrs {
            self.answers.clear();
            self.objectives = record.objective_names();
            self.pruner = pruner_of(&record);
        } else if changes.seq != self.seq {
            self.answers.clear();
        }
        self.seq = changes.seq;
        self.record = record;
        Ok(())
    }

    /// The answer to `key` while the study is unchanged, computing it with `f` when missing.
    pub fn answer<E>(
        &mut self,
        key: &str,
        f: impl FnOnce(&mut Snapshot) -> std::result::Result<serde_json::Value, E>,
    ) -> std::result::Result<serde_json::Value, E> {
        if let Some(v) = self.answers.get(key) {
            return Ok(v.clone());
        }
        let v = f(self)?;
        if self.answers.len() >= MAX_ANSWERS {
            self.answers.clear();
        }
        self.answers.insert(key.to_string(), v.clone());
        Ok(v)
    }

    /// The trial with this number.
    pub fn trial(&self, number: u64) -> Option<&FrozenTrial> {
        self.trials
            .binary_search_by_key(&number, |x| x.number)
            .ok()
            .map(|i| &self.trials[i])
    }

    /// The direction of objective `i`.
    pub fn direction(&self, i: usize) -> Direction {
        self.record
            .directions
            .get(i)
            .copied()
            .unwrap_or(Direction::Minimize)
    }

    /// Complete trials whose objective `i` is a finite number, with that value.
    pub fn complete_values(&self, i: usize) -> Vec<(&FrozenTrial, f64)> {
        self.trials
            .iter()
            .filter(|t| t.state == TrialState::Complete)
            .filter_map(|t| {
                let v = *t.values.as_ref()?.get(i)?;
                v.is_finite().then_some((t, v))
            })
            .collect()
    }

    /// Resolves an objective given by name or index (default: the first).
    pub fn objective_index(&self, given: Option<&str>) -> std::result::Result<usize, String> {
        let Some(o) = given.filter(|o| !o.is_empty()) else {
            return Ok(0);
        };
        self.objectives
            .iter()
            .position(|n| n == o)
            .or_else(|| {
                o.parse::<usize>()
                    .ok()
                    .filter(|i| *i < self.objectives.len())
            })
            .ok_or_else(|| {
                format!(
                    "objective '{o}' is not one of: {}",
                    self.objectives.join(", ")
                )
            })
    }
}

/// The study's `[pruner]` section, when it was created from a study file that has one.
fn pruner_of(record: &StudyRecord) -> Option<PrunerSpec> {
    StudyFile::of_record(record)?
        .pruner
        .filter(|p| p.kind != PrunerKind::None)
}

/// The snapshots of every study a server has shown, each behind its own lock so that
/// requests for different studies do not wait on each other.
#[derive(Default)]
pub struct Snapshots {
    map: Mutex<HashMap<String, Arc<Mutex<Snapshot>>>>,
}

impl Snapshots {
    /// The snapshot of study `name`, refreshed from the storage.
    pub fn get(&self, storage: &dyn Storage, name: &str) -> Result<Arc<Mutex<Snapshot>>> {
        let existing = self.lock_map().get(name).cloned();
        let snap = match existing {
            Some(s) => s,
            None => {
                let record = storage.load_study(name)?;
                let s = Arc::new(Mutex::new(Snapshot::new(record)));
                self.lock_map().entry(name.to_string()).or_insert(s).clone()
            }
        };
        {
            let mut guard = snap.lock().unwrap_or_else(|p| p.into_inner());
            if let Err(e) = guard.refresh(storage) {
                if matches!(e, tuneforge::Error::StudyNotFound(_)) {
                    self.lock_map().remove(name);
                }
                return Err(e);
            }
        }
        Ok(snap)
    }

    fn lock_map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Mutex<Snapshot>>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
impl Snapshot {
    /// An empty snapshot of `record`, for view tests.
    pub fn for_tests(record: StudyRecord) -> Self {
        Snapshot::new(record)
    }
}
