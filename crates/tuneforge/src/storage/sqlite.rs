//! Embedded SQLite storage, the default: one file that threads and processes share.
//!
//! Several processes can work on one file at once: the database runs in WAL mode (readers never
//! block the writer), every write is a short `BEGIN IMMEDIATE` transaction (so a transaction never
//! has to upgrade a read lock, the cause of spurious "database is locked" errors), and a busy
//! database is waited for and retried with backoff instead of failing the trial.

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::codec::{
    fill_params, merge_metrics, metrics_from_json, metrics_to_json, param_json, upsert_param,
};
use super::{NewTrial, Storage, TrialChanges, check_finish};
use crate::distribution::{Distribution, ParamValue};
use crate::error::{Error, Result};
use crate::record::{
    Direction, FrozenTrial, Metrics, StudyId, StudyRecord, TrialId, TrialState, now_ms,
};

/// The schema version this build writes; older files are migrated, newer ones refused.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA_V1: &str = r#"
CREATE TABLE IF NOT EXISTS studies (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    directions  TEXT NOT NULL,
    attrs       TEXT NOT NULL DEFAULT '{}',
    seq         INTEGER NOT NULL DEFAULT 0,
    created_ms  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    id           INTEGER PRIMARY KEY,
    study_id     INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
    number       INTEGER NOT NULL,
    state        TEXT NOT NULL,
    vals         TEXT,
    params       TEXT NOT NULL DEFAULT '[]',
    user_attrs   TEXT NOT NULL DEFAULT '{}',
    system_attrs TEXT NOT NULL DEFAULT '{}',
    message      TEXT,
    worker       TEXT,
    started_ms   INTEGER,
    finished_ms  INTEGER,
    heartbeat_ms INTEGER,
    seq          INTEGER NOT NULL,
    claim        TEXT,
    UNIQUE (study_id, number),
    UNIQUE (study_id, claim)
);
CREATE INDEX IF NOT EXISTS trials_by_seq ON trials (study_id, seq);
CREATE INDEX IF NOT EXISTS trials_by_state ON trials (study_id, state);
CREATE TABLE IF NOT EXISTS reports (
    trial_id INTEGER NOT NULL REFERENCES trials(id) ON DELETE CASCADE,
    step     INTEGER NOT NULL,
    metrics  TEXT NOT NULL,
    PRIMARY KEY (trial_id, step)
);
"#;

/// How long a write waits for a busy database before giving up.
const BUSY_BUDGET: Duration = Duration::from_secs(120);

/// SQLite-backed storage.
pub struct SqliteStorage {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl SqliteStorage {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
            && !dir.is_dir()
        {
            return Err(Error::Storage(format!(
                "cannot open SQLite database {}: directory {} does not exist",
                path.display(),
                dir.display()
            )));
        }
        let conn = Connection::open(path).map_err(|e| {
            Error::Storage(format!(
                "cannot open SQLite database {}: {e}",
                path.display()
            ))
        })?;
        let storage = SqliteStorage {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        };
        storage.init()?;
        Ok(storage)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn init(&self) -> Result<()> {
        let conn = self.lock();
        conn.busy_timeout(Duration::from_secs(30))?;
        // WAL lets readers and one writer work at once across processes. Switching needs a
        // moment of exclusive access, so it is retried like any write.
        retry_busy(|| {
            let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
            Ok(mode)
        })?;
        conn.execute_batch("PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;")?;
        drop(conn);
        self.write(|tx| {
            tx.execute_batch(
                "CREATE TABLE IF NOT EXISTS tuneforge_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
            )?;
            let version: Option<String> = tx
                .query_row(
                    "SELECT value FROM tuneforge_meta WHERE key = 'schema_version'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            match version.map(|v| v.parse::<i64>()) {
                None => {
                    tx.execute_batch(SCHEMA_V1)?;
                    tx.execute(
                        "INSERT INTO tuneforge_meta (key, value) VALUES ('schema_version', ?1)",
                        [SCHEMA_VERSION.to_string()],
                    )?;
                }
                Some(Ok(v)) if v == SCHEMA_VERSION => {}
                Some(Ok(v)) if v > SCHEMA_VERSION => {
                    return Err(Error::Storage(format!(
                        "{}: schema version {v} is newer than this tuneforge understands \
                         ({SCHEMA_VERSION}); upgrade tuneforge",
                        self.path.display()
                    )));
                }
                Some(v) => {
                    return Err(Error::Storage(format!(
                        "{}: unknown schema version {v:?}",
                        self.path.display()
                    )));
                }
            }
            Ok(())
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` in an immediate (write-locking) transaction, retrying while the database is busy.
    fn write<T>(&self, mut f: impl FnMut(&Transaction) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        retry_busy(|| {
            let tx = Transaction::new(&mut conn, TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// Runs `f` in a read transaction (a consistent snapshot).
    fn read<T>(&self, mut f: impl FnMut(&Transaction) -> Result<T>) -> Result<T> {
        let mut conn = self.lock();
        retry_busy(|| {
            let tx = Transaction::new(&mut conn, TransactionBehavior::Deferred)?;
            let out = f(&tx)?;
            tx.finish()?;
            Ok(out)
        })
    }
}

fn is_busy(e: &Error) -> bool {
    matches!(e, Error::Storage(m) if m.contains("database is locked") || m.contains("database is busy") || m.contains("database table is locked"))
}

fn retry_busy<T>(mut f: impl FnMut() -> Result<T>) -> Result<T> {
    let start = Instant::now();
    let mut wait = Duration::from_millis(5);
    loop {
        match f() {
            Err(e) if is_busy(&e) && start.elapsed() < BUSY_BUDGET => {
                std::thread::sleep(wait);
                wait = (wait * 2).min(Duration::from_millis(500));
            }
            other => return other,
        }
    }
}

fn bump(tx: &Transaction, study: StudyId) -> Result<u64> {
    let seq: i64 = tx.query_row(
        "UPDATE studies SET seq = seq + 1 WHERE id = ?1 RETURNING seq",
        [study],
        |r| r.get(0),
    )?;
    Ok(seq as u64)
}

/// Bumps the study's change counter and returns it with the number the next trial gets.
fn next_trial(tx: &Transaction, study: StudyId) -> Result<(u64, i64)> {
    let seq = bump(tx, study).map_err(|e| match e {
        Error::Storage(m) if m.contains("no rows") => Error::StudyNotFound(format!("#{study}")),
        e => e,
    })?;
    // Numbers are dense, so the next is one past the largest: read from the (study_id, number)
    // index in O(log n), where counting the study's rows would scan them all at every creation.
    let number: i64 = tx.query_row(
        "SELECT COALESCE(MAX(number) + 1, 0) FROM trials WHERE study_id = ?1",
        [study],
        |r| r.get(0),
    )?;
    Ok((seq, number))
}

fn study_of_running(tx: &Transaction, trial: TrialId) -> Result<StudyId> {
    let row: Option<(StudyId, String, i64)> = tx
        .query_row(
            "SELECT study_id, state, number FROM trials WHERE id = ?1",
            [trial],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    match row {
        None => Err(Error::TrialNotFound(format!("id {trial}"))),
        Some((s, state, _)) if state == "running" => Ok(s),
        Some((_, _, number)) => Err(Error::TrialFinished(number as u64)),
    }
}

const TRIAL_COLS: &str = "id, number, state, vals, params, user_attrs, system_attrs, message, \
                          worker, started_ms, finished_ms, heartbeat_ms, seq";

fn row_to_trial(r: &rusqlite::Row) -> rusqlite::Result<(FrozenTrial, String)> {
    let state: String = r.get(2)?;
    let vals: Option<String> = r.get(3)?;
    let user: String = r.get(5)?;
    let sys: String = r.get(6)?;
    let conv = |i: usize, e: serde_json::Error| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    };
    let t = FrozenTrial {
        id: r.get(0)?,
        number: r.get::<_, i64>(1)? as u64,
        state: TrialState::parse(&state).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                format!("unknown trial state '{state}'").into(),
            )
        })?,
        values: match vals {
            Some(v) => Some(serde_json::from_str(&v).map_err(|e| conv(3, e))?),
            None => None,
        },
        params: Default::default(),
        distributions: Default::default(),
        intermediate: Default::default(),
        user_attrs: serde_json::from_str(&user).map_err(|e| conv(5, e))?,
        system_attrs: serde_json::from_str(&sys).map_err(|e| conv(6, e))?,
        message: r.get(7)?,
        worker: r.get(8)?,
        started_ms: r.get(9)?,
        finished_ms: r.get(10)?,
        heartbeat_ms: r.get(11)?,
        seq: r.get::<_, i64>(12)? as u64,
    };
    Ok((t, r.get(4)?))
}

fn load_trials(tx: &Transaction, where_sql: &str, args: &[i64]) -> Result<Vec<FrozenTrial>> {
    let sql = format!("SELECT {TRIAL_COLS} FROM trials WHERE {where_sql} ORDER BY number");
    let mut stmt = tx.prepare_cached(&sql)?;
    let rows = stmt.query_map(rusqlite::params_from_iter(args.iter()), row_to_trial)?;
    let mut trials = Vec::new();
    let mut index = std::collections::HashMap::new();
    for row in rows {
        let (mut t, params) = row?;
        fill_params(&mut t, &params)?;
        index.insert(t.id, trials.len());
        trials.push(t);
    }
    if trials.is_empty() {
        return Ok(trials);
    }
    let sql = format!(
        "SELECT trial_id, step, metrics FROM reports WHERE trial_id IN \
         (SELECT id FROM trials WHERE {where_sql}) ORDER BY trial_id, step"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
    while let Some(r) = rows.next()? {
        let id: TrialId = r.get(0)?;
        let step: i64 = r.get(1)?;
        let metrics: String = r.get(2)?;
        if let Some(&i) = index.get(&id) {
            trials[i]
                .intermediate
                .insert(step as u64, metrics_from_json(&metrics)?);
        }
    }
    Ok(trials)
}

fn load_study_row(r: &rusqlite::Row) -> rusqlite::Result<(StudyId, String, String, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn to_study(row: (StudyId, String, String, String, i64)) -> Result<StudyRecord> {
    let (id, name, dirs, attrs, created_ms) = row;
    Ok(StudyRecord {
        id,
        name,
        directions: serde_json::from_str(&dirs)?,
        attrs: serde_json::from_str(&attrs)?,
        created_ms,
    })
}

impl SqliteStorage {
    /// Applies `f` to a JSON column of a running trial and bumps the study counter.
    fn update_json(
        &self,
        trial: TrialId,
        column: &str,
        f: impl Fn(&mut serde_json::Value) -> Result<()>,
    ) -> Result<()> {
        self.write(|tx| {
            let study = study_of_running(tx, trial)?;
            let text: String = tx.query_row(
                &format!("SELECT {column} FROM trials WHERE id = ?1"),
                [trial],
                |r| r.get(0),
            )?;
            let mut v: serde_json::Value = serde_json::from_str(&text)?;
            f(&mut v)?;
            let seq = bump(tx, study)?;
            tx.execute(
                &format!("UPDATE trials SET {column} = ?1, seq = ?2 WHERE id = ?3"),
                params![v.to_string(), seq as i64, trial],
            )?;
            Ok(())
        })
    }
}

impl Storage for SqliteStorage {
    fn create_study(
        &self,
        name: &str,
        directions: &[Direction],
        attrs: &BTreeMap<String, serde_json::Value>,
    ) -> Result<StudyRecord> {
        self.write(|tx| {
            let exists: Option<i64> = tx
                .query_row("SELECT id FROM studies WHERE name = ?1", [name], |r| {
                    r.get(0)
                })
                .optional()?;
            if exists.is_some() {
                return Err(Error::StudyExists(name.to_string()));
            }
            let created = now_ms();
            tx.execute(
                "INSERT INTO studies (name, directions, attrs, created_ms) VALUES (?1, ?2, ?3, ?4)",
                params![
                    name,
                    serde_json::to_string(directions)?,
                    serde_json::to_string(attrs)?,
                    created
                ],
            )?;
            Ok(StudyRecord {
                id: tx.last_insert_rowid(),
                name: name.to_string(),
                directions: directions.to_vec(),
                attrs: attrs.clone(),
                created_ms: created,
            })
        })
    }

    fn load_study(&self, name: &str) -> Result<StudyRecord> {
        let row = self.read(|tx| {
            Ok(tx
                .query_row(
                    "SELECT id, name, directions, attrs, created_ms FROM studies WHERE name = ?1",
                    [name],
                    load_study_row,
                )
                .optional()?)
        })?;
        match row {
            Some(r) => to_study(r),
            None => Err(Error::StudyNotFound(name.to_string())),
        }
    }

    fn list_studies(&self) -> Result<Vec<StudyRecord>> {
        let rows = self.read(|tx| {
            let mut stmt = tx.prepare(
                "SELECT id, name, directions, attrs, created_ms FROM studies ORDER BY id",
            )?;
            let rows = stmt.query_map([], load_study_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        rows.into_iter().map(to_study).collect()
    }

    fn set_study_attr(&self, study: StudyId, key: &str, value: &serde_json::Value) -> Result<()> {
        self.write(|tx| {
            let text: Option<String> = tx
                .query_row("SELECT attrs FROM studies WHERE id = ?1", [study], |r| {
                    r.get(0)
                })
                .optional()?;
            let text = text.ok_or_else(|| Error::StudyNotFound(format!("#{study}")))?;
            let mut attrs: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text)?;
            attrs.insert(key.to_string(), value.clone());
            tx.execute(
                "UPDATE studies SET attrs = ?1 WHERE id = ?2",
                params![serde_json::to_string(&attrs)?, study],
            )?;
            Ok(())
        })
    }

    fn delete_study(&self, study: StudyId) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "DELETE FROM reports WHERE trial_id IN (SELECT id FROM trials WHERE study_id = ?1)",
                [study],
            )?;
            tx.execute("DELETE FROM trials WHERE study_id = ?1", [study])?;
            if tx.execute("DELETE FROM studies WHERE id = ?1", [study])? == 0 {
                return Err(Error::StudyNotFound(format!("#{study}")));
            }
            Ok(())
        })
    }

    fn create_trial(&self, study: StudyId, new: NewTrial) -> Result<Option<FrozenTrial>> {
        let sys = serde_json::to_string(&new.initial_system_attrs()?)?;
        let id = self.write(|tx| {
            if let Some(c) = &new.claim {
                let taken: Option<i64> = tx
                    .query_row(
                        "SELECT id FROM trials WHERE study_id = ?1 AND claim = ?2",
                        params![study, c],
                        |r| r.get(0),
                    )
                    .optional()?;
                if taken.is_some() {
                    return Ok(None);
                }
            }
            let (seq, number) = next_trial(tx, study)?;
            let now = now_ms();
            let (state, started, worker) = if new.waiting {
                ("waiting", None, None)
            } else {
                ("running", Some(now), new.worker.clone())
            };
            let beat = started.filter(|_| new.heartbeat);
            tx.execute(
                "INSERT INTO trials (study_id, number, state, system_attrs, worker, \
                     started_ms, heartbeat_ms, seq, claim) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    study, number, state, sys, worker, started, beat, seq as i64, new.claim
                ],
            )?;
            Ok(Some(tx.last_insert_rowid()))
        })?;
        match id {
            Some(id) => Ok(Some(self.get_trial(id)?)),
            None => Ok(None),
        }
    }

    fn claim_waiting(
        &self,
        study: StudyId,
        worker: &str,
        heartbeat: bool,
    ) -> Result<Option<FrozenTrial>> {
        let id = self.write(|tx| {
            let id: Option<TrialId> = tx
                .query_row(
                    "SELECT id FROM trials WHERE study_id = ?1 AND state = 'waiting' \
                     ORDER BY number LIMIT 1",
                    [study],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(id) = id else { return Ok(None) };
            let seq = bump(tx, study)?;
            let now = now_ms();
            tx.execute(
                "UPDATE trials SET state = 'running', worker = ?1, started_ms = ?2, \
                 heartbeat_ms = ?3, seq = ?4 WHERE id = ?5",
                params![worker, now, heartbeat.then_some(now), seq as i64, id],
            )?;
            Ok(Some(id))
        })?;
        match id {
            Some(id) => Ok(Some(self.get_trial(id)?)),
            None => Ok(None),
        }
    }

    fn set_param(
        &self,
        trial: TrialId,
        name: &str,
        dist: &Distribution,
        value: &ParamValue,
    ) -> Result<()> {
        let p = param_json(name, dist, value)?;
        self.update_json(trial, "params", |v| upsert_param(v, name, p.clone()))
    }

    fn report(&self, trial: TrialId, step: u64, metrics: &Metrics) -> Result<()> {
        self.write(|tx| {
            let study = study_of_running(tx, trial)?;
            let old: Option<String> = tx
                .query_row(
                    "SELECT metrics FROM reports WHERE trial_id = ?1 AND step = ?2",
                    params![trial, step as i64],
                    |r| r.get(0),
                )
                .optional()?;
            // Non-finite values are kept: JSON has no NaN, so they are written as strings.
            let text = merge_metrics(old.as_deref(), metrics)?;
            tx.execute(
                "INSERT INTO reports (trial_id, step, metrics) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (trial_id, step) DO UPDATE SET metrics = excluded.metrics",
                params![trial, step as i64, text],
            )?;
            let seq = bump(tx, study)?;
            tx.execute(
                "UPDATE trials SET seq = ?1 WHERE id = ?2",
                params![seq as i64, trial],
            )?;
            Ok(())
        })
    }

    fn set_user_attr(&self, trial: TrialId, key: &str, value: &serde_json::Value) -> Result<()> {
        self.update_json(trial, "user_attrs", |v| {
            v[key] = value.clone();
            Ok(())
        })
    }

    fn set_system_attr(&self, trial: TrialId, key: &str, value: &serde_json::Value) -> Result<()> {
        self.update_json(trial, "system_attrs", |v| {
            v[key] = value.clone();
            Ok(())
        })
    }

    fn heartbeat(&self, trial: TrialId) -> Result<()> {
        self.write(|tx| {
            study_of_running(tx, trial)?;
            tx.execute(
                "UPDATE trials SET heartbeat_ms = ?1 WHERE id = ?2",
                params![now_ms(), trial],
            )?;
            Ok(())
        })
    }

    fn fail_stale(&self, study: StudyId, grace_ms: u64, message: &str) -> Result<Vec<FrozenTrial>> {
        let ids = self.write(|tx| {
            let now = now_ms();
            let ids: Vec<TrialId> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT id FROM trials WHERE study_id = ?1 AND state = 'running' \
                     AND heartbeat_ms IS NOT NULL AND heartbeat_ms < ?2 ORDER BY number",
                )?;
                stmt.query_map(params![study, now - grace_ms as i64], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?
            };
            for id in &ids {
                let seq = bump(tx, study)?;
                tx.execute(
                    "UPDATE trials SET state = 'failed', message = ?1, finished_ms = ?2, \
                     seq = ?3 WHERE id = ?4",
                    params![message, now, seq as i64, id],
                )?;
            }
            Ok(ids)
        })?;
        ids.into_iter().map(|id| self.get_trial(id)).collect()
    }

    fn finish(
        &self,
        trial: TrialId,
        state: TrialState,
        values: Option<&[f64]>,
        message: Option<&str>,
    ) -> Result<FrozenTrial> {
        check_finish(state, values)?;
        let vals = values.map(serde_json::to_string).transpose()?;
        self.write(|tx| {
            let study = study_of_running(tx, trial)?;
            let seq = bump(tx, study)?;
            tx.execute(
                "UPDATE trials SET state = ?1, vals = ?2, message = ?3, finished_ms = ?4, \
                 seq = ?5 WHERE id = ?6",
                params![state.as_str(), vals, message, now_ms(), seq as i64, trial],
            )?;
            Ok(())
        })?;
        self.get_trial(trial)
    }

    fn import_trial(&self, study: StudyId, t: &FrozenTrial) -> Result<FrozenTrial> {
        let (state, message) = match t.state {
            TrialState::Running => (
                TrialState::Failed,
                Some("running when the study was exported".to_string()),
            ),
            s => (s, t.message.clone()),
        };
        let params_list: Vec<serde_json::Value> = t
            .params
            .iter()
            .map(|(k, v)| {
                let d = t.distributions.get(k).ok_or_else(|| {
                    Error::invalid(format!("imported parameter '{k}' has no distribution"))
                })?;
                param_json(k, d, v)
            })
            .collect::<Result<_>>()?;
        let params_text = serde_json::Value::Array(params_list).to_string();
        let vals = t.values.as_ref().map(serde_json::to_string).transpose()?;
        let user = serde_json::to_string(&t.user_attrs)?;
        let sys = serde_json::to_string(&t.system_attrs)?;
        let claim = t
            .system_attrs
            .get(crate::attrs::CLAIM)
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let id = self.write(|tx| {
            let (seq, number) = next_trial(tx, study)?;
            tx.execute(
                "INSERT INTO trials (study_id, number, state, vals, params, user_attrs, \
                 system_attrs, message, worker, started_ms, finished_ms, heartbeat_ms, seq, claim) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    study,
                    number,
                    state.as_str(),
                    vals,
                    params_text,
                    user,
                    sys,
                    message,
                    t.worker,
                    t.started_ms,
                    t.finished_ms,
                    t.heartbeat_ms,
                    seq as i64,
                    claim
                ],
            )?;
            let id = tx.last_insert_rowid();
            for (step, m) in &t.intermediate {
                tx.execute(
                    "INSERT INTO reports (trial_id, step, metrics) VALUES (?1, ?2, ?3)",
                    params![id, *step as i64, metrics_to_json(m)],
                )?;
            }
            Ok(id)
        })?;
        self.get_trial(id)
    }

    fn trials_since(&self, study: StudyId, since: u64) -> Result<TrialChanges> {
        self.read(|tx| {
            let seq: Option<i64> = tx
                .query_row("SELECT seq FROM studies WHERE id = ?1", [study], |r| {
                    r.get(0)
                })
                .optional()?;
            let seq = seq.ok_or_else(|| Error::StudyNotFound(format!("#{study}")))?;
            let trials = load_trials(tx, "study_id = ?1 AND seq > ?2", &[study, since as i64])?;
            Ok(TrialChanges {
                trials,
                seq: seq as u64,
            })
        })
    }

    fn get_trial(&self, trial: TrialId) -> Result<FrozenTrial> {
        self.read(|tx| {
            load_trials(tx, "id = ?1", &[trial])?
                .pop()
                .ok_or_else(|| Error::TrialNotFound(format!("id {trial}")))
        })
    }

    fn trial_by_number(&self, study: StudyId, number: u64) -> Result<FrozenTrial> {
        self.read(|tx| {
            load_trials(tx, "study_id = ?1 AND number = ?2", &[study, number as i64])?
                .pop()
                .ok_or_else(|| Error::TrialNotFound(number.to_string()))
        })
    }
}
