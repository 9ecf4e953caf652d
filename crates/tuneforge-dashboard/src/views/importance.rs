//! Parameter importance (fANOVA on a random forest, from `tuneforge::importance`) for the
//! dashboard: computed on at most [`MAX_TRIALS`] complete trials (the best tenth and an even
//! sample of the rest) and kept until the study has grown by a tenth or a minute has passed.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tuneforge::StudyView;
use tuneforge::importance::{Method, evaluate};

use super::stride;
use crate::snapshot::Snapshot;

/// Most complete trials the forest is fitted on.
pub const MAX_TRIALS: usize = 3000;
const MAX_AGE: Duration = Duration::from_secs(60);

fn compute(s: &Snapshot, obj: usize) -> Value {
    let dir = s.direction(obj);
    let mut done = s.complete_values(obj);
    let total = done.len();
    let chosen: Vec<tuneforge::FrozenTrial> = if done.len() <= MAX_TRIALS {
        done.into_iter().map(|(t, _)| t.clone()).collect()
    } else {
        done.sort_by(|a, b| dir.order(a.1, b.1));
        let top = MAX_TRIALS / 10;
        let rest = &done[top..];
        done[..top]
            .iter()
            .map(|(t, _)| (*t).clone())
            .chain(
                stride(rest.len(), MAX_TRIALS - top)
                    .into_iter()
                    .map(|k| rest[k].0.clone()),
            )
            .collect()
    };
    let used = chosen.len();
    let view = StudyView::new(s.record.directions.clone(), chosen);
    let seed = s
        .record
        .attrs
        .get(tuneforge::attrs::STUDY_SEED)
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    match evaluate(&view, obj, Method::Fanova, seed) {
        Ok(r) => json!({
            "objective": s.objectives.get(obj),
            "method": "fanova",
            "trials": used,
            "complete": total,
            "params": r.params.iter().map(|p| json!({
                "param": p.name,
                "importance": p.importance,
                "raw": p.raw,
                "marginal": p.marginal.iter().map(|(v, y)| json!([v.to_json(), y])).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "skipped": r.skipped,
        }),
        Err(e) => json!({
            "objective": s.objectives.get(obj),
            "method": "fanova",
            "trials": used,
            "complete": total,
            "params": [],
            "message": e.to_string(),
        }),
    }
}

/// The importance of each parameter for objective `obj`, from the cache when still fresh.
pub fn importance(s: &mut Snapshot, obj: usize) -> Value {
    let complete = s.complete_values(obj).len();
    if let Some((n, at, v)) = s.importance.get(&obj) {
        let grown = complete as f64 > *n as f64 * 1.1;
        if *n == complete || (!grown && at.elapsed() < MAX_AGE) {
            return v.clone();
        }
    }
    let v = compute(s, obj);
    s.importance
        .insert(obj, (complete, Instant::now(), v.clone()));
    v
}
