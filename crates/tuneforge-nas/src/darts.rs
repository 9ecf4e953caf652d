//! Differentiable architecture search: DARTS and its Gumbel-softmax variant GDAS.
//!
//! DARTS relaxes the choice on each edge to a softmax over architecture weights α (one row per
//! edge, shared by all cells) and mixes every candidate operation with those weights. Network
//! weights w and α are optimised alternately on two halves of the training split (bi-level:
//! w on the first half, α on the second): in *first order* α follows the gradient of the
//! second half's loss at the current w; in *second order* at the weights after one virtual step
//! w' = w − ξ∇w L_a(w, α), whose Hessian-vector term is taken by finite differences (Liu et al.,
//! eq. 7-8). A temperature T divides α before the softmax and is annealed geometrically from
//! `temperature.0` to `temperature.1`, so the weights approach one-hot as the search ends.
//!
//! GDAS samples one operation per edge from the Gumbel-softmax of α / τ and runs only that one,
//! scaled by a straight-through weight (1 in value, the soft probability's gradient), with τ
//! annealed from 10 to 0.1 in the paper.
//!
//! Discretisation takes each edge's argmax over its non-zero operations (DARTS excludes `none`).
//!
//! DARTS is known to collapse onto parameter-free skip connections (about 54 % on NAS-Bench-201
//! CIFAR-10, Dong & Yang 2020). The guard here is DARTS+'s early stopping: the search stops as
//! soon as the discretised cell holds more than `max_skips` skip connections and returns the
//! last cell that did not.
//!
//! # References
//! - H. Liu, K. Simonyan, Y. Yang, "DARTS: Differentiable Architecture Search", ICLR 2019.
//! - X. Dong, Y. Yang, "Searching for A Robust Neural Architecture in Four GPU Hours", CVPR 2019
//!   (GDAS).
//! - H. Liang, S. Zhang, J. Sun, X. He, W. Huang, K. Zhuang, Z. Li, "DARTS+: Improved
//!   Differentiable Architecture Search with Early Stopping", arXiv:1909.06035, 2019.
//! - E. Jang, S. Gu, B. Poole, "Categorical Reparameterization with Gumbel-Softmax", ICLR 2017.

use std::time::Instant;

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Distribution, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tuneforge::nas::CellSpace;

use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::ops::OpKind;
use crate::supernet::{CellNet, EdgeMode, NetConfig};
use crate::train::{cosine_lr, cross_entropy, finite_scalar, train_device};

/// How α is turned into edge weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Relaxation {
    /// DARTS: softmax(α / T), every operation computed.
    Softmax,
    /// GDAS: one Gumbel-softmax sample per edge, only that operation computed.
    Gumbel,
}

/// Which gradient α follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// α's gradient at the current weights.
    First,
    /// α's gradient after one virtual weight step (finite-difference Hessian-vector product).
    Second,
}

/// Settings of a DARTS or GDAS search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DartsConfig {
    /// Passes over the (halved) training split. Default 4.
    pub epochs: usize,
    /// Images per mini-batch. Default 64.
    pub batch_size: usize,
    /// Learning rate of the network weights (AdamW, cosine decay). Default 3e-3.
    pub weight_lr: f64,
    /// Weight decay of the network weights. Default 1e-4.
    pub weight_decay: f64,
    /// Learning rate of α (Adam, β1 = 0.5 as in DARTS). Default 3e-3.
    pub alpha_lr: f64,
    /// Weight decay of α (L2, added to its gradient). Default 1e-3.
    pub alpha_weight_decay: f64,
    /// First or second order. Default first.
    pub order: Order,
    /// DARTS softmax or GDAS Gumbel sampling. Default softmax.
    pub relaxation: Relaxation,
    /// Temperature at the start and at the end, annealed geometrically per step. Default
    /// (1.0, 0.1) for DARTS; GDAS uses (10, 0.1).
    pub temperature: (f64, f64),
    /// DARTS+ guard: stop when the discretised cell has more skip connections than this.
    /// `None` disables it. Default `Some(1)`.
    pub max_skips: Option<usize>,
    /// Seed of the initialisation, batch order and Gumbel noise. Default 0.
    pub seed: u64,
}

impl Default for DartsConfig {
    fn default() -> Self {
        DartsConfig {
            epochs: 4,
            batch_size: 64,
            weight_lr: 3e-3,
            weight_decay: 1e-4,
            alpha_lr: 3e-3,
            alpha_weight_decay: 1e-3,
            order: Order::First,
            relaxation: Relaxation::Softmax,
            temperature: (1.0, 0.1),
            max_skips: Some(1),
            seed: 0,
        }
    }
}

impl DartsConfig {
    /// GDAS's settings: Gumbel sampling, τ from 10 to 0.1.
    pub fn gdas() -> Self {
        DartsConfig {
            relaxation: Relaxation::Gumbel,
            temperature: (10.0, 0.1),
            ..Default::default()
        }
    }

    fn validate(&self) -> Result<()> {
        let (t0, t1) = self.temperature;
        if self.epochs == 0 || self.batch_size == 0 {
            return Err(Error::Config(
                "epochs and batch size must be positive".into(),
            ));
        }
        if !(t0 > 0.0 && t1 > 0.0 && t0.is_finite() && t1.is_finite()) {
            return Err(Error::Config(format!(
                "temperatures must be positive, got {t0} and {t1}"
            )));
        }
        if !(self.weight_lr > 0.0 && self.alpha_lr > 0.0) {
            return Err(Error::Config("learning rates must be positive".into()));
        }
        Ok(())
    }

    /// The temperature at `step` of `total`.
    pub fn temperature_at(&self, step: usize, total: usize) -> f64 {
        let (t0, t1) = self.temperature;
        let frac = step as f64 / total.max(1) as f64;
        t0 * (t1 / t0).powf(frac)
    }
}

/// The architecture weights: α, `[edges, operations]`.
#[derive(Module, Debug)]
pub struct ArchWeights {
    /// The architecture logits.
    pub alpha: Param<Tensor<2>>,
}

impl ArchWeights {
    /// Small random α (standard deviation 1e-3, as in DARTS).
    pub fn new(edges: usize, ops: usize, device: &Device) -> Self {
        let t = Tensor::<2>::random([edges, ops], Distribution::Normal(0.0, 1e-3), device);
        ArchWeights {
            alpha: Param::from_tensor(t),
        }
    }

    /// softmax(α / T) per edge.
    pub fn weights(&self, temperature: f64) -> Tensor<2> {
        softmax(self.alpha.val().div_scalar(temperature), 1)
    }

    /// α as rows of numbers.
    pub fn rows(&self) -> Vec<Vec<f32>> {
        tensor_rows(self.alpha.val())
    }
}

/// A `[rows, cols]` tensor as nested vectors.
pub fn tensor_rows(t: Tensor<2>) -> Vec<Vec<f32>> {
    let [_, cols] = t.dims();
    let values: Vec<f32> = t.into_data().try_to_vec::<f32>().unwrap_or_default();
    values.chunks(cols.max(1)).map(|c| c.to_vec()).collect()
}

/// Each edge's argmax over its non-zero operations (ties to the first).
pub fn discretise(alpha: &[Vec<f32>], ops: &[OpKind]) -> Vec<usize> {
    alpha
        .iter()
        .map(|row| {
            let mut best: Option<usize> = None;
            for (k, &v) in row.iter().enumerate() {
                if ops.get(k) == Some(&OpKind::Zero) {
                    continue;
                }
                if best.is_none_or(|b| v > row[b]) {
                    best = Some(k);
                }
            }
            best.unwrap_or(0)
        })
        .collect()
}

/// Each edge's argmax over its non-zero operations, allowing at most `max_skips` skip
/// connections: the edges whose skip weight is highest keep their skip, the others take their
/// best operation that is neither zero nor a skip.
pub fn discretise_with_skip_budget(
    alpha: &[Vec<f32>],
    ops: &[OpKind],
    max_skips: usize,
) -> Vec<usize> {
    let mut arch = discretise(alpha, ops);
    let mut skips: Vec<(usize, f32)> = arch
        .iter()
        .enumerate()
        .filter(|&(_, &a)| ops.get(a) == Some(&OpKind::Identity))
        .map(|(e, &a)| (e, alpha[e][a]))
        .collect();
    skips.sort_by(|a, b| b.1.total_cmp(&a.1));
    for &(e, _) in skips.iter().skip(max_skips) {
        let row = &alpha[e];
        let best = (0..row.len())
            .filter(|&k| !matches!(ops.get(k), Some(OpKind::Zero | OpKind::Identity)))
            .max_by(|&a, &b| row[a].total_cmp(&row[b]).then(b.cmp(&a)));
        if let Some(k) = best {
            arch[e] = k;
        }
    }
    arch
}

/// Number of skip connections in `arch`.
pub fn skip_count(arch: &[usize], ops: &[OpKind]) -> usize {
    arch.iter()
        .filter(|&&a| ops.get(a) == Some(&OpKind::Identity))
        .count()
}

/// One epoch of a search, as reported to the caller.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EpochSummary {
    /// Epoch number, from 0.
    pub epoch: usize,
    /// Mean loss of the weight steps.
    pub train_loss: f64,
    /// Mean loss of the α steps.
    pub arch_loss: f64,
    /// Temperature at the epoch's end.
    pub temperature: f64,
    /// softmax(α / T) at the epoch's end, per edge.
    pub weights: Vec<Vec<f32>>,
    /// The discretised cell at the epoch's end.
    pub arch: Vec<usize>,
}

/// The result of a search.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SearchOutcome {
    /// The chosen cell: one operation index per edge.
    pub arch: Vec<usize>,
    /// Final α.
    pub alpha: Vec<Vec<f32>>,
    /// Every epoch's figures.
    pub epochs: Vec<EpochSummary>,
    /// Why the search stopped before its last epoch, if it did.
    pub stopped_early: Option<String>,
    /// Wall-clock seconds of the search.
    pub seconds: f64,
}

/// Adds `scale` times each parameter's gradient to it (a new leaf requiring gradients).
struct Shift<'a> {
    grads: &'a GradientsParams,
    scale: f64,
}

impl ModuleMapper for Shift<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let grad = self.grads.get::<D>(param.id);
        let scale = self.scale;
        param.map(|t| match grad {
            Some(g) => {
                let g = g.to_device(&t.device());
                (t.detach() + g.mul_scalar(scale)).detach().require_grad()
            }
            None => t,
        })
    }
}

/// Squared norm of every gradient in `grads` for the parameters of `net`.
fn grad_norm(net: &CellNet, grads: &GradientsParams) -> f64 {
    struct Norm<'a> {
        grads: &'a GradientsParams,
        sum: f64,
    }
    impl burn::module::ModuleVisitor for Norm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(g) = self.grads.get::<D>(param.id) {
                let s = g.powi_scalar(2).sum().into_scalar::<f32>();
                self.sum += s as f64;
            }
        }
    }
    let mut v = Norm { grads, sum: 0.0 };
    net.visit(&mut v);
    v.sum.sqrt()
}

/// Runs a DARTS or GDAS search over `space` on a network of `net_config`: weights on the first
/// half of `train`, α on the second. `on_epoch` sees each epoch's summary.
pub fn search(
    space: &CellSpace,
    net_config: &NetConfig,
    train: &ImageSet,
    config: &DartsConfig,
    mut on_epoch: impl FnMut(&EpochSummary),
) -> Result<SearchOutcome> {
    config.validate()?;
    if train.len() < 2 * config.batch_size.min(train.len().max(2) / 2).max(1) {
        return Err(Error::Config(format!(
            "{} training images are too few to split between weights and α",
            train.len()
        )));
    }
    let start = Instant::now();
    let device = train_device();
    device.seed(config.seed);
    let mut net = CellNet::supernet(space, net_config, &device)?;
    let ops: Vec<OpKind> = net.candidates()[0].clone();
    let mut arch = ArchWeights::new(net.edges(), ops.len(), &device);
    let mut w_optim = AdamWConfig::new()
        .with_weight_decay(config.weight_decay as f32)
        .init();
    let mut a_optim = AdamConfig::new()
        .with_beta_1(0.5)
        .with_beta_2(0.999)
        .with_weight_decay(Some(burn::optim::decay::WeightDecayConfig::new(
            config.alpha_weight_decay as f32,
        )))
        .init();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let half = train.len() / 2;
    let w_set = train.subset(&(0..half).collect::<Vec<_>>());
    let a_set = train.subset(&(half..train.len()).collect::<Vec<_>>());
    let per_epoch = w_set.len().div_ceil(config.batch_size);
    let total = per_epoch * config.epochs;
    let mut step = 0;
    let mut epochs = Vec::new();
    let mut stopped_early = None;
    let mut last_ok: Option<Vec<usize>> = None;
    for epoch in 0..config.epochs {
        let w_batches = w_set.batches(config.batch_size, Some(&mut rng));
        let mut a_batches = a_set.batches(config.batch_size, Some(&mut rng)).into_iter();
        let (mut w_loss, mut a_loss) = (0.0, 0.0);
        for w_idx in &w_batches {
            let temp = config.temperature_at(step, total);
            let lr = cosine_lr(config.weight_lr, step, total);
            let a_idx = match a_batches.next() {
                Some(idx) => idx,
                None => {
                    a_batches = a_set.batches(config.batch_size, Some(&mut rng)).into_iter();
                    a_batches.next().unwrap_or_default()
                }
            };
            // α step on the second half.
            let (xa, ya) = a_set.batch(&a_idx, &device);
            let (xw, yw) = w_set.batch(w_idx, &device);
            let a_grads = match config.order {
                Order::First => {
                    let mode = edge_mode(&arch, temp, config.relaxation, &mut rng);
                    let loss = cross_entropy(net.forward(xa, &mode), ya);
                    let mut grads = loss.backward();
                    a_loss += finite_scalar(loss, "the architecture loss")?;
                    GradientsParams::from_module(&mut grads, &arch)
                }
                Order::Second => {
                    let (g, l) = second_order_alpha_grad(
                        &net,
                        &arch,
                        (&xw, &yw),
                        (&xa, &ya),
                        lr,
                        temp,
                        config.relaxation,
                        &mut rng,
                    )?;
                    a_loss += l;
                    g
                }
            };
            arch = a_optim.step(config.alpha_lr, arch, a_grads);
            // Weight step on the first half, α fixed.
            let mode = detached(edge_mode(&arch, temp, config.relaxation, &mut rng));
            let loss = cross_entropy(net.forward(xw, &mode), yw);
            let mut grads = loss.backward();
            w_loss += finite_scalar(loss, "the training loss")?;
            let grads = GradientsParams::from_module(&mut grads, &net);
            net = w_optim.step(lr, net, grads);
            step += 1;
        }
        let temp = config.temperature_at(step, total);
        let alpha = arch.rows();
        let current = discretise(&alpha, &ops);
        let summary = EpochSummary {
            epoch,
            train_loss: w_loss / w_batches.len().max(1) as f64,
            arch_loss: a_loss / w_batches.len().max(1) as f64,
            temperature: temp,
            weights: tensor_rows(arch.weights(temp)),
            arch: current.clone(),
        };
        on_epoch(&summary);
        epochs.push(summary);
        // The guard watches from the second epoch on: after one epoch α is mostly its
        // initial noise (and GDAS's temperature is still high).
        if let Some(max) = config.max_skips.filter(|_| epoch > 0 || config.epochs == 1) {
            let skips = skip_count(&current, &ops);
            if skips > max {
                stopped_early = Some(format!(
                    "epoch {epoch}: the cell had {skips} skip connections (more than {max}); {}",
                    if last_ok.is_some() {
                        "kept the previous epoch's cell"
                    } else {
                        "kept α's cell with at most that many skips"
                    }
                ));
                break;
            }
        }
        last_ok = Some(current);
    }
    let alpha = arch.rows();
    let arch_out = match (&stopped_early, last_ok, config.max_skips) {
        (Some(_), Some(prev), _) => prev,
        (Some(_), None, Some(max)) => discretise_with_skip_budget(&alpha, &ops, max),
        _ => discretise(&alpha, &ops),
    };
    Ok(SearchOutcome {
        arch: arch_out,
        alpha,
        epochs,
        stopped_early,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The edge mode of one step: DARTS weights, or a GDAS straight-through sample.
fn edge_mode(
    arch: &ArchWeights,
    temperature: f64,
    relaxation: Relaxation,
    rng: &mut ChaCha8Rng,
) -> EdgeMode {
    match relaxation {
        Relaxation::Softmax => EdgeMode::Mixed(arch.weights(temperature)),
        Relaxation::Gumbel => {
            let alpha = arch.alpha.val();
            let [edges, ops] = alpha.dims();
            let device = alpha.device();
            let gumbel: Vec<f32> = (0..edges * ops)
                .map(|_| {
                    let u: f64 = rng.random_range(1e-10..1.0);
                    -(-u.ln()).ln() as f32
                })
                .collect();
            let noise = Tensor::<2>::from_data(TensorData::new(gumbel, [edges, ops]), &device);
            let soft = softmax((alpha + noise).div_scalar(temperature), 1);
            let rows = tensor_rows(soft.clone());
            let chosen: Vec<usize> = rows
                .iter()
                .map(|r| {
                    r.iter()
                        .enumerate()
                        .fold(0, |b, (k, &v)| if v > r[b] { k } else { b })
                })
                .collect();
            let mut hot = vec![0f32; edges * ops];
            for (e, &k) in chosen.iter().enumerate() {
                hot[e * ops + k] = 1.0;
            }
            let hot = Tensor::<2>::from_data(TensorData::new(hot, [edges, ops]), &device);
            let weights = hot - soft.clone().detach() + soft;
            EdgeMode::Hard { weights, chosen }
        }
    }
}

fn detached(mode: EdgeMode) -> EdgeMode {
    mode.map_weights(|w| w.detach())
}

/// α's second-order gradient (Liu et al. 2019, eq. 7-8): ∇α L_a(w', α) − ξ (∇α L_w(w⁺, α) −
/// ∇α L_w(w⁻, α)) / 2ε, with w' = w − ξ∇w L_w(w, α), w± = w ± ε∇w' L_a(w', α) and
/// ε = 0.01 / ‖∇w' L_a‖. Returns the gradient and L_a(w', α).
#[allow(clippy::too_many_arguments)]
fn second_order_alpha_grad(
    net: &CellNet,
    arch: &ArchWeights,
    (xw, yw): (&Tensor<4>, &Tensor<1, burn::tensor::Int>),
    (xa, ya): (&Tensor<4>, &Tensor<1, burn::tensor::Int>),
    xi: f64,
    temp: f64,
    relaxation: Relaxation,
    rng: &mut ChaCha8Rng,
) -> Result<(GradientsParams, f64)> {
    let mode = detached(edge_mode(arch, temp, relaxation, rng));
    // Virtual step.
    let loss = cross_entropy(net.forward(xw.clone(), &mode), yw.clone());
    let mut grads = loss.backward();
    let gw = GradientsParams::from_module(&mut grads, net);
    let virtual_net = net.clone().map(&mut Shift {
        grads: &gw,
        scale: -xi,
    });
    // Validation loss at w'.
    let mode = edge_mode(arch, temp, relaxation, rng);
    let loss = cross_entropy(virtual_net.forward(xa.clone(), &mode), ya.clone());
    let value = finite_scalar(loss.clone(), "the architecture loss")?;
    let mut grads = loss.backward();
    let dalpha = GradientsParams::from_module(&mut grads, arch);
    let dw = GradientsParams::from_module(&mut grads, &virtual_net);
    let eps = 0.01 / grad_norm(&virtual_net, &dw).max(1e-12);
    // Finite-difference Hessian-vector product.
    let mut alpha_grad_at = |scale: f64| -> Tensor<2> {
        let shifted = net.clone().map(&mut Shift { grads: &dw, scale });
        let mode = EdgeMode::Mixed(arch.weights(temp));
        let mode = match relaxation {
            Relaxation::Softmax => mode,
            Relaxation::Gumbel => edge_mode(arch, temp, relaxation, rng),
        };
        let loss = cross_entropy(shifted.forward(xw.clone(), &mode), yw.clone());
        let mut grads = loss.backward();
        let mut g = GradientsParams::from_module(&mut grads, arch);
        g.remove::<2>(arch.alpha.id)
            .unwrap_or_else(|| arch.alpha.val().zeros_like().inner())
    };
    let plus = alpha_grad_at(eps);
    let minus = alpha_grad_at(-eps);
    let mut dalpha = dalpha;
    let first = dalpha
        .remove::<2>(arch.alpha.id)
        .ok_or_else(|| Error::Training("α received no gradient".into()))?;
    let hv = (plus - minus).div_scalar(2.0 * eps);
    let grad = first - hv.mul_scalar(xi);
    let mut out = GradientsParams::new();
    out.register(arch.alpha.id, grad);
    Ok((out, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> (CellSpace, NetConfig) {
        let config = NetConfig {
            channels: 4,
            cells_per_stage: 1,
            stages: 2,
            in_channels: 1,
            classes: 3,
        };
        (CellSpace::nas_bench_201(), config)
    }

    fn inputs(device: &Device) -> (Tensor<4>, Tensor<1, burn::tensor::Int>) {
        device.seed(7);
        let x = Tensor::<4>::random([6, 1, 8, 8], Distribution::Normal(0.0, 1.0), device);
        let y = Tensor::<1, burn::tensor::Int>::from_data(
            TensorData::new(vec![0i64, 1, 2, 0, 1, 2], [6]),
            device,
        );
        (x, y)
    }

    #[test]
    fn gradients_reach_alpha_and_match_finite_differences() {
        let _serial = crate::test_serial();
        let (space, config) = tiny();
        let device = train_device();
        device.seed(3);
        let net = CellNet::supernet(&space, &config, &device).unwrap();
        let (x, y) = inputs(&device);
        let alpha0 = Tensor::<2>::random([6, 5], Distribution::Normal(0.0, 1.0), &device);
        let values: Vec<f32> = alpha0.into_data().try_to_vec().unwrap();
        let loss_at = |vals: &[f32], grad: bool| {
            let a = Tensor::<2>::from_data(TensorData::new(vals.to_vec(), [6, 5]), &device);
            let a = if grad { a.require_grad() } else { a };
            let loss = cross_entropy(
                net.forward(x.clone(), &EdgeMode::Mixed(softmax(a.clone(), 1))),
                y.clone(),
            );
            (a, loss)
        };
        let (a, loss) = loss_at(&values, true);
        let grads = loss.backward();
        let analytic: Vec<f32> = a.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
        assert!(
            analytic.iter().any(|g| g.abs() > 1e-4),
            "α gets a gradient: {analytic:?}"
        );
        let h = 1e-2f32;
        for i in [0, 3, 7, 14, 22, 29] {
            let mut plus = values.clone();
            plus[i] += h;
            let mut minus = values.clone();
            minus[i] -= h;
            let lp = loss_at(&plus, false).1.into_scalar::<f64>();
            let lm = loss_at(&minus, false).1.into_scalar::<f64>();
            let numeric = (lp - lm) / (2.0 * h as f64);
            let a = analytic[i] as f64;
            assert!(
                (numeric - a).abs() <= 2e-3 + 0.05 * a.abs(),
                "entry {i}: numeric {numeric} vs analytic {a}"
            );
        }
    }

    #[test]
    fn a_lower_temperature_drives_the_weights_toward_one_hot() {
        let _serial = crate::test_serial();
        let device = Device::default();
        let arch = ArchWeights {
            alpha: Param::from_tensor(Tensor::<2>::from_data(
                TensorData::new(vec![0.3f32, 0.1, -0.2, 0.25, 0.0, 0.05], [2, 3]),
                &device,
            )),
        };
        let max_weight = |t: f64| -> Vec<f32> {
            tensor_rows(arch.weights(t))
                .iter()
                .map(|r| r.iter().cloned().fold(0.0, f32::max))
                .collect()
        };
        let (hot, warm, cold) = (max_weight(1.0), max_weight(0.1), max_weight(0.005));
        for e in 0..2 {
            assert!(
                hot[e] < warm[e] && warm[e] < cold[e],
                "{hot:?} {warm:?} {cold:?}"
            );
            assert!(cold[e] > 0.99, "at T=0.005 an edge is one-hot: {cold:?}");
        }
        // the annealing schedule goes geometrically from the first to the last temperature
        let c = DartsConfig::default();
        assert!((c.temperature_at(0, 100) - 1.0).abs() < 1e-12);
        assert!((c.temperature_at(50, 100) - 0.1f64.sqrt()).abs() < 1e-9);
        assert!((c.temperature_at(100, 100) - 0.1).abs() < 1e-12);
    }

    fn nas_bench_201_ops() -> Vec<OpKind> {
        tuneforge::nas::cell::NAS_BENCH_201_OPS
            .iter()
            .map(|o| OpKind::parse(o).unwrap())
            .collect()
    }

    #[test]
    fn the_discretised_cell_is_the_argmax_over_non_zero_operations() {
        let _serial = crate::test_serial();
        let ops = nas_bench_201_ops();
        let alpha = vec![
            vec![0.9, 0.1, 0.2, 0.3, 0.4], // zero is largest: the best non-zero wins
            vec![0.0, 0.5, 0.2, 0.1, 0.4],
            vec![0.0, 0.1, 0.2, 0.7, 0.4],
            vec![0.0, 0.1, 0.8, 0.3, 0.4],
            vec![0.0, 0.1, 0.2, 0.3, 0.9],
            vec![0.0, 0.3, 0.3, 0.3, 0.3], // ties go to the first
        ];
        let arch = discretise(&alpha, &ops);
        assert_eq!(arch, vec![4, 1, 3, 2, 4, 1]);
        assert_eq!(skip_count(&arch, &ops), 2);
    }

    #[test]
    fn a_skip_budget_keeps_the_strongest_skips_and_replaces_the_rest() {
        let _serial = crate::test_serial();
        let ops = nas_bench_201_ops();
        let alpha = vec![
            vec![0.0, 0.9, 0.2, 0.3, 0.1], // skip 0.9: kept
            vec![0.0, 0.5, 0.2, 0.1, 0.4], // skip 0.5: replaced by avg_pool (0.4)
            vec![0.0, 0.7, 0.2, 0.6, 0.4], // skip 0.7: kept
            vec![0.0, 0.1, 0.8, 0.3, 0.4],
        ];
        assert_eq!(discretise(&alpha, &ops), vec![1, 1, 1, 2]);
        assert_eq!(
            discretise_with_skip_budget(&alpha, &ops, 2),
            vec![1, 4, 1, 2]
        );
        assert_eq!(
            discretise_with_skip_budget(&alpha, &ops, 0),
            vec![3, 4, 3, 2]
        );
        assert_eq!(
            discretise_with_skip_budget(&alpha, &ops, 5),
            discretise(&alpha, &ops)
        );
    }

    #[test]
    fn gumbel_samples_carry_a_straight_through_gradient() {
        let _serial = crate::test_serial();
        let device = train_device();
        let arch = ArchWeights::new(6, 5, &device);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let EdgeMode::Hard { weights, chosen } =
            edge_mode(&arch, 1.0, Relaxation::Gumbel, &mut rng)
        else {
            panic!("GDAS gives a hard sample")
        };
        let rows = tensor_rows(weights.clone().inner());
        for (e, row) in rows.iter().enumerate() {
            for (k, v) in row.iter().enumerate() {
                let expect = if k == chosen[e] { 1.0 } else { 0.0 };
                assert!((v - expect).abs() < 1e-6, "value is one-hot: {rows:?}");
            }
        }
        let grads = weights.sum().backward();
        let mut g = GradientsParams::from_module(&mut { grads }, &arch);
        assert!(
            g.remove::<2>(arch.alpha.id).is_some(),
            "α is reached through the sample"
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let _serial = crate::test_serial();
        let (space, config) = tiny();
        let set = crate::data::ImageSet {
            pixels: vec![0.0; 64 * 4],
            labels: vec![0, 1, 2, 0],
            channels: 1,
            height: 8,
            width: 8,
            classes: 3,
        };
        let bad = DartsConfig {
            temperature: (1.0, 0.0),
            ..Default::default()
        };
        let err = search(&space, &config, &set, &bad, |_| {}).unwrap_err();
        assert!(err.to_string().contains("temperatures"), "{err}");
        let space = CellSpace::new(3, &["none", "sep_conv_7x7"]).unwrap();
        let err = search(&space, &config, &set, &DartsConfig::default(), |_| {}).unwrap_err();
        assert!(err.to_string().contains("sep_conv_7x7"), "{err}");
    }
}

#[cfg(test)]
mod search_tests {
    use super::*;

    #[test]
    fn first_and_second_order_searches_run_and_return_cells_of_the_space() {
        let _serial = crate::test_serial();
        let space = CellSpace::nas_bench_201();
        let net = NetConfig {
            channels: 4,
            cells_per_stage: 1,
            stages: 2,
            in_channels: 1,
            classes: 3,
        };
        let data = crate::test_blobs(96);
        let mut outcomes = Vec::new();
        for (order, relaxation) in [
            (Order::First, Relaxation::Softmax),
            (Order::Second, Relaxation::Softmax),
            (Order::First, Relaxation::Gumbel),
        ] {
            let config = DartsConfig {
                epochs: 2,
                batch_size: 16,
                order,
                relaxation,
                max_skips: None,
                ..Default::default()
            };
            let mut seen = 0;
            let out = search(&space, &net, &data, &config, |_| seen += 1).unwrap();
            assert_eq!(seen, 2);
            assert_eq!(out.arch.len(), 6);
            assert!(
                out.arch.iter().all(|a| (1..5).contains(a)),
                "no zero op: {:?}",
                out.arch
            );
            assert!(out.alpha.iter().flatten().all(|v| v.is_finite()));
            assert!(
                out.alpha.iter().flatten().any(|v| v.abs() > 1e-2),
                "α moved: {:?}",
                out.alpha
            );
            outcomes.push(out.alpha);
        }
        assert_ne!(
            outcomes[0], outcomes[1],
            "the second-order gradient differs from the first"
        );
    }

    #[test]
    fn the_skip_guard_stops_a_search_whose_cell_fills_with_skips() {
        let _serial = crate::test_serial();
        // the only non-zero operation is the skip, so every discretised cell is all skips
        let space = CellSpace::new(3, &["none", "skip_connect"]).unwrap();
        let net = NetConfig {
            channels: 2,
            cells_per_stage: 1,
            stages: 1,
            in_channels: 1,
            classes: 3,
        };
        let guarded = DartsConfig {
            epochs: 3,
            batch_size: 16,
            max_skips: Some(1),
            ..Default::default()
        };
        let out = search(&space, &net, &crate::test_blobs(64), &guarded, |_| {}).unwrap();
        assert_eq!(
            out.epochs.len(),
            2,
            "stopped at the first check, after the second epoch"
        );
        let why = out.stopped_early.unwrap();
        assert!(
            why.contains("epoch 1: the cell had 3 skip connections (more than 1)"),
            "{why}"
        );
        assert!(why.contains("kept the previous epoch's cell"), "{why}");
        let free = DartsConfig {
            max_skips: None,
            ..guarded
        };
        let out = search(&space, &net, &crate::test_blobs(64), &free, |_| {}).unwrap();
        assert_eq!(out.epochs.len(), 3);
        assert!(out.stopped_early.is_none());
        assert_eq!(out.arch, vec![1, 1, 1]);
    }
}
