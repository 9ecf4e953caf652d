//! Experiment-management commands: `importance`, `logs`, `env`, `compare`, `import`.

use std::path::Path;

use tuneforge::importance::{self, Method};
use tuneforge::{Error, Result, StudyView};

use crate::resolve;
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
        Error::invalid(format!(
            "method '{method}' is not known: use fanova or ped-anova"
        ))
    })?;
    let r = resolve::existing(study, storage_flag)?;
    let record = r.storage.load_study(&r.name)?;
    let names = record.objective_names();
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
            println!(
                "marginal of {} ({} with the others averaged out):",
                p.name, names[index]
            );
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
    for (name, key) in tuneforge::runner::command::STREAMS {
        // The full log when this machine has it, else the tail kept in the storage.
        let file = tuneforge::runner::command::log_file(&t, name);
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

type EnvMap = serde_json::Map<String, serde_json::Value>;

/// The environments recorded with a study, with the number of trials that ran in each, most
/// used first.
fn environments(
    record: &tuneforge::StudyRecord,
    trials: &[tuneforge::FrozenTrial],
) -> Vec<(String, EnvMap, usize)> {
    let mut envs: Vec<(String, EnvMap, usize)> = record
        .attrs
        .iter()
        .filter_map(|(k, v)| {
            let id = k.strip_prefix(tuneforge::attrs::ENV_PREFIX)?;
            let count = trials
                .iter()
                .filter(|t| {
                    t.system_attrs
                        .get(tuneforge::attrs::ENV)
                        .and_then(|e| e.as_str())
                        == Some(id)
                })
                .count();
            Some((id.to_string(), v.as_object()?.clone(), count))
        })
        .collect();
    envs.sort_by(|a, b| b.2.cmp(&a.2).then(a.0.cmp(&b.0)));
    envs
}

fn print_env(e: &EnvMap) {
    let width = e.keys().map(String::len).max().unwrap_or(0);
    for (k, v) in e {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        println!("  {k:<width$}  {v}");
    }
}

/// `tuneforge env`: the environments a study's trials ran in; warns when there are several.
pub fn env(study: &str, storage_flag: Option<&str>) -> Result<u8> {
    let r = resolve::existing(study, storage_flag)?;
    let record = r.storage.load_study(&r.name)?;
    let trials = r.storage.all_trials(record.id)?;
    let envs = environments(&record, &trials);
    if envs.is_empty() {
        println!(
            "study '{}' has no recorded environment (its trials did not run a command)",
            r.name
        );
        return Ok(0);
    }
    for (id, e, n) in &envs {
        println!("environment {id} ({n} trial(s)):");
        print_env(e);
    }
    if envs.len() > 1 {
        eprintln!(
            "warning: the trials of '{}' ran in {} different environments; they differ from {} in:",
            r.name,
            envs.len(),
            envs[0].0
        );
        for (id, e, _) in &envs[1..] {
            for (k, a, b) in tuneforge::env::differences(&envs[0].1, e) {
                eprintln!("  {id}: {k}: {a} -> {b}");
            }
        }
    }
    Ok(0)
}

/// `tuneforge compare`: best values and configurations of two studies side by side, and how
/// their environments differ.
pub fn compare(a: &str, b: &str, storage_flag: Option<&str>) -> Result<u8> {
    let ra = resolve::existing(a, storage_flag)?;
    let rb = resolve::existing(b, storage_flag)?;
    let load = |r: &resolve::Resolved| -> Result<_> {
        let rec = r.storage.load_study(&r.name)?;
        let trials = r.storage.all_trials(rec.id)?;
        let view = StudyView::new(rec.directions.clone(), trials.clone());
        let best = tuneforge::study::best_trials_of(&view);
        Ok((rec, trials, best))
    };
    let (reca, ta, ba) = load(&ra)?;
    let (recb, tb, bb) = load(&rb)?;
    let names = reca.objective_names();
    if reca.directions != recb.directions {
        println!("note: the studies have different directions; values are shown as they are");
    }
    let count = |ts: &[tuneforge::FrozenTrial]| {
        ts.iter()
            .filter(|t| t.state == tuneforge::TrialState::Complete)
            .count()
    };
    let mut rows = vec![vec![String::new(), ra.name.clone(), rb.name.clone()]];
    rows.push(vec![
        "complete trials".into(),
        count(&ta).to_string(),
        count(&tb).to_string(),
    ]);
    let first = |b: &[tuneforge::FrozenTrial]| b.first().cloned();
    let (fa, fb) = (first(&ba), first(&bb));
    rows.push(vec![
        "best trial".into(),
        fa.as_ref().map_or("-".into(), |t| t.number.to_string()),
        fb.as_ref().map_or("-".into(), |t| t.number.to_string()),
    ]);
    for (i, n) in names.iter().enumerate() {
        let v = |t: &Option<tuneforge::FrozenTrial>| {
            t.as_ref()
                .and_then(|t| t.values.as_ref()?.get(i).copied())
                .map_or("-".into(), fmt_value)
        };
        rows.push(vec![format!("best {n}"), v(&fa), v(&fb)]);
    }
    let mut params: Vec<String> = fa
        .iter()
        .chain(fb.iter())
        .flat_map(|t| t.params.keys().cloned())
        .collect();
    params.sort();
    params.dedup();
    for p in params {
        let v = |t: &Option<tuneforge::FrozenTrial>| {
            t.as_ref()
                .and_then(|t| t.params.get(&p))
                .map_or("-".into(), |v| v.to_string())
        };
        let (x, y) = (v(&fa), v(&fb));
        let mark = if x != y { " *" } else { "" };
        rows.push(vec![format!("  {p}{mark}"), x, y]);
    }
    let width: Vec<usize> = (0..3)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        println!(
            "{:<w0$}  {:<w1$}  {}",
            r[0],
            r[1],
            r[2],
            w0 = width[0],
            w1 = width[1]
        );
    }
    if ba.len() > 1 || bb.len() > 1 {
        println!(
            "Pareto sets: {} and {} trial(s); the first of each is shown",
            ba.len(),
            bb.len()
        );
    }
    let ea = environments(&reca, &ta);
    let eb = environments(&recb, &tb);
    match (ea.first(), eb.first()) {
        (Some((ia, a, _)), Some((ib, b, _))) => {
            let d = tuneforge::env::differences(a, b);
            if d.is_empty() {
                println!("environments: identical ({ia})");
            } else {
                println!("environments differ ({ia} vs {ib}):");
                for (k, x, y) in d {
                    println!("  {k}: {x} | {y}");
                }
            }
        }
        _ => println!("environments: not recorded for both studies"),
    }
    Ok(0)
}

/// Reads a trial of an export, turning the strings "NaN", "inf", "-inf" back into numbers.
fn trial_from_export(mut v: serde_json::Value) -> Result<tuneforge::FrozenTrial> {
    // Non-finite metrics come as strings: parse them, put a placeholder, patch after.
    let mut specials = Vec::new();
    if let Some(steps) = v.get_mut("intermediate").and_then(|i| i.as_object_mut()) {
        for (step, m) in steps.iter_mut() {
            for (k, x) in m.as_object_mut().into_iter().flatten() {
                if let Some(text) = x.as_str() {
                    let f: f64 = text.parse().map_err(|_| {
                        Error::invalid(format!("metric value '{text}' is not a number"))
                    })?;
                    specials.push((step.clone(), k.clone(), f));
                    *x = serde_json::json!(0.0);
                }
            }
        }
    }
    let mut t: tuneforge::FrozenTrial = serde_json::from_value(v)
        .map_err(|e| Error::invalid(format!("not a trial of a tuneforge export: {e}")))?;
    for (step, k, f) in specials {
        if let Ok(s) = step.parse::<u64>()
            && let Some(m) = t.intermediate.get_mut(&s)
        {
            m.insert(k, f);
        }
    }
    Ok(t)
}

/// `tuneforge import`: creates a study from a JSON export (`tuneforge export --format json`).
pub fn import(file: &Path, name: Option<&str>, storage_flag: Option<&str>) -> Result<u8> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::io(file, e))?;
    let doc: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::invalid(format!("{}: not JSON: {e}", file.display())))?;
    if doc.get("format").and_then(|f| f.as_str()) != Some("tuneforge-study") {
        return Err(Error::invalid(format!(
            "{}: not a tuneforge export (write one with `tuneforge export STUDY --format json`)",
            file.display()
        )));
    }
    let version = doc.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if version != 1 {
        return Err(Error::invalid(format!(
            "{}: export format version {version} is not supported (this tuneforge reads 1)",
            file.display()
        )));
    }
    let record: tuneforge::StudyRecord = serde_json::from_value(doc["study"].clone())
        .map_err(|e| Error::invalid(format!("{}: bad study record: {e}", file.display())))?;
    let rows = doc["trials"].as_array().cloned().unwrap_or_default();
    let mut trials = rows
        .into_iter()
        .map(trial_from_export)
        .collect::<Result<Vec<_>>>()?;
    trials.sort_by_key(|t| t.number);
    for (i, t) in trials.iter().enumerate() {
        if t.number != i as u64 {
            return Err(Error::invalid(format!(
                "{}: trial numbers are not 0..{} (trial {} is missing)",
                file.display(),
                trials.len(),
                i
            )));
        }
    }
    let name = name.unwrap_or(&record.name);
    let url = storage_flag
        .map(str::to_string)
        .unwrap_or_else(resolve::default_url);
    let storage = resolve::open(&url, false)?;
    let created = storage.create_study(name, &record.directions, &record.attrs)?;
    for t in &trials {
        storage.import_trial(created.id, t)?;
    }
    println!(
        "imported study '{name}' ({} trials) into {}",
        trials.len(),
        tuneforge::storage::redact(&url)
    );
    Ok(0)
}
