//! FCNet (Klein & Hutter 2019) as a multi-fidelity benchmark with training time as the cost.
//!
//! The shipped table holds only results after full training, so the cheap fidelity here is a
//! smaller model: at budget b of R = 8 (η = 2) both hidden layers get the configuration's units
//! divided by R/b (at least the grid's 16), and the evaluation costs that network's measured
//! training time (mean over the table's 4 seeds). The metric is the negative validation MSE
//! (mean over the 4 seeds), so that higher is better as in the other multi-fidelity tables. A
//! wider network cannot continue a narrower one: every evaluation, a promotion's too, pays its
//! whole training time, as DEHB and SMAC3 do for every fidelity.

use std::path::Path;

use tuneforge::sampler::asha_scheduler::budget_of;
use tuneforge::{Error, Trial};

use crate::multifidelity::{Recorder, Run, Units};
use crate::tabular::{FCNET_PARAMS, Tabular};

/// The full budget: the configuration's own width.
pub const R: u64 = 8;
/// The reduction factor between widths (the table's grid doubles the units).
pub const ETA: u64 = 2;

/// The methods run on it, with what each is here.
pub const METHODS: [(&str, &str); 11] = [
    ("random", "random search, every trial at full width"),
    ("tpe", "TPE, every trial at full width"),
    (
        "hyperband",
        "random + Hyperband (r=1, eta=2), trials as for median",
    ),
    (
        "median",
        "TPE + median stopping: a trial trains at widths R/8, R/4, R/2, R in turn, each from scratch, until stopped",
    ),
    (
        "tpe-hyperband",
        "TPE + Hyperband, trials as for median (the pairing of Optuna's TPE + HyperbandPruner)",
    ),
    (
        "bohb",
        "BOHB: TPE per budget + Hyperband, trials as for median",
    ),
    (
        "asha-promote",
        "promotion-based ASHA (r=1, eta=2): a promotion trains the next width from scratch",
    ),
    (
        "hyperband-sync",
        "random + Hyperband as published: brackets of synchronous successive halving",
    ),
    (
        "bohb-sync",
        "BOHB as published: BOHB's per-budget TPE + synchronous Hyperband brackets",
    ),
    (
        "bohb-promote-hb",
        "promotion-based ASHA on Hyperband's budgets with BOHB's per-budget TPE proposing new configurations",
    ),
    (
        "bohb-promote-hb-first",
        "bohb-promote-hb, and until a trial has full width, once 3 configurations have results at the narrowest width, the leader at the widest width reached is promoted on at once",
    ),
];

/// Cost units per mean full training: traces count thousandths of the table's mean training
/// time, so that datasets whose networks train at different speeds share one table.
pub const UNITS_PER_TRAINING: u64 = 1000;

/// Methods whose trials report at every width and are stopped by a pruner.
const STEPWISE: [&str; 4] = ["median", "hyperband", "tpe-hyperband", "bohb"];

/// One FCNet dataset's table, with validation MSE and training time per configuration.
pub struct WidthFcnet {
    mse: Tabular,
    time: Tabular,
    units: [usize; 2],
    mean_ms: u64,
}

impl WidthFcnet {
    /// Loads an FCNet table (`fcnet_*.csv.gz`).
    pub fn load(path: &Path) -> tuneforge::Result<WidthFcnet> {
        let tables = Tabular::load_metrics(
            "fcnet",
            path,
            &FCNET_PARAMS,
            &["val_loss_s", "train_time_s"],
        )?;
        let [mse, time] = <[Tabular; 2]>::try_from(tables)
            .map_err(|_| Error::invalid("FCNet: two tables expected"))?;
        let pos = |n: &str| {
            mse.params()
                .iter()
                .position(|(p, _)| p == n)
                .ok_or_else(|| Error::invalid(format!("FCNet table without '{n}'")))
        };
        let units = [pos("n_units_1")?, pos("n_units_2")?];
        let n = time.len().max(1) as f64;
        let mean_ms = (1000.0 * time.values().sum::<f64>() / n).round() as u64;
        Ok(WidthFcnet {
            mse,
            time,
            units,
            mean_ms,
        })
    }

    /// The mean training time of the table's configurations, in milliseconds (the cost of one
    /// full training on average).
    pub fn mean_full_time_ms(&self) -> u64 {
        self.mean_ms
    }

    /// The configuration `key` trained at `budget` (1..=R): its units divided by R/budget.
    pub fn narrowed(&self, key: &[usize], budget: u64) -> Vec<usize> {
        let halvings = ((R as f64 / budget.clamp(1, R) as f64).log2().round()) as usize;
        let mut k = key.to_vec();
        for &u in &self.units {
            k[u] = k[u].saturating_sub(halvings);
        }
        k
    }

    /// (negative validation MSE, training time in ms) of `key` trained at `budget`.
    pub fn evaluate(&self, key: &[usize], budget: u64) -> tuneforge::Result<(f64, u64)> {
        let k = self.narrowed(key, budget);
        let missing = || Error::invalid(format!("configuration {k:?} is not in the FCNet table"));
        let mse = self.mse.value(&k).ok_or_else(missing)?;
        let secs = self.time.value(&k).ok_or_else(missing)?;
        Ok((-mse, (secs * 1000.0).round() as u64))
    }
}

/// The section's units: training time (in thousandths of the table's mean training time) as
/// the cost, negative validation MSE as the metric; `configs` mean trainings make the budget.
pub fn units(configs: u64) -> Units {
    Units {
        full: "full width".into(),
        metric: "negative validation MSE".into(),
        cost_name: "training time".into(),
        budget_text: format!("{configs} times the table's mean training time"),
        cost: |c| format!("{:.1} mean trainings", c as f64 / UNITS_PER_TRAINING as f64),
        gap: |d| format!("{d:+.3e} MSE"),
        missing: f64::NEG_INFINITY,
    }
}

/// Runs `method` on `fc` until `configs` times the table's mean training time is spent. The
/// trace holds (training time spent in [`UNITS_PER_TRAINING`]ths of the mean training, best
/// negative MSE at full width so far).
pub fn run(
    fc: &WidthFcnet,
    task: &str,
    method: &str,
    seed: u64,
    configs: u64,
) -> Result<Run, String> {
    let mean_ms = fc.mean_full_time_ms().max(1);
    let budget_ms = configs * mean_ms;
    let study = crate::multifidelity::study(task, method, seed, R, ETA)?;
    let rec = Recorder::new(budget_ms);
    let stepwise = STEPWISE.contains(&method);
    let objective = |t: &mut Trial| -> tuneforge::Result<f64> {
        rec.trial();
        let key = fc.mse.key(t)?;
        // A scheduled trial trains once at its budget; a pruned one at every width in turn
        // (each from scratch); the others at full width.
        let levels = match budget_of(t.frozen()) {
            Some(b) => vec![b],
            None if stepwise => tuneforge::pruner::asha_budgets(1, R, ETA),
            None => vec![R],
        };
        let mut value = f64::NAN;
        for &b in &levels {
            let (v, cost) = fc.evaluate(&key, b)?;
            value = v;
            let used = rec.spend(cost);
            t.report(b, [("acc", v)])?;
            if b < R && stepwise && t.should_prune()? {
                return Err(Error::Pruned);
            }
            if b == R {
                rec.full(used * UNITS_PER_TRAINING / mean_ms, v);
            }
        }
        Ok(value)
    };
    rec.optimize(&study, objective)?;
    Ok(rec.into_run(task, method, seed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A complete small FCNet-like grid: loss falls with width, every training takes `time`
    /// seconds unless `time` is None (then 0.01 s per unit of both layers).
    fn table(dir: &Path, time: Option<f64>) -> std::path::PathBuf {
        let mut csv = FCNET_PARAMS.join(",");
        for s in 0..4 {
            csv.push_str(&format!(",train_time_s{s},val_loss_s{s}"));
        }
        csv.push('\n');
        for bs in [8, 16] {
            for lr in [0.001, 0.01] {
                for u1 in [16, 32, 64, 128] {
                    for u2 in [16, 32, 64, 128] {
                        csv.push_str(&format!("relu,tanh,{bs},0.0,0.3,{lr},cosine,{u1},{u2}"));
                        let t = time.unwrap_or(0.01 * (u1 + u2) as f64);
                        let loss = 1.0 / (u1 + u2) as f64 + lr;
                        for s in 0..4 {
                            // Seeds differ; the benchmark takes their mean.
                            let d = (s as f64 - 1.5) * 1e-4;
                            csv.push_str(&format!(",{t},{}", loss + d));
                        }
                        csv.push('\n');
                    }
                }
            }
        }
        let path = dir.join("fcnet_test.csv.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(csv.as_bytes()).unwrap();
        gz.finish().unwrap();
        path
    }

    fn load(time: Option<f64>) -> WidthFcnet {
        let dir = tempfile::tempdir().unwrap();
        WidthFcnet::load(&table(dir.path(), time)).unwrap()
    }

    #[test]
    fn a_smaller_budget_divides_the_units_of_both_layers() {
        let fc = load(None);
        // batch 8, lr 0.01, 128 and 32 units (indices 3 and 1).
        let key = vec![0, 0, 0, 0, 0, 1, 0, 3, 1];
        assert_eq!(fc.narrowed(&key, R), key);
        assert_eq!(fc.narrowed(&key, 4)[7..], [2, 0]);
        assert_eq!(fc.narrowed(&key, 2)[7..], [1, 0]);
        // Never below the grid's smallest width.
        assert_eq!(fc.narrowed(&key, 1)[7..], [0, 0]);
        // Each evaluation costs the narrowed network's own time and gives its own loss.
        let (v, ms) = fc.evaluate(&key, 4).unwrap();
        assert_eq!(ms, 800); // 0.01 s x (64 + 16) units
        assert!((v + (1.0 / 80.0 + 0.01)).abs() < 1e-12, "{v}");
        let (full, full_ms) = fc.evaluate(&key, R).unwrap();
        assert_eq!(full_ms, 1600);
        assert!(full > v, "the full network is better here");
        // The mean training time over the 64 configurations: 0.01 s x mean(u1 + u2) = 1.2 s.
        assert_eq!(fc.mean_full_time_ms(), 1200);
    }

    #[test]
    fn each_trial_pays_for_what_it_trained() {
        // Every training takes 10 ms, so a budget of 5 mean trainings is 5 evaluations.
        let fc = load(Some(0.01));
        for method in ["random", "tpe", "asha-promote", "bohb-sync"] {
            // These train each trial once: at full width, or at the budget scheduled for it.
            let run = super::run(&fc, "t", method, 1, 5).unwrap();
            assert_eq!(run.trials, 5, "{method}");
        }
        // Trials stopped by a pruner train width after width, each paid in full: the first
        // trial of the first bracket goes on past the first rung, so fewer trials fit.
        let run = super::run(&fc, "t", "hyperband", 1, 5).unwrap();
        assert!(run.trials < 5, "{}", run.trials);
        for method in METHODS.map(|(m, _)| m) {
            let run = super::run(&fc, "t", method, 3, 20).unwrap();
            // The trace is in thousandths of a mean training, never past the budget plus
            // the last evaluation, and its values are the table's full-width losses.
            let mut last = (0, f64::NEG_INFINITY);
            for &(cost, v) in &run.trace {
                assert!(cost > last.0 && v > last.1, "{method}: {:?}", run.trace);
                assert!(cost <= 21 * UNITS_PER_TRAINING, "{method}: {cost}");
                assert!(v < 0.0 && v > -0.05, "{method}: {v}");
                last = (cost, v);
            }
            assert!(
                !run.trace.is_empty(),
                "{method} trained nothing to full width"
            );
        }
    }

    #[test]
    fn bad_inputs_are_refused_with_what_was_wrong() {
        let fc = load(Some(0.01));
        let e = super::run(&fc, "t", "foo", 1, 5).err().unwrap();
        assert!(e.contains("unknown method 'foo'"), "{e}");
        let missing = Path::new("/nonexistent/fcnet_nothing.csv.gz");
        let e = WidthFcnet::load(missing).err().unwrap().to_string();
        assert!(e.contains("fcnet_nothing.csv.gz"), "{e}");
        // A table without the width columns cannot give the smaller-model fidelity.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fcnet_narrow.csv.gz");
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        gz.write_all(b"activation_fn_1,val_loss_s0,train_time_s0\nrelu,0.5,1.0\n")
            .unwrap();
        gz.finish().unwrap();
        let e = WidthFcnet::load(&path).err().unwrap().to_string();
        assert!(e.contains("no column 'activation_fn_2'"), "{e}");
    }

    #[test]
    fn the_shipped_tables_hold_the_documented_optima() {
        // ../shared/data/README.md: best validation MSE protein 0.2214, naval 3.19e-5.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/hpo-tabular");
        for (task, best) in [("protein_structure", 0.2214), ("naval_propulsion", 3.19e-5)] {
            let path = dir.join(format!("fcnet_{task}.csv.gz"));
            if !path.exists() {
                eprintln!("skipped: {} not found", path.display());
                continue;
            }
            let fc = WidthFcnet::load(&path).unwrap();
            let top = fc.mse.values().fold(f64::INFINITY, f64::min);
            assert!((top - best).abs() < 0.001 * best, "{task}: {top}");
            assert!(fc.mean_full_time_ms() > 1000, "{task}");
        }
    }
}
