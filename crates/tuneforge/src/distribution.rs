//! Parameter distributions and values, and the single place where a value is converted between
//! its external form (what the user sees), its internal form (what samplers model) and the unit
//! interval (what quasi-random and uniform samplers draw from).
//!
//! Internal representation: linear floats and ints are themselves, log-scaled ones are `ln(value)`,
//! categoricals are the index of the choice.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::{Error, Result};

/// One parameter value as the user sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// A boolean categorical choice.
    Bool(bool),
    /// An integer (from an int distribution or an integer categorical choice).
    Int(i64),
    /// A float.
    Float(f64),
    /// A string categorical choice.
    Str(String),
}

impl ParamValue {
    /// The value as a float, when it is numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Int(i) => Some(*i as f64),
            ParamValue::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The value as an integer, when it is an integer (or a float with an integral value).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            ParamValue::Int(i) => Some(*i),
            ParamValue::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(*f as i64),
            _ => None,
        }
    }

    /// The value as a string slice, when it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ParamValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a bool, when it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            ParamValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Converts to a JSON value (floats that are not finite become strings "NaN"/"inf").
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            ParamValue::Bool(b) => (*b).into(),
            ParamValue::Int(i) => (*i).into(),
            ParamValue::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| serde_json::Value::String(f.to_string())),
            ParamValue::Str(s) => s.clone().into(),
        }
    }

    /// Reads a JSON scalar (bool, number, string) as a parameter value.
    pub fn from_json(v: &serde_json::Value) -> Option<ParamValue> {
        match v {
            serde_json::Value::Bool(b) => Some(ParamValue::Bool(*b)),
            serde_json::Value::Number(n) => n
                .as_i64()
                .map(ParamValue::Int)
                .or_else(|| n.as_f64().map(ParamValue::Float)),
            serde_json::Value::String(s) => Some(ParamValue::Str(s.clone())),
            _ => None,
        }
    }

    fn same_choice(&self, other: &ParamValue) -> bool {
        match (self, other) {
            (ParamValue::Float(a), ParamValue::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            (a, b) => a == b,
        }
    }
}

impl fmt::Display for ParamValue {
    /// Formats the value for command lines: floats use the shortest form that reads back
    /// exactly (`1e-6`, `0.1`), strings are written raw.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x:?}"),
            ParamValue::Str(s) => f.write_str(s),
        }
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for ParamValue {
            fn from(v: $t) -> Self { ParamValue::Int(v as i64) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<f64> for ParamValue {
    fn from(v: f64) -> Self {
        ParamValue::Float(v)
    }
}
impl From<f32> for ParamValue {
    fn from(v: f32) -> Self {
        ParamValue::Float(v as f64)
    }
}
impl From<bool> for ParamValue {
    fn from(v: bool) -> Self {
        ParamValue::Bool(v)
    }
}
impl From<&str> for ParamValue {
    fn from(v: &str) -> Self {
        ParamValue::Str(v.to_string())
    }
}
impl From<String> for ParamValue {
    fn from(v: String) -> Self {
        ParamValue::Str(v)
    }
}

/// The range a parameter is drawn from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Distribution {
    /// A real number in `[low, high]`, optionally log-scaled or restricted to `low + k * step`.
    Float {
        /// Lower bound (inclusive).
        low: f64,
        /// Upper bound (inclusive).
        high: f64,
        /// Sample uniformly in `ln(value)`.
        #[serde(default)]
        log: bool,
        /// Restrict values to `low + k * step`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<f64>,
    },
    /// An integer in `[low, high]`, optionally log-scaled or restricted to `low + k * step`.
    Int {
        /// Lower bound (inclusive).
        low: i64,
        /// Upper bound (inclusive).
        high: i64,
        /// Sample uniformly in `ln(value)`.
        #[serde(default)]
        log: bool,
        /// Restrict values to `low + k * step` (default 1).
        #[serde(default = "one", skip_serializing_if = "is_one")]
        step: i64,
    },
    /// One of a list of choices (strings, numbers or booleans).
    Categorical {
        /// The choices, in order.
        choices: Vec<ParamValue>,
    },
}

fn one() -> i64 {
    1
}
fn is_one(v: &i64) -> bool {
    *v == 1
}

/// Relative tolerance when deciding whether a float lies on a step grid.
const STEP_EPS: f64 = 1e-9;

impl Distribution {
    /// A linear float distribution on `[low, high]`.
    pub fn float(low: f64, high: f64) -> Self {
        Distribution::Float {
            low,
            high,
            log: false,
            step: None,
        }
    }

    /// A log-scaled float distribution on `[low, high]`.
    pub fn float_log(low: f64, high: f64) -> Self {
        Distribution::Float {
            low,
            high,
            log: true,
            step: None,
        }
    }

    /// A linear integer distribution on `[low, high]`.
    pub fn int(low: i64, high: i64) -> Self {
        Distribution::Int {
            low,
            high,
            log: false,
            step: 1,
        }
    }

    /// A categorical distribution over `choices`.
    pub fn categorical<T: Into<ParamValue>>(choices: impl IntoIterator<Item = T>) -> Self {
        Distribution::Categorical {
            choices: choices.into_iter().map(Into::into).collect(),
        }
    }

    /// Checks the distribution is well formed; the error names the problem.
    pub fn validate(&self) -> Result<()> {
        match self {
            Distribution::Float {
                low,
                high,
                log,
                step,
            } => {
                if !low.is_finite() || !high.is_finite() {
                    return Err(Error::invalid(format!(
                        "bounds must be finite numbers (low = {low}, high = {high})"
                    )));
                }
                if low > high {
                    return Err(Error::invalid(format!(
                        "low ({low:?}) must not exceed high ({high:?})"
                    )));
                }
                if *log && *low <= 0.0 {
                    return Err(Error::invalid(format!(
                        "a log-scaled range needs low > 0 (low = {low:?})"
                    )));
                }
                if let Some(s) = step {
                    if !(s.is_finite() && *s > 0.0) {
                        return Err(Error::invalid(format!("step must be > 0 (step = {s})")));
                    }
                    if *log {
                        return Err(Error::invalid(
                            "step and log cannot be combined for a float parameter",
                        ));
                    }
                }
                Ok(())
            }
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => {
                if low > high {
                    return Err(Error::invalid(format!(
                        "low ({low}) must not exceed high ({high})"
                    )));
                }
                if *step < 1 {
                    return Err(Error::invalid(format!("step must be >= 1 (step = {step})")));
                }
                if *log && *low < 1 {
                    return Err(Error::invalid(format!(
                        "a log-scaled integer range needs low >= 1 (low = {low})"
                    )));
                }
                if *log && *step != 1 {
                    return Err(Error::invalid(
                        "step and log cannot be combined for an int parameter",
                    ));
                }
                Ok(())
            }
            Distribution::Categorical { choices } => {
                if choices.is_empty() {
                    return Err(Error::invalid(
                        "a categorical parameter needs at least one choice",
                    ));
                }
                for (i, c) in choices.iter().enumerate() {
                    if let ParamValue::Float(f) = c
                        && !f.is_finite()
                    {
                        return Err(Error::invalid(format!("choice {f} is not a finite number")));
                    }
                    if choices[..i].iter().any(|d| d.same_choice(c)) {
                        return Err(Error::invalid(format!("choice {c} is listed twice")));
                    }
                }
                Ok(())
            }
        }
    }

    /// True when the distribution holds exactly one value.
    pub fn is_single(&self) -> bool {
        match self {
            Distribution::Float { low, high, .. } => low == high,
            Distribution::Int { low, high, .. } => low == high,
            Distribution::Categorical { choices } => choices.len() == 1,
        }
    }

    /// The number of distinct values, or `None` for a continuous range.
    pub fn cardinality(&self) -> Option<u64> {
        match self {
            Distribution::Float {
                low, high, step, ..
            } => {
                if low == high {
                    return Some(1);
                }
                step.map(|s| ((high - low) / s * (1.0 + STEP_EPS)).floor() as u64 + 1)
            }
            Distribution::Int {
                low, high, step, ..
            } => Some(((high - low) / step) as u64 + 1),
            Distribution::Categorical { choices } => Some(choices.len() as u64),
        }
    }

    /// Every value of a finite distribution, in order; `None` when continuous.
    pub fn values(&self) -> Option<Vec<ParamValue>> {
        let n = self.cardinality()?;
        Some(match self {
            Distribution::Categorical { choices } => choices.clone(),
            Distribution::Int {
                low, step, log: _, ..
            } => (0..n as i64)
                .map(|k| ParamValue::Int(low + k * step))
                .collect(),
            Distribution::Float {
                low, step, high, ..
            } => (0..n)
                .map(|k| {
                    ParamValue::Float(grid_point(*low, step.unwrap_or(0.0), k as f64).min(*high))
                })
                .collect(),
        })
    }

    /// True when `value` is a member of this distribution (type, range and step grid).
    pub fn contains(&self, value: &ParamValue) -> bool {
        match self {
            Distribution::Float {
                low, high, step, ..
            } => {
                let Some(v) = value.as_f64() else {
                    return false;
                };
                if !v.is_finite() || v < *low || v > *high {
                    return false;
                }
                match step {
                    None => true,
                    Some(s) => {
                        let k = (v - low) / s;
                        (k - k.round()).abs() <= STEP_EPS * k.abs().max(1.0) * 10.0
                    }
                }
            }
            Distribution::Int {
                low, high, step, ..
            } => match value.as_i64() {
                Some(v) => v >= *low && v <= *high && (v - low) % step == 0,
                None => false,
            },
            Distribution::Categorical { choices } => choices
                .iter()
                .any(|c| c.same_choice(value) || numeric_eq(c, value)),
        }
    }

    /// The member of this distribution equal to `value`, with the distribution's own type
    /// (an integer given for a float range becomes a float, `64.0` for an int range becomes
    /// `64`, a categorical gives its listed choice). Exact: no conversion through `ln`.
    pub fn normalize(&self, value: &ParamValue) -> Result<ParamValue> {
        let i = self.to_internal(value)?;
        Ok(match self {
            Distribution::Float { .. } => ParamValue::Float(value.as_f64().unwrap_or(f64::NAN)),
            Distribution::Int { .. } => ParamValue::Int(value.as_i64().unwrap_or(0)),
            Distribution::Categorical { choices } => choices[i as usize].clone(),
        })
    }

    /// Converts an external value to the internal representation.
    pub fn to_internal(&self, value: &ParamValue) -> Result<f64> {
        if !self.contains(value) {
            return Err(Error::invalid(format!(
                "value {value} is not in the distribution {}",
                self.describe()
            )));
        }
        Ok(match self {
            Distribution::Float { log, .. } => {
                let v = value.as_f64().unwrap_or(f64::NAN);
                if *log { v.ln() } else { v }
            }
            Distribution::Int { log, .. } => {
                let v = value.as_i64().unwrap_or(0) as f64;
                if *log { v.ln() } else { v }
            }
            Distribution::Categorical { choices } => choices
                .iter()
                .position(|c| c.same_choice(value) || numeric_eq(c, value))
                .unwrap_or(0) as f64,
        })
    }

    /// Converts an internal representation back to the external value, snapping it onto the
    /// distribution (rounding to the step grid or integer, clamping to the bounds).
    pub fn to_external(&self, internal: f64) -> ParamValue {
        match self {
            Distribution::Float {
                low,
                high,
                log,
                step,
            } => {
                let mut v = match *log {
                    // exp(ln(x)) need not give x back: keep the bounds exact.
                    true if internal <= low.ln() => *low,
                    true if internal >= high.ln() => *high,
                    true => internal.exp(),
                    false => internal,
                };
                if let Some(s) = step {
                    v = grid_point(*low, *s, ((v - low) / s).round().max(0.0));
                    // Guard against values past `high` created by the rounding.
                    let n = self.cardinality().unwrap_or(1) - 1;
                    v = v.min(grid_point(*low, *s, n as f64));
                }
                ParamValue::Float(clamp_f(v, *low, *high))
            }
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => {
                let v = if *log { internal.exp() } else { internal };
                let k = ((v - *low as f64) / *step as f64).round();
                let v = *low as f64 + k * *step as f64;
                let max = low + ((high - low) / step) * step;
                ParamValue::Int((v as i64).clamp(*low, max))
            }
            Distribution::Categorical { choices } => {
                let i = (internal.round().max(0.0) as usize).min(choices.len() - 1);
                choices[i].clone()
            }
        }
    }

    /// Maps `u` in `[0, 1)` to a value, so that a uniform `u` gives the distribution's uniform
    /// law (uniform over values for discrete ranges, over `ln(value)` for log ranges).
    pub fn from_unit(&self, u: f64) -> ParamValue {
        let u = if u.is_finite() {
            u.clamp(0.0, 1.0)
        } else {
            0.5
        };
        match self {
            Distribution::Float {
                low,
                high,
                log,
                step,
            } => {
                if let Some(s) = step {
                    let n = self.cardinality().unwrap_or(1);
                    let k = ((u * n as f64).floor() as u64).min(n - 1);
                    return ParamValue::Float(grid_point(*low, *s, k as f64).min(*high));
                }
                let v = if u <= 0.0 {
                    *low
                } else if u >= 1.0 {
                    *high
                } else if *log {
                    (low.ln() + u * (high.ln() - low.ln())).exp()
                } else {
                    low + u * (high - low)
                };
                ParamValue::Float(clamp_f(v, *low, *high))
            }
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => {
                if *log {
                    let a = (*low as f64 - 0.5).ln();
                    let b = (*high as f64 + 0.5).ln();
                    let v = (a + u * (b - a)).exp().round() as i64;
                    return ParamValue::Int(v.clamp(*low, *high));
                }
                let n = ((high - low) / step + 1) as u64;
                let k = ((u * n as f64).floor() as u64).min(n - 1);
                ParamValue::Int(low + k as i64 * step)
            }
            Distribution::Categorical { choices } => {
                let n = choices.len();
                let k = ((u * n as f64).floor() as usize).min(n - 1);
                choices[k].clone()
            }
        }
    }

    /// For a value of a discrete numeric distribution (int, stepped float), the interval of
    /// `[0, 1]` that [`Distribution::from_unit`] maps onto it; `None` for continuous floats and
    /// categoricals. Density models use it to give discrete values their probability mass.
    pub fn unit_cell(&self, value: &ParamValue) -> Option<(f64, f64)> {
        let n = self.cardinality()? as f64;
        match self {
            Distribution::Categorical { .. } => None,
            Distribution::Int {
                low,
                high,
                log: true,
                ..
            } => {
                let v = value.as_i64()? as f64;
                let a = (*low as f64 - 0.5).ln();
                let b = (*high as f64 + 0.5).ln();
                Some((
                    ((v - 0.5).ln() - a) / (b - a),
                    ((v + 0.5).ln() - a) / (b - a),
                ))
            }
            _ => {
                let c = self.to_unit(value).ok()?;
                let k = (c * n - 0.5).round();
                Some((k / n, (k + 1.0) / n))
            }
        }
    }

    /// The inverse of [`Distribution::from_unit`]: the centre of the value's cell in `[0, 1]`.
    pub fn to_unit(&self, value: &ParamValue) -> Result<f64> {
        let internal = self.to_internal(value)?;
        Ok(match self {
            Distribution::Float {
                low,
                high,
                log,
                step,
            } => {
                if low == high {
                    return Ok(0.5);
                }
                if let Some(s) = step {
                    let n = self.cardinality().unwrap_or(1) as f64;
                    let k = ((internal - low) / s).round();
                    return Ok((k + 0.5) / n);
                }
                let (a, b) = if *log {
                    (low.ln(), high.ln())
                } else {
                    (*low, *high)
                };
                (internal - a) / (b - a)
            }
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => {
                if *log {
                    let a = (*low as f64 - 0.5).ln();
                    let b = (*high as f64 + 0.5).ln();
                    (internal - a) / (b - a)
                } else {
                    let n = ((high - low) / step + 1) as f64;
                    let k = ((internal - *low as f64) / *step as f64).round();
                    (k + 0.5) / n
                }
            }
            Distribution::Categorical { choices } => (internal + 0.5) / choices.len() as f64,
        })
    }

    /// A short human-readable form, e.g. `float[1e-6, 0.1] log`.
    pub fn describe(&self) -> String {
        match self {
            Distribution::Float {
                low,
                high,
                log,
                step,
            } => {
                let mut s = format!("float[{low:?}, {high:?}]");
                if *log {
                    s.push_str(" log");
                }
                if let Some(st) = step {
                    s.push_str(&format!(" step {st:?}"));
                }
                s
            }
            Distribution::Int {
                low,
                high,
                log,
                step,
            } => {
                let mut s = format!("int[{low}, {high}]");
                if *log {
                    s.push_str(" log");
                }
                if *step != 1 {
                    s.push_str(&format!(" step {step}"));
                }
                s
            }
            Distribution::Categorical { choices } => {
                let c: Vec<String> = choices.iter().map(|c| c.to_string()).collect();
                format!("categorical{{{}}}", c.join(", "))
            }
        }
    }
}

/// The `k`-th point `low + k * step` of a float grid, rounded to the decimals of `low` and `step`
/// so that a step of 0.1 gives 0.3, not 0.30000000000000004.
fn grid_point(low: f64, step: f64, k: f64) -> f64 {
    let v = low + k * step;
    let d = decimals(step).max(decimals(low));
    if d > 17 {
        return v;
    }
    format!("{v:.d$}").parse().unwrap_or(v)
}

/// Decimal places in the shortest representation of `x` (`0.25` → 2, `1e-5` → 5).
fn decimals(x: f64) -> usize {
    let s = format!("{:e}", x.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let frac = mant.split_once('.').map(|(_, f)| f.len()).unwrap_or(0) as i64;
    let exp: i64 = exp.parse().unwrap_or(0);
    (frac - exp).max(0) as usize
}

fn clamp_f(v: f64, low: f64, high: f64) -> f64 {
    if v < low {
        low
    } else if v > high {
        high
    } else {
        v
    }
}

/// An integer choice and the same number written as a float are the same choice (JSON and TOML
/// readers may give either).
fn numeric_eq(a: &ParamValue, b: &ParamValue) -> bool {
    matches!(
        (a, b),
        (ParamValue::Int(_), ParamValue::Float(_)) | (ParamValue::Float(_), ParamValue::Int(_))
    ) && a.as_f64() == b.as_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &ParamValue, b: &ParamValue) -> bool {
        match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-12 * y.abs().max(1e-300),
            _ => a == b,
        }
    }

    fn roundtrip(d: &Distribution, v: ParamValue) {
        let i = d.to_internal(&v).unwrap();
        let back = d.to_external(i);
        // Exact except in the interior of log ranges, where exp(ln(x)) may differ from x in
        // the last bit (storage keeps external values, so nothing drifts there).
        let exact = !matches!(d, Distribution::Float { log: true, .. })
            || v.as_f64() == Some(d.from_unit(0.0).as_f64().unwrap())
            || v.as_f64() == Some(d.from_unit(1.0).as_f64().unwrap());
        assert!(
            d.contains(&back)
                && if exact {
                    back == v || back.as_f64() == v.as_f64()
                } else {
                    close(&back, &v)
                },
            "{d:?}: {v:?} -> {i} -> {back:?}"
        );
        let u = d.to_unit(&v).unwrap();
        assert!((0.0..=1.0).contains(&u), "{d:?} {v:?} unit {u}");
        let back = d.from_unit(u);
        assert!(close(&back, &v), "{d:?}: {v:?} via unit {u} gives {back:?}");
    }

    #[test]
    fn every_distribution_round_trips_including_edges() {
        let cases = vec![
            (Distribution::float(-1.0, 2.0), vec![-1.0, 0.0, 0.5, 2.0]),
            (Distribution::float_log(1e-6, 1e-1), vec![1e-6, 3e-4, 1e-1]),
            (
                Distribution::Float {
                    low: 0.0,
                    high: 1.0,
                    log: false,
                    step: Some(0.1),
                },
                vec![0.0, 0.1, 0.3, 0.7, 1.0],
            ),
            (
                // high not on the grid: the last value is 0.75
                Distribution::Float {
                    low: 0.0,
                    high: 0.8,
                    log: false,
                    step: Some(0.25),
                },
                vec![0.0, 0.25, 0.75],
            ),
            (Distribution::float(3.0, 3.0), vec![3.0]),
        ];
        for (d, vals) in cases {
            d.validate().unwrap();
            for v in vals {
                roundtrip(&d, ParamValue::Float(v));
            }
        }
        let int_cases = vec![
            (Distribution::int(-5, 5), vec![-5, 0, 5]),
            (
                Distribution::Int {
                    low: 1,
                    high: 1024,
                    log: true,
                    step: 1,
                },
                vec![1, 2, 7, 1000, 1024],
            ),
            (
                Distribution::Int {
                    low: 2,
                    high: 11,
                    log: false,
                    step: 3,
                },
                vec![2, 5, 8, 11],
            ),
            (Distribution::int(4, 4), vec![4]),
        ];
        for (d, vals) in int_cases {
            d.validate().unwrap();
            for v in vals {
                roundtrip(&d, ParamValue::Int(v));
            }
        }
        let cat = Distribution::categorical(vec![
            ParamValue::from("sgd"),
            ParamValue::Int(8),
            ParamValue::Float(0.5),
            ParamValue::Bool(true),
        ]);
        cat.validate().unwrap();
        for v in [
            ParamValue::from("sgd"),
            ParamValue::Int(8),
            ParamValue::Float(0.5),
            ParamValue::Bool(true),
        ] {
            roundtrip(&cat, v);
        }
    }

    #[test]
    fn snapping_respects_bounds_steps_and_log() {
        let d = Distribution::Float {
            low: 0.0,
            high: 0.8,
            log: false,
            step: Some(0.25),
        };
        assert_eq!(d.to_external(0.9), ParamValue::Float(0.75));
        assert_eq!(d.to_external(0.3), ParamValue::Float(0.25));
        assert_eq!(d.cardinality(), Some(4));
        let tenth = Distribution::Float {
            low: 0.0,
            high: 1.0,
            log: false,
            step: Some(0.1),
        };
        let vals: Vec<String> = tenth
            .values()
            .unwrap()
            .iter()
            .map(|v| v.to_string())
            .collect();
        assert_eq!(vals[3], "0.3");
        assert_eq!(vals.len(), 11);
        assert_eq!(vals[10], "1.0");
        let i = Distribution::Int {
            low: 2,
            high: 11,
            log: false,
            step: 3,
        };
        assert_eq!(i.to_external(6.4), ParamValue::Int(5));
        assert_eq!(i.to_external(100.0), ParamValue::Int(11));
        assert!(!i.contains(&ParamValue::Int(3)));
        let l = Distribution::float_log(1e-3, 1.0);
        assert_eq!(l.to_external(-100.0), ParamValue::Float(1e-3));
        // unit mapping covers the whole range, uniformly in log space
        assert_eq!(l.from_unit(0.0), ParamValue::Float(1e-3));
        let mid = l.from_unit(0.5).as_f64().unwrap();
        assert!((mid - 10f64.powf(-1.5)).abs() < 1e-12);
        assert_eq!(l.from_unit(1.0), ParamValue::Float(1.0));
    }

    #[test]
    fn uniform_units_give_uniform_discrete_values() {
        let d = Distribution::Int {
            low: 0,
            high: 9,
            log: false,
            step: 1,
        };
        let mut counts = [0; 10];
        for k in 0..1000 {
            let v = d.from_unit((k as f64 + 0.5) / 1000.0).as_i64().unwrap();
            counts[v as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c == 100), "{counts:?}");
    }

    #[test]
    fn invalid_distributions_are_rejected_with_the_reason() {
        let bad = [
            (Distribution::float(1.0, 0.0), "must not exceed"),
            (Distribution::float_log(0.0, 1.0), "low > 0"),
            (Distribution::float(f64::NAN, 1.0), "finite"),
            (
                Distribution::Float {
                    low: 0.0,
                    high: 1.0,
                    log: false,
                    step: Some(0.0),
                },
                "step must be > 0",
            ),
            (Distribution::int(3, 2), "must not exceed"),
            (
                Distribution::Int {
                    low: 0,
                    high: 10,
                    log: true,
                    step: 1,
                },
                "low >= 1",
            ),
            (
                Distribution::Categorical { choices: vec![] },
                "at least one",
            ),
            (Distribution::categorical(["a", "a"]), "twice"),
        ];
        for (d, msg) in bad {
            let e = d.validate().unwrap_err().to_string();
            assert!(e.contains(msg), "{d:?}: {e}");
        }
        let d = Distribution::float(0.0, 1.0);
        assert!(d.to_internal(&ParamValue::Float(2.0)).is_err());
        assert!(d.to_internal(&ParamValue::Str("x".into())).is_err());
        assert!(d.to_internal(&ParamValue::Float(f64::NAN)).is_err());
    }

    #[test]
    fn serde_form_is_tagged_and_readable() {
        let d: Distribution =
            serde_json::from_str(r#"{"type":"float","low":1e-6,"high":0.1,"log":true}"#).unwrap();
        assert_eq!(d, Distribution::float_log(1e-6, 0.1));
        let c: Distribution =
            serde_json::from_str(r#"{"type":"categorical","choices":[8,16,"x",true,0.5]}"#)
                .unwrap();
        assert_eq!(
            c,
            Distribution::categorical(vec![
                ParamValue::Int(8),
                ParamValue::Int(16),
                ParamValue::from("x"),
                ParamValue::Bool(true),
                ParamValue::Float(0.5)
            ])
        );
        assert!(serde_json::from_str::<Distribution>(r#"{"type":"beta","a":1}"#).is_err());
    }
}
