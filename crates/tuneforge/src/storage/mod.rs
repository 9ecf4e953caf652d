//! Storage: where studies and trials live, shared by every worker.
//!
//! # Contract
//! - Implementations are thread-safe (`Send + Sync`) and may be shared by many processes
//!   (SQLite file, database server); all study state lives here, so workers are stateless.
//! - Every write is atomic. Finished trials (complete, pruned, failed) are read-only: writing to
//!   one returns [`Error::TrialFinished`] and changes nothing.
//! - Trial numbers within a study are unique and dense (0, 1, 2, ...), assigned at creation.
//! - Claims are exactly-once: [`Storage::create_trial`] with a claim key creates the trial only if
//!   no trial of the study holds that key, in the same transaction; [`Storage::claim_waiting`]
//!   hands each waiting trial to exactly one caller.
//! - Every write to a study's trials advances the study's change counter; a trial's `seq` is the
//!   counter after its last change, so [`Storage::trials_since`] returns exactly the trials that
//!   changed after a given counter value (incremental reads).
//!
//! Backends: [`MemoryStorage`] (one process), [`SqliteStorage`] (the default: a file that
//! several processes on one machine share) and, with the `postgres` feature,
//! `PostgresStorage` (a server that workers on many machines share). Every backend runs the
//! suite in [`crate::testing`].

mod codec;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod sqlite;

pub use memory::MemoryStorage;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStorage;
pub use sqlite::SqliteStorage;

use indexmap::IndexMap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::distribution::{Distribution, ParamValue};
use crate::error::{Error, Result};
use crate::record::{Direction, FrozenTrial, Metrics, StudyId, StudyRecord, TrialId, TrialState};

/// What a new trial starts with.
#[derive(Clone, Debug, Default)]
pub struct NewTrial {
    /// `Waiting` for an enqueued trial, otherwise `Running` (the default).
    pub waiting: bool,
    /// Parameters fixed in advance (used instead of sampling when the objective asks for them).
    pub fixed_params: IndexMap<String, ParamValue>,
    /// An exactly-once key: the trial is not created when another trial of the study holds it.
    pub claim: Option<String>,
    /// Further system attributes.
    pub system_attrs: BTreeMap<String, serde_json::Value>,
    /// The worker creating a running trial.
    pub worker: Option<String>,
    /// Whether the creating worker sends heartbeats for the trial. Only such trials can be
    /// failed as stale by [`Storage::fail_stale`]; a trial handed out by a one-shot `ask`
    /// (whose result comes later from another process) has none.
    pub heartbeat: bool,
}

impl NewTrial {
    /// The system attributes the trial is stored with: the given ones, plus the fixed
    /// parameters and the claim key when there are any.
    pub(crate) fn initial_system_attrs(&self) -> Result<BTreeMap<String, serde_json::Value>> {
        let mut attrs = self.system_attrs.clone();
        if !self.fixed_params.is_empty() {
            attrs.insert(
                crate::attrs::FIXED_PARAMS.into(),
                serde_json::to_value(&self.fixed_params)?,
            );
        }
        if let Some(c) = &self.claim {
            attrs.insert(crate::attrs::CLAIM.into(), c.clone().into());
        }
        Ok(attrs)
    }
}

/// The trials of a study changed after some counter value, and the counter now.
#[derive(Clone, Debug, Default)]
pub struct TrialChanges {
    /// Changed or new trials, ordered by number.
    pub trials: Vec<FrozenTrial>,
    /// The study's change counter after these changes; pass it to the next call.
    pub seq: u64,
}

/// The storage interface. See the module documentation for the contract.
pub trait Storage: Send + Sync {
    // ---- studies -------------------------------------------------------------------------

    /// Creates a study; fails with [`Error::StudyExists`] when the name is taken.
    fn create_study(
        &self,
        name: &str,
        directions: &[Direction],
        attrs: &BTreeMap<String, serde_json::Value>,
    ) -> Result<StudyRecord>;

    /// Loads a study by name; fails with [`Error::StudyNotFound`].
    fn load_study(&self, name: &str) -> Result<StudyRecord>;

    /// All studies, oldest first.
    fn list_studies(&self) -> Result<Vec<StudyRecord>>;

    /// Sets (or replaces) a study attribute.
    fn set_study_attr(&self, study: StudyId, key: &str, value: &serde_json::Value) -> Result<()>;

    /// Deletes a study and all its trials.
    fn delete_study(&self, study: StudyId) -> Result<()>;

    // ---- trial creation --------------------------------------------------------------------

    /// Creates a trial with the next number. Returns `None`, creating nothing, when `new.claim`
    /// is already held by a trial of the study.
    fn create_trial(&self, study: StudyId, new: NewTrial) -> Result<Option<FrozenTrial>>;

    /// Atomically moves the oldest waiting trial of the study to running for `worker`, who
    /// sends heartbeats for it when `heartbeat` is true.
    fn claim_waiting(
        &self,
        study: StudyId,
        worker: &str,
        heartbeat: bool,
    ) -> Result<Option<FrozenTrial>>;

    // ---- updates to a running trial ----------------------------------------------------------

    /// Records a parameter of a running trial. The value is kept exactly as given (samplers
    /// derive the internal representation from it).
    fn set_param(
        &self,
        trial: TrialId,
        name: &str,
        dist: &Distribution,
        value: &ParamValue,
    ) -> Result<()>;

    /// Records intermediate metrics at `step` (merged with metrics already at that step).
    fn report(&self, trial: TrialId, step: u64, metrics: &Metrics) -> Result<()>;

    /// Sets a user attribute of a running trial.
    fn set_user_attr(&self, trial: TrialId, key: &str, value: &serde_json::Value) -> Result<()>;

    /// Sets a system attribute of a running trial.
    fn set_system_attr(&self, trial: TrialId, key: &str, value: &serde_json::Value) -> Result<()>;

    /// Records that the worker running the trial is alive (stamped with the storage's clock
    /// where it has one, so workers' clocks need not agree).
    fn heartbeat(&self, trial: TrialId) -> Result<()>;

    /// Fails, in one transaction, every running trial of the study that has heartbeats and
    /// whose last one is older than `grace_ms`, with `message`; returns them as finished.
    /// Concurrent callers each get a disjoint set, so each stale trial is handled once.
    fn fail_stale(&self, study: StudyId, grace_ms: u64, message: &str) -> Result<Vec<FrozenTrial>>;

    /// Finishes a running trial: `Complete` needs `values`; `Pruned`/`Failed` take a message.
    fn finish(
        &self,
        trial: TrialId,
        state: TrialState,
        values: Option<&[f64]>,
        message: Option<&str>,
    ) -> Result<FrozenTrial>;

    // ---- reads -------------------------------------------------------------------------------

    /// Appends `t` to the study as it was recorded elsewhere (`tuneforge import`): the next
    /// number, and its state, values, parameters, reports, attributes, worker and times.
    /// The default composes the other calls (times and worker become the importer's); SQLite
    /// and memory storage keep everything. A trial running when exported is imported failed.
    fn import_trial(&self, study: StudyId, t: &FrozenTrial) -> Result<FrozenTrial> {
        let waiting = t.state == TrialState::Waiting;
        let new = NewTrial {
            waiting,
            system_attrs: t.system_attrs.clone(),
            worker: t.worker.clone(),
            ..NewTrial::default()
        };
        let created = self
            .create_trial(study, new)?
            .ok_or_else(|| Error::Storage("the imported trial could not be created".into()))?;
        if waiting {
            return Ok(created);
        }
        for (k, v) in &t.params {
            self.set_param(created.id, k, &t.distributions[k], v)?;
        }
        for (step, m) in &t.intermediate {
            self.report(created.id, *step, m)?;
        }
        for (k, v) in &t.user_attrs {
            self.set_user_attr(created.id, k, v)?;
        }
        let (state, message) = match t.state {
            TrialState::Running => (
                TrialState::Failed,
                Some("running when the study was exported".to_string()),
            ),
            s => (s, t.message.clone()),
        };
        self.finish(created.id, state, t.values.as_deref(), message.as_deref())
    }

    /// The trials of a study that changed after counter value `since` (0: all of them).
    fn trials_since(&self, study: StudyId, since: u64) -> Result<TrialChanges>;

    /// One trial by key.
    fn get_trial(&self, trial: TrialId) -> Result<FrozenTrial>;

    /// One trial by study and number.
    fn trial_by_number(&self, study: StudyId, number: u64) -> Result<FrozenTrial> {
        self.trials_since(study, 0)?
            .trials
            .into_iter()
            .find(|t| t.number == number)
            .ok_or_else(|| Error::TrialNotFound(number.to_string()))
    }

    /// All trials of a study, ordered by number.
    fn all_trials(&self, study: StudyId) -> Result<Vec<FrozenTrial>> {
        Ok(self.trials_since(study, 0)?.trials)
    }
}

/// Opens a storage from a URL: `sqlite://PATH` (or a file path), `postgres://...`, or
/// `memory://`.
pub fn open(url: &str) -> Result<Arc<dyn Storage>> {
    open_with_retry(url, None)
}

/// Like [`open`], with the time a database server that cannot be reached is retried before an
/// operation fails (`None`: `TUNEFORGE_DB_RETRY_S`, default 300 s). Workers wait out a server
/// restart; a viewer such as the dashboard wants to say at once that the server is gone.
pub fn open_with_retry(
    url: &str,
    retry_budget: Option<std::time::Duration>,
) -> Result<Arc<dyn Storage>> {
    match parse_url(url)? {
        StorageUrl::Memory => Ok(Arc::new(MemoryStorage::new())),
        StorageUrl::Sqlite(path) => Ok(Arc::new(SqliteStorage::open(&path)?)),
        #[cfg(feature = "postgres")]
        StorageUrl::Postgres(url) => Ok(Arc::new(match retry_budget {
            Some(b) => PostgresStorage::open_with_retry(&url, b)?,
            None => PostgresStorage::open(&url)?,
        })),
        #[cfg(not(feature = "postgres"))]
        StorageUrl::Postgres(url) => {
            let _ = retry_budget;
            Err(Error::invalid(format!(
                "storage '{}': this build of tuneforge has no PostgreSQL support \
                 (build it with the `postgres` feature)",
                redact(&url)
            )))
        }
    }
}

/// A parsed storage URL.
#[derive(Clone, Debug, PartialEq)]
pub enum StorageUrl {
    /// In-memory, gone when the process ends.
    Memory,
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL server (`postgres://user:password@host:port/database`).
    Postgres(String),
}

/// Parses a storage URL; the error says which forms are understood.
pub fn parse_url(url: &str) -> Result<StorageUrl> {
    if url == "memory://" || url == ":memory:" {
        return Ok(StorageUrl::Memory);
    }
    if let Some(rest) = url.strip_prefix("sqlite://") {
        if rest.is_empty() {
            return Err(Error::invalid(
                "sqlite:// needs a file path, e.g. sqlite://tuneforge.db",
            ));
        }
        return Ok(StorageUrl::Sqlite(PathBuf::from(rest)));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(StorageUrl::Postgres(url.to_string()));
    }
    if !url.contains("://") && !url.is_empty() {
        return Ok(StorageUrl::Sqlite(PathBuf::from(url)));
    }
    Err(Error::invalid(format!(
        "storage '{}' is not understood: use sqlite://PATH, a file path, \
         postgres://user:password@host/database, or memory://",
        redact(url)
    )))
}

/// Hides a password in a URL for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The SQLite file used when none is named: `tuneforge.db` in `dir`.
pub fn default_sqlite_path(dir: &Path) -> PathBuf {
    dir.join("tuneforge.db")
}

/// Checks a finish request is consistent; shared by backends.
pub(crate) fn check_finish(state: TrialState, values: Option<&[f64]>) -> Result<()> {
    match state {
        TrialState::Complete => match values {
            None => Err(Error::invalid(
                "a complete trial needs its objective values",
            )),
            Some(v) if v.iter().any(|x| !x.is_finite()) => Err(Error::invalid(format!(
                "objective values must be finite numbers, got {v:?}"
            ))),
            Some(_) => Ok(()),
        },
        TrialState::Pruned | TrialState::Failed => Ok(()),
        TrialState::Running | TrialState::Waiting => Err(Error::invalid(format!(
            "a trial can only finish as complete, pruned or failed, not {state}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_or_say_what_is_understood() {
        assert_eq!(parse_url("memory://").unwrap(), StorageUrl::Memory);
        assert_eq!(
            parse_url("sqlite://a/b.db").unwrap(),
            StorageUrl::Sqlite("a/b.db".into())
        );
        assert_eq!(
            parse_url("sqlite:///abs/b.db").unwrap(),
            StorageUrl::Sqlite("/abs/b.db".into())
        );
        assert_eq!(
            parse_url("x.db").unwrap(),
            StorageUrl::Sqlite("x.db".into())
        );
        let e = parse_url("redis://h").unwrap_err().to_string();
        assert!(e.contains("not understood"), "{e}");
        assert_eq!(
            parse_url("postgres://u:secret@h/db").unwrap(),
            StorageUrl::Postgres("postgres://u:secret@h/db".into())
        );
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
    }
}
