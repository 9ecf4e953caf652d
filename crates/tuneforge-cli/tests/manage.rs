//! Experiment management end to end: environments, logs, seed re-evaluation, importance,
//! compare, export (CSV, JSON, Parquet, TensorBoard) and import.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::{run_err, run_ok, stdout, tuneforge};

/// A study whose command prints `loss = (x - 0.3)^2 + noise * gauss(seed)` and reports a curve.
fn study(dir: &Path, name: &str, noise: f64, trials: usize) {
    std::fs::write(
        dir.join(format!("{name}.toml")),
        format!(
            r#"
[study]
name = "{name}"
direction = "minimize"
metric = "loss"
sampler = "random"
seed = 5
trials = {trials}
[command]
run = ["python3", "-c", "import sys, json, random; x, u = float(sys.argv[1]), float(sys.argv[2]); random.seed(int(sys.argv[3])); loss = (x - 0.3) ** 2 + {noise} * random.gauss(0, 1); print(json.dumps(dict(step=1, loss=loss + 1, odd=float('nan')))); print(json.dumps(dict(step=2, loss=loss))); print(json.dumps(dict(loss=loss)))", "{{x}}", "{{u}}", "{{seed}}"]
[params.x]
type = "float"
low = 0
high = 1
[params.u]
type = "float"
low = 0
high = 1
"#
        ),
    )
    .unwrap();
    run_ok(
        tuneforge()
            .current_dir(dir)
            .args(["run", &format!("{name}.toml"), "--quiet"]),
    );
}

#[test]
fn environments_are_recorded_and_a_second_one_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let git = |args: &[&str]| {
        run_ok(
            Command::new("git")
                .current_dir(d)
                .args(["-c", "user.name=t", "-c", "user.email=t@example.org"])
                .args(args),
        )
    };
    git(&["init", "-q"]);
    study(d, "s", 0.0, 3);
    git(&["add", "s.toml"]);
    git(&["commit", "-q", "-m", "study"]);
    let head = String::from_utf8_lossy(&git(&["rev-parse", "HEAD"]).stdout)
        .trim()
        .to_string();
    run_ok(
        tuneforge()
            .current_dir(d)
            .args(["run", "s.toml", "--trials", "5", "--quiet"]),
    );
    let out = run_ok(tuneforge().current_dir(d).args(["env", "s.toml"]));
    let text = String::from_utf8_lossy(&out.stdout);
    let cores = std::thread::available_parallelism().unwrap().get();
    for needle in [
        format!("cpu_cores          {cores}"),
        format!("git_commit         {head}"),
        "python_version     Python 3".to_string(),
        format!("tuneforge_version  {}", env!("CARGO_PKG_VERSION")),
        "pip_freeze_sha256".to_string(),
        "memory_bytes".to_string(),
    ] {
        assert!(text.contains(&needle), "'{needle}' missing from:\n{text}");
    }
    // Trials 0-2 ran before the commit (dirty tree, no HEAD), 3-4 after: two environments.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 different environments"), "{err}");
    assert!(err.contains("git_commit"), "{err}");
}

#[test]
fn the_logs_of_a_failing_trial_are_retrievable_even_without_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("s.toml"),
        r#"
[study]
name = "broken"
trials = 1
[command]
run = ["python3", "-c", "import sys; print('loading data'); sys.exit('cannot open train.csv')"]
[params.x]
type = "float"
low = 0
high = 1
"#,
    )
    .unwrap();
    // Every trial failed, so the run itself reports failure.
    run_err(
        tuneforge()
            .current_dir(d)
            .args(["run", "s.toml", "--quiet"]),
    );
    let text = stdout(tuneforge().current_dir(d).args(["logs", "s.toml", "0"]));
    assert!(text.contains("failed"), "{text}");
    assert!(
        text.contains("loading data") && text.contains("cannot open train.csv"),
        "{text}"
    );
    std::fs::remove_dir_all(d.join("tuneforge-runs")).unwrap();
    let text = stdout(tuneforge().current_dir(d).args(["logs", "s.toml", "0"]));
    assert!(text.contains("tail kept in the storage"), "{text}");
    assert!(text.contains("cannot open train.csv"), "{text}");
    run_err(tuneforge().current_dir(d).args(["logs", "s.toml", "7"]));
}

#[test]
fn reevaluate_flags_a_noisy_objective_and_not_a_deterministic_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    study(d, "quiet", 0.0, 8);
    study(d, "noisy", 0.5, 8);
    let q = stdout(tuneforge().current_dir(d).args([
        "reevaluate",
        "quiet.toml",
        "--top",
        "3",
        "--seeds",
        "3",
        "--quiet",
    ]));
    assert!(!q.contains("SWINGS"), "{q}");
    assert!(
        q.contains("rank stability (Spearman, original vs mean over seeds): 1.00"),
        "{q}"
    );
    let n = stdout(tuneforge().current_dir(d).args([
        "reevaluate",
        "noisy.toml",
        "--top",
        "3",
        "--seeds",
        "4",
        "--quiet",
    ]));
    assert!(
        n.contains("SWINGS WITH THE SEED") && n.contains("ensembling"),
        "{n}"
    );
    // The re-runs went to their own study; the original is untouched.
    let studies = stdout(tuneforge().current_dir(d).args(["studies"]));
    assert!(studies.contains("noisy-reevaluate"), "{studies}");
    let json =
        stdout(
            tuneforge()
                .current_dir(d)
                .args(["export", "noisy.toml", "--format", "json"]),
        );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["trials"].as_array().unwrap().len(), 8);
}

#[test]
fn importance_ranks_the_parameter_that_drives_the_objective_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    study(d, "imp", 0.0, 40);
    for method in ["fanova", "ped-anova"] {
        let out = stdout(tuneforge().current_dir(d).args([
            "importance",
            "imp.toml",
            "--method",
            method,
            "--json",
        ]));
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(doc["params"][0]["param"], "x", "{method}: {doc}");
        assert!(
            doc["params"][1]["importance"].as_f64().unwrap() < 0.3,
            "{method}: {doc}"
        );
    }
    let bad = tuneforge()
        .current_dir(d)
        .args(["importance", "imp.toml", "--method", "shap"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("use fanova or ped-anova"));
}

fn tensorboard_python() -> Option<PathBuf> {
    let candidates = [
        std::env::var("TUNEFORGE_TEST_TENSORBOARD_PYTHON")
            .ok()
            .map(PathBuf::from),
        std::env::var("HOME")
            .ok()
            .map(|h| PathBuf::from(h).join(".cache/tuneforge/tensorboard-venv/bin/python")),
        Some(PathBuf::from("python3")),
    ];
    candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import tensorboard"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

#[test]
fn exports_round_trip_and_open_in_their_own_readers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    study(d, "ex", 0.1, 6);
    // JSON -> import -> JSON: identical but for storage keys, name and creation time.
    run_ok(
        tuneforge()
            .current_dir(d)
            .args(["export", "ex.toml", "--format", "json", "-o", "a.json"]),
    );
    let import_copy = || {
        let mut c = tuneforge();
        c.current_dir(d).args([
            "--storage",
            "sqlite://copy.db",
            "import",
            "a.json",
            "--name",
            "copy",
        ]);
        c
    };
    run_ok(&mut import_copy());
    run_ok(tuneforge().current_dir(d).args([
        "--storage",
        "sqlite://copy.db",
        "export",
        "copy",
        "--format",
        "json",
        "-o",
        "b.json",
    ]));
    let read = |p: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join(p)).unwrap()).unwrap()
    };
    let (a, b) = (read("a.json"), read("b.json"));
    let strip = |v: &serde_json::Value| -> Vec<serde_json::Value> {
        v["trials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                let mut t = t.clone();
                t.as_object_mut().unwrap().remove("id");
                t.as_object_mut().unwrap().remove("seq");
                t
            })
            .collect()
    };
    assert_eq!(strip(&a), strip(&b));
    assert_eq!(a["trials"][0]["intermediate"]["1"]["odd"], "NaN");
    assert_eq!(a["study"]["attrs"], b["study"]["attrs"]);
    // Importing twice under one name is refused; a file that is not an export too.
    run_err(&mut import_copy());
    std::fs::write(d.join("junk.json"), "{\"trials\": []}").unwrap();
    let junk = tuneforge()
        .current_dir(d)
        .args(["--storage", "sqlite://copy.db", "import", "junk.json"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&junk.stderr).contains("not a tuneforge export"));

    // CSV: every parameter, metric and attribute is a column.
    let csv = stdout(tuneforge().current_dir(d).args(["export", "ex.toml"]));
    let header = csv.lines().next().unwrap();
    for col in [
        "loss",
        "params_x",
        "params_u",
        "metrics_odd",
        "system_attrs_env",
        "system_attrs_command",
        "seed",
    ] {
        assert!(
            header.split(',').any(|h| h == col),
            "{col} missing: {header}"
        );
    }

    // Parquet, read back with the parquet crate's row reader.
    run_ok(tuneforge().current_dir(d).args([
        "export",
        "ex.toml",
        "--format",
        "parquet",
        "-o",
        "t.parquet",
    ]));
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let reader =
        SerializedFileReader::new(std::fs::File::open(d.join("t.parquet")).unwrap()).unwrap();
    assert_eq!(reader.metadata().file_metadata().num_rows(), 6);
    let rows: Vec<_> = reader
        .get_row_iter(None)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let losses: Vec<f64> = a["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["values"][0].as_f64().unwrap())
        .collect();
    for (row, want) in rows.iter().zip(&losses) {
        let (_, v) = row
            .get_column_iter()
            .find(|(n, _)| n.as_str() == "loss")
            .unwrap();
        assert_eq!(*v, parquet::record::Field::Double(*want));
    }

    // TensorBoard, read back by TensorBoard's own event reader.
    run_ok(tuneforge().current_dir(d).args([
        "export",
        "ex.toml",
        "--format",
        "tensorboard",
        "-o",
        "tb",
    ]));
    let Some(python) = tensorboard_python() else {
        assert!(
            std::env::var("CI").is_err(),
            "no Python with tensorboard: scripts/test installs one in ~/.cache/tuneforge"
        );
        eprintln!("skipped the TensorBoard check: no Python with tensorboard");
        return;
    };
    let script = r#"
import json, os, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2
root = sys.argv[1]
top = EventAccumulator(root); top.Reload()
exp = plugin_data_pb2.HParamsPluginData.FromString(top.PluginTagToContent("hparams")["_hparams_/experiment"]).experiment
out = {"hparams": [h.name for h in exp.hparam_infos], "metrics": [m.name.tag for m in exp.metric_infos], "runs": {}}
for run in sorted(os.listdir(root)):
    if not run.startswith("trial-"):
        continue
    acc = EventAccumulator(os.path.join(root, run)); acc.Reload()
    c = acc.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(c["_hparams_/session_start_info"]).session_start_info
    end = plugin_data_pb2.HParamsPluginData.FromString(c["_hparams_/session_end_info"]).session_end_info
    out["runs"][run] = {"x": start.hparams["x"].number_value, "status": end.status,
                        "loss": [[e.step, e.value] for e in acc.Scalars("loss")]}
print(json.dumps(out))
"#;
    let out =
        run_ok(Command::new(&python).args(["-c", script, &d.join("tb").display().to_string()]));
    let tb: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(tb["hparams"], serde_json::json!(["x", "u"]));
    assert!(tb["metrics"].as_array().unwrap().contains(&"loss".into()));
    for (i, t) in a["trials"].as_array().unwrap().iter().enumerate() {
        let run = &tb["runs"][format!("trial-{i}")];
        assert_eq!(run["x"], t["params"]["x"]);
        assert_eq!(run["status"], 1);
        let curve = run["loss"].as_array().unwrap();
        assert_eq!(curve.len(), 2);
        let last = curve[1][1].as_f64().unwrap();
        let want = t["values"][0].as_f64().unwrap();
        assert!(
            (last - want).abs() <= 1e-6 * want.abs().max(1.0),
            "{last} vs {want}"
        );
    }
}

#[test]
fn compare_shows_both_bests_and_where_they_differ() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    study(d, "one", 0.0, 4);
    study(d, "two", 0.0, 6);
    let text = stdout(
        tuneforge()
            .current_dir(d)
            .args(["compare", "one.toml", "two.toml"]),
    );
    assert!(text.contains("one") && text.contains("two"), "{text}");
    assert!(text.contains("complete trials  4"), "{text}");
    assert!(text.contains("best loss"), "{text}");
    assert!(text.contains("environments"), "{text}");
    run_err(
        tuneforge()
            .current_dir(d)
            .args(["compare", "one.toml", "nope"]),
    );
}

#[test]
fn reevaluate_and_import_refuse_what_they_cannot_do_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Two objectives: no single ranking to re-evaluate.
    std::fs::write(
        d.join("two.toml"),
        r#"
[study]
name = "two"
directions = ["minimize", "minimize"]
metrics = ["a", "b"]
trials = 2
[command]
run = ["python3", "-c", "import json; print(json.dumps(dict(a=1.0, b=2.0)))"]
[params.x]
type = "float"
low = 0
high = 1
"#,
    )
    .unwrap();
    run_ok(
        tuneforge()
            .current_dir(d)
            .args(["run", "two.toml", "--quiet"]),
    );
    let out = run_err(tuneforge().current_dir(d).args(["reevaluate", "two.toml"]));
    assert!(out.contains("this study has several"));
    // No complete trial: nothing to re-run, and no re-evaluation study is created.
    std::fs::write(
        d.join("none.toml"),
        "[study]\nname = \"none\"\ntrials = 1\n[command]\nrun = \"false\"\n\
         [params.x]\ntype = \"float\"\nlow = 0\nhigh = 1\n",
    )
    .unwrap();
    let _ = tuneforge()
        .current_dir(d)
        .args(["run", "none.toml", "--quiet"])
        .output()
        .unwrap();
    let out = run_err(tuneforge().current_dir(d).args(["reevaluate", "none.toml"]));
    assert!(out.contains("no complete trial to re-evaluate"));
    let studies = stdout(tuneforge().current_dir(d).args(["studies"]));
    assert!(!studies.contains("reevaluate"), "{studies}");
    // An export of a future format version is refused before anything is created.
    run_ok(
        tuneforge()
            .current_dir(d)
            .args(["export", "two.toml", "--format", "json", "-o", "two.json"]),
    );
    let text = std::fs::read_to_string(d.join("two.json"))
        .unwrap()
        .replacen("\"version\": 1", "\"version\": 2", 1);
    std::fs::write(d.join("future.json"), text).unwrap();
    let out =
        run_err(
            tuneforge()
                .current_dir(d)
                .args(["import", "future.json", "--name", "future"]),
        );
    assert!(out.contains("version 2 is not supported"));
    let studies = stdout(tuneforge().current_dir(d).args(["studies"]));
    assert!(!studies.contains("future"), "{studies}");
}
