//! `tuneforge nas`: architecture search that trains real networks (see the `tuneforge-nas`
//! crate), recorded in the storage like any study.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use tuneforge::nas::CellSpace;
use tuneforge::{Direction, Error, Result, Study};
use tuneforge_nas::darts::Order;
use tuneforge_nas::pipeline::{self, Method, SearchSpec};
use tuneforge_nas::supernet::NetConfig;
use tuneforge_nas::train::TrainConfig;

use crate::resolve;

/// The `nas` subcommands.
#[derive(Subcommand)]
pub enum NasCmd {
    /// Searches a cell (NAS-Bench-201 space) on an image dataset, retrains it from scratch,
    /// records both in a study and exports the result.
    Search(SearchArgs),
}

/// Options of `tuneforge nas search`.
#[derive(Args)]
pub struct SearchArgs {
    /// darts, gdas, spos, enas, evolution, rl or random.
    #[arg(long, default_value = "darts")]
    method: String,
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

fn nas_error(e: tuneforge_nas::Error) -> Error {
    match e {
        tuneforge_nas::Error::Engine(e) => e,
        other => Error::invalid(other.to_string()),
    }
}

/// Runs a `nas` subcommand.
pub fn run(cmd: NasCmd, storage_flag: Option<&str>) -> Result<u8> {
    match cmd {
        NasCmd::Search(args) => search(args, storage_flag),
    }
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
    let space = CellSpace::nas_bench_201();
    let name = args
        .study
        .clone()
        .unwrap_or_else(|| format!("nas-{}-{}", method.name(), args.dataset));
    let url = storage_flag
        .map(str::to_string)
        .unwrap_or_else(resolve::default_url);
    let storage = resolve::open(&url, false)?;
    let study = Study::builder(&name)
        .storage(storage)
        .direction(Direction::Maximize)
        .sampler_arc(pipeline::sampler_for(method, &space, args.seed))
        .seed(args.seed)
        .attr("kind", "nas")
        .attr("method", method.name())
        .attr("dataset", args.dataset.as_str())
        .attr("space", "nas-bench-201")
        .attr("metric", "valid_accuracy")
        .record_environment()
        .load_if_exists(true)
        .build()?;
    let result =
        pipeline::run(&spec, &splits, &study, |line| eprintln!("{line}")).map_err(nas_error)?;
    println!("method: {}", method.name());
    println!("cell: {}", result.cell);
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
        tuneforge::storage::redact(&url)
    );
    if let Some(dir) = &args.output {
        tuneforge_nas::export::export(
            dir,
            &space,
            &result.arch,
            &result.net,
            serde_json::json!({
                "method": method.name(),
                "dataset": args.dataset,
                "valid_accuracy": result.valid_accuracy,
                "test_accuracy": result.test_accuracy,
                "search_seconds": result.search_seconds,
                "study": name,
                "trial": result.trial,
            }),
        )
        .map_err(nas_error)?;
        println!("exported to {}", dir.display());
    }
    Ok(0)
}
