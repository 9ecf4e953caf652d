//! Parameters against the objective: rows for parallel coordinates and slice plots (the best
//! tenth and an even sample of the other complete trials) and a binned grid of the objective
//! over two parameters for the contour plot, computed over every complete trial.

use serde_json::{Value, json};

use super::{Axis, ViewResult, num, param_names, stride};
use crate::snapshot::Snapshot;

/// Rows when the page does not say.
pub const DEFAULT_ROWS: usize = 1000;
/// Contour cells per side when the page does not say.
pub const DEFAULT_BINS: usize = 20;

/// At most `max_rows` complete trials: `[number, objective, param...]` (null where a trial
/// lacks a parameter; a categorical parameter's choice index).
pub fn rows(s: &Snapshot, obj: usize, max_rows: usize) -> Value {
    let dir = s.direction(obj);
    let mut done = s.complete_values(obj);
    let total = done.len();
    let chosen: Vec<(&tuneforge::FrozenTrial, f64)> = if done.len() <= max_rows {
        done
    } else {
        done.sort_by(|a, b| dir.order(a.1, b.1));
        let top = max_rows / 10;
        let mut c: Vec<_> = done[..top].to_vec();
        let rest = &done[top..];
        c.extend(
            stride(rest.len(), max_rows - top)
                .into_iter()
                .map(|k| rest[k]),
        );
        c.sort_by_key(|(t, _)| t.number);
        c
    };
    let names = param_names(s);
    let axes: Vec<Axis> = names
        .iter()
        .filter_map(|n| Axis::of(n, s.trials.iter()))
        .collect();
    let rows: Vec<Value> = chosen
        .iter()
        .map(|(t, v)| {
            let mut r = vec![json!(t.number), num(*v)];
            for a in &axes {
                r.push(
                    t.params
                        .get(&a.name)
                        .and_then(|p| a.coordinate(p))
                        .map(num)
                        .unwrap_or(Value::Null),
                );
            }
            Value::Array(r)
        })
        .collect();
    json!({
        "objective": s.objectives.get(obj),
        "direction": dir,
        "axes": axes.iter().map(Axis::to_json).collect::<Vec<_>>(),
        "rows": rows,
        "complete": total,
    })
}

/// The objective over parameters `x` and `y` (default: the first two), binned into at most
/// `bins` x `bins` cells (one per choice for a categorical parameter): each cell's mean, best
/// and count.
pub fn contour(
    s: &Snapshot,
    obj: usize,
    x: Option<&str>,
    y: Option<&str>,
    bins: usize,
) -> ViewResult {
    let names = param_names(s);
    let pick = |given: Option<&str>, default: usize| -> Result<String, String> {
        match given.filter(|g| !g.is_empty()) {
            Some(g) if names.iter().any(|n| n == g) => Ok(g.to_string()),
            Some(g) => Err(format!(
                "parameter '{g}' is not one of: {}",
                names.join(", ")
            )),
            None => names
                .get(default)
                .cloned()
                .ok_or_else(|| "the contour plot needs two parameters".to_string()),
        }
    };
    let (xn, yn) = (pick(x, 0)?, pick(y, 1)?);
    let (Some(ax), Some(ay)) = (
        Axis::of(&xn, s.trials.iter()),
        Axis::of(&yn, s.trials.iter()),
    ) else {
        return Err("no trial has both parameters".to_string());
    };
    let bins = bins.clamp(2, 100);
    let nx = ax.choices.as_ref().map_or(bins, |c| c.len().max(1));
    let ny = ay.choices.as_ref().map_or(bins, |c| c.len().max(1));
    let dir = s.direction(obj);
    let mut sum = vec![0.0; nx * ny];
    let mut count = vec![0usize; nx * ny];
    let mut best = vec![f64::NAN; nx * ny];
    for (t, v) in s.complete_values(obj) {
        let (Some(px), Some(py)) = (t.params.get(&xn), t.params.get(&yn)) else {
            continue;
        };
        let (Some(ux), Some(uy)) = (ax.unit(px), ay.unit(py)) else {
            continue;
        };
        let i = ((ux * nx as f64) as usize).min(nx - 1);
        let j = ((uy * ny as f64) as usize).min(ny - 1);
        let c = j * nx + i;
        sum[c] += v;
        count[c] += 1;
        if best[c].is_nan() || dir.better(v, best[c]) {
            best[c] = v;
        }
    }
    let mean: Vec<Value> = (0..nx * ny)
        .map(|c| {
            if count[c] == 0 {
                Value::Null
            } else {
                num(sum[c] / count[c] as f64)
            }
        })
        .collect();
    Ok(json!({
        "objective": s.objectives.get(obj),
        "direction": dir,
        "x": ax.to_json(),
        "y": ay.to_json(),
        "nx": nx,
        "ny": ny,
        "mean": mean,
        "best": best.iter().map(|b| num(*b)).collect::<Vec<_>>(),
        "count": count,
        "params": names,
    }))
}
