//! In-memory storage for one process: fast, and gone when the process exits.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use super::{NewTrial, Storage, TrialChanges, check_finish};
use crate::attrs;
use crate::distribution::{Distribution, ParamValue};
use crate::error::{Error, Result};
use crate::record::{
    Direction, FrozenTrial, Metrics, StudyId, StudyRecord, TrialId, TrialState, now_ms,
};

#[derive(Default)]
struct StudyData {
    record: Option<StudyRecord>,
    seq: u64,
    trials: Vec<TrialId>,
    claims: HashSet<String>,
}

#[derive(Default)]
struct Inner {
    next_study: StudyId,
    studies: BTreeMap<StudyId, StudyData>,
    trials: HashMap<TrialId, (StudyId, FrozenTrial)>,
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
        // A panic while holding the lock cannot leave a half-written trial (every update is
        // applied in one step), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Inner {
    fn study(&mut self, id: StudyId) -> Result<&mut StudyData> {
        self.studies
            .get_mut(&id)
            .ok_or_else(|| Error::StudyNotFound(format!("#{id}")))
    }

    /// Applies `f` to a running trial, bumping the study counter.
    fn update_running<T>(
        &mut self,
        trial: TrialId,
        f: impl FnOnce(&mut FrozenTrial) -> Result<T>,
    ) -> Result<T> {
        let (study, t) = self
            .trials
            .get_mut(&trial)
            .ok_or_else(|| Error::TrialNotFound(format!("id {trial}")))?;
        if t.state != TrialState::Running {
            return Err(Error::TrialFinished(t.number));
        }
        let study = *study;
        let mut copy = t.clone();
        let out = f(&mut copy)?;
        let data = self.study(study)?;
        data.seq += 1;
        copy.seq = data.seq;
        self.trials.insert(trial, (study, copy));
        Ok(out)
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
        if g.studies
            .values()
            .any(|s| s.record.as_ref().is_some_and(|r| r.name == name))
        {
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
                record: Some(record.clone()),
                ..Default::default()
            },
        );
        Ok(record)
    }

    fn load_study(&self, name: &str) -> Result<StudyRecord> {
        let g = self.lock();
        g.studies
            .values()
            .filter_map(|s| s.record.as_ref())
            .find(|r| r.name == name)
            .cloned()
            .ok_or_else(|| Error::StudyNotFound(name.to_string()))
    }

    fn list_studies(&self) -> Result<Vec<StudyRecord>> {
        let g = self.lock();
        Ok(g.studies
            .values()
            .filter_map(|s| s.record.clone())
            .collect())
    }

    fn set_study_attr(&self, study: StudyId, key: &str, value: &serde_json::Value) -> Result<()> {
        let mut g = self.lock();
        let data = g.study(study)?;
        if let Some(r) = data.record.as_mut() {
            r.attrs.insert(key.to_string(), value.clone());
        }
        Ok(())
    }

    fn delete_study(&self, study: StudyId) -> Result<()> {
        let mut g = self.lock();
        let data = g
            .studies
            .remove(&study)
            .ok_or_else(|| Error::StudyNotFound(format!("#{study}")))?;
        for t in data.trials {
            g.trials.remove(&t);
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
        let mut system_attrs = new.system_attrs;
        if !new.fixed_params.is_empty() {
            system_attrs.insert(
                attrs::FIXED_PARAMS.into(),
                serde_json::to_value(&new.fixed_params)?,
            );
        }
        if let Some(c) = &new.claim {
            system_attrs.insert(attrs::CLAIM.into(), c.clone().into());
        }
        let t = FrozenTrial {
            id,
            number: data.trials.len() as u64,
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
            heartbeat_ms: (!new.waiting).then_some(now),
            seq: data.seq,
        };
        data.trials.push(id);
        g.trials.insert(id, (study, t.clone()));
        Ok(Some(t))
    }

    fn claim_waiting(&self, study: StudyId, worker: &str) -> Result<Option<FrozenTrial>> {
        let mut g = self.lock();
        let ids = g.study(study)?.trials.clone();
        let Some(id) = ids.into_iter().find(|id| {
            g.trials
                .get(id)
                .is_some_and(|(_, t)| t.state == TrialState::Waiting)
        }) else {
            return Ok(None);
        };
        let data = g.study(study)?;
        data.seq += 1;
        let seq = data.seq;
        let (_, t) = g
            .trials
            .get_mut(&id)
            .ok_or_else(|| Error::TrialNotFound(format!("id {id}")))?;
        let now = now_ms();
        t.state = TrialState::Running;
        t.worker = Some(worker.to_string());
        t.started_ms = Some(now);
        t.heartbeat_ms = Some(now);
        t.seq = seq;
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
            Ok(())
        })
    }

    fn report(&self, trial: TrialId, step: u64, metrics: &Metrics) -> Result<()> {
        self.lock().update_running(trial, |t| {
            t.intermediate
                .entry(step)
                .or_default()
                .extend(metrics.iter().map(|(k, v)| (k.clone(), *v)));
            Ok(())
        })
    }

    fn set_user_attr(&self, trial: TrialId, key: &str, value: &serde_json::Value) -> Result<()> {
        self.lock().update_running(trial, |t| {
            t.user_attrs.insert(key.to_string(), value.clone());
            Ok(())
        })
    }

    fn set_system_attr(&self, trial: TrialId, key: &str, value: &serde_json::Value) -> Result<()> {
        self.lock().update_running(trial, |t| {
            t.system_attrs.insert(key.to_string(), value.clone());
            Ok(())
        })
    }

    fn heartbeat(&self, trial: TrialId) -> Result<()> {
        let mut g = self.lock();
        let (_, t) = g
            .trials
            .get_mut(&trial)
            .ok_or_else(|| Error::TrialNotFound(format!("id {trial}")))?;
        if t.state != TrialState::Running {
            return Err(Error::TrialFinished(t.number));
        }
        t.heartbeat_ms = Some(now_ms());
        Ok(())
    }

    fn finish(
        &self,
        trial: TrialId,
        state: TrialState,
        values: Option<&[f64]>,
        message: Option<&str>,
    ) -> Result<FrozenTrial> {
        check_finish(state, values)?;
        self.lock().update_running(trial, |t| {
            t.state = state;
            t.values = values.map(|v| v.to_vec());
            t.message = message.map(str::to_string);
            t.finished_ms = Some(now_ms());
            Ok(())
        })?;
        self.get_trial(trial)
    }

    fn trials_since(&self, study: StudyId, since: u64) -> Result<TrialChanges> {
        let mut g = self.lock();
        let data = g.study(study)?;
        let seq = data.seq;
        let ids = data.trials.clone();
        let trials = ids
            .iter()
            .filter_map(|id| g.trials.get(id))
            .filter(|(_, t)| t.seq > since)
            .map(|(_, t)| t.clone())
            .collect();
        Ok(TrialChanges { trials, seq })
    }

    fn get_trial(&self, trial: TrialId) -> Result<FrozenTrial> {
        self.lock()
            .trials
            .get(&trial)
            .map(|(_, t)| t.clone())
            .ok_or_else(|| Error::TrialNotFound(format!("id {trial}")))
    }
}
