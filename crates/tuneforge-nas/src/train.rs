//! Training and evaluation of cell networks: one recipe (AdamW, cosine learning-rate decay,
//! cross-entropy, shuffled mini-batches) used for every stand-alone network, so that search
//! methods are compared on equal terms, and the accuracy measurements every search uses.

use std::time::Instant;

use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Int, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::supernet::{CellNet, EdgeMode, SharedWeights};

/// The training recipe. Defaults: 3 epochs, batch 64, learning rate 3e-3 decayed by a cosine
/// to zero, weight decay 1e-4, seed 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training split.
    pub epochs: usize,
    /// Images per mini-batch.
    pub batch_size: usize,
    /// Peak learning rate of AdamW.
    pub lr: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Seed of the weight initialisation and the batch order.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 3,
            batch_size: 64,
            lr: 3e-3,
            weight_decay: 1e-4,
            seed: 0,
        }
    }
}

impl TrainConfig {
    /// Checks the recipe.
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.batch_size == 0 {
            return Err(Error::Config(
                "epochs and batch size must be positive".into(),
            ));
        }
        let decay_ok = self.weight_decay.is_finite() && self.weight_decay >= 0.0;
        if !(self.lr.is_finite() && self.lr > 0.0 && decay_ok) {
            return Err(Error::Config(format!(
                "learning rate must be positive and weight decay non-negative (got {} and {})",
                self.lr, self.weight_decay
            )));
        }
        Ok(())
    }

    /// The learning rate at `step` of `total` (cosine decay from `lr` to zero).
    pub fn lr_at(&self, step: usize, total: usize) -> f64 {
        cosine_lr(self.lr, step, total)
    }
}

/// Cosine decay from `peak` at step 0 to zero at step `total`.
pub fn cosine_lr(peak: f64, step: usize, total: usize) -> f64 {
    let t = step as f64 / total.max(1) as f64;
    0.5 * peak * (1.0 + (std::f64::consts::PI * t).cos())
}

/// What a training run measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct TrainReport {
    /// Mean training loss of each epoch.
    pub epoch_loss: Vec<f64>,
    /// Validation accuracy after each epoch.
    pub epoch_valid_accuracy: Vec<f64>,
    /// Wall-clock seconds spent training (evaluation excluded).
    pub train_seconds: f64,
}

static DEVICE: std::sync::OnceLock<Device> = std::sync::OnceLock::new();

/// Chooses the device every network of this process trains and runs on: `cpu` (burn's
/// pure-Rust Flex backend, the default) or, in a build with the `cuda` feature, `cuda` or
/// `cuda:N` (burn's CubeCL CUDA backend on GPU N). Call it before the first network is built;
/// choosing another device afterwards is an error.
pub fn select_device(name: &str) -> Result<()> {
    let device = match name.split_once(':') {
        None if name == "cpu" => Device::flex(),
        #[cfg(feature = "cuda")]
        None if name == "cuda" => Device::cuda(0),
        #[cfg(feature = "cuda")]
        Some(("cuda", n)) => Device::cuda(n.parse::<usize>().map_err(|_| {
            Error::Config(format!("device '{name}': the GPU index must be a number"))
        })?),
        _ => {
            let known = if cfg!(feature = "cuda") {
                "cpu, cuda or cuda:N"
            } else {
                "cpu (this build has no CUDA: build with --features cuda)"
            };
            return Err(Error::Config(format!(
                "unknown device '{name}' (known: {known})"
            )));
        }
    };
    let chosen = DEVICE.get_or_init(|| device.clone());
    if *chosen != device {
        return Err(Error::Config(format!(
            "the device is already {chosen:?}; it cannot change to '{name}' in the same process"
        )));
    }
    Ok(())
}

/// The device networks run on for inference: the one [`select_device`] chose, else the CPU.
pub fn base_device() -> Device {
    DEVICE.get().cloned().unwrap_or_else(Device::flex)
}

/// The training device: [`base_device`] with automatic differentiation.
pub fn train_device() -> Device {
    base_device().autodiff()
}

/// Cross-entropy of class scores against labels.
pub fn cross_entropy(logits: Tensor<2>, labels: Tensor<1, Int>) -> Tensor<1> {
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, labels)
}

/// A scalar tensor's value, refusing NaN and infinities.
pub fn finite_scalar(t: Tensor<1>, what: &str) -> Result<f64> {
    let v: f64 = t.into_scalar::<f64>();
    if v.is_finite() {
        Ok(v)
    } else {
        Err(Error::Training(format!("{what} is {v}")))
    }
}

/// A network that maps images to class scores: what the shared recipe trains.
pub trait Classifier: Module {
    /// Class scores `[batch, classes]` for images `[batch, channels, height, width]`.
    fn classify(&self, x: Tensor<4>) -> Tensor<2>;
}

impl Classifier for CellNet {
    fn classify(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_standalone(x)
    }
}

/// Trains a stand-alone cell network; see [`train_classifier`].
pub fn train_standalone(
    net: CellNet,
    train: &ImageSet,
    valid: &ImageSet,
    config: &TrainConfig,
    on_epoch: impl FnMut(usize, f64, f64),
) -> Result<(CellNet, TrainReport)> {
    train_classifier(net, train, valid, config, on_epoch)
}

/// The recipe's mini-batch steps, shared by every training loop: AdamW with decoupled weight
/// decay at the cosine learning rate of the step, over `epochs` passes of shuffled batches.
pub struct Steps {
    optim: burn::optim::ModuleOptimizer,
    config: TrainConfig,
    total: usize,
    step: usize,
}

impl Steps {
    /// Steps for `config` over a training split of `train_len` images.
    pub fn new(config: &TrainConfig, train_len: usize) -> Steps {
        Steps {
            optim: AdamWConfig::new()
                .with_weight_decay(config.weight_decay as f32)
                .init(),
            config: config.clone(),
            total: train_len.div_ceil(config.batch_size) * config.epochs,
            step: 0,
        }
    }

    /// One pass over `train` in batches shuffled by `rng`: `forward(net, images, rng)` scores
    /// each batch (drawing from `rng` as it needs, e.g. a path), then cross-entropy, backward
    /// and one optimiser step. Returns the network and the pass's mean loss; a NaN or infinite
    /// loss (`what` names it) is an error.
    pub fn epoch<M: Module>(
        &mut self,
        mut net: M,
        train: &ImageSet,
        device: &Device,
        rng: &mut ChaCha8Rng,
        what: &str,
        mut forward: impl FnMut(&M, Tensor<4>, &mut ChaCha8Rng) -> Tensor<2>,
    ) -> Result<(M, f64)> {
        let batches = train.batches(self.config.batch_size, Some(&mut *rng));
        let mut loss_sum = 0.0;
        for idx in &batches {
            let (x, y) = train.batch(idx, device);
            let loss = cross_entropy(forward(&net, x, rng), y);
            let grads = loss.backward();
            loss_sum += finite_scalar(loss, what)?;
            let grads = GradientsParams::from_grads(grads, &net);
            net = self
                .optim
                .step(self.config.lr_at(self.step, self.total), net, grads);
            self.step += 1;
        }
        Ok((net, loss_sum / batches.len().max(1) as f64))
    }
}

/// Trains `net` (on the training device) with the recipe, evaluating on `valid` after each
/// epoch; `on_epoch(epoch, loss, accuracy)` sees each epoch's figures.
pub fn train_classifier<M: Classifier>(
    mut net: M,
    train: &ImageSet,
    valid: &ImageSet,
    config: &TrainConfig,
    mut on_epoch: impl FnMut(usize, f64, f64),
) -> Result<(M, TrainReport)> {
    config.validate()?;
    let device = train_device();
    let mut steps = Steps::new(config, train.len());
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut report = TrainReport::default();
    for epoch in 0..config.epochs {
        let start = Instant::now();
        let (trained, loss) = steps.epoch(
            net,
            train,
            &device,
            &mut rng,
            "the training loss",
            |n, x, _| n.classify(x),
        )?;
        net = trained;
        report.train_seconds += start.elapsed().as_secs_f64();
        let acc = classifier_accuracy(&net, valid);
        report.epoch_loss.push(loss);
        report.epoch_valid_accuracy.push(acc);
        on_epoch(epoch, loss, acc);
    }
    Ok((net, report))
}

/// Accuracy of `net` on `set` with the given edge choices, in inference mode (batch norm uses
/// its running statistics).
pub fn accuracy<N: SharedWeights>(net: &N, set: &ImageSet, mode: &EdgeMode) -> f64 {
    let model = net.valid();
    let mode = mode.clone().map_weights(|w| w.inner());
    count_correct(set, 256, &base_device(), |x| {
        model.forward_mode(x, &mode, false)
    })
}

/// Accuracy of a classifier on `set` in inference mode.
pub fn classifier_accuracy<M: Classifier>(net: &M, set: &ImageSet) -> f64 {
    let model = net.valid();
    count_correct(set, 256, &base_device(), |x| model.classify(x))
}

/// Accuracy with batch statistics in every batch norm (the one-shot evaluation of a path of a
/// supernet, whose running statistics mix all paths), on an inference copy: no autodiff graph
/// is built (one would be kept, unused, for every batch).
pub fn accuracy_batch_stats<N: SharedWeights>(
    net: &N,
    set: &ImageSet,
    mode: &EdgeMode,
    batch: usize,
) -> f64 {
    let model = net.valid();
    let mode = mode.clone().map_weights(|w| w.inner());
    count_correct(set, batch, &base_device(), |x| {
        model.forward_mode(x, &mode, true)
    })
}

fn count_correct(
    set: &ImageSet,
    batch: usize,
    device: &Device,
    mut forward: impl FnMut(Tensor<4>) -> Tensor<2>,
) -> f64 {
    if set.is_empty() {
        return 0.0;
    }
    let mut correct = 0i64;
    for idx in set.batches(batch, None) {
        let (x, y) = set.batch(&idx, device);
        let pred = forward(x).argmax(1).reshape([idx.len()]);
        let hits: i64 = pred.equal(y).int().sum().into_scalar::<i64>();
        correct += hits;
    }
    correct as f64 / set.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CPU is chosen by name; unknown names, and CUDA in a build without it, are refused.
    #[test]
    fn devices_are_chosen_by_name() {
        select_device("cpu").expect("cpu");
        assert!(format!("{:?}", base_device()).contains("Flex"));
        let e = select_device("tpu").unwrap_err().to_string();
        assert!(e.contains("unknown device 'tpu'"), "{e}");
        if !cfg!(feature = "cuda") {
            let e = select_device("cuda").unwrap_err().to_string();
            assert!(e.contains("--features cuda"), "{e}");
        }
    }
}
