//! Candidate operations of a cell edge, as burn modules: the zero operation, the identity,
//! ReLU-convolution-batch-norm blocks of kernel 1 or 3, and 3x3 average and max pooling (stride 1,
//! shape-preserving), named as in NAS-Bench-201 (`none`, `skip_connect`, `nor_conv_1x1`,
//! `nor_conv_3x3`, `avg_pool_3x3`) with `max_pool_3x3` besides.
//!
//! # References
//! - X. Dong, Y. Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture
//!   Search", ICLR 2020 (the operations and their ReLU-Conv-BN order).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AvgPool2d, AvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

use crate::error::{Error, Result};

/// What an operation computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum OpKind {
    /// Outputs zero: the edge is absent.
    Zero,
    /// Passes its input through.
    Identity,
    /// ReLU, convolution of this (odd) kernel size, batch norm.
    Conv(usize),
    /// 3x3 average pooling, stride 1.
    AvgPool,
    /// 3x3 max pooling, stride 1.
    MaxPool,
}

impl OpKind {
    /// Parses an operation name (NAS-Bench-201's, or `zero`/`identity`/`skip`/`conv_KxK`).
    pub fn parse(name: &str) -> Result<OpKind> {
        Ok(match name {
            "none" | "zero" => OpKind::Zero,
            "skip_connect" | "skip" | "identity" => OpKind::Identity,
            "nor_conv_1x1" | "conv_1x1" => OpKind::Conv(1),
            "nor_conv_3x3" | "conv_3x3" => OpKind::Conv(3),
            "nor_conv_5x5" | "conv_5x5" => OpKind::Conv(5),
            "avg_pool_3x3" => OpKind::AvgPool,
            "max_pool_3x3" => OpKind::MaxPool,
            other => {
                return Err(Error::Config(format!(
                    "operation '{other}' cannot be trained (known: none, skip_connect, nor_conv_1x1, \
                     nor_conv_3x3, nor_conv_5x5, avg_pool_3x3, max_pool_3x3)"
                )));
            }
        })
    }
}

/// A ReLU-Conv-BN block.
#[derive(Module, Debug)]
pub struct ReluConvBn {
    /// The convolution (no bias: the batch norm has one).
    pub conv: Conv2d,
    /// The batch norm after it.
    pub bn: BatchNorm,
}

impl ReluConvBn {
    /// A block from `c_in` to `c_out` channels with a square `kernel` and `stride`.
    pub fn new(c_in: usize, c_out: usize, kernel: usize, stride: usize, device: &Device) -> Self {
        let pad = kernel / 2;
        ReluConvBn {
            conv: Conv2dConfig::new([c_in, c_out], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(c_out).init(device),
        }
    }

    /// Applies ReLU, the convolution and the batch norm.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.forward_stats(x, false)
    }

    /// [`ReluConvBn::forward`], normalising with this batch's statistics when `batch_stats`.
    pub fn forward_stats(&self, x: Tensor<4>, batch_stats: bool) -> Tensor<4> {
        norm(
            &self.bn,
            crate::cpuconv::conv2d(&self.conv, relu(x)),
            batch_stats,
        )
    }
}

/// Batch norm with its running statistics (or, on an autodiff device in training, the batch's),
/// or — when `batch_stats` — always with the batch's own mean and variance and without
/// touching the running statistics: the one-shot evaluation of a supernet path (whose running
/// statistics mix every path), done without an autodiff graph.
pub fn norm(bn: &BatchNorm, x: Tensor<4>, batch_stats: bool) -> Tensor<4> {
    if !batch_stats {
        return crate::cpubatchnorm::forward(bn, x);
    }
    let [_, c, _, _] = x.dims();
    let mean = x.clone().mean_dim(0).mean_dim(2).mean_dim(3);
    let centred = x - mean;
    let var = centred
        .clone()
        .powi_scalar(2)
        .mean_dim(0)
        .mean_dim(2)
        .mean_dim(3);
    let normed = centred / (var + bn.epsilon).sqrt();
    normed * bn.gamma.val().reshape([1, c, 1, 1]) + bn.beta.val().reshape([1, c, 1, 1])
}

/// One candidate operation on an edge (its weights, if it has any).
#[derive(Module, Debug)]
pub struct Op {
    pub(crate) conv: Option<ReluConvBn>,
    avg: Option<AvgPool2d>,
    max: Option<MaxPool2d>,
    #[module(skip)]
    kind: OpKind,
}

impl Op {
    /// An operation of `kind` on `channels` channels.
    pub fn new(kind: OpKind, channels: usize, device: &Device) -> Self {
        let pool_pad = PaddingConfig2d::Explicit(1, 1, 1, 1);
        Op {
            conv: match kind {
                OpKind::Conv(k) => Some(ReluConvBn::new(channels, channels, k, 1, device)),
                _ => None,
            },
            avg: (kind == OpKind::AvgPool).then(|| {
                AvgPool2dConfig::new([3, 3])
                    .with_strides([1, 1])
                    .with_padding(pool_pad.clone())
                    .with_count_include_pad(false)
                    .init()
            }),
            max: (kind == OpKind::MaxPool).then(|| {
                MaxPool2dConfig::new([3, 3])
                    .with_strides([1, 1])
                    .with_padding(pool_pad.clone())
                    .init()
            }),
            kind,
        }
    }

    /// What the operation computes.
    pub fn kind(&self) -> OpKind {
        self.kind
    }

    /// Applies the operation; `None` for the zero operation (the caller adds nothing).
    pub fn forward(&self, x: Tensor<4>) -> Option<Tensor<4>> {
        self.forward_stats(x, false)
    }

    /// [`Op::forward`], with batch statistics in its batch norm when `batch_stats`.
    pub fn forward_stats(&self, x: Tensor<4>, batch_stats: bool) -> Option<Tensor<4>> {
        match (&self.conv, &self.avg, &self.max) {
            (Some(c), _, _) => Some(c.forward_stats(x, batch_stats)),
            (_, Some(p), _) => Some(crate::cpupool::avg_pool_3x3(p, x)),
            (_, _, Some(p)) => Some(p.forward(x)),
            _ if self.kind == OpKind::Identity => Some(x),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::tensor::Distribution;

    #[test]
    fn batch_statistics_without_autodiff_match_training_mode_batch_norm() {
        let _serial = crate::test_serial();
        let device = Device::default().autodiff();
        let block = ReluConvBn::new(3, 4, 3, 1, &device);
        let x = Tensor::<4>::random([5, 3, 6, 6], Distribution::Normal(0.5, 2.0), &device);
        let training: Vec<f32> = block.forward(x.clone()).into_data().try_to_vec().unwrap();
        let plain = block.valid();
        let ours: Vec<f32> = plain
            .forward_stats(x.clone().inner(), true)
            .into_data()
            .try_to_vec()
            .unwrap();
        let running: Vec<f32> = plain.forward(x.inner()).into_data().try_to_vec().unwrap();
        let max_diff = training
            .iter()
            .zip(&ours)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(max_diff < 1e-4, "batch statistics differ by {max_diff}");
        let off = training
            .iter()
            .zip(&running)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            off > 1e-2,
            "running statistics are a different normalisation"
        );
    }
}
