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

use super::codec::{fill_params, merge_metrics, metrics_from_json, param_json};
use super::{NewTrial, Storage, TrialChanges, check_finish, redact};
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

/// A transaction, or the bare connection for single statements (each its own transaction,
/// one round trip), with the connection's statement cache.
struct Tx<'a> {
    tx: Handle<'a>,
    statements: &'a mut HashMap<&'static str, Statement>,
}

enum Handle<'a> {
    Tx(postgres::Transaction<'a>),
    Auto(&'a mut Client),
}

impl Handle<'_> {
    fn prepare(&mut self, sql: &str) -> std::result::Result<Statement, postgres::Error> {
        match self {
            Handle::Tx(t) => t.prepare(sql),
            Handle::Auto(c) => c.prepare(sql),
        }
    }
    fn query(&mut self, s: &Statement, p: &[P]) -> std::result::Result<Vec<Row>, postgres::Error> {
        match self {
            Handle::Tx(t) => t.query(s, p),
            Handle::Auto(c) => c.query(s, p),
        }
    }
    fn execute_statement(
        &mut self,
        s: &Statement,
        p: &[P],
    ) -> std::result::Result<u64, postgres::Error> {
        match self {
            Handle::Tx(t) => t.execute(s, p),
            Handle::Auto(c) => c.execute(s, p),
        }
    }
    fn execute(&mut self, sql: &str, p: &[P]) -> std::result::Result<u64, postgres::Error> {
        match self {
            Handle::Tx(t) => t.execute(sql, p),
            Handle::Auto(c) => c.execute(sql, p),
        }
    }
    fn batch_execute(&mut self, sql: &str) -> std::result::Result<(), postgres::Error> {
        match self {
            Handle::Tx(t) => t.batch_execute(sql),
            Handle::Auto(c) => c.batch_execute(sql),
        }
    }
    fn query_opt(
        &mut self,
        sql: &str,
        p: &[P],
    ) -> std::result::Result<Option<Row>, postgres::Error> {
        match self {
            Handle::Tx(t) => t.query_opt(sql, p),
            Handle::Auto(c) => c.query_opt(sql, p),
        }
    }
}

/// How a call talks to the server.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// One statement, no explicit transaction.
    Single,
    /// A read-committed transaction of several statements.
    Transaction,
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
        Ok(self.query(sql, params)?.into_iter().next())
    }
    fn one(&mut self, sql: &'static str, params: &[P]) -> R<Row> {
        self.opt(sql, params)?
            .ok_or_else(|| Fail::App(Error::Storage(format!("no row from: {sql}"))))
    }
    fn exec(&mut self, sql: &'static str, params: &[P]) -> R<u64> {
        let s = self.statement(sql)?;
        Ok(self.tx.execute_statement(&s, params)?)
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
                .query_opt(
                    "SELECT value FROM tuneforge_meta WHERE key = 'schema_version'",
                    &[],
                )?
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
        self.run_with(Mode::Transaction, &mut f)
    }

    /// Like [`Self::run`] for `f` that issues one statement (atomic by itself): no explicit
    /// transaction, so one round trip.
    fn single<T>(&self, mut f: impl FnMut(&mut Tx, bool) -> R<T>) -> Result<T> {
        self.run_with(Mode::Single, &mut f)
    }

    fn run_with<T>(&self, mode: Mode, f: &mut dyn FnMut(&mut Tx, bool) -> R<T>) -> Result<T> {
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
                let handle = match mode {
                    Mode::Single => Handle::Auto(&mut conn.client),
                    Mode::Transaction => Handle::Tx(conn.client.transaction()?),
                };
                let mut tx = Tx {
                    tx: handle,
                    statements: &mut conn.statements,
                };
                let out = f(&mut tx, retry)?;
                if let Handle::Tx(t) = tx.tx {
                    t.commit()?;
                }
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

/// Why a write to running trial `trial` changed nothing: it is finished, or it does not exist.
fn not_running(tx: &mut Tx, trial: TrialId) -> Fail {
    match tx.opt(
        "SELECT number FROM tuneforge_trials WHERE id = $1",
        &[&trial],
    ) {
        Ok(Some(r)) => Fail::App(Error::TrialFinished(r.get::<_, i64>(0) as u64)),
        Ok(None) => Fail::App(Error::TrialNotFound(format!("id {trial}"))),
        Err(e) => e,
    }
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

/// The trial columns (table alias `t`) and its reports as one JSON text column.
macro_rules! trial_cols {
    () => {
        "t.id, t.number, t.state, t.vals, t.params, t.user_attrs, t.system_attrs, t.message, \
         t.worker, t.started_ms, t.finished_ms, t.heartbeat_ms, t.seq, \
         (SELECT json_agg(json_build_array(r.step, r.metrics) ORDER BY r.step)::text \
          FROM tuneforge_reports r WHERE r.trial_id = t.id)"
    };
}

/// A CTE that locks the study of running trial `$1` and advances its counter; it is empty
/// (and locks nothing) when the trial is not running.
macro_rules! lock_running_cte {
    () => {
        "WITH s AS (UPDATE tuneforge_studies SET seq = seq + 1 WHERE id = \
         (SELECT study_id FROM tuneforge_trials WHERE id = $1 AND state = 'running') \
         RETURNING seq) "
    };
}

/// Sets key `$2` to the JSON `$3` in the JSON object column `$col` of running trial `$1`.
macro_rules! set_attr_sql {
    ($col:literal) => {
        concat!(
            lock_running_cte!(),
            "UPDATE tuneforge_trials t SET ",
            $col,
            " = (t.",
            $col,
            "::jsonb || jsonb_build_object($2::text, ($3::text)::jsonb))::text, seq = s.seq \
             FROM s WHERE t.id = $1 AND t.state = 'running' RETURNING t.id"
        )
    };
}

/// Reads a trial from the columns of [`trial_cols`] starting at column `at`.
fn row_to_trial(r: &Row, at: usize) -> R<FrozenTrial> {
    let state: String = r.get(at + 2);
    let vals: Option<String> = r.get(at + 3);
    let params: String = r.get(at + 4);
    let user: String = r.get(at + 5);
    let sys: String = r.get(at + 6);
    let reports: Option<String> = r.get(at + 13);
    let mut t = FrozenTrial {
        id: r.get(at),
        number: r.get::<_, i64>(at + 1) as u64,
        state: TrialState::parse(&state)
            .ok_or_else(|| Error::Storage(format!("unknown trial state '{state}'")))?,
        values: vals.map(|v| serde_json::from_str(&v)).transpose()?,
        params: Default::default(),
        distributions: Default::default(),
        intermediate: Default::default(),
        user_attrs: serde_json::from_str(&user)?,
        system_attrs: serde_json::from_str(&sys)?,
        message: r.get(at + 7),
        worker: r.get(at + 8),
        started_ms: r.get(at + 9),
        finished_ms: r.get(at + 10),
        heartbeat_ms: r.get(at + 11),
        seq: r.get::<_, i64>(at + 12) as u64,
    };
    fill_params(&mut t, &params)?;
    if let Some(text) = reports {
        let steps: Vec<(i64, String)> = serde_json::from_str(&text)?;
        for (step, metrics) in steps {
            t.intermediate
                .insert(step as u64, metrics_from_json(&metrics)?);
        }
    }
    Ok(t)
}

fn one_trial(rows: Vec<Row>) -> R<Option<FrozenTrial>> {
    rows.first().map(|r| row_to_trial(r, 0)).transpose()
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

/// Whether `e` is the unique violation of a trial claim (another worker holds the key).
fn claim_taken(e: &Fail) -> bool {
    match e {
        Fail::Db(e) => e.as_db_error().is_some_and(|d| {
            d.code() == &postgres::error::SqlState::UNIQUE_VIOLATION
                && d.constraint().is_some_and(|c| c.contains("claim"))
        }),
        Fail::App(_) => false,
    }
}

impl PostgresStorage {
    /// Runs `sql` (one statement guarded by [`lock_running_cte`], returning a row when it
    /// changed the trial) against running trial `$1`; fails the way a finished or missing
    /// trial should when nothing changed.
    fn write_running(&self, trial: TrialId, sql: &'static str, rest: &[P]) -> Result<()> {
        self.single(|tx, _| {
            let mut params: Vec<P> = Vec::with_capacity(rest.len() + 1);
            params.push(&trial);
            params.extend_from_slice(rest);
            if tx.query(sql, &params)?.is_empty() {
                return Err(not_running(tx, trial));
            }
            Ok(())
        })
    }
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
        self.single(|tx, retry| {
            let row = tx.opt(
                concat!(
                    "INSERT INTO tuneforge_studies (name, directions, attrs, created_ms) \
                     VALUES ($1, $2, $3, ",
                    now_sql!(),
                    ") ON CONFLICT (name) DO NOTHING \
                     RETURNING id, name, directions, attrs, created_ms"
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
        self.single(|tx, _| {
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
        self.single(|tx, _| {
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
        let value = value.to_string();
        self.single(|tx, _| {
            let n = tx.exec(
                "UPDATE tuneforge_studies SET attrs = \
                 (attrs::jsonb || jsonb_build_object($2::text, ($3::text)::jsonb))::text \
                 WHERE id = $1",
                &[&study, &key, &value],
            )?;
            if n == 0 {
                return Err(Fail::App(Error::StudyNotFound(format!("#{study}"))));
            }
            Ok(())
        })
    }

    fn delete_study(&self, study: StudyId) -> Result<()> {
        self.single(|tx, retry| {
            let n = tx.exec("DELETE FROM tuneforge_studies WHERE id = $1", &[&study])?;
            if n == 0 && !retry {
                return Err(Fail::App(Error::StudyNotFound(format!("#{study}"))));
            }
            Ok(())
        })
    }

    fn create_trial(&self, study: StudyId, new: NewTrial) -> Result<Option<FrozenTrial>> {
        let sys = serde_json::to_string(&new.initial_system_attrs()?)?;
        let state = if new.waiting { "waiting" } else { "running" };
        let worker = if new.waiting {
            None
        } else {
            new.worker.clone()
        };
        let running = !new.waiting;
        let beat = running && new.heartbeat;
        // One statement: the counter, the number and the row are one atomic step, and a claim
        // already held makes the whole statement fail on the unique (study, claim) index,
        // leaving no gap in the numbers.
        self.single(|tx, _| {
            let rows = tx.query(
                concat!(
                    "WITH s AS (UPDATE tuneforge_studies SET seq = seq + 1, ntrials = ntrials + 1 \
                     WHERE id = $1 RETURNING seq, ntrials - 1 AS number), \
                     t AS (INSERT INTO tuneforge_trials (study_id, number, state, system_attrs, \
                     worker, started_ms, heartbeat_ms, seq, claim) \
                     SELECT $1, s.number, $2, $3, $4, CASE WHEN $5 THEN ",
                    now_sql!(),
                    " END, CASE WHEN $6 THEN ",
                    now_sql!(),
                    " END, s.seq, $7 FROM s RETURNING *) SELECT ",
                    trial_cols!(),
                    " FROM t"
                ),
                &[&study, &state, &sys, &worker, &running, &beat, &new.claim],
            );
            match rows {
                Ok(rows) => match one_trial(rows)? {
                    Some(t) => Ok(Some(t)),
                    None => Err(Fail::App(Error::StudyNotFound(format!("#{study}")))),
                },
                Err(e) if claim_taken(&e) => Ok(None),
                Err(e) => Err(e),
            }
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
            let rows = tx.query(
                concat!(
                    "UPDATE tuneforge_trials t SET state = 'running', worker = $1, started_ms = ",
                    now_sql!(),
                    ", heartbeat_ms = CASE WHEN $2 THEN ",
                    now_sql!(),
                    " END, seq = $3 WHERE id = $4 RETURNING ",
                    trial_cols!()
                ),
                &[&worker, &heartbeat, &seq, &id],
            )?;
            one_trial(rows)
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
        let p = param_json(name, dist, value)?.to_string();
        self.write_running(
            trial,
            concat!(
                lock_running_cte!(),
                // `json`, not `jsonb`: json keeps each element's text as written, so numbers
                // (negative zero included) come back bit for bit; jsonb would reparse them.
                "UPDATE tuneforge_trials t SET params = (SELECT json_agg(q.e ORDER BY q.o) \
                 FROM (SELECT a.e, a.o FROM json_array_elements(t.params::json) \
                 WITH ORDINALITY a(e, o) WHERE a.e->>'name' <> $2 \
                 UNION ALL SELECT ($3::text)::json, 9223372036854775807) q(e, o))::text, \
                 seq = s.seq FROM s WHERE t.id = $1 AND t.state = 'running' RETURNING t.id"
            ),
            &[&name, &p],
        )
    }

    fn report(&self, trial: TrialId, step: u64, metrics: &Metrics) -> Result<()> {
        let step = step as i64;
        // Non-finite values are kept: JSON has no NaN, so they are written as strings.
        let text = merge_metrics(None, metrics)?;
        self.write_running(
            trial,
            concat!(
                lock_running_cte!(),
                ", u AS (UPDATE tuneforge_trials t SET seq = s.seq FROM s \
                 WHERE t.id = $1 AND t.state = 'running' RETURNING t.id) \
                 INSERT INTO tuneforge_reports (trial_id, step, metrics) \
                 SELECT u.id, $2, $3 FROM u ON CONFLICT (trial_id, step) DO UPDATE SET metrics = \
                 (tuneforge_reports.metrics::jsonb || excluded.metrics::jsonb)::text \
                 RETURNING trial_id"
            ),
            &[&step, &text],
        )
    }

    fn set_user_attr(&self, trial: TrialId, key: &str, value: &serde_json::Value) -> Result<()> {
        let value = value.to_string();
        self.write_running(trial, set_attr_sql!("user_attrs"), &[&key, &value])
    }

    fn set_system_attr(&self, trial: TrialId, key: &str, value: &serde_json::Value) -> Result<()> {
        let value = value.to_string();
        self.write_running(trial, set_attr_sql!("system_attrs"), &[&key, &value])
    }

    fn heartbeat(&self, trial: TrialId) -> Result<()> {
        self.write_running(
            trial,
            concat!(
                "UPDATE tuneforge_trials SET heartbeat_ms = ",
                now_sql!(),
                " WHERE id = $1 AND state = 'running' RETURNING id"
            ),
            &[],
        )
    }

    fn fail_stale(&self, study: StudyId, grace_ms: u64, message: &str) -> Result<Vec<FrozenTrial>> {
        let grace = grace_ms as i64;
        // Cheap check first, so a healthy study takes no lock.
        let any = self.single(|tx, _| {
            Ok(tx
                .opt(
                    concat!(
                        "SELECT 1 FROM tuneforge_trials WHERE study_id = $1 \
                         AND state = 'running' AND heartbeat_ms < ",
                        now_sql!(),
                        " - $2 LIMIT 1"
                    ),
                    &[&study, &grace],
                )?
                .is_some())
        })?;
        if !any {
            return Ok(Vec::new());
        }
        self.run(|tx, _| {
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
                let rows = tx.query(
                    concat!(
                        "UPDATE tuneforge_trials t SET state = 'failed', message = $1, \
                         finished_ms = ",
                        now_sql!(),
                        ", seq = $2 WHERE id = $3 RETURNING ",
                        trial_cols!()
                    ),
                    &[&message, &seq, &id],
                )?;
                out.extend(one_trial(rows)?);
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
        self.single(|tx, retry| {
            let rows = tx.query(
                concat!(
                    lock_running_cte!(),
                    "UPDATE tuneforge_trials t SET state = $2, vals = $3, message = $4, \
                     finished_ms = ",
                    now_sql!(),
                    ", seq = s.seq FROM s WHERE t.id = $1 AND t.state = 'running' RETURNING ",
                    trial_cols!()
                ),
                &[&trial, &state.as_str(), &vals, &message],
            )?;
            if let Some(t) = one_trial(rows)? {
                return Ok(t);
            }
            let err = not_running(tx, trial);
            if retry && matches!(err, Fail::App(Error::TrialFinished(_))) {
                // A cut-off earlier try may have committed exactly this: then it is done.
                let rows = tx.query(
                    concat!(
                        "SELECT ",
                        trial_cols!(),
                        " FROM tuneforge_trials t WHERE t.id = $1"
                    ),
                    &[&trial],
                )?;
                if let Some(t) = one_trial(rows)?
                    && t.state == state
                    && t.values.as_deref() == values
                    && t.message.as_deref() == message
                {
                    return Ok(t);
                }
            }
            Err(err)
        })
    }

    fn trials_since(&self, study: StudyId, since: u64) -> Result<TrialChanges> {
        let since = since as i64;
        // One statement, so one snapshot: the counter and the trials agree.
        self.single(|tx, _| {
            let rows = tx.query(
                concat!(
                    "SELECT st.seq, ",
                    trial_cols!(),
                    " FROM tuneforge_studies st LEFT JOIN tuneforge_trials t \
                     ON t.study_id = st.id AND t.seq > $2 WHERE st.id = $1 ORDER BY t.number"
                ),
                &[&study, &since],
            )?;
            let Some(first) = rows.first() else {
                return Err(Fail::App(Error::StudyNotFound(format!("#{study}"))));
            };
            let seq: i64 = first.get(0);
            let mut trials = Vec::with_capacity(rows.len());
            for r in &rows {
                if r.get::<_, Option<i64>>(1).is_some() {
                    trials.push(row_to_trial(r, 1)?);
                }
            }
            Ok(TrialChanges {
                trials,
                seq: seq as u64,
            })
        })
    }

    fn get_trial(&self, trial: TrialId) -> Result<FrozenTrial> {
        self.single(|tx, _| {
            let rows = tx.query(
                concat!(
                    "SELECT ",
                    trial_cols!(),
                    " FROM tuneforge_trials t WHERE t.id = $1"
                ),
                &[&trial],
            )?;
            one_trial(rows)?.ok_or_else(|| Fail::App(Error::TrialNotFound(format!("id {trial}"))))
        })
    }

    fn trial_by_number(&self, study: StudyId, number: u64) -> Result<FrozenTrial> {
        let number = number as i64;
        self.single(|tx, _| {
            let rows = tx.query(
                concat!(
                    "SELECT ",
                    trial_cols!(),
                    " FROM tuneforge_trials t WHERE t.study_id = $1 AND t.number = $2"
                ),
                &[&study, &number],
            )?;
            one_trial(rows)?.ok_or_else(|| Fail::App(Error::TrialNotFound(number.to_string())))
        })
    }
}
