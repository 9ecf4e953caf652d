//! How database backends encode what is not a plain column: parameters, intermediate metrics.
//! Shared by SQLite and PostgreSQL so both files read the same.

use crate::distribution::{Distribution, ParamValue};
use crate::error::{Error, Result};
use crate::record::{FrozenTrial, Metrics};

/// One recorded parameter: name, distribution and the value exactly as given.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredParam {
    pub name: String,
    pub dist: Distribution,
    pub value: ParamValue,
}

/// The JSON list element recording parameter `name`.
pub(crate) fn param_json(
    name: &str,
    dist: &Distribution,
    value: &ParamValue,
) -> Result<serde_json::Value> {
    Ok(serde_json::to_value(StoredParam {
        name: name.to_string(),
        dist: dist.clone(),
        value: value.clone(),
    })?)
}

/// Replaces (or appends) parameter `p` in the JSON list `v`.
pub(crate) fn upsert_param(
    v: &mut serde_json::Value,
    name: &str,
    p: serde_json::Value,
) -> Result<()> {
    let arr = v
        .as_array_mut()
        .ok_or_else(|| Error::Storage("params column is not a list".into()))?;
    arr.retain(|q| q.get("name").and_then(|n| n.as_str()) != Some(name));
    arr.push(p);
    Ok(())
}

/// Fills a trial's parameters and distributions from the stored JSON list.
pub(crate) fn fill_params(t: &mut FrozenTrial, params: &str) -> Result<()> {
    let ps: Vec<StoredParam> = serde_json::from_str(params)?;
    for p in ps {
        t.params.insert(p.name.clone(), p.value);
        t.distributions.insert(p.name, p.dist);
    }
    Ok(())
}

/// Writes metrics as JSON; non-finite values become the strings "NaN", "inf", "-inf".
pub(crate) fn metrics_to_json(m: &Metrics) -> String {
    let obj: serde_json::Map<String, serde_json::Value> = m
        .iter()
        .map(|(k, v)| {
            let j = serde_json::Number::from_f64(*v)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| serde_json::Value::String(format!("{v}")));
            (k.clone(), j)
        })
        .collect();
    serde_json::Value::Object(obj).to_string()
}

/// Reads metrics written by [`metrics_to_json`].
pub(crate) fn metrics_from_json(text: &str) -> Result<Metrics> {
    let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)?;
    obj.into_iter()
        .map(|(k, v)| {
            let x = match &v {
                serde_json::Value::Number(n) => n.as_f64(),
                serde_json::Value::String(s) => s.parse::<f64>().ok(),
                _ => None,
            };
            x.map(|x| (k.clone(), x))
                .ok_or_else(|| Error::Storage(format!("metric '{k}' has a non-numeric value {v}")))
        })
        .collect()
}

/// Merges `new` metrics into the stored JSON `old` (None: nothing stored yet).
pub(crate) fn merge_metrics(old: Option<&str>, new: &Metrics) -> Result<String> {
    let mut merged = match old {
        Some(o) => metrics_from_json(o)?,
        None => Metrics::new(),
    };
    merged.extend(new.iter().map(|(k, v)| (k.clone(), *v)));
    Ok(metrics_to_json(&merged))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_metrics_survive_json() {
        let m = Metrics::from([
            ("a".to_string(), f64::NAN),
            ("b".to_string(), f64::INFINITY),
            ("c".to_string(), 0.5),
        ]);
        let back = metrics_from_json(&metrics_to_json(&m)).unwrap();
        assert!(back["a"].is_nan());
        assert_eq!(back["b"], f64::INFINITY);
        assert_eq!(back["c"], 0.5);
        let merged = merge_metrics(
            Some(&metrics_to_json(&m)),
            &Metrics::from([("c".into(), 1.0)]),
        );
        assert_eq!(metrics_from_json(&merged.unwrap()).unwrap()["c"], 1.0);
        assert!(metrics_from_json(r#"{"x": [1]}"#).is_err());
    }
}
