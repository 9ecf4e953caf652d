//! Helpers shared by the end-to-end tests of the `tuneforge` command.
#![allow(dead_code)] // each test file uses its own subset

use std::path::Path;
use std::process::{Command, Output};

/// The `tuneforge` binary under test.
pub fn tuneforge() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tuneforge"))
}

/// Runs `cmd` and fails the test, with its output, unless it succeeds.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}\n{}",
        cmd,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// Runs `cmd` and fails the test, with its output, unless it fails; returns its standard error.
pub fn run_err(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        !out.status.success(),
        "{:?} succeeded: {}",
        cmd,
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// The standard output of a command that must succeed.
pub fn stdout(cmd: &mut Command) -> String {
    String::from_utf8_lossy(&run_ok(cmd).stdout).to_string()
}

/// Every trial of a study, from the lossless JSON export.
pub fn trials(dir: &Path, study_file: &str) -> Vec<serde_json::Value> {
    let out = run_ok(
        tuneforge()
            .current_dir(dir)
            .args(["export", study_file, "--format", "json"]),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["trials"].as_array().unwrap().clone()
}
