//! LCBench learning curves from the YAHPO Gym surrogate (an ONNX model, run with tract): for a
//! configuration of an MLP on one of 34 OpenML tasks, the validation accuracy (and cumulative
//! training time) after each of 52 epochs. The real curves of the multi-fidelity benchmark.
//! Built only with the `lcbench` feature (tract is a large build).

use std::path::Path;
use tract_onnx::prelude::*;

/// Epochs of a full run.
pub const EPOCHS: usize = 52;

/// The OpenML task ids the surrogate knows (config_space.json), in its order.
pub const TASKS: [&str; 34] = [
    "3945", "7593", "34539", "126025", "126026", "126029", "146212", "167104", "167149", "167152",
    "167161", "167168", "167181", "167184", "167185", "167190", "167200", "167201", "168329",
    "168330", "168331", "168335", "168868", "168908", "168910", "189354", "189862", "189865",
    "189866", "189873", "189905", "189906", "189908", "189909",
];

type Plan = TypedSimplePlan<TypedModel>;

/// The surrogate, ready to evaluate whole curves.
pub struct Surrogate {
    plan: Plan,
    encoding: serde_json::Value,
}

/// An LCBench configuration (raw values, as the surrogate takes them).
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// 16..512 (log)
    pub batch_size: f64,
    /// 1e-4..1e-1 (log)
    pub learning_rate: f64,
    /// 0.1..0.99
    pub momentum: f64,
    /// 1e-5..0.1 (log)
    pub weight_decay: f64,
    /// 1..5
    pub num_layers: f64,
    /// 64..1024 (log)
    pub max_units: f64,
    /// 0..1
    pub max_dropout: f64,
}

/// One curve point.
#[derive(Clone, Copy, Debug)]
pub struct Point {
    /// Validation accuracy in percent.
    pub val_accuracy: f64,
    /// Cumulative training time in seconds.
    pub time: f64,
}

impl Surrogate {
    /// Loads `dir/model.onnx` and `dir/encoding.json`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let e = |e: TractError| format!("{}: {e}", dir.join("model.onnx").display());
        let model = tract_onnx::onnx()
            .model_for_path(dir.join("model.onnx"))
            .map_err(e)?
            .with_input_fact(0, i32::fact([EPOCHS, 1]).into())
            .map_err(e)?
            .with_input_fact(1, f32::fact([EPOCHS, 8]).into())
            .map_err(e)?
            .into_optimized()
            .map_err(e)?
            .into_runnable()
            .map_err(e)?;
        let enc = std::fs::read_to_string(dir.join("encoding.json")).map_err(|x| x.to_string())?;
        Ok(Surrogate {
            plan: model,
            encoding: serde_json::from_str(&enc).map_err(|x| x.to_string())?,
        })
    }

    /// The whole learning curve (epochs 1..=52) of `c` on `task`.
    pub fn curve(&self, task: &str, c: &Config) -> Result<Vec<Point>, String> {
        let code = self.encoding["OpenML_task_id"][task]
            .as_i64()
            .ok_or_else(|| format!("unknown LCBench task {task}"))? as i32;
        let cat = tract_ndarray::Array2::<i32>::from_elem((EPOCHS, 1), code);
        let mut cont = tract_ndarray::Array2::<f32>::zeros((EPOCHS, 8));
        for e in 0..EPOCHS {
            let row = [
                (e + 1) as f64,
                c.batch_size,
                c.learning_rate,
                c.momentum,
                c.weight_decay,
                c.num_layers,
                c.max_units,
                c.max_dropout,
            ];
            for (j, v) in row.iter().enumerate() {
                cont[[e, j]] = *v as f32;
            }
        }
        let out = self
            .plan
            .run(tvec!(Tensor::from(cat).into(), Tensor::from(cont).into()))
            .map_err(|e| e.to_string())?;
        let y = out[0].to_array_view::<f32>().map_err(|e| e.to_string())?;
        Ok((0..EPOCHS)
            .map(|e| Point {
                time: y[[e, 0]] as f64,
                val_accuracy: y[[e, 1]] as f64,
            })
            .collect())
    }
}

/// The surrogate as the multi-fidelity harness's curve source: LCBench's 7-parameter space
/// (the ranges of its configuration space), whole curves computed at once.
pub struct Curves<'a>(pub &'a Surrogate);

struct CurveLearner(Vec<Point>);

impl crate::multifidelity::Learner for CurveLearner {
    fn accuracy_after(&mut self, epoch: usize) -> tuneforge::Result<f64> {
        self.0
            .get(epoch.wrapping_sub(1))
            .map(|p| p.val_accuracy)
            .ok_or_else(|| tuneforge::Error::invalid(format!("epoch {epoch} outside 1..={EPOCHS}")))
    }
}

impl crate::multifidelity::CurveSource for Curves<'_> {
    fn max_epochs(&self) -> usize {
        EPOCHS
    }

    fn learner<'a>(
        &'a self,
        task: &str,
        t: &mut tuneforge::Trial,
        _seed: u64,
    ) -> tuneforge::Result<Box<dyn crate::multifidelity::Learner + 'a>> {
        let c = Config {
            batch_size: t.suggest_int("batch_size", 16, 512).log().get()? as f64,
            learning_rate: t.suggest_float("learning_rate", 1e-4, 1e-1).log().get()?,
            momentum: t.suggest_float("momentum", 0.1, 0.99).get()?,
            weight_decay: t.suggest_float("weight_decay", 1e-5, 1e-1).log().get()?,
            num_layers: t.suggest_int("num_layers", 1, 5).get()? as f64,
            max_units: t.suggest_int("max_units", 64, 1024).log().get()? as f64,
            max_dropout: t.suggest_float("max_dropout", 0.0, 1.0).get()?,
        };
        let curve = self.0.curve(task, &c).map_err(tuneforge::Error::invalid)?;
        Ok(Box::new(CurveLearner(curve)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The check documented with the data: task 3945, batch 91, lr 0.0031622777, momentum 0.5,
    /// wd 0.05, 3 layers, 181 units, dropout 0.5 → 37.88 / 91.14 / 92.73 / 93.70 at epochs
    /// 1 / 10 / 26 / 52.
    #[test]
    fn the_surrogate_reproduces_the_documented_curve() {
        let dir = std::path::PathBuf::from(
            std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
        )
        .join("../../../shared/data/lcbench");
        if !dir.join("model.onnx").exists() {
            assert!(std::env::var("CI").is_err(), "CI has the shared data");
            return;
        }
        let s = Surrogate::load(&dir).unwrap();
        let c = Config {
            batch_size: 91.0,
            learning_rate: 0.0031622777,
            momentum: 0.5,
            weight_decay: 0.05,
            num_layers: 3.0,
            max_units: 181.0,
            max_dropout: 0.5,
        };
        let curve = s.curve("3945", &c).unwrap();
        for (epoch, want) in [(1, 37.88), (10, 91.14), (26, 92.73), (52, 93.70)] {
            let got = curve[epoch - 1].val_accuracy;
            assert!((got - want).abs() < 0.01, "epoch {epoch}: {got} vs {want}");
        }
        assert!(curve[51].time > curve[0].time);
    }
}
