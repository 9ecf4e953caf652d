//! Training-speed 3x3 average pooling for the CPU (stride 1, padding 1, padded positions not
//! counted: NAS-Bench-201's `avg_pool_3x3`), as a burn backend extension with its own backward
//! step. The window sum is separable, a sum over three rows of sums over three columns, so the
//! forward pass is two sweeps per plane; the input gradient is the same box sum applied to the
//! output gradient divided by each position's count (the adjoint of the forward pass). burn's
//! generic pooling was most of a training step of a cell with pooling edges.
//!
//! Only burn's pure-Rust CPU backend (`Flex`, with or without autodiff) and `f32` take this
//! path; [`avg_pool_3x3`] falls back to burn's pooling elsewhere.
//!
//! # References
//! - X. Dong, Y. Yang, "NAS-Bench-201: Extending the Scope of Reproducible Neural Architecture
//!   Search", ICLR 2020 (the 3x3 average pooling operation of its cells).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::pool::AvgPool2d;
use burn::tensor::{Bytes, DType, Shape, Tensor};
use rayon::prelude::*;

/// The number of in-image positions of the 3-wide window centred on `i` in a line of `n`.
fn span(i: usize, n: usize) -> f32 {
    (1 + usize::from(i > 0) + usize::from(i + 1 < n)) as f32
}

/// `out[i, j] = Σ x[i + di, j + dj]` over the in-image 3x3 window, for one `h` x `w` plane
/// (`row` is scratch of `h * w`).
fn box_sum(x: &[f32], h: usize, w: usize, row: &mut [f32], out: &mut [f32]) {
    for i in 0..h {
        let src = &x[i * w..(i + 1) * w];
        let dst = &mut row[i * w..(i + 1) * w];
        for j in 0..w {
            let mut s = src[j];
            if j > 0 {
                s += src[j - 1];
            }
            if j + 1 < w {
                s += src[j + 1];
            }
            dst[j] = s;
        }
    }
    for i in 0..h {
        let dst = &mut out[i * w..(i + 1) * w];
        dst.copy_from_slice(&row[i * w..(i + 1) * w]);
        if i > 0 {
            for (d, v) in dst.iter_mut().zip(&row[(i - 1) * w..i * w]) {
                *d += v;
            }
        }
        if i + 1 < h {
            for (d, v) in dst.iter_mut().zip(&row[(i + 1) * w..(i + 2) * w]) {
                *d += v;
            }
        }
    }
}

/// The pooled planes of `x` (`planes` planes of `h` x `w`), or, with `adjoint`, the input
/// gradient from the output gradient `x`.
fn pool(x: &[f32], h: usize, w: usize, adjoint: bool) -> Vec<f32> {
    let p = h * w;
    let inv: Vec<f32> = (0..p)
        .map(|k| 1.0 / (span(k / w, h) * span(k % w, w)))
        .collect();
    let mut out = vec![0.0f32; x.len()];
    out.par_chunks_mut(p).zip(x.par_chunks(p)).for_each_init(
        || (vec![0.0f32; p], vec![0.0f32; p]),
        |(row, scaled), (o, xi)| {
            if adjoint {
                for ((s, v), c) in scaled.iter_mut().zip(xi).zip(&inv) {
                    *s = v * c;
                }
                box_sum(scaled, h, w, row, o);
            } else {
                box_sum(xi, h, w, row, o);
                for (v, c) in o.iter_mut().zip(&inv) {
                    *v *= c;
                }
            }
        },
    );
    out
}

/// 3x3 average pooling as a backend operation, differentiable on autodiff devices.
#[backend_extension(Flex, Autodiff)]
pub trait BoxPool: Backend {
    /// Pools `x` `[n, c, h, w]`.
    fn avg_pool_3x3(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

fn apply(x: &FlexTensor, adjoint: bool) -> FlexTensor {
    let shape = x.layout().shape().to_vec();
    let (h, w) = (shape[2], shape[3]);
    let data = x
        .as_slice::<f32>()
        .expect("the pooling takes contiguous f32 tensors");
    FlexTensor::new(
        Bytes::from_elems(pool(data, h, w, adjoint)),
        Layout::contiguous(Shape::from(shape)),
        DType::F32,
    )
}

impl BoxPool for Flex {
    fn avg_pool_3x3(x: FloatTensor<Self>) -> FloatTensor<Self> {
        apply(&x.to_contiguous(), false)
    }
}

#[derive(Debug)]
struct BoxPoolBackward;

impl Backward<Flex, 1> for BoxPoolBackward {
    type State = ();

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let gy = grads.consume::<Flex>(&ops.node).to_contiguous();
        if let Some(node) = node {
            grads.register::<Flex>(node.id, apply(&gy, true));
        }
    }
}

impl<C: CheckpointStrategy> BoxPool for Autodiff<Flex, C> {
    fn avg_pool_3x3(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let y = apply(&x.primitive().to_contiguous(), false);
        match BoxPoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}

/// `pool`'s forward pass on `x`: the separable pooling on burn's CPU backend with f32 (the
/// caller's `pool` must be NAS-Bench-201's 3x3, stride 1, padding 1, padding not counted),
/// burn's own pooling otherwise.
pub fn avg_pool_3x3(pool: &AvgPool2d, x: Tensor<4>) -> Tensor<4> {
    if x.dtype() == DType::F32 && crate::cpuconv::on_flex(&x) {
        Tensor::from_dispatch(<Dispatch as BoxPool>::avg_pool_3x3(x.into_dispatch()))
    } else {
        pool.forward(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::PaddingConfig2d;
    use burn::nn::pool::AvgPool2dConfig;
    use burn::tensor::Distribution;

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().expect("f32")
    }

    /// Output and input gradient agree with burn's pooling (3x3, stride 1, padding 1, padding
    /// not counted), including planes of one row or column.
    #[test]
    fn matches_burns_pooling_and_its_gradient() {
        let _serial = crate::test_serial();
        let device = crate::train::train_device();
        let pool = AvgPool2dConfig::new([3, 3])
            .with_strides([1, 1])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_count_include_pad(false)
            .init();
        for shape in [[2, 3, 7, 5], [1, 2, 1, 4], [3, 1, 4, 1], [2, 2, 2, 2]] {
            let x: Tensor<4> =
                Tensor::random(shape, Distribution::Normal(0.0, 1.0), &device).require_grad();
            let probe: Tensor<4> = Tensor::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let ours = avg_pool_3x3(&pool, x.clone());
            let theirs = pool.forward(x.clone());
            let (a, b) = (values(ours.clone()), values(theirs.clone()));
            for (p, q) in a.iter().zip(&b) {
                assert!((p - q).abs() < 1e-5, "{shape:?}: forward {p} vs {q}");
            }
            let ga = (ours * probe.clone()).sum().backward();
            let gb = (theirs * probe).sum().backward();
            let (a, b) = (values(x.grad(&ga).unwrap()), values(x.grad(&gb).unwrap()));
            for (p, q) in a.iter().zip(&b) {
                assert!((p - q).abs() < 1e-5, "{shape:?}: gradient {p} vs {q}");
            }
        }
    }
}
