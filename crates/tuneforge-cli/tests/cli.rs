//! The `tuneforge` command end to end: real processes, real SQLite files, real signals.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{run_ok, trials, tuneforge};

/// The directory holding the workspace's binaries (tuneforge, digits-mlp).
fn bin_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_tuneforge"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn path_with_bins() -> String {
    format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn the_digits_example_beats_its_baseline() {
    let digits_mlp = bin_dir().join("digits-mlp");
    assert!(
        digits_mlp.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (scripts/test)",
        digits_mlp.display()
    );
    let dir = digits_example("study.toml");
    run_in_example(&dir, &["run", "study.toml", "--trials", "10", "--quiet"]);
    let ts = trials(dir.path(), "study.toml");
    assert_eq!(ts.len(), 10);
    assert!(ts.iter().all(|t| t["state"] == "complete"), "{ts:?}");
    // Trial 0 is the enqueued default configuration.
    assert_eq!(ts[0]["params"]["lr"], 0.01);
    assert_eq!(ts[0]["params"]["hidden"], 16);
    assert_eq!(ts[0]["params"]["optimizer"], "sgd");
    let baseline = ts[0]["values"][0].as_f64().unwrap();
    let out = run_ok(
        tuneforge()
            .current_dir(dir.path())
            .args(["best", "study.toml", "--json"]),
    );
    let best: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let best = best["values"]["val_accuracy"].as_f64().unwrap();
    assert!(
        best > baseline + 0.1 && best > 0.9,
        "best {best} vs baseline {baseline}"
    );
    // Conditional parameter: momentum only where the optimizer is SGD.
    for t in &ts {
        let sgd = t["params"]["optimizer"] == "sgd";
        assert_eq!(
            t["params"].get("momentum").is_some(),
            sgd,
            "{}",
            t["params"]
        );
    }
    // Intermediate metrics were recorded as curves, logs kept per trial.
    assert!(ts[0]["intermediate"]["10"]["val_accuracy"].is_number());
    assert!(
        dir.path()
            .join("tuneforge-runs/digits-mlp/trial-0/stdout.log")
            .exists()
    );
}

/// A temporary directory holding the digits example's `file` as `study.toml` and its data.
fn digits_example(file: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let ex = std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../../examples/digits");
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::copy(ex.join(file), dir.path().join("study.toml")).unwrap();
    std::fs::copy(
        ex.join("data/digits.csv.gz"),
        dir.path().join("data/digits.csv.gz"),
    )
    .unwrap();
    dir
}

/// Runs `tuneforge ARGS` in an example folder with the example programs on PATH; its stderr.
fn run_in_example(dir: &tempfile::TempDir, args: &[&str]) -> String {
    let out = run_ok(
        tuneforge()
            .current_dir(dir.path())
            .env("PATH", path_with_bins())
            .args(args),
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The steps a trial reported intermediate values at.
fn reported_steps(t: &serde_json::Value) -> Vec<u64> {
    t["intermediate"]
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.parse().unwrap())
        .collect()
}

/// The early-stopping variant of the example: real training, epochs as the resource,
/// Hyperband stops poor trials at their bracket's rungs, BOHB proposes.
#[test]
fn the_digits_hyperband_example_stops_poor_trials_early() {
    let dir = digits_example("study-hyperband.toml");
    let err = run_in_example(&dir, &["run", "study.toml", "--trials", "30"]);
    let ts = trials(dir.path(), "study.toml");
    assert_eq!(ts.len(), 30);
    let pruned: Vec<_> = ts.iter().filter(|t| t["state"] == "pruned").collect();
    let complete: Vec<_> = ts.iter().filter(|t| t["state"] == "complete").collect();
    assert!(pruned.len() >= 8 && complete.len() >= 4, "{err}");
    assert_eq!(pruned.len() + complete.len(), 30, "{err}");
    for t in &pruned {
        let steps = reported_steps(t);
        let last = *steps.iter().max().unwrap();
        assert!([1, 3, 9].contains(&last), "pruned at a rung, not at {last}");
    }
    for t in &complete {
        assert!(
            t["intermediate"]["27"]["val_accuracy"].is_number(),
            "{{budget}} = 27 epochs"
        );
    }
    assert!(
        err.contains("stopped after epoch "),
        "reports name the study's resource: {err}"
    );
    let best = ts
        .iter()
        .filter_map(|t| t["values"][0].as_f64())
        .fold(0.0, f64::max);
    assert!(best > 0.9, "{best}");
    // What early stopping saved, from the recorded start and end of each trial.
    let took = |t: &&serde_json::Value| {
        (t["finished_ms"].as_i64().unwrap() - t["started_ms"].as_i64().unwrap()) as f64 / 1000.0
    };
    let spent: f64 = pruned.iter().chain(&complete).map(took).sum();
    let mean = complete.iter().map(took).sum::<f64>() / complete.len() as f64;
    let saved = 100.0 * (1.0 - spent / (30.0 * mean));
    let line = format!(
        "early stopping: {} of 30 trials pruned; the trials took {spent:.1} s in all, against about {:.1} s",
        pruned.len(),
        30.0 * mean
    );
    assert!(
        err.contains(&line) && err.contains(&format!("about {saved:.0}% of the time saved")),
        "{line} ... {saved:.0}%: {err}"
    );
    assert!(
        saved > 20.0,
        "pruned at 1, 3 or 9 of 27 epochs: {saved:.0}%"
    );
}

/// The checkpoint variant of the example: Hyperband's brackets as synchronous successive
/// halving, the survivors of a rung continued by new trials that resume the real trainer from
/// its checkpoint (their curves start after the parent's last epoch and go on from its
/// accuracy, not from an untrained network's).
#[test]
fn the_digits_promote_example_resumes_survivors_from_their_checkpoints() {
    let dir = digits_example("study-promote.toml");
    let err = run_in_example(
        &dir,
        &["run", "study.toml", "--trials", "41", "--jobs", "1"],
    );
    let ts = trials(dir.path(), "study.toml");
    assert_eq!(ts.len(), 41);
    assert!(ts.iter().all(|t| t["state"] == "complete"), "{err}");
    let attr = |t: &serde_json::Value, k: &str| t["system_attrs"][k].as_u64();
    // Trial 0 is the enqueued baseline (full budget); then bracket 0: 27 new configurations
    // for 1 epoch, 9 continued to 3, 3 to 9, 1 to 27: 40 trials (one worker, so no other
    // bracket opens while a rung waits).
    let in_rung = |k: u64| {
        ts.iter()
            .filter(|t| attr(t, "bracket") == Some(0) && attr(t, "rung") == Some(k))
            .count()
    };
    assert_eq!(
        [in_rung(0), in_rung(1), in_rung(2), in_rung(3)],
        [27, 9, 3, 1]
    );
    let mut resumed = 0;
    for t in &ts {
        let Some(from) = attr(t, "resume_from") else {
            continue;
        };
        let parent = &ts[from as usize];
        let pb = attr(parent, "budget").unwrap();
        let steps = reported_steps(t);
        assert_eq!(
            steps.iter().min(),
            Some(&(pb + 1)),
            "continues after epoch {pb}"
        );
        assert_eq!(steps.iter().max(), attr(t, "budget").as_ref());
        // The first epoch after the checkpoint starts from the parent's accuracy, not 0.1.
        let before = parent["intermediate"][pb.to_string()]["val_accuracy"]
            .as_f64()
            .unwrap();
        let after = t["intermediate"][(pb + 1).to_string()]["val_accuracy"]
            .as_f64()
            .unwrap();
        assert!(after > before - 0.1, "{before} -> {after}");
        resumed += 1;
    }
    assert_eq!(resumed, 13, "{err}");
    let best = ts
        .iter()
        .filter_map(|t| t["values"][0].as_f64())
        .fold(0.0, f64::max);
    assert!(best > 0.9, "{best}");
}

const BAD_TRIALS: &str = r#"
[study]
name = "faults"
direction = "maximize"
metric = "score"
sampler = "random"
seed = 1
trials = 8

[command]
run = ["sh", "-c", "case {trial} in 0) echo '{{\"score\": 1.5}}';; 1) echo 'hello'; echo not-a-metric;; 2) echo '{{\"score\": NaN}}';; 3) echo '{{\"score\": Infinity}}';; 4) echo boom >&2; exit 3;; 5) sleep 30.0417;; 6) echo '{{\"step\": 1, \"score\": 2.5}}';; 7) echo '{{\"score\": 3, \"x\": {x}}}';; esac"]
timeout = 1.5
grace = 0.5

[params.x]
type = "float"
low = 0
high = 1
"#;

#[test]
fn misbehaving_commands_fail_their_trial_with_a_readable_reason() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "study.toml", BAD_TRIALS);
    let out = run_ok(
        tuneforge()
            .current_dir(dir.path())
            .args(["run", "study.toml", "--quiet"]),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("best trial 7: score = 3"), "{stdout}");
    let ts = trials(dir.path(), "study.toml");
    assert_eq!(ts.len(), 8);
    let msg = |n: usize| ts[n]["message"].as_str().unwrap_or("").to_string();
    assert_eq!(ts[0]["state"], "complete");
    assert_eq!(ts[0]["values"][0], 1.5, "earlier trials intact");
    assert_eq!(ts[1]["state"], "failed");
    assert!(
        msg(1).contains("printed no value for metric 'score'") && msg(1).contains("not-a-metric"),
        "{}",
        msg(1)
    );
    assert!(
        msg(2).contains("score = NaN") && msg(2).contains("not a finite number"),
        "{}",
        msg(2)
    );
    assert!(msg(3).contains("score = inf"), "{}", msg(3));
    assert!(
        msg(4).contains("exited with status 3") && msg(4).contains("last stderr line: boom"),
        "{}",
        msg(4)
    );
    assert!(msg(5).contains("timed out after 1.5 s"), "{}", msg(5));
    assert_eq!(
        ts[6]["state"],
        "complete",
        "the last report counts: {}",
        msg(6)
    );
    assert_eq!(ts[6]["values"][0], 2.5);
    assert_eq!(ts[7]["values"][0], 3.0);
    assert_eq!(ts[4]["system_attrs"]["exit_code"], 3);
    assert!(
        ts[4]["system_attrs"]["stderr_tail"]
            .as_str()
            .unwrap()
            .contains("boom")
    );
    // The timed-out process is really gone (pgrep looks machine-wide, hence the odd duration
    // no other process is likely to sleep).
    let sleepers = Command::new("pgrep").args(["-f", "sleep 30.0417"]).output();
    if let Ok(o) = sleepers {
        assert!(
            o.stdout.is_empty(),
            "left a process behind: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
}

/// A command that cannot start at all fails one trial (per job), not the whole budget: the run
/// stops with the reason, the configuration is enqueued again, and once the program is there
/// the next run evaluates it first and still runs the study's full number of trials.
#[test]
fn a_command_that_cannot_start_stops_the_run_and_loses_no_trial() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "study.toml",
        "[study]\nname = \"nope\"\ntrials = 3\n[command]\nrun = \"./prog {x}\"\n\
         [params.x]\ntype = \"int\"\nlow = 0\nhigh = 1000\n",
    );
    let out = tuneforge()
        .current_dir(dir.path())
        .args(["run", "study.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("error: could not start './prog'")
            && err.contains("trial 0 did not run, and its configuration runs first"),
        "{err}"
    );
    let rows = trials(dir.path(), "study.toml");
    let states: Vec<&str> = rows.iter().filter_map(|r| r["state"].as_str()).collect();
    assert_eq!(states, ["failed", "waiting"], "one trial spent, not three");
    let first_x = rows[0]["params"]["x"].as_i64().expect("trial 0's x");

    write(
        dir.path(),
        "prog",
        "#!/bin/sh\necho \"{\\\"objective\\\": $1}\"\n",
    );
    std::fs::set_permissions(
        dir.path().join("prog"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    run_ok(
        tuneforge()
            .current_dir(dir.path())
            .args(["run", "study.toml"]),
    );
    let rows = trials(dir.path(), "study.toml");
    let complete: Vec<i64> = rows
        .iter()
        .filter(|r| r["state"] == "complete")
        .filter_map(|r| r["params"]["x"].as_i64())
        .collect();
    assert_eq!(complete.len(), 3, "{rows:?}");
    assert_eq!(complete[0], first_x, "the enqueued configuration ran first");
}

#[test]
fn grid_search_across_four_processes_visits_every_point_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "grid.toml",
        r#"
[study]
name = "grid"
sampler = "grid"
metric = "v"
seed = 3
trials = 1000
jobs = 2

[command]
run = ["sh", "-c", "echo '{{\"v\": {a}}}'"]

[params.a]
type = "int"
low = 0
high = 9

[params.b]
type = "categorical"
choices = ["x", "y", "z"]

[params.c]
type = "categorical"
choices = [true, false]
"#,
    );
    let children: Vec<_> = (0..4)
        .map(|_| {
            tuneforge()
                .current_dir(dir.path())
                .args(["run", "grid.toml", "--quiet"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("locked"));
    }
    let ts = trials(dir.path(), "grid.toml");
    assert_eq!(ts.len(), 60, "10 x 3 x 2 points, no more");
    assert!(ts.iter().all(|t| t["state"] == "complete"));
    let points: std::collections::HashSet<String> = ts
        .iter()
        .map(|t| {
            format!(
                "{}-{}-{}",
                t["params"]["a"], t["params"]["b"], t["params"]["c"]
            )
        })
        .collect();
    assert_eq!(points.len(), 60, "no point evaluated twice");
    let workers: std::collections::HashSet<&str> =
        ts.iter().filter_map(|t| t["worker"].as_str()).collect();
    assert!(
        workers.len() >= 2,
        "several processes took part: {workers:?}"
    );
}

const SLOW: &str = r#"
[study]
name = "slow"
metric = "v"
seed = 5
trials = 8
jobs = 2

[command]
run = ["sh", "-c", "sleep 0.6; echo '{{\"v\": {x}}}'"]

[params.x]
type = "float"
low = 0
high = 1
"#;

fn wait_for_complete(dir: &Path, n: usize, limit: Duration) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if dir.join("tuneforge.db").exists() {
            let out = tuneforge()
                .current_dir(dir)
                .args(["export", "study.toml", "--format", "json"])
                .output()
                .unwrap();
            if let Ok(doc) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
                let done = doc["trials"]
                    .as_array()
                    .map(|a| a.iter().filter(|t| t["state"] == "complete").count())
                    .unwrap_or(0);
                if done >= n {
                    return;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{n} trials did not complete within {limit:?}");
}

#[test]
fn an_interrupted_run_stops_its_trials_and_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "study.toml", SLOW);
    let child = tuneforge()
        .current_dir(dir.path())
        .args(["run", "study.toml"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_complete(dir.path(), 2, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(200)); // two new trials are now mid-run
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("again to continue"));

    let before = trials(dir.path(), "study.toml");
    let interrupted: Vec<&serde_json::Value> = before
        .iter()
        .filter(|t| t["system_attrs"]["interrupted"] == true)
        .collect();
    assert!(!interrupted.is_empty(), "{before:?}");
    for t in &interrupted {
        assert_eq!(t["state"], "failed");
        assert!(t["message"].as_str().unwrap().contains("interrupted"));
    }
    assert!(
        before.iter().all(|t| t["state"] != "running"),
        "nothing left running"
    );
    let complete_before: Vec<&serde_json::Value> =
        before.iter().filter(|t| t["state"] == "complete").collect();

    run_ok(
        tuneforge()
            .current_dir(dir.path())
            .args(["run", "study.toml", "--quiet"]),
    );
    let after = trials(dir.path(), "study.toml");
    let complete: Vec<&serde_json::Value> =
        after.iter().filter(|t| t["state"] == "complete").collect();
    assert_eq!(complete.len(), 8, "the study reached its 8 trials");
    for t in complete_before {
        let same = &after[t["number"].as_u64().unwrap() as usize];
        assert_eq!(same, t, "finished trials untouched by the resume");
    }
    // Each interrupted configuration ran again, with the same parameters.
    for t in interrupted {
        let rerun = after
            .iter()
            .find(|r| r["system_attrs"]["retry_of"] == t["number"])
            .expect("re-enqueued");
        assert_eq!(rerun["params"], t["params"]);
        assert_eq!(rerun["state"], "complete");
    }
}

#[test]
fn trials_of_a_killed_run_are_recovered_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "study.toml", SLOW);
    let mut child = tuneforge()
        .current_dir(dir.path())
        .args(["run", "study.toml", "--quiet"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_complete(dir.path(), 2, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    let before = trials(dir.path(), "study.toml");
    assert!(
        before.iter().any(|t| t["state"] == "running"),
        "a trial was cut off mid-run"
    );

    let out = run_ok(
        tuneforge()
            .current_dir(dir.path())
            .args(["run", "study.toml"]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("left running by a dead process"), "{err}");
    let after = trials(dir.path(), "study.toml");
    assert_eq!(after.iter().filter(|t| t["state"] == "complete").count(), 8);
    assert!(after.iter().all(|t| t["state"] != "running"));
    let dead: Vec<_> = before.iter().filter(|t| t["state"] == "running").collect();
    for t in dead {
        let n = t["number"].as_u64().unwrap() as usize;
        assert_eq!(after[n]["state"], "failed");
        assert!(
            after[n]["message"]
                .as_str()
                .unwrap()
                .contains("worker process")
        );
        assert!(after.iter().any(|r| r["system_attrs"]["retry_of"] == t["number"] && r["params"] == t["params"]));
    }
}

#[test]
fn ask_and_tell_drive_a_study_from_a_script() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../../examples/seed_space.toml");
    std::fs::copy(src, dir.path().join("space.toml")).unwrap();
    let ask = || -> serde_json::Value {
        let out = run_ok(
            tuneforge()
                .current_dir(dir.path())
                .args(["ask", "space.toml"]),
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let a = ask();
    let b = ask();
    assert_eq!(
        (a["trial"].as_u64(), b["trial"].as_u64()),
        (Some(0), Some(1))
    );
    let lr = a["params"]["learning_rate"].as_f64().unwrap();
    assert!((1e-6..=1e-1).contains(&lr));
    assert_eq!(a["params"].as_object().unwrap().len(), 6);
    run_ok(tuneforge().current_dir(dir.path()).args([
        "tell",
        "space.toml",
        "--trial",
        "0",
        "--value",
        "0.41",
    ]));
    let mut tell = tuneforge()
        .current_dir(dir.path())
        .args(["tell", "seed-space", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    tell.stdin
        .take()
        .unwrap()
        .write_all(br#"{"trial": 1, "state": "failed", "message": "CUDA out of memory"}"#)
        .unwrap();
    assert!(tell.wait_with_output().unwrap().status.success());
    // A second tell of a finished trial is refused and changes nothing.
    let again = tuneforge()
        .current_dir(dir.path())
        .args(["tell", "space.toml", "--trial", "0", "--value", "0.99"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("trial 0 has already finished"));
    let bad = tuneforge()
        .current_dir(dir.path())
        .args(["tell", "space.toml", "--trial", "7", "--value", "1"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no trial 7"));
    let ts = trials(dir.path(), "space.toml");
    assert_eq!(ts[0]["values"][0], 0.41);
    assert_eq!(ts[1]["state"], "failed");
    assert_eq!(ts[1]["message"], "CUDA out of memory");
    assert_eq!(ts[0]["params"], a["params"]);
}

#[test]
fn read_commands_show_and_export_a_study() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "study.toml", QUICK);
    run_ok(
        tuneforge()
            .current_dir(dir.path())
            .args(["run", "study.toml", "--quiet"]),
    );
    let out = run_ok(tuneforge().current_dir(dir.path()).arg("studies"));
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("q") && s.contains("5"), "{s}");
    let out = run_ok(tuneforge().current_dir(dir.path()).args(["trials", "q"]));
    let s = String::from_utf8_lossy(&out.stdout);
    assert_eq!(s.lines().count(), 6, "{s}");
    assert!(s.lines().next().unwrap().contains("loss"));
    let out = run_ok(
        tuneforge()
            .current_dir(dir.path())
            .args(["export", "q", "--format", "csv"]),
    );
    let s = String::from_utf8_lossy(&out.stdout);
    let header = s.lines().next().unwrap();
    assert!(
        header.starts_with("number,state,loss,params_x,params_k"),
        "{header}"
    );
    assert_eq!(s.lines().count(), 6);
    let out = run_ok(tuneforge().current_dir(dir.path()).args(["best", "q"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("loss = "));
    let bad = tuneforge()
        .current_dir(dir.path())
        .args(["trials", "nope"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no study named 'nope'"));
}

const QUICK: &str = "[study]\nname = \"q\"\nmetric = \"loss\"\ntrials = 5\nseed = 2\n[command]\nrun = [\"sh\", \"-c\", \"echo '{{\\\"loss\\\": {x}}}'\"]\n[params.x]\ntype = \"float\"\nlow = 0\nhigh = 1\n[params.k]\ntype = \"categorical\"\nchoices = [\"a\", \"b\"]\n";

#[test]
fn the_same_seed_reproduces_the_same_configurations_from_the_command_line() {
    let run = || {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "study.toml", QUICK);
        run_ok(
            tuneforge()
                .current_dir(dir.path())
                .args(["run", "study.toml", "--quiet"]),
        );
        trials(dir.path(), "study.toml")
            .into_iter()
            .map(|t| (t["params"].clone(), t["system_attrs"]["seed"].clone()))
            .collect::<Vec<_>>()
    };
    let a = run();
    assert_eq!(a.len(), 5);
    assert_eq!(a, run());
}

#[test]
fn a_study_file_broken_after_a_run_is_refused_and_recorded_trials_stay_intact() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "study.toml", QUICK);
    run_ok(
        tuneforge()
            .current_dir(dir.path())
            .args(["run", "study.toml", "--quiet"]),
    );
    let before = trials(dir.path(), "study.toml");
    write(
        dir.path(),
        "study.toml",
        &QUICK.replace("high = 1", "high = -1"),
    );
    let out = tuneforge()
        .current_dir(dir.path())
        .args(["run", "study.toml", "--trials", "10"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("study.toml: parameter 'x' (line 8): low (0.0) must not exceed high (-1.0)"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "one sentence: {err}");
    let out = run_ok(tuneforge().current_dir(dir.path()).args([
        "export",
        "q",
        "--format",
        "json",
        "--storage",
        "tuneforge.db",
    ]));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["trials"].as_array().unwrap(), &before);
}
