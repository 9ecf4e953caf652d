//! The `tuneforge` command: runs studies declared in study files, shows and exports their trials,
//! and lets any program drive a study one trial at a time with `ask` and `tell`.

mod asktell;
mod manage;
#[cfg(feature = "train")]
mod nas;
mod resolve;
mod run;
mod show;
mod table;
mod tensorboard;
mod view;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "tuneforge",
    version,
    about = "Finds good hyperparameters: runs trials of any program, records everything, returns the best."
)]
struct Cli {
    /// Storage URL: sqlite://PATH (default: tuneforge.db beside the study file, or in the
    /// current directory when a study is named), postgres://user:password@host/database, or
    /// memory://.
    #[arg(long, global = true, env = "TUNEFORGE_STORAGE")]
    storage: Option<String>,

    #[command(subcommand)]
    command: Cmd,
}

// Parsed once per process; boxing the large variants would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Cmd {
    /// Runs (or resumes) the study declared in a study file.
    Run(run::RunArgs),
    /// Creates the study of a study file (and enqueues its baselines) without running trials,
    /// for workers to join.
    Create {
        /// The study file (TOML or JSON).
        study_file: PathBuf,
    },
    /// Joins a study as one more worker: pulls its trials from the storage and runs them.
    /// Start any number, on any machines that reach the storage (e.g. PostgreSQL).
    Worker(run::WorkerArgs),
    /// Lists the studies in the storage.
    Studies,
    /// Shows the trials of a study as a table.
    Trials {
        /// Study file or study name.
        study: String,
    },
    /// Shows the best trial (or the Pareto set for several objectives).
    Best {
        /// Study file or study name.
        study: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Exports every trial, one row per trial.
    Export {
        /// Study file or study name.
        study: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: show::ExportFormat,
        /// Output file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Starts a trial and prints its parameters as JSON (for scripts driving a study).
    Ask {
        /// Study file (or the name of a study created from one).
        study: String,
    },
    /// Finishes a trial started with `ask`, reading its result from options or JSON.
    Tell(asktell::TellArgs),
    /// How much each parameter matters: fANOVA (variance explained, with marginal curves) or
    /// PED-ANOVA.
    Importance {
        /// Study file or study name.
        study: String,
        /// fanova or ped-anova.
        #[arg(long, default_value = "fanova")]
        method: String,
        /// Objective (name or index) for several objectives; default the first.
        #[arg(long)]
        objective: Option<String>,
        /// Also print each parameter's marginal curve (fANOVA).
        #[arg(long)]
        marginals: bool,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Shows the environments a study's trials ran in (machine, versions, git state), and
    /// warns when there are several.
    Env {
        /// Study file or study name.
        study: String,
    },
    /// Compares two studies: best values, best configurations, environments.
    Compare {
        /// First study (file or name).
        a: String,
        /// Second study (file or name).
        b: String,
    },
    /// Re-runs the best configurations with new seeds and reports mean, standard deviation and
    /// rank stability; flags results that swing with the seed.
    Reevaluate(run::ReevaluateArgs),
    /// Creates a study from a JSON export (`tuneforge export STUDY --format json`).
    Import {
        /// The export file.
        file: PathBuf,
        /// Name of the new study (default: the exported study's).
        #[arg(long)]
        name: Option<String>,
    },
    /// Serves a live web dashboard of the storage's studies (read-only): history, learning
    /// curves, parallel coordinates, slices, contour, importance, Pareto front, rungs, trials.
    Dashboard {
        /// Address to listen on. Anything but a loopback address needs an access token
        /// (--token, or one is generated and printed).
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port (0: any free port).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Access token required from browsers and API clients.
        #[arg(long, env = "TUNEFORGE_DASHBOARD_TOKEN")]
        token: Option<String>,
    },
    /// Writes one self-contained HTML file showing a study as the dashboard does.
    Report {
        /// Study file or study name.
        study: String,
        /// Output file.
        #[arg(short, long, default_value = "report.html")]
        output: PathBuf,
    },
    /// Draws a figure of a study as PNG or SVG (by the file's extension).
    Plot {
        /// Study file or study name.
        study: String,
        /// history, importance, parallel or pareto.
        #[arg(long, default_value = "history")]
        kind: String,
        /// Output file (.png or .svg).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Architecture search that trains real networks (DARTS, GDAS, SPOS, ENAS, evolution, RL).
    #[cfg(feature = "train")]
    #[command(subcommand)]
    Nas(nas::NasCmd),
    /// Shows the captured output (stdout, stderr) of one trial.
    Logs {
        /// Study file or study name.
        study: String,
        /// Trial number.
        trial: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let storage = cli.storage.as_deref();
    if matches!(
        cli.command,
        Cmd::Studies
            | Cmd::Trials { .. }
            | Cmd::Best { .. }
            | Cmd::Export { .. }
            | Cmd::Importance { .. }
            | Cmd::Logs { .. }
            | Cmd::Env { .. }
            | Cmd::Compare { .. }
            | Cmd::Report { .. }
            | Cmd::Plot { .. }
    ) {
        // Read-only commands end quietly when their reader goes away (`| head`).
        // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    let result = match cli.command {
        Cmd::Run(args) => run::run(args, storage),
        Cmd::Worker(args) => run::worker(args, storage),
        Cmd::Create { study_file } => run::create(&study_file, storage),
        Cmd::Studies => show::studies(storage),
        Cmd::Trials { study } => show::trials(&study, storage),
        Cmd::Best { study, json } => show::best(&study, storage, json),
        Cmd::Export {
            study,
            format,
            output,
        } => show::export(&study, storage, format, output.as_deref()),
        Cmd::Ask { study } => asktell::ask(&study, storage),
        Cmd::Tell(args) => asktell::tell(args, storage),
        Cmd::Importance {
            study,
            method,
            objective,
            marginals,
            json,
        } => manage::importance(
            &study,
            storage,
            &method,
            objective.as_deref(),
            marginals,
            json,
        ),
        #[cfg(feature = "train")]
        Cmd::Nas(cmd) => nas::run(cmd, storage),
        Cmd::Logs { study, trial } => manage::logs(&study, trial, storage),
        Cmd::Env { study } => manage::env(&study, storage),
        Cmd::Import { file, name } => manage::import(&file, name.as_deref(), storage),
        Cmd::Reevaluate(args) => run::reevaluate(args, storage),
        Cmd::Compare { a, b } => manage::compare(&a, &b, storage),
        Cmd::Dashboard { host, port, token } => view::dashboard(&host, port, token, storage),
        Cmd::Report { study, output } => view::report(&study, &output, storage),
        Cmd::Plot {
            study,
            kind,
            output,
        } => view::plot(&study, &kind, &output, storage),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
