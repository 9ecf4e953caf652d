//! Learning curves (intermediate values of one metric): the best trials' curves and an even
//! sample of the others, each thinned to a bounded number of points, with their state (pruned
//! trials are marked), plus the 10/50/90 % quantiles of the metric at each step over every
//! trial, which summarise any number of curves.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tuneforge::Direction;

use super::{ViewResult, metric_names, pairs, stride};
use crate::snapshot::Snapshot;

/// Curves when the page does not say.
pub const DEFAULT_CURVES: usize = 100;
/// Points kept per curve.
const POINTS_PER_CURVE: usize = 120;
/// Steps kept in the quantile bands.
const BAND_STEPS: usize = 200;

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos.fract());
    if i + 1 < sorted.len() {
        sorted[i] * (1.0 - f) + sorted[i + 1] * f
    } else {
        sorted[i]
    }
}

/// The curves of `metric` (default: the pruning metric, else the first reported), at most
/// `max_curves` of them.
pub fn curves(s: &Snapshot, metric: Option<&str>, max_curves: usize) -> ViewResult {
    let names = metric_names(s);
    let metric = match metric.filter(|m| !m.is_empty()) {
        Some(m) if names.iter().any(|n| n == m) => m.to_string(),
        Some(m) => {
            return Err(format!(
                "metric '{m}' was never reported; reported: {}",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ));
        }
        None => {
            let preferred = s
                .pruner
                .as_ref()
                .map(|p| p.metric.clone())
                .or_else(|| s.objectives.first().cloned());
            match preferred
                .filter(|p| names.contains(p))
                .or(names.first().cloned())
            {
                Some(m) => m,
                None => {
                    return Ok(
                        json!({"metric": null, "metrics": names, "curves": [], "bands": [], "trials_with_curves": 0}),
                    );
                }
            }
        }
    };
    let direction = s
        .objectives
        .iter()
        .position(|o| *o == metric)
        .map(|i| s.direction(i))
        .or_else(|| {
            s.pruner
                .as_ref()
                .filter(|p| p.metric == metric)
                .map(|p| p.direction)
        })
        .unwrap_or(Direction::Minimize);
    // Every trial's curve of the metric, and every value by step for the bands.
    let mut with: Vec<(usize, f64)> = Vec::new();
    let mut by_step: BTreeMap<u64, Vec<f64>> = BTreeMap::new();
    for (i, t) in s.trials.iter().enumerate() {
        let mut last = None;
        for (step, m) in &t.intermediate {
            if let Some(v) = m.get(&metric).filter(|v| v.is_finite()) {
                by_step.entry(*step).or_default().push(*v);
                last = Some(*v);
            }
        }
        if let Some(v) = last {
            with.push((i, v));
        }
    }
    // The best few curves, then an even sample of the rest.
    with.sort_by(|a, b| direction.order(a.1, b.1));
    let top = (max_curves / 5).max(1).min(with.len());
    let mut chosen: Vec<usize> = with[..top].iter().map(|(i, _)| *i).collect();
    let rest = &with[top..];
    let mut rest_idx: Vec<usize> = stride(rest.len(), max_curves.saturating_sub(top))
        .into_iter()
        .map(|k| rest[k].0)
        .collect();
    chosen.append(&mut rest_idx);
    chosen.sort_unstable();
    let curves: Vec<Value> = chosen
        .iter()
        .map(|&i| {
            let t = &s.trials[i];
            let pts: Vec<(u64, f64)> = t
                .intermediate
                .iter()
                .filter_map(|(st, m)| m.get(&metric).filter(|v| v.is_finite()).map(|v| (*st, *v)))
                .collect();
            let mut keep: Vec<(u64, f64)> = stride(pts.len(), POINTS_PER_CURVE)
                .into_iter()
                .map(|k| pts[k])
                .collect();
            if let (Some(l), Some(k)) = (pts.last(), keep.last())
                && l.0 != k.0
            {
                keep.push(*l);
            }
            json!({"number": t.number, "state": t.state.as_str(), "points": pairs(&keep)})
        })
        .collect();
    let steps: Vec<u64> = by_step.keys().copied().collect();
    let bands: Vec<Value> = stride(steps.len(), BAND_STEPS)
        .into_iter()
        .map(|k| {
            let step = steps[k];
            let mut v = by_step[&step].clone();
            v.sort_by(f64::total_cmp);
            json!([
                step,
                quantile(&v, 0.1),
                quantile(&v, 0.5),
                quantile(&v, 0.9),
                v.len()
            ])
        })
        .collect();
    Ok(json!({
        "metric": metric,
        "metrics": names,
        "direction": direction,
        "trials_with_curves": with.len(),
        "curves": curves,
        "bands": bands,
    }))
}
