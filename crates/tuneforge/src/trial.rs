//! The live trial handed to an objective: define-by-run suggestions, reports, attributes.

use indexmap::IndexMap;
use std::collections::BTreeMap;

use crate::distribution::{Distribution, ParamValue};
use crate::error::{Error, Result};
use crate::liveness::BeatGuard;
use crate::record::{FrozenTrial, Metrics, TrialId};
use crate::sampler::StudyView;
use crate::study::Study;

/// A running trial. Parameters are suggested as the objective needs them, so conditional spaces
/// are ordinary `if`s: a parameter that is never suggested is absent from the trial.
pub struct Trial {
    study: Study,
    frozen: FrozenTrial,
    seed: u64,
    view: StudyView,
    fixed: IndexMap<String, ParamValue>,
    relative_space: IndexMap<String, Distribution>,
    relative: IndexMap<String, f64>,
    _beat: Option<BeatGuard>,
}

impl Trial {
    pub(crate) fn new(
        study: Study,
        frozen: FrozenTrial,
        seed: u64,
        view: StudyView,
        relative_space: IndexMap<String, Distribution>,
        relative: IndexMap<String, f64>,
        beat: Option<BeatGuard>,
    ) -> Self {
        let fixed = frozen.fixed_params();
        Trial {
            study,
            frozen,
            seed,
            view,
            fixed,
            relative_space,
            relative,
            _beat: beat,
        }
    }

    /// The trial's number within its study (0, 1, ...).
    pub fn number(&self) -> u64 {
        self.frozen.number
    }

    /// The trial's storage key.
    pub fn id(&self) -> TrialId {
        self.frozen.id
    }

    /// The seed for this trial's own randomness (derived from the study seed and the number).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The study this trial belongs to.
    pub fn study(&self) -> &Study {
        &self.study
    }

    /// The parameters suggested so far, in order.
    pub fn params(&self) -> &IndexMap<String, ParamValue> {
        &self.frozen.params
    }

    /// Parameters fixed before the trial ran (enqueued or claimed).
    pub fn fixed_params(&self) -> &IndexMap<String, ParamValue> {
        &self.fixed
    }

    /// A snapshot of the trial as recorded so far.
    pub fn frozen(&self) -> &FrozenTrial {
        &self.frozen
    }

    /// Suggests a value from `dist` for parameter `name`. Asking again for the same name returns
    /// the same value; asking with a different distribution is an error.
    pub fn suggest(&mut self, name: &str, dist: &Distribution) -> Result<ParamValue> {
        dist.validate()
            .map_err(|e| Error::invalid(format!("parameter '{name}': {e}")))?;
        if let Some(v) = self.frozen.params.get(name) {
            let prev = &self.frozen.distributions[name];
            if prev != dist {
                return Err(Error::ParamConflict {
                    name: name.to_string(),
                    previous: prev.describe(),
                    requested: dist.describe(),
                });
            }
            return Ok(v.clone());
        }
        let internal = if let Some(v) = self.fixed.get(name) {
            dist.to_internal(v).map_err(|_| {
                Error::invalid(format!(
                    "the fixed value {v} of parameter '{name}' is outside {}",
                    dist.describe()
                ))
            })?
        } else if let (Some(x), Some(d)) = (self.relative.get(name), self.relative_space.get(name))
            && d == dist
        {
            *x
        } else {
            self.study
                .sampler()
                .sample_independent(&self.view, &self.frozen, name, dist)?
        };
        // A fixed value is used exactly as given; a sampled one is snapped onto the distribution.
        let value = match self.fixed.get(name) {
            Some(v) => dist.normalize(v)?,
            None => dist.to_external(internal),
        };
        self.study
            .storage()
            .set_param(self.frozen.id, name, dist, &value)?;
        self.frozen.params.insert(name.to_string(), value.clone());
        self.frozen
            .distributions
            .insert(name.to_string(), dist.clone());
        Ok(value)
    }

    /// Suggests a float in `[low, high]`; chain `.log()` or `.step(s)`, then `.get()`.
    pub fn suggest_float(&mut self, name: &str, low: f64, high: f64) -> FloatSuggestion<'_> {
        FloatSuggestion {
            trial: self,
            name: name.to_string(),
            low,
            high,
            log: false,
            step: None,
        }
    }

    /// Suggests an integer in `[low, high]`; chain `.log()` or `.step(s)`, then `.get()`.
    pub fn suggest_int(&mut self, name: &str, low: i64, high: i64) -> IntSuggestion<'_> {
        IntSuggestion {
            trial: self,
            name: name.to_string(),
            low,
            high,
            log: false,
            step: 1,
        }
    }

    /// Suggests one of `choices` (strings, numbers or booleans) and returns it.
    pub fn suggest_categorical<T>(&mut self, name: &str, choices: &[T]) -> Result<T>
    where
        T: Clone + Into<ParamValue>,
    {
        let values: Vec<ParamValue> = choices.iter().cloned().map(Into::into).collect();
        let dist = Distribution::Categorical { choices: values };
        let v = self.suggest(name, &dist)?;
        let i = dist.to_internal(&v)? as usize;
        Ok(choices[i].clone())
    }

    /// Records intermediate metrics at `step`: a single value (named `value`), or named metrics
    /// such as `[("val_loss", 0.3), ("val_acc", 0.91)]`.
    pub fn report(&mut self, step: u64, metrics: impl IntoMetrics) -> Result<()> {
        let m = metrics.into_metrics();
        self.study.storage().report(self.frozen.id, step, &m)?;
        self.frozen.intermediate.entry(step).or_default().extend(m);
        Ok(())
    }

    /// Asks the study's pruner whether this trial should stop now.
    pub fn should_prune(&self) -> Result<bool> {
        let view = self.study.view()?;
        self.study.pruner().prune(&view, &self.frozen)
    }

    /// Records the trial's constraint values (each ≤ 0 when satisfied) for constrained
    /// multi-objective search (NSGA-II ranks infeasible trials after feasible ones).
    pub fn set_constraints(&mut self, values: &[f64]) -> Result<()> {
        if values.iter().any(|v| v.is_nan()) {
            return Err(Error::invalid("a constraint value is NaN"));
        }
        let v = serde_json::Value::from(
            values
                .iter()
                .map(|x| {
                    serde_json::Number::from_f64(*x).map_or(serde_json::Value::Null, Into::into)
                })
                .collect::<Vec<_>>(),
        );
        self.set_system_attr(crate::attrs::CONSTRAINTS, v)
    }

    /// Sets a user attribute (any serialisable value).
    pub fn set_user_attr(&mut self, key: &str, value: impl serde::Serialize) -> Result<()> {
        let v = serde_json::to_value(value)
            .map_err(|e| Error::invalid(format!("user attribute '{key}': {e}")))?;
        self.study
            .storage()
            .set_user_attr(self.frozen.id, key, &v)?;
        self.frozen.user_attrs.insert(key.to_string(), v);
        Ok(())
    }

    /// Sets a system attribute (tuneforge's own bookkeeping; see [`crate::attrs`]).
    pub fn set_system_attr(&mut self, key: &str, value: serde_json::Value) -> Result<()> {
        self.study
            .storage()
            .set_system_attr(self.frozen.id, key, &value)?;
        self.frozen.system_attrs.insert(key.to_string(), value);
        Ok(())
    }

    /// The error an objective returns to have its trial recorded as pruned.
    pub fn pruned(&self) -> Error {
        Error::Pruned
    }
}

/// Builder returned by [`Trial::suggest_float`].
pub struct FloatSuggestion<'a> {
    trial: &'a mut Trial,
    name: String,
    low: f64,
    high: f64,
    log: bool,
    step: Option<f64>,
}

impl FloatSuggestion<'_> {
    /// Sample uniformly in `ln(value)`.
    pub fn log(mut self) -> Self {
        self.log = true;
        self
    }

    /// Restrict to `low + k * step`.
    pub fn step(mut self, step: f64) -> Self {
        self.step = Some(step);
        self
    }

    /// Suggests the value.
    pub fn get(self) -> Result<f64> {
        let d = Distribution::Float {
            low: self.low,
            high: self.high,
            log: self.log,
            step: self.step,
        };
        let v = self.trial.suggest(&self.name, &d)?;
        v.as_f64()
            .ok_or_else(|| Error::invalid(format!("parameter '{}' is not a float", self.name)))
    }
}

/// Builder returned by [`Trial::suggest_int`].
pub struct IntSuggestion<'a> {
    trial: &'a mut Trial,
    name: String,
    low: i64,
    high: i64,
    log: bool,
    step: i64,
}

impl IntSuggestion<'_> {
    /// Sample uniformly in `ln(value)`.
    pub fn log(mut self) -> Self {
        self.log = true;
        self
    }

    /// Restrict to `low + k * step`.
    pub fn step(mut self, step: i64) -> Self {
        self.step = step;
        self
    }

    /// Suggests the value.
    pub fn get(self) -> Result<i64> {
        let d = Distribution::Int {
            low: self.low,
            high: self.high,
            log: self.log,
            step: self.step,
        };
        let v = self.trial.suggest(&self.name, &d)?;
        v.as_i64()
            .ok_or_else(|| Error::invalid(format!("parameter '{}' is not an int", self.name)))
    }
}

/// Things [`Trial::report`] accepts.
pub trait IntoMetrics {
    /// The metrics by name.
    fn into_metrics(self) -> Metrics;
}

impl IntoMetrics for f64 {
    fn into_metrics(self) -> Metrics {
        BTreeMap::from([("value".to_string(), self)])
    }
}
impl IntoMetrics for Metrics {
    fn into_metrics(self) -> Metrics {
        self
    }
}
impl<const N: usize> IntoMetrics for [(&str, f64); N] {
    fn into_metrics(self) -> Metrics {
        self.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }
}
impl IntoMetrics for &[(&str, f64)] {
    fn into_metrics(self) -> Metrics {
        self.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }
}
