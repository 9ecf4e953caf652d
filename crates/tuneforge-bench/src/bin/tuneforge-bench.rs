//! `tuneforge-bench`: runs the benchmarks and writes their tables into docs/BENCHMARKS.md.
//!
//! ```text
//! bench/run-samplers            # peers (Python venv) + tuneforge, then the tables
//! tuneforge-bench samplers --seeds 10 --budget 200 --peers bench/results/peers-samplers.jsonl
//! ```

use clap::{Parser, Subcommand};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tuneforge::sampler::{
    AnnealingConfig, AutoSampler, CmaEsConfig, EvolutionConfig, GeneticConfig, GpConfig, RfConfig,
    TpeConfig,
};
use tuneforge::{RandomSampler, Sampler, SobolSampler};
use tuneforge_bench::harness::{self, RunResult, SamplerFactory};
use tuneforge_bench::problems::{self, Problem};
use tuneforge_bench::{report, tabular};

#[derive(Parser)]
#[command(about = "tuneforge benchmarks; tables go to docs/BENCHMARKS.md")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// The Fashion-MNIST slice the architecture benchmarks train on.
#[derive(clap::Args)]
struct FashionArgs {
    /// Folder holding fashion-mnist/.
    #[arg(long, default_value = "../shared/data")]
    data_dir: PathBuf,
    /// Training images (the first ones of the training split).
    #[arg(long, default_value_t = 6000)]
    train_images: usize,
    /// Validation images.
    #[arg(long, default_value_t = 2000)]
    valid_images: usize,
    /// Test images.
    #[arg(long, default_value_t = 10000)]
    test_images: usize,
}

impl FashionArgs {
    /// A search spec reading this slice.
    fn spec(&self) -> tuneforge_nas::pipeline::SearchSpec {
        tuneforge_nas::pipeline::SearchSpec {
            dataset: "fashion-mnist".into(),
            data_dir: Some(self.data_dir.clone()),
            limits: Some((self.train_images, self.valid_images, self.test_images)),
            ..Default::default()
        }
    }
}

/// The real-training multi-fidelity benchmark's data and recipe (the same for tuneforge's runs
/// and the server the peers train through).
#[derive(clap::Args)]
struct MfTrainArgs {
    /// Folder holding fashion-mnist/ and mnist/.
    #[arg(long, default_value = "../shared/data")]
    data_dir: PathBuf,
    /// Datasets (the benchmark's tasks).
    #[arg(long, value_delimiter = ',', default_value = "fashion-mnist,mnist")]
    datasets: Vec<String>,
    /// Training images (the first ones of the training split).
    #[arg(long, default_value_t = 2000)]
    train_images: usize,
    /// Validation images.
    #[arg(long, default_value_t = 2000)]
    valid_images: usize,
    /// Epochs of a full training (R).
    #[arg(long, default_value_t = 27)]
    epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
}

impl MfTrainArgs {
    fn load(&self) -> tuneforge_bench::mftrain::RealCurves {
        tuneforge_bench::mftrain::RealCurves::load(
            &self.data_dir,
            &self.datasets,
            self.train_images,
            self.valid_images,
            self.epochs,
            self.batch_size,
        )
        .unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(1);
        })
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// EfficientNet compound scaling against depth, width or resolution alone on Fashion-MNIST,
    /// and the latency lookup table's prediction error on this machine.
    NasScale {
        #[command(flatten)]
        data: FashionArgs,
        /// Largest phi.
        #[arg(long, default_value_t = 3)]
        max_phi: usize,
        /// Training epochs per network.
        #[arg(long, default_value_t = 3)]
        epochs: usize,
        /// Random cells on which latency predictions are checked.
        #[arg(long, default_value_t = 30)]
        latency_samples: usize,
        /// Output Markdown file.
        #[arg(long, default_value = "docs/BENCHMARKS.md")]
        out: PathBuf,
    },
    /// Architecture search with real training on Fashion-MNIST: every method's search cost and
    /// retrained test accuracy, and one network's training step against PyTorch.
    NasTrain {
        /// Methods (comma-separated; default: all).
        #[arg(long, value_delimiter = ',')]
        methods: Vec<String>,
        /// Seeds per method.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        #[command(flatten)]
        data: FashionArgs,
        /// Search epochs (DARTS, GDAS, SPOS supernet, ENAS).
        #[arg(long, default_value_t = 3)]
        search_epochs: usize,
        /// Retraining epochs (same recipe for every method).
        #[arg(long, default_value_t = 3)]
        epochs: usize,
        /// Candidates of evolution, rl and random (each trained --candidate-epochs).
        #[arg(long, default_value_t = 8)]
        budget: usize,
        /// Epochs per candidate.
        #[arg(long, default_value_t = 1)]
        candidate_epochs: usize,
        /// Python with torch for the throughput comparison (skipped if absent).
        #[arg(long, default_value = "bench/.venv/bin/python")]
        python: PathBuf,
        /// Results file (JSON lines, appended).
        #[arg(long, default_value = "bench/results/nas-train.jsonl")]
        results: PathBuf,
        /// Random cells on which one-shot and stand-alone accuracy are rank-correlated (0: skip).
        #[arg(long, default_value_t = 8)]
        kendall: usize,
        /// Epochs of the SPOS supernet behind the rank correlation (0: --search-epochs).
        #[arg(long, default_value_t = 0)]
        kendall_epochs: usize,
        /// Also run one DARTS search (and its retraining) on the whole Fashion-MNIST training
        /// split, timed.
        #[arg(long)]
        full_darts: bool,
        /// Only rewrite the table from the results file.
        #[arg(long)]
        report_only: bool,
        /// Output Markdown file.
        #[arg(long, default_value = "docs/BENCHMARKS.md")]
        out: PathBuf,
    },
    /// Storage throughput: completed trials/s for 1..N worker processes on SQLite and
    /// PostgreSQL (a throwaway server), with Optuna's RDB storage on the same server.
    Throughput {
        /// Worker counts (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
        workers: Vec<usize>,
        /// Seconds per measurement.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Python with Optuna and psycopg2 (bench/peers/setup.sh makes bench/.venv).
        #[arg(long, default_value = "bench/.venv/bin/python")]
        python: PathBuf,
        /// Where to write the raw results (JSON lines).
        #[arg(long, default_value = "bench/results/throughput.jsonl")]
        results: PathBuf,
        /// The Markdown file to update.
        #[arg(long, default_value = "docs/BENCHMARKS.md")]
        out: PathBuf,
    },
    /// Multi-fidelity methods on real networks trained here (an MLP on Fashion-MNIST or MNIST,
    /// epochs as budget), with the peers' runs from bench/peers/mf_train.py.
    MfTrain {
        #[command(flatten)]
        train: MfTrainArgs,
        /// Seeds per (dataset, method).
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// Budget in full-length trainings (x --epochs).
        #[arg(long, default_value_t = 30)]
        budget_configs: u64,
        /// Methods (comma-separated; default: random, tpe, median, asha, hyperband, bohb,
        /// bohb-asha, bohb-promote-hb, bohb-promote-hb-first, bohb-paper-hb,
        /// bohb-paper-hb-lead, bohb-paper-hb-lead-nobottom, bohb-sync).
        #[arg(long, value_delimiter = ',')]
        methods: Vec<String>,
        /// Peer runs (JSON lines from bench/peers/mf_train.py).
        #[arg(long)]
        peers: Option<PathBuf>,
        /// Where to write tuneforge's runs (JSON lines; other runs already there are kept).
        #[arg(long, default_value = "bench/results/tuneforge-mf-train.jsonl")]
        results: PathBuf,
        /// The Markdown file to update.
        #[arg(long, default_value = "docs/BENCHMARKS.md")]
        out: PathBuf,
        /// Runs in parallel, as threads of this process. A diverging training (NaN) was seen to
        /// change the numbers of a training running beside it in burn's CPU backend, so the
        /// published runs use 1 (and separate processes).
        #[arg(long, default_value_t = 1)]
        threads: usize,
        /// Read tuneforge's runs from --results instead of running them again.
        #[arg(long)]
        reuse_results: bool,
    },
    /// Multi-fidelity methods on FCNet with training time as the cost and a smaller model as
    /// the cheap fidelity, with the peers' runs from bench/peers/multifidelity.py --fcnet.
    MfFcnet {
        /// Directory with fcnet_{protein_structure,naval_propulsion}.csv.gz.
        #[arg(long, default_value = "../shared/data/hpo-tabular")]
        data_dir: PathBuf,
        /// Datasets (comma-separated).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "protein_structure,naval_propulsion"
        )]
        tasks: Vec<String>,
        /// Seeds per (dataset, method).
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// Budget in mean full trainings (x the table's mean training time).
        #[arg(long, default_value_t = 100)]
        budget_configs: u64,
        /// Methods (comma-separated; default: all of fcnet_width::METHODS).
        #[arg(long, value_delimiter = ',')]
        methods: Vec<String>,
        /// Peer runs (JSON lines from bench/peers/multifidelity.py --fcnet).
        #[arg(long)]
        peers: Option<PathBuf>,
        /// Where to write tuneforge's runs (JSON lines; other runs already there are kept).
        #[arg(long, default_value = "bench/results/tuneforge-mf-fcnet.jsonl")]
        results: PathBuf,
        /// The Markdown file to update.
        #[arg(long, default_value = "docs/BENCHMARKS.md")]
        out: PathBuf,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Read tuneforge's runs from --results instead of running them again.
        #[arg(long)]
        reuse_results: bool,
    },
    /// Serves the real-training learners of `mf-train` to the Python peers: JSON lines on
    /// stdin/stdout (see the `mftrain` module).
    MfTrainServe {
        #[command(flatten)]
        train: MfTrainArgs,
    },
    /// Multi-fidelity methods on LCBench learning curves (needs the `lcbench` feature).
    #[cfg(feature = "lcbench")]
    Multifidelity {
        /// LCBench tasks (comma-separated OpenML ids; default: all 34).
        #[arg(long, value_delimiter = ',')]
        tasks: Vec<String>,
        /// Seeds per (task, method).
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// Budget in full-length trainings (x 52 epochs).
        #[arg(long, default_value_t = 100)]
        budget_configs: u64,
        /// Methods (comma-separated; default: all).
        #[arg(long, value_delimiter = ',')]
        methods: Vec<String>,
        /// Directory with model.onnx and encoding.json.
        #[arg(long, default_value = "../shared/data/lcbench")]
        data: PathBuf,
        /// Peer runs (JSON lines from bench/peers/multifidelity.py).
        #[arg(long)]
        peers: Option<PathBuf>,
        /// Where to write tuneforge's runs (JSON lines; other runs already there are kept).
        #[arg(long, default_value = "bench/results/tuneforge-mf.jsonl")]
        results: PathBuf,
        /// The Markdown file to update.
        #[arg(long, default_value = "docs/BENCHMARKS.md")]
        out: PathBuf,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Read tuneforge's runs from --results (written by an earlier run with the same
        /// options) instead of running them again.
        #[arg(long)]
        reuse_results: bool,
        /// The section of --out to write (another name keeps the main table).
        #[arg(long, default_value = "multifidelity")]
        section: String,
        /// The section's title.
        #[arg(long, default_value = "Multi-fidelity on LCBench")]
        title: String,
    },
    /// Several objectives: hypervolume on ZDT1-3 of NSGA-II, TPE and random, with the peers.
    Multiobjective {
        /// Seeds per (problem, sampler).
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// Trials per run.
        #[arg(long, default_value_t = 400)]
        budget: usize,
        /// tuneforge samplers (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "nsga2,tpe,random")]
        samplers: Vec<String>,
        /// Peer runs (JSON lines from bench/peers/multiobjective.py).
        #[arg(long)]
        peers: Option<PathBuf>,
        /// The Markdown file to update.
        #[arg(long, default_value = "docs/BENCHMARKS.md")]
        out: PathBuf,
    },
    /// NAS-Bench-201 simulated searches (Dong & Yang 2020 protocol): test accuracy of the
    /// returned cell after a simulated time budget, next to the paper's table.
    Nas {
        /// Runs per method.
        #[arg(long, default_value_t = 500)]
        runs: u64,
        /// Runs for GP-BO (its proposals cost the most), at most --runs.
        #[arg(long, default_value_t = 500)]
        gp_runs: u64,
        /// Simulated seconds per run.
        #[arg(long, default_value_t = 12000.0)]
        budget: f64,
        /// Methods (comma-separated; default: all).
        #[arg(long, value_delimiter = ',')]
        methods: Vec<String>,
        /// The NAS-Bench-201 table (CSV, optionally gzipped).
        #[arg(long, default_value = "../shared/data/nas-bench-201/cifar10.csv.gz")]
        data: PathBuf,
        /// Peer runs (JSON lines from bench/peers/nas.py).
        #[arg(long)]
        peers: Option<PathBuf>,
        /// The Markdown file to update.
        #[arg(long, default_value = "docs/BENCHMARKS.md")]
        out: PathBuf,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Parameter importance: fANOVA and PED-ANOVA time and ranking at 1,000 and 10,000 trials,
    /// next to Optuna's evaluators on the same data.
    Importance {
        /// Study sizes (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        trials: Vec<usize>,
        /// Python with Optuna and scikit-learn (bench/peers/setup.sh); `none` to skip peers.
        #[arg(long, default_value = "bench/.venv/bin/python")]
        python: PathBuf,
        /// The Markdown file to update.
        #[arg(long, default_value = "docs/BENCHMARKS.md")]
        out: PathBuf,
    },
    /// Dashboard load: the requests of the study page at 10,000 and 100,000 trials (cold,
    /// warm, after 100 more trials), optionally next to optuna-dashboard on the same study.
    Dashboard {
        /// Study sizes (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        trials: Vec<usize>,
        /// Python with optuna-dashboard (bench/peers/setup.sh); `none` to skip the peer.
        #[arg(long, default_value = "bench/.venv/bin/python")]
        python: PathBuf,
        /// Study sizes for the peer (it reads every trial on each page load).
        #[arg(long, value_delimiter = ',', default_value = "10000,100000")]
        peer_trials: Vec<usize>,
        /// The Markdown file to update.
        #[arg(long, default_value = "docs/BENCHMARKS.md")]
        out: PathBuf,
    },
    /// One worker process of `throughput` (internal).
    #[command(hide = true)]
    ThroughputWorker {
        #[arg(long)]
        storage: String,
        #[arg(long)]
        study: String,
        #[arg(long)]
        start_ms: u64,
        #[arg(long)]
        seconds: f64,
        #[arg(long)]
        seed: u64,
    },
    /// Sampler quality (simple regret at budgets) and sampler time on test functions and tabular HPO data.
    Samplers {
        /// Seeds per (problem, sampler).
        #[arg(long, default_value_t = 10)]
        seeds: u64,
        /// Evaluations per run.
        #[arg(long, default_value_t = 200)]
        budget: usize,
        /// tuneforge samplers to run (comma-separated): auto, random, sobol, tpe, tpe-watanabe, cmaes, gp, rf, evolution, annealing, genetic.
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "auto,random,sobol,tpe,cmaes,gp,rf,evolution,annealing,genetic"
        )]
        samplers: Vec<String>,
        /// Only problems whose name contains one of these (comma-separated).
        #[arg(long, value_delimiter = ',')]
        problems: Vec<String>,
        /// Directory with the tabular HPO data (hpo-tabular/); skipped when absent.
        #[arg(long, default_value = "../shared/data/hpo-tabular")]
        data: PathBuf,
        /// Peer results (JSON lines from bench/peers/samplers.py) to put in the same tables.
        #[arg(long)]
        peers: Option<PathBuf>,
        /// Where to write tuneforge's own results (JSON lines).
        #[arg(long, default_value = "bench/results/tuneforge-samplers.jsonl")]
        results: PathBuf,
        /// The Markdown file to update.
        #[arg(long, default_value = "docs/BENCHMARKS.md")]
        out: PathBuf,
        /// Worker threads (runs are independent).
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Keep the runs of other samplers already in --results (from an earlier run with the
        /// same seeds and budget) and add these samplers' runs to them.
        #[arg(long)]
        add: bool,
        /// Run the held-out functions instead of the benchmark's problems, to check that a
        /// default chosen on the main problems carries over.
        #[arg(long)]
        held_out: bool,
        /// The marked section of --out to write (another name keeps the main tables).
        #[arg(long, default_value = "samplers")]
        section: String,
        /// The section's heading.
        #[arg(long, default_value = "Sampler quality and speed")]
        title: String,
    },
    /// Time per suggestion with a long history (N completed trials in a D-dimensional space).
    Speed {
        /// History sizes for TPE (comma-separated; 0 runs none).
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        history: Vec<usize>,
        /// History sizes for GP-BO (comma-separated; 0 runs none).
        #[arg(long, value_delimiter = ',', default_value = "200")]
        gp_history: Vec<usize>,
        /// Dimensions.
        #[arg(long, default_value_t = 10)]
        dim: usize,
        /// Timed suggestions per history size.
        #[arg(long, default_value_t = 30)]
        asks: usize,
        /// Peer timings (JSON lines from bench/peers/speed.py).
        #[arg(long)]
        peers: Option<PathBuf>,
        /// The Markdown file to update.
        #[arg(long, default_value = "docs/BENCHMARKS.md")]
        out: PathBuf,
    },
}

fn factory(name: &str) -> Option<SamplerFactory> {
    Some(match name {
        "random" => Arc::new(|s| Arc::new(RandomSampler::new(s)) as Arc<dyn Sampler>),
        "sobol" => Arc::new(|s| Arc::new(SobolSampler::new(s)) as Arc<dyn Sampler>),
        "tpe" => Arc::new(|s| Arc::new(TpeConfig::default().build(s)) as Arc<dyn Sampler>),
        "tpe-watanabe" => {
            Arc::new(|s| Arc::new(TpeConfig::watanabe().build(s)) as Arc<dyn Sampler>)
        }
        "cmaes" => Arc::new(|s| Arc::new(CmaEsConfig::default().build(s)) as Arc<dyn Sampler>),
        "gp" => Arc::new(|s| Arc::new(GpConfig::default().build(s)) as Arc<dyn Sampler>),
        "auto" => Arc::new(|s| Arc::new(AutoSampler::new(s)) as Arc<dyn Sampler>),
        "evolution" => {
            Arc::new(|s| Arc::new(EvolutionConfig::default().build(s)) as Arc<dyn Sampler>)
        }
        "annealing" => {
            Arc::new(|s| Arc::new(AnnealingConfig::default().build(s)) as Arc<dyn Sampler>)
        }
        "genetic" => Arc::new(|s| Arc::new(GeneticConfig::default().build(s)) as Arc<dyn Sampler>),
        "rf" => Arc::new(|s| Arc::new(RfConfig::default().build(s)) as Arc<dyn Sampler>),
        _ => return None,
    })
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    format!("{cpu}, {cores} cores")
}

fn main() {
    let cli = Cli::parse();
    match cli.cmd {
        #[cfg(feature = "lcbench")]
        Cmd::Multifidelity {
            tasks,
            seeds,
            budget_configs,
            methods,
            data,
            peers,
            results,
            out,
            threads,
            reuse_results,
            section,
            title,
        } => mf_cmd(
            MfPlan {
                tasks,
                seeds,
                budget_configs,
                methods,
                threads,
                reuse_results,
            },
            data,
            peers,
            results,
            out,
            section,
            title,
        ),
        Cmd::MfTrain {
            train,
            seeds,
            budget_configs,
            methods,
            peers,
            results,
            out,
            threads,
            reuse_results,
        } => mf_train_cmd(
            &train,
            MfPlan {
                tasks: train.datasets.clone(),
                seeds,
                budget_configs,
                methods,
                threads,
                reuse_results,
            },
            peers,
            results,
            out,
        ),
        Cmd::MfFcnet {
            data_dir,
            tasks,
            seeds,
            budget_configs,
            methods,
            peers,
            results,
            out,
            threads,
            reuse_results,
        } => mf_fcnet_cmd(
            &data_dir,
            MfPlan {
                tasks,
                seeds,
                budget_configs,
                methods,
                threads,
                reuse_results,
            },
            peers,
            results,
            out,
        ),
        Cmd::MfTrainServe { train } => {
            let source = train.load();
            let stdin = std::io::stdin().lock();
            let stdout = std::io::stdout().lock();
            if let Err(e) = tuneforge_bench::mftrain::serve(&source, stdin, stdout) {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
        Cmd::Multiobjective {
            seeds,
            budget,
            samplers,
            peers,
            out,
        } => mo_cmd(seeds, budget, samplers, peers, out),
        Cmd::NasTrain {
            methods,
            seeds,
            data,
            search_epochs,
            epochs,
            budget,
            candidate_epochs,
            python,
            results,
            kendall,
            kendall_epochs,
            full_darts,
            report_only,
            out,
        } => {
            let spec = tuneforge_nas::pipeline::SearchSpec {
                search_epochs,
                retrain: tuneforge_nas::train::TrainConfig {
                    epochs,
                    ..Default::default()
                },
                budget,
                candidate_epochs,
                ..data.spec()
            };
            nas_train_cmd(
                spec,
                methods,
                seeds,
                &python,
                &results,
                (kendall, kendall_epochs, full_darts),
                report_only,
                &out,
            )
        }
        Cmd::NasScale {
            data,
            max_phi,
            epochs,
            latency_samples,
            out,
        } => nas_scale_cmd(data.spec(), max_phi, epochs, latency_samples, &out),
        Cmd::Nas {
            runs,
            gp_runs,
            budget,
            methods,
            data,
            peers,
            out,
            threads,
        } => nas_cmd(runs, gp_runs, budget, methods, &data, peers, &out, threads),
        Cmd::Importance {
            trials,
            python,
            out,
        } => importance_cmd(&trials, &python, &out),
        Cmd::Dashboard {
            trials,
            python,
            peer_trials,
            out,
        } => dashboard_cmd(&trials, &python, &peer_trials, &out),
        Cmd::Throughput {
            workers,
            seconds,
            python,
            results,
            out,
        } => throughput_cmd(workers, seconds, python, results, out),
        Cmd::ThroughputWorker {
            storage,
            study,
            start_ms,
            seconds,
            seed,
        } => {
            if let Err(e) =
                tuneforge_bench::throughput::worker(&storage, &study, start_ms, seconds, seed)
            {
                eprintln!("worker: {e}");
                std::process::exit(1);
            }
        }
        Cmd::Samplers {
            seeds,
            budget,
            samplers,
            problems,
            data,
            peers,
            results,
            out,
            threads,
            add,
            held_out,
            section,
            title,
        } => samplers_cmd(
            seeds, budget, samplers, problems, data, peers, results, out, threads, add, held_out,
            &section, &title,
        ),
        Cmd::Speed {
            history,
            gp_history,
            dim,
            asks,
            peers,
            out,
        } => speed_cmd(&history, &gp_history, dim, asks, peers, out),
    }
}

/// One timing row.
#[derive(serde::Serialize, serde::Deserialize)]
struct SpeedRow {
    sampler: String,
    history: usize,
    dim: usize,
    asks: usize,
    median_ms: f64,
    p90_ms: f64,
}

fn speed_cmd(
    history: &[usize],
    gp_history: &[usize],
    dim: usize,
    asks: usize,
    peers: Option<PathBuf>,
    out: PathBuf,
) {
    use tuneforge::storage::{MemoryStorage, Storage};
    use tuneforge::{Optimize, Outcome, Study};
    let mut rows: Vec<SpeedRow> = Vec::new();
    let runs: Vec<(&str, usize)> = history
        .iter()
        .map(|&n| ("tpe", n))
        .chain(gp_history.iter().map(|&n| ("gp", n)))
        .filter(|&(_, n)| n > 0)
        .collect();
    for (kind, n) in runs {
        let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
        let name = format!("speed-{n}");
        let filler = Study::builder(&name)
            .storage(storage.clone())
            .sampler(RandomSampler::new(0))
            .build()
            .expect("memory study");
        filler
            .optimize(
                |t| -> tuneforge::Result<f64> {
                    let mut s = 0.0;
                    for i in 0..dim {
                        let x = t.suggest_float(&format!("x{i}"), -5.0, 5.0).get()?;
                        s += x * x;
                    }
                    Ok(s)
                },
                Optimize::trials(n),
            )
            .expect("memory study");
        let sampler: Arc<dyn Sampler> = if kind == "tpe" {
            Arc::new(TpeConfig::default().build(0))
        } else {
            Arc::new(GpConfig::default().build(0))
        };
        let study = Study::builder(&name)
            .storage(storage)
            .sampler_arc(sampler)
            .build()
            .expect("memory study");
        let mut times = Vec::with_capacity(asks);
        for _ in 0..asks {
            let t0 = std::time::Instant::now();
            let mut t = study.ask().expect("ask");
            let mut s = 0.0;
            for i in 0..dim {
                let x = t
                    .suggest_float(&format!("x{i}"), -5.0, 5.0)
                    .get()
                    .expect("suggest");
                s += x * x;
            }
            study.tell(t, Outcome::Complete(vec![s])).expect("tell");
            times.push(t0.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let row = SpeedRow {
            sampler: if kind == "tpe" {
                "tpe (multivariate)".into()
            } else {
                "gp".into()
            },
            history: n,
            dim,
            asks,
            median_ms: report::quantile(&times, 0.5),
            p90_ms: times[(0.9 * (times.len() - 1) as f64) as usize],
        };
        eprintln!("{kind} with {n} trials: median {:.2} ms", row.median_ms);
        rows.push(row);
    }
    let mut note = "none".to_string();
    if let Some(p) = &peers {
        let text = std::fs::read_to_string(p).unwrap_or_else(|e| {
            eprintln!("error: cannot read {}: {e}", p.display());
            std::process::exit(1)
        });
        rows.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<SpeedRow>(l).ok()),
        );
        let versions =
            std::fs::read_to_string(p.with_extension("versions.txt")).unwrap_or_default();
        note = format!(
            "`{}` ({})",
            p.display(),
            versions.trim().replace('\n', ", ")
        );
    }
    let mut s = format!(
        "## Sampler speed with a long history\n\nCommand: `{}`  \nMachine: {}. Peers: {note}.\n\n\
         Time for one trial's ask + {dim} suggestions + tell, with N completed trials already in the study \
         ({dim}-D sphere, in-memory storage), {asks} timed trials.\n\n\
         | sampler | history N | median ms | p90 ms | tuneforge speed-up (median) |\n|---|---|---|---|---|\n",
        command_line(),
        machine()
    );
    for r in &rows {
        // Compare each peer with tuneforge's sampler of the same family and history size.
        let family = if r.sampler.contains("gp") {
            "gp"
        } else {
            "tpe"
        };
        let ours = rows
            .iter()
            .find(|o| o.sampler.starts_with(family) && o.history == r.history);
        let speedup = match ours {
            Some(o) if r.sampler.starts_with("optuna") => {
                format!("{:.1}x", r.median_ms / o.median_ms)
            }
            _ => "-".into(),
        };
        s.push_str(&format!(
            "| {} | {} | {:.2} | {:.2} | {speedup} |\n",
            r.sampler, r.history, r.median_ms, r.p90_ms
        ));
    }
    write_section_or_exit(&out, "speed", &s);
    eprintln!("wrote {}", out.display());
}

#[allow(clippy::too_many_arguments)]
fn samplers_cmd(
    seeds: u64,
    budget: usize,
    samplers: Vec<String>,
    filter: Vec<String>,
    data: PathBuf,
    peers: Option<PathBuf>,
    results: PathBuf,
    out: PathBuf,
    threads: usize,
    add: bool,
    held_out: bool,
    section_name: &str,
    title: &str,
) {
    let mut problems: Vec<Box<dyn Problem>> = Vec::new();
    if held_out {
        for f in problems::held_out_functions() {
            problems.push(Box::new(f));
        }
    } else {
        for f in problems::functions() {
            problems.push(Box::new(f));
        }
        problems.push(Box::new(problems::Mixed));
        problems.push(Box::new(problems::Conditional));
        if data.is_dir() {
            match tabular::load_all(&data) {
                Ok(ts) => problems.extend(ts.into_iter().map(|t| Box::new(t) as Box<dyn Problem>)),
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(1);
                }
            }
        } else {
            eprintln!(
                "note: {} not found; tabular problems skipped",
                data.display()
            );
        }
    }
    if !filter.is_empty() {
        problems.retain(|p| filter.iter().any(|f| p.name().contains(f.as_str())));
    }
    let mut jobs = Vec::new();
    for name in &samplers {
        let Some(f) = factory(name) else {
            eprintln!(
                "error: unknown sampler '{name}' (auto, random, sobol, tpe, tpe-watanabe, cmaes, gp, rf, evolution, annealing, genetic)"
            );
            std::process::exit(2);
        };
        for (pi, _) in problems.iter().enumerate() {
            for seed in 0..seeds {
                jobs.push((pi, name.clone(), f.clone(), seed));
            }
        }
    }
    let total = jobs.len();
    let queue = Mutex::new(jobs);
    let done: Mutex<Vec<RunResult>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                loop {
                    let Some((pi, name, f, seed)) =
                        queue.lock().unwrap_or_else(|p| p.into_inner()).pop()
                    else {
                        return;
                    };
                    let r = harness::run(problems[pi].as_ref(), &name, &f, seed, budget);
                    let mut d = done.lock().unwrap_or_else(|p| p.into_inner());
                    d.push(r);
                    if d.len().is_multiple_of(50) || d.len() == total {
                        eprintln!("{}/{} runs", d.len(), total);
                    }
                }
            });
        }
    });
    let mut all = done.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut kept = 0;
    if add {
        // The runs of the samplers not run now, from the earlier run stored in --results.
        let earlier = std::fs::read_to_string(&results).unwrap_or_default();
        for r in earlier
            .lines()
            .filter_map(|l| serde_json::from_str::<RunResult>(l).ok())
        {
            if !samplers.contains(&r.sampler) {
                all.push(r);
                kept += 1;
            }
        }
    }
    all.sort_by(|a, b| (&a.problem, &a.sampler, a.seed).cmp(&(&b.problem, &b.sampler, b.seed)));
    if let Some(dir) = results.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::File::create(&results) {
        Ok(mut f) => {
            for r in &all {
                let _ = writeln!(f, "{}", serde_json::to_string(r).unwrap_or_default());
            }
        }
        Err(e) => eprintln!("warning: cannot write {}: {e}", results.display()),
    }
    let mut peer_note = String::from("none (run bench/run-samplers to include them)");
    if let Some(p) = &peers {
        let (runs, note) =
            load_peers::<RunResult>(p, |r| problems.iter().any(|q| q.name() == r.problem));
        peer_note = format!("{note}; {}", report::coverage(&runs, problems.len()));
        all.extend(runs);
    }
    let f_star: BTreeMap<String, f64> = problems.iter().map(|p| (p.name(), p.f_star())).collect();
    let budgets: Vec<usize> = [25, 50, 100, 200]
        .into_iter()
        .filter(|b| *b <= budget)
        .collect();
    let added = if add {
        format!(
            " The runs of tuneforge's other samplers ({kept}) come from the earlier run stored in `{}`.",
            results.display()
        )
    } else {
        String::new()
    };
    let header = format!(
        "## {title}\n\nCommand: `{}`  \nMachine: {}. Seeds: {seeds}, budget: {budget} evaluations per run. \
         Peers: {peer_note}.{added}\n\nSimple regret = best value found minus the known optimum f* (0 is perfect). \
         ms/trial is the time spent outside the objective per trial (for tuneforge: sampling plus in-memory storage; \
         for peers: their own ask/tell overhead).\n",
        command_line(),
        machine()
    );
    let section = report::samplers_section(&all, &f_star, &budgets, &header);
    write_section_or_exit(&out, section_name, &section);
    eprintln!("wrote {} ({} runs)", out.display(), all.len());
}

fn throughput_cmd(
    workers: Vec<usize>,
    seconds: f64,
    python: PathBuf,
    results: PathBuf,
    out: PathBuf,
) {
    use tuneforge_bench::throughput;
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: cannot find this executable: {e}");
            std::process::exit(1);
        }
    };
    let python = if python.is_file() {
        Some(python)
    } else {
        eprintln!(
            "warning: {} not found (run bench/peers/setup.sh); measuring tuneforge only",
            python.display()
        );
        None
    };
    let opts = throughput::Options {
        exe,
        workers,
        seconds,
        python,
    };
    let (rows, versions) = match throughput::run(&opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if let Some(dir) = results.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let lines: Vec<String> = rows
        .iter()
        .map(|r| serde_json::to_string(r).unwrap_or_default())
        .collect();
    if let Err(e) = std::fs::write(&results, lines.join("\n") + "\n") {
        eprintln!("warning: cannot write {}: {e}", results.display());
    }
    let header = format!(
        "## Storage throughput\n\nCommand: `{}`  \nMachine: {}. Peers: {versions}. \
         Completed trials per second: W worker processes share one study for {seconds} s with \
         the random sampler and the objective x^2 + y^2 (two float parameters), so the engine \
         and its storage are what is measured. PostgreSQL is one throwaway server (fsync off) \
         used by both systems in this run; tuneforge sends heartbeats for every trial, \
         Optuna's heartbeats are off by default.\n",
        command_line(),
        machine()
    );
    let section = throughput::section(&rows, &header);
    write_section_or_exit(&out, "throughput", &section);
    eprintln!("wrote {}", out.display());
}

/// What a multi-fidelity benchmark command runs: tasks x methods x seeds at a budget.
struct MfPlan {
    tasks: Vec<String>,
    seeds: u64,
    budget_configs: u64,
    methods: Vec<String>,
    threads: usize,
    reuse_results: bool,
}

/// Runs the plan's (task, method, seed) jobs on `source` (reusing stored runs when asked), saves
/// them to `results`, adds the peers' runs, and returns them with the peers' description.
fn mf_runs(
    run_one: &(
         dyn Fn(&str, &str, u64) -> Result<tuneforge_bench::multifidelity::Run, String> + Sync
     ),
    plan: &MfPlan,
    peers: Option<&std::path::Path>,
    results: &std::path::Path,
) -> (Vec<tuneforge_bench::multifidelity::Run>, String) {
    use tuneforge_bench::multifidelity::Run;
    let mut jobs = Vec::new();
    for t in &plan.tasks {
        for m in &plan.methods {
            for seed in 0..plan.seeds {
                jobs.push((t.clone(), m.clone(), seed));
            }
        }
    }
    // The stored runs: reused when asked, and kept beside the plan's when the file is written.
    // A file that is there but unreadable stops the run: it would be overwritten otherwise.
    let stored = tuneforge_bench::multifidelity::read_stored(results).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    let mut reused = Vec::new();
    if plan.reuse_results {
        reused = stored
            .lines()
            .filter_map(|l| serde_json::from_str::<Run>(l).ok())
            .filter(|r| {
                jobs.iter()
                    .any(|(t, m, s)| *t == r.task && *m == r.method && *s == r.seed)
            })
            .collect();
        jobs.retain(|(t, m, s)| {
            !reused
                .iter()
                .any(|r: &Run| r.task == *t && r.method == *m && r.seed == *s)
        });
        eprintln!("reusing {} runs from {}", reused.len(), results.display());
    }
    let total = jobs.len();
    let already = reused.len();
    let queue = Mutex::new(jobs);
    let done: Mutex<Vec<Run>> = Mutex::new(reused);
    let failed: Mutex<Vec<String>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..plan.threads.max(1) {
            s.spawn(|| {
                loop {
                    let Some((t, m, seed)) = queue.lock().unwrap_or_else(|p| p.into_inner()).pop()
                    else {
                        return;
                    };
                    match run_one(&t, &m, seed) {
                        Ok(r) => {
                            let mut d = done.lock().unwrap_or_else(|p| p.into_inner());
                            d.push(r);
                            let n = d.len() - already;
                            if n.is_multiple_of(100) || n == total || total < 200 {
                                eprintln!("{n}/{total} runs ({t} {m} {seed})");
                            }
                        }
                        Err(e) => failed
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(format!("{t} {m} {seed}: {e}")),
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap_or_else(|p| p.into_inner());
    if !failed.is_empty() {
        eprintln!("error: {} runs failed, e.g. {}", failed.len(), failed[0]);
        std::process::exit(1);
    }
    let mut runs = done.into_inner().unwrap_or_else(|p| p.into_inner());
    runs.sort_by(|a, b| (&a.task, &a.method, a.seed).cmp(&(&b.task, &b.method, b.seed)));
    if let Some(dir) = results.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let in_plan = |r: &Run| {
        plan.tasks.contains(&r.task) && plan.methods.contains(&r.method) && r.seed < plan.seeds
    };
    let text = tuneforge_bench::multifidelity::merge_runs(&stored, &runs, in_plan);
    if let Err(e) = std::fs::write(results, text) {
        eprintln!("warning: cannot write {}: {e}", results.display());
    }
    let mut peer_note = "none".to_string();
    if let Some(p) = peers {
        let (peer_runs, note) = load_peers::<Run>(p, |r| plan.tasks.contains(&r.task));
        runs.extend(peer_runs);
        peer_note = note;
    }
    (runs, peer_note)
}

/// The `methods` with their descriptions in `table`, as the section header lists them.
fn mf_described(table: &[(&str, &str)], methods: &[String]) -> String {
    table
        .iter()
        .filter(|(m, _)| methods.iter().any(|x| x == m))
        .map(|(m, d)| format!("`{m}` {d}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// `plan`'s runs on the FCNet tables in `data_dir` (smaller widths as the fidelity, training
/// time as the cost), written to `out` as section `mf-fcnet`.
fn mf_fcnet_cmd(
    data_dir: &std::path::Path,
    mut plan: MfPlan,
    peers: Option<PathBuf>,
    results: PathBuf,
    out: PathBuf,
) {
    use tuneforge_bench::fcnet_width::{self, METHODS, UNITS_PER_TRAINING, WidthFcnet};
    use tuneforge_bench::multifidelity::Run;
    let names: Vec<&str> = METHODS.iter().map(|(m, _)| *m).collect();
    if plan.methods.is_empty() {
        plan.methods = names.iter().map(|m| m.to_string()).collect();
    }
    if let Some(m) = plan.methods.iter().find(|m| !names.contains(&m.as_str())) {
        eprintln!("error: unknown method '{m}' (known: {})", names.join(", "));
        std::process::exit(1);
    }
    let mut tables = Vec::new();
    for t in &plan.tasks {
        let path = data_dir.join(format!("fcnet_{t}.csv.gz"));
        match WidthFcnet::load(&path) {
            Ok(fc) => tables.push((t.clone(), fc)),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
    let run_one = |t: &str, m: &str, seed: u64| -> Result<Run, String> {
        let (_, fc) = tables
            .iter()
            .find(|(name, _)| name == t)
            .ok_or_else(|| format!("no table for {t}"))?;
        fcnet_width::run(fc, t, m, seed, plan.budget_configs)
    };
    let (runs, peer_note) = mf_runs(&run_one, &plan, peers.as_deref(), &results);
    let described = mf_described(&METHODS, &plan.methods);
    let mean_times = tables
        .iter()
        .map(|(t, fc)| format!("{t} {:.0} s", fc.mean_full_time_ms() as f64 / 1000.0))
        .collect::<Vec<_>>()
        .join(", ");
    let header = format!(
        "## Multi-fidelity on FCNet, training time as the cost\n\nCommand: `{}`  \nMachine: {}. \
         Datasets: {} (Klein & Hutter 2019's tables: every configuration trained for real, 4 \
         seeds; the objective is the mean validation MSE, shown negated so that higher is \
         better), seeds: {}. The cost of a run is the measured training time of what it \
         evaluated (mean over the 4 seeds), counted in the table's mean training time of a \
         configuration ({mean_times}); budget per run: {} of them. The tables hold only results \
         after full training, so the cheap fidelity is a smaller model: at budget b of R = {} \
         (η = {}) both hidden layers get the configuration's units divided by R/b (at least 16), \
         and the evaluation costs that network's training time. A wider network cannot \
         continue a narrower one, so every evaluation pays its whole training time, a \
         promotion's too (as DEHB and SMAC3 do for every fidelity). Narrowing saves little \
         time here, since batch size, not width, sets most of it. Peers: {peer_note}. \
         tuneforge methods: {described}.\n",
        command_line(),
        machine(),
        plan.tasks.join(", "),
        plan.seeds,
        plan.budget_configs,
        fcnet_width::R,
        fcnet_width::ETA,
    );
    write_mf_section_or_exit(
        &out,
        "mf-fcnet",
        &runs,
        plan.budget_configs * UNITS_PER_TRAINING,
        &fcnet_width::units(plan.budget_configs),
        &names,
        &header,
    );
    eprintln!("wrote {}", out.display());
}

/// `plan`'s runs on the LCBench surrogate in `data`, written to `out` as section `section`
/// titled `title`.
#[cfg(feature = "lcbench")]
fn mf_cmd(
    mut plan: MfPlan,
    data: PathBuf,
    peers: Option<PathBuf>,
    results: PathBuf,
    out: PathBuf,
    section: String,
    title: String,
) {
    use tuneforge_bench::lcbench::{Curves, EPOCHS, Surrogate, TASKS};
    use tuneforge_bench::multifidelity::{self, METHODS};
    let surrogate = match Surrogate::load(&data) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if plan.tasks.is_empty() {
        plan.tasks = TASKS.iter().map(|t| t.to_string()).collect();
    }
    if plan.methods.is_empty() {
        plan.methods = METHODS.iter().map(|(m, _)| m.to_string()).collect();
    }
    let (seeds, budget_configs) = (plan.seeds, plan.budget_configs);
    let budget = budget_configs * EPOCHS as u64;
    let curves = Curves(&surrogate);
    let (runs, peer_note) = mf_runs(
        &|t, m, seed| multifidelity::run(&curves, t, m, seed, budget),
        &plan,
        peers.as_deref(),
        &results,
    );
    let ours: Vec<&str> = METHODS.iter().map(|(m, _)| *m).collect();
    let header = format!(
        "## {title}\n\nCommand: `{}`  \nMachine: {}. Tasks: {}, seeds: {seeds}, \
         budget per run: {budget} epochs ({budget_configs} full trainings of 52 epochs). Learning \
         curves: the YAHPO Gym LCBench surrogate (validation accuracy per epoch). The cost of a \
         run is the epochs it trained; a promoted trial continues its own curve. Peers: \
         {peer_note} (DEHB and SMAC train each fidelity from scratch, so a promotion costs its \
         whole fidelity). tuneforge methods (R = 52): {}.\n",
        command_line(),
        machine(),
        plan.tasks.len(),
        mf_described(&METHODS, &plan.methods)
    );
    write_mf_section_or_exit(
        &out,
        &section,
        &runs,
        budget,
        &multifidelity::Units::epochs(EPOCHS as u64, budget),
        &ours,
        &header,
    );
    eprintln!("wrote {}", out.display());
}

fn mf_train_cmd(
    train: &MfTrainArgs,
    mut plan: MfPlan,
    peers: Option<PathBuf>,
    results: PathBuf,
    out: PathBuf,
) {
    use tuneforge_bench::multifidelity::{self, METHODS};
    if plan.methods.is_empty() {
        plan.methods = [
            "random",
            "tpe",
            "median",
            "asha",
            "hyperband",
            "bohb",
            "bohb-asha",
            "bohb-promote-hb",
            "bohb-promote-hb-first",
            "bohb-paper-hb",
            "bohb-paper-hb-lead",
            "bohb-paper-hb-lead-nobottom",
            "bohb-sync",
        ]
        .map(String::from)
        .to_vec();
    }
    let source = train.load();
    let r = train.epochs as u64;
    let budget = plan.budget_configs * r;
    let (runs, peer_note) = mf_runs(
        &|t, m, seed| multifidelity::run(&source, t, m, seed, budget),
        &plan,
        peers.as_deref(),
        &results,
    );
    let ours: Vec<&str> = METHODS.iter().map(|(m, _)| *m).collect();
    let seconds: Vec<String> = plan
        .methods
        .iter()
        .filter_map(|m| {
            let mut t: Vec<f64> = runs
                .iter()
                .filter(|x| x.method == *m)
                .filter_map(|x| x.seconds)
                .collect();
            t.sort_by(f64::total_cmp);
            t.get(t.len() / 2).map(|s| format!("{m} {s:.0} s"))
        })
        .collect();
    let header = format!(
        "## Multi-fidelity with real training\n\nCommand: `{}`  \n\
         Machine: {}. Tasks: {} (an MLP trained here with burn on the first {} training images, \
         validated on {} images; SGD with momentum, cosine schedule over R = {r} epochs, batch \
         {}; 6 hyperparameters: learning rate, momentum, weight decay, units, layers, dropout). \
         Seeds: {}, budget per run: {budget} epochs ({} full trainings). The cost of a run is the \
         epochs it trained; every method, the peers included, trains the same networks (the \
         peers through `tuneforge-bench mf-train-serve`). Peers: {peer_note} (DEHB and SMAC \
         train each fidelity from scratch, so a promotion costs its whole fidelity; tuneforge's \
         promotion schedules keep each stopped network in memory and train it on). tuneforge \
         methods: {}. Median wall time per run here: {}.\n",
        command_line(),
        machine(),
        plan.tasks.join(", "),
        train.train_images,
        train.valid_images,
        train.batch_size,
        plan.seeds,
        plan.budget_configs,
        mf_described(&METHODS, &plan.methods),
        seconds.join(", ")
    );
    write_mf_section_or_exit(
        &out,
        "multifidelity-train",
        &runs,
        budget,
        &multifidelity::Units::epochs(r, budget),
        &ours,
        &header,
    );
    eprintln!("wrote {}", out.display());
}

fn mo_cmd(seeds: u64, budget: usize, samplers: Vec<String>, peers: Option<PathBuf>, out: PathBuf) {
    use tuneforge_bench::multiobjective::{self, PROBLEMS, Run};
    let mut jobs = Vec::new();
    for p in PROBLEMS {
        for s in &samplers {
            for seed in 0..seeds {
                jobs.push((p, s.clone(), seed));
            }
        }
    }
    let queue = Mutex::new(jobs);
    let runs: Mutex<Vec<Run>> = Mutex::new(Vec::new());
    let failed: Mutex<Option<String>> = Mutex::new(None);
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| {
                loop {
                    let Some((p, s, seed)) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop()
                    else {
                        return;
                    };
                    match multiobjective::run(p, &s, seed, budget) {
                        Ok(r) => runs.lock().unwrap_or_else(|e| e.into_inner()).push(r),
                        Err(e) => {
                            failed
                                .lock()
                                .unwrap_or_else(|x| x.into_inner())
                                .get_or_insert(e);
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().unwrap_or_else(|e| e.into_inner()) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
    let mut runs = runs.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut peer_note = "none".to_string();
    if let Some(p) = &peers {
        let (peer_runs, note) = load_peers::<Run>(p, |_| true);
        runs.extend(peer_runs);
        peer_note = note;
    }
    runs.sort_by(|a, b| (&a.problem, &a.sampler, a.seed).cmp(&(&b.problem, &b.sampler, b.seed)));
    let budgets: Vec<usize> = [100, 200, 400]
        .into_iter()
        .filter(|b| *b <= budget)
        .collect();
    let header = format!(
        "## Several objectives (ZDT)\n\nCommand: `{}`  \nMachine: {}. ZDT1, ZDT2, ZDT3 with 6 \
         variables, both objectives minimised; quality = hypervolume of the Pareto front of the \
         first N trials, reference point (1.1, 11); higher is better. Seeds: {seeds}. Peers: \
         {peer_note}.\n",
        command_line(),
        machine()
    );
    let section = multiobjective::section(&runs, &budgets, &header);
    write_section_or_exit(&out, "multiobjective", &section);
    eprintln!("wrote {}", out.display());
}

/// This command line as a reader would type it: `tuneforge-bench ARGS`.
fn importance_cmd(sizes: &[usize], python: &std::path::Path, out: &std::path::Path) {
    use tuneforge_bench::importance;
    let mut rows = Vec::new();
    for &n in sizes {
        match importance::run(n) {
            Ok(r) => rows.extend(r),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
    }
    let mut peers = "none".to_string();
    if python.as_os_str() != "none" {
        let dir = std::env::temp_dir().join(format!("tuneforge-importance-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let files: Vec<PathBuf> = sizes
            .iter()
            .map(|n| dir.join(format!("data-{n}.csv")))
            .collect();
        for (n, f) in sizes.iter().zip(&files) {
            if let Err(e) = importance::write_csv(f, *n) {
                eprintln!("error: cannot write {}: {e}", f.display());
                std::process::exit(1);
            }
        }
        eprintln!("running Optuna's evaluators (its fANOVA takes minutes at 10,000 trials)");
        let result = std::process::Command::new(python)
            .arg("bench/peers/importance.py")
            .args(&files)
            .output();
        let _ = std::fs::remove_dir_all(&dir);
        match result {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                rows.extend(
                    text.lines()
                        .filter_map(|l| serde_json::from_str::<importance::Timing>(l).ok()),
                );
                let v = std::process::Command::new(python)
                    .args([
                        "-c",
                        "import importlib.metadata as m; print('optuna', m.version('optuna'), '/ scikit-learn', m.version('scikit-learn'))",
                    ])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                    .unwrap_or_default();
                peers = v;
            }
            Ok(o) => {
                eprintln!(
                    "error: the peer script failed: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
                std::process::exit(1);
            }
            Err(e) => {
                eprintln!("error: cannot run {}: {e}", python.display());
                std::process::exit(1);
            }
        }
    }
    let header = format!(
        "## Parameter importance\n\nCommand: `{}`  \nMachine: {}. A study of N random trials over \
         10 parameters in [0, 1] minimising 5 x0 + 3 x1^2 + sin(6 x2) + 0.5 x0 x1 (x3..x9 do \
         nothing); the same data for every method. Peers: {peers}.\n",
        command_line(),
        machine()
    );
    write_section_or_exit(out, "importance", &importance::section(&rows, &header));
    eprintln!("wrote {}", out.display());
}

fn dashboard_cmd(
    sizes: &[usize],
    python: &std::path::Path,
    peer_sizes: &[usize],
    out: &std::path::Path,
) {
    use tuneforge_bench::dashboard;
    let mut rows = Vec::new();
    let mut peers = "none".to_string();
    for &n in sizes {
        eprintln!("tuneforge dashboard, {n} trials");
        match dashboard::run(n) {
            Ok(r) => rows.extend(r),
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(1);
            }
        }
        if python.as_os_str() == "none" || !peer_sizes.contains(&n) {
            continue;
        }
        eprintln!("optuna-dashboard, {n} trials");
        let result = std::process::Command::new(python)
            .arg("bench/peers/dashboard.py")
            .arg(n.to_string())
            .stderr(std::process::Stdio::inherit())
            .output();
        match result {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                for l in text.lines() {
                    if let Ok(r) = serde_json::from_str::<dashboard::Row>(l) {
                        eprintln!("  {}: page {:.3} s", r.case, r.page_s);
                        rows.push(r);
                    } else if let Some(v) = l.strip_prefix("versions: ") {
                        peers = v.to_string();
                    }
                }
            }
            Ok(o) => {
                eprintln!("error: the peer script failed ({})", o.status);
                std::process::exit(1);
            }
            Err(e) => {
                eprintln!("error: cannot run {}: {e}", python.display());
                std::process::exit(1);
            }
        }
    }
    let header = format!(
        "## Dashboard load\n\nCommand: `{}`  \nMachine: {}. A SQLite study of N trials (8 \
         parameters, 20 intermediate values each, one in five pruned); the time until every \
         request the study page makes on opening is answered, one after the other over HTTP on \
         127.0.0.1 (tuneforge: summary, history, learning curves, parameters, contour, \
         importance, rungs, first table page). *cold*: a freshly started server; *warm*: again, \
         nothing changed; *+100 trials*: after another process added 100 trials (the page's \
         change check, then every view). Peer: {peers}, serving the same kind of study from its \
         own SQLite storage (above 20,000 trials from Optuna's in-memory storage, since writing \
         them through its SQLite storage takes over 20 ms each here); its page loads every trial in one \
         request, then polls for the trials after those it has.\n",
        command_line(),
        machine()
    );
    write_section_or_exit(out, "dashboard", &dashboard::section(&rows, &header));
    eprintln!("wrote {}", out.display());
}

#[allow(clippy::too_many_arguments)]
fn nas_cmd(
    runs: u64,
    gp_runs: u64,
    budget: f64,
    methods: Vec<String>,
    data: &std::path::Path,
    peers: Option<PathBuf>,
    out: &std::path::Path,
    threads: usize,
) {
    use tuneforge_bench::nasbench;
    let table = match nasbench::Table::load(data) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let methods: Vec<String> = if methods.is_empty() {
        nasbench::METHODS
            .iter()
            .map(|(m, _)| m.to_string())
            .collect()
    } else {
        methods
    };
    let mut jobs = Vec::new();
    for m in &methods {
        let n = if m == "gp" { gp_runs.min(runs) } else { runs };
        jobs.extend((0..n).map(|seed| (m.clone(), seed)));
    }
    let start = std::time::Instant::now();
    let mut done = match nasbench::run_all(&table, &methods, &jobs, budget, threads) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let wall = start.elapsed().as_secs_f64();
    eprintln!("{} runs in {wall:.0} s", done.len());
    let mut peer_note = "none".to_string();
    if let Some(p) = &peers {
        let (peer_runs, note) = load_peers::<nasbench::Run>(p, |_| true);
        done.extend(peer_runs);
        peer_note = note;
    }
    let header = format!(
        "## NAS-Bench-201 (CIFAR-10), simulated searches\n\nCommand: `{}`  \nMachine: {}. \
         Protocol of Dong & Yang (ICLR 2020): each query returns a cell's 12-epoch validation \
         accuracy and charges 12/200 of its 200-epoch training time to a simulated clock; a run \
         stops at {budget:.0} s and is scored by the 200-epoch test accuracy of the cell it \
         returns. Runs per method: {runs} (GP-BO: {}). Wall time of tuneforge's runs: {wall:.0} s. \
         Peers: {peer_note}.\n",
        command_line(),
        machine(),
        gp_runs.min(runs),
    );
    let section = nasbench::section(&done, &table, budget, &header);
    write_section_or_exit(out, "nas-bench-201", &section);
    eprintln!("wrote {}", out.display());
}

fn command_line() -> String {
    // Arguments with spaces or quotes are single-quoted, so the line can be pasted back.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .map(|a| {
            if a.contains([' ', '\'', '"']) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect();
    format!("tuneforge-bench {}", args.join(" "))
}

/// Writes `section` into the Markdown file `out`, or exits saying why it could not.
/// Writes the multi-fidelity section `name` of `runs` into the Markdown file `out` and its
/// anytime figure beside it, at `figures/<name>.svg` (see [`tuneforge_bench::multifidelity::section`]).
fn write_mf_section_or_exit(
    out: &std::path::Path,
    name: &str,
    runs: &[tuneforge_bench::multifidelity::Run],
    budget: u64,
    units: &tuneforge_bench::multifidelity::Units,
    ours: &[&str],
    header: &str,
) {
    let figure = format!("figures/{name}.svg");
    let (text, svg) =
        tuneforge_bench::multifidelity::section(runs, budget, units, ours, header, Some(&figure));
    if let Some(svg) = svg {
        write_file_or_exit(
            &out.parent()
                .unwrap_or(std::path::Path::new("."))
                .join(&figure),
            svg,
        );
    }
    write_section_or_exit(out, name, &text);
}

/// Writes `contents` to `path`, creating its folder.
fn write_file_or_exit(path: &std::path::Path, contents: String) {
    let written = path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| std::fs::write(path, contents));
    if let Err(e) = written {
        eprintln!("error: cannot write {}: {e}", path.display());
        std::process::exit(1);
    }
}

fn write_section_or_exit(out: &std::path::Path, name: &str, section: &str) {
    if let Err(e) = report::write_section(out, name, section) {
        eprintln!("error: cannot write {}: {e}", out.display());
        std::process::exit(1);
    }
}

/// The peer runs (JSON lines) in `path` that `keep` accepts, and a note for the table header
/// naming the file and the peers' versions (from the `.versions.txt` beside it). Exits saying
/// why when the file cannot be read.
fn load_peers<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    keep: impl Fn(&T) -> bool,
) -> (Vec<T>, String) {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read peer results {}: {e}", path.display());
            std::process::exit(1);
        }
    };
    let runs: Vec<T> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<T>(l).ok())
        .filter(|r| keep(r))
        .collect();
    let versions = std::fs::read_to_string(path.with_extension("versions.txt")).unwrap_or_default();
    let note = format!(
        "{} runs from `{}` ({})",
        runs.len(),
        path.display(),
        versions.trim().replace('\n', ", ")
    );
    (runs, note)
}

#[allow(clippy::too_many_arguments)]
fn nas_train_cmd(
    spec: tuneforge_nas::pipeline::SearchSpec,
    methods: Vec<String>,
    seeds: u64,
    python: &std::path::Path,
    results: &std::path::Path,
    (kendall, kendall_epochs, full_darts): (usize, usize, bool),
    report_only: bool,
    out: &std::path::Path,
) {
    use tuneforge_bench::nastrain::{self, NasRun};
    use tuneforge_nas::pipeline::Method;
    let fail = |e: &dyn std::fmt::Display| -> ! {
        eprintln!("error: {e}");
        std::process::exit(1)
    };
    // `darts-noguard`: DARTS without the DARTS+ skip guard, to show what the guard does.
    let methods: Vec<(Method, Option<&str>)> = if methods.is_empty() {
        let mut all: Vec<(Method, Option<&str>)> = nastrain::all_methods()
            .into_iter()
            .map(|m| (m, None))
            .collect();
        all.push((Method::Darts, Some("darts-noguard")));
        all
    } else {
        methods
            .iter()
            .map(|m| match m.as_str() {
                "darts-noguard" => (Method::Darts, Some("darts-noguard")),
                m => (Method::parse(m).unwrap_or_else(|e| fail(&e)), None),
            })
            .collect()
    };
    let append = |value: &serde_json::Value| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(results)
            .unwrap_or_else(|e| fail(&e));
        writeln!(f, "{value}").unwrap_or_else(|e| fail(&e));
    };
    let splits = tuneforge_nas::pipeline::load_data(&spec).unwrap_or_else(|e| fail(&e));
    let (tr, va, te) = (splits.train.len(), splits.valid.len(), splits.test.len());
    if !report_only {
        if let Some(dir) = results.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        for &(method, label) in &methods {
            for seed in 0..seeds {
                eprintln!("{} seed {seed}", label.unwrap_or(method.name()));
                let spec = tuneforge_nas::pipeline::SearchSpec {
                    method,
                    seed,
                    max_skips: if label.is_some() {
                        None
                    } else {
                        spec.max_skips
                    },
                    ..spec.clone()
                };
                let run = nastrain::run_one(&spec, &splits, label).unwrap_or_else(|e| fail(&e));
                append(&serde_json::to_value(&run).unwrap_or_else(|e| fail(&e)));
            }
        }
        if kendall > 1 {
            eprintln!("one-shot rank correlation over {kendall} cells");
            let epochs = if kendall_epochs > 0 {
                kendall_epochs
            } else {
                spec.search_epochs
            };
            let (tau, pairs) = nastrain::one_shot_rank_correlation(&spec, &splits, kendall, epochs)
                .unwrap_or_else(|e| fail(&e));
            append(&serde_json::json!({
                "kind": "kendall", "tau": tau, "pairs": pairs, "supernet_epochs": epochs
            }));
        }
        if full_darts {
            let full = tuneforge_nas::pipeline::SearchSpec {
                method: Method::Darts,
                limits: None,
                ..spec.clone()
            };
            let all = tuneforge_nas::pipeline::load_data(&full).unwrap_or_else(|e| fail(&e));
            eprintln!(
                "DARTS on the whole training split ({} images)",
                all.train.len()
            );
            let run =
                nastrain::run_one(&full, &all, Some("darts-full")).unwrap_or_else(|e| fail(&e));
            let mut v = serde_json::to_value(&run).unwrap_or_else(|e| fail(&e));
            v["kind"] = "full-darts".into();
            v["train_images"] = all.train.len().into();
            append(&v);
        }
        // Throughput: one fixed cell, tuneforge and PyTorch in the same run.
        let cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|";
        let space = tuneforge::nas::CellSpace::nas_bench_201();
        let arch =
            tuneforge::nas::ArchitectureSpace::parse(&space, cell).unwrap_or_else(|e| fail(&e));
        let dir = std::env::temp_dir().join(format!("tuneforge-torch-{}", std::process::id()));
        let net = tuneforge_nas::supernet::CellNet::standalone(
            &space,
            &arch,
            &spec.net,
            &tuneforge_nas::train::train_device(),
        )
        .unwrap_or_else(|e| fail(&e));
        tuneforge_nas::export::export(&dir, &space, &arch, &net, serde_json::json!({}))
            .unwrap_or_else(|e| fail(&e));
        // The two are timed alternately, three rounds each, and the medians compared: this
        // machine's speed drifts over minutes.
        let (mut ours_all, mut torch_all) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            ours_all.push(
                nastrain::step_seconds(cell, &spec.net, &splits, 64, 5, 30)
                    .unwrap_or_else(|e| fail(&e)),
            );
            if python.exists()
                && let Some(t) = nastrain::torch_step_seconds(
                    python,
                    std::path::Path::new("bench/peers/torch_step.py"),
                    &dir,
                    30,
                )
            {
                torch_all.push(t);
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            (!v.is_empty()).then(|| v[v.len() / 2])
        };
        let ours = median(&mut ours_all).unwrap_or(f64::NAN);
        let torch = median(&mut torch_all);
        let _ = std::fs::remove_dir_all(&dir);
        append(
            &serde_json::json!({"kind": "throughput", "cell": cell, "ours": ours, "torch": torch}),
        );
    }
    let text = std::fs::read_to_string(results).unwrap_or_default();
    let runs: Vec<NasRun> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let extras: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("kind").is_some())
        .collect();
    let last = |kind: &str| extras.iter().rev().find(|v| v["kind"] == kind).cloned();
    let throughput_doc = last("throughput");
    let throughput = throughput_doc.as_ref().and_then(|v| {
        Some((
            v["cell"].as_str()?,
            v["ours"].as_f64()?,
            v["torch"].as_f64(),
        ))
    });
    let kendall_doc = last("kendall");
    let full_doc = last("full-darts");
    let setup = format!(
        "Fashion-MNIST, fixed splits cut to {tr} training, {va} validation and {te} test images; \
         network: {} channels, {} cell per stage, {} stages; search {} epochs (DARTS and GDAS split \
         the training images in halves for weights and α); evolution, rl and random train {} \
         candidates for {} epoch each; every found cell is retrained from scratch for {} epochs \
         (AdamW, lr {}, cosine, batch {}). Validation accuracy selects, test accuracy is reported \
         once. This 2-core machine, burn's CPU backend with tuneforge's own convolution, batch \
         norm and 3x3 average pooling (`tuneforge_nas::cpuconv`, `cpubatchnorm`, `cpupool`).",
        spec.net.channels,
        spec.net.cells_per_stage,
        spec.net.stages,
        spec.search_epochs,
        spec.budget,
        spec.candidate_epochs,
        spec.retrain.epochs,
        spec.retrain.lr,
        spec.retrain.batch_size,
    );
    let command = format!(
        "tuneforge-bench nas-train --seeds {seeds} --train-images {tr} --valid-images {va} --test-images {te} --search-epochs {} --epochs {} --budget {}",
        spec.search_epochs, spec.retrain.epochs, spec.budget
    );
    let mut body = nastrain::section(&command, &setup, &runs, throughput);
    if let Some(k) = kendall_doc {
        body.push_str(&nastrain::kendall_section(&k));
    }
    if let Some(f) = full_doc {
        body.push_str(&format!(
            "\nThe full DARTS search on all {} Fashion-MNIST training images ({} epochs, same network): \
             search {:.0} s ({:.1} min), retraining {:.0} s, test accuracy {:.4}, cell `{}`.\n",
            f["train_images"],
            spec.search_epochs,
            f["search_seconds"].as_f64().unwrap_or(f64::NAN),
            f["search_seconds"].as_f64().unwrap_or(f64::NAN) / 60.0,
            f["retrain_seconds"].as_f64().unwrap_or(f64::NAN),
            f["test_accuracy"].as_f64().unwrap_or(f64::NAN),
            f["cell"].as_str().unwrap_or("")
        ));
    }
    print!("{body}");
    report::write_section(out, "nas-train", &body).unwrap_or_else(|e| fail(&e));
}

fn nas_scale_cmd(
    spec: tuneforge_nas::pipeline::SearchSpec,
    max_phi: usize,
    epochs: usize,
    latency_samples: usize,
    out: &std::path::Path,
) {
    use tuneforge_nas::latency::{LookupTable, evaluate_predictor};
    use tuneforge_nas::scaling::{Baseline, compound_study, grid};
    let fail = |e: &dyn std::fmt::Display| -> ! {
        eprintln!("error: {e}");
        std::process::exit(1)
    };
    let splits = tuneforge_nas::pipeline::load_data(&spec).unwrap_or_else(|e| fail(&e));
    let base = Baseline::default();
    let points = grid(0.1, 0.05);
    let recipe = tuneforge_nas::train::TrainConfig {
        epochs,
        ..Default::default()
    };
    let (grid_rows, rows) = compound_study(&base, &points, max_phi, &splits, &recipe, |r| {
        eprintln!(
            "{} phi {} a {:.2} b {:.2} g {:.2}: {:.3} MMACs, valid {:.4}, test {:.4}",
            r.family,
            r.phi,
            r.coefficients.alpha,
            r.coefficients.beta,
            r.coefficients.gamma,
            r.macs as f64 / 1e6,
            r.valid_accuracy,
            r.test_accuracy
        )
    })
    .unwrap_or_else(|e| fail(&e));
    let best = grid_rows
        .iter()
        .max_by(|a, b| a.valid_accuracy.total_cmp(&b.valid_accuracy))
        .unwrap_or_else(|| fail(&"empty grid"));
    let (tr, va, te) = (splits.train.len(), splits.valid.len(), splits.test.len());
    let mut s = format!(
        "## Compound scaling and measured latency\n\n`tuneforge-bench nas-scale --train-images {tr} --valid-images {va} --test-images {te} --max-phi {max_phi} --epochs {epochs} --latency-samples {latency_samples}`\n\n\
         Baseline ConvNet: {} block per stage, {} channels, {}x{} input (Fashion-MNIST resized), 3 stages; \
         every network trained {epochs} epochs with the shared recipe on {tr} images, {va} for validation, \
         test accuracy on {te}. Grid search at φ = 1 over α, β, γ in 1.0..2.0 by 0.1 with α·β²·γ² within 5 % of 2: \
         {} points; best by validation accuracy α = {:.1}, β = {:.1}, γ = {:.1} (α·β²·γ² = {:.3}).\n\n",
        base.depth,
        base.width,
        base.resolution,
        base.resolution,
        grid_rows.len(),
        best.coefficients.alpha,
        best.coefficients.beta,
        best.coefficients.gamma,
        best.coefficients.flops_factor()
    );
    s.push_str(&tuneforge_nas::scaling::markdown_table(&rows));
    // Latency: lookup table against measurement over random cells, batch 1 and 64.
    let space = tuneforge::nas::CellSpace::nas_bench_201();
    let config = tuneforge_nas::supernet::NetConfig::default();
    s.push_str(&format!(
        "\nLatency of cell networks ({} channels, 28x28 input) on this machine: the per-operator lookup \
         table's prediction against measurement (3 warm-up runs, median of 15) over {latency_samples} random cells.\n\n\
         | batch | table entries | within ±10 % | mean relative error | measured ms (min..max) |\n|---:|---:|---:|---:|---|\n",
        config.channels
    ));
    for batch in [1usize, 64] {
        let table =
            LookupTable::measure(&space, &config, 28, batch, 3, 15).unwrap_or_else(|e| fail(&e));
        let err = evaluate_predictor(&space, &table, latency_samples, 0, 3, 15, |_, _, _| Ok(()))
            .unwrap_or_else(|e| fail(&e));
        let (lo, hi) = err
            .samples
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), x| (lo.min(x.1), hi.max(x.1)));
        s.push_str(&format!(
            "| {batch} | {} | {:.0} % | {:.1} % | {lo:.2}..{hi:.2} |\n",
            table.entries.len(),
            100.0 * err.within(0.1),
            100.0 * err.mean_relative_error()
        ));
    }
    print!("{s}");
    report::write_section(out, "nas-scale", &s).unwrap_or_else(|e| fail(&e));
}
