//! `tuneforge ask` / `tuneforge tell`: drive a study one trial at a time from any program.
//!
//! `ask` prints `{"study": ..., "trial": N, "seed": S, "params": {...}}`. `tell` takes the result
//! as options (`--trial N --value V`, `--values a,b`, `--state pruned|failed --message M`) or as
//! JSON (`--json '{"trial": N, "values": [..]}'`, or `--json -` to read standard input) and prints
//! the finished trial as JSON.

use std::io::Read;
use std::path::Path;

use tuneforge::studyfile::StudyFile;
use tuneforge::{Error, Outcome, Result, Study};

use crate::resolve;

/// Options of `tuneforge tell`.
#[derive(clap::Args)]
pub struct TellArgs {
    /// Study file or study name.
    pub study: String,
    /// The trial number printed by `ask`.
    #[arg(long)]
    pub trial: Option<u64>,
    /// The objective value (single-objective studies).
    #[arg(long, allow_hyphen_values = true, conflicts_with = "values")]
    pub value: Option<f64>,
    /// The objective values, comma-separated, one per objective.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub values: Option<Vec<f64>>,
    /// How the trial ended: complete (default when values are given), pruned or failed.
    #[arg(long)]
    pub state: Option<String>,
    /// Why the trial failed or was pruned.
    #[arg(long)]
    pub message: Option<String>,
    /// The whole result as JSON (`-` reads standard input).
    #[arg(long, conflicts_with_all = ["trial", "value", "values", "state", "message"])]
    pub json: Option<String>,
}

/// Opens (creating if needed) the study of a study file, or an existing study by name.
fn study_for(arg: &str, storage_flag: Option<&str>) -> Result<(Study, StudyFile)> {
    let path = Path::new(arg);
    let file = if path.is_file() {
        StudyFile::load(path)?
    } else {
        let r = resolve::existing(arg, storage_flag)?;
        r.file.ok_or_else(|| {
            Error::invalid(format!(
                "study '{arg}' was not created from a study file, so its search space is unknown; \
                 pass the study file instead"
            ))
        })?
    };
    let url = storage_flag
        .map(str::to_string)
        .unwrap_or_else(|| file.storage_url());
    let storage = resolve::open(&url, false)?;
    let (study, _) = resolve::open_study(&file, storage)?;
    Ok((study, file))
}

pub fn ask(arg: &str, storage_flag: Option<&str>) -> Result<u8> {
    let (study, file) = study_for(arg, storage_flag)?;
    let mut trial = study.ask_detached()?;
    // Marks the trial as driven from outside: no process of ours runs it.
    trial.set_system_attr("ask", true.into())?;
    let params = match file.space.suggest_all(&mut trial) {
        Ok(p) => p,
        Err(e) => {
            let msg = e.to_string();
            study.tell(trial, Outcome::Failed(msg.clone()))?;
            return Err(Error::invalid(msg));
        }
    };
    let params: serde_json::Map<String, serde_json::Value> = params
        .iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "study": study.name(),
            "trial": trial.number(),
            "seed": trial.seed(),
            "params": params,
        })
    );
    Ok(0)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TellJson {
    trial: u64,
    value: Option<f64>,
    values: Option<Vec<f64>>,
    state: Option<String>,
    message: Option<String>,
}

pub fn tell(args: TellArgs, storage_flag: Option<&str>) -> Result<u8> {
    let t = match &args.json {
        Some(src) => {
            let text = if src == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| Error::io("<stdin>", e))?;
                s
            } else {
                src.clone()
            };
            serde_json::from_str::<TellJson>(&text)
                .map_err(|e| Error::invalid(format!("--json: {e}")))?
        }
        None => TellJson {
            trial: args
                .trial
                .ok_or_else(|| Error::invalid("--trial is required (the number printed by ask)"))?,
            value: args.value,
            values: args.values.clone(),
            state: args.state.clone(),
            message: args.message.clone(),
        },
    };
    let values = match (t.value, t.values) {
        (Some(_), Some(_)) => return Err(Error::invalid("give either value or values, not both")),
        (Some(v), None) => Some(vec![v]),
        (None, v) => v,
    };
    let state = t
        .state
        .as_deref()
        .unwrap_or(if values.is_some() { "complete" } else { "" });
    if values.is_some() && state != "complete" {
        return Err(Error::invalid(format!(
            "values cannot be given for a {state} trial"
        )));
    }
    let outcome = match state {
        "complete" => Outcome::Complete(
            values.ok_or_else(|| Error::invalid("a complete trial needs --value or --values"))?,
        ),
        "pruned" => Outcome::Pruned,
        "failed" | "fail" => Outcome::Failed(
            t.message
                .unwrap_or_else(|| "reported as failed by tell".into()),
        ),
        "" => {
            return Err(Error::invalid(
                "give --value/--values, or --state pruned|failed",
            ));
        }
        other => {
            return Err(Error::invalid(format!(
                "state '{other}' is not understood: use complete, pruned or failed"
            )));
        }
    };
    let (study, _) = study_for(&args.study, storage_flag)?;
    let done = study.tell_number(t.trial, outcome)?;
    println!(
        "{}",
        serde_json::json!({
            "study": study.name(),
            "trial": done.number,
            "state": done.state,
            "values": done.values,
            "message": done.message,
        })
    );
    Ok(0)
}
