//! EfficientNet compound scaling: grow a baseline network's depth, width and input resolution
//! together, by d = α^φ, w = β^φ, r = γ^φ with α·β²·γ² ≈ 2, so that its FLOPs (which grow
//! linearly in depth and quadratically in width and resolution) double for each unit of φ.
//!
//! The baseline is a plain ConvNet: a 3x3 stem, `stages` stages of ReLU-Conv-BN 3x3 blocks (the
//! first block of every later stage halves the resolution and doubles the channels), global
//! average pooling and a linear classifier; the input is resized to the scaled resolution.
//! FLOPs are counted analytically (multiply-accumulates of every convolution and the
//! classifier) by [`ScaledSize::macs`].
//!
//! The procedure of the paper: a small grid search of (α, β, γ) at φ = 1 under the constraint
//! (each candidate trained and validated), then φ = 1..N with the best coefficients, compared
//! with scaling depth, width or resolution alone at the same FLOPs target (α = 2, β = √2 or
//! γ = √2).
//!
//! # References
//! - M. Tan, Q. V. Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
//!   Networks", ICML 2019 (compound scaling, the constraint α·β²·γ² ≈ 2, FLOPs ∝ d·w²·r²).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::module::interpolate;
use burn::tensor::ops::{InterpolateMode, InterpolateOptions};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::ops::ReluConvBn;
use crate::train::Classifier;

/// The baseline network (φ = 0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Blocks per stage. Default 1.
    pub depth: usize,
    /// Channels of the first stage. Default 8.
    pub width: usize,
    /// Input resolution (square). Default 16.
    pub resolution: usize,
    /// Stages. Default 3.
    pub stages: usize,
}

impl Default for Baseline {
    fn default() -> Self {
        Baseline {
            depth: 1,
            width: 8,
            resolution: 16,
            stages: 3,
        }
    }
}

/// Scaling coefficients (α for depth, β for width, γ for resolution).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coefficients {
    /// Depth multiplier per unit φ.
    pub alpha: f64,
    /// Width multiplier per unit φ.
    pub beta: f64,
    /// Resolution multiplier per unit φ.
    pub gamma: f64,
}

impl Coefficients {
    /// α·β²·γ², the FLOPs factor per unit φ.
    pub fn flops_factor(&self) -> f64 {
        self.alpha * self.beta * self.beta * self.gamma * self.gamma
    }

    /// Depth alone at the same FLOPs target: α = 2.
    pub fn depth_only() -> Self {
        Coefficients {
            alpha: 2.0,
            beta: 1.0,
            gamma: 1.0,
        }
    }

    /// Width alone: β = √2.
    pub fn width_only() -> Self {
        Coefficients {
            alpha: 1.0,
            beta: 2f64.sqrt(),
            gamma: 1.0,
        }
    }

    /// Resolution alone: γ = √2.
    pub fn resolution_only() -> Self {
        Coefficients {
            alpha: 1.0,
            beta: 1.0,
            gamma: 2f64.sqrt(),
        }
    }
}

/// The grid of (α, β, γ), each in 1.0..=2.0 by `step`, whose α·β²·γ² lies within `tolerance`
/// (relative) of 2: the paper's small grid search space at φ = 1.
pub fn grid(step: f64, tolerance: f64) -> Vec<Coefficients> {
    let n = (1.0 / step).round() as usize;
    let values: Vec<f64> = (0..=n).map(|i| 1.0 + i as f64 * step).collect();
    let mut out = Vec::new();
    for &alpha in &values {
        for &beta in &values {
            for &gamma in &values {
                let c = Coefficients { alpha, beta, gamma };
                if (c.flops_factor() / 2.0 - 1.0).abs() <= tolerance {
                    out.push(c);
                }
            }
        }
    }
    out
}

/// A concrete network size.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScaledSize {
    /// Blocks per stage.
    pub depth: usize,
    /// Channels of the first stage.
    pub width: usize,
    /// Input resolution.
    pub resolution: usize,
    /// Stages.
    pub stages: usize,
}

impl ScaledSize {
    /// The baseline scaled by `c` at `phi`: depth, width and resolution rounded to the nearest
    /// integer (at least 1). (Rounding depth up, as EfficientNet does, overshoots the FLOPs
    /// target badly at the small depths of a CPU-sized baseline: 2.9x instead of 1.9x at φ = 1
    /// from depth 2.)
    pub fn of(base: &Baseline, c: &Coefficients, phi: f64) -> ScaledSize {
        ScaledSize {
            depth: (base.depth as f64 * c.alpha.powf(phi)).round().max(1.0) as usize,
            width: (base.width as f64 * c.beta.powf(phi)).round().max(1.0) as usize,
            resolution: (base.resolution as f64 * c.gamma.powf(phi))
                .round()
                .max(1.0) as usize,
            stages: base.stages,
        }
    }

    /// Multiply-accumulate operations of one forward pass of one image with `in_channels`
    /// channels and `classes` classes: every convolution (k² · C_in · C_out per output pixel)
    /// and the classifier.
    pub fn macs(&self, in_channels: usize, classes: usize) -> u64 {
        let mut r = self.resolution as u64;
        let w0 = self.width as u64;
        let mut total = r * r * 9 * in_channels as u64 * w0; // stem
        for stage in 0..self.stages {
            let w = w0 << stage;
            for block in 0..self.depth {
                let c_in = if stage > 0 && block == 0 { w / 2 } else { w };
                if stage > 0 && block == 0 {
                    r = r.div_ceil(2);
                }
                total += r * r * 9 * c_in * w;
            }
        }
        total + (w0 << (self.stages - 1)) * classes as u64
    }
}

/// The scalable ConvNet of a [`ScaledSize`].
#[derive(Module, Debug)]
pub struct ScaledNet {
    stem: Conv2d,
    stem_bn: BatchNorm,
    blocks: Vec<ReluConvBn>,
    head: Linear,
    #[module(skip)]
    resolution: usize,
}

impl ScaledNet {
    /// A network of `size` for images with `in_channels` channels and `classes` classes.
    pub fn new(
        size: &ScaledSize,
        in_channels: usize,
        classes: usize,
        device: &Device,
    ) -> Result<Self> {
        if size.depth == 0 || size.width == 0 || size.stages == 0 || size.resolution < 2 {
            return Err(Error::Config(format!(
                "cannot build a network of size {size:?}"
            )));
        }
        let w0 = size.width;
        let mut blocks = Vec::new();
        for stage in 0..size.stages {
            let w = w0 << stage;
            for block in 0..size.depth {
                let (c_in, stride) = if stage > 0 && block == 0 {
                    (w / 2, 2)
                } else {
                    (w, 1)
                };
                blocks.push(ReluConvBn::new(c_in, w, 3, stride, device));
            }
        }
        Ok(ScaledNet {
            stem: Conv2dConfig::new([in_channels, w0], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(false)
                .init(device),
            stem_bn: BatchNormConfig::new(w0).init(device),
            blocks,
            head: LinearConfig::new(w0 << (size.stages - 1), classes).init(device),
            resolution: size.resolution,
        })
    }
}

impl Classifier for ScaledNet {
    fn classify(&self, x: Tensor<4>) -> Tensor<2> {
        let mut h =
            crate::cpubatchnorm::forward(&self.stem_bn, crate::cpuconv::conv2d(&self.stem, x));
        for b in &self.blocks {
            h = b.forward(h);
        }
        let [n, c, _, _] = h.dims();
        self.head
            .forward(relu(h).mean_dim(3).mean_dim(2).reshape([n, c]))
    }
}

/// `set` resized (bilinear) to `resolution` x `resolution`.
pub fn resize(set: &ImageSet, resolution: usize) -> ImageSet {
    if set.height == resolution && set.width == resolution {
        return set.clone();
    }
    let device = crate::train::base_device();
    let size = set.image_size();
    let mut pixels = Vec::with_capacity(set.len() * set.channels * resolution * resolution);
    for chunk in (0..set.len()).collect::<Vec<_>>().chunks(512) {
        let data = set.pixels[chunk[0] * size..(chunk[chunk.len() - 1] + 1) * size].to_vec();
        let x = Tensor::<4>::from_data(
            TensorData::new(data, [chunk.len(), set.channels, set.height, set.width]),
            &device,
        );
        let y = interpolate(
            x,
            InterpolateOptions::new(InterpolateMode::Bilinear)
                .with_output_size([resolution, resolution]),
        );
        pixels.extend(y.into_data().try_to_vec::<f32>().unwrap_or_default());
    }
    ImageSet {
        pixels,
        labels: set.labels.clone(),
        channels: set.channels,
        height: resolution,
        width: resolution,
        classes: set.classes,
    }
}

/// One trained scaled network.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScaleRow {
    /// The family: `compound`, `depth`, `width` or `resolution`.
    pub family: String,
    /// The coefficients used.
    pub coefficients: Coefficients,
    /// φ.
    pub phi: f64,
    /// The network size.
    pub size: ScaledSize,
    /// Multiply-accumulates per image (analytic).
    pub macs: u64,
    /// Trainable parameters.
    pub params: usize,
    /// Validation accuracy after training.
    pub valid_accuracy: f64,
    /// Test accuracy after training.
    pub test_accuracy: f64,
    /// Seconds of training.
    pub train_seconds: f64,
}

/// Trains the network of `family` scaled by `c` at `phi` on `splits` with `recipe`.
pub fn train_scaled(
    family: &str,
    base: &Baseline,
    c: &Coefficients,
    phi: f64,
    splits: &crate::data::Splits,
    recipe: &crate::train::TrainConfig,
) -> Result<ScaleRow> {
    let size = ScaledSize::of(base, c, phi);
    let train = resize(&splits.train, size.resolution);
    let valid = resize(&splits.valid, size.resolution);
    let test = resize(&splits.test, size.resolution);
    let device = crate::train::train_device();
    device.seed(recipe.seed);
    let net = ScaledNet::new(&size, train.channels, train.classes, &device)?;
    let params = net.num_params();
    let (net, report) = crate::train::train_classifier(net, &train, &valid, recipe, |_, _, _| {})?;
    Ok(ScaleRow {
        family: family.into(),
        coefficients: *c,
        phi,
        macs: size.macs(train.channels, train.classes),
        size,
        params,
        valid_accuracy: report.epoch_valid_accuracy.last().copied().unwrap_or(0.0),
        test_accuracy: crate::train::classifier_accuracy(&net, &test),
        train_seconds: report.train_seconds,
    })
}

/// The paper's procedure: every grid point trained at φ = 1, the best by validation accuracy
/// kept, then φ = 1..=`max_phi` for it and for depth, width and resolution alone. Returns the
/// grid rows and the scaling rows; `log` sees each row.
pub fn compound_study(
    base: &Baseline,
    grid_points: &[Coefficients],
    max_phi: usize,
    splits: &crate::data::Splits,
    recipe: &crate::train::TrainConfig,
    mut log: impl FnMut(&ScaleRow),
) -> Result<(Vec<ScaleRow>, Vec<ScaleRow>)> {
    if grid_points.is_empty() {
        return Err(Error::Config("the coefficient grid is empty".into()));
    }
    let mut grid_rows = Vec::new();
    for c in grid_points {
        let row = train_scaled("grid", base, c, 1.0, splits, recipe)?;
        log(&row);
        grid_rows.push(row);
    }
    let best = grid_rows
        .iter()
        .max_by(|a, b| a.valid_accuracy.total_cmp(&b.valid_accuracy))
        .map(|r| r.coefficients)
        .ok_or_else(|| Error::Config("no grid point trained".into()))?;
    let mut rows = Vec::new();
    let base_row = train_scaled("baseline", base, &best, 0.0, splits, recipe)?;
    log(&base_row);
    rows.push(base_row);
    let families = [
        ("compound", best),
        ("depth", Coefficients::depth_only()),
        ("width", Coefficients::width_only()),
        ("resolution", Coefficients::resolution_only()),
    ];
    for phi in 1..=max_phi {
        for (name, c) in &families {
            let row = train_scaled(name, base, c, phi as f64, splits, recipe)?;
            log(&row);
            rows.push(row);
        }
    }
    Ok((grid_rows, rows))
}

/// The scaling rows as a Markdown table (FLOPs in millions of multiply-accumulates and relative
/// to the first row, the baseline).
pub fn markdown_table(rows: &[ScaleRow]) -> String {
    let base = rows.first().map(|r| r.macs as f64).unwrap_or(1.0).max(1.0);
    let mut s = String::from(
        "| family | φ | depth | width | resolution | MMACs | MMACs / baseline | test accuracy |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.4} |\n",
            r.family,
            r.phi,
            r.size.depth,
            r.size.width,
            r.size.resolution,
            r.macs as f64 / 1e6,
            r.macs as f64 / base,
            r.test_accuracy
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flops_formula_matches_a_hand_count() {
        let _serial = crate::test_serial();
        // stem: 8x8 pixels, 3x3x1x4 -> 64*36 = 2304
        // stage 0, 1 block 4->4 at 8x8: 64*9*16 = 9216
        // stage 1, block 0 4->8 stride 2 at 4x4: 16*9*32 = 4608; block 1 8->8: 16*9*64 = 9216
        // head: 8*10 = 80
        let size = ScaledSize {
            depth: 2,
            width: 4,
            resolution: 8,
            stages: 2,
        };
        // depth 2 in stage 0 adds a second 4->4 block: 9216
        assert_eq!(size.macs(1, 10), 2304 + 9216 * 2 + 4608 + 9216 + 80);
    }

    #[test]
    fn flops_grow_about_twofold_per_unit_phi_under_the_constraint() {
        let _serial = crate::test_serial();
        let base = Baseline {
            depth: 2,
            width: 16,
            resolution: 32,
            stages: 3,
        };
        let c = Coefficients {
            alpha: 1.2,
            beta: 1.1,
            gamma: 1.15,
        }; // EfficientNet-B0's coefficients: 1.2 * 1.21 * 1.3225 = 1.92
        assert!((c.flops_factor() - 1.92).abs() < 0.01);
        let f0 = ScaledSize::of(&base, &c, 0.0).macs(1, 10) as f64;
        for phi in 1..=5 {
            let f = ScaledSize::of(&base, &c, phi as f64).macs(1, 10) as f64;
            let per_phi = (f / f0).powf(1.0 / phi as f64);
            // rounding sizes to integers moves the growth off 1.92 a little
            assert!((1.75..2.1).contains(&per_phi), "phi {phi}: {per_phi}");
        }
    }

    #[test]
    fn compound_grid_sizes_satisfy_the_constraint() {
        let _serial = crate::test_serial();
        let g = grid(0.05, 0.05);
        assert!(g.len() > 10, "{}", g.len());
        for c in &g {
            assert!((c.flops_factor() - 2.0).abs() <= 0.1 + 1e-9, "{c:?}");
            assert!(c.alpha >= 1.0 && c.beta >= 1.0 && c.gamma >= 1.0);
        }
        for single in [
            Coefficients::depth_only(),
            Coefficients::width_only(),
            Coefficients::resolution_only(),
        ] {
            assert!((single.flops_factor() - 2.0).abs() < 1e-12);
        }
    }

    #[test]
    fn a_scaled_network_classifies_resized_images() {
        let _serial = crate::test_serial();
        let set = ImageSet {
            pixels: (0..2 * 64).map(|i| (i % 7) as f32).collect(),
            labels: vec![0, 1],
            channels: 1,
            height: 8,
            width: 8,
            classes: 2,
        };
        let r = resize(&set, 12);
        assert_eq!((r.height, r.width, r.pixels.len()), (12, 12, 2 * 144));
        let size = ScaledSize::of(&Baseline::default(), &Coefficients::depth_only(), 1.0);
        assert_eq!(size.depth, 2);
        let net = ScaledNet::new(&size, 1, 2, &Device::default()).unwrap();
        let (x, _) = r.batch(&[0, 1], &Device::default());
        assert_eq!(net.classify(x).dims(), [2, 2]);
    }
}
