//! `tuneforge run STUDY.toml`: runs the study's command for each trial, several at a time, with a
//! progress bar; Ctrl-C stops running trials cleanly and a later run resumes.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tuneforge::runner::{CommandRunner, RunOptions};
use tuneforge::studyfile::StudyFile;
use tuneforge::{Error, FrozenTrial, Result, Study, TrialState, attrs};

use crate::resolve;

/// Options of `tuneforge run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The study file (TOML or JSON).
    pub study_file: PathBuf,
    /// Total trials for the study (overrides the file's `trials`).
    #[arg(long)]
    pub trials: Option<u64>,
    /// Trials run in parallel (overrides the file's `jobs`).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Stop starting trials after this many seconds (overrides the file's `timeout`).
    #[arg(long)]
    pub timeout: Option<f64>,
    /// Print only the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The trials that count towards the study's budget: finished ones, except those stopped by an
/// interruption (their configuration is re-run on resume).
fn counts(t: &FrozenTrial) -> bool {
    match t.state {
        TrialState::Complete | TrialState::Pruned | TrialState::Running => true,
        TrialState::Failed => !interrupted(t),
        TrialState::Waiting => false,
    }
}

fn interrupted(t: &FrozenTrial) -> bool {
    t.system_attrs
        .get(attrs::INTERRUPTED)
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

pub fn run(args: RunArgs, storage_flag: Option<&str>) -> Result<u8> {
    let file = StudyFile::load(&args.study_file)?;
    let Some(command) = file.command.clone() else {
        return Err(Error::StudyFile {
            path: file.path.clone(),
            message: "it has no [command] to run; add one, or drive the study with \
                      `tuneforge ask` and `tuneforge tell`"
                .into(),
        });
    };
    let url = storage_flag
        .map(str::to_string)
        .unwrap_or_else(|| file.storage_url());
    let storage = resolve::open(&url, false)?;
    let (study, created) = resolve::open_study(&file, storage)?;
    let recovered = recover_dead_local_trials(&study)?;

    let target = args.trials.or(file.trials);
    let jobs = args.jobs.unwrap_or(file.jobs).max(1);
    let timeout = args.timeout.or(file.timeout_s);
    let view = study.view()?;
    let done_before = view.trials.iter().filter(|t| counts(t)).count() as u64;
    let quiet = args.quiet;
    if !quiet {
        let what = if created {
            "created".to_string()
        } else {
            format!("resuming ({done_before} trials done)")
        };
        eprintln!(
            "study '{}' {what} · {} · sampler {} · {} job(s) · storage {}",
            file.name,
            match target {
                Some(t) => format!("{t} trials"),
                None => "no trial limit".into(),
            },
            file.sampler.as_str(),
            jobs,
            tuneforge::storage::redact(&url)
        );
        if recovered > 0 {
            eprintln!(
                "{recovered} trial(s) left running by a dead process were failed and re-enqueued"
            );
        }
    }
    if target.is_some_and(|t| done_before >= t) {
        eprintln!(
            "study '{}' already has {done_before} of {} trials; raise `trials` (or pass --trials) to run more",
            file.name,
            target.unwrap_or(0)
        );
        print_best(&study, &file)?;
        return Ok(0);
    }

    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        let hits = AtomicBool::new(false);
        let _ = ctrlc::set_handler(move || {
            if hits.swap(true, Ordering::SeqCst) {
                eprintln!("\nsecond interrupt: exiting now");
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: stopping running trials (press Ctrl-C again to exit at once)");
            stop.store(true, Ordering::SeqCst);
        });
    }

    let runner = CommandRunner::new(
        command,
        file.space.clone(),
        RunOptions {
            metrics: file.metrics.clone(),
        },
    );
    let bar = progress_bar(target, done_before, quiet);
    let gate = Mutex::new(());
    let exhausted = AtomicBool::new(false);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let deadline = timeout.map(|t| Instant::now() + Duration::from_secs_f64(t));
    let metric_names = file.metrics.clone();

    let job = || {
        loop {
            if stop.load(Ordering::SeqCst)
                || exhausted.load(Ordering::SeqCst)
                || deadline.is_some_and(|d| Instant::now() >= d)
            {
                return;
            }
            let trial = {
                let _g = gate.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(t) = target {
                    match study.view() {
                        Ok(v) if v.trials.iter().filter(|t| counts(t)).count() as u64 >= t => {
                            return;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            set_failure(&failure, &stop, e);
                            return;
                        }
                    }
                }
                match study.ask() {
                    Ok(t) => t,
                    Err(Error::Exhausted) => {
                        exhausted.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(e) => {
                        set_failure(&failure, &stop, e);
                        return;
                    }
                }
            };
            match runner.run(&study, trial, &stop) {
                Ok(done) => report_trial(&study, &done, &metric_names, &bar, quiet),
                Err(e) => {
                    set_failure(&failure, &stop, e);
                    return;
                }
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(job);
        }
    });
    bar.finish_and_clear();

    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let view = study.view()?;
    let mine: Vec<&FrozenTrial> = view.trials.iter().map(|t| t.as_ref()).collect();
    let n = |s: TrialState| mine.iter().filter(|t| t.state == s).count();
    let interrupted_now = stop.load(Ordering::SeqCst);
    eprintln!(
        "{} trials: {} complete, {} pruned, {} failed{}",
        mine.iter().filter(|t| t.state.is_finished()).count(),
        n(TrialState::Complete),
        n(TrialState::Pruned),
        n(TrialState::Failed),
        if exhausted.load(Ordering::SeqCst) {
            " · the grid is exhausted"
        } else {
            ""
        }
    );
    print_best(&study, &file)?;
    if interrupted_now {
        eprintln!(
            "interrupted: run `tuneforge run {}` again to continue where it stopped",
            args.study_file.display()
        );
        return Ok(130);
    }
    if n(TrialState::Complete) == 0
        && let Some(f) = mine.iter().find(|t| t.state == TrialState::Failed)
    {
        eprintln!(
            "error: no trial completed; trial {} failed because {}",
            f.number,
            f.message.as_deref().unwrap_or("of an unknown reason")
        );
        return Ok(1);
    }
    Ok(0)
}

fn set_failure(slot: &Mutex<Option<Error>>, stop: &AtomicBool, e: Error) {
    slot.lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert(e);
    stop.store(true, Ordering::SeqCst);
}

/// Fails trials that a dead process on this machine left running (their worker's pid is gone),
/// and re-enqueues their configurations. Trials started by `ask` are left alone: their result
/// comes later from `tell`.
fn recover_dead_local_trials(study: &Study) -> Result<usize> {
    let host = tuneforge::env::hostname();
    let mut n = 0;
    for t in study.view()?.trials.iter() {
        if t.state != TrialState::Running || t.system_attrs.contains_key("ask") {
            continue;
        }
        let Some((h, pid)) = t.worker.as_deref().and_then(|w| w.rsplit_once(':')) else {
            continue;
        };
        let Ok(pid) = pid.parse::<u32>() else {
            continue;
        };
        if h != host || tuneforge::env::process_alive(pid) {
            continue;
        }
        let storage = study.storage();
        storage.set_system_attr(t.id, attrs::INTERRUPTED, &true.into())?;
        match storage.finish(
            t.id,
            TrialState::Failed,
            None,
            Some(&format!(
                "its worker process ({pid}) ended while it ran; the configuration was re-enqueued"
            )),
        ) {
            Ok(_) => {}
            // Someone else recovered it first.
            Err(Error::TrialFinished(_)) => continue,
            Err(e) => return Err(e),
        }
        if study.requeue(t, Default::default())?.is_some() {
            n += 1;
        }
    }
    Ok(n)
}

fn progress_bar(target: Option<u64>, done: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match target {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::no_length(),
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} trials · {msg} · {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(done);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn report_trial(
    study: &Study,
    t: &FrozenTrial,
    metrics: &[String],
    bar: &ProgressBar,
    quiet: bool,
) {
    let Ok(view) = study.view() else { return };
    let count = |s: TrialState| view.trials.iter().filter(|t| t.state == s).count();
    let best = tuneforge::study::best_trials_of(&view);
    let best_text = match (best.first(), metrics.len()) {
        (Some(b), 1) => format!(
            "best {} (#{})",
            fmt_value(b.value().unwrap_or(f64::NAN)),
            b.number
        ),
        (Some(_), _) => format!("{} on the Pareto front", best.len()),
        (None, _) => "no complete trial yet".to_string(),
    };
    bar.set_position(
        view.trials
            .iter()
            .filter(|t| counts(t) && t.state != TrialState::Running)
            .count() as u64,
    );
    bar.set_message(format!(
        "running {} · failed {} · {best_text}",
        count(TrialState::Running),
        count(TrialState::Failed)
    ));
    if quiet {
        return;
    }
    let what = match t.state {
        TrialState::Complete => metrics
            .iter()
            .zip(t.values.iter().flatten())
            .map(|(m, v)| format!("{m}={}", fmt_value(*v)))
            .collect::<Vec<_>>()
            .join(" "),
        _ => t.message.clone().unwrap_or_default(),
    };
    let secs = t
        .duration_s()
        .map(|d| format!(" · {d:.1}s"))
        .unwrap_or_default();
    let line = format!(
        "trial {:>3} {:<8} {what}{secs} · {best_text}",
        t.number,
        t.state.as_str()
    );
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

pub fn fmt_value(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-3) {
        format!("{v:.4e}")
    } else {
        format!("{v:.4}")
    }
}

fn print_best(study: &Study, file: &StudyFile) -> Result<()> {
    let best = study.best_trials()?;
    if best.is_empty() {
        return Ok(());
    }
    if file.directions.len() == 1 {
        let b = &best[0];
        println!(
            "best trial {}: {} = {}",
            b.number,
            file.metrics[0],
            fmt_value(b.value().unwrap_or(f64::NAN))
        );
        for (k, v) in &b.params {
            println!("  {k} = {v}");
        }
    } else {
        println!("Pareto set: {} trial(s)", best.len());
        for b in &best {
            let vals: Vec<String> = file
                .metrics
                .iter()
                .zip(b.values.iter().flatten())
                .map(|(m, v)| format!("{m}={}", fmt_value(*v)))
                .collect();
            println!("  trial {}: {}", b.number, vals.join(" "));
        }
    }
    Ok(())
}
