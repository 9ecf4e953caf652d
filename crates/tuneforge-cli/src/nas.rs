//! `tuneforge nas`: architecture search that trains real networks (see the `tuneforge-nas`
//! crate), recorded in the storage like any study.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Subcommand};

use tuneforge::nas::{ArchitectureSpace, CellSpace, ChainSpace};
use tuneforge::{Direction, Error, Result, Study};
use tuneforge_nas::darts::Order;
use tuneforge_nas::pipeline::{self, Method, SearchSpec};
use tuneforge_nas::supernet::NetConfig;
use tuneforge_nas::train::TrainConfig;

use crate::resolve;

/// The `nas` subcommands.
#[derive(Subcommand)]
pub enum NasCmd {
    /// Searches a cell (NAS-Bench-201 space) or a chain on an image dataset, retrains it from
    /// scratch, records both in a study and exports the result.
    Search(SearchArgs),
    /// Measures inference latency on this machine: a cell's network at batch 1 and a chosen
    /// batch, a per-operator lookup table, and the table's prediction error over random cells
    /// (each recorded as a trial: measured milliseconds, predicted as a user attribute).
    Latency(LatencyArgs),
    /// EfficientNet compound scaling on an image dataset: a grid of (alpha, beta, gamma) at
    /// phi = 1 under alpha*beta^2*gamma^2 ~ 2, then phi = 1..N against depth, width or
    /// resolution alone (each network a trial).
    Scale(ScaleArgs),
}

/// Options of `tuneforge nas latency`.
#[derive(Args)]
pub struct LatencyArgs {
    /// Device to train and run on: cpu, or cuda / cuda:N in a build with the `cuda` feature.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// A cell in NAS-Bench-201 notation to measure (default: a random one per sample only).
    #[arg(long)]
    cell: Option<String>,
    /// Channels of the first stage.
    #[arg(long, default_value_t = 8)]
    channels: usize,
    /// Cells per stage.
    #[arg(long, default_value_t = 1)]
    cells: usize,
    /// Input resolution (square) and channels.
    #[arg(long, default_value_t = 28)]
    resolution: usize,
    /// Input channels.
    #[arg(long, default_value_t = 1)]
    in_channels: usize,
    /// The larger batch size measured besides 1.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Random cells on which the lookup table's prediction is checked.
    #[arg(long, default_value_t = 20)]
    samples: usize,
    /// Timed repeats per measurement (after 3 warm-up runs).
    #[arg(long, default_value_t = 15)]
    repeats: usize,
    /// Seed of the sampled cells.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Study name.
    #[arg(long, default_value = "nas-latency")]
    study: String,
    /// Write the lookup table (JSON) here.
    #[arg(long)]
    table: Option<PathBuf>,
}

/// Options of `tuneforge nas scale`.
#[derive(Args)]
pub struct ScaleArgs {
    /// Device to train and run on: cpu, or cuda / cuda:N in a build with the `cuda` feature.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// fashion-mnist, mnist or digits.
    #[arg(long, default_value = "fashion-mnist")]
    dataset: String,
    /// Folder holding the dataset.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Training, validation and test images kept.
    #[arg(long, default_value_t = 5000)]
    train_images: usize,
    #[arg(long, default_value_t = 1000)]
    /// Validation images kept.
    valid_images: usize,
    /// Test images kept.
    #[arg(long, default_value_t = 5000)]
    test_images: usize,
    /// Baseline blocks per stage, channels and resolution.
    #[arg(long, default_value_t = 1)]
    depth: usize,
    /// Baseline channels.
    #[arg(long, default_value_t = 8)]
    width: usize,
    /// Baseline input resolution.
    #[arg(long, default_value_t = 16)]
    resolution: usize,
    /// Largest phi.
    #[arg(long, default_value_t = 3)]
    max_phi: usize,
    /// Grid step of alpha, beta, gamma (each in 1..2).
    #[arg(long, default_value_t = 0.1)]
    grid_step: f64,
    /// Relative tolerance of alpha*beta^2*gamma^2 around 2.
    #[arg(long, default_value_t = 0.05)]
    tolerance: f64,
    /// Training epochs per network.
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Study name (default nas-scale-DATASET).
    #[arg(long)]
    study: Option<String>,
}

/// Options of `tuneforge nas search`.
#[derive(Args)]
pub struct SearchArgs {
    /// Device to train and run on: cpu, or cuda / cuda:N in a build with the `cuda` feature.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// darts, gdas, spos, enas, evolution, rl or random.
    #[arg(long, default_value = "darts")]
    method: String,
    /// The architecture space: `cell` (NAS-Bench-201's cell) or `chain` (a MobileNet-style
    /// chain of --layers layers, each conv, mbconv or skip with its kernel, expansion and
    /// width; searched by spos, evolution, rl or random).
    #[arg(long, default_value = "cell")]
    space: String,
    /// Layers of a chain space (split over 3 stages).
    #[arg(long, default_value_t = 6)]
    layers: usize,
    /// fashion-mnist, mnist or digits.
    #[arg(long, default_value = "fashion-mnist")]
    dataset: String,
    /// Folder holding the dataset (or its folder); default /usr/share/datasets.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Training images used (the first ones); default all.
    #[arg(long)]
    train_images: Option<usize>,
    /// Validation images used; default all.
    #[arg(long)]
    valid_images: Option<usize>,
    /// Test images used; default all.
    #[arg(long)]
    test_images: Option<usize>,
    /// Channels of the first stage.
    #[arg(long, default_value_t = 8)]
    channels: usize,
    /// Cells per stage.
    #[arg(long, default_value_t = 1)]
    cells: usize,
    /// Epochs of the search (DARTS/GDAS, supernet, ENAS).
    #[arg(long, default_value_t = 4)]
    search_epochs: usize,
    /// Epochs of the final retraining.
    #[arg(long, default_value_t = 3)]
    epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Learning rate (AdamW, cosine decay).
    #[arg(long, default_value_t = 3e-3)]
    lr: f64,
    /// DARTS order: first or second.
    #[arg(long, default_value = "first")]
    order: String,
    /// DARTS+ guard: stop when the cell has more skip connections than this; `none` disables.
    #[arg(long, default_value = "1")]
    max_skips: String,
    /// Candidates of evolution/rl/random, population of SPOS's evolution.
    #[arg(long, default_value_t = 16)]
    budget: usize,
    /// Epochs each evolution/rl/random candidate trains.
    #[arg(long, default_value_t = 1)]
    candidate_epochs: usize,
    /// Latency target in milliseconds (batch 1, measured on this machine): evolution, rl and
    /// random then maximise MnasNet's reward accuracy * (latency / target)^w (soft constraint,
    /// w = -0.07) instead of accuracy.
    #[arg(long)]
    target_latency_ms: Option<f64>,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Study name (default nas-METHOD-DATASET).
    #[arg(long)]
    study: Option<String>,
    /// Folder for architecture.json, weights.safetensors and model.py.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

/// What an export records about the search besides the architecture.
fn export_doc<N>(
    result: &pipeline::SearchResult<N>,
    dataset: &str,
    study: &str,
) -> serde_json::Value {
    serde_json::json!({
        "method": result.method.name(),
        "dataset": dataset,
        "valid_accuracy": result.valid_accuracy,
        "test_accuracy": result.test_accuracy,
        "search_seconds": result.search_seconds,
        "study": study,
        "trial": result.trial,
    })
}

/// Prints what a search found and where it is recorded.
fn print_result<N>(
    result: &pipeline::SearchResult<N>,
    spec: &SearchSpec,
    name: &str,
    url: &str,
    what: &str,
) {
    println!("method: {}", result.method.name());
    println!("{what}: {}", result.cell);
    println!("search: {:.1} s", result.search_seconds);
    println!(
        "retrained {} epochs in {:.1} s: valid accuracy {:.4}, test accuracy {:.4}",
        spec.retrain.epochs,
        result.retrain.train_seconds,
        result.valid_accuracy,
        result.test_accuracy
    );
    println!(
        "recorded as trial {} of study '{name}' in {}",
        result.trial,
        tuneforge::storage::redact(url)
    );
}

fn nas_error(e: tuneforge_nas::Error) -> Error {
    match e {
        tuneforge_nas::Error::Engine(e) => e,
        other => Error::invalid(other.to_string()),
    }
}

/// Runs a `nas` subcommand.
pub fn run(cmd: NasCmd, storage_flag: Option<&str>) -> Result<u8> {
    match cmd {
        NasCmd::Search(args) => {
            tuneforge_nas::train::select_device(&args.device).map_err(nas_error)?;
            search(args, storage_flag)
        }
        NasCmd::Latency(args) => {
            tuneforge_nas::train::select_device(&args.device).map_err(nas_error)?;
            latency(args, storage_flag)
        }
        NasCmd::Scale(args) => {
            tuneforge_nas::train::select_device(&args.device).map_err(nas_error)?;
            scale(args, storage_flag)
        }
    }
}

fn open_study(
    name: &str,
    direction: Direction,
    storage_flag: Option<&str>,
    attrs: &[(&str, &str)],
    configure: impl FnOnce(tuneforge::study::StudyBuilder) -> tuneforge::study::StudyBuilder,
) -> Result<(Study, String)> {
    let url = storage_flag
        .map(str::to_string)
        .unwrap_or_else(resolve::default_url);
    let storage = resolve::open(&url, false)?;
    let mut b = Study::builder(name)
        .storage(storage)
        .direction(direction)
        .attr("kind", "nas")
        .record_environment()
        .load_if_exists(true);
    for (k, v) in attrs {
        b = b.attr(k, *v);
    }
    Ok((configure(b).build()?, url))
}

fn latency(args: LatencyArgs, storage_flag: Option<&str>) -> Result<u8> {
    use tuneforge::nas::ArchitectureSpace;
    use tuneforge_nas::latency::{LookupTable, evaluate_predictor, measure_network};
    let space = CellSpace::nas_bench_201();
    let config = NetConfig {
        channels: args.channels,
        cells_per_stage: args.cells,
        in_channels: args.in_channels,
        ..NetConfig::default()
    };
    config.validate().map_err(nas_error)?;
    if args.resolution < 2 || args.batch == 0 || args.repeats == 0 {
        return Err(Error::invalid(
            "--resolution must be at least 2, --batch and --repeats positive",
        ));
    }
    let (study, url) = open_study(
        &args.study,
        Direction::Minimize,
        storage_flag,
        &[("metric", "latency_ms")],
        |b| b,
    )?;
    let (warmup, repeats) = (3, args.repeats);
    if let Some(cell) = &args.cell {
        let arch = space.parse(cell)?;
        for batch in [1, args.batch] {
            let l = measure_network(
                &space,
                &arch,
                &config,
                args.resolution,
                batch,
                warmup,
                repeats,
            )
            .map_err(nas_error)?;
            println!(
                "{cell} batch {batch}: median {:.3} ms (min {:.3}, p90 {:.3})",
                l.median_ms, l.min_ms, l.p90_ms
            );
        }
    }
    for batch in [1, args.batch] {
        let table = LookupTable::measure(&space, &config, args.resolution, batch, warmup, repeats)
            .map_err(nas_error)?;
        if let Some(path) = &args.table {
            let path = if batch == 1 {
                path.clone()
            } else {
                path.with_extension(format!("b{batch}.json"))
            };
            let text =
                serde_json::to_string_pretty(&table).map_err(|e| Error::invalid(e.to_string()))?;
            std::fs::write(&path, text)
                .map_err(|e| Error::invalid(format!("{}: {e}", path.display())))?;
        }
        let err = evaluate_predictor(
            &space,
            &table,
            args.samples,
            args.seed,
            warmup,
            repeats,
            |arch, measured, predicted| {
                study.enqueue(space.params_of(arch))?;
                let mut trial = study.ask()?;
                space.suggest(&mut trial)?;
                trial.set_user_attr("batch", batch)?;
                trial.set_user_attr("predicted_ms", predicted)?;
                trial.set_user_attr("cell", space.format(arch))?;
                study.tell(
                    trial,
                    tuneforge::Outcome::Complete(vec![measured.median_ms]),
                )?;
                Ok(())
            },
        )
        .map_err(nas_error)?;
        println!(
            "batch {batch}: lookup table of {} blocks; over {} random cells, {:.0}% of predictions within +-10% of the measurement (mean error {:.1}%)",
            table.entries.len(),
            err.samples.len(),
            100.0 * err.within(0.1),
            100.0 * err.mean_relative_error()
        );
    }
    println!(
        "recorded in study '{}' of {}",
        args.study,
        tuneforge::storage::redact(&url)
    );
    Ok(0)
}

fn scale(args: ScaleArgs, storage_flag: Option<&str>) -> Result<u8> {
    use tuneforge_nas::scaling::{Baseline, compound_study, grid};
    if !(args.grid_step > 0.0 && args.grid_step <= 1.0) {
        return Err(Error::invalid("--grid-step must be in (0, 1]"));
    }
    let spec = SearchSpec {
        dataset: args.dataset.clone(),
        data_dir: args.data_dir.clone(),
        limits: Some((args.train_images, args.valid_images, args.test_images)),
        ..SearchSpec::default()
    };
    let splits = pipeline::load_data(&spec).map_err(nas_error)?;
    let base = Baseline {
        depth: args.depth,
        width: args.width,
        resolution: args.resolution,
        ..Baseline::default()
    };
    let points = grid(args.grid_step, args.tolerance);
    if points.is_empty() {
        return Err(Error::invalid(format!(
            "no (alpha, beta, gamma) on a {} grid has alpha*beta^2*gamma^2 within {} of 2; widen --tolerance",
            args.grid_step, args.tolerance
        )));
    }
    let recipe = TrainConfig {
        epochs: args.epochs,
        seed: args.seed,
        ..TrainConfig::default()
    };
    recipe.validate().map_err(nas_error)?;
    let name = args
        .study
        .clone()
        .unwrap_or_else(|| format!("nas-scale-{}", args.dataset));
    let (study, url) = open_study(
        &name,
        Direction::Maximize,
        storage_flag,
        &[
            ("metric", "valid_accuracy"),
            ("dataset", args.dataset.as_str()),
        ],
        |b| b,
    )?;
    eprintln!("{} grid points at phi = 1", points.len());
    let record = |row: &tuneforge_nas::scaling::ScaleRow| -> Result<()> {
        let mut params = indexmap::IndexMap::new();
        params.insert(
            "family".to_string(),
            tuneforge::ParamValue::Str(row.family.clone()),
        );
        params.insert("phi".to_string(), tuneforge::ParamValue::Float(row.phi));
        params.insert(
            "alpha".to_string(),
            tuneforge::ParamValue::Float(row.coefficients.alpha),
        );
        params.insert(
            "beta".to_string(),
            tuneforge::ParamValue::Float(row.coefficients.beta),
        );
        params.insert(
            "gamma".to_string(),
            tuneforge::ParamValue::Float(row.coefficients.gamma),
        );
        study.enqueue(params)?;
        let mut trial = study.ask()?;
        trial.suggest_categorical(
            "family",
            &[
                "grid",
                "baseline",
                "compound",
                "depth",
                "width",
                "resolution",
            ],
        )?;
        trial.suggest_float("phi", 0.0, 16.0).get()?;
        for k in ["alpha", "beta", "gamma"] {
            trial.suggest_float(k, 1.0, 2.0).get()?;
        }
        trial.set_user_attr("macs", row.macs)?;
        trial.set_user_attr("params", row.params)?;
        trial.set_user_attr("size", &row.size)?;
        trial.set_user_attr("test_accuracy", row.test_accuracy)?;
        trial.set_user_attr("train_seconds", row.train_seconds)?;
        study.tell(
            trial,
            tuneforge::Outcome::Complete(vec![row.valid_accuracy]),
        )?;
        Ok(())
    };
    let mut failed: Option<Error> = None;
    let (_grid_rows, rows) = compound_study(&base, &points, args.max_phi, &splits, &recipe, |row| {
        eprintln!(
            "{:>10} phi {:.0} (a {:.2}, b {:.2}, g {:.2}) depth {} width {} res {}: {:.2} MMACs, valid {:.4}, test {:.4}",
            row.family, row.phi, row.coefficients.alpha, row.coefficients.beta, row.coefficients.gamma,
            row.size.depth, row.size.width, row.size.resolution, row.macs as f64 / 1e6,
            row.valid_accuracy, row.test_accuracy
        );
        if let Err(e) = record(row)
            && failed.is_none()
        {
            failed = Some(e);
        }
    })
    .map_err(nas_error)?;
    if let Some(e) = failed {
        return Err(e);
    }
    print!("{}", tuneforge_nas::scaling::markdown_table(&rows));
    println!(
        "recorded in study '{name}' of {}",
        tuneforge::storage::redact(&url)
    );
    Ok(0)
}

fn search(args: SearchArgs, storage_flag: Option<&str>) -> Result<u8> {
    let method = Method::parse(&args.method).map_err(nas_error)?;
    let order = match args.order.as_str() {
        "first" | "1" => Order::First,
        "second" | "2" => Order::Second,
        other => {
            return Err(Error::invalid(format!(
                "--order must be first or second, not '{other}'"
            )));
        }
    };
    let max_skips = match args.max_skips.as_str() {
        "none" | "off" => None,
        n => Some(n.parse::<usize>().map_err(|_| {
            Error::invalid(format!("--max-skips must be a number or none, not '{n}'"))
        })?),
    };
    let limits =
        if args.train_images.is_some() || args.valid_images.is_some() || args.test_images.is_some()
        {
            Some((
                args.train_images.unwrap_or(usize::MAX),
                args.valid_images.unwrap_or(usize::MAX),
                args.test_images.unwrap_or(usize::MAX),
            ))
        } else {
            None
        };
    let spec = SearchSpec {
        method,
        dataset: args.dataset.clone(),
        data_dir: args.data_dir.clone(),
        limits,
        net: NetConfig {
            channels: args.channels,
            cells_per_stage: args.cells,
            ..NetConfig::default()
        },
        search_epochs: args.search_epochs,
        retrain: TrainConfig {
            epochs: args.epochs,
            batch_size: args.batch_size,
            lr: args.lr,
            seed: args.seed,
            ..TrainConfig::default()
        },
        order,
        max_skips,
        budget: args.budget,
        candidate_epochs: args.candidate_epochs,
        target_latency_ms: args.target_latency_ms,
        seed: args.seed,
    };
    spec.net.validate().map_err(nas_error)?;
    spec.retrain.validate().map_err(nas_error)?;
    let splits = pipeline::load_data(&spec).map_err(nas_error)?;
    eprintln!(
        "{}: {} training, {} validation, {} test images ({}x{})",
        args.dataset,
        splits.train.len(),
        splits.valid.len(),
        splits.test.len(),
        splits.train.height,
        splits.train.width
    );
    let name = args
        .study
        .clone()
        .unwrap_or_else(|| format!("nas-{}-{}", method.name(), args.dataset));
    let chain = match args.space.as_str() {
        "cell" => None,
        "chain" => {
            let chain = ChainSpace::mobile(args.layers)?;
            tuneforge_nas::chainsearch::check(&spec, &chain).map_err(nas_error)?;
            Some(chain)
        }
        other => {
            return Err(Error::invalid(format!(
                "--space must be cell or chain, not '{other}'"
            )));
        }
    };
    let (space, space_name): (Arc<dyn ArchitectureSpace>, String) = match &chain {
        Some(c) => (Arc::new(c.clone()), format!("chain-mobile-{}", args.layers)),
        None => (Arc::new(CellSpace::nas_bench_201()), "nas-bench-201".into()),
    };
    let (study, url) = open_study(
        &name,
        Direction::Maximize,
        storage_flag,
        &[
            ("method", method.name()),
            ("dataset", args.dataset.as_str()),
            ("space", space_name.as_str()),
            ("metric", "valid_accuracy"),
        ],
        |b| {
            b.sampler_arc(pipeline::sampler_for(method, space, args.seed))
                .seed(args.seed)
        },
    )?;
    let log = |line: &str| eprintln!("{line}");
    if let Some(chain) = &chain {
        let result = tuneforge_nas::chainsearch::run_chain(&spec, chain, &splits, &study, log)
            .map_err(nas_error)?;
        print_result(&result, &spec, &name, &url, "chain");
        if let Some(dir) = &args.output {
            let doc = export_doc(&result, &args.dataset, &name);
            tuneforge_nas::export::export_chain(dir, chain, &result.arch, &result.net, doc)
                .map_err(nas_error)?;
            println!("exported to {} (no model.py for chains)", dir.display());
        }
        return Ok(0);
    }
    let cells = CellSpace::nas_bench_201();
    let result = pipeline::run(&spec, &splits, &study, log).map_err(nas_error)?;
    print_result(&result, &spec, &name, &url, "cell");
    if let Some(dir) = &args.output {
        let doc = export_doc(&result, &args.dataset, &name);
        tuneforge_nas::export::export(dir, &cells, &result.arch, &result.net, doc)
            .map_err(nas_error)?;
        println!("exported to {}", dir.display());
    }
    Ok(0)
}
