//! The metric line format read from a trial's standard output.
//!
//! One JSON object per line. Numeric fields are metrics; a `"step"` field (a non-negative
//! integer) makes the line an intermediate report at that step, otherwise it is a final result:
//!
//! ```text
//! {"step": 1, "val_accuracy": 0.81, "loss": 0.62}     intermediate report at step 1
//! {"step": 2, "val_accuracy": 0.88, "loss": 0.41}
//! {"val_accuracy": 0.91}                               final value
//! ```
//!
//! Other lines (plain logs, other JSON) are kept in the log and otherwise ignored. Python's
//! `json.dumps` spellings `NaN`, `Infinity` and `-Infinity` are understood, so a diverged
//! training run is reported as such rather than as garbage.

use crate::record::Metrics;

/// What one stdout line says.
#[derive(Clone, Debug, PartialEq)]
pub enum MetricLine {
    /// Intermediate metrics at a step.
    Report {
        /// The step.
        step: u64,
        /// The metrics.
        metrics: Metrics,
    },
    /// Final metrics.
    Final(Metrics),
    /// Not a metric line.
    Other,
}

/// Parses one line of a trial's standard output.
pub fn parse_metric_line(line: &str) -> MetricLine {
    let l = line.trim();
    if !(l.starts_with('{') && l.ends_with('}')) {
        return MetricLine::Other;
    }
    let obj: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(l) {
        Ok(o) => o,
        Err(_) => match serde_json::from_str(&quote_non_finite(l)) {
            Ok(o) => o,
            Err(_) => return MetricLine::Other,
        },
    };
    let mut step = None;
    let mut metrics = Metrics::new();
    for (k, v) in obj {
        if k == "step" {
            match v.as_u64() {
                Some(s) => step = Some(s),
                None => return MetricLine::Other,
            }
            continue;
        }
        let x = match &v {
            serde_json::Value::Number(n) => n.as_f64(),
            serde_json::Value::String(s) if s == NAN_MARK => Some(f64::NAN),
            serde_json::Value::String(s) if s == INF_MARK => Some(f64::INFINITY),
            serde_json::Value::String(s) if s == NEG_INF_MARK => Some(f64::NEG_INFINITY),
            _ => None,
        };
        if let Some(x) = x {
            metrics.insert(k, x);
        }
    }
    if metrics.is_empty() {
        return MetricLine::Other;
    }
    match step {
        Some(step) => MetricLine::Report { step, metrics },
        None => MetricLine::Final(metrics),
    }
}

const NAN_MARK: &str = "\u{1}NaN";
const INF_MARK: &str = "\u{1}inf";
const NEG_INF_MARK: &str = "\u{1}-inf";

/// Replaces bare `NaN`, `Infinity`, `-Infinity` outside strings by marker strings.
fn quote_non_finite(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    let mut in_str = false;
    let mut escaped = false;
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let mut matched = false;
        for (tok, mark) in [
            ("-Infinity", NEG_INF_MARK),
            ("Infinity", INF_MARK),
            ("NaN", NAN_MARK),
        ] {
            if rest.starts_with(tok) {
                out.push_str(&serde_json::Value::String(mark.into()).to_string());
                rest = &rest[tok.len()..];
                matched = true;
                break;
            }
        }
        if matched {
            continue;
        }
        if c == '"' {
            in_str = true;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_finals_and_garbage() {
        assert_eq!(
            parse_metric_line(r#"{"step": 3, "loss": 0.5, "note": "x"}"#),
            MetricLine::Report {
                step: 3,
                metrics: Metrics::from([("loss".to_string(), 0.5)])
            }
        );
        assert_eq!(
            parse_metric_line(r#"  {"acc": 1}  "#),
            MetricLine::Final(Metrics::from([("acc".to_string(), 1.0)]))
        );
        for garbage in [
            "epoch 3 loss 0.5",
            "{not json}",
            r#"{"step": -1, "loss": 1}"#,
            r#"{"name": "x"}"#,
            "",
            "{",
        ] {
            assert_eq!(parse_metric_line(garbage), MetricLine::Other, "{garbage}");
        }
    }

    #[test]
    fn python_non_finite_spellings_are_understood() {
        match parse_metric_line(r#"{"loss": NaN, "a": Infinity, "b": -Infinity, "s": "NaN"}"#) {
            MetricLine::Final(m) => {
                assert!(m["loss"].is_nan());
                assert_eq!(m["a"], f64::INFINITY);
                assert_eq!(m["b"], f64::NEG_INFINITY);
                assert!(!m.contains_key("s"));
            }
            other => panic!("{other:?}"),
        }
    }
}
