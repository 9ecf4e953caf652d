//! Early stopping at a glance: for rung-based rules (ASHA, Hyperband, promotion schedules) the
//! rungs `min_resource · η^k` with how many trials reached each, were stopped there, finished
//! there or are running there, and the best value of the pruning metric at the rung; for every
//! study, a histogram of the step at which pruned trials were stopped.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tuneforge::TrialState;
use tuneforge::studyfile::PrunerKind;

use super::{num, pruner_name, pruning_metric};
use crate::snapshot::Snapshot;

/// Bars of the stopped-at histogram.
const HISTOGRAM_BARS: usize = 30;

/// The rungs and the stopped-at histogram.
pub fn rungs(s: &Snapshot) -> Value {
    let spec = s.pruner.as_ref();
    let metric = pruning_metric(s);
    let direction = spec
        .as_ref()
        .map(|p| p.direction)
        .unwrap_or_else(|| s.direction(0));
    // How far each trial got: its last step of the metric, or its budget once complete.
    let reach: Vec<(TrialState, u64)> = s
        .trials
        .iter()
        .map(|t| {
            let step = t.last_intermediate(&metric).map_or(0, |(st, _)| st);
            let budget = t
                .system_attrs
                .get(tuneforge::attrs::BUDGET)
                .and_then(|b| b.as_u64())
                .filter(|_| t.state == TrialState::Complete)
                .unwrap_or(0);
            (t.state, step.max(budget))
        })
        .collect();
    let rung_based = spec
        .as_ref()
        .is_some_and(|p| p.promote || matches!(p.kind, PrunerKind::Asha | PrunerKind::Hyperband));
    let mut rungs = Vec::new();
    if let Some(p) = spec.as_ref().filter(|_| rung_based) {
        let eta = p.reduction_factor.max(2);
        let top = p
            .max_resource
            .unwrap_or_else(|| reach.iter().map(|r| r.1).max().unwrap_or(0));
        let mut r = p.min_resource.max(1);
        let mut levels = Vec::new();
        while r <= top && levels.len() < 64 {
            levels.push(r);
            r = r.saturating_mul(eta);
        }
        for (k, &r) in levels.iter().enumerate() {
            let next = levels.get(k + 1).copied().unwrap_or(u64::MAX);
            let here = |state: TrialState| {
                reach
                    .iter()
                    .filter(|(st, x)| *st == state && *x >= r && *x < next)
                    .count()
            };
            let best = s
                .trials
                .iter()
                .filter_map(|t| {
                    t.intermediate
                        .range(r..)
                        .find_map(|(_, m)| m.get(&metric).copied())
                })
                .filter(|v| v.is_finite())
                .reduce(|a, b| if direction.better(b, a) { b } else { a });
            rungs.push(json!({
                "resource": r,
                "reached": reach.iter().filter(|x| x.1 >= r).count(),
                "stopped": here(TrialState::Pruned),
                "finished": here(TrialState::Complete),
                "running": here(TrialState::Running),
                "best": best.map(num).unwrap_or(Value::Null),
            }));
        }
    }
    // Where pruned trials stopped.
    let stopped: Vec<u64> = reach
        .iter()
        .filter(|(st, _)| *st == TrialState::Pruned)
        .map(|r| r.1)
        .collect();
    let mut histogram: BTreeMap<u64, usize> = BTreeMap::new();
    if let (Some(&lo), Some(&hi)) = (stopped.iter().min(), stopped.iter().max()) {
        let width = ((hi - lo) / HISTOGRAM_BARS as u64 + 1).max(1);
        for x in &stopped {
            *histogram.entry(lo + (x - lo) / width * width).or_default() += 1;
        }
    }
    json!({
        "rule": spec.as_ref().map(|p| pruner_name(p.kind)),
        "promote": spec.as_ref().is_some_and(|p| p.promote),
        "metric": metric,
        "direction": direction,
        "step": spec.as_ref().map_or("step", |p| p.resource_name()),
        "rungs": rungs,
        "pruned": stopped.len(),
        "stopped_at": histogram.into_iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
    })
}
