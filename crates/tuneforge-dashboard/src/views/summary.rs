//! The study list and one study's summary: counts by state, best result, parameters, metrics,
//! the pruner, timing.

use serde_json::{Value, json};
use tuneforge::TrialState;

use super::{Axis, metric_names, num, param_names, pruner_name};
use crate::snapshot::Snapshot;

fn counts(s: &Snapshot) -> Value {
    let mut c = serde_json::Map::new();
    for state in [
        TrialState::Waiting,
        TrialState::Running,
        TrialState::Complete,
        TrialState::Pruned,
        TrialState::Failed,
    ] {
        let n = s.trials.iter().filter(|t| t.state == state).count();
        c.insert(state.as_str().to_string(), json!(n));
    }
    Value::Object(c)
}

/// The best trial (one objective) or the size of the Pareto set (several).
fn best(s: &Snapshot) -> Value {
    if s.record.directions.len() != 1 {
        let front = super::pareto::front_numbers(s, 0, 1);
        return json!({"pareto_size": front.len()});
    }
    let dir = s.direction(0);
    let best = s
        .complete_values(0)
        .into_iter()
        .reduce(|a, b| if dir.better(b.1, a.1) { b } else { a });
    match best {
        None => Value::Null,
        Some((t, v)) => json!({
            "number": t.number,
            "value": v,
            "params": t.params.iter().map(|(k, p)| (k.clone(), p.to_json())).collect::<serde_json::Map<_, _>>(),
        }),
    }
}

/// One line of the study list.
pub fn list_entry(s: &Snapshot) -> Value {
    let last = s
        .trials
        .iter()
        .filter_map(|t| t.finished_ms.or(t.started_ms))
        .max();
    json!({
        "name": s.record.name,
        "directions": s.record.directions,
        "objectives": s.objectives,
        "trials": s.trials.len(),
        "counts": counts(s),
        "best": best(s),
        "created_ms": s.record.created_ms,
        "last_activity_ms": last,
    })
}

/// One study's summary.
pub fn summary(s: &Snapshot) -> Value {
    let mut v = list_entry(s);
    let names = param_names(s);
    let axes: Vec<Value> = names
        .iter()
        .filter_map(|n| Axis::of(n, s.trials.iter()))
        .map(|a| a.to_json())
        .collect();
    let pruner = s.pruner.as_ref().map(|p| {
        json!({
            "rule": pruner_name(p.kind),
            "metric": p.metric,
            "min_resource": p.min_resource,
            "max_resource": p.max_resource,
            "reduction_factor": p.reduction_factor,
            "promote": p.promote,
        })
    });
    let durations: Vec<f64> = s.trials.iter().filter_map(|t| t.duration_s()).collect();
    let mean_duration = if durations.is_empty() {
        Value::Null
    } else {
        num(durations.iter().sum::<f64>() / durations.len() as f64)
    };
    let envs = s
        .record
        .attrs
        .keys()
        .filter(|k| k.starts_with(tuneforge::attrs::ENV_PREFIX))
        .count();
    let attrs: serde_json::Map<String, Value> = s
        .record
        .attrs
        .iter()
        .filter(|(k, _)| {
            !k.starts_with(tuneforge::attrs::ENV_PREFIX)
                && k.as_str() != tuneforge::attrs::STUDY_FILE
                && k.as_str() != tuneforge::attrs::OBJECTIVE_NAMES
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    v["params"] = json!(axes);
    v["metrics"] = json!(metric_names(s));
    v["pruner"] = pruner.unwrap_or(Value::Null);
    v["mean_duration_s"] = mean_duration;
    v["environments"] = json!(envs);
    v["attrs"] = Value::Object(attrs);
    v["study_file"] = s
        .record
        .attrs
        .get(tuneforge::attrs::STUDY_FILE)
        .cloned()
        .unwrap_or(Value::Null);
    v["seq"] = json!(s.seq);
    v
}

/// What the page polls to learn whether anything changed.
pub fn version(s: &Snapshot) -> Value {
    json!({"seq": s.seq, "trials": s.trials.len()})
}
