//! Tabular HPO benchmarks: every configuration of a grid was trained for real; a query looks the
//! configuration up. Numeric columns become ordinal integer parameters (the index into the
//! column's sorted values, so log-spaced grids stay evenly spaced), text columns categoricals.
//!
//! - FCNet (Klein & Hutter 2019): objective = validation MSE averaged over the 4 seeds.
//! - HPOBench MLP (Eggensperger et al. 2021): objective = 1 - validation accuracy averaged over
//!   the 5 seeds.

use flate2::read::GzDecoder;
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::problems::Problem;
use tuneforge::{Error, Result, Trial};

/// One hyperparameter column.
#[derive(Clone, Debug)]
pub enum Column {
    /// Numeric grid values, sorted.
    Numeric(Vec<f64>),
    /// Text choices, in first-seen order.
    Text(Vec<String>),
}

/// A loaded tabular benchmark.
pub struct Tabular {
    name: String,
    params: Vec<(String, Column)>,
    table: HashMap<Vec<usize>, f64>,
    f_star: f64,
}

impl Tabular {
    /// Loads `path`: `params` name the hyperparameter columns, `metric` the per-seed prefix
    /// (`val_loss_s` or `val_acc_s`); accuracy is turned into `1 - accuracy`.
    pub fn load(name: &str, path: &Path, params: &[&str], metric: &str) -> Result<Tabular> {
        let mut tables = Self::load_metrics(name, path, params, &[metric])?;
        tables
            .pop()
            .ok_or_else(|| Error::invalid(format!("{}: no metric", path.display())))
    }

    /// Loads `path` once and returns one table per metric prefix in `metrics` (as [`Self::load`]
    /// does for one), all with the same columns and keys.
    pub fn load_metrics(
        name: &str,
        path: &Path,
        params: &[&str],
        metrics: &[&str],
    ) -> Result<Vec<Tabular>> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut text = String::new();
        GzDecoder::new(file)
            .read_to_string(&mut text)
            .map_err(|e| Error::io(path, e))?;
        let mut lines = text.lines();
        let header: Vec<&str> = lines
            .next()
            .ok_or_else(|| Error::invalid(format!("{}: empty file", path.display())))?
            .split(',')
            .collect();
        let col = |n: &str| {
            header
                .iter()
                .position(|h| *h == n)
                .ok_or_else(|| Error::invalid(format!("{}: no column '{n}'", path.display())))
        };
        let pcols: Vec<usize> = params.iter().map(|p| col(p)).collect::<Result<_>>()?;
        let mut mcols: Vec<Vec<usize>> = Vec::with_capacity(metrics.len());
        for metric in metrics {
            let cols: Vec<usize> = header
                .iter()
                .enumerate()
                .filter(|(_, h)| h.starts_with(metric))
                .map(|(i, _)| i)
                .collect();
            if cols.is_empty() {
                return Err(Error::invalid(format!(
                    "{}: no '{metric}*' columns",
                    path.display()
                )));
            }
            mcols.push(cols);
        }
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        // Every row whole before any field is read by position.
        if let Some(r) = rows.iter().find(|r| r.len() != header.len()) {
            return Err(Error::invalid(format!(
                "{}: a row has {} fields, the header {}",
                path.display(),
                r.len(),
                header.len()
            )));
        }
        let mut columns = Vec::new();
        for (&c, p) in pcols.iter().zip(params) {
            let vals: Vec<&str> = rows.iter().map(|r| r[c]).collect();
            let column = if vals.iter().all(|v| v.parse::<f64>().is_ok()) {
                let mut nums: Vec<f64> = vals.iter().map(|v| v.parse().unwrap_or(0.0)).collect();
                nums.sort_by(f64::total_cmp);
                nums.dedup();
                Column::Numeric(nums)
            } else {
                let mut seen: Vec<String> = Vec::new();
                for v in vals {
                    if !seen.iter().any(|s| s == v) {
                        seen.push(v.to_string());
                    }
                }
                Column::Text(seen)
            };
            columns.push((p.to_string(), column));
        }
        let mut tables: Vec<HashMap<Vec<usize>, f64>> = metrics
            .iter()
            .map(|_| HashMap::with_capacity(rows.len()))
            .collect();
        for r in &rows {
            let key: Vec<usize> = pcols
                .iter()
                .zip(&columns)
                .map(|(&c, (_, col))| match col {
                    Column::Numeric(v) => {
                        let x: f64 = r[c].parse().unwrap_or(f64::NAN);
                        v.iter().position(|y| *y == x).unwrap_or(0)
                    }
                    Column::Text(v) => v.iter().position(|y| y == r[c]).unwrap_or(0),
                })
                .collect();
            for ((metric, cols), table) in metrics.iter().zip(&mcols).zip(&mut tables) {
                let ys: Vec<f64> = cols
                    .iter()
                    .filter_map(|&c| r[c].parse::<f64>().ok())
                    .collect();
                let mean = ys.iter().sum::<f64>() / ys.len().max(1) as f64;
                let accuracy = metric.contains("acc");
                table.insert(key.clone(), if accuracy { 1.0 - mean } else { mean });
            }
        }
        Ok(tables
            .into_iter()
            .map(|table| Tabular {
                name: name.to_string(),
                params: columns.clone(),
                f_star: table.values().cloned().fold(f64::INFINITY, f64::min),
                table,
            })
            .collect())
    }

    /// Number of configurations.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The hyperparameter columns, in key order.
    pub fn params(&self) -> &[(String, Column)] {
        &self.params
    }

    /// The objective at `key` (indices into the columns' values), if the table has it.
    pub fn value(&self, key: &[usize]) -> Option<f64> {
        self.table.get(key).copied()
    }

    /// Every configuration's objective, in no particular order.
    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.table.values().copied()
    }

    /// Suggests every hyperparameter in `t` and returns the configuration's key.
    pub fn key(&self, t: &mut Trial) -> Result<Vec<usize>> {
        let mut key = Vec::with_capacity(self.params.len());
        for (name, col) in &self.params {
            let i = match col {
                Column::Numeric(v) => t.suggest_int(name, 0, v.len() as i64 - 1).get()? as usize,
                Column::Text(v) => {
                    let c = t.suggest_categorical(name, v)?;
                    v.iter().position(|x| *x == c).unwrap_or(0)
                }
            };
            key.push(i);
        }
        Ok(key)
    }
}

impl Problem for Tabular {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn f_star(&self) -> f64 {
        self.f_star
    }
    fn evaluate(&self, t: &mut Trial) -> Result<f64> {
        let key = self.key(t)?;
        self.value(&key).ok_or_else(|| {
            Error::invalid(format!(
                "{}: configuration {key:?} is not in the table",
                self.name
            ))
        })
    }
}

/// FCNet hyperparameter columns.
pub const FCNET_PARAMS: [&str; 9] = [
    "activation_fn_1",
    "activation_fn_2",
    "batch_size",
    "dropout_1",
    "dropout_2",
    "init_lr",
    "lr_schedule",
    "n_units_1",
    "n_units_2",
];

/// HPOBench MLP hyperparameter columns.
pub const HPOBENCH_PARAMS: [&str; 5] = [
    "alpha",
    "batch_size",
    "depth",
    "learning_rate_init",
    "width",
];

/// The six tabular problems found under `data_dir` (`hpo-tabular/`); missing files are skipped.
pub fn load_all(data_dir: &Path) -> Result<Vec<Tabular>> {
    let mut out = Vec::new();
    for (name, file) in [
        ("fcnet-protein", "fcnet_protein_structure.csv.gz"),
        ("fcnet-naval", "fcnet_naval_propulsion.csv.gz"),
    ] {
        let p = data_dir.join(file);
        if p.exists() {
            out.push(Tabular::load(name, &p, &FCNET_PARAMS, "val_loss_s")?);
        }
    }
    for task in ["australian", "credit_g", "kc1", "segment"] {
        let p = data_dir.join(format!("hpobench_mlp_{task}.csv.gz"));
        if p.exists() {
            out.push(Tabular::load(
                &format!("mlp-{task}"),
                &p,
                &HPOBENCH_PARAMS,
                "val_acc_s",
            )?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(path: &Path, text: &str) {
        let mut e =
            flate2::write::GzEncoder::new(std::fs::File::create(path).unwrap(), Default::default());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap();
    }

    #[test]
    fn a_small_table_is_looked_up_and_malformed_ones_are_refused() {
        let dir = std::env::temp_dir().join(format!("tf-tab-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("ok.csv.gz");
        gz(
            &ok,
            "a,b,val_acc_s0,val_acc_s1\n1,x,0.5,0.7\n2,x,0.9,0.9\n1,y,0.1,0.3\n2,y,0.2,0.2\n",
        );
        let t = Tabular::load("t", &ok, &["a", "b"], "val_acc_s").unwrap();
        assert_eq!(t.len(), 4);
        assert!((t.f_star() - 0.1).abs() < 1e-12, "1 - mean(0.9, 0.9)");
        let bad = dir.join("bad.csv.gz");
        gz(&bad, "a,b,val_acc_s0\n1,x\n");
        let e = Tabular::load("t", &bad, &["a", "b"], "val_acc_s")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("a row has 2 fields, the header 3"), "{e}");
        // A row too short to hold a parameter column is refused, not read past its end.
        gz(&bad, "a,b,val_acc_s0\n1,x,0.5\n2\n");
        let e = Tabular::load("t", &bad, &["a", "b"], "val_acc_s")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("a row has 1 fields, the header 3"), "{e}");
        // Two metrics from one read: the same keys, each its own values.
        let [acc, other] = <[Tabular; 2]>::try_from(
            Tabular::load_metrics("t", &ok, &["a", "b"], &["val_acc_s", "val_acc_s1"]).unwrap(),
        )
        .ok()
        .unwrap();
        assert_eq!((acc.len(), other.len()), (4, 4));
        assert!(
            (acc.value(&[0, 0]).unwrap() - 0.4).abs() < 1e-12,
            "1 - mean(0.5, 0.7)"
        );
        assert!(
            (other.value(&[0, 0]).unwrap() - 0.3).abs() < 1e-12,
            "1 - 0.7"
        );
        let e = Tabular::load("t", &ok, &["a", "nope"], "val_acc_s")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no column 'nope'"), "{e}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn the_shared_fcnet_table_has_its_documented_size_and_optimum() {
        let path = std::path::PathBuf::from(
            std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
        )
        .join("../../../shared/data/hpo-tabular/fcnet_protein_structure.csv.gz");
        if !path.exists() {
            // The data lives beside the repository (shared/); a checkout without it has nothing to check.
            assert!(
                std::env::var("CI").is_err(),
                "CI has shared/ beside the clone: {}",
                path.display()
            );
            return;
        }
        let t = Tabular::load("fcnet-protein", &path, &FCNET_PARAMS, "val_loss_s").unwrap();
        assert_eq!(t.len(), 62_208);
        // The best single-seed MSE is 0.2214 (data README); the best seed mean cannot be lower.
        assert!(
            t.f_star() >= 0.2214 - 1e-4 && t.f_star() < 0.23,
            "{}",
            t.f_star()
        );
    }
}
