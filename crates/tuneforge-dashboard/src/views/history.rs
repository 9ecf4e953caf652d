//! Optimisation history: each complete trial's objective by trial number (downsampled to
//! the extremes of each bucket), the exact best-so-far step line, and pruned trials at their
//! last reported value of the pruning metric.

use serde_json::{Value, json};
use tuneforge::TrialState;

use super::{downsample, pairs, pruning_metric};
use crate::snapshot::Snapshot;

/// Points per series when the page does not say.
pub const DEFAULT_POINTS: usize = 2000;

/// The history of objective `obj`, at most `max_points` points per series.
pub fn history(s: &Snapshot, obj: usize, max_points: usize) -> Value {
    let dir = s.direction(obj);
    let points: Vec<(u64, f64)> = s
        .complete_values(obj)
        .iter()
        .map(|(t, v)| (t.number, *v))
        .collect();
    let mut best: Vec<(u64, f64)> = Vec::new();
    for &(n, v) in &points {
        if best.last().is_none_or(|&(_, b)| dir.better(v, b)) {
            best.push((n, v));
        }
    }
    let metric = pruning_metric(s);
    let pruned: Vec<(u64, f64)> = s
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Pruned)
        .filter_map(|t| {
            let (_, v) = t.last_intermediate(&metric)?;
            v.is_finite().then_some((t.number, v))
        })
        .collect();
    let failed = s
        .trials
        .iter()
        .filter(|t| t.state == TrialState::Failed)
        .count();
    json!({
        "objective": s.objectives.get(obj),
        "direction": dir,
        "complete": points.len(),
        "points": pairs(&downsample(&points, max_points)),
        "best": pairs(&best),
        "pruned_metric": metric,
        "pruned_total": pruned.len(),
        "pruned": pairs(&downsample(&pruned, max_points / 2)),
        "failed": failed,
        "trials": s.trials.len(),
    })
}
