//! What the dashboard shows, computed on the server from a [`Snapshot`]: each view returns a
//! JSON document small enough for a browser at any study size (downsampled series, sampled
//! rows, binned grids, pages of the trial table).

pub mod curves;
pub mod history;
pub mod importance;
pub mod params;
pub mod pareto;
pub mod rungs;
pub mod summary;
pub mod table;
pub mod trial;

use serde_json::{Value, json};
use tuneforge::studyfile::PrunerKind;
use tuneforge::{Distribution, FrozenTrial, ParamValue};

use crate::snapshot::Snapshot;

/// A view's refusal of its query (unknown objective, parameter, malformed filter): HTTP 400.
pub type ViewResult = std::result::Result<Value, String>;

/// Keeps at most `max` points of a series ordered by x: when there are more, the series is cut
/// into `max / 2` buckets of consecutive points and each keeps its lowest and highest point, so
/// extremes (and therefore the best values) stay visible.
pub fn downsample(points: &[(u64, f64)], max: usize) -> Vec<(u64, f64)> {
    let max = max.max(2);
    if points.len() <= max {
        return points.to_vec();
    }
    let buckets = max / 2;
    let size = points.len().div_ceil(buckets);
    let mut out = Vec::with_capacity(max);
    for chunk in points.chunks(size) {
        // The first lowest and the last highest point of the chunk, in one pass.
        let (mut lo, mut hi) = (0, 0);
        for (i, p) in chunk.iter().enumerate() {
            if p.1.total_cmp(&chunk[lo].1).is_lt() {
                lo = i;
            }
            if p.1.total_cmp(&chunk[hi].1).is_ge() {
                hi = i;
            }
        }
        let (a, b) = (lo.min(hi), lo.max(hi));
        out.push(chunk[a]);
        if b != a {
            out.push(chunk[b]);
        }
    }
    out
}

/// `k` indices spread evenly over `0..n` (all of them when `n <= k`).
pub fn stride(n: usize, k: usize) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    if k == 0 {
        return Vec::new();
    }
    (0..k).map(|i| i * n / k).collect()
}

/// Series as `[[x, y], ...]`.
pub fn pairs(points: &[(u64, f64)]) -> Value {
    Value::Array(points.iter().map(|(x, y)| json!([x, y])).collect())
}

/// The name of a pruner rule as users write it.
pub fn pruner_name(kind: PrunerKind) -> &'static str {
    match kind {
        PrunerKind::None => "none",
        PrunerKind::Median => "median",
        PrunerKind::Percentile => "percentile",
        PrunerKind::Asha => "asha",
        PrunerKind::Hyperband => "hyperband",
        PrunerKind::Curve => "curve",
    }
}

/// The metric early stopping watches: the pruner's, else the first objective.
pub fn pruning_metric(s: &Snapshot) -> String {
    s.pruner
        .as_ref()
        .map(|p| p.metric.clone())
        .or_else(|| s.objectives.first().cloned())
        .unwrap_or_else(|| "value".to_string())
}

/// How an axis of parameter values is drawn.
#[derive(Clone, Debug)]
pub struct Axis {
    /// Parameter name.
    pub name: String,
    /// Lowest and highest value (numeric axes).
    pub low: f64,
    pub high: f64,
    /// Logarithmic axis.
    pub log: bool,
    /// Integer values.
    pub int: bool,
    /// Choices (categorical axes), as shown.
    pub choices: Option<Vec<String>>,
}

impl Axis {
    /// The axis of parameter `name` over `trials` (the union of the ranges it was sampled from).
    pub fn of<'a>(name: &str, trials: impl Iterator<Item = &'a FrozenTrial>) -> Option<Axis> {
        let mut axis: Option<Axis> = None;
        for t in trials {
            let Some(d) = t.distributions.get(name) else {
                continue;
            };
            let next = match d {
                Distribution::Float { low, high, log, .. } => Axis {
                    name: name.to_string(),
                    low: *low,
                    high: *high,
                    log: *log,
                    int: false,
                    choices: None,
                },
                Distribution::Int { low, high, log, .. } => Axis {
                    name: name.to_string(),
                    low: *low as f64,
                    high: *high as f64,
                    log: *log,
                    int: true,
                    choices: None,
                },
                Distribution::Categorical { choices } => Axis {
                    name: name.to_string(),
                    low: 0.0,
                    high: choices.len().saturating_sub(1) as f64,
                    log: false,
                    int: false,
                    choices: Some(choices.iter().map(ToString::to_string).collect()),
                },
            };
            axis = Some(match axis {
                None => next,
                Some(mut a) => {
                    match (&mut a.choices, next.choices) {
                        (Some(c), Some(n)) => {
                            for x in n {
                                if !c.contains(&x) {
                                    c.push(x);
                                }
                            }
                            a.high = c.len().saturating_sub(1) as f64;
                        }
                        (None, None) => {
                            a.low = a.low.min(next.low);
                            a.high = a.high.max(next.high);
                        }
                        // A parameter that changed kind: keep the first.
                        _ => {}
                    }
                    a
                }
            });
        }
        axis
    }

    /// Where a value lies on the axis: the number itself (numeric) or the choice's index.
    pub fn coordinate(&self, v: &ParamValue) -> Option<f64> {
        match &self.choices {
            Some(c) => {
                let shown = v.to_string();
                c.iter().position(|x| *x == shown).map(|i| i as f64)
            }
            None => v.as_f64(),
        }
    }

    /// The value's position in `[0, 1]` along the axis (log scale where the axis is).
    pub fn unit(&self, v: &ParamValue) -> Option<f64> {
        let x = self.coordinate(v)?;
        if let Some(c) = &self.choices {
            return Some((x + 0.5) / c.len().max(1) as f64);
        }
        let (lo, hi, x) = if self.log && self.low > 0.0 && x > 0.0 {
            (self.low.ln(), self.high.ln(), x.ln())
        } else {
            (self.low, self.high, x)
        };
        Some(if hi > lo {
            ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
        } else {
            0.5
        })
    }

    /// The axis as JSON.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"name": self.name, "low": self.low, "high": self.high, "log": self.log, "int": self.int});
        if let Some(c) = &self.choices {
            v["choices"] = json!(c);
        }
        v
    }
}

/// Every parameter name of the study, in the order the trials first used them.
pub fn param_names(s: &Snapshot) -> Vec<String> {
    let mut names: indexmap::IndexSet<String> = indexmap::IndexSet::new();
    for t in &s.trials {
        for k in t.distributions.keys() {
            if !names.contains(k) {
                names.insert(k.clone());
            }
        }
    }
    names.into_iter().collect()
}

/// The names of every intermediate metric reported (read from each trial's first and last
/// report).
pub fn metric_names(s: &Snapshot) -> Vec<String> {
    let mut names: indexmap::IndexSet<String> = indexmap::IndexSet::new();
    for t in &s.trials {
        for m in [
            t.intermediate.first_key_value(),
            t.intermediate.last_key_value(),
        ]
        .into_iter()
        .flatten()
        {
            for k in m.1.keys() {
                if !names.contains(k) {
                    names.insert(k.clone());
                }
            }
        }
    }
    names.into_iter().collect()
}

/// A finite number or JSON null.
pub fn num(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downsampling_keeps_the_extremes_and_the_bound() {
        let pts: Vec<(u64, f64)> = (0..10_000u64)
            .map(|i| (i, ((i * 7919) % 1000) as f64))
            .collect();
        let mut with_outlier = pts.clone();
        with_outlier[4321].1 = -5.0;
        let d = downsample(&with_outlier, 200);
        assert!(d.len() <= 200, "{}", d.len());
        assert!(d.contains(&(4321, -5.0)), "the lowest point survives");
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0), "still ordered by x");
        assert_eq!(downsample(&pts[..50], 200).len(), 50);
    }

    #[test]
    fn stride_spreads_over_the_range() {
        assert_eq!(stride(10, 20), (0..10).collect::<Vec<_>>());
        let s = stride(1000, 10);
        assert_eq!(s.len(), 10);
        assert_eq!(s[0], 0);
        assert!(s[9] >= 900);
    }
}
