//! Dashboard load benchmark: a SQLite study of N trials (8 parameters, 20 intermediate values
//! each, one in five pruned), `tuneforge dashboard`'s server on a local port, and the requests
//! the study page makes when it opens, timed over HTTP: cold (a fresh server reads the study),
//! warm (nothing changed), and after 100 more trials (the incremental read). Optionally the same
//! study in Optuna's storage served by optuna-dashboard (bench/peers/dashboard.py).

use std::sync::Arc;
use std::time::{Duration, Instant};

use indexmap::IndexMap;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tuneforge::storage::{SqliteStorage, Storage};
use tuneforge::{Distribution, FrozenTrial, ParamValue, TrialState};

/// Parameters of the benchmark study.
pub const DIM: usize = 8;
/// Intermediate reports per trial.
pub const STEPS: u64 = 20;

/// The requests the study page makes when it opens (paths under `/api/studies/NAME`).
pub const PAGE: [&str; 8] = [
    "",
    "/history",
    "/curves",
    "/params",
    "/contour",
    "/importance",
    "/rungs",
    "/trials?limit=50",
];

/// One measured case.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Row {
    /// Which dashboard.
    pub tool: String,
    /// Trials in the study.
    pub trials: usize,
    /// Which load: `cold`, `warm` or `+100 trials`.
    pub case: String,
    /// Seconds until every request of the page was answered (one after the other).
    pub page_s: f64,
    /// The slowest single request's time.
    pub slowest_s: f64,
    /// The slowest request's path.
    pub slowest: String,
    /// Bytes sent to the browser.
    pub bytes: usize,
}

/// Trial `i` of the benchmark study (deterministic).
pub fn trial(i: u64, rng: &mut impl Rng) -> FrozenTrial {
    let mut t = FrozenTrial::new_for_tests(i, TrialState::Complete);
    let mut params = IndexMap::new();
    let mut dists = IndexMap::new();
    let mut x = [0.0; DIM];
    for (k, xk) in x.iter_mut().enumerate() {
        *xk = rng.random::<f64>();
        params.insert(format!("x{k}"), ParamValue::Float(*xk));
        dists.insert(format!("x{k}"), Distribution::float(0.0, 1.0));
    }
    let target: f64 = x
        .iter()
        .enumerate()
        .map(|(k, v)| (v - 0.5).powi(2) * (k + 1) as f64)
        .sum();
    let pruned = i % 5 == 4;
    let last = if pruned { STEPS / 4 } else { STEPS };
    for s in 1..=last {
        let mut m = tuneforge::Metrics::new();
        m.insert("loss".into(), target + 2.0 / s as f64);
        t.intermediate.insert(s, m);
    }
    t.params = params;
    t.distributions = dists;
    if pruned {
        t.state = TrialState::Pruned;
    } else {
        t.values = Some(vec![target + 2.0 / STEPS as f64]);
    }
    t.started_ms = Some(1_700_000_000_000 + i as i64 * 1000);
    t.finished_ms = Some(1_700_000_000_000 + i as i64 * 1000 + 900);
    t
}

/// Writes a study of `n` trials into the SQLite file `path` (the trials go in through
/// `import_trial`, one transaction each, as an import would).
pub fn create(path: &std::path::Path, name: &str, n: usize) -> tuneforge::Result<Arc<dyn Storage>> {
    let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(path)?);
    let mut attrs = std::collections::BTreeMap::new();
    attrs.insert(
        tuneforge::attrs::OBJECTIVE_NAMES.to_string(),
        serde_json::json!(["loss"]),
    );
    let id = storage
        .create_study(name, &[tuneforge::Direction::Minimize], &attrs)?
        .id;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    for i in 0..n as u64 {
        storage.import_trial(id, &trial(i, &mut rng))?;
    }
    Ok(storage)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into()
}

/// Requests every path of the page in turn.
pub fn load_page(base: &str, paths: &[String]) -> Result<(f64, f64, String, usize), String> {
    let agent = agent();
    let started = Instant::now();
    let (mut slowest, mut which, mut bytes) = (0.0, String::new(), 0);
    for p in paths {
        let t = Instant::now();
        let body = agent
            .get(&format!("{base}{p}"))
            .call()
            .map_err(|e| format!("GET {p}: {e}"))?
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .map_err(|e| format!("GET {p}: {e}"))?;
        let s = t.elapsed().as_secs_f64();
        bytes += body.len();
        if s > slowest {
            slowest = s;
            which = p.clone();
        }
    }
    Ok((started.elapsed().as_secs_f64(), slowest, which, bytes))
}

/// Measures tuneforge's dashboard on a study of `n` trials.
pub fn run(n: usize) -> Result<Vec<Row>, String> {
    let dir = std::env::temp_dir().join(format!("tuneforge-dash-bench-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("bench.db");
    let t = Instant::now();
    create(&path, "bench", n).map_err(|e| e.to_string())?;
    eprintln!("{n} trials written in {:.1} s", t.elapsed().as_secs_f64());
    let serving = tuneforge_dashboard::open_storage(&format!("sqlite://{}", path.display()))
        .map_err(|e| e.to_string())?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let config = tuneforge_dashboard::Config {
            addr: "127.0.0.1:0".parse().expect("a valid address"),
            token: None,
        };
        let _ = tuneforge_dashboard::serve(serving, config, |_, url| {
            let _ = tx.send(url);
        });
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .map_err(|_| "the server did not start".to_string())?;
    let base = format!("{}api/studies/bench", url);
    let paths: Vec<String> = PAGE.iter().map(|p| p.to_string()).collect();
    let mut rows = Vec::new();
    let mut record = |case: &str, r: (f64, f64, String, usize)| {
        eprintln!(
            "  {case}: page {:.3} s, slowest {:.3} s ({}), {} KB",
            r.0,
            r.1,
            r.2,
            r.3 / 1024
        );
        rows.push(Row {
            tool: "tuneforge".into(),
            trials: n,
            case: case.into(),
            page_s: r.0,
            slowest_s: r.1,
            slowest: r.2,
            bytes: r.3,
        });
    };
    record("cold", load_page(&base, &paths)?);
    record("warm", load_page(&base, &paths)?);
    // 100 more trials from another handle, as a worker would write them.
    let writer = SqliteStorage::open(&path).map_err(|e| e.to_string())?;
    let id = writer.load_study("bench").map_err(|e| e.to_string())?.id;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    for i in 0..100u64 {
        writer
            .import_trial(id, &trial(n as u64 + i, &mut rng))
            .map_err(|e| e.to_string())?;
    }
    let mut with_version = vec!["/version".to_string()];
    with_version.extend(paths.iter().cloned());
    record("+100 trials", load_page(&base, &with_version)?);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(rows)
}

/// The Markdown section.
pub fn section(rows: &[Row], header: &str) -> String {
    let mut s = header.to_string();
    s.push_str("\n| dashboard | trials | case | study page (s) | slowest request (s) | sent (KB) |\n|---|---:|---|---:|---:|---:|\n");
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {:.3} | {:.3} `{}` | {} |\n",
            r.tool,
            r.trials,
            r.case,
            r.page_s,
            r.slowest_s,
            if r.slowest.is_empty() {
                "(summary)"
            } else {
                &r.slowest
            },
            r.bytes / 1024
        ));
    }
    s
}
