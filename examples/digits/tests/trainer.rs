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
