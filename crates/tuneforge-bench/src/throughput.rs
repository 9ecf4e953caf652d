//! Storage throughput: completed trials per second with W worker processes sharing one study,
//! a trivial objective and the random sampler, so that what is measured is the engine and its
//! storage. tuneforge on SQLite and PostgreSQL, Optuna's RDB storage on the same PostgreSQL
//! server (and on SQLite) in the same run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tuneforge::storage::Storage;
use tuneforge::testing::postgres::PgServer;
use tuneforge::{Optimize, RandomSampler, Study, TrialState};

/// One measurement.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// "tuneforge" or "optuna".
    pub system: String,
    /// "sqlite" or "postgres".
    pub backend: String,
    /// Worker processes.
    pub workers: usize,
    /// Measured seconds.
    pub seconds: f64,
    /// Trials completed in that time.
    pub complete: usize,
    /// Workers that exited with an error.
    pub failed_workers: usize,
}

impl Row {
    /// Completed trials per second.
    pub fn rate(&self) -> f64 {
        self.complete as f64 / self.seconds
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The trivial objective both systems run.
fn objective(t: &mut tuneforge::Trial) -> tuneforge::Result<f64> {
    let x = t.suggest_float("x", -5.0, 5.0).get()?;
    let y = t.suggest_float("y", -5.0, 5.0).get()?;
    Ok(x * x + y * y)
}

/// The body of one worker process: joins the study, waits for the common start, runs trials
/// for `seconds`.
pub fn worker(
    storage: &str,
    study: &str,
    start_ms: u64,
    seconds: f64,
    seed: u64,
) -> Result<(), String> {
    let storage = tuneforge::storage::open(storage).map_err(|e| e.to_string())?;
    let study = Study::builder(study)
        .storage(storage)
        .sampler(RandomSampler::new(seed))
        .build()
        .map_err(|e| e.to_string())?;
    let wait = start_ms.saturating_sub(now_ms());
    std::thread::sleep(Duration::from_millis(wait));
    study
        .optimize(
            objective,
            Optimize::timeout(Duration::from_secs_f64(seconds)),
        )
        .map_err(|e| e.to_string())
}

fn measure_tuneforge(
    exe: &Path,
    url: &str,
    backend: &str,
    workers: usize,
    seconds: f64,
) -> Result<Row, String> {
    let storage: Arc<dyn Storage> = tuneforge::storage::open(url).map_err(|e| e.to_string())?;
    let name = format!("throughput-{workers}");
    Study::builder(&name)
        .storage(storage.clone())
        .build()
        .map_err(|e| e.to_string())?;
    let start = now_ms() + 1500 + 200 * workers as u64;
    let children: Vec<_> = (0..workers)
        .map(|i| {
            Command::new(exe)
                .args(["throughput-worker", "--storage", url, "--study", &name])
                .args(["--start-ms", &start.to_string()])
                .args(["--seconds", &seconds.to_string()])
                .args(["--seed", &i.to_string()])
                .spawn()
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let mut failed = 0;
    for mut c in children {
        if !c.wait().map_err(|e| e.to_string())?.success() {
            failed += 1;
        }
    }
    let id = storage.load_study(&name).map_err(|e| e.to_string())?.id;
    let complete = storage
        .all_trials(id)
        .map_err(|e| e.to_string())?
        .iter()
        .filter(|t| t.state == TrialState::Complete)
        .count();
    Ok(Row {
        system: "tuneforge".into(),
        backend: backend.into(),
        workers,
        seconds,
        complete,
        failed_workers: failed,
    })
}

fn measure_optuna(
    python: &Path,
    url: &str,
    backend: &str,
    workers: usize,
    seconds: f64,
) -> Result<Row, String> {
    let out = Command::new(python)
        .args(["bench/peers/throughput.py", "--storage", url])
        .args(["--workers", &workers.to_string()])
        .args(["--seconds", &seconds.to_string()])
        .output()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "optuna throughput run failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    Ok(Row {
        system: "optuna".into(),
        backend: backend.into(),
        workers,
        seconds,
        complete: v["complete"].as_u64().unwrap_or(0) as usize,
        failed_workers: v["failed_workers"].as_u64().unwrap_or(0) as usize,
    })
}

/// What to measure.
pub struct Options {
    /// This benchmark's own executable (it re-runs itself as workers).
    pub exe: PathBuf,
    /// Worker counts.
    pub workers: Vec<usize>,
    /// Seconds per measurement.
    pub seconds: f64,
    /// Python with Optuna and psycopg2 (None: tuneforge only).
    pub python: Option<PathBuf>,
}

/// Runs every measurement; progress on stderr.
pub fn run(opts: &Options) -> Result<(Vec<Row>, String), String> {
    let server = PgServer::start()?;
    let tmp = tempfile_dir()?;
    let version = opts.python.as_ref().and_then(|py| {
        Command::new(py)
            .args(["-c", "import optuna, sqlalchemy, psycopg2; print(f'optuna {optuna.__version__}, SQLAlchemy {sqlalchemy.__version__}, psycopg2 {psycopg2.__version__.split()[0]}')"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    });
    let mut rows = Vec::new();
    for &w in &opts.workers {
        let mut cases: Vec<(&str, &str, String)> = vec![
            (
                "tuneforge",
                "sqlite",
                format!("sqlite://{}/tf-{w}.db", tmp.display()),
            ),
            ("tuneforge", "postgres", server.create_database()?),
        ];
        if version.is_some() {
            let pg = server
                .create_database()?
                .replacen("postgres://", "postgresql+psycopg2://", 1);
            cases.push(("optuna", "postgres", pg));
            cases.push((
                "optuna",
                "sqlite",
                format!("sqlite:///{}/optuna-{w}.db", tmp.display()),
            ));
        }
        for (system, backend, url) in cases {
            let row = if system == "tuneforge" {
                measure_tuneforge(&opts.exe, &url, backend, w, opts.seconds)
            } else {
                let py = opts.python.as_deref().unwrap_or(Path::new("python3"));
                measure_optuna(py, &url, backend, w, opts.seconds)
            };
            match row {
                Ok(r) => {
                    eprintln!(
                        "{system:>9} {backend:<8} {w} worker(s): {:.0} trials/s{}",
                        r.rate(),
                        if r.failed_workers > 0 {
                            format!(" ({} worker(s) failed)", r.failed_workers)
                        } else {
                            String::new()
                        }
                    );
                    rows.push(r);
                }
                Err(e) => eprintln!("{system} {backend} {w} worker(s): {e}"),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok((
        rows,
        version.unwrap_or_else(|| "Optuna not run (no --python)".into()),
    ))
}

fn tempfile_dir() -> Result<PathBuf, String> {
    let p = std::env::temp_dir().join(format!("tuneforge-throughput-{}", std::process::id()));
    std::fs::create_dir_all(&p).map_err(|e| e.to_string())?;
    Ok(p)
}

/// The Markdown table: trials per second per worker count and backend, and the ratio to
/// Optuna on the same backend.
pub fn section(rows: &[Row], header: &str) -> String {
    let mut workers: Vec<usize> = rows.iter().map(|r| r.workers).collect();
    workers.sort();
    workers.dedup();
    let get = |sys: &str, be: &str, w: usize| {
        rows.iter()
            .find(|r| r.system == sys && r.backend == be && r.workers == w)
    };
    let cell = |r: Option<&Row>| match r {
        Some(r) if r.failed_workers > 0 => {
            format!(
                "{:.0} ({} of {} workers failed)",
                r.rate(),
                r.failed_workers,
                r.workers
            )
        }
        Some(r) => format!("{:.0}", r.rate()),
        None => "–".into(),
    };
    let ratio = |a: Option<&Row>, b: Option<&Row>| match (a, b) {
        (Some(a), Some(b)) if b.complete > 0 => format!("{:.1}x", a.rate() / b.rate()),
        _ => "–".into(),
    };
    let mut s = String::from(header);
    s.push_str(
        "\n| workers | tuneforge SQLite | tuneforge PostgreSQL | Optuna RDB PostgreSQL | Optuna RDB SQLite | PostgreSQL: tuneforge / Optuna | SQLite: tuneforge / Optuna |\n\
         |---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for w in workers {
        let (ts, tp) = (
            get("tuneforge", "sqlite", w),
            get("tuneforge", "postgres", w),
        );
        let (os, op) = (get("optuna", "sqlite", w), get("optuna", "postgres", w));
        s.push_str(&format!(
            "| {w} | {} | {} | {} | {} | {} | {} |\n",
            cell(ts),
            cell(tp),
            cell(op),
            cell(os),
            ratio(tp, op),
            ratio(ts, os)
        ));
    }
    s
}
