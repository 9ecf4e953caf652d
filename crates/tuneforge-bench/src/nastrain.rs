//! Architecture search with real training (the `tuneforge-nas` crate), compared across methods:
//! each method searches on the same splits, its cell is retrained with the same recipe, and the
//! search cost and test accuracy are reported; plus the training throughput of one fixed network
//! in tuneforge (burn, CPU) and in PyTorch (the network's generated `model.py`) in the same run.

use std::path::Path;
use std::time::Instant;

use burn::optim::{AdamWConfig, GradientsParams};
use serde::{Deserialize, Serialize};
use tuneforge::nas::{ArchitectureSpace, CellSpace};
use tuneforge::storage::MemoryStorage;
use tuneforge::{Direction, Study};
use tuneforge_nas::data::Splits;
use tuneforge_nas::pipeline::{self, Method, SearchSpec};
use tuneforge_nas::supernet::CellNet;
use tuneforge_nas::train::{cross_entropy, train_device};

/// One search's figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NasRun {
    /// Method name.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// The found cell.
    pub cell: String,
    /// Seconds searching.
    pub search_seconds: f64,
    /// Seconds retraining.
    pub retrain_seconds: f64,
    /// Validation accuracy after retraining.
    pub valid_accuracy: f64,
    /// Test accuracy after retraining.
    pub test_accuracy: f64,
    /// Skip connections in the cell.
    pub skips: usize,
    /// Why the search stopped early, if it did.
    pub stopped_early: Option<String>,
}

/// Runs `spec` (its method and seed) on `splits` with an in-memory study; `label` names the
/// row (default: the method).
pub fn run_one(
    spec: &SearchSpec,
    splits: &Splits,
    label: Option<&str>,
) -> tuneforge_nas::Result<NasRun> {
    let space = CellSpace::nas_bench_201();
    let study = Study::builder(&format!("nas-{}", spec.method.name()))
        .storage(std::sync::Arc::new(MemoryStorage::new()))
        .direction(Direction::Maximize)
        .sampler_arc(pipeline::sampler_for(
            spec.method,
            std::sync::Arc::new(space.clone()),
            spec.seed,
        ))
        .seed(spec.seed)
        .build()?;
    let r = pipeline::run(spec, splits, &study, |line| eprintln!("  {line}"))?;
    let skips = r
        .arch
        .iter()
        .filter(|&&a| space.ops()[a] == "skip_connect")
        .count();
    Ok(NasRun {
        method: label.unwrap_or(spec.method.name()).into(),
        seed: spec.seed,
        cell: r.cell,
        search_seconds: r.search_seconds,
        retrain_seconds: r.retrain.train_seconds,
        valid_accuracy: r.valid_accuracy,
        test_accuracy: r.test_accuracy,
        skips,
        stopped_early: r.details["stopped_early"].as_str().map(String::from),
    })
}

/// Median seconds per training step (forward, backward, AdamW update) of the stand-alone
/// network of `cell` on batches of `batch` images from `splits`, after `warmup` steps.
pub fn step_seconds(
    cell: &str,
    config: &tuneforge_nas::supernet::NetConfig,
    splits: &Splits,
    batch: usize,
    warmup: usize,
    steps: usize,
) -> tuneforge_nas::Result<f64> {
    let space = CellSpace::nas_bench_201();
    let arch = space.parse(cell)?;
    let device = train_device();
    let mut net = CellNet::standalone(&space, &arch, config, &device)?;
    let mut optim = AdamWConfig::new().init();
    let mut times = Vec::new();
    for s in 0..warmup + steps {
        let idx: Vec<usize> = (0..batch)
            .map(|i| (s * batch + i) % splits.train.len())
            .collect();
        let (x, y) = splits.train.batch(&idx, &device);
        let start = Instant::now();
        let loss = cross_entropy(net.forward_standalone(x), y);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(1e-3, net, grads);
        device.sync().ok();
        if s >= warmup {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// The Markdown section for `runs` and the throughput figures.
pub fn section(
    command: &str,
    setup: &str,
    runs: &[NasRun],
    throughput: Option<(&str, f64, Option<f64>)>,
) -> String {
    let mut s = format!(
        "## Architecture search with real training (Fashion-MNIST)\n\n`{command}`\n\n{setup}\n\n"
    );
    s.push_str("| method | seeds | search s (median) | retrain s | valid acc (median) | test acc (median) | test acc (min..max) | skips (median) | cell of the best-validation run |\n|---|---:|---:|---:|---:|---:|---|---:|---|\n");
    let mut methods: Vec<&str> = runs.iter().map(|r| r.method.as_str()).collect();
    methods.dedup();
    let mut seen = Vec::new();
    for m in methods {
        if seen.contains(&m) {
            continue;
        }
        seen.push(m);
        let rs: Vec<&NasRun> = runs.iter().filter(|r| r.method == m).collect();
        let med = |f: &dyn Fn(&NasRun) -> f64| {
            let mut v: Vec<f64> = rs.iter().map(|r| f(r)).collect();
            v.sort_by(f64::total_cmp);
            crate::report::quantile(&v, 0.5)
        };
        let (lo, hi) = rs.iter().fold((1.0f64, 0.0f64), |(lo, hi), r| {
            (lo.min(r.test_accuracy), hi.max(r.test_accuracy))
        });
        let best = rs
            .iter()
            .max_by(|a, b| a.valid_accuracy.total_cmp(&b.valid_accuracy))
            .map(|r| r.cell.replace('|', "\\|"))
            .unwrap_or_default();
        s.push_str(&format!(
            "| {m} | {} | {:.1} | {:.1} | {:.4} | {:.4} | {lo:.4}..{hi:.4} | {} | `{best}` |\n",
            rs.len(),
            med(&|r| r.search_seconds),
            med(&|r| r.retrain_seconds),
            med(&|r| r.valid_accuracy),
            med(&|r| r.test_accuracy),
            med(&|r| r.skips as f64),
        ));
    }
    let early: Vec<String> = runs
        .iter()
        .filter_map(|r| {
            r.stopped_early
                .as_ref()
                .map(|w| format!("{} seed {}: {w}", r.method, r.seed))
        })
        .collect();
    if !early.is_empty() {
        s.push_str("\nStopped early by the DARTS+ skip guard:\n");
        for e in early {
            s.push_str(&format!("- {e}\n"));
        }
    }
    if let Some((cell, ours, torch)) = throughput {
        s.push_str(&format!(
            "\nTraining throughput of one fixed network (`{}`), median seconds per step \
             (forward, backward, AdamW), batch 64, 28x28, same machine and run:\n\n\
             | | seconds per step | relative to PyTorch |\n|---|---:|---:|\n| tuneforge (burn CPU, its own convolution and batch norm) | {ours:.4} | {} |\n",
            cell,
            torch.map(|t| format!("{:.2}x", t / ours)).unwrap_or_else(|| "-".into())
        ));
        match torch {
            Some(t) => s.push_str(&format!(
                "| PyTorch (CPU, generated model.py) | {t:.4} | 1.00x |\n"
            )),
            None => s.push_str("| PyTorch | not run (no Python with torch given) | |\n"),
        }
    }
    s
}

/// Runs PyTorch's step timing on the exported network in `dir` with `python`.
pub fn torch_step_seconds(python: &Path, script: &Path, dir: &Path, steps: usize) -> Option<f64> {
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(dir)
        .arg(steps.to_string())
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!(
            "PyTorch timing failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v["seconds_per_step"].as_f64()
}

/// Every method, in table order.
pub fn all_methods() -> Vec<Method> {
    vec![
        Method::Random,
        Method::Evolution,
        Method::Rl,
        Method::Darts,
        Method::Gdas,
        Method::Spos,
        Method::Enas,
    ]
}

/// A cell with its one-shot and stand-alone validation accuracy and stand-alone test accuracy.
pub type RankedCell = (String, f64, f64, f64);

/// Kendall's τ between one-shot (inherited-weight) and stand-alone validation accuracy over
/// `k` random cells: the supernet is trained by uniform single paths for `spec.search_epochs`,
/// each cell is then trained alone with `spec.retrain` (the recipe every found cell gets, so
/// these are also the random-architecture baseline). Returns τ and, per cell, its one-shot
/// and stand-alone validation accuracy and its stand-alone test accuracy.
pub fn one_shot_rank_correlation(
    spec: &SearchSpec,
    splits: &Splits,
    k: usize,
    supernet_epochs: usize,
) -> tuneforge_nas::Result<(f64, Vec<RankedCell>)> {
    use rand::SeedableRng;
    use tuneforge_nas::spos;
    let space = CellSpace::nas_bench_201();
    let mut net_config = spec.net.clone();
    net_config.in_channels = splits.train.channels;
    net_config.classes = splits.train.classes;
    let supernet_recipe = tuneforge_nas::train::TrainConfig {
        epochs: supernet_epochs,
        ..spec.retrain.clone()
    };
    let supernet = spos::train_supernet(
        &space,
        &net_config,
        &splits.train,
        &supernet_recipe,
        |e, l| eprintln!("  supernet epoch {}: loss {l:.4}", e + 1),
    )?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(spec.seed + 1000);
    let mut seen = std::collections::HashSet::new();
    let mut pairs = Vec::new();
    while pairs.len() < k {
        let arch = space.random(&mut rng);
        if !seen.insert(space.identity(&arch)) {
            continue;
        }
        let one_shot = spos::one_shot_accuracy(&supernet, &arch, &splits.valid);
        let device = train_device();
        device.seed(spec.seed);
        let net = CellNet::standalone(&space, &arch, &net_config, &device)?;
        let (trained, report) = tuneforge_nas::train::train_standalone(
            net,
            &splits.train,
            &splits.valid,
            &spec.retrain,
            |_, _, _| {},
        )?;
        let alone = report.epoch_valid_accuracy.last().copied().unwrap_or(0.0);
        let test = tuneforge_nas::train::classifier_accuracy(&trained, &splits.test);
        eprintln!(
            "  {}: one-shot {one_shot:.4}, stand-alone {alone:.4} (test {test:.4})",
            space.format(&arch)
        );
        pairs.push((space.format(&arch), one_shot, alone, test));
    }
    let a: Vec<f64> = pairs.iter().map(|p| p.1).collect();
    let b: Vec<f64> = pairs.iter().map(|p| p.2).collect();
    Ok((spos::kendall_tau(&a, &b), pairs))
}

/// The rank-correlation paragraph from a stored `{"kind": "kendall"}` record.
pub fn kendall_section(doc: &serde_json::Value) -> String {
    let pairs = doc["pairs"].as_array().cloned().unwrap_or_default();
    let num = |p: &serde_json::Value, i: usize| p[i].as_f64().unwrap_or(f64::NAN);
    let median = |i: usize| {
        let mut v: Vec<f64> = pairs.iter().map(|p| num(p, i)).collect();
        v.sort_by(f64::total_cmp);
        crate::report::quantile(&v, 0.5)
    };
    let mut s = format!(
        "\nRandom architectures and the one-shot ranking: {} random cells, each retrained alone with \
         the recipe above (median test accuracy {:.4}, median validation accuracy {:.4}: the median \
         random architecture the searches should beat), against their one-shot validation accuracy \
         in a SPOS supernet ({}; inherited weights, batch statistics per batch): Kendall's τ = {:.3}.\n\n\
         | cell | one-shot valid acc | stand-alone valid acc | stand-alone test acc |\n|---|---:|---:|---:|\n",
        pairs.len(),
        median(3),
        median(2),
        doc["supernet_epochs"]
            .as_u64()
            .map_or("trained for the search epochs".to_string(), |e| format!(
                "trained {e} epochs"
            )),
        doc["tau"].as_f64().unwrap_or(f64::NAN)
    );
    for p in &pairs {
        s.push_str(&format!(
            "| `{}` | {:.4} | {:.4} | {:.4} |\n",
            p[0].as_str().unwrap_or("").replace('|', "\\|"),
            num(p, 1),
            num(p, 2),
            num(p, 3)
        ));
    }
    s
}
