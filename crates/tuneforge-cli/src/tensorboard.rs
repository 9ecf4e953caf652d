//! TensorBoard export: one run directory per trial with its intermediate metrics as scalars and
//! the HParams plugin's session summaries (parameters, start, end, status), plus the
//! experiment summary (parameter domains, metrics) at the top, so TensorBoard's Scalars and
//! HParams dashboards open the study directly.
//!
//! Event files are TFRecord files: each record is its length (u64, little-endian), the masked
//! CRC-32C of the length, the bytes of an `Event` protocol buffer, and their masked CRC-32C.
//! The few messages needed (Event, Summary, SummaryMetadata, HParamsPluginData and its parts,
//! google.protobuf.Value) are encoded here by field number; the schemas are TensorFlow's
//! `event.proto`, `summary.proto` and TensorBoard's `plugins/hparams/{api,plugin_data}.proto`.

use std::io::Write;
use std::path::Path;

use tuneforge::{Distribution, Error, FrozenTrial, ParamValue, Result, StudyRecord, TrialState};

/// A protocol-buffer message being written.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }
    fn key(&mut self, field: u32, wire: u8) {
        self.varint(((field as u64) << 3) | wire as u64);
    }
    fn int(&mut self, field: u32, v: i64) -> &mut Self {
        self.key(field, 0);
        self.varint(v as u64);
        self
    }
    fn double(&mut self, field: u32, v: f64) -> &mut Self {
        self.key(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn float(&mut self, field: u32, v: f32) -> &mut Self {
        self.key(field, 5);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn bytes(&mut self, field: u32, b: &[u8]) -> &mut Self {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn str(&mut self, field: u32, s: &str) -> &mut Self {
        self.bytes(field, s.as_bytes())
    }
    fn msg(&mut self, field: u32, m: &Msg) -> &mut Self {
        self.bytes(field, &m.0)
    }
}

/// CRC-32C (Castagnoli), bitwise.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn masked(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// Appends events to one event file.
struct EventFile {
    out: std::io::BufWriter<std::fs::File>,
    path: std::path::PathBuf,
}

impl EventFile {
    fn create(dir: &Path, wall: f64) -> Result<EventFile> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let path = dir.join(format!(
            "events.out.tfevents.{}.{}",
            wall as u64,
            tuneforge::env::hostname()
        ));
        let file = std::fs::File::create(&path).map_err(|e| Error::io(&path, e))?;
        let mut f = EventFile {
            out: std::io::BufWriter::new(file),
            path,
        };
        let mut ev = Msg::default();
        ev.double(1, wall).str(3, "brain.Event:2");
        f.record(&ev)?;
        Ok(f)
    }

    fn record(&mut self, event: &Msg) -> Result<()> {
        let len = (event.0.len() as u64).to_le_bytes();
        let mut buf = Vec::with_capacity(event.0.len() + 16);
        buf.extend_from_slice(&len);
        buf.extend_from_slice(&masked(crc32c(&len)).to_le_bytes());
        buf.extend_from_slice(&event.0);
        buf.extend_from_slice(&masked(crc32c(&event.0)).to_le_bytes());
        self.out
            .write_all(&buf)
            .map_err(|e| Error::io(&self.path, e))
    }

    fn summary(&mut self, wall: f64, step: i64, value: &Msg) -> Result<()> {
        let mut summary = Msg::default();
        summary.msg(1, value);
        let mut ev = Msg::default();
        ev.double(1, wall).int(2, step).msg(5, &summary);
        self.record(&ev)
    }

    fn scalar(&mut self, wall: f64, step: i64, tag: &str, v: f64) -> Result<()> {
        let mut value = Msg::default();
        value.str(1, tag).float(2, v as f32);
        self.summary(wall, step, &value)
    }

    /// An HParams plugin summary: `data_field` 2 experiment, 3 session start, 4 session end.
    fn hparams(&mut self, wall: f64, tag: &str, data_field: u32, data: &Msg) -> Result<()> {
        let mut plugin = Msg::default();
        plugin.int(1, 0).msg(data_field, data);
        let mut plugin_data = Msg::default();
        plugin_data.str(1, "hparams").bytes(2, &plugin.0);
        let mut meta = Msg::default();
        meta.msg(1, &plugin_data);
        // A float tensor of shape (0,), as TensorBoard's own hparams summaries carry.
        let dim = Msg::default();
        let mut shape = Msg::default();
        shape.msg(2, &dim);
        let mut tensor = Msg::default();
        tensor.int(1, 1).msg(2, &shape);
        let mut value = Msg::default();
        value.str(1, tag).msg(9, &meta).msg(8, &tensor);
        self.summary(wall, 0, &value)
    }

    fn finish(mut self) -> Result<()> {
        self.out.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// A google.protobuf.Value for a parameter value.
fn pb_value(v: &ParamValue) -> Msg {
    let mut m = Msg::default();
    match v {
        ParamValue::Bool(b) => {
            m.int(4, i64::from(*b));
        }
        ParamValue::Str(s) => {
            m.str(3, s);
        }
        other => {
            m.double(2, other.as_f64().unwrap_or(f64::NAN));
        }
    }
    m
}

/// Writes the TensorBoard log directory of a study into `dir`.
pub fn export(
    record: &StudyRecord,
    objectives: &[String],
    trials: &[FrozenTrial],
    dir: &Path,
) -> Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let secs = |ms: Option<i64>| ms.map_or(now, |m| m as f64 / 1000.0);
    // Experiment: the parameters' domains and the metrics.
    let mut exp = Msg::default();
    exp.str(6, &record.name)
        .double(3, record.created_ms as f64 / 1000.0);
    let mut seen: Vec<&String> = Vec::new();
    for t in trials {
        for (name, d) in &t.distributions {
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            let mut info = Msg::default();
            info.str(1, name);
            match d {
                Distribution::Categorical { choices } => {
                    let all_str = choices.iter().all(|c| matches!(c, ParamValue::Str(_)));
                    info.int(4, if all_str { 1 } else { 3 });
                    let mut list = Msg::default();
                    for c in choices {
                        list.msg(1, &pb_value(c));
                    }
                    info.msg(5, &list);
                }
                Distribution::Float { low, high, .. } => {
                    let mut iv = Msg::default();
                    iv.double(1, *low).double(2, *high);
                    info.int(4, 3).msg(6, &iv);
                }
                Distribution::Int { low, high, .. } => {
                    let mut iv = Msg::default();
                    iv.double(1, *low as f64).double(2, *high as f64);
                    info.int(4, 3).msg(6, &iv);
                }
            }
            exp.msg(4, &info);
        }
    }
    let mut metrics: Vec<String> = objectives.to_vec();
    for t in trials {
        for m in t.intermediate.values().flat_map(|m| m.keys()) {
            if !metrics.contains(m) {
                metrics.push(m.clone());
            }
        }
    }
    for m in &metrics {
        let mut name = Msg::default();
        name.str(2, m);
        let mut info = Msg::default();
        info.msg(1, &name);
        exp.msg(5, &info);
    }
    let mut top = EventFile::create(dir, now)?;
    top.hparams(now, "_hparams_/experiment", 2, &exp)?;
    top.finish()?;
    // One run per trial.
    for t in trials {
        let mut f = EventFile::create(&dir.join(format!("trial-{}", t.number)), now)?;
        let start = secs(t.started_ms);
        let mut info = Msg::default();
        for (k, v) in &t.params {
            let mut entry = Msg::default();
            entry.str(1, k).msg(2, &pb_value(v));
            info.msg(1, &entry);
        }
        info.double(5, start);
        f.hparams(start, "_hparams_/session_start_info", 3, &info)?;
        for (step, m) in &t.intermediate {
            for (k, v) in m {
                if v.is_finite() {
                    f.scalar(start, *step as i64, k, *v)?;
                }
            }
        }
        let last = t.intermediate.keys().next_back().copied().unwrap_or(0) as i64;
        for (name, v) in objectives.iter().zip(t.values.iter().flatten()) {
            // An objective that is also a reported metric already has its curve.
            if !t.intermediate.values().any(|m| m.contains_key(name)) {
                f.scalar(secs(t.finished_ms), last, name, *v)?;
            }
        }
        let status = match t.state {
            TrialState::Complete | TrialState::Pruned => 1,
            TrialState::Failed => 2,
            _ => 3,
        };
        let mut end = Msg::default();
        end.int(1, status).double(2, secs(t.finished_ms));
        f.hparams(secs(t.finished_ms), "_hparams_/session_end_info", 4, &end)?;
        f.finish()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        let mut m = Msg::default();
        m.varint(300);
        assert_eq!(m.0, vec![0xAC, 0x02]);
    }
}
