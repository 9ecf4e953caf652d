//! Training-speed batch normalisation for the CPU: the training-mode forward pass (batch
//! statistics per channel) and its backward pass as two fused passes each over the activations, as
//! a burn backend extension with its own backward step. burn's generic version builds both from
//! transposes, reshapes and elementwise tensors (about ten passes, several of them copies); on the
//! activations of architecture search that was a tenth of a training step.
//!
//! Only burn's pure-Rust CPU backend (`Flex`) with autodiff and `f32` take this path; [`forward`]
//! falls back to burn's `BatchNorm` for anything else, and keeps the running statistics exactly as
//! burn's training path does.
//!
//! # References
//! - S. Ioffe, C. Szegedy, "Batch Normalization: Accelerating Deep Network Training by Reducing
//!   Internal Covariate Shift", ICML 2015 (the transform, batch statistics with the biased
//!   variance, and the gradients of Algorithm 1's back-propagation).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Dispatch, ExtensionType, Flex, backend_extension,
};
use burn::nn::BatchNorm;
use burn::tensor::{Bytes, DType, Shape, Tensor};
use rayon::prelude::*;

/// Per-channel sums over a batch `[n, c, p]`: `f(channel, plane)` for every image's plane of each
/// channel, summed over images.
fn channel_sums(
    data: &[f32],
    c: usize,
    p: usize,
    f: impl Fn(usize, usize, &[f32]) -> (f64, f64) + Sync,
) -> Vec<(f64, f64)> {
    let image = c * p;
    data.par_chunks(image)
        .enumerate()
        .map(|(i, img)| {
            (0..c)
                .map(|ch| f(i, ch, &img[ch * p..(ch + 1) * p]))
                .collect::<Vec<_>>()
        })
        .reduce(
            || vec![(0.0, 0.0); c],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    x.0 += y.0;
                    x.1 += y.1;
                }
                a
            },
        )
}

/// The training-mode forward pass on `x` `[n, c, p]`: the output, each channel's batch mean and
/// biased variance.
pub fn forward_train(
    x: &[f32],
    c: usize,
    p: usize,
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let count = (x.len() / c.max(1)) as f64;
    let mean: Vec<f64> = channel_sums(x, c, p, |_, _, v| {
        (v.iter().map(|&a| a as f64).sum::<f64>(), 0.0)
    })
    .into_iter()
    .map(|(s, _)| s / count)
    .collect();
    let var: Vec<f64> = channel_sums(x, c, p, |_, ch, v| {
        let m = mean[ch] as f32;
        (
            v.iter()
                .map(|&a| {
                    let d = a - m;
                    (d * d) as f64
                })
                .sum::<f64>(),
            0.0,
        )
    })
    .into_iter()
    .map(|(s, _)| s / count)
    .collect();
    let mut y = vec![0.0f32; x.len()];
    y.par_chunks_mut(c * p)
        .zip(x.par_chunks(c * p))
        .for_each(|(yi, xi)| {
            for ch in 0..c {
                let scale = (gamma[ch] as f64 / (var[ch] + epsilon).sqrt()) as f32;
                let shift = beta[ch] - mean[ch] as f32 * scale;
                for (o, &a) in yi[ch * p..(ch + 1) * p]
                    .iter_mut()
                    .zip(&xi[ch * p..(ch + 1) * p])
                {
                    *o = a * scale + shift;
                }
            }
        });
    let f32s = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect::<Vec<f32>>();
    (y, f32s(mean), f32s(var))
}

/// The backward pass of [`forward_train`] from the output gradient `gy`: the gradients of `x`,
/// gamma and beta.
#[allow(clippy::too_many_arguments)]
pub fn backward_train(
    x: &[f32],
    gy: &[f32],
    c: usize,
    p: usize,
    gamma: &[f32],
    mean: &[f32],
    var: &[f32],
    epsilon: f64,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let count = (x.len() / c.max(1)) as f64;
    let inv: Vec<f32> = var
        .iter()
        .map(|&v| (1.0 / (v as f64 + epsilon).sqrt()) as f32)
        .collect();
    // Σ gy and Σ gy·x̂ per channel.
    let sums = channel_sums(gy, c, p, |i, ch, g| {
        let xs = &x[(i * c + ch) * p..][..p];
        let (m, s) = (mean[ch], inv[ch]);
        g.iter().zip(xs).fold((0.0, 0.0), |(a, b), (&g, &v)| {
            (a + g as f64, b + (g * (v - m) * s) as f64)
        })
    });
    let mut dx = vec![0.0f32; x.len()];
    dx.par_chunks_mut(c * p)
        .zip(gy.par_chunks(c * p).zip(x.par_chunks(c * p)))
        .for_each(|(di, (gi, xi))| {
            for ch in 0..c {
                let (m, s) = (mean[ch], inv[ch]);
                let mean_g = (sums[ch].0 / count) as f32;
                let mean_gx = (sums[ch].1 / count) as f32;
                let scale = gamma[ch] * s;
                let range = ch * p..(ch + 1) * p;
                for ((d, &g), &v) in di[range.clone()]
                    .iter_mut()
                    .zip(&gi[range.clone()])
                    .zip(&xi[range])
                {
                    *d = scale * (g - mean_g - (v - m) * s * mean_gx);
                }
            }
        });
    let gamma_grad = sums.iter().map(|s| s.1 as f32).collect();
    let beta_grad = sums.iter().map(|s| s.0 as f32).collect();
    (dx, gamma_grad, beta_grad)
}

/// The output of [`FusedBatchNorm::fused_batch_norm_train`].
#[derive(ExtensionType)]
pub struct BatchNormOut<B: Backend> {
    /// The normalised activations.
    pub output: FloatTensor<B>,
    /// Each channel's batch mean.
    pub mean: FloatTensor<B>,
    /// Each channel's biased batch variance.
    pub variance: FloatTensor<B>,
}

/// Training-mode batch norm as a backend operation, differentiable in `x`, gamma and beta.
#[backend_extension(Flex, Autodiff)]
pub trait FusedBatchNorm: Backend {
    /// Normalises `x` `[n, c, h, w]` with its batch statistics.
    fn fused_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> BatchNormOut<Self>;
}

fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("the fused batch norm takes contiguous f32 tensors")
}

fn tensor(data: Vec<f32>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(Shape::from(shape)),
        DType::F32,
    )
}

fn flex_forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    epsilon: f64,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let shape = x.layout().shape().to_vec();
    let c = shape[1];
    let p = shape[2..].iter().product();
    let (y, mean, var) = forward_train(slice(x), c, p, slice(gamma), slice(beta), epsilon);
    (
        tensor(y, shape),
        tensor(mean, vec![c]),
        tensor(var, vec![c]),
    )
}

impl FusedBatchNorm for Flex {
    fn fused_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> BatchNormOut<Self> {
        let (output, mean, variance) = flex_forward(
            &x.to_contiguous(),
            &gamma.to_contiguous(),
            &beta.to_contiguous(),
            epsilon,
        );
        BatchNormOut {
            output,
            mean,
            variance,
        }
    }
}

#[derive(Debug)]
struct FusedBatchNormBackward {
    epsilon: f64,
}

impl Backward<Flex, 3> for FusedBatchNormBackward {
    /// The input, gamma, and the batch statistics of the forward pass.
    type State = (FlexTensor, FlexTensor, FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let gy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, gamma, mean, var) = ops.state;
        let shape = x.layout().shape().to_vec();
        let c = shape[1];
        let p = shape[2..].iter().product();
        let (dx, dgamma, dbeta) = backward_train(
            slice(&x),
            slice(&gy),
            c,
            p,
            slice(&gamma),
            slice(&mean),
            slice(&var),
            self.epsilon,
        );
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, tensor(dx, shape));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(dgamma, vec![c]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(dbeta, vec![c]));
        }
    }
}

impl<C: CheckpointStrategy> FusedBatchNorm for Autodiff<Flex, C> {
    fn fused_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> BatchNormOut<Self> {
        let xp = x.primitive().to_contiguous();
        let gp = gamma.primitive().to_contiguous();
        let bp = beta.primitive().to_contiguous();
        let (y, mean, var) = flex_forward(&xp, &gp, &bp, epsilon);
        let output = match (FusedBatchNormBackward { epsilon })
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((xp, gp, mean.clone(), var.clone()), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        BatchNormOut {
            output,
            mean: Self::from_inner(mean),
            variance: Self::from_inner(var),
        }
    }
}

/// `bn`'s forward pass on `x`: on burn's CPU backend in training (an autodiff device, the layer's
/// training flag set, f32), the fused pass with burn's running-statistics update; burn's
/// `BatchNorm::forward` otherwise.
pub fn forward(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let fused = device.is_autodiff()
        && bn.training.is_enabled()
        && x.dtype() == DType::F32
        && crate::cpuconv::on_flex(&x);
    if !fused {
        return bn.forward(x);
    }
    let out = <Dispatch as FusedBatchNorm>::fused_batch_norm_train(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
    );
    let mean: Tensor<1> = Tensor::from_dispatch(out.mean);
    let var: Tensor<1> = Tensor::from_dispatch(out.variance);
    let m = bn.momentum;
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    bn.running_mean
        .update((running_mean.mul_scalar(1.0 - m) + mean.detach().mul_scalar(m)).detach());
    bn.running_var
        .update((running_var.mul_scalar(1.0 - m) + var.detach().mul_scalar(m)).detach());
    Tensor::from_dispatch(out.output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Module;
    use burn::nn::BatchNormConfig;
    use burn::tensor::Distribution;

    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().expect("f32")
    }

    fn close(a: Vec<f32>, b: Vec<f32>, what: &str) {
        crate::assert_close(&a, &b, what);
    }

    /// Output, gradients of x, gamma and beta, and the running statistics agree with burn's
    /// training-mode batch norm.
    #[test]
    fn matches_burns_batch_norm_and_its_gradients() {
        let _serial = crate::test_serial();
        let device = crate::train::train_device();
        for (n, c, h, w) in [(4, 3, 5, 6), (2, 8, 7, 7), (1, 2, 3, 3)] {
            let ours = BatchNormConfig::new(c).init(&device);
            // Different gamma/beta than the defaults, the same in both layers.
            let gamma: Tensor<1> = Tensor::random([c], Distribution::Uniform(0.5, 1.5), &device);
            let beta: Tensor<1> = Tensor::random([c], Distribution::Normal(0.0, 1.0), &device);
            let ours = BatchNorm {
                gamma: burn::module::Param::from_tensor(gamma.clone()),
                beta: burn::module::Param::from_tensor(beta.clone()),
                ..ours
            };
            let theirs = BatchNormConfig::new(c).init(&device);
            let theirs = BatchNorm {
                gamma: burn::module::Param::from_tensor(gamma),
                beta: burn::module::Param::from_tensor(beta),
                ..theirs
            };
            let x: Tensor<4> =
                Tensor::random([n, c, h, w], Distribution::Normal(2.0, 3.0), &device)
                    .require_grad();
            let probe: Tensor<4> =
                Tensor::random([n, c, h, w], Distribution::Normal(0.0, 1.0), &device);
            let a = forward(&ours, x.clone());
            let b = theirs.forward(x.clone());
            close(values(a.clone()), values(b.clone()), "output");
            let ga = (a * probe.clone()).sum().backward();
            let gb = (b * probe).sum().backward();
            close(
                values(x.grad(&ga).unwrap()),
                values(x.grad(&gb).unwrap()),
                "input gradient",
            );
            close(
                values(ours.gamma.val().grad(&ga).unwrap()),
                values(theirs.gamma.val().grad(&gb).unwrap()),
                "gamma gradient",
            );
            close(
                values(ours.beta.val().grad(&ga).unwrap()),
                values(theirs.beta.val().grad(&gb).unwrap()),
                "beta gradient",
            );
            close(
                values(ours.running_mean.value()),
                values(theirs.running_mean.value()),
                "running mean",
            );
            close(
                values(ours.running_var.value()),
                values(theirs.running_var.value()),
                "running variance",
            );
            assert_eq!(ours.num_params(), theirs.num_params());
        }
    }

    /// Off the training path (an inference copy) it is burn's running-statistics batch norm.
    #[test]
    fn inference_uses_the_running_statistics() {
        let _serial = crate::test_serial();
        let device = crate::train::train_device();
        let bn = BatchNormConfig::new(2).init(&device);
        let x: Tensor<4> = Tensor::random([2, 2, 3, 3], Distribution::Normal(1.0, 2.0), &device);
        let _ = forward(&bn, x.clone());
        let inference = bn.valid();
        let xi = x.inner();
        close(
            values(forward(&inference, xi.clone())),
            values(inference.forward(xi)),
            "inference",
        );
    }
}
