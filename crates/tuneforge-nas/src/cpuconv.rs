//! Training-speed convolution for the CPU: a 2-D convolution (square kernel, equal stride and
//! padding on both axes, no bias, one group) whose forward pass and both gradients are lowered to
//! matrix products by unfolding each image ("im2col"), as a burn backend extension with its own
//! backward step. burn's generic CPU convolution computes the input gradient as a transposed
//! convolution and the weight gradient through copies of the transposed activations; on the small
//! channel counts of architecture search that made a training step about three times slower than
//! PyTorch's. Here each image of a batch is one product per pass, images run in parallel, and the
//! weight gradient sums per-thread partial products.
//!
//! Only burn's pure-Rust CPU backend (`Flex`, with or without autodiff) and `f32` take this path;
//! [`conv2d`] falls back to burn's own convolution for anything else.
//!
//! # References
//! - K. Chellapilla, S. Puri, P. Simard, "High Performance Convolutional Neural Networks for
//!   Document Processing", IWFHR 2006 (unfolding the input so a convolution is one matrix product,
//!   and its backward passes the transposed products).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::nn::conv::Conv2d;
use burn::tensor::{Bytes, DType, Device, Shape, Tensor};
use rayon::prelude::*;

/// The geometry of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Batch size.
    pub n: usize,
    /// Input channels.
    pub c_in: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel size (square).
    pub k: usize,
    /// Stride (both axes).
    pub stride: usize,
    /// Zero padding (all sides).
    pub pad: usize,
}

impl Geometry {
    /// Output height.
    pub fn h_out(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }
    /// Output width.
    pub fn w_out(&self) -> usize {
        (self.w + 2 * self.pad - self.k) / self.stride + 1
    }
    /// Rows of an unfolded image: `c_in * k * k`.
    fn rows(&self) -> usize {
        self.c_in * self.k * self.k
    }
    /// Pixels of one output plane.
    fn plane_out(&self) -> usize {
        self.h_out() * self.w_out()
    }
    /// Whether unfolding is the identity (1x1, stride 1, no padding).
    fn pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad == 0
    }
}

/// `dst[m, n] (+)= a[m, k] · b[k, n]` on row-major slices, with `a` or `b` read transposed when
/// asked (`a_t`: `a` is stored `[k, m]`; `b_t`: `b` is stored `[n, k]`).
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    a: &[f32],
    a_t: bool,
    b: &[f32],
    b_t: bool,
) {
    assert!(dst.len() >= m * n && a.len() >= m * k && b.len() >= k * n);
    let (a_cs, a_rs) = if a_t {
        (m as isize, 1)
    } else {
        (1, k as isize)
    };
    let (b_cs, b_rs) = if b_t {
        (k as isize, 1)
    } else {
        (1, n as isize)
    };
    // SAFETY: the assertion above keeps every index the strides reach inside the slices, and
    // `dst` does not alias `a` or `b` (it is a distinct `&mut`).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The output columns `ox` whose input column `ox·stride + kx − pad` lies inside the image.
fn valid_columns(g: &Geometry, kx: usize) -> std::ops::Range<usize> {
    let wo = g.w_out();
    // ox·s + kx ≥ pad  ⇔  ox ≥ ⌈(pad − kx) / s⌉;  ox·s + kx − pad ≤ w − 1.
    let lo = g.pad.saturating_sub(kx).div_ceil(g.stride);
    let hi = if g.w + g.pad > kx {
        ((g.w + g.pad - kx - 1) / g.stride + 1).min(wo)
    } else {
        0
    };
    lo.min(hi)..hi
}

/// Unfolds image `x` (`[c_in, h, w]`) into `col` (`[c_in·k·k, h_out·w_out]`).
fn im2col(g: &Geometry, x: &[f32], col: &mut [f32]) {
    let (ho, wo, p, s) = (g.h_out(), g.w_out(), g.plane_out(), g.stride);
    for ci in 0..g.c_in {
        let plane = &x[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ky in 0..g.k {
            for kx in 0..g.k {
                let cols = valid_columns(g, kx);
                let row = &mut col[((ci * g.k + ky) * g.k + kx) * p..][..p];
                for oy in 0..ho {
                    let out = &mut row[oy * wo..(oy + 1) * wo];
                    let iy = (oy * s + ky) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.h as isize || cols.is_empty() {
                        out.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    out[..cols.start].fill(0.0);
                    out[cols.end..].fill(0.0);
                    let first = cols.start * s + kx - g.pad;
                    if s == 1 {
                        out[cols.clone()].copy_from_slice(&src[first..first + cols.len()]);
                    } else {
                        for (o, v) in out[cols.clone()]
                            .iter_mut()
                            .zip(src[first..].iter().step_by(s))
                        {
                            *o = *v;
                        }
                    }
                }
            }
        }
    }
}

/// Folds `col` back onto image `dx` (`[c_in, h, w]`), adding overlapping entries: the adjoint of
/// [`im2col`].
fn col2im(g: &Geometry, col: &[f32], dx: &mut [f32]) {
    let (ho, wo, p, s) = (g.h_out(), g.w_out(), g.plane_out(), g.stride);
    dx.fill(0.0);
    for ci in 0..g.c_in {
        let plane = &mut dx[ci * g.h * g.w..(ci + 1) * g.h * g.w];
        for ky in 0..g.k {
            for kx in 0..g.k {
                let cols = valid_columns(g, kx);
                if cols.is_empty() {
                    continue;
                }
                let row = &col[((ci * g.k + ky) * g.k + kx) * p..][..p];
                for oy in 0..ho {
                    let iy = (oy * s + ky) as isize - g.pad as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let dst = &mut plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    let first = cols.start * s + kx - g.pad;
                    let src = &row[oy * wo..(oy + 1) * wo][cols.clone()];
                    if s == 1 {
                        for (d, v) in dst[first..first + cols.len()].iter_mut().zip(src) {
                            *d += v;
                        }
                    } else {
                        for (d, v) in dst[first..].iter_mut().step_by(s).zip(src) {
                            *d += v;
                        }
                    }
                }
            }
        }
    }
}

thread_local! {
    /// Each thread's unfolding buffer, kept between calls (a fresh one per image would be
    /// allocated and zeroed every time).
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's scratch buffer of `len` floats (contents unspecified).
fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
            f(&mut buf[..len])
        }
        // Re-entered on this thread (a nested parallel call): a buffer of its own.
        Err(_) => f(&mut vec![0.0f32; len]),
    })
}

/// The forward pass: `x` `[n, c_in, h, w]`, weights `[c_out, c_in, k, k]`, into
/// `[n, c_out, h_out, w_out]`.
pub fn forward(g: &Geometry, x: &[f32], weight: &[f32]) -> Vec<f32> {
    let (img, p, rows) = (g.c_in * g.h * g.w, g.plane_out(), g.rows());
    let mut out = vec![0.0f32; g.n * g.c_out * p];
    out.par_chunks_mut(g.c_out * p)
        .zip(x.par_chunks(img))
        .for_each(|(y, xi)| {
            if g.pointwise() {
                matmul(g.c_out, p, rows, y, false, weight, false, xi, false);
            } else {
                with_scratch(rows * p, |col| {
                    im2col(g, xi, col);
                    matmul(g.c_out, p, rows, y, false, weight, false, col, false);
                });
            }
        });
    out
}

/// The backward pass: from the output gradient `gy`, the input gradient (when `want_x`) and the
/// weight gradient (when `want_w`).
pub fn backward(
    g: &Geometry,
    x: &[f32],
    weight: &[f32],
    gy: &[f32],
    want_x: bool,
    want_w: bool,
) -> (Option<Vec<f32>>, Option<Vec<f32>>) {
    let (img, p, rows) = (g.c_in * g.h * g.w, g.plane_out(), g.rows());
    let mut dx = want_x.then(|| vec![0.0f32; g.n * img]);
    let wlen = g.c_out * rows;
    // Images in a few contiguous chunks, one weight-gradient accumulator per chunk.
    let chunks = rayon::current_num_threads().clamp(1, g.n.max(1));
    let per = g.n.div_ceil(chunks).max(1);
    let dx_chunks: Vec<Option<&mut [f32]>> = match dx.as_mut() {
        Some(d) => d.chunks_mut(per * img).map(Some).collect(),
        None => (0..g.n.div_ceil(per)).map(|_| None).collect(),
    };
    let partial: Vec<Option<Vec<f32>>> = dx_chunks
        .into_par_iter()
        .enumerate()
        .map(|(c, mut dxc)| {
            let pointwise = g.pointwise();
            let mut dw = want_w.then(|| vec![0.0f32; wlen]);
            let first = c * per;
            let last = ((c + 1) * per).min(g.n);
            with_scratch(if pointwise { 0 } else { rows * p }, |col| {
                for (j, i) in (first..last).enumerate() {
                    let xi = &x[i * img..(i + 1) * img];
                    let gyi = &gy[i * g.c_out * p..(i + 1) * g.c_out * p];
                    if let Some(dw) = dw.as_mut() {
                        let src: &[f32] = if pointwise {
                            xi
                        } else {
                            im2col(g, xi, col);
                            col
                        };
                        // dW[c_out, rows] += gy[c_out, p] · colᵀ[p, rows]
                        matmul(g.c_out, rows, p, dw, j > 0, gyi, false, src, true);
                    }
                    if let Some(dxc) = dxc.as_mut() {
                        let dxi = &mut dxc[j * img..(j + 1) * img];
                        if pointwise {
                            // dx[c_in, p] = Wᵀ[c_in, c_out] · gy[c_out, p]
                            matmul(rows, p, g.c_out, dxi, false, weight, true, gyi, false);
                        } else {
                            matmul(rows, p, g.c_out, col, false, weight, true, gyi, false);
                            col2im(g, col, dxi);
                        }
                    }
                }
            });
            dw
        })
        .collect();
    let dw = want_w.then(|| {
        let mut sum = vec![0.0f32; wlen];
        for part in partial.into_iter().flatten() {
            sum.iter_mut().zip(part).for_each(|(s, v)| *s += v);
        }
        sum
    });
    (dx.take(), dw)
}

/// Options of [`conv2d`]: stride and padding.
#[derive(Clone, Copy, Debug)]
pub struct ConvArgs {
    /// Stride.
    pub stride: usize,
    /// Zero padding.
    pub pad: usize,
}

/// The unfolded convolution as a backend operation, differentiable on autodiff devices.
#[backend_extension(Flex, Autodiff)]
pub trait UnfoldedConv: Backend {
    /// The convolution of `x` by `weight`.
    fn unfolded_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        pad: usize,
    ) -> FloatTensor<Self>;
}

fn geometry(x: &FlexTensor, weight: &FlexTensor, stride: usize, pad: usize) -> Geometry {
    let xs = x.layout().shape();
    let ws = weight.layout().shape();
    Geometry {
        n: xs[0],
        c_in: xs[1],
        h: xs[2],
        w: xs[3],
        c_out: ws[0],
        k: ws[2],
        stride,
        pad,
    }
}

fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("the unfolded convolution takes contiguous f32 tensors")
}

fn tensor(data: Vec<f32>, shape: [usize; 4]) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(Shape::from(shape.to_vec())),
        DType::F32,
    )
}

fn flex_forward(x: &FlexTensor, weight: &FlexTensor, stride: usize, pad: usize) -> FlexTensor {
    let g = geometry(x, weight, stride, pad);
    let y = forward(&g, slice(x), slice(weight));
    tensor(y, [g.n, g.c_out, g.h_out(), g.w_out()])
}

impl UnfoldedConv for Flex {
    fn unfolded_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        pad: usize,
    ) -> FloatTensor<Self> {
        flex_forward(&x.to_contiguous(), &weight.to_contiguous(), stride, pad)
    }
}

#[derive(Debug)]
struct UnfoldedConvBackward {
    stride: usize,
    pad: usize,
}

impl Backward<Flex, 2> for UnfoldedConvBackward {
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w] = ops.parents;
        let gy = grads.consume::<Flex>(&ops.node).to_contiguous();
        let (x, weight) = ops.state;
        let g = geometry(&x, &weight, self.stride, self.pad);
        let (dx, dw) = backward(
            &g,
            slice(&x),
            slice(&weight),
            slice(&gy),
            node_x.is_some(),
            node_w.is_some(),
        );
        if let (Some(node), Some(dx)) = (node_x, dx) {
            grads.register::<Flex>(node.id, tensor(dx, [g.n, g.c_in, g.h, g.w]));
        }
        if let (Some(node), Some(dw)) = (node_w, dw) {
            grads.register::<Flex>(node.id, tensor(dw, [g.c_out, g.c_in, g.k, g.k]));
        }
    }
}

impl<C: CheckpointStrategy> UnfoldedConv for Autodiff<Flex, C> {
    fn unfolded_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        pad: usize,
    ) -> FloatTensor<Self> {
        let xp = x.primitive().to_contiguous();
        let wp = weight.primitive().to_contiguous();
        let y = flex_forward(&xp, &wp, stride, pad);
        match (UnfoldedConvBackward { stride, pad })
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((xp, wp), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}

/// Whether `x` lives on burn's pure-Rust CPU backend, with or without autodiff (device
/// equality compares the hardware and ignores autodiff).
pub(crate) fn on_flex<const D: usize>(x: &Tensor<D>) -> bool {
    x.device() == Device::flex()
}

/// `conv`'s forward pass on `x`: the unfolded convolution where it applies (burn's CPU backend,
/// f32, square kernel, equal stride and padding, no bias, no groups or dilation), burn's own
/// convolution otherwise.
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [kh, kw] = conv.kernel_size;
    let stride = conv.stride;
    let pad = match conv.padding {
        burn::nn::PaddingConfig2d::Explicit(a, b, c, d) if a == b && b == c && c == d => Some(a),
        burn::nn::PaddingConfig2d::Valid => Some(0),
        _ => None,
    };
    let plain = kh == kw
        && stride[0] == stride[1]
        && conv.bias.is_none()
        && conv.groups == 1
        && conv.dilation == [1, 1]
        && x.dtype() == DType::F32
        && on_flex(&x);
    match pad {
        Some(pad) if plain => {
            let w = conv.weight.val();
            Tensor::from_dispatch(<Dispatch as UnfoldedConv>::unfolded_conv2d(
                x.into_dispatch(),
                w.into_dispatch(),
                stride[0],
                pad,
            ))
        }
        _ => conv.forward(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::Distribution;

    fn close(a: Tensor<4>, b: Tensor<4>, what: &str) {
        let values = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().expect("f32");
        crate::assert_close(&values(a), &values(b), what);
    }

    /// Forward pass, input gradient and weight gradient agree with burn's own convolution.
    #[test]
    fn matches_burns_convolution_and_its_gradients() {
        let _serial = crate::test_serial();
        let device = crate::train::train_device();
        // (batch, c_in, h, w, c_out, kernel, stride, pad)
        for (n, ci, h, w, co, k, s, p) in [
            (3, 4, 9, 7, 5, 3, 1, 1),
            (2, 3, 10, 10, 6, 3, 2, 1),
            (4, 5, 6, 8, 7, 1, 1, 0),
            (2, 2, 7, 7, 3, 5, 1, 2),
            (1, 3, 8, 5, 2, 3, 2, 0),
        ] {
            let conv = Conv2dConfig::new([ci, co], [k, k])
                .with_stride([s, s])
                .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
                .with_bias(false)
                .init(&device);
            let x: Tensor<4> =
                Tensor::random([n, ci, h, w], Distribution::Normal(0.0, 1.0), &device)
                    .require_grad();
            let probe: Tensor<4> = Tensor::random(
                [n, co, (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let ours = conv2d(&conv, x.clone());
            let theirs = conv.forward(x.clone());
            close(ours.clone(), theirs.clone(), "forward");
            let g1 = (ours * probe.clone()).sum().backward();
            let g2 = (theirs * probe).sum().backward();
            let case = format!("{:?}", (n, ci, h, w, co, k, s, p));
            close(
                x.grad(&g1).unwrap(),
                x.grad(&g2).unwrap(),
                &format!("input gradient {case}"),
            );
            close(
                conv.weight.val().grad(&g1).unwrap(),
                conv.weight.val().grad(&g2).unwrap(),
                &format!("weight gradient {case}"),
            );
        }
    }

    /// An empty batch has empty gradients (no chunk of zero images to split).
    #[test]
    fn an_empty_batch_has_empty_gradients() {
        let g = Geometry {
            n: 0,
            c_in: 2,
            h: 5,
            w: 5,
            c_out: 3,
            k: 3,
            stride: 1,
            pad: 1,
        };
        let w = vec![0.5f32; 3 * 2 * 9];
        assert!(forward(&g, &[], &w).is_empty());
        let (dx, dw) = backward(&g, &[], &w, &[], true, true);
        assert_eq!(dx.map(|d| d.len()), Some(0));
        assert_eq!(dw, Some(vec![0.0; 3 * 2 * 9]));
    }

    /// Convolutions it cannot compute (a bias, uneven padding) still give burn's result.
    #[test]
    fn falls_back_where_it_does_not_apply() {
        let _serial = crate::test_serial();
        let device = crate::train::train_device();
        let conv = Conv2dConfig::new([2, 3], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 0, 1, 0))
            .init(&device);
        let x: Tensor<4> = Tensor::random([2, 2, 6, 6], Distribution::Normal(0.0, 1.0), &device);
        close(
            conv2d(&conv, x.clone()),
            conv.forward(x.clone()),
            "fallback",
        );
        assert!(on_flex(&x), "{:?}", x.device());
        assert!(
            on_flex(&x.clone().inner()),
            "the inference device is Flex too"
        );
    }
}
