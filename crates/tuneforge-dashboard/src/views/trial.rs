//! One trial in full: parameters with their ranges, objectives, every intermediate metric,
//! attributes, the environment it ran in and its output (the log files when this machine
//! has them, else the tails kept in the storage).

use std::path::Path;

use serde_json::{Value, json};

use super::num;
use crate::snapshot::Snapshot;

/// The most of a log file returned (its end).
const LOG_BYTES: u64 = 64 * 1024;

fn tail_of_file(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len > LOG_BYTES {
        f.seek(SeekFrom::Start(len - LOG_BYTES)).ok()?;
    }
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf).into_owned())
}

/// The trial numbered `number`, or `None` when the study has none such.
pub fn trial(s: &Snapshot, number: u64) -> Option<Value> {
    let t = s.trial(number)?;
    let attr = |k: &str| t.system_attrs.get(k).and_then(|v| v.as_str());
    let mut logs = serde_json::Map::new();
    for (name, key) in tuneforge::runner::command::STREAMS {
        let file = tuneforge::runner::command::log_file(t, name)
            .and_then(|p| tail_of_file(&p).map(|text| (text, p.display().to_string())));
        let entry = match file {
            Some((text, whence)) => json!({"text": text, "source": whence}),
            None => match attr(key) {
                Some(text) => json!({"text": text, "source": "tail kept in the storage"}),
                None => continue,
            },
        };
        logs.insert(name.to_string(), entry);
    }
    let env = tuneforge::env::of_trial(&s.record, t).cloned();
    let params: Vec<Value> = t
        .params
        .iter()
        .map(|(k, v)| {
            json!({
                "name": k,
                "value": v.to_json(),
                "distribution": t.distributions.get(k).and_then(|d| serde_json::to_value(d).ok()),
            })
        })
        .collect();
    let mut metrics: indexmap::IndexMap<&str, Vec<Value>> = indexmap::IndexMap::new();
    for (step, m) in &t.intermediate {
        for (k, v) in m {
            metrics.entry(k).or_default().push(json!([step, num(*v)]));
        }
    }
    let system: serde_json::Map<String, Value> = t
        .system_attrs
        .iter()
        .filter(|(k, _)| {
            k.as_str() != tuneforge::attrs::STDOUT_TAIL
                && k.as_str() != tuneforge::attrs::STDERR_TAIL
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let values: Vec<Value> = s
        .objectives
        .iter()
        .enumerate()
        .map(|(i, name)| {
            json!({
                "name": name,
                "value": t.values.as_ref().and_then(|v| v.get(i)).map(|v| num(*v)),
                "direction": s.direction(i),
            })
        })
        .collect();
    Some(json!({
        "study": s.record.name,
        "number": t.number,
        "state": t.state.as_str(),
        "message": t.message,
        "values": values,
        "params": params,
        "intermediate": metrics,
        "user_attrs": t.user_attrs,
        "system_attrs": system,
        "worker": t.worker,
        "started_ms": t.started_ms,
        "finished_ms": t.finished_ms,
        "duration_s": t.duration_s().map(num),
        "environment": env,
        "logs": logs,
    }))
}
