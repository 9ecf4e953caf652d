//! A study as a table, one row per trial and one typed column per field (objectives,
//! parameters, last reported value of every metric, user and system attributes, seed, times),
//! written as CSV or Parquet.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use tuneforge::{Error, FrozenTrial, ParamValue, Result};

/// A typed column.
pub enum Values {
    /// Numbers.
    F64(Vec<Option<f64>>),
    /// Integers.
    I64(Vec<Option<i64>>),
    /// Text (JSON for structured attributes).
    Str(Vec<Option<String>>),
}

/// A named column.
pub struct Column {
    /// Header.
    pub name: String,
    /// Cells.
    pub values: Values,
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Builds the table of `trials`.
pub fn build(objectives: &[String], trials: &[FrozenTrial]) -> Vec<Column> {
    let mut cols = Vec::new();
    let col = |name: String, values: Values| Column { name, values };
    cols.push(col(
        "number".into(),
        Values::I64(trials.iter().map(|t| Some(t.number as i64)).collect()),
    ));
    cols.push(col(
        "state".into(),
        Values::Str(trials.iter().map(|t| Some(t.state.to_string())).collect()),
    ));
    for (i, o) in objectives.iter().enumerate() {
        cols.push(col(
            o.clone(),
            Values::F64(
                trials
                    .iter()
                    .map(|t| t.values.as_ref().and_then(|v| v.get(i)).copied())
                    .collect(),
            ),
        ));
    }
    let mut params: Vec<String> = Vec::new();
    for t in trials {
        for k in t.params.keys() {
            if !params.contains(k) {
                params.push(k.clone());
            }
        }
    }
    for p in &params {
        let vals: Vec<Option<&ParamValue>> = trials.iter().map(|t| t.params.get(p)).collect();
        let all_int = vals
            .iter()
            .flatten()
            .all(|v| matches!(v, ParamValue::Int(_)));
        let all_num = vals
            .iter()
            .flatten()
            .all(|v| matches!(v, ParamValue::Int(_) | ParamValue::Float(_)));
        let values = if all_int {
            Values::I64(vals.iter().map(|v| v.and_then(|x| x.as_i64())).collect())
        } else if all_num {
            Values::F64(vals.iter().map(|v| v.and_then(|x| x.as_f64())).collect())
        } else {
            Values::Str(vals.iter().map(|v| v.map(|x| x.to_string())).collect())
        };
        cols.push(col(format!("params_{p}"), values));
    }
    let metrics: BTreeSet<&String> = trials
        .iter()
        .flat_map(|t| t.intermediate.values().flat_map(|m| m.keys()))
        .collect();
    for m in metrics {
        cols.push(col(
            format!("metrics_{m}"),
            Values::F64(
                trials
                    .iter()
                    .map(|t| {
                        t.intermediate
                            .values()
                            .rev()
                            .find_map(|s| s.get(m))
                            .copied()
                    })
                    .collect(),
            ),
        ));
    }
    cols.push(col(
        "last_step".into(),
        Values::I64(
            trials
                .iter()
                .map(|t| t.intermediate.keys().next_back().map(|s| *s as i64))
                .collect(),
        ),
    ));
    let users: BTreeSet<&String> = trials.iter().flat_map(|t| t.user_attrs.keys()).collect();
    for u in users {
        cols.push(col(
            format!("user_attrs_{u}"),
            Values::Str(
                trials
                    .iter()
                    .map(|t| t.user_attrs.get(u).map(json_text))
                    .collect(),
            ),
        ));
    }
    let systems: BTreeSet<&String> = trials
        .iter()
        .flat_map(|t| t.system_attrs.keys())
        .filter(|k| k.as_str() != tuneforge::attrs::SEED)
        .collect();
    for s in systems {
        cols.push(col(
            format!("system_attrs_{s}"),
            Values::Str(
                trials
                    .iter()
                    .map(|t| t.system_attrs.get(s).map(json_text))
                    .collect(),
            ),
        ));
    }
    cols.push(col(
        "seed".into(),
        Values::I64(
            trials
                .iter()
                .map(|t| {
                    t.system_attrs
                        .get(tuneforge::attrs::SEED)
                        .and_then(|v| v.as_i64())
                })
                .collect(),
        ),
    ));
    cols.push(col(
        "started_ms".into(),
        Values::I64(trials.iter().map(|t| t.started_ms).collect()),
    ));
    cols.push(col(
        "finished_ms".into(),
        Values::I64(trials.iter().map(|t| t.finished_ms).collect()),
    ));
    cols.push(col(
        "duration_s".into(),
        Values::F64(trials.iter().map(|t| t.duration_s()).collect()),
    ));
    cols.push(col(
        "worker".into(),
        Values::Str(trials.iter().map(|t| t.worker.clone()).collect()),
    ));
    cols.push(col(
        "message".into(),
        Values::Str(trials.iter().map(|t| t.message.clone()).collect()),
    ));
    cols
}

fn rows(cols: &[Column]) -> usize {
    cols.first().map_or(0, |c| match &c.values {
        Values::F64(v) => v.len(),
        Values::I64(v) => v.len(),
        Values::Str(v) => v.len(),
    })
}

/// Writes the table as CSV (empty cells for missing values).
pub fn write_csv(cols: &[Column], out: Box<dyn Write>) -> Result<()> {
    let mut w = csv::Writer::from_writer(out);
    let err = |e: csv::Error| Error::invalid(e.to_string());
    w.write_record(cols.iter().map(|c| c.name.as_str()))
        .map_err(err)?;
    for r in 0..rows(cols) {
        let row: Vec<String> = cols
            .iter()
            .map(|c| match &c.values {
                Values::F64(v) => v[r].map(|x| x.to_string()).unwrap_or_default(),
                Values::I64(v) => v[r].map(|x| x.to_string()).unwrap_or_default(),
                Values::Str(v) => v[r].clone().unwrap_or_default(),
            })
            .collect();
        w.write_record(&row).map_err(err)?;
    }
    w.flush()
        .map_err(|e| Error::invalid(format!("cannot write the CSV: {e}")))?;
    Ok(())
}

/// Writes the table as a Parquet file (uncompressed; optional columns, so missing values are
/// nulls).
pub fn write_parquet(cols: &[Column], path: &Path) -> Result<()> {
    use parquet::basic::{ConvertedType, Repetition, Type as Physical};
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;

    let perr = |e: parquet::errors::ParquetError| {
        Error::invalid(format!("cannot write {}: {e}", path.display()))
    };
    let fields = cols
        .iter()
        .map(|c| {
            let (physical, converted) = match c.values {
                Values::F64(_) => (Physical::DOUBLE, ConvertedType::NONE),
                Values::I64(_) => (Physical::INT64, ConvertedType::NONE),
                Values::Str(_) => (Physical::BYTE_ARRAY, ConvertedType::UTF8),
            };
            Type::primitive_type_builder(&c.name, physical)
                .with_repetition(Repetition::OPTIONAL)
                .with_converted_type(converted)
                .build()
                .map(Arc::new)
        })
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(perr)?;
    let schema = Arc::new(
        Type::group_type_builder("trial")
            .with_fields(fields)
            .build()
            .map_err(perr)?,
    );
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut writer =
        SerializedFileWriter::new(file, schema, Arc::new(WriterProperties::new())).map_err(perr)?;
    let mut group = writer.next_row_group().map_err(perr)?;
    for c in cols {
        let Some(mut cw) = group.next_column().map_err(perr)? else {
            break;
        };
        fn split<T: Clone>(v: &[Option<T>]) -> (Vec<T>, Vec<i16>) {
            let defs = v.iter().map(|x| i16::from(x.is_some())).collect();
            (v.iter().flatten().cloned().collect(), defs)
        }
        match &c.values {
            Values::F64(v) => {
                let (vals, defs) = split(v);
                cw.typed::<DoubleType>()
                    .write_batch(&vals, Some(&defs), None)
                    .map_err(perr)?;
            }
            Values::I64(v) => {
                let (vals, defs) = split(v);
                cw.typed::<Int64Type>()
                    .write_batch(&vals, Some(&defs), None)
                    .map_err(perr)?;
            }
            Values::Str(v) => {
                let (vals, defs) = split(v);
                let bytes: Vec<ByteArray> =
                    vals.iter().map(|s| ByteArray::from(s.as_str())).collect();
                cw.typed::<ByteArrayType>()
                    .write_batch(&bytes, Some(&defs), None)
                    .map_err(perr)?;
            }
        }
        cw.close().map_err(perr)?;
    }
    group.close().map_err(perr)?;
    writer.close().map_err(perr)?;
    Ok(())
}
