//! Read-only commands: `studies`, `trials`, `best`, `export`.

use std::io::Write;
use std::path::Path;

use tuneforge::{Error, FrozenTrial, Result, TrialState};

use crate::resolve;
use crate::run::fmt_value;

/// Export formats.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// One row per trial; parameters, values and attributes as columns.
    Csv,
    /// The study and every trial, lossless (`tuneforge import` reads it back).
    Json,
    /// One row per trial, typed columns (Apache Parquet).
    Parquet,
    /// A TensorBoard log directory: each trial's curves and the HParams dashboard.
    Tensorboard,
}

pub fn studies(storage_flag: Option<&str>) -> Result<u8> {
    let url = storage_flag
        .map(str::to_string)
        .unwrap_or_else(resolve::default_url);
    let storage = resolve::open(&url, true)?;
    let list = storage.list_studies()?;
    if list.is_empty() {
        println!("no studies in {}", tuneforge::storage::redact(&url));
        return Ok(0);
    }
    let mut rows = vec![vec![
        "study".to_string(),
        "directions".into(),
        "trials".into(),
        "complete".into(),
        "running".into(),
        "failed".into(),
        "best".into(),
    ]];
    for r in list {
        let trials = storage.all_trials(r.id)?;
        let n = |s: TrialState| trials.iter().filter(|t| t.state == s).count().to_string();
        let view = tuneforge::StudyView::new(r.directions.clone(), trials.clone());
        let best = tuneforge::study::best_trials_of(&view);
        let best = match (r.directions.len(), best.first()) {
            (1, Some(b)) => format!(
                "{} (#{})",
                fmt_value(b.value().unwrap_or(f64::NAN)),
                b.number
            ),
            (_, Some(_)) => format!("{} Pareto", best.len()),
            _ => "-".into(),
        };
        let dirs: Vec<String> = r
            .directions
            .iter()
            .map(|d| format!("{d:?}").to_lowercase())
            .collect();
        rows.push(vec![
            r.name.clone(),
            dirs.join(","),
            trials.len().to_string(),
            n(TrialState::Complete),
            n(TrialState::Running),
            n(TrialState::Failed),
            best,
        ]);
    }
    print_table(&rows);
    Ok(0)
}

fn param_names(trials: &[FrozenTrial]) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for t in trials {
        for k in t.params.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    names
}

pub fn trials(study: &str, storage_flag: Option<&str>) -> Result<u8> {
    let r = resolve::existing(study, storage_flag)?;
    let record = r.storage.load_study(&r.name)?;
    let trials = r.storage.all_trials(record.id)?;
    let objectives = record.objective_names();
    let params = param_names(&trials);
    let mut header = vec!["#".to_string(), "state".into()];
    header.extend(objectives.iter().cloned());
    header.push("seconds".into());
    header.extend(params.iter().cloned());
    header.push("message".into());
    let mut rows = vec![header];
    for t in &trials {
        let mut row = vec![t.number.to_string(), t.state.to_string()];
        for i in 0..objectives.len() {
            row.push(
                t.values
                    .as_ref()
                    .and_then(|v| v.get(i))
                    .map(|v| fmt_value(*v))
                    .unwrap_or_else(|| "-".into()),
            );
        }
        row.push(
            t.duration_s()
                .map(|d| format!("{d:.1}"))
                .unwrap_or_else(|| "-".into()),
        );
        for p in &params {
            row.push(
                t.params
                    .get(p)
                    .map(|v| short(&v.to_string(), 14))
                    .unwrap_or_else(|| "-".into()),
            );
        }
        row.push(short(t.message.as_deref().unwrap_or(""), 60));
        rows.push(row);
    }
    if trials.is_empty() {
        println!("study '{}' has no trials yet", r.name);
    } else {
        print_table(&rows);
    }
    Ok(0)
}

pub fn best(study: &str, storage_flag: Option<&str>, json: bool) -> Result<u8> {
    let r = resolve::existing(study, storage_flag)?;
    let record = r.storage.load_study(&r.name)?;
    let view =
        tuneforge::StudyView::new(record.directions.clone(), r.storage.all_trials(record.id)?);
    let best = tuneforge::study::best_trials_of(&view);
    let objectives = record.objective_names();
    if best.is_empty() {
        return Err(Error::invalid(format!(
            "study '{}' has no complete trial yet",
            r.name
        )));
    }
    if json {
        let items: Vec<serde_json::Value> =
            best.iter().map(|t| trial_json(t, &objectives)).collect();
        let out = if record.directions.len() == 1 {
            items[0].clone()
        } else {
            serde_json::Value::Array(items)
        };
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return Ok(0);
    }
    if best.len() > 1 || record.directions.len() > 1 {
        println!("Pareto set of study '{}': {} trial(s)", r.name, best.len());
    }
    for t in &best {
        let vals: Vec<String> = objectives
            .iter()
            .zip(t.values.iter().flatten())
            .map(|(m, v)| format!("{m} = {}", fmt_value(*v)))
            .collect();
        println!("trial {}: {}", t.number, vals.join(", "));
        if let Some(a) = crate::resolve::architecture_string(r.file.as_ref(), &t.params) {
            println!("  architecture = {a}");
        }
        for (k, v) in &t.params {
            println!("  {k} = {v}");
        }
    }
    Ok(0)
}

/// A trial as a JSON object with named values.
fn trial_json(t: &FrozenTrial, objectives: &[String]) -> serde_json::Value {
    let values: serde_json::Map<String, serde_json::Value> = objectives
        .iter()
        .zip(t.values.iter().flatten())
        .map(|(m, v)| (m.clone(), serde_json::json!(v)))
        .collect();
    let params: serde_json::Map<String, serde_json::Value> = t
        .params
        .iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect();
    serde_json::json!({
        "trial": t.number,
        "state": t.state,
        "values": values,
        "params": params,
        "user_attrs": t.user_attrs,
    })
}

pub fn export(
    study: &str,
    storage_flag: Option<&str>,
    format: ExportFormat,
    output: Option<&Path>,
) -> Result<u8> {
    let r = resolve::existing(study, storage_flag)?;
    let record = r.storage.load_study(&r.name)?;
    let mut trials = r.storage.all_trials(record.id)?;
    // Every row carries its seed, recorded or derived from the study seed and trial number.
    for t in trials.iter_mut() {
        if let Some(seed) = tuneforge::seed::recorded_trial_seed(&record, t) {
            t.system_attrs
                .insert(tuneforge::attrs::SEED.into(), seed.into());
        }
    }
    let objectives = record.objective_names();
    // Text formats go to the file, or to standard output without one.
    let text_out = || -> Result<Box<dyn Write>> {
        Ok(match output {
            Some(p) => Box::new(std::fs::File::create(p).map_err(|e| Error::io(p, e))?),
            None => Box::new(std::io::stdout()),
        })
    };
    match format {
        ExportFormat::Tensorboard => {
            let dir = output
                .ok_or_else(|| Error::invalid("give the log directory to write with -o DIR"))?;
            crate::tensorboard::export(&record, &objectives, &trials, dir)?;
        }
        ExportFormat::Parquet => {
            let path = output.ok_or_else(|| {
                Error::invalid("Parquet is binary: give the output file with -o FILE.parquet")
            })?;
            crate::table::write_parquet(&crate::table::build(&objectives, &trials), path)?;
        }
        ExportFormat::Csv => {
            crate::table::write_csv(&crate::table::build(&objectives, &trials), text_out()?)?;
        }
        ExportFormat::Json => {
            let text = serde_json::to_string_pretty(&json_document(&record, &trials)?)
                .map_err(|e| Error::invalid(e.to_string()))?;
            writeln!(text_out()?, "{text}")
                .map_err(|e| Error::io(output.unwrap_or(Path::new("<stdout>")), e))?;
        }
    }
    Ok(0)
}

/// The lossless JSON export: the study record and every trial. JSON has no NaN or infinity,
/// so non-finite metrics are written as the strings "NaN", "inf", "-inf" (as the storage keeps
/// them), which `tuneforge import` reads back.
fn json_document(
    record: &tuneforge::StudyRecord,
    trials: &[FrozenTrial],
) -> Result<serde_json::Value> {
    let mut rows = serde_json::to_value(trials)?;
    if let Some(rows) = rows.as_array_mut() {
        for (row, t) in rows.iter_mut().zip(trials) {
            for (step, m) in &t.intermediate {
                for (k, v) in m {
                    if !v.is_finite() {
                        row["intermediate"][step.to_string()][k] =
                            serde_json::Value::String(format!("{v}"));
                    }
                }
            }
        }
    }
    Ok(serde_json::json!({
        "format": "tuneforge-study",
        "version": 1,
        "study": record,
        "trials": rows,
    }))
}

fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n.saturating_sub(1)).collect();
        format!("{t}…")
    }
}

fn print_table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .map(|r| r.get(c).map(|s| s.chars().count()).unwrap_or(0))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{s:<w$}", w = widths[i]))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
}
