//! Supernets over chain spaces ([`tuneforge::nas::ChainSpace`]): a stem, then the chain's layers
//! split into stages (a stride-2 reduction doubling the channels between stages), global average
//! pooling and a linear head. Every layer holds every distinct candidate block with its own
//! weights (a mixed operation), so one network serves single-path training (SPOS), the weighted
//! mix of DARTS, or a stand-alone network (one candidate per layer).
//!
//! Blocks keep their layer's channel count, so any path fits any other:
//! - `conv`: ReLU-conv(kernel, C → C·width)-BN, then ReLU-conv(1x1, back to C)-BN;
//! - `mbconv`: the inverted residual of MobileNetV2: a 1x1 expansion to C·expansion·width
//!   channels, a depthwise kernel x kernel convolution, a 1x1 projection back to C, and the
//!   input added;
//! - `skip`: the identity.
//!
//! The options a block does not use (a `conv`'s expansion, a `skip`'s everything) do not make
//! new candidates: architectures that differ only there share the same weights.
//!
//! # References
//! - M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen, "MobileNetV2: Inverted Residuals
//!   and Linear Bottlenecks", CVPR 2018 (the mbconv block).
//! - Z. Guo et al., "Single Path One-Shot Neural Architecture Search with Uniform Sampling",
//!   ECCV 2020 (a chain supernet of choice blocks, one per layer, trained by single paths).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use tuneforge::nas::{ArchitectureSpace, ChainSpace};

use crate::error::{Error, Result};
use crate::ops::ReluConvBn;
use crate::supernet::{EdgeMode, NetConfig, SharedWeights, mix_forward};
use crate::train::Classifier;

/// One candidate block of a chain layer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BlockKind {
    /// The identity.
    Skip,
    /// Convolution of `kernel` to `width_pct`% of the channels, then 1x1 back.
    Conv {
        /// Kernel size (odd).
        kernel: usize,
        /// Hidden channels, percent of the layer's.
        width_pct: usize,
    },
    /// Inverted residual with `expansion` x `width_pct`% hidden channels.
    MbConv {
        /// Depthwise kernel size (odd).
        kernel: usize,
        /// Expansion ratio.
        expansion: usize,
        /// Width multiplier, percent.
        width_pct: usize,
    },
}

impl BlockKind {
    fn hidden(&self, channels: usize) -> usize {
        let h = match self {
            BlockKind::Skip => 0,
            BlockKind::Conv { width_pct, .. } => channels * width_pct,
            BlockKind::MbConv {
                expansion,
                width_pct,
                ..
            } => channels * expansion * width_pct,
        };
        (h as f64 / 100.0).round().max(1.0) as usize
    }
}

/// The candidate block of one layer's decisions (`op` and `options` as `(name, value)`).
fn block_of(op: &str, options: &[(&str, &str)]) -> Result<BlockKind> {
    let get = |name: &str, default: &str| -> Result<f64> {
        let v = options
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(default, |(_, v)| *v);
        v.parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x > 0.0)
            .ok_or_else(|| {
                Error::Config(format!("chain option {name}={v} is not a positive number"))
            })
    };
    let kernel = || -> Result<usize> {
        let k = get("kernel", "3")?;
        if k.fract() != 0.0 || (k as usize).is_multiple_of(2) {
            return Err(Error::Config(format!(
                "chain kernel {k} must be an odd whole number"
            )));
        }
        Ok(k as usize)
    };
    let width_pct = || -> Result<usize> { Ok((get("width", "1")? * 100.0).round() as usize) };
    Ok(match op {
        "skip" => BlockKind::Skip,
        "conv" => BlockKind::Conv {
            kernel: kernel()?,
            width_pct: width_pct()?,
        },
        "mbconv" => BlockKind::MbConv {
            kernel: kernel()?,
            expansion: get("expansion", "1")?.round().max(1.0) as usize,
            width_pct: width_pct()?,
        },
        other => {
            return Err(Error::Config(format!(
                "chain operator '{other}' cannot be trained (known: conv, mbconv, skip)"
            )));
        }
    })
}

/// Reads a chain space's layers from its decisions: per layer, the operator decision's index
/// and the option decisions' names and indices.
struct Layout {
    /// Per layer: (index of the op decision, [(option name, decision index)]).
    layers: Vec<(usize, Vec<(String, usize)>)>,
}

impl Layout {
    fn of(space: &ChainSpace) -> Layout {
        let mut layers: Vec<(usize, Vec<(String, usize)>)> = Vec::new();
        for (i, d) in space.decisions().iter().enumerate() {
            let rest = d.name.split_once('_').map_or("", |(_, r)| r);
            if rest == "op" {
                layers.push((i, Vec::new()));
            } else if let Some(last) = layers.last_mut() {
                last.1.push((rest.to_string(), i));
            }
        }
        Layout { layers }
    }

    fn block(&self, space: &ChainSpace, arch: &[usize], layer: usize) -> Result<BlockKind> {
        let d = space.decisions();
        let (op, opts) = &self.layers[layer];
        let options: Vec<(&str, &str)> = opts
            .iter()
            .map(|(n, i)| (n.as_str(), d[*i].choices[arch[*i]].as_str()))
            .collect();
        block_of(&d[*op].choices[arch[*op]], &options)
    }
}

/// A candidate block's weights.
#[derive(Module, Debug)]
pub struct Block {
    convs: Vec<ReluConvBn>,
    depthwise: Option<(Conv2d, BatchNorm)>,
    #[module(skip)]
    residual: bool,
}

impl Block {
    fn new(kind: &BlockKind, channels: usize, device: &Device) -> Block {
        let hidden = kind.hidden(channels);
        match *kind {
            BlockKind::Skip => Block {
                convs: Vec::new(),
                depthwise: None,
                residual: false,
            },
            BlockKind::Conv { kernel, .. } => Block {
                convs: vec![
                    ReluConvBn::new(channels, hidden, kernel, 1, device),
                    ReluConvBn::new(hidden, channels, 1, 1, device),
                ],
                depthwise: None,
                residual: false,
            },
            BlockKind::MbConv { kernel, .. } => {
                let pad = kernel / 2;
                Block {
                    convs: vec![
                        ReluConvBn::new(channels, hidden, 1, 1, device),
                        ReluConvBn::new(hidden, channels, 1, 1, device),
                    ],
                    depthwise: Some((
                        Conv2dConfig::new([hidden, hidden], [kernel, kernel])
                            .with_groups(hidden)
                            .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                            .with_bias(false)
                            .init(device),
                        BatchNormConfig::new(hidden).init(device),
                    )),
                    residual: true,
                }
            }
        }
    }

    fn forward(&self, x: Tensor<4>, bs: bool) -> Tensor<4> {
        let Some((first, rest)) = self.convs.split_first() else {
            return x; // skip
        };
        let mut h = first.forward_stats(x.clone(), bs);
        if let Some((dw, bn)) = &self.depthwise {
            h = crate::ops::norm(bn, dw.forward(relu(h)), bs);
        }
        for c in rest {
            h = c.forward_stats(h, bs);
        }
        if self.residual { x + h } else { h }
    }
}

/// One layer: every candidate block.
#[derive(Module, Debug)]
pub struct ChainLayer {
    blocks: Vec<Block>,
}

/// A network over a chain space. See the module documentation.
#[derive(Module, Debug)]
pub struct ChainNet {
    stem: Conv2d,
    stem_bn: BatchNorm,
    layers: Vec<ChainLayer>,
    reductions: Vec<ReluConvBn>,
    head: Linear,
    #[module(skip)]
    candidates: Vec<BlockKind>,
    #[module(skip)]
    starts: Vec<usize>,
    #[module(skip)]
    fixed: Vec<usize>,
    #[module(skip)]
    config: NetConfig,
}

impl ChainNet {
    /// A supernet over `space`: every layer holds every distinct block the space can choose
    /// there. `config.cells_per_stage` is unused: the chain's layers are split over
    /// `config.stages` stages.
    pub fn supernet(space: &ChainSpace, config: &NetConfig, device: &Device) -> Result<ChainNet> {
        let candidates = Self::candidates_of(space)?;
        Self::build(space.layers(), candidates, config, device)
    }

    /// Checks, without building anything, that a network of `config` over `space` can be built
    /// (every block trainable, enough layers for the stages): the errors
    /// [`ChainNet::supernet`] would give.
    pub fn check(space: &ChainSpace, config: &NetConfig) -> Result<()> {
        Self::candidates_of(space)?;
        check_size(space.layers(), config)
    }

    /// The stand-alone network of `arch`: only the blocks it uses, and the candidate index of
    /// each layer (the path [`Classifier::classify`] runs).
    pub fn standalone(
        space: &ChainSpace,
        arch: &[usize],
        config: &NetConfig,
        device: &Device,
    ) -> Result<(ChainNet, Vec<usize>)> {
        check_arch(space, arch)?;
        let layout = Layout::of(space);
        let mut kinds: Vec<BlockKind> = Vec::new();
        let mut path = Vec::new();
        for l in 0..space.layers() {
            let b = layout.block(space, arch, l)?;
            let k = kinds.iter().position(|k| *k == b).unwrap_or(kinds.len());
            if k == kinds.len() {
                kinds.push(b);
            }
            path.push(k);
        }
        let mut net = Self::build(space.layers(), kinds, config, device)?;
        net.fixed = path.clone();
        Ok((net, path))
    }

    fn candidates_of(space: &ChainSpace) -> Result<Vec<BlockKind>> {
        // Every combination of the first layer's choices (all layers offer the same ones).
        let layout = Layout::of(space);
        let d = space.decisions();
        let (op, opts) = &layout.layers[0];
        let mut idx: Vec<usize> = std::iter::once(*op)
            .chain(opts.iter().map(|(_, i)| *i))
            .collect();
        idx.sort_unstable();
        let mut kinds: Vec<BlockKind> = Vec::new();
        let mut arch = vec![0; d.len()];
        loop {
            let b = layout.block(space, &arch, 0)?;
            if !kinds.contains(&b) {
                kinds.push(b);
            }
            // Next combination over the first layer's decisions (odometer).
            let mut carry = true;
            for &i in &idx {
                if !carry {
                    break;
                }
                arch[i] += 1;
                if arch[i] == d[i].choices.len() {
                    arch[i] = 0;
                } else {
                    carry = false;
                }
            }
            if carry {
                break;
            }
        }
        Ok(kinds)
    }

    fn build(
        layers: usize,
        candidates: Vec<BlockKind>,
        config: &NetConfig,
        device: &Device,
    ) -> Result<ChainNet> {
        check_size(layers, config)?;
        let c = config.channels;
        let starts: Vec<usize> = (0..config.stages)
            .map(|s| s * layers / config.stages)
            .collect();
        let mut chain = Vec::new();
        let mut reductions = Vec::new();
        let mut stage = 0;
        for l in 0..layers {
            if stage + 1 < starts.len() && l == starts[stage + 1] {
                stage += 1;
                reductions.push(ReluConvBn::new(c << (stage - 1), c << stage, 3, 2, device));
            }
            chain.push(ChainLayer {
                blocks: candidates
                    .iter()
                    .map(|k| Block::new(k, c << stage, device))
                    .collect(),
            });
        }
        Ok(ChainNet {
            stem: Conv2dConfig::new([config.in_channels, c], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            stem_bn: BatchNormConfig::new(c).init(device),
            layers: chain,
            reductions,
            head: LinearConfig::new(c << (config.stages - 1), config.classes).init(device),
            fixed: vec![0; layers],
            config: config.clone(),
            candidates,
            starts,
        })
    }

    /// The network's size.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// The candidate blocks every layer holds.
    pub fn candidates(&self) -> &[BlockKind] {
        &self.candidates
    }

    /// The candidate index per layer for `arch`.
    pub fn path(&self, space: &ChainSpace, arch: &[usize]) -> Result<Vec<usize>> {
        check_arch(space, arch)?;
        let layout = Layout::of(space);
        (0..space.layers())
            .map(|l| {
                let b = layout.block(space, arch, l)?;
                self.candidates.iter().position(|k| *k == b).ok_or_else(|| {
                    Error::Config(format!("layer {l}'s block {b:?} is not in this network"))
                })
            })
            .collect()
    }

    /// Parameters of candidate `k` of layer `l` (for weight-sharing checks).
    pub fn block_param_count(&self, l: usize, k: usize) -> usize {
        self.layers[l].blocks[k].num_params()
    }
}

/// Checks that a network of `config` can be built over `layers` chain layers.
fn check_size(layers: usize, config: &NetConfig) -> Result<()> {
    config.validate()?;
    if config.stages > layers {
        return Err(Error::Config(format!(
            "a chain of {layers} layers cannot fill {} stages",
            config.stages
        )));
    }
    Ok(())
}

fn check_arch(space: &ChainSpace, arch: &[usize]) -> Result<()> {
    let d = space.decisions();
    if arch.len() != d.len() || arch.iter().zip(d).any(|(&a, d)| a >= d.choices.len()) {
        return Err(Error::Config(format!(
            "an architecture of this chain space has {} decisions within their choices, got {arch:?}",
            d.len()
        )));
    }
    Ok(())
}

impl SharedWeights for ChainNet {
    fn forward_mode(&self, x: Tensor<4>, mode: &EdgeMode, bs: bool) -> Tensor<2> {
        let mut h = crate::ops::norm(&self.stem_bn, crate::cpuconv::conv2d(&self.stem, x), bs);
        let mut stage = 0;
        for (l, layer) in self.layers.iter().enumerate() {
            if stage + 1 < self.starts.len() && l == self.starts[stage + 1] {
                h = self.reductions[stage].forward_stats(h, bs);
                stage += 1;
            }
            let input = h.clone();
            h = mix_forward(layer.blocks.len(), l, mode, |k| {
                Some(layer.blocks[k].forward(input.clone(), bs))
            })
            .unwrap_or(input);
        }
        let [b, ch, _, _] = h.dims();
        self.head
            .forward(relu(h).mean_dim(3).mean_dim(2).reshape([b, ch]))
    }
}

impl Classifier for ChainNet {
    /// The stand-alone path (a supernet: every layer's first candidate).
    fn classify(&self, x: Tensor<4>) -> Tensor<2> {
        self.forward_mode(x, &EdgeMode::Path(self.fixed.clone()), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::{ModuleVisitor, Param};
    use burn::optim::GradientsParams;
    use burn::tensor::{Distribution, Int, TensorData};

    use crate::train::{cross_entropy, train_device};

    fn tiny() -> (ChainSpace, NetConfig) {
        (
            ChainSpace::mobile(3).expect("space"),
            NetConfig {
                channels: 4,
                cells_per_stage: 1,
                stages: 2,
                in_channels: 1,
                classes: 3,
            },
        )
    }

    /// The mobile space's candidates: skip, conv per (kernel, width), mbconv per (kernel,
    /// expansion, width); unused options make no new candidate.
    #[test]
    fn candidates_are_the_distinct_blocks() {
        let _serial = crate::test_serial();
        let (space, config) = tiny();
        let net = ChainNet::supernet(&space, &config, &train_device()).expect("net");
        let kinds = net.candidates();
        assert_eq!(kinds.iter().filter(|k| **k == BlockKind::Skip).count(), 1);
        let convs = kinds.iter().filter(|k| matches!(k, BlockKind::Conv { .. }));
        assert_eq!(convs.count(), 9);
        let mb = kinds
            .iter()
            .filter(|k| matches!(k, BlockKind::MbConv { .. }));
        assert_eq!(mb.count(), 27);
        assert_eq!(kinds.len(), 37);
    }

    /// Architectures that differ only in a skipped layer's options take the same path, and a
    /// conv's expansion does not matter; the path names each layer's block.
    #[test]
    fn paths_ignore_unused_options() {
        let _serial = crate::test_serial();
        let (space, config) = tiny();
        let net = ChainNet::supernet(&space, &config, &train_device()).expect("net");
        let a = space
            .parse("skip > conv(kernel=5,expansion=1,width=0.5) > mbconv(kernel=3,expansion=6,width=1.0)")
            .expect("parse");
        let mut b = a.clone();
        b[1] = (b[1] + 1) % 3; // the skipped layer's kernel
        b[4 + 2] = (b[4 + 2] + 2) % 3; // the conv's expansion
        assert_eq!(net.path(&space, &a).unwrap(), net.path(&space, &b).unwrap());
        let path = net.path(&space, &a).unwrap();
        assert_eq!(net.candidates()[path[0]], BlockKind::Skip);
        assert_eq!(
            net.candidates()[path[1]],
            BlockKind::Conv {
                kernel: 5,
                width_pct: 50
            }
        );
        assert_eq!(
            net.candidates()[path[2]],
            BlockKind::MbConv {
                kernel: 3,
                expansion: 6,
                width_pct: 100
            }
        );
        assert!(net.path(&space, &a[1..]).is_err());
    }

    /// Weight sharing: one set of tensors per candidate per layer, and a single-path step
    /// gives gradients to the chosen blocks only, the same tensors whichever architecture
    /// chose them.
    #[test]
    fn single_paths_train_shared_blocks() {
        let _serial = crate::test_serial();
        let (space, config) = tiny();
        let device = train_device();
        let net = ChainNet::supernet(&space, &config, &device).expect("net");
        let a = space
            .parse("conv(kernel=3,expansion=1,width=1.0) > skip > mbconv(kernel=5,expansion=3,width=0.5)")
            .expect("parse");
        let path = net.path(&space, &a).unwrap();
        let x: Tensor<4> = Tensor::random([4, 1, 8, 8], Distribution::Normal(0.0, 1.0), &device);
        let y: Tensor<1, Int> = Tensor::from_data(TensorData::from([0i32, 1, 2, 1]), &device);
        let loss = cross_entropy(net.forward_mode(x, &EdgeMode::Path(path.clone()), false), y);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        struct Count<'a>(&'a GradientsParams, usize, usize);
        impl ModuleVisitor for Count<'_> {
            fn visit_float<const D: usize>(&mut self, p: &Param<Tensor<D>>) {
                // Trainable tensors only (not batch norm's running statistics).
                if !p.val().is_require_grad() {
                    return;
                }
                self.1 += 1;
                if self.0.get::<D>(p.id).is_some() {
                    self.2 += 1;
                }
            }
        }
        for (l, layer) in net.layers.iter().enumerate() {
            for (k, block) in layer.blocks.iter().enumerate() {
                let mut c = Count(&grads, 0, 0);
                block.visit(&mut c);
                if k == path[l] && net.candidates()[k] != BlockKind::Skip {
                    assert!(
                        c.1 > 0 && c.2 == c.1,
                        "layer {l} block {k}: {} of {}",
                        c.2,
                        c.1
                    );
                } else {
                    assert_eq!(c.2, 0, "layer {l} block {k} got gradients off the path");
                }
            }
        }
        // The stand-alone network of the same architecture has exactly the path's blocks.
        let (alone, apath) = ChainNet::standalone(&space, &a, &config, &device).expect("alone");
        let blocks: usize = (0..3).map(|l| net.block_param_count(l, path[l])).sum();
        let alone_blocks: usize = (0..3).map(|l| alone.block_param_count(l, apath[l])).sum();
        assert_eq!(blocks, alone_blocks);
    }

    /// Unknown operators and bad options are clear errors.
    #[test]
    fn untrainable_chains_are_refused() {
        let _serial = crate::test_serial();
        let config = tiny().1;
        let device = train_device();
        let odd = ChainSpace::new(2, &["conv", "attention"], &[("kernel", vec!["3"])]).unwrap();
        let e = ChainNet::supernet(&odd, &config, &device).unwrap_err();
        assert!(e.to_string().contains("attention"), "{e}");
        let even = ChainSpace::new(2, &["conv"], &[("kernel", vec!["4"])]).unwrap();
        let e = ChainNet::supernet(&even, &config, &device).unwrap_err();
        assert!(e.to_string().contains("odd"), "{e}");
        let short = ChainSpace::new(1, &["conv"], &[("kernel", vec!["3"])]).unwrap();
        let e = ChainNet::supernet(&short, &config, &device).unwrap_err();
        assert!(e.to_string().contains("stages"), "{e}");
    }

    /// SPOS over a chain space end to end: the supernet trains on single paths, evolution ranks
    /// chains by their one-shot accuracy, and the best chain retrained alone learns the task.
    #[test]
    fn one_shot_search_over_a_chain_space_finds_a_chain_that_learns() {
        let _serial = crate::test_serial();
        let (space, config) = tiny();
        let data = crate::test_blobs(96);
        let recipe = crate::train::TrainConfig {
            epochs: 4,
            batch_size: 16,
            lr: 0.01,
            ..Default::default()
        };
        let mut losses = Vec::new();
        let net = crate::spos::train_chain_supernet(&space, &config, &data, &recipe, |_, l| {
            losses.push(l)
        })
        .expect("supernet");
        assert_eq!(losses.len(), 4);
        assert!(losses[3] < losses[0], "supernet loss {losses:?}");
        let evolve = crate::spos::EvolveConfig {
            population: 6,
            generations: 2,
            parents: 2,
            ..Default::default()
        };
        let (best, scored) = crate::spos::evolve(&space, &evolve, |a| {
            crate::spos::chain_one_shot_accuracy(&net, &space, a, &data)
        })
        .expect("evolve");
        let top = scored.iter().map(|s| s.1).fold(0.0, f64::max);
        assert_eq!(scored.iter().find(|s| s.0 == best).map(|s| s.1), Some(top));
        let (alone, _) =
            ChainNet::standalone(&space, &best, &config, &train_device()).expect("alone");
        let (_, report) =
            crate::train::train_classifier(alone, &data, &data, &recipe, |_, _, _| {})
                .expect("retrain");
        let acc = report.epoch_valid_accuracy.last().copied().unwrap_or(0.0);
        assert!(
            acc > 0.6,
            "retrained chain {} scores {acc}",
            space.format(&best)
        );
    }
}
