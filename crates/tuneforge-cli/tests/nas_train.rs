//! `tuneforge nas search`: architecture search that trains real networks, end to end on the
//! digits dataset (the real file from ../shared/data when present, else a generated stand-in of
//! the same format), recorded in storage and exported.
#![cfg(feature = "train")]

use std::path::{Path, PathBuf};

mod common;
use common::{run_err, run_ok, stdout, tuneforge};

/// A folder with `digits/digits.csv`: the real one, or as many generated rows as it has (1797)
/// whose label is readable from the pixels (so a network can learn it; with 400 rows, two
/// epochs were too few steps and the retrained DARTS cell scored 0 on the test split).
fn digits_dir(tmp: &Path) -> PathBuf {
    let real = std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("../../../shared/data");
    if real.join("digits/digits.csv.gz").exists() {
        return real.canonicalize().unwrap();
    }
    let dir = tmp.join("data");
    std::fs::create_dir_all(dir.join("digits")).unwrap();
    let mut text = String::new();
    for i in 0..1797 {
        let label = i % 10;
        let row: Vec<String> = (0..64)
            .map(|j| {
                if j % 10 == label {
                    "16".into()
                } else {
                    ((i * 7 + j) % 5).to_string()
                }
            })
            .collect();
        text.push_str(&format!("{},{label}\n", row.join(",")));
    }
    std::fs::write(dir.join("digits/digits.csv"), text).unwrap();
    dir
}

fn search(dir: &Path, data: &Path, method: &str, extra: &[&str]) -> std::process::Command {
    let mut cmd = tuneforge();
    cmd.current_dir(dir)
        .args(["nas", "search", "--method", method, "--dataset", "digits"]);
    cmd.args([
        "--data-dir",
        data.to_str().unwrap(),
        "--storage",
        "sqlite://nas.db",
    ]);
    for (flag, value) in [
        ("--channels", "4"),
        ("--search-epochs", "1"),
        ("--epochs", "2"),
    ] {
        if !extra.contains(&flag) {
            cmd.args([flag, value]);
        }
    }
    cmd.args(extra);
    cmd
}

#[test]
fn darts_search_retrains_records_and_exports_its_cell() {
    let tmp = tempfile::tempdir().unwrap();
    let data = digits_dir(tmp.path());
    let out = stdout(&mut search(
        tmp.path(),
        &data,
        "darts",
        &["--output", "found"],
    ));
    assert!(out.contains("cell: |"), "{out}");
    let acc: f64 = out
        .lines()
        .find_map(|l| l.split("test accuracy ").nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no test accuracy in {out}"));
    assert!(
        acc > 0.3,
        "a retrained cell beats chance (0.1) on digits: {acc}"
    );
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("found/architecture.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc["method"], "darts");
    assert!(out.contains(doc["cell"].as_str().unwrap()));
    assert!(
        tmp.path()
            .join("found/weights.safetensors")
            .metadata()
            .unwrap()
            .len()
            > 1000
    );
    assert!(
        std::fs::read_to_string(tmp.path().join("found/model.py"))
            .unwrap()
            .contains("class Net")
    );
    // recorded like any study: the trial holds the cell's decisions and the retraining curve
    let export = stdout(tuneforge().current_dir(tmp.path()).args([
        "export",
        "nas-darts-digits",
        "--format",
        "json",
        "--storage",
        "sqlite://nas.db",
    ]));
    let doc: serde_json::Value = serde_json::from_str(&export).unwrap();
    let trials = doc["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 1);
    let t = &trials[0];
    assert_eq!(t["state"], "complete");
    assert_eq!(t["params"].as_object().unwrap().len(), 6, "{t}");
    assert_eq!(t["user_attrs"]["role"], "retrain");
    assert!(
        t["user_attrs"]["search"]["epochs"]
            .as_array()
            .is_some_and(|e| e.len() == 1)
    );
}

#[test]
fn candidate_methods_record_one_trial_per_candidate_then_the_retrained_best() {
    let tmp = tempfile::tempdir().unwrap();
    let data = digits_dir(tmp.path());
    run_ok(&mut search(
        tmp.path(),
        &data,
        "random",
        &["--budget", "3", "--epochs", "1"],
    ));
    let export = stdout(tuneforge().current_dir(tmp.path()).args([
        "export",
        "nas-random-digits",
        "--format",
        "json",
        "--storage",
        "sqlite://nas.db",
    ]));
    let doc: serde_json::Value = serde_json::from_str(&export).unwrap();
    let roles: Vec<String> = doc["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["user_attrs"]["role"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        roles,
        vec!["candidate", "candidate", "candidate", "retrain"]
    );
}

#[test]
fn a_chain_space_search_trains_a_supernet_retrains_records_and_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let data = digits_dir(tmp.path());
    let out = stdout(&mut search(
        tmp.path(),
        &data,
        "spos",
        &[
            "--space", "chain", "--layers", "3", "--budget", "4", "--output", "found",
        ],
    ));
    assert!(out.contains("chain: "), "{out}");
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("found/architecture.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(doc["format"], "tuneforge-nas-chain/1");
    assert_eq!(doc["blocks"].as_array().map(Vec::len), Some(3));
    assert!(tmp.path().join("found/weights.safetensors").exists());
    let trials = export_trials(tmp.path(), "nas-spos-digits");
    assert_eq!(trials.len(), 1);
    assert_eq!(trials[0]["user_attrs"]["role"], "retrain");
    assert_eq!(trials[0]["user_attrs"]["cell"], doc["chain"]);
    let err = run_err(&mut search(
        tmp.path(),
        &data,
        "darts",
        &["--space", "chain", "--study", "refused"],
    ));
    assert!(err.contains("cell spaces only"), "{err}");
    let err = run_err(&mut search(
        tmp.path(),
        &data,
        "random",
        &["--space", "chain", "--layers", "2", "--study", "refused"],
    ));
    assert!(
        err.contains("a chain of 2 layers cannot fill 3 stages"),
        "{err}"
    );
    let err = run_err(&mut search(tmp.path(), &data, "spos", &["--space", "ring"]));
    assert!(err.contains("--space must be cell or chain"), "{err}");
    let list = stdout(tuneforge().current_dir(tmp.path()).args([
        "studies",
        "--storage",
        "sqlite://nas.db",
    ]));
    assert!(!list.contains("refused"), "{list}");
}

#[test]
fn bad_options_and_missing_data_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = digits_dir(tmp.path());
    let err = run_err(&mut search(
        tmp.path(),
        &data,
        "darts",
        &["--device", "tpu"],
    ));
    assert!(err.contains("unknown device 'tpu'"), "{err}");
    let err = run_err(&mut search(tmp.path(), &data, "bayes", &[]));
    assert!(err.contains("unknown method 'bayes'"), "{err}");
    let err = run_err(&mut search(
        tmp.path(),
        &data,
        "darts",
        &["--order", "third"],
    ));
    assert!(err.contains("--order must be first or second"), "{err}");
    let err = run_err(&mut search(tmp.path(), tmp.path(), "darts", &[]));
    assert!(err.contains("no digits files found"), "{err}");
    let err = run_err(&mut search(
        tmp.path(),
        &data,
        "darts",
        &["--channels", "0"],
    ));
    assert!(err.contains("at least one channel"), "{err}");
    for bad in [["--resolution", "1"], ["--batch", "0"]] {
        let err = run_err(
            tuneforge()
                .current_dir(tmp.path())
                .args(["nas", "latency"])
                .args(bad)
                .args(["--storage", "sqlite://nas.db"]),
        );
        assert!(
            err.contains("--resolution must be at least 2, --batch"),
            "{bad:?}: {err}"
        );
    }
    for step in ["0", "1.5", "NaN"] {
        let err = run_err(tuneforge().current_dir(tmp.path()).args([
            "nas",
            "scale",
            "--grid-step",
            step,
            "--storage",
            "sqlite://nas.db",
        ]));
        assert!(
            err.contains("--grid-step must be in (0, 1]"),
            "{step}: {err}"
        );
    }
    assert!(
        !tmp.path().join("nas.db").exists() || {
            let list = stdout(tuneforge().current_dir(tmp.path()).args([
                "studies",
                "--storage",
                "sqlite://nas.db",
            ]));
            !list.contains("nas-")
        }
    );
}

fn export_trials(dir: &Path, study: &str) -> Vec<serde_json::Value> {
    let export = stdout(tuneforge().current_dir(dir).args([
        "export",
        study,
        "--format",
        "json",
        "--storage",
        "sqlite://nas.db",
    ]));
    let doc: serde_json::Value = serde_json::from_str(&export).unwrap();
    doc["trials"].as_array().unwrap().clone()
}

#[test]
fn latency_measures_builds_a_lookup_table_and_records_each_sample() {
    let tmp = tempfile::tempdir().unwrap();
    let out = stdout(tuneforge().current_dir(tmp.path()).args([
        "nas",
        "latency",
        "--channels",
        "4",
        "--resolution",
        "8",
        "--batch",
        "4",
        "--samples",
        "3",
        "--repeats",
        "3",
        "--table",
        "table.json",
        "--storage",
        "sqlite://nas.db",
        "--cell",
        "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|nor_conv_1x1~1|nor_conv_3x3~2|",
    ]));
    assert!(
        out.contains("batch 1: median") && out.contains("batch 4: median"),
        "{out}"
    );
    assert!(out.contains("predictions within +-10%"), "{out}");
    let table: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("table.json")).unwrap())
            .unwrap();
    assert!(
        table["entries"]["conv3x3@0"].as_f64().unwrap() > 0.0,
        "{table}"
    );
    let trials = export_trials(tmp.path(), "nas-latency");
    assert_eq!(trials.len(), 6, "3 samples at each of 2 batch sizes");
    for t in &trials {
        assert!(t["values"][0].as_f64().unwrap() > 0.0);
        assert!(t["user_attrs"]["predicted_ms"].as_f64().unwrap() > 0.0);
    }
    let err = run_err(tuneforge().current_dir(tmp.path()).args([
        "nas",
        "latency",
        "--cell",
        "|bogus~0|",
    ]));
    assert!(err.contains("bogus"), "{err}");
}

#[test]
fn scaling_trains_the_grid_and_each_family_and_records_flops() {
    let tmp = tempfile::tempdir().unwrap();
    let data = digits_dir(tmp.path());
    let out = stdout(tuneforge().current_dir(tmp.path()).args([
        "nas",
        "scale",
        "--dataset",
        "digits",
        "--data-dir",
        data.to_str().unwrap(),
        "--width",
        "4",
        "--resolution",
        "8",
        "--max-phi",
        "1",
        "--grid-step",
        "0.5",
        "--tolerance",
        "0.15",
        "--epochs",
        "1",
        "--storage",
        "sqlite://nas.db",
    ]));
    // grid 1.0/1.5/2.0: (2,1,1), (1,1,√2≈1.5 -> 2.25 off), ... the points within 15% of 2
    assert!(
        out.contains("| compound | 1 |") && out.contains("| depth | 1 | 2 |"),
        "{out}"
    );
    let trials = export_trials(tmp.path(), "nas-scale-digits");
    let families: Vec<&str> = trials
        .iter()
        .map(|t| t["params"]["family"].as_str().unwrap())
        .collect();
    assert!(
        families.contains(&"grid")
            && families.contains(&"baseline")
            && families.contains(&"resolution")
    );
    assert!(
        trials
            .iter()
            .all(|t| t["user_attrs"]["macs"].as_u64().unwrap() > 0)
    );
    let err = run_err(tuneforge().current_dir(tmp.path()).args([
        "nas",
        "scale",
        "--dataset",
        "digits",
        "--data-dir",
        data.to_str().unwrap(),
        "--grid-step",
        "0.3",
        "--tolerance",
        "0.0001",
    ]));
    assert!(err.contains("widen --tolerance"), "{err}");
}

#[test]
fn a_latency_target_turns_candidate_scores_into_mnasnet_rewards() {
    let tmp = tempfile::tempdir().unwrap();
    let data = digits_dir(tmp.path());
    run_ok(&mut search(
        tmp.path(),
        &data,
        "random",
        &[
            "--budget",
            "2",
            "--epochs",
            "1",
            "--target-latency-ms",
            "0.5",
        ],
    ));
    let trials = export_trials(tmp.path(), "nas-random-digits");
    for t in trials
        .iter()
        .filter(|t| t["user_attrs"]["role"] == "candidate")
    {
        let acc = t["user_attrs"]["accuracy"].as_f64().unwrap();
        let lat = t["user_attrs"]["latency_ms"].as_f64().unwrap();
        let expect = acc * (lat / 0.5).powf(-0.07);
        assert!(
            (t["values"][0].as_f64().unwrap() - expect).abs() < 1e-9,
            "{t}"
        );
    }
}
