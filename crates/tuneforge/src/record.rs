//! Plain records of studies and trials as storage keeps them: states, directions and the
//! read-only [`FrozenTrial`] snapshot that samplers, pruners and reports read.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::distribution::{Distribution, ParamValue};

/// Storage key of a study.
pub type StudyId = i64;
/// Storage key of a trial (unique across studies); a trial's `number` counts within its study.
pub type TrialId = i64;
/// Metrics reported at one step: metric name to value.
pub type Metrics = BTreeMap<String, f64>;

/// Whether an objective is minimised or maximised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Smaller is better.
    Minimize,
    /// Larger is better.
    Maximize,
}

impl Direction {
    /// True when `a` is strictly better than `b` in this direction.
    pub fn better(self, a: f64, b: f64) -> bool {
        match self {
            Direction::Minimize => a < b,
            Direction::Maximize => a > b,
        }
    }

    /// Orders two values best first; equal and incomparable (NaN) values compare equal, so a
    /// stable sort keeps their order.
    pub fn order(self, a: f64, b: f64) -> std::cmp::Ordering {
        self.to_loss(a)
            .partial_cmp(&self.to_loss(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    }

    /// The value with the sign flipped for maximisation, so that smaller is always better.
    pub fn to_loss(self, v: f64) -> f64 {
        match self {
            Direction::Minimize => v,
            Direction::Maximize => -v,
        }
    }

    /// Parses `minimize`/`maximize` (also `min`/`max`).
    pub fn parse(s: &str) -> Option<Direction> {
        match s.to_ascii_lowercase().as_str() {
            "minimize" | "min" | "minimise" => Some(Direction::Minimize),
            "maximize" | "max" | "maximise" => Some(Direction::Maximize),
            _ => None,
        }
    }
}

/// The life cycle of a trial: `Waiting` (enqueued) → `Running` → `Complete | Pruned | Failed`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrialState {
    /// Enqueued with fixed parameters, not yet picked up by a worker.
    Waiting,
    /// Being evaluated.
    Running,
    /// Finished with objective values.
    Complete,
    /// Stopped early by a pruner.
    Pruned,
    /// Failed (error, crash, NaN, timeout, interruption); the reason is in `message`.
    Failed,
}

impl TrialState {
    /// True for complete, pruned and failed trials.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TrialState::Complete | TrialState::Pruned | TrialState::Failed
        )
    }

    /// The lower-case name used in storage and output.
    pub fn as_str(self) -> &'static str {
        match self {
            TrialState::Waiting => "waiting",
            TrialState::Running => "running",
            TrialState::Complete => "complete",
            TrialState::Pruned => "pruned",
            TrialState::Failed => "failed",
        }
    }

    /// Parses a state name.
    pub fn parse(s: &str) -> Option<TrialState> {
        Some(match s {
            "waiting" => TrialState::Waiting,
            "running" => TrialState::Running,
            "complete" => TrialState::Complete,
            "pruned" => TrialState::Pruned,
            "failed" => TrialState::Failed,
            _ => return None,
        })
    }
}

impl std::fmt::Display for TrialState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A study as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudyRecord {
    /// Storage key.
    pub id: StudyId,
    /// Unique name.
    pub name: String,
    /// One direction per objective.
    pub directions: Vec<Direction>,
    /// Study-level attributes (seed, study file text, objective names, ...).
    pub attrs: BTreeMap<String, serde_json::Value>,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_ms: i64,
}

impl StudyRecord {
    /// The objective (metric) names stored with the study, else `value` for one objective and
    /// `value_0`, `value_1`, ... for several.
    pub fn objective_names(&self) -> Vec<String> {
        let n = self.directions.len();
        let stored: Option<Vec<String>> = self
            .attrs
            .get(crate::attrs::OBJECTIVE_NAMES)
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        match stored {
            Some(v) if v.len() == n => v,
            _ if n == 1 => vec!["value".to_string()],
            _ => (0..n).map(|i| format!("value_{i}")).collect(),
        }
    }
}

/// A read-only snapshot of a trial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrozenTrial {
    /// Storage key.
    pub id: TrialId,
    /// Position in its study (0, 1, 2, ...), unique within the study.
    pub number: u64,
    /// Current state.
    pub state: TrialState,
    /// Objective values, once complete (one per direction).
    pub values: Option<Vec<f64>>,
    /// Parameter values in the order they were suggested.
    pub params: IndexMap<String, ParamValue>,
    /// The distribution each parameter was drawn from.
    pub distributions: IndexMap<String, Distribution>,
    /// Intermediate metrics by step.
    pub intermediate: BTreeMap<u64, Metrics>,
    /// Attributes set by the user.
    pub user_attrs: BTreeMap<String, serde_json::Value>,
    /// Attributes set by tuneforge (seed, fixed parameters, claims, retries, logs, ...).
    pub system_attrs: BTreeMap<String, serde_json::Value>,
    /// Why the trial failed or was pruned, in one sentence.
    pub message: Option<String>,
    /// The worker that ran (or runs) it.
    pub worker: Option<String>,
    /// When it started running (ms since the epoch).
    pub started_ms: Option<i64>,
    /// When it finished (ms since the epoch).
    pub finished_ms: Option<i64>,
    /// Last sign of life from its worker (ms since the epoch).
    pub heartbeat_ms: Option<i64>,
    /// Study-wide change counter at the trial's last update (used for incremental reads).
    pub seq: u64,
}

impl FrozenTrial {
    /// An empty trial with a number and a state (for tests and synthetic histories).
    pub fn new_for_tests(number: u64, state: TrialState) -> Self {
        FrozenTrial {
            id: number as TrialId + 1,
            number,
            state,
            values: None,
            params: Default::default(),
            distributions: Default::default(),
            intermediate: Default::default(),
            user_attrs: Default::default(),
            system_attrs: Default::default(),
            message: None,
            worker: None,
            started_ms: None,
            finished_ms: None,
            heartbeat_ms: None,
            seq: number + 1,
        }
    }

    /// The single objective value, for single-objective studies.
    pub fn value(&self) -> Option<f64> {
        self.values.as_ref().and_then(|v| v.first().copied())
    }

    /// Parameters fixed before the trial ran (enqueued baselines, grid points, retries).
    pub fn fixed_params(&self) -> IndexMap<String, ParamValue> {
        self.system_attrs
            .get(crate::attrs::FIXED_PARAMS)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    /// The last reported value of `metric`, with its step.
    pub fn last_intermediate(&self, metric: &str) -> Option<(u64, f64)> {
        self.intermediate
            .iter()
            .rev()
            .find_map(|(s, m)| m.get(metric).map(|v| (*s, *v)))
    }

    /// Wall-clock duration in seconds, when started and finished.
    pub fn duration_s(&self) -> Option<f64> {
        Some((self.finished_ms? - self.started_ms?) as f64 / 1000.0)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn directions_order_values_best_first() {
        assert_eq!(Direction::Minimize.order(f64::NAN, 1.0), Ordering::Equal);
        assert_eq!(Direction::Minimize.order(1.0, 2.0), Ordering::Less);
        assert_eq!(Direction::Maximize.order(1.0, 2.0), Ordering::Greater);
        assert_eq!(Direction::Maximize.order(-0.0, 0.0), Ordering::Equal);
        for (a, b) in [(1.0, 2.0), (2.0, 1.0), (1.0, 1.0)] {
            for d in [Direction::Minimize, Direction::Maximize] {
                assert_eq!(d.order(a, b) == Ordering::Less, d.better(a, b));
            }
        }
    }
}
