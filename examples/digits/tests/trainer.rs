//! The example trainer prints tuneforge metric lines and rejects bad data with a clear error.

use std::io::Write;
use std::process::Command;

fn trainer() -> Command {
    Command::new(env!("CARGO_BIN_EXE_digits-mlp"))
}

fn data() -> String {
    std::path::PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
    )
    .join("data/digits.csv.gz")
    .display()
    .to_string()
}

#[test]
fn prints_one_report_per_epoch_then_the_final_metrics() {
    let out = trainer()
        .args([
            "--data",
            &data(),
            "--epochs",
            "3",
            "--lr",
            "0.1",
            "--momentum=0.9",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    for (i, l) in lines[..3].iter().enumerate() {
        assert_eq!(l["step"], i as u64 + 1);
        assert!(l["val_accuracy"].as_f64().unwrap() > 0.0);
    }
    let acc = lines[3]["val_accuracy"].as_f64().unwrap();
    assert!(acc > 0.8, "3 epochs of SGD with momentum reach {acc}");
    assert!(lines[3].get("step").is_none());
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = |seed: &str| {
        trainer()
            .args(["--data", &data(), "--epochs", "2", "--seed", seed])
            .output()
            .unwrap()
            .stdout
    };
    assert_eq!(run("4"), run("4"));
    assert_ne!(run("4"), run("5"));
}

#[test]
fn truncated_or_malformed_data_and_bad_options_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let full = std::fs::read(data()).unwrap();
    let truncated = dir.path().join("truncated.csv.gz");
    std::fs::write(&truncated, &full[..full.len() / 2]).unwrap();
    let out = trainer()
        .args(["--data", truncated.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("truncated.csv.gz"), "{err}");

    let bad = dir.path().join("bad.csv.gz");
    let mut gz =
        flate2::write::GzEncoder::new(std::fs::File::create(&bad).unwrap(), Default::default());
    gz.write_all(b"1,2,3\n").unwrap();
    gz.finish().unwrap();
    let out = trainer()
        .args(["--data", bad.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected 65 fields"));

    let out = trainer().args(["--optimizer", "rmsprop"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--optimizer must be sgd or adam"));
}

fn lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A run stopped after 2 epochs with a checkpoint and resumed to 5 prints epochs 3 to 5 and
/// ends exactly where one uninterrupted 5-epoch run ends (weights, Adam's moments and the
/// shuffling state all carry over); an empty `--resume=` starts afresh.
#[test]
fn a_resumed_run_continues_exactly_where_the_checkpoint_left_off() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().display().to_string();
    let base = [
        "--data",
        &data(),
        "--lr",
        "0.01",
        "--optimizer",
        "adam",
        "--seed",
        "3",
    ];
    let whole = lines(
        &trainer()
            .args(base)
            .args(["--epochs", "5"])
            .output()
            .unwrap(),
    );
    let first = lines(
        &trainer()
            .args(base)
            .args(["--epochs", "2", &format!("--checkpoint={ck}"), "--resume="])
            .output()
            .unwrap(),
    );
    assert_eq!(first[..2], whole[..2], "an empty --resume starts afresh");
    let rest = lines(
        &trainer()
            .args(base)
            .args(["--epochs", "5", "--resume", &ck])
            .output()
            .unwrap(),
    );
    let steps: Vec<u64> = rest.iter().filter_map(|l| l["step"].as_u64()).collect();
    assert_eq!(steps, vec![3, 4, 5]);
    assert_eq!(rest[..], whole[2..], "the same curve and final metrics");
}

#[test]
fn resuming_from_a_missing_or_mismatched_checkpoint_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let ck = dir.path().display().to_string();
    let fail = |args: &[&str]| {
        let out = trainer()
            .args(["--data", &data()])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let err = fail(&["--epochs", "3", "--resume", &ck]);
    assert!(err.contains("cannot read the checkpoint"), "{err}");
    let ok = trainer()
        .args([
            "--data",
            &data(),
            "--epochs",
            "1",
            "--hidden",
            "8",
            "--checkpoint",
            &ck,
        ])
        .output()
        .unwrap();
    assert!(ok.status.success());
    let err = fail(&["--epochs", "3", "--hidden", "16", "--resume", &ck]);
    assert!(err.contains("trained with hidden 8"), "{err}");
    std::fs::write(dir.path().join("checkpoint.json"), "{\"epoch\": 1").unwrap();
    let err = fail(&["--epochs", "3", "--hidden", "8", "--resume", &ck]);
    assert!(err.contains("not JSON"), "{err}");
}
