//! PostgreSQL storage: one server shared by workers on many machines.
//!
//! Every write is one transaction that first locks the study's row (`UPDATE studies SET seq =
//! seq + 1`), so the writes of one study are serialised: trial numbers stay dense, claims and
//! waiting-trial hand-outs happen exactly once, and a write can never slip in between another
//! worker's check that a trial is still running and its update. Heartbeats lock only their
//! trial's row. Times come from the server's clock, so workers' clocks need not agree.
//!
//! A lost connection, a server restart, a serialisation failure or a deadlock is retried with
//! backoff (reconnecting as needed) for up to the retry budget (`TUNEFORGE_DB_RETRY_S`, default
//! 300 s); only then does the call fail. A transaction whose commit was cut off is retried too:
//! finishing a trial recognises its own earlier commit, and a trial created twice this way is
//! never run by anyone, so the heartbeat reaper fails it after the grace period.

use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::codec::{fill_params, merge_metrics, metrics_from_json, param_json, upsert_param};
use super::{NewTrial, Storage, TrialChanges, check_finish, redact};
use crate::attrs;
use crate::distribution::{Distribution, ParamValue};
use crate::error::{Error, Result};
use crate::record::{Direction, FrozenTrial, Metrics, StudyId, StudyRecord, TrialId, TrialState};

/// The schema version this build writes; newer databases are refused.
pub const SCHEMA_VERSION: i64 = 1;

/// The server's clock in milliseconds since the epoch.
macro_rules! now_sql {
    () => {
        "(extract(epoch from clock_timestamp()) * 1000)::bigint"
    };
}

const SCHEMA_V1: &str = r#"
CREATE TABLE IF NOT EXISTS tuneforge_studies (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    directions  TEXT NOT NULL,
    attrs       TEXT NOT NULL DEFAULT '{}',
    seq         BIGINT NOT NULL DEFAULT 0,
    ntrials     BIGINT NOT NULL DEFAULT 0,
    created_ms  BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS tuneforge_trials (
    id           BIGSERIAL PRIMARY KEY,
    study_id     BIGINT NOT NULL REFERENCES tuneforge_studies(id) ON DELETE CASCADE,
    number       BIGINT NOT NULL,
    state        TEXT NOT NULL,
    vals         TEXT,
    params       TEXT NOT NULL DEFAULT '[]',
    user_attrs   TEXT NOT NULL DEFAULT '{}',
    system_attrs TEXT NOT NULL DEFAULT '{}',
    message      TEXT,
    worker       TEXT,
    started_ms   BIGINT,
    finished_ms  BIGINT,
    heartbeat_ms BIGINT,
    seq          BIGINT NOT NULL,
    claim        TEXT,
    UNIQUE (study_id, number),
    UNIQUE (study_id, claim)
);
CREATE INDEX IF NOT EXISTS tuneforge_trials_by_seq ON tuneforge_trials (study_id, seq);
CREATE INDEX IF NOT EXISTS tuneforge_trials_by_state ON tuneforge_trials (study_id, state);
CREATE TABLE IF NOT EXISTS tuneforge_reports (
    trial_id BIGINT NOT NULL REFERENCES tuneforge_trials(id) ON DELETE CASCADE,
    step     BIGINT NOT NULL,
    metrics  TEXT NOT NULL,
    PRIMARY KEY (trial_id, step)
);
"#;

/// One connection and the statements prepared on it.
struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

/// A transaction with a statement cache.
struct Tx<'a> {
    tx: postgres::Transaction<'a>,
    statements: &'a mut HashMap<&'static str, Statement>,
}

/// A failure inside a transaction: the database's (maybe transient) or ours (never retried).
enum Fail {
    Db(postgres::Error),
    App(Error),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Db(e)
    }
}
impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::App(e)
    }
}
impl From<serde_json::Error> for Fail {
    fn from(e: serde_json::Error) -> Self {
        Fail::App(e.into())
    }
}

type R<T> = std::result::Result<T, Fail>;
type P<'a> = &'a (dyn ToSql + Sync);

impl Tx<'_> {
    fn statement(&mut self, sql: &'static str) -> R<Statement> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.tx.prepare(sql)?;
        self.statements.insert(sql, s.clone());
        Ok(s)
    }
    fn query(&mut self, sql: &'static str, params: &[P]) -> R<Vec<Row>> {
        let s = self.statement(sql)?;
        Ok(self.tx.query(&s, params)?)
    }
    fn opt(&mut self, sql: &'static str, params: &[P]) -> R<Option<Row>> {
        let s = self.statement(sql)?;
        Ok(self.tx.query_opt(&s, params)?)
    }
    fn one(&mut self, sql: &'static str, params: &[P]) -> R<Row> {
        let s = self.statement(sql)?;
        Ok(self.tx.query_one(&s, params)?)
    }
    fn exec(&mut self, sql: &'static str, params: &[P]) -> R<u64> {
        let s = self.statement(sql)?;
        Ok(self.tx.execute(&s, params)?)
    }
}

/// PostgreSQL-backed storage (`postgres://user:password@host:port/database`).
pub struct PostgresStorage {
    config: postgres::Config,
    url: String,
    conn: Mutex<Option<Conn>>,
    retry_budget: Duration,
}

/// Whether a database error may go away when tried again (connection lost, server restarting,
/// serialisation failure, deadlock, too many connections).
fn transient(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        Some(c) => {
            let c = c.code();
            c.starts_with("08") || c.starts_with("57P") || matches!(c, "40001" | "40P01" | "53300")
        }
        // No SQL state: an I/O error or a connection that could not be made.
        None => std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>()),
    }
}

/// Whether the connection itself is gone (as opposed to a retryable conflict on a live one).
fn connection_lost(e: &postgres::Error) -> bool {
    e.is_closed() || !matches!(e.code().map(|c| c.code()), Some("40001" | "40P01"))
}

impl PostgresStorage {
    /// Connects to the server at `url`, creating the schema if needed. A server that cannot
    /// be reached is retried for the retry budget (`TUNEFORGE_DB_RETRY_S`, default 300 s).
    pub fn open(url: &str) -> Result<Self> {
        let budget = std::env::var("TUNEFORGE_DB_RETRY_S")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(Duration::from_secs(300));
        Self::open_with_retry(url, budget)
    }

    /// Like [`PostgresStorage::open`] with an explicit retry budget for transient failures.
    pub fn open_with_retry(url: &str, retry_budget: Duration) -> Result<Self> {
        let mut config: postgres::Config = url.parse().map_err(|e| {
            Error::invalid(format!(
                "storage '{}' is not a valid PostgreSQL URL: {e}",
                redact(url)
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("tuneforge");
        let storage = PostgresStorage {
            config,
            url: redact(url),
            conn: Mutex::new(None),
            retry_budget,
        };
        storage.init()?;
        Ok(storage)
    }

    fn init(&self) -> Result<()> {
        self.run(|tx, _| {
            // Workers starting together would race on CREATE TABLE; one lock orders them.
            tx.tx.execute("SELECT pg_advisory_xact_lock(7236111011)", &[])?;
            tx.tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS tuneforge_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);",
            )?;
            let version = tx
                .tx
                .query_opt("SELECT value FROM tuneforge_meta WHERE key = 'schema_version'", &[])?
                .map(|r| r.get::<_, String>(0));
            match version.as_deref().map(str::parse::<i64>) {
                None => {
                    tx.tx.batch_execute(SCHEMA_V1)?;
                    tx.tx.execute(
                        "INSERT INTO tuneforge_meta (key, value) VALUES ('schema_version', $1)",
                        &[&SCHEMA_VERSION.to_string()],
                    )?;
                }
                Some(Ok(v)) if v == SCHEMA_VERSION => {}
                Some(Ok(v)) if v > SCHEMA_VERSION => {
                    return Err(Fail::App(Error::Storage(format!(
                        "{}: schema version {v} is newer than this tuneforge understands \
                         ({SCHEMA_VERSION}); upgrade tuneforge",
                        self.url
                    ))));
                }
                Some(v) => {
                    return Err(Fail::App(Error::Storage(format!(
                        "{}: unknown schema version {v:?}",
                        self.url
                    ))));
                }
            }
            Ok(())
        })
    }

    fn describe(&self, e: &postgres::Error) -> Error {
        let detail = match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => {
                let mut s = e.to_string();
                if let Some(src) = std::error::Error::source(e) {
                    s = format!("{s}: {src}");
                }
                s
            }
        };
        Error::Storage(format!("PostgreSQL {}: {detail}", self.url))
    }

    /// Runs `f` in a read-committed transaction, retrying transient failures with backoff
    /// (reconnecting when the connection was lost) for up to the retry budget. `f` is told
    /// whether this is a retry, so a write can recognise its own commit from a cut-off try.
    fn run<T>(&self, mut f: impl FnMut(&mut Tx, bool) -> R<T>) -> Result<T> {
        self.run_with(false, &mut f)
    }

    /// Like [`Self::run`] with a consistent snapshot (repeatable read, read-only).
    fn read<T>(&self, mut f: impl FnMut(&mut Tx) -> R<T>) -> Result<T> {
        self.run_with(true, &mut |tx, _| f(tx))
    }

    fn run_with<T>(&self, snapshot: bool, f: &mut dyn FnMut(&mut Tx, bool) -> R<T>) -> Result<T> {
        let start = Instant::now();
        let mut wait = Duration::from_millis(50);
        let mut retry = false;
        let mut guard = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let outcome: R<T> = (|| {
                if guard.as_ref().is_none_or(|c| c.client.is_closed()) {
                    *guard = None;
                    let client = self.config.connect(NoTls)?;
                    *guard = Some(Conn {
                        client,
                        statements: HashMap::new(),
                    });
                }
                let Some(conn) = guard.as_mut() else {
                    return Err(Fail::App(Error::Storage("no connection".into())));
                };
                let tx = if snapshot {
                    conn.client
                        .build_transaction()
                        .isolation_level(postgres::IsolationLevel::RepeatableRead)
                        .read_only(true)
                        .start()?
                } else {
                    conn.client.transaction()?
                };
                let mut tx = Tx {
                    tx,
                    statements: &mut conn.statements,
                };
                let out = f(&mut tx, retry)?;
                tx.tx.commit()?;
                Ok(out)
            })();
            match outcome {
                Ok(v) => return Ok(v),
                Err(Fail::App(e)) => return Err(e),
                Err(Fail::Db(e)) => {
                    if !transient(&e) || start.elapsed() >= self.retry_budget {
                        let err = self.describe(&e);
                        if transient(&e) {
                            return Err(Error::Storage(format!(
                                "{err}; gave up after retrying for {:.0} s",
                                start.elapsed().as_secs_f64()
                            )));
                        }
                        return Err(err);
                    }
                    if connection_lost(&e) {
                        *guard = None;
                    }
                    retry = true;
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}

/// Locks the study of running trial `trial` and advances its counter; fails with
/// [`Error::TrialFinished`] (the transaction then rolls back) when the trial is not running.
fn lock_running(tx: &mut Tx, trial: TrialId) -> R<(StudyId, i64)> {
    let row = tx.opt(
        "UPDATE tuneforge_studies SET seq = seq + 1 WHERE id = \
         (SELECT study_id FROM tuneforge_trials WHERE id = $1) RETURNING id, seq",
        &[&trial],
    )?;
    let Some(row) = row else {
        return Err(Fail::App(Error::TrialNotFound(format!("id {trial}"))));
    };
    let st = tx.one(
        "SELECT state, number FROM tuneforge_trials WHERE id = $1",
        &[&trial],
    )?;
    let state: String = st.get(0);
    if state != "running" {
        return Err(Fail::App(Error::TrialFinished(st.get::<_, i64>(1) as u64)));
    }
    Ok((row.get(0), row.get(1)))
}

fn bump(tx: &mut Tx, study: StudyId) -> R<i64> {
    match tx.opt(
        "UPDATE tuneforge_studies SET seq = seq + 1 WHERE id = $1 RETURNING seq",
        &[&study],
    )? {
        Some(r) => Ok(r.get(0)),
        None => Err(Fail::App(Error::StudyNotFound(format!("#{study}")))),
    }
}

fn row_to_trial(r: &Row) -> R<FrozenTrial> {
    let state: String = r.get(2);
    let vals: Option<String> = r.get(3);
    let params: String = r.get(4);
    let user: String = r.get(5);
    let sys: String = r.get(6);
    let mut t = FrozenTrial {
        id: r.get(0),
        number: r.get::<_, i64>(1) as u64,
        state: TrialState::parse(&state)
            .ok_or_else(|| Error::Storage(format!("unknown trial state '{state}'")))?,
        values: vals.map(|v| serde_json::from_str(&v)).transpose()?,
        params: Default::default(),
        distributions: Default::default(),
        intermediate: Default::default(),
        user_attrs: serde_json::from_str(&user)?,
        system_attrs: serde_json::from_str(&sys)?,
        message: r.get(7),
        worker: r.get(8),
        started_ms: r.get(9),
        finished_ms: r.get(10),
        heartbeat_ms: r.get(11),
        seq: r.get::<_, i64>(12) as u64,
    };
    fill_params(&mut t, &params)?;
    Ok(t)
}

/// Which trials to load.
enum Which {
    /// A study's trials changed after a counter value.
    Since(StudyId, i64),
    /// One trial by key.
    Id(TrialId),
    /// One trial by study and number.
    Number(StudyId, i64),
}

macro_rules! trial_cols {
    () => {
        "id, number, state, vals, params, user_attrs, system_attrs, message, worker, started_ms, \
         finished_ms, heartbeat_ms, seq"
    };
}

fn load_trials(tx: &mut Tx, which: Which) -> R<Vec<FrozenTrial>> {
    let (a, b) = match which {
        Which::Since(s, q) => (s, q),
        Which::Id(id) => (id, 0),
        Which::Number(s, n) => (s, n),
    };
    let (trials_sql, reports_sql): (&'static str, &'static str) = match which {
        Which::Since(..) => (
            concat!(
                "SELECT ",
                trial_cols!(),
                " FROM tuneforge_trials WHERE study_id = $1 AND seq > $2 ORDER BY number"
            ),
            "SELECT r.trial_id, r.step, r.metrics FROM tuneforge_reports r \
             JOIN tuneforge_trials t ON t.id = r.trial_id \
             WHERE t.study_id = $1 AND t.seq > $2 ORDER BY r.trial_id, r.step",
        ),
        Which::Id(..) => (
            concat!(
                "SELECT ",
                trial_cols!(),
                " FROM tuneforge_trials WHERE id = $1 AND $2::bigint = 0"
            ),
            "SELECT trial_id, step, metrics FROM tuneforge_reports \
             WHERE trial_id = $1 AND $2::bigint = 0 ORDER BY step",
        ),
        Which::Number(..) => (
            concat!(
                "SELECT ",
                trial_cols!(),
                " FROM tuneforge_trials WHERE study_id = $1 AND number = $2"
            ),
            "SELECT r.trial_id, r.step, r.metrics FROM tuneforge_reports r \
             JOIN tuneforge_trials t ON t.id = r.trial_id \
             WHERE t.study_id = $1 AND t.number = $2 ORDER BY r.step",
        ),
    };
    let rows = tx.query(trials_sql, &[&a, &b])?;
    let mut trials = Vec::with_capacity(rows.len());
    let mut index = HashMap::with_capacity(rows.len());
    for r in &rows {
        let t = row_to_trial(r)?;
        index.insert(t.id, trials.len());
        trials.push(t);
    }
    if trials.is_empty() {
        return Ok(trials);
    }
    for r in tx.query(reports_sql, &[&a, &b])? {
        let id: TrialId = r.get(0);
        let step: i64 = r.get(1);
        let metrics: String = r.get(2);
        if let Some(&i) = index.get(&id) {
            trials[i]
                .intermediate
                .insert(step as u64, metrics_from_json(&metrics)?);
        }
    }
    Ok(trials)
}

fn to_study(r: &Row) -> R<StudyRecord> {
    let dirs: String = r.get(2);
    let attrs: String = r.get(3);
    Ok(StudyRecord {
        id: r.get(0),
        name: r.get(1),
        directions: serde_json::from_str(&dirs)?,
        attrs: serde_json::from_str(&attrs)?,
        created_ms: r.get(4),
    })
}

impl PostgresStorage {
    /// Applies `f` to a JSON column of a running trial, under the study lock.
    fn update_json(
        &self,
        trial: TrialId,
        column: Column,
        f: impl Fn(&mut serde_json::Value) -> Result<()>,
    ) -> Result<()> {
        let (select, update): (&'static str, &'static str) = match column {
            Column::Params => (
                "SELECT params FROM tuneforge_trials WHERE id = $1",
                "UPDATE tuneforge_trials SET params = $1, seq = $2 WHERE id = $3",
            ),
            Column::UserAttrs => (
                "SELECT user_attrs FROM tuneforge_trials WHERE id = $1",
                "UPDATE tuneforge_trials SET user_attrs = $1, seq = $2 WHERE id = $3",
            ),
            Column::SystemAttrs => (
                "SELECT system_attrs FROM tuneforge_trials WHERE id = $1",
                "UPDATE tuneforge_trials SET system_attrs = $1, seq = $2 WHERE id = $3",
            ),
        };
        self.run(|tx, _| {
            let (_, seq) = lock_running(tx, trial)?;
            let text: String = tx.one(select, &[&trial])?.get(0);
            let mut v: serde_json::Value = serde_json::from_str(&text)?;
            f(&mut v)?;
            tx.exec(update, &[&v.to_string(), &seq, &trial])?;
            Ok(())
        })
    }
}

enum Column {
    Params,
    UserAttrs,
    SystemAttrs,
}

impl Storage for PostgresStorage {
    fn create_study(
        &self,
        name: &str,
        directions: &[Direction],
        attrs: &BTreeMap<String, serde_json::Value>,
    ) -> Result<StudyRecord> {
        let dirs = serde_json::to_string(directions)?;
        let attrs_text = serde_json::to_string(attrs)?;
        self.run(|tx, retry| {
            let row = tx.opt(
                concat!(
                    "INSERT INTO tuneforge_studies (name, directions, attrs, created_ms) \
                     VALUES ($1, $2, $3, ",
                    now_sql!(),
                    ") ON CONFLICT (name) DO NOTHING RETURNING id, name, directions, attrs, created_ms"
                ),
                &[&name, &dirs, &attrs_text],
            )?;
            match row {
                Some(r) => to_study(&r),
                None if retry => {
                    // Our own commit may have been cut off: the study is ours if it matches.
                    let r = tx.one(
                        "SELECT id, name, directions, attrs, created_ms FROM tuneforge_studies \
                         WHERE name = $1",
                        &[&name],
                    )?;
                    let s = to_study(&r)?;
                    if s.directions == directions && &s.attrs == attrs {
                        Ok(s)
                    } else {
                        Err(Fail::App(Error::StudyExists(name.to_string())))
                    }
                }
                None => Err(Fail::App(Error::StudyExists(name.to_string()))),
            }
        })
    }

    fn load_study(&self, name: &str) -> Result<StudyRecord> {
        self.read(|tx| {
            match tx.opt(
                "SELECT id, name, directions, attrs, created_ms FROM tuneforge_studies \
                 WHERE name = $1",
                &[&name],
            )? {
                Some(r) => to_study(&r),
                None => Err(Fail::App(Error::StudyNotFound(name.to_string()))),
            }
        })
    }

    fn list_studies(&self) -> Result<Vec<StudyRecord>> {
        self.read(|tx| {
            tx.query(
                "SELECT id, name, directions, attrs, created_ms FROM tuneforge_studies ORDER BY id",
                &[],
            )?
            .iter()
            .map(to_study)
            .collect()
        })
    }

    fn set_study_attr(&self, study: StudyId, key: &str, value: &serde_json::Value) -> Result<()> {
        self.run(|tx, _| {
            let Some(r) = tx.opt(
                "SELECT attrs FROM tuneforge_studies WHERE id = $1 FOR UPDATE",
                &[&study],
            )?
            else {
                return Err(Fail::App(Error::StudyNotFound(format!("#{study}"))));
            };
            let text: String = r.get(0);
            let mut attrs: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text)?;
            attrs.insert(key.to_string(), value.clone());
            tx.exec(
                "UPDATE tuneforge_studies SET attrs = $1 WHERE id = $2",
                &[&serde_json::to_string(&attrs)?, &study],
            )?;
            Ok(())
        })
    }

    fn delete_study(&self, study: StudyId) -> Result<()> {
        self.run(|tx, retry| {
            let n = tx.exec("DELETE FROM tuneforge_studies WHERE id = $1", &[&study])?;
            if n == 0 && !retry {
                return Err(Fail::App(Error::StudyNotFound(format!("#{study}"))));
            }
            Ok(())
        })
    }

    fn create_trial(&self, study: StudyId, new: NewTrial) -> Result<Option<FrozenTrial>> {
        let mut system_attrs = new.system_attrs.clone();
        if !new.fixed_params.is_empty() {
            system_attrs.insert(
                attrs::FIXED_PARAMS.into(),
                serde_json::to_value(&new.fixed_params)?,
            );
        }
        if let Some(c) = &new.claim {
            system_attrs.insert(attrs::CLAIM.into(), c.clone().into());
        }
        let sys = serde_json::to_string(&system_attrs)?;
        let state = if new.waiting { "waiting" } else { "running" };
        let worker = if new.waiting {
            None
        } else {
            new.worker.clone()
        };
        let running = !new.waiting;
        let beat = running && new.heartbeat;
        self.run(|tx, _| {
            let Some(row) = tx.opt(
                "UPDATE tuneforge_studies SET seq = seq + 1, ntrials = ntrials + 1 \
                 WHERE id = $1 RETURNING seq, ntrials - 1",
                &[&study],
            )?
            else {
                return Err(Fail::App(Error::StudyNotFound(format!("#{study}"))));
            };
            let (seq, number): (i64, i64) = (row.get(0), row.get(1));
            if let Some(c) = &new.claim
                && tx
                    .opt(
                        "SELECT 1 FROM tuneforge_trials WHERE study_id = $1 AND claim = $2",
                        &[&study, c],
                    )?
                    .is_some()
            {
                // Rolls back the counters: nothing was created.
                return Err(Fail::App(Error::Exhausted));
            }
            let row = tx.one(
                concat!(
                    "INSERT INTO tuneforge_trials (study_id, number, state, system_attrs, worker, \
                     started_ms, heartbeat_ms, seq, claim) VALUES ($1, $2, $3, $4, $5, \
                     CASE WHEN $6 THEN ",
                    now_sql!(),
                    " END, CASE WHEN $7 THEN ",
                    now_sql!(),
                    " END, $8, $9) RETURNING ",
                    trial_cols!()
                ),
                &[
                    &study, &number, &state, &sys, &worker, &running, &beat, &seq, &new.claim,
                ],
            )?;
            Ok(Some(row_to_trial(&row)?))
        })
        .or_else(|e| match e {
            Error::Exhausted => Ok(None),
            e => Err(e),
        })
    }

    fn claim_waiting(
        &self,
        study: StudyId,
        worker: &str,
        heartbeat: bool,
    ) -> Result<Option<FrozenTrial>> {
        self.run(|tx, _| {
            let seq = bump(tx, study)?;
            let Some(row) = tx.opt(
                "SELECT id FROM tuneforge_trials WHERE study_id = $1 AND state = 'waiting' \
                 ORDER BY number LIMIT 1",
                &[&study],
            )?
            else {
                return Err(Fail::App(Error::Exhausted));
            };
            let id: TrialId = row.get(0);
            let row = tx.one(
                concat!(
                    "UPDATE tuneforge_trials SET state = 'running', worker = $1, started_ms = ",
                    now_sql!(),
                    ", heartbeat_ms = CASE WHEN $2 THEN ",
                    now_sql!(),
                    " END, seq = $3 WHERE id = $4 RETURNING id"
                ),
                &[&worker, &heartbeat, &seq, &id],
            )?;
            let id: TrialId = row.get(0);
            Ok(load_trials(tx, Which::Id(id))?.pop())
        })
        .or_else(|e| match e {
            // No waiting trial: the counter bump was rolled back.
            Error::Exhausted => Ok(None),
            e => Err(e),
        })
    }

    fn set_param(
        &self,
        trial: TrialId,
        name: &str,
        dist: &Distribution,
        value: &ParamValue,
    ) -> Result<()> {
        let p = param_json(name, dist, value)?;
        self.update_json(trial, Column::Params, |v| upsert_param(v, name, p.clone()))
    }

    fn report(&self, trial: TrialId, step: u64, metrics: &Metrics) -> Result<()> {
        let step = step as i64;
        self.run(|tx, _| {
            let (_, seq) = lock_running(tx, trial)?;
            let old = tx
                .opt(
                    "SELECT metrics FROM tuneforge_reports WHERE trial_id = $1 AND step = $2",
                    &[&trial, &step],
                )?
                .map(|r| r.get::<_, String>(0));
            let text = merge_metrics(old.as_deref(), metrics)?;
            tx.exec(
                "INSERT INTO tuneforge_reports (trial_id, step, metrics) VALUES ($1, $2, $3) \
                 ON CONFLICT (trial_id, step) DO UPDATE SET metrics = excluded.metrics",
                &[&trial, &step, &text],
            )?;
            tx.exec(
                "UPDATE tuneforge_trials SET seq = $1 WHERE id = $2",
                &[&seq, &trial],
            )?;
            Ok(())
        })
    }

    fn set_user_attr(&self, trial: TrialId, key: &str, value: &serde_json::Value) -> Result<()> {
        self.update_json(trial, Column::UserAttrs, |v| {
            v[key] = value.clone();
            Ok(())
        })
    }

    fn set_system_attr(&self, trial: TrialId, key: &str, value: &serde_json::Value) -> Result<()> {
        self.update_json(trial, Column::SystemAttrs, |v| {
            v[key] = value.clone();
            Ok(())
        })
    }

    fn heartbeat(&self, trial: TrialId) -> Result<()> {
        self.run(|tx, _| {
            let n = tx.exec(
                concat!(
                    "UPDATE tuneforge_trials SET heartbeat_ms = ",
                    now_sql!(),
                    " WHERE id = $1 AND state = 'running'"
                ),
                &[&trial],
            )?;
            if n == 1 {
                return Ok(());
            }
            match tx.opt(
                "SELECT number FROM tuneforge_trials WHERE id = $1",
                &[&trial],
            )? {
                Some(r) => Err(Fail::App(Error::TrialFinished(r.get::<_, i64>(0) as u64))),
                None => Err(Fail::App(Error::TrialNotFound(format!("id {trial}")))),
            }
        })
    }

    fn fail_stale(&self, study: StudyId, grace_ms: u64, message: &str) -> Result<Vec<FrozenTrial>> {
        let grace = grace_ms as i64;
        self.run(|tx, _| {
            // Cheap check first, so a healthy study takes no lock.
            let any = tx.opt(
                concat!(
                    "SELECT 1 FROM tuneforge_trials WHERE study_id = $1 AND state = 'running' \
                     AND heartbeat_ms < ",
                    now_sql!(),
                    " - $2 LIMIT 1"
                ),
                &[&study, &grace],
            )?;
            if any.is_none() {
                return Ok(Vec::new());
            }
            bump(tx, study)?;
            let rows = tx.query(
                concat!(
                    "SELECT id FROM tuneforge_trials WHERE study_id = $1 AND state = 'running' \
                     AND heartbeat_ms < ",
                    now_sql!(),
                    " - $2 ORDER BY number"
                ),
                &[&study, &grace],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                let id: TrialId = r.get(0);
                let seq = bump(tx, study)?;
                tx.exec(
                    concat!(
                        "UPDATE tuneforge_trials SET state = 'failed', message = $1, \
                         finished_ms = ",
                        now_sql!(),
                        ", seq = $2 WHERE id = $3"
                    ),
                    &[&message, &seq, &id],
                )?;
                out.extend(load_trials(tx, Which::Id(id))?);
            }
            Ok(out)
        })
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
        self.run(|tx, retry| {
            match lock_running(tx, trial) {
                Ok((_, seq)) => {
                    tx.exec(
                        concat!(
                            "UPDATE tuneforge_trials SET state = $1, vals = $2, message = $3, \
                             finished_ms = ",
                            now_sql!(),
                            ", seq = $4 WHERE id = $5"
                        ),
                        &[&state.as_str(), &vals, &message, &seq, &trial],
                    )?;
                }
                Err(Fail::App(Error::TrialFinished(n))) if retry => {
                    // A cut-off earlier try may have committed exactly this: then it is done.
                    let t = load_trials(tx, Which::Id(trial))?.pop();
                    let ours = t.as_ref().is_some_and(|t| {
                        t.state == state
                            && t.values.as_deref() == values
                            && t.message.as_deref() == message
                    });
                    if !ours {
                        return Err(Fail::App(Error::TrialFinished(n)));
                    }
                }
                Err(e) => return Err(e),
            }
            load_trials(tx, Which::Id(trial))?
                .pop()
                .ok_or_else(|| Fail::App(Error::TrialNotFound(format!("id {trial}"))))
        })
    }

    fn trials_since(&self, study: StudyId, since: u64) -> Result<TrialChanges> {
        let since = since as i64;
        self.read(|tx| {
            let Some(r) = tx.opt("SELECT seq FROM tuneforge_studies WHERE id = $1", &[&study])?
            else {
                return Err(Fail::App(Error::StudyNotFound(format!("#{study}"))));
            };
            let seq: i64 = r.get(0);
            let trials = load_trials(tx, Which::Since(study, since))?;
            Ok(TrialChanges {
                trials,
                seq: seq as u64,
            })
        })
    }

    fn get_trial(&self, trial: TrialId) -> Result<FrozenTrial> {
        self.read(|tx| {
            load_trials(tx, Which::Id(trial))?
                .pop()
                .ok_or_else(|| Fail::App(Error::TrialNotFound(format!("id {trial}"))))
        })
    }

    fn trial_by_number(&self, study: StudyId, number: u64) -> Result<FrozenTrial> {
        self.read(|tx| {
            load_trials(tx, Which::Number(study, number as i64))?
                .pop()
                .ok_or_else(|| Fail::App(Error::TrialNotFound(number.to_string())))
        })
    }
}
