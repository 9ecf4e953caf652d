//! Real learning curves for the multi-fidelity benchmark: a multi-layer perceptron trained here,
//! epoch by epoch, on flattened Fashion-MNIST or MNIST images, with SGD + momentum, weight decay,
//! dropout and a cosine learning-rate schedule over the full R epochs (so a trial stopped at
//! epoch e has exactly the first e epochs of the full training, and Hyperband's budgets are
//! prefixes of one curve). The budget unit is one epoch over the training slice.
//!
//! The same learners serve the Python peers through [`serve`]: one process, JSON lines on
//! stdin/stdout, so every method, ours or a peer's, trains the very same networks.
//!
//! The search space (6 parameters): learning rate 1e-3..0.5 (log), momentum 0..0.99, weight
//! decay 1e-6..1e-2 (log), hidden units 16..256 (log), hidden layers 1..3, dropout 0..0.8. A
//! training whose loss becomes NaN or infinite has diverged: it stops updating and scores 10 %
//! (chance on ten classes) from then on, still paying for its epochs.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::multifidelity::{CurveSource, Learner};
use tuneforge_nas::data::{Dataset, ImageSet};
use tuneforge_nas::train::{
    Classifier, classifier_accuracy, cosine_lr, cross_entropy, train_device,
};

/// Accuracy (percent) of a diverged training.
pub const DIVERGED_ACCURACY: f64 = 10.0;

/// One configuration of the perceptron and its optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    /// Peak learning rate of SGD.
    pub learning_rate: f64,
    /// SGD momentum (no dampening).
    pub momentum: f64,
    /// L2 weight decay.
    pub weight_decay: f64,
    /// Units of each hidden layer.
    pub units: usize,
    /// Hidden layers.
    pub layers: usize,
    /// Dropout probability after each hidden layer.
    pub dropout: f64,
}

impl MlpConfig {
    /// Suggests a configuration in `t` (the space of the module documentation).
    pub fn suggest(t: &mut tuneforge::Trial) -> tuneforge::Result<MlpConfig> {
        Ok(MlpConfig {
            learning_rate: t.suggest_float("learning_rate", 1e-3, 0.5).log().get()?,
            momentum: t.suggest_float("momentum", 0.0, 0.99).get()?,
            weight_decay: t.suggest_float("weight_decay", 1e-6, 1e-2).log().get()?,
            units: t.suggest_int("units", 16, 256).log().get()? as usize,
            layers: t.suggest_int("layers", 1, 3).get()? as usize,
            dropout: t.suggest_float("dropout", 0.0, 0.8).get()?,
        })
    }

    /// Checks the ranges (peers send configurations over a pipe).
    pub fn validate(&self) -> Result<(), String> {
        let ok = self.learning_rate.is_finite()
            && self.learning_rate > 0.0
            && (0.0..1.0).contains(&self.momentum)
            && self.weight_decay.is_finite()
            && self.weight_decay >= 0.0
            && self.units > 0
            && self.layers > 0
            && (0.0..1.0).contains(&self.dropout);
        if ok {
            Ok(())
        } else {
            Err(format!("configuration out of range: {self:?}"))
        }
    }
}

/// The perceptron: `layers` hidden ReLU layers of `units` with dropout, and a linear head.
/// Dropout masks come from the learner's own random stream (not the device's, which every
/// thread of the process shares), so a training is the same whatever else runs beside it.
#[derive(Module, Debug)]
pub struct Mlp {
    hidden: Vec<Linear>,
    head: Linear,
    #[module(skip)]
    dropout: f64,
}

/// Serialises seeding the device and drawing initial weights (the device's generator is
/// shared by the process's threads).
static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Mlp {
    /// A network for `inputs` features and `classes` classes, its weights drawn from `seed`.
    pub fn new(c: &MlpConfig, inputs: usize, classes: usize, device: &Device, seed: u64) -> Mlp {
        let _guard = INIT.lock().unwrap_or_else(|p| p.into_inner());
        device.seed(seed);
        let mut hidden = Vec::with_capacity(c.layers);
        let mut width = inputs;
        for _ in 0..c.layers {
            hidden.push(LinearConfig::new(width, c.units).init(device));
            width = c.units;
        }
        Mlp {
            hidden,
            head: LinearConfig::new(width, classes).init(device),
            dropout: c.dropout,
        }
    }

    /// Class scores of flattened images, with inverted dropout after each hidden layer when
    /// `rng` is given (training).
    fn forward(&self, mut x: Tensor<2>, mut rng: Option<&mut ChaCha8Rng>) -> Tensor<2> {
        for layer in &self.hidden {
            x = relu(layer.forward(x));
            if let Some(rng) = rng.as_deref_mut().filter(|_| self.dropout > 0.0) {
                let [n, u] = x.dims();
                let keep = 1.0 - self.dropout;
                let scale = (1.0 / keep) as f32;
                let mask: Vec<f32> = (0..n * u)
                    .map(|_| {
                        if rng.random::<f64>() < keep {
                            scale
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let device = x.device();
                x = x * Tensor::<2>::from_data(TensorData::new(mask, [n, u]), &device);
            }
        }
        self.head.forward(x)
    }
}

fn flatten(x: Tensor<4>) -> Tensor<2> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c * h * w])
}

impl Classifier for Mlp {
    fn classify(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward(flatten(x), None)
    }
}

/// One task: a dataset's training and validation slices and the training recipe's fixed parts.
pub struct Task {
    /// Training images.
    pub train: ImageSet,
    /// Validation images (the accuracy every method is judged by).
    pub valid: ImageSet,
}

/// The real-training curve source: one [`Task`] per dataset, R epochs, a fixed batch size.
pub struct RealCurves {
    tasks: BTreeMap<String, Task>,
    epochs: usize,
    batch_size: usize,
}

impl RealCurves {
    /// Loads `datasets` (`fashion-mnist`, `mnist`) from `data_dir`, keeping the first
    /// `train_images` training and `valid_images` validation images of each.
    pub fn load(
        data_dir: &Path,
        datasets: &[String],
        train_images: usize,
        valid_images: usize,
        epochs: usize,
        batch_size: usize,
    ) -> Result<RealCurves, String> {
        if epochs == 0 || batch_size == 0 {
            return Err("epochs and batch size must be positive".into());
        }
        let mut tasks = BTreeMap::new();
        for name in datasets {
            let splits = Dataset::parse(name)
                .and_then(|d| d.load(Some(data_dir)))
                .map_err(|e| e.to_string())?
                .truncate(train_images, valid_images, 0);
            tasks.insert(
                name.clone(),
                Task {
                    train: splits.train,
                    valid: splits.valid,
                },
            );
        }
        Ok(RealCurves {
            tasks,
            epochs,
            batch_size,
        })
    }

    /// A learner for `config` on `task`, its weights and batch order seeded by `seed`.
    pub fn start(
        &self,
        task: &str,
        config: MlpConfig,
        seed: u64,
    ) -> Result<MlpLearner<'_>, String> {
        config.validate()?;
        let task = self
            .tasks
            .get(task)
            .ok_or_else(|| format!("unknown task '{task}' (loaded: {:?})", self.tasks.keys()))?;
        let device = train_device();
        let net = Mlp::new(
            &config,
            task.train.image_size(),
            task.train.classes,
            &device,
            seed,
        );
        let mut sgd = SgdConfig::new().with_momentum(Some(MomentumConfig {
            momentum: config.momentum,
            dampening: 0.0,
            nesterov: false,
        }));
        if config.weight_decay > 0.0 {
            sgd = sgd.with_weight_decay(Some(burn::optim::decay::WeightDecayConfig {
                penalty: config.weight_decay as f32,
            }));
        }
        Ok(MlpLearner {
            task,
            config,
            net: Some(net),
            optim: sgd.init(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            dropout_rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_d50f),
            device,
            epochs_done: 0,
            total_epochs: self.epochs,
            batch_size: self.batch_size,
        })
    }
}

/// A perceptron in training: its weights, optimiser state and batch order, one epoch at a time.
pub struct MlpLearner<'a> {
    task: &'a Task,
    config: MlpConfig,
    /// The network; `None` once its training diverged.
    net: Option<Mlp>,
    optim: ModuleOptimizer,
    rng: ChaCha8Rng,
    dropout_rng: ChaCha8Rng,
    device: Device,
    epochs_done: usize,
    total_epochs: usize,
    batch_size: usize,
}

impl MlpLearner<'_> {
    /// Epochs trained so far.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// Trains one more epoch (nothing but the count when diverged).
    pub fn train_epoch(&mut self) {
        let train = &self.task.train;
        let per_epoch = train.len().div_ceil(self.batch_size);
        let total = per_epoch * self.total_epochs;
        let first = per_epoch * self.epochs_done;
        self.epochs_done += 1;
        let Some(mut net) = self.net.take() else {
            return;
        };
        let batches = train.batches(self.batch_size, Some(&mut self.rng));
        for (step, idx) in (first..).zip(batches) {
            let (x, y) = train.batch(&idx, &self.device);
            let scores = net.forward(flatten(x), Some(&mut self.dropout_rng));
            let loss = cross_entropy(scores, y);
            let grads = loss.backward();
            let value: f64 = loss.into_scalar::<f64>();
            if !value.is_finite() {
                return; // diverged: the network stays taken
            }
            let grads = GradientsParams::from_grads(grads, &net);
            let lr = cosine_lr(self.config.learning_rate, step.min(total), total);
            net = self.optim.step(lr, net, grads);
        }
        self.net = Some(net);
    }

    /// Validation accuracy in percent ([`DIVERGED_ACCURACY`] once diverged).
    pub fn accuracy(&self) -> f64 {
        match &self.net {
            Some(net) => 100.0 * classifier_accuracy(net, &self.task.valid),
            None => DIVERGED_ACCURACY,
        }
    }
}

impl Learner for MlpLearner<'_> {
    fn accuracy_after(&mut self, epoch: usize) -> tuneforge::Result<f64> {
        if epoch > self.total_epochs {
            return Err(tuneforge::Error::invalid(format!(
                "epoch {epoch} beyond the full budget of {}",
                self.total_epochs
            )));
        }
        while self.epochs_done < epoch {
            self.train_epoch();
        }
        Ok(self.accuracy())
    }
}

impl CurveSource for RealCurves {
    fn max_epochs(&self) -> usize {
        self.epochs
    }

    fn learner<'a>(
        &'a self,
        task: &str,
        trial: &mut tuneforge::Trial,
        seed: u64,
    ) -> tuneforge::Result<Box<dyn Learner + 'a>> {
        let config = MlpConfig::suggest(trial)?;
        let learner = self
            .start(task, config, seed)
            .map_err(tuneforge::Error::invalid)?;
        Ok(Box::new(learner))
    }
}

/// A request of the peers' protocol: train learner `id` (created from `config`, `task` and
/// `seed` when new) through `epochs`, or drop it.
#[derive(Debug, Deserialize)]
struct Request {
    id: u64,
    #[serde(default)]
    task: Option<String>,
    #[serde(default)]
    config: Option<MlpConfig>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    epochs: Option<usize>,
    #[serde(default)]
    drop: bool,
}

/// Answers requests, one JSON object per line, until `input` ends: `{"id", "task", "config",
/// "seed", "epochs"}` trains learner `id` (created on first sight) through `epochs` and answers
/// `{"acc": [...]}` with the validation accuracy after each epoch trained by this request;
/// `{"id", "drop": true}` frees it and answers `{}`. A bad request is answered
/// `{"error": "..."}` and the server goes on.
pub fn serve(
    source: &RealCurves,
    input: impl BufRead,
    mut output: impl Write,
) -> std::io::Result<()> {
    let mut live: BTreeMap<u64, MlpLearner<'_>> = BTreeMap::new();
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match handle(source, &mut live, &line) {
            Ok(v) => v,
            Err(e) => serde_json::json!({ "error": e }),
        };
        writeln!(output, "{answer}")?;
        output.flush()?;
    }
    Ok(())
}

fn handle<'a>(
    source: &'a RealCurves,
    live: &mut BTreeMap<u64, MlpLearner<'a>>,
    line: &str,
) -> Result<serde_json::Value, String> {
    let req: Request = serde_json::from_str(line).map_err(|e| format!("bad request: {e}"))?;
    if req.drop {
        live.remove(&req.id);
        return Ok(serde_json::json!({}));
    }
    let epochs = req.epochs.ok_or("a training request needs 'epochs'")?;
    if epochs > source.epochs {
        return Err(format!(
            "epochs {epochs} beyond the full budget of {}",
            source.epochs
        ));
    }
    let learner = match live.entry(req.id) {
        std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
        std::collections::btree_map::Entry::Vacant(e) => {
            let (Some(task), Some(config)) = (req.task.as_deref(), req.config) else {
                return Err(format!(
                    "learner {} is new: send 'task' and 'config'",
                    req.id
                ));
            };
            e.insert(source.start(task, config, req.seed.unwrap_or(0))?)
        }
    };
    let mut acc = Vec::new();
    while learner.epochs_done() < epochs {
        learner.train_epoch();
        acc.push(learner.accuracy());
    }
    Ok(serde_json::json!({ "acc": acc }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One training at a time: a diverging training (inf and NaN in burn's CPU backend) was seen
    /// to change the numbers of another training running at the same time in the process
    /// (never of one after it: checked below), so these tests do not overlap.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        SERIAL.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn digits() -> Option<RealCurves> {
        let dir = std::path::PathBuf::from(
            std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
        )
        .join("../../../shared/data");
        if !dir.join("digits").exists() {
            assert!(std::env::var("CI").is_err(), "CI has the shared data");
            return None;
        }
        Some(RealCurves::load(&dir, &["digits".to_string()], 600, 300, 4, 32).unwrap())
    }

    fn config() -> MlpConfig {
        MlpConfig {
            learning_rate: 0.05,
            momentum: 0.9,
            weight_decay: 1e-4,
            units: 32,
            layers: 1,
            dropout: 0.1,
        }
    }

    #[test]
    fn a_curve_is_a_prefix_of_the_full_training_and_learns() {
        let _one = serial();
        let Some(src) = digits() else { return };
        let mut full = src.start("digits", config(), 7).unwrap();
        let curve: Vec<f64> = (1..=4).map(|e| full.accuracy_after(e).unwrap()).collect();
        assert!(curve[3] > 80.0, "{curve:?}");
        // Stopping after two epochs and going on gives the same numbers (same seed).
        let mut again = src.start("digits", config(), 7).unwrap();
        assert_eq!(again.accuracy_after(2).unwrap(), curve[1]);
        assert_eq!(again.accuracy_after(4).unwrap(), curve[3]);
        assert!(again.accuracy_after(5).is_err());
    }

    #[test]
    fn a_diverging_training_scores_chance_and_still_counts_its_epochs() {
        let _one = serial();
        let Some(src) = digits() else { return };
        let curve = |src: &RealCurves| -> Vec<f64> {
            let mut l = src.start("digits", config(), 3).unwrap();
            (1..=3).map(|e| l.accuracy_after(e).unwrap()).collect()
        };
        let before = curve(&src);
        let wild = MlpConfig {
            learning_rate: 1e30,
            momentum: 0.99,
            weight_decay: 0.0,
            ..config()
        };
        let mut l = src.start("digits", wild, 1).unwrap();
        let accs: Vec<f64> = (1..=3).map(|e| l.accuracy_after(e).unwrap()).collect();
        assert_eq!(l.epochs_done(), 3);
        assert_eq!(accs[2], DIVERGED_ACCURACY, "{accs:?}");
        // The next training in the process is not disturbed by the divergence.
        assert_eq!(curve(&src), before);
    }

    #[test]
    fn the_server_trains_continues_drops_and_refuses_bad_requests() {
        let _one = serial();
        let Some(src) = digits() else { return };
        let c = serde_json::to_string(&config()).unwrap();
        let input = format!(
            "{{\"id\":1,\"task\":\"digits\",\"config\":{c},\"seed\":7,\"epochs\":2}}\n\
             {{\"id\":1,\"epochs\":4}}\n\
             {{\"id\":1,\"drop\":true}}\n\
             {{\"id\":1,\"epochs\":4}}\n\
             not json\n\
             {{\"id\":2,\"task\":\"cifar\",\"config\":{c},\"epochs\":1}}\n\
             {{\"id\":3,\"task\":\"digits\",\"config\":{c},\"epochs\":9}}\n"
        );
        let mut out = Vec::new();
        serve(&src, input.as_bytes(), &mut out).unwrap();
        let lines: Vec<serde_json::Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 7);
        // The same numbers as training directly: 2 epochs, then 2 more.
        let mut direct = src.start("digits", config(), 7).unwrap();
        let want: Vec<f64> = (1..=4).map(|e| direct.accuracy_after(e).unwrap()).collect();
        let got: Vec<f64> = lines[0]["acc"]
            .as_array()
            .unwrap()
            .iter()
            .chain(lines[1]["acc"].as_array().unwrap())
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(got, want);
        assert_eq!(lines[2], serde_json::json!({}));
        for (i, needle) in [
            (3, "is new"),
            (4, "bad request"),
            (5, "unknown task"),
            (6, "beyond"),
        ] {
            let e = lines[i]["error"].as_str().unwrap_or_default();
            assert!(e.contains(needle), "line {i}: {e}");
        }
    }

    #[test]
    fn the_harness_spends_its_budget_on_real_training_with_every_schedule() {
        let _one = serial();
        let Some(src) = digits() else { return };
        let budget = 6 * 4;
        let random = crate::multifidelity::run(&src, "digits", "random", 2, budget).unwrap();
        let hb = crate::multifidelity::run(&src, "digits", "hyperband", 2, budget).unwrap();
        // Random search trains every configuration to the end: 6 of them, each recorded when
        // it beat the best, at the epoch count spent so far.
        assert_eq!(random.trials, 6);
        assert!(random.trace.iter().all(|(e, _)| e % 4 == 0 && *e <= budget));
        assert!(random.best_at(budget) > 50.0, "{random:?}");
        // Hyperband stops some early, so it starts more configurations on the same budget.
        assert!(
            hb.trials > random.trials,
            "{} vs {}",
            hb.trials,
            random.trials
        );
        // A promotion schedule continues each promoted network from its predecessor's epochs
        // and trains the best to the end within the same budget.
        let promote = crate::multifidelity::run(&src, "digits", "asha-promote", 2, budget).unwrap();
        assert!(promote.trials > random.trials, "{promote:?}");
        assert!(promote.best_at(budget) > 50.0, "{promote:?}");
    }
}
