//! Experiment-management commands: `importance`, `logs`, `env`, `compare`, `import`.

use std::path::Path;

use tuneforge::importance::{self, Method};
use tuneforge::{Error, Result, StudyView};

use crate::resolve::{self, objective_names};
use crate::run::fmt_value;

/// `tuneforge importance`: per-parameter importance and, for fANOVA, marginal curves.
pub fn importance(
    study: &str,
    storage_flag: Option<&str>,
    method: &str,
    objective: Option<&str>,
    marginals: bool,
    json: bool,
) -> Result<u8> {
    let m = Method::parse(method).ok_or_else(|| {
        Error::invalid(format!("method '{method}' is not known: use fanova or ped-anova"))
    })?;
    let r = resolve::existing(study, storage_flag)?;
    let record = r.storage.load_study(&r.name)?;
    let names = objective_names(&record);
    let index = match objective {
        None => 0,
        Some(o) => names
            .iter()
            .position(|n| n == o)
            .or_else(|| o.parse::<usize>().ok().filter(|i| *i < names.len()))
            .ok_or_else(|| {
                Error::invalid(format!(
                    "objective '{o}' is not one of {}",
                    names.join(", ")
                ))
            })?,
    };
    let view = StudyView::new(record.directions.clone(), r.storage.all_trials(record.id)?);
    let seed = record
        .attrs
        .get(tuneforge::attrs::STUDY_SEED)
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    let started = std::time::Instant::now();
    let rep = importance::evaluate(&view, index, m, seed)?;
    let secs = started.elapsed().as_secs_f64();
    if json {
        let params: Vec<serde_json::Value> = rep
            .params
            .iter()
            .map(|p| {
                serde_json::json!({
                    "param": p.name,
                    "importance": p.importance,
                    "raw": p.raw,
                    "marginal": p.marginal.iter().map(|(v, y)| serde_json::json!([v.to_json(), y])).collect::<Vec<_>>(),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "study": r.name,
            "objective": names[index],
            "method": method,
            "trials": rep.trials,
            "params": params,
            "skipped": rep.skipped,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return Ok(0);
    }
    println!(
        "importance of the parameters for {} ({}, {} complete trials, {:.2} s)",
        names[index],
        if m == Method::Fanova {
            "fANOVA, main effects"
        } else {
            "PED-ANOVA, top 10% vs all"
        },
        rep.trials,
        secs
    );
    let width = rep.params.iter().map(|p| p.name.len()).max().unwrap_or(5);
    for p in &rep.params {
        let bar = "#".repeat((p.importance * 40.0).round() as usize);
        let extra = if m == Method::Fanova {
            format!("  ({:.1}% of the variance alone)", 100.0 * p.raw)
        } else {
            String::new()
        };
        println!(
            "  {:<width$}  {:>5.1}%  {bar}{extra}",
            p.name,
            100.0 * p.importance
        );
    }
    if !rep.skipped.is_empty() {
        println!(
            "  not rated (absent from some trials): {}",
            rep.skipped.join(", ")
        );
    }
    if marginals && m == Method::Fanova {
        for p in &rep.params {
            println!("marginal of {} ({} with the others averaged out):", p.name, names[index]);
            for (v, y) in &p.marginal {
                let v = match v {
                    tuneforge::ParamValue::Float(f) => fmt_value(*f),
                    other => other.to_string(),
                };
                println!("  {v:>12}  {}", fmt_value(*y));
            }
        }
    }
    Ok(0)
}

/// `tuneforge logs`: the captured output of one trial.
pub fn logs(study: &str, trial: u64, storage_flag: Option<&str>) -> Result<u8> {
    let r = resolve::existing(study, storage_flag)?;
    let record = r.storage.load_study(&r.name)?;
    let t = r.storage.trial_by_number(record.id, trial)?;
    let attr = |k: &str| {
        t.system_attrs
            .get(k)
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    let workdir = attr(tuneforge::attrs::WORKDIR);
    println!(
        "trial {} of '{}': {}{}",
        t.number,
        r.name,
        t.state,
        t.message
            .as_deref()
            .map(|m| format!(" ({m})"))
            .unwrap_or_default()
    );
    if let Some(c) = attr(tuneforge::attrs::COMMAND) {
        println!("command: {c}");
    }
    let mut shown = false;
    for (name, key) in [
        ("stdout", tuneforge::attrs::STDOUT_TAIL),
        ("stderr", tuneforge::attrs::STDERR_TAIL),
    ] {
        // The full log when this machine has it, else the tail kept in the storage.
        let file = workdir
            .as_ref()
            .map(|w| Path::new(w).join(format!("{name}.log")))
            .filter(|p| p.is_file());
        let (text, whence) = match &file {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?,
                p.display().to_string(),
            ),
            None => match attr(key) {
                Some(t) => (t, "tail kept in the storage".to_string()),
                None => continue,
            },
        };
        shown = true;
        println!("---- {name} ({whence})");
        print!("{text}");
        if !text.is_empty() && !text.ends_with('\n') {
            println!();
        }
    }
    if !shown {
        println!("(no output was captured: the trial did not run a command)");
    }
    Ok(0)
}
