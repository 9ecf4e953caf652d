//! Inference latency on the current device: measured (warm-up, then the median of repeated
//! timed runs), and predicted from a per-operator lookup table.
//!
//! The table holds the measured latency of every building block a cell network is made of at
//! the sizes it is used (stem, each candidate operation at each stage's channels and
//! resolution, the reductions, the classifier head), for one batch size. A network's predicted
//! latency is the sum of its blocks' entries, the kernel-level sum of nn-Meter. The predictor's
//! error against measurement, over a sample of architectures, says how far to trust it.
//!
//! Latency feeds the hardware-aware objectives of [`tuneforge::nas::objectives`] (MnasNet's
//! reward), so a search can target the best network under T ms on this machine.
//!
//! # References
//! - L. L. Zhang, S. Han, J. Wei, N. Zheng, T. Cao, Y. Yang, Y. Liu, "nn-Meter: Towards Accurate
//!   Latency Prediction of Deep-Learning Model Inference on Diverse Edge Devices", MobiSys 2021
//!   (kernel-level latency sums; 99 % of predictions within ±10 % on their devices).
//! - H. Cai, L. Zhu, S. Han, "ProxylessNAS: Direct Neural Architecture Search on Target Task and
//!   Hardware", ICLR 2019 (per-operator latency lookup tables).

use std::collections::BTreeMap;
use std::time::Instant;

use burn::module::Module;
use burn::nn::conv::Conv2dConfig;
use burn::nn::{BatchNormConfig, LinearConfig, PaddingConfig2d};
use burn::tensor::{Device, Distribution, Tensor};
use serde::{Deserialize, Serialize};
use tuneforge::nas::CellSpace;

use crate::error::Result;
use crate::ops::{Op, OpKind, ReluConvBn};
use crate::supernet::{CellNet, NetConfig};

/// Latency statistics of one measurement, in milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Median of the timed runs.
    pub median_ms: f64,
    /// Fastest run.
    pub min_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// Batch size.
    pub batch: usize,
}

/// Times `run` (which must block until its result exists): `warmup` untimed calls, then
/// `repeats` timed ones.
pub fn time_ms(warmup: usize, repeats: usize, batch: usize, mut run: impl FnMut()) -> Latency {
    for _ in 0..warmup {
        run();
    }
    let mut times: Vec<f64> = (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    Latency {
        median_ms: at(0.5),
        min_ms: times[0],
        p90_ms: at(0.9),
        batch,
    }
}

fn random_input(shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// Measures the inference latency of the stand-alone network of `arch` on images of
/// `in_channels` x `resolution` x `resolution`, batch `batch`.
pub fn measure_network(
    space: &CellSpace,
    arch: &[usize],
    config: &NetConfig,
    resolution: usize,
    batch: usize,
    warmup: usize,
    repeats: usize,
) -> Result<Latency> {
    let device = crate::train::base_device();
    let net = CellNet::standalone(space, arch, config, &device)?.valid();
    let x = random_input([batch, config.in_channels, resolution, resolution], &device);
    Ok(time_ms(warmup, repeats, batch, || {
        let y = net.forward_standalone(x.clone());
        let _ = y.into_data();
    }))
}

/// A per-operator latency lookup table for cell networks of one size, input resolution and
/// batch size.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LookupTable {
    /// The network size the table was measured for.
    pub net: NetConfig,
    /// Input resolution.
    pub resolution: usize,
    /// Batch size.
    pub batch: usize,
    /// Median milliseconds per block: `stem`, `head`, `reduce@S`, `OP@S` (operation at stage S).
    pub entries: BTreeMap<String, f64>,
}

fn op_key(kind: OpKind) -> String {
    match kind {
        OpKind::Zero => "zero".into(),
        OpKind::Identity => "identity".into(),
        OpKind::Conv(k) => format!("conv{k}x{k}"),
        OpKind::AvgPool => "avgpool3x3".into(),
        OpKind::MaxPool => "maxpool3x3".into(),
    }
}

impl LookupTable {
    /// Measures every block of `space`'s cell networks of size `config` on this device.
    pub fn measure(
        space: &CellSpace,
        config: &NetConfig,
        resolution: usize,
        batch: usize,
        warmup: usize,
        repeats: usize,
    ) -> Result<LookupTable> {
        let device = crate::train::base_device();
        let mut entries = BTreeMap::new();
        let c = config.channels;
        let stem = Conv2dConfig::new([config.in_channels, c], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .with_bias(false)
            .init(&device);
        let bn = BatchNormConfig::new(c).init(&device);
        let x = random_input([batch, config.in_channels, resolution, resolution], &device);
        let t = time_ms(warmup, repeats, batch, || {
            let _ = bn
                .forward(crate::cpuconv::conv2d(&stem, x.clone()))
                .into_data();
        });
        entries.insert("stem".into(), t.median_ms);
        let kinds: Vec<OpKind> = space
            .ops()
            .iter()
            .map(|o| OpKind::parse(o))
            .collect::<Result<Vec<_>>>()?;
        let mut r = resolution;
        for stage in 0..config.stages {
            let w = c << stage;
            if stage > 0 {
                let red = ReluConvBn::new(w / 2, w, 3, 2, &device).valid();
                let x = random_input([batch, w / 2, r, r], &device);
                let t = time_ms(warmup, repeats, batch, || {
                    let _ = red.forward(x.clone()).into_data();
                });
                entries.insert(format!("reduce@{stage}"), t.median_ms);
                r = r.div_ceil(2);
            }
            let x = random_input([batch, w, r, r], &device);
            for &k in &kinds {
                let op = Op::new(k, w, &device).valid();
                let t = time_ms(warmup, repeats, batch, || {
                    if let Some(y) = op.forward(x.clone()) {
                        let _ = y.into_data();
                    }
                });
                entries.insert(format!("{}@{stage}", op_key(k)), t.median_ms);
            }
            // a node's sum of two inputs
            let t = time_ms(warmup, repeats, batch, || {
                let _ = (x.clone() + x.clone()).into_data();
            });
            entries.insert(format!("add@{stage}"), t.median_ms);
        }
        let last = c << (config.stages - 1);
        let head = LinearConfig::new(last, config.classes).init(&device);
        let x = random_input([batch, last, r, r], &device);
        let t = time_ms(warmup, repeats, batch, || {
            let [b, ch, _, _] = x.dims();
            let pooled = x.clone().mean_dim(3).mean_dim(2).reshape([b, ch]);
            let _ = head.forward(pooled).into_data();
        });
        entries.insert("head".into(), t.median_ms);
        Ok(LookupTable {
            net: config.clone(),
            resolution,
            batch,
            entries,
        })
    }

    /// The predicted latency (ms) of the network of `arch`: the sum of its blocks' entries
    /// (every cell's live operations and the additions of nodes with several inputs).
    pub fn predict(&self, space: &CellSpace, arch: &[usize]) -> Result<f64> {
        let kinds: Vec<OpKind> = arch
            .iter()
            .map(|&a| OpKind::parse(&space.ops()[a]))
            .collect::<Result<Vec<_>>>()?;
        let pairs = crate::supernet::edge_pairs(space.nodes());
        // Which nodes compute something (as the forward pass does: an edge from a dead node
        // or a zero operation contributes nothing).
        let mut live = vec![false; space.nodes()];
        live[0] = true;
        let mut inputs = vec![0usize; space.nodes()];
        let mut per_cell: Vec<String> = Vec::new();
        for node in 1..space.nodes() {
            for (e, &(to, from)) in pairs.iter().enumerate() {
                if to != node || !live[from] || kinds[e] == OpKind::Zero {
                    continue;
                }
                per_cell.push(op_key(kinds[e]));
                inputs[node] += 1;
            }
            live[node] = inputs[node] > 0;
        }
        let adds: usize = inputs.iter().map(|&n| n.saturating_sub(1)).sum();
        let get = |k: &str| self.entries.get(k).copied().unwrap_or(0.0);
        let mut total = get("stem") + get("head");
        for stage in 0..self.net.stages {
            if stage > 0 {
                total += get(&format!("reduce@{stage}"));
            }
            let cell: f64 = per_cell
                .iter()
                .map(|k| get(&format!("{k}@{stage}")))
                .sum::<f64>()
                + adds as f64 * get(&format!("add@{stage}"));
            total += cell * self.net.cells_per_stage as f64;
        }
        Ok(total)
    }
}

/// The predictor's accuracy over a sample: for each architecture the measured and predicted
/// milliseconds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PredictorError {
    /// `(cell, measured ms, predicted ms)` per architecture.
    pub samples: Vec<(String, f64, f64)>,
}

impl PredictorError {
    /// Fraction of predictions within ±`tolerance` (relative) of the measurement.
    pub fn within(&self, tolerance: f64) -> f64 {
        let ok = self
            .samples
            .iter()
            .filter(|(_, m, p)| (p - m).abs() <= tolerance * m)
            .count();
        ok as f64 / self.samples.len().max(1) as f64
    }

    /// Mean absolute relative error.
    pub fn mean_relative_error(&self) -> f64 {
        self.samples
            .iter()
            .map(|(_, m, p)| (p - m).abs() / m.max(1e-12))
            .sum::<f64>()
            / self.samples.len().max(1) as f64
    }
}

/// Checks `table` against measurement on `samples` random cells of `space` (seeded), each
/// measured with the table's size, resolution and batch; `on_sample(arch, measured, predicted)`
/// sees each one (e.g. to record it).
#[allow(clippy::too_many_arguments)]
pub fn evaluate_predictor(
    space: &CellSpace,
    table: &LookupTable,
    samples: usize,
    seed: u64,
    warmup: usize,
    repeats: usize,
    mut on_sample: impl FnMut(&[usize], &Latency, f64) -> Result<()>,
) -> Result<PredictorError> {
    use rand::SeedableRng;
    use tuneforge::nas::ArchitectureSpace;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for _ in 0..samples {
        let arch = space.random(&mut rng);
        let measured = measure_network(
            space,
            &arch,
            &table.net,
            table.resolution,
            table.batch,
            warmup,
            repeats,
        )?;
        let predicted = table.predict(space, &arch)?;
        on_sample(&arch, &measured, predicted)?;
        out.push((space.format(&arch), measured.median_ms, predicted));
    }
    Ok(PredictorError { samples: out })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuneforge::nas::ArchitectureSpace;

    #[test]
    fn timing_reports_order_statistics() {
        let _serial = crate::test_serial();
        let mut n = 0u64;
        let l = time_ms(2, 9, 1, || {
            n += 1;
            std::thread::sleep(std::time::Duration::from_micros(200 * (n % 3 + 1)));
        });
        assert_eq!(n, 11, "warm-up runs are made but not timed");
        assert!(l.min_ms <= l.median_ms && l.median_ms <= l.p90_ms);
        assert!(l.min_ms >= 0.2, "{l:?}");
    }

    #[test]
    fn the_predictor_sums_the_live_operations_of_each_cell() {
        let _serial = crate::test_serial();
        let space = CellSpace::nas_bench_201();
        let config = NetConfig {
            channels: 4,
            cells_per_stage: 2,
            stages: 2,
            in_channels: 1,
            classes: 10,
        };
        let mut entries = BTreeMap::new();
        for (k, v) in [
            ("stem", 1.0),
            ("head", 0.5),
            ("reduce@1", 2.0),
            ("conv3x3@0", 10.0),
            ("conv3x3@1", 20.0),
            ("identity@0", 0.0),
            ("identity@1", 0.0),
            ("add@0", 0.1),
            ("add@1", 0.2),
        ] {
            entries.insert(k.to_string(), v);
        }
        let table = LookupTable {
            net: config,
            resolution: 8,
            batch: 1,
            entries,
        };
        // node 1 = conv(0); node 2 = none(0) + none(1): dead; node 3 = conv(0) + conv(1) + skip(2)
        // where the skip from dead node 2 computes nothing: 3 convs, one addition per cell.
        let arch = space
            .parse(
                "|nor_conv_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|nor_conv_3x3~1|skip_connect~2|",
            )
            .unwrap();
        let p = table.predict(&space, &arch).unwrap();
        let expected = 1.0 + 0.5 + 2.0 + 2.0 * (3.0 * 10.0 + 0.1) + 2.0 * (3.0 * 20.0 + 0.2);
        assert!((p - expected).abs() < 1e-9, "{p} vs {expected}");
        let err = PredictorError {
            samples: vec![("a".into(), 10.0, 10.5), ("b".into(), 10.0, 12.0)],
        };
        assert_eq!(err.within(0.1), 0.5);
        assert!((err.mean_relative_error() - 0.125).abs() < 1e-12);
    }

    #[test]
    fn a_network_with_more_convolutions_measures_slower() {
        let _serial = crate::test_serial();
        let space = CellSpace::nas_bench_201();
        let config = NetConfig::default();
        let light = space
            .parse("|skip_connect~0|+|skip_connect~0|none~1|+|skip_connect~0|none~1|none~2|")
            .unwrap();
        let heavy = space.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|").unwrap();
        let l = measure_network(&space, &light, &config, 28, 8, 2, 7).unwrap();
        let h = measure_network(&space, &heavy, &config, 28, 8, 2, 7).unwrap();
        assert!(h.median_ms > 1.5 * l.median_ms, "{h:?} vs {l:?}");
    }
}
