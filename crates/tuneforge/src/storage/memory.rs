//! In-memory storage for one process: fast, and gone when the process exits.
//!
//! Trials are kept per study in number order (a trial's number is its index), waiting trials in
//! an ordered set, so asking costs no scan of the history.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use super::{NewTrial, Storage, TrialChanges, check_finish};
use crate::distribution::{Distribution, ParamValue};
use crate::error::{Error, Result};
use crate::record::{
    Direction, FrozenTrial, Metrics, StudyId, StudyRecord, TrialId, TrialState, now_ms,
};

struct StudyData {
    record: StudyRecord,
    seq: u64,
    /// Trials in number order.
    trials: Vec<FrozenTrial>,
    /// Numbers of the waiting trials.
    waiting: BTreeSet<u64>,
    claims: HashSet<String>,
}

#[derive(Default)]
struct Inner {
    next_study: StudyId,
    studies: BTreeMap<StudyId, StudyData>,
    /// Where each trial lives: its study and number.
    index: HashMap<TrialId, (StudyId, usize)>,
    next_trial: TrialId,
}

/// Storage held in the process's memory.
#[derive(Default)]
pub struct MemoryStorage {
    inner: Mutex<Inner>,
}

impl MemoryStorage {
    /// An empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update is applied in one step, so a lock poisoned by a panic elsewhere still
        // guards consistent data.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn study(&mut self, id: StudyId) -> Result<&mut StudyData> {
        self.studies
            .get_mut(&id)
            .ok_or_else(|| Error::StudyNotFound(format!("#{id}")))
    }

    fn locate(&mut self, trial: TrialId) -> Result<(&mut StudyData, usize)> {
        let (study, n) = *self
            .index
            .get(&trial)
            .ok_or_else(|| Error::TrialNotFound(format!("id {trial}")))?;
        Ok((self.study(study)?, n))
    }

    /// Applies `f` to a running trial in place and bumps the study counter.
    fn update_running(&mut self, trial: TrialId, f: impl FnOnce(&mut FrozenTrial)) -> Result<()> {
        let (data, n) = self.locate(trial)?;
        let t = &mut data.trials[n];
        if t.state != TrialState::Running {
            return Err(Error::TrialFinished(t.number));
        }
        f(t);
        data.seq += 1;
        t.seq = data.seq;
        Ok(())
    }
}

impl Storage for MemoryStorage {
    fn create_study(
        &self,
        name: &str,
        directions: &[Direction],
        attrs: &BTreeMap<String, serde_json::Value>,
    ) -> Result<StudyRecord> {
        let mut g = self.lock();
        if g.studies.values().any(|s| s.record.name == name) {
            return Err(Error::StudyExists(name.to_string()));
        }
        g.next_study += 1;
        let id = g.next_study;
        let record = StudyRecord {
            id,
            name: name.to_string(),
            directions: directions.to_vec(),
            attrs: attrs.clone(),
            created_ms: now_ms(),
        };
        g.studies.insert(
            id,
            StudyData {
                record: record.clone(),
                seq: 0,
                trials: Vec::new(),
                waiting: BTreeSet::new(),
                claims: HashSet::new(),
            },
        );
        Ok(record)
    }

    fn load_study(&self, name: &str) -> Result<StudyRecord> {
        let g = self.lock();
        g.studies
            .values()
            .find(|s| s.record.name == name)
            .map(|s| s.record.clone())
            .ok_or_else(|| Error::StudyNotFound(name.to_string()))
    }

    fn list_studies(&self) -> Result<Vec<StudyRecord>> {
        let g = self.lock();
        Ok(g.studies.values().map(|s| s.record.clone()).collect())
    }

    fn set_study_attr(&self, study: StudyId, key: &str, value: &serde_json::Value) -> Result<()> {
        let mut g = self.lock();
        g.study(study)?
            .record
            .attrs
            .insert(key.to_string(), value.clone());
        Ok(())
    }

    fn delete_study(&self, study: StudyId) -> Result<()> {
        let mut g = self.lock();
        let data = g
            .studies
            .remove(&study)
            .ok_or_else(|| Error::StudyNotFound(format!("#{study}")))?;
        for t in data.trials {
            g.index.remove(&t.id);
        }
        Ok(())
    }

    fn create_trial(&self, study: StudyId, new: NewTrial) -> Result<Option<FrozenTrial>> {
        let mut g = self.lock();
        g.next_trial += 1;
        let id = g.next_trial;
        let data = g.study(study)?;
        if let Some(c) = &new.claim
            && !data.claims.insert(c.clone())
        {
            return Ok(None);
        }
        data.seq += 1;
        let now = now_ms();
        let system_attrs = new.initial_system_attrs()?;
        let number = data.trials.len();
        let t = FrozenTrial {
            id,
            number: number as u64,
            state: if new.waiting {
                TrialState::Waiting
            } else {
                TrialState::Running
            },
            values: None,
            params: Default::default(),
            distributions: Default::default(),
            intermediate: Default::default(),
            user_attrs: Default::default(),
            system_attrs,
            message: None,
            worker: if new.waiting { None } else { new.worker },
            started_ms: (!new.waiting).then_some(now),
            finished_ms: None,
            heartbeat_ms: (!new.waiting && new.heartbeat).then_some(now),
            seq: data.seq,
        };
        if new.waiting {
            data.waiting.insert(t.number);
        }
        data.trials.push(t.clone());
        g.index.insert(id, (study, number));
        Ok(Some(t))
    }

    fn import_trial(&self, study: StudyId, t: &FrozenTrial) -> Result<FrozenTrial> {
        let mut g = self.lock();
        g.next_trial += 1;
        let id = g.next_trial;
        let data = g.study(study)?;
        if let Some(c) = t
            .system_attrs
            .get(crate::attrs::CLAIM)
            .and_then(|v| v.as_str())
        {
            data.claims.insert(c.to_string());
        }
        data.seq += 1;
        let number = data.trials.len();
        let mut copy = t.clone();
        copy.id = id;
        copy.number = number as u64;
        copy.seq = data.seq;
        if copy.state == TrialState::Running {
            copy.state = TrialState::Failed;
            copy.message = Some("running when the study was exported".into());
        }
        if copy.state == TrialState::Waiting {
            data.waiting.insert(copy.number);
        }
        data.trials.push(copy.clone());
        g.index.insert(id, (study, number));
        Ok(copy)
    }

    fn claim_waiting(
        &self,
        study: StudyId,
        worker: &str,
        heartbeat: bool,
    ) -> Result<Option<FrozenTrial>> {
        let mut g = self.lock();
        let data = g.study(study)?;
        let Some(number) = data.waiting.pop_first() else {
            return Ok(None);
        };
        data.seq += 1;
        let now = now_ms();
        let t = &mut data.trials[number as usize];
        t.state = TrialState::Running;
        t.worker = Some(worker.to_string());
        t.started_ms = Some(now);
        t.heartbeat_ms = heartbeat.then_some(now);
        t.seq = data.seq;
        Ok(Some(t.clone()))
    }

    fn set_param(
        &self,
        trial: TrialId,
        name: &str,
        dist: &Distribution,
        value: &ParamValue,
    ) -> Result<()> {
        self.lock().update_running(trial, |t| {
            t.params.insert(name.to_string(), value.clone());
            t.distributions.insert(name.to_string(), dist.clone());
        })
    }

    fn report(&self, trial: TrialId, step: u64, metrics: &Metrics) -> Result<()> {
        self.lock().update_running(trial, |t| {
            t.intermediate
                .entry(step)
                .or_default()
                .extend(metrics.iter().map(|(k, v)| (k.clone(), *v)));
        })
    }

    fn set_user_attr(&self, trial: TrialId, key: &str, value: &serde_json::Value) -> Result<()> {
        self.lock().update_running(trial, |t| {
            t.user_attrs.insert(key.to_string(), value.clone());
        })
    }

    fn set_system_attr(&self, trial: TrialId, key: &str, value: &serde_json::Value) -> Result<()> {
        self.lock().update_running(trial, |t| {
            t.system_attrs.insert(key.to_string(), value.clone());
        })
    }

    fn heartbeat(&self, trial: TrialId) -> Result<()> {
        let mut g = self.lock();
        let (data, n) = g.locate(trial)?;
        let t = &mut data.trials[n];
        if t.state != TrialState::Running {
            return Err(Error::TrialFinished(t.number));
        }
        t.heartbeat_ms = Some(now_ms());
        Ok(())
    }

    fn fail_stale(&self, study: StudyId, grace_ms: u64, message: &str) -> Result<Vec<FrozenTrial>> {
        let mut g = self.lock();
        let data = g.study(study)?;
        let now = now_ms();
        let mut out = Vec::new();
        for t in data.trials.iter_mut() {
            let stale = t.state == TrialState::Running
                && t.heartbeat_ms.is_some_and(|h| h + (grace_ms as i64) < now);
            if stale {
                data.seq += 1;
                t.state = TrialState::Failed;
                t.message = Some(message.to_string());
                t.finished_ms = Some(now);
                t.seq = data.seq;
                out.push(t.clone());
            }
        }
        Ok(out)
    }

    fn finish(
        &self,
        trial: TrialId,
        state: TrialState,
        values: Option<&[f64]>,
        message: Option<&str>,
    ) -> Result<FrozenTrial> {
        check_finish(state, values)?;
        let mut g = self.lock();
        g.update_running(trial, |t| {
            t.state = state;
            t.values = values.map(|v| v.to_vec());
            t.message = message.map(str::to_string);
            t.finished_ms = Some(now_ms());
        })?;
        let (data, n) = g.locate(trial)?;
        Ok(data.trials[n].clone())
    }

    fn trials_since(&self, study: StudyId, since: u64) -> Result<TrialChanges> {
        let mut g = self.lock();
        let data = g.study(study)?;
        Ok(TrialChanges {
            trials: data
                .trials
                .iter()
                .filter(|t| t.seq > since)
                .cloned()
                .collect(),
            seq: data.seq,
        })
    }

    fn get_trial(&self, trial: TrialId) -> Result<FrozenTrial> {
        let mut g = self.lock();
        let (data, n) = g.locate(trial)?;
        Ok(data.trials[n].clone())
    }

    fn trial_by_number(&self, study: StudyId, number: u64) -> Result<FrozenTrial> {
        let mut g = self.lock();
        g.study(study)?
            .trials
            .get(number as usize)
            .cloned()
            .ok_or_else(|| Error::TrialNotFound(number.to_string()))
    }
}
