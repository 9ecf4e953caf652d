//! Many worker processes on one study, on SQLite and on PostgreSQL: every trial accounted for
//! exactly once, workers killed with SIGKILL, a database server restarted under them.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tuneforge::testing::postgres::{PgServer, fresh_database};

fn tuneforge(storage: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tuneforge"));
    c.arg("--storage").arg(storage);
    c
}

fn ok(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn export(storage: &str, study: &str) -> Vec<serde_json::Value> {
    let out = ok(tuneforge(storage).args(["export", study, "--format", "json"]));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["trials"].as_array().unwrap().clone()
}

/// A trial that reports its own parameter `x` as the loss after sleeping `sleep` seconds.
fn study_file(dir: &Path, name: &str, sleep: f64, extra: &str) -> String {
    let run = if sleep > 0.0 {
        let script = dir.join("trial.sh");
        std::fs::write(&script, "sleep \"$1\"\nprintf '{\"loss\": %s}\\n' \"$2\"\n").unwrap();
        format!("sh {} {sleep} {{x}}", script.display())
    } else {
        "printf '{{\"loss\": %s}}\\n' {x}".to_string()
    };
    // A JSON string is a valid TOML basic string.
    let run = serde_json::to_string(&run).unwrap();
    let text = format!(
        r#"[study]
name = "{name}"
metric = "loss"
sampler = "random"
seed = 3
{extra}

[command]
run = {run}

[params.x]
type = "float"
low = 0.0
high = 1.0
"#
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn spawn_worker(storage: &str, study: &str, extra: &[&str]) -> Child {
    tuneforge(storage)
        .args(["worker", "--quiet", "--study", study])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn wait_ok(mut c: Child) {
    let status = c.wait().unwrap();
    let mut err = String::new();
    if let Some(mut e) = c.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    assert!(status.success(), "worker failed: {err}");
}

/// Eight workers x 250 trials: 2,000 trials, numbers 0..1999 with no gap or duplicate, each
/// complete with the value its own parameter gives, each worker's 250 recorded as its own.
fn eight_workers(storage: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = study_file(dir.path(), "stress", 0.0, "");
    ok(tuneforge(storage).args(["create", &file]));
    let workers: Vec<Child> = (0..8)
        .map(|_| spawn_worker(storage, "stress", &["--max-trials", "250"]))
        .collect();
    for w in workers {
        wait_ok(w);
    }
    let trials = export(storage, "stress");
    assert_eq!(trials.len(), 2000);
    let numbers: Vec<u64> = trials
        .iter()
        .map(|t| t["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (0..2000).collect::<Vec<_>>());
    let mut per_worker: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen_x = HashSet::new();
    for t in &trials {
        assert_eq!(t["state"], "complete", "{t}");
        let x = t["params"]["x"].as_f64().unwrap();
        let v = t["values"][0].as_f64().unwrap();
        assert!(
            (x - v).abs() < 1e-5,
            "trial {} has x={x} but value {v}",
            t["number"]
        );
        seen_x.insert(x.to_bits());
        *per_worker
            .entry(t["worker"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    assert_eq!(
        seen_x.len(),
        2000,
        "seeded per trial: no two trials share a point"
    );
    assert_eq!(per_worker.len(), 8);
    assert!(per_worker.values().all(|&n| n == 250), "{per_worker:?}");
}

#[test]
fn eight_workers_share_one_study_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    eight_workers(&format!("sqlite://{}", dir.path().join("s.db").display()));
}

#[test]
fn eight_workers_share_one_study_on_postgres() {
    let Some(url) = fresh_database() else { return };
    eight_workers(&url);
}

/// `kill -9` of a worker in the middle of a trial: another worker fails that trial once its
/// heartbeats stop, re-runs its configuration, and the study still ends with its 12 trials.
fn killed_worker(storage: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = study_file(
        dir.path(),
        "kill",
        0.6,
        "trials = 12\nheartbeat_interval = 0.2\nheartbeat_grace = 1.5\nretries = 2",
    );
    ok(tuneforge(storage).args(["create", &file]));
    let mut victim = spawn_worker(storage, "kill", &[]);
    let others: Vec<Child> = (0..2).map(|_| spawn_worker(storage, "kill", &[])).collect();
    // Wait until every worker is running (so none is still starting up, when a worker also
    // recovers trials of dead processes on its own machine by pid) and the victim is running a
    // trial; then kill the victim without warning.
    let victim_name = format!(":{}", victim.id());
    let limit = Instant::now() + Duration::from_secs(30);
    loop {
        let trials = export(storage, "kill");
        let started: HashSet<&str> = trials.iter().filter_map(|t| t["worker"].as_str()).collect();
        if started.len() == 3
            && trials.iter().any(|t| {
                // Running its command: the parameters are recorded.
                t["state"] == "running"
                    && t["params"]["x"].is_number()
                    && t["worker"]
                        .as_str()
                        .is_some_and(|w| w.ends_with(&victim_name))
            })
        {
            break;
        }
        assert!(Instant::now() < limit, "the victim never started a trial");
        std::thread::sleep(Duration::from_millis(50));
    }
    victim.kill().unwrap();
    victim.wait().unwrap();
    for w in others {
        wait_ok(w);
    }
    let trials = export(storage, "kill");
    let dead: Vec<&serde_json::Value> = trials
        .iter()
        .filter(|t| {
            t["worker"]
                .as_str()
                .is_some_and(|w| w.ends_with(&victim_name))
                && t["state"] != "complete"
        })
        .collect();
    assert_eq!(
        dead.len(),
        1,
        "exactly the victim's running trial was cut off"
    );
    let dead = dead[0];
    assert_eq!(dead["state"], "failed");
    assert!(
        dead["message"].as_str().unwrap().contains("no heartbeat"),
        "{dead}"
    );
    let retry: Vec<&serde_json::Value> = trials
        .iter()
        .filter(|t| t["system_attrs"]["retry_of"] == dead["number"])
        .collect();
    assert_eq!(retry.len(), 1, "re-run exactly once");
    assert_eq!(retry[0]["params"], dead["params"]);
    assert_eq!(retry[0]["state"], "complete");
    assert_eq!(retry[0]["system_attrs"]["retries"], 1);
    assert!(
        trials
            .iter()
            .all(|t| t["state"] != "running" && t["state"] != "waiting")
    );
    let complete = trials.iter().filter(|t| t["state"] == "complete").count();
    // The study still has its 12 trials (a race of the workers can add one each).
    assert!((12..=14).contains(&complete), "{complete} complete");
    assert_eq!(trials.len(), complete + 1, "and the one failed trial");
}

#[test]
fn a_killed_worker_s_trial_is_failed_and_retried_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    killed_worker(&format!("sqlite://{}", dir.path().join("k.db").display()));
}

#[test]
fn a_killed_worker_s_trial_is_failed_and_retried_on_postgres() {
    let Some(url) = fresh_database() else { return };
    killed_worker(&url);
}

/// The PostgreSQL server restarts twice while three workers run: they reconnect and finish,
/// and every trial is complete.
#[test]
fn workers_ride_out_a_postgres_restart() {
    if fresh_database().is_none() {
        return;
    }
    let server = PgServer::start().unwrap();
    let url = server.create_database().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = study_file(dir.path(), "restart", 0.1, "trials = 60");
    ok(tuneforge(&url).args(["create", &file]));
    let workers: Vec<Child> = (0..3).map(|_| spawn_worker(&url, "restart", &[])).collect();
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(600));
        server.restart().unwrap();
    }
    let mid = export(&url, "restart");
    assert!(
        mid.iter().filter(|t| t["state"] == "complete").count() < 60,
        "the restarts happened while the workers ran"
    );
    for w in workers {
        wait_ok(w);
    }
    let trials = export(&url, "restart");
    let complete = trials.iter().filter(|t| t["state"] == "complete").count();
    // Workers decide independently, so a race can start at most one extra trial per worker.
    assert!((60..=62).contains(&complete), "{complete} complete");
    let numbers: Vec<u64> = trials
        .iter()
        .map(|t| t["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (0..trials.len() as u64).collect::<Vec<_>>());
    let stuck: Vec<_> = trials.iter().filter(|t| t["state"] != "complete").collect();
    assert!(stuck.is_empty(), "{stuck:?}");
}

#[test]
fn run_with_workers_starts_processes_that_finish_the_study() {
    let dir = tempfile::tempdir().unwrap();
    let file = study_file(dir.path(), "local", 0.05, "trials = 30");
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    let out = ok(tuneforge(&db).args(["run", &file, "--workers", "3"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3 worker(s)"), "{err}");
    let trials = export(&db, "local");
    // Workers decide independently, so a race can start at most one extra trial per worker.
    assert!(
        (30..=32).contains(&trials.len()),
        "{} trials for a budget of 30",
        trials.len()
    );
    let workers: HashSet<&str> = trials
        .iter()
        .map(|t| t["worker"].as_str().unwrap())
        .collect();
    assert!(
        workers.len() >= 2,
        "trials ran in several processes: {workers:?}"
    );
    assert!(trials.iter().all(|t| t["state"] == "complete"));
}

#[test]
fn a_worker_for_a_missing_study_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("none.db").display());
    let file = study_file(dir.path(), "exists", 0.0, "");
    ok(tuneforge(&db).args(["create", &file]));
    let out = tuneforge(&db)
        .args(["worker", "--study", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no study named 'nope'"), "{err}");
}

/// The Slurm job-array script of examples/cluster, run as three plain processes (what three
/// array tasks do): they create the study once, share it, and finish it.
#[test]
fn the_slurm_array_script_runs_workers_that_share_one_study() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../../examples/cluster");
    let text = std::fs::read_to_string(example.join("study.toml"))
        .unwrap()
        .replace("trials = 200", "trials = 9")
        .replace(
            "/tmp/tuneforge-runs",
            &dir.path().join("runs").display().to_string(),
        );
    assert!(text.contains("trials = 9"));
    std::fs::write(dir.path().join("study.toml"), text).unwrap();
    std::fs::copy(example.join("train.py"), dir.path().join("train.py")).unwrap();
    let bins = Path::new(env!("CARGO_BIN_EXE_tuneforge")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let db = format!("sqlite://{}", dir.path().join("cluster.db").display());
    let tasks: Vec<Child> = (0..3)
        .map(|i| {
            Command::new("bash")
                .arg(example.join("slurm-array.sh"))
                .env("PATH", &path)
                .env("TUNEFORGE_STORAGE", &db)
                .env("SLURM_ARRAY_TASK_ID", i.to_string())
                .env("STUDY_FILE", dir.path().join("study.toml"))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for t in tasks {
        wait_ok(t);
    }
    let trials = export(&db, "cluster-demo");
    let complete = trials.iter().filter(|t| t["state"] == "complete").count();
    assert!(
        (9..=11).contains(&complete),
        "{complete} trials: {trials:?}"
    );
    assert!(trials.iter().all(|t| t["state"] == "complete"));
    let workers: HashSet<&str> = trials
        .iter()
        .map(|t| t["worker"].as_str().unwrap())
        .collect();
    assert!(workers.len() >= 2, "{workers:?}");
}

#[test]
fn a_worker_for_a_study_without_a_study_file_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lib.db");
    let storage = tuneforge::storage::open(&format!("sqlite://{}", path.display())).unwrap();
    tuneforge::Study::builder("from-rust")
        .storage(storage)
        .build()
        .unwrap();
    let out = tuneforge(&format!("sqlite://{}", path.display()))
        .args(["worker", "--study", "from-rust"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("was not created from a study file"), "{err}");
}
