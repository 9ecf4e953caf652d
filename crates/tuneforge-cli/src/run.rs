//! `tuneforge run STUDY.toml`: runs the study's command for each trial, several at a time, with a
//! progress bar; Ctrl-C stops running trials cleanly and a later run resumes.

use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashSet;
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
    #[command(flatten)]
    pub budget: Budget,
    /// Start this many worker processes (each running `jobs` trials at a time) instead of
    /// running trials in this process.
    #[arg(long)]
    pub workers: Option<usize>,
}

/// Options of `tuneforge worker`.
#[derive(clap::Args)]
pub struct WorkerArgs {
    /// The name of the study (created earlier by `tuneforge run` or `tuneforge create`).
    #[arg(long)]
    pub study: String,
    #[command(flatten)]
    pub budget: Budget,
    /// Run at most this many trials in this worker, whatever the study's total.
    #[arg(long)]
    pub max_trials: Option<u64>,
    /// Directory the trial command runs in and trial directories go under (default: the
    /// study file's directory when it exists on this machine, else the current directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// How much to run, shared by `run` and `worker`.
#[derive(clap::Args, Clone, Default)]
pub struct Budget {
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

/// The trials that count towards the study's budget: finished ones, except failures whose
/// configuration was run again (after an interruption or a dead worker), and running ones.
fn counter(view: &tuneforge::sampler::StudyView) -> impl Fn(&FrozenTrial) -> bool {
    let rerun: HashSet<u64> = view
        .trials
        .iter()
        .filter_map(|t| t.system_attrs.get(attrs::RETRY_OF).and_then(|v| v.as_u64()))
        .collect();
    move |t: &FrozenTrial| match t.state {
        TrialState::Complete | TrialState::Pruned | TrialState::Running => true,
        TrialState::Failed => !rerun.contains(&t.number) && !interrupted(t),
        TrialState::Waiting => false,
    }
}

fn count(view: &tuneforge::sampler::StudyView) -> u64 {
    let c = counter(view);
    view.trials.iter().filter(|t| c(t)).count() as u64
}

fn interrupted(t: &FrozenTrial) -> bool {
    t.system_attrs
        .get(attrs::INTERRUPTED)
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

fn command_of(file: &StudyFile) -> Result<tuneforge::studyfile::CommandSpec> {
    file.command.clone().ok_or_else(|| Error::StudyFile {
        path: file.path.clone(),
        message: "it has no [command] to run; add one, or drive the study with \
                  `tuneforge ask` and `tuneforge tell`"
            .into(),
    })
}

pub fn run(args: RunArgs, storage_flag: Option<&str>) -> Result<u8> {
    let file = StudyFile::load(&args.study_file)?;
    command_of(&file)?;
    let url = storage_flag
        .map(str::to_string)
        .unwrap_or_else(|| file.storage_url());
    let storage = resolve::open(&url, false)?;
    let (study, created) = resolve::open_study(&file, storage)?;
    let recovered = recover_dead_local_trials(&study)?;

    let budget = &args.budget;
    let target = budget.trials.or(file.trials);
    let jobs = budget.jobs.unwrap_or(file.jobs).max(1);
    let done_before = count(&study.view()?);
    if !budget.quiet {
        let what = if created {
            "created".to_string()
        } else {
            format!("resuming ({done_before} trials done)")
        };
        let parallel = match args.workers {
            Some(w) => format!("{w} worker(s) x {jobs} job(s)"),
            None => format!("{jobs} job(s)"),
        };
        eprintln!(
            "study '{}' {what} · {} · sampler {} · {parallel} · storage {}",
            file.name,
            match target {
                Some(t) => format!("{t} trials"),
                None => "no trial limit".into(),
            },
            file.sampler.as_str(),
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
    let stop = install_interrupt_handler();
    let outcome = match args.workers {
        Some(n) => spawn_workers(&study, &file, &url, budget, n.max(1), &stop)?,
        None => drive(&study, &file, budget, None, &stop)?,
    };
    summarize(
        &study,
        &file,
        outcome,
        &args.study_file.display().to_string(),
    )
}

pub fn create(path: &std::path::Path, storage_flag: Option<&str>) -> Result<u8> {
    let file = StudyFile::load(path)?;
    let url = storage_flag
        .map(str::to_string)
        .unwrap_or_else(|| file.storage_url());
    let storage = resolve::open(&url, false)?;
    let (_, created) = resolve::open_study(&file, storage)?;
    eprintln!(
        "study '{}' {} in {}; start workers with: tuneforge --storage {} worker --study {}",
        file.name,
        if created { "created" } else { "already exists" },
        tuneforge::storage::redact(&url),
        tuneforge::storage::redact(&url),
        file.name
    );
    Ok(0)
}

pub fn worker(args: WorkerArgs, storage_flag: Option<&str>) -> Result<u8> {
    let url = storage_flag
        .map(str::to_string)
        .unwrap_or_else(resolve::default_url);
    let storage = resolve::open(&url, true)?;
    let record = storage.load_study(&args.study)?;
    let mut file = tuneforge::studyfile::StudyFile::of_record(&record).ok_or_else(|| {
        Error::invalid(format!(
            "study '{}' was not created from a study file, so a worker does not know what to \
             run; drive it from your program with the library, or with ask/tell",
            args.study
        ))
    })?;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => file
            .path
            .parent()
            .filter(|d| d.is_dir())
            .map(|d| d.to_path_buf())
            .unwrap_or(std::env::current_dir().map_err(|e| Error::io(".", e))?),
    };
    if args.dir.is_some() || file.path.parent() != Some(dir.as_path()) {
        let name = file.path.file_name().unwrap_or_default().to_os_string();
        file = StudyFile::parse(&dir.join(name), &file.text)?;
    }
    command_of(&file)?;
    let (study, _) = resolve::open_study(&file, storage)?;
    recover_dead_local_trials(&study)?;
    if !args.budget.quiet {
        eprintln!(
            "worker {} · study '{}' · storage {} · trials run in {}",
            study.worker(),
            file.name,
            tuneforge::storage::redact(&url),
            dir.display()
        );
    }
    let stop = install_interrupt_handler();
    let outcome = drive(&study, &file, &args.budget, args.max_trials, &stop)?;
    if args.budget.quiet {
        return Ok(if outcome.interrupted { 130 } else { 0 });
    }
    summarize(
        &study,
        &file,
        outcome,
        &format!("worker --study {}", file.name),
    )
}

fn install_interrupt_handler() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let hits = AtomicBool::new(false);
    let _ = ctrlc::set_handler(move || {
        if hits.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond interrupt: exiting now");
            std::process::exit(130);
        }
        eprintln!("\ninterrupt: stopping running trials (press Ctrl-C again to exit at once)");
        flag.store(true, Ordering::SeqCst);
    });
    stop
}

/// How a run ended.
#[derive(Clone, Copy, Default)]
pub struct Outcome {
    interrupted: bool,
    exhausted: bool,
}

/// Runs trials of `study` in this process until the budget is spent, the space is exhausted,
/// or `stop` is set. Before leaving, waits for trials other workers still run (so trials of
/// dead workers are failed and retried before the study counts as done).
fn drive(
    study: &Study,
    file: &StudyFile,
    budget: &Budget,
    max_trials: Option<u64>,
    stop: &AtomicBool,
) -> Result<Outcome> {
    let command = command_of(file)?;
    let target = budget.trials.or(file.trials);
    let jobs = budget.jobs.unwrap_or(file.jobs).max(1);
    let deadline = budget
        .timeout
        .or(file.timeout_s)
        .map(|t| Instant::now() + Duration::from_secs_f64(t));
    let quiet = budget.quiet;
    let runner = CommandRunner::new(
        command,
        file.space.clone(),
        RunOptions {
            metrics: file.metrics.clone(),
        },
    );
    let done_before = count(&study.view()?);
    let bar = progress_bar(target, done_before, quiet);
    let gate = Mutex::new(0u64);
    let exhausted = AtomicBool::new(false);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let metric_names = file.metrics.clone();
    let step_name = step_name(file);
    let me = study.worker().to_string();
    let poll = study.liveness().interval.min(Duration::from_secs(1));

    let job = || {
        loop {
            if stop.load(Ordering::SeqCst)
                || exhausted.load(Ordering::SeqCst)
                || deadline.is_some_and(|d| Instant::now() >= d)
            {
                return;
            }
            let trial = {
                let mut started = gate.lock().unwrap_or_else(|p| p.into_inner());
                if max_trials.is_some_and(|m| *started >= m) {
                    return;
                }
                if let Some(t) = target {
                    let view = match study.view() {
                        Ok(v) => v,
                        Err(e) => {
                            set_failure(&failure, stop, e);
                            return;
                        }
                    };
                    if count(&view) >= t {
                        // Done, unless another worker's trial is still running: it may have
                        // died, and then it is failed and its retry must run somewhere.
                        let others = view.trials.iter().any(|t| {
                            t.state == TrialState::Running
                                && t.heartbeat_ms.is_some()
                                && t.worker.as_deref() != Some(me.as_str())
                        });
                        if !others {
                            return;
                        }
                        drop(started);
                        std::thread::sleep(poll);
                        if let Err(e) = study.reap_stale() {
                            set_failure(&failure, stop, e);
                            return;
                        }
                        continue;
                    }
                }
                match study.ask() {
                    Ok(t) => {
                        *started += 1;
                        t
                    }
                    Err(Error::Exhausted) => {
                        exhausted.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(e) => {
                        set_failure(&failure, stop, e);
                        return;
                    }
                }
            };
            match runner.run(study, trial, stop) {
                Ok(done) => report_trial(study, &done, &metric_names, &step_name, &bar, quiet),
                // Failed as stale by another worker meanwhile (its heartbeats did not get
                // through); that worker recorded why and re-enqueued it if the policy says so.
                Err(Error::TrialFinished(n)) => {
                    if !quiet {
                        bar.println(format!(
                            "trial {n:>3} was failed by another worker while it ran here \
                             (no heartbeat reached the storage); its result was discarded"
                        ));
                    }
                }
                Err(e) => {
                    set_failure(&failure, stop, e);
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
    Ok(Outcome {
        interrupted: stop.load(Ordering::SeqCst),
        exhausted: exhausted.load(Ordering::SeqCst),
    })
}

/// Starts `n` `tuneforge worker` processes on this machine and shows their progress.
fn spawn_workers(
    study: &Study,
    file: &StudyFile,
    url: &str,
    budget: &Budget,
    n: usize,
    stop: &AtomicBool,
) -> Result<Outcome> {
    let exe = std::env::current_exe().map_err(|e| Error::io("tuneforge", e))?;
    let dir = file
        .path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut children = Vec::new();
    for _ in 0..n {
        let mut cmd = std::process::Command::new(&exe);
        cmd.arg("--storage")
            .arg(url)
            .args(["worker", "--quiet", "--study", &file.name])
            .arg("--dir")
            .arg(dir);
        if let Some(t) = budget.trials {
            cmd.arg("--trials").arg(t.to_string());
        }
        if let Some(j) = budget.jobs {
            cmd.arg("--jobs").arg(j.to_string());
        }
        if let Some(t) = budget.timeout {
            cmd.arg("--timeout").arg(t.to_string());
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null());
        children.push(cmd.spawn().map_err(|e| Error::io(&exe, e))?);
    }
    let target = budget.trials.or(file.trials);
    let bar = progress_bar(target, count(&study.view()?), budget.quiet);
    let mut shown = study
        .view()?
        .trials
        .iter()
        .filter(|t| t.state.is_finished())
        .map(|t| t.number)
        .collect::<HashSet<u64>>();
    let mut forwarded = false;
    let mut failed_workers = 0;
    loop {
        if stop.load(Ordering::SeqCst) && !forwarded {
            for c in &children {
                unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
            }
            forwarded = true;
        }
        children.retain_mut(|c| match c.try_wait() {
            Ok(None) => true,
            Ok(Some(status)) => {
                if !status.success() && status.code() != Some(130) {
                    failed_workers += 1;
                }
                false
            }
            Err(_) => false,
        });
        for t in study.view()?.trials.iter() {
            if t.state.is_finished() && shown.insert(t.number) {
                report_trial(
                    study,
                    t,
                    &file.metrics,
                    &step_name(file),
                    &bar,
                    budget.quiet,
                );
            }
        }
        if children.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bar.finish_and_clear();
    if failed_workers > 0 {
        eprintln!("warning: {failed_workers} worker process(es) ended with an error");
    }
    Ok(Outcome {
        interrupted: stop.load(Ordering::SeqCst),
        exhausted: false,
    })
}

fn summarize(study: &Study, file: &StudyFile, outcome: Outcome, again: &str) -> Result<u8> {
    let view = study.view()?;
    let all: Vec<&FrozenTrial> = view.trials.iter().map(|t| t.as_ref()).collect();
    let n = |s: TrialState| all.iter().filter(|t| t.state == s).count();
    eprintln!(
        "{} trials: {} complete, {} pruned, {} failed{}",
        all.iter().filter(|t| t.state.is_finished()).count(),
        n(TrialState::Complete),
        n(TrialState::Pruned),
        n(TrialState::Failed),
        if outcome.exhausted {
            " · the grid is exhausted"
        } else {
            ""
        }
    );
    if let Some(note) = early_stopping_note(file, &all) {
        eprintln!("{note}");
    }
    print_best(study, file)?;
    if outcome.interrupted {
        eprintln!("interrupted: run `tuneforge {again}` again to continue where it stopped");
        return Ok(130);
    }
    // The latest failure: earlier ones may have been fixed (and retried) since.
    if n(TrialState::Complete) == 0
        && let Some(f) = all.iter().rev().find(|t| t.state == TrialState::Failed)
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

/// With a pruner that stops running trials: the training time the trials took against an
/// estimate of what running every one of them to the end would have taken (the complete
/// trials' mean duration each). None without a pruned trial, with fewer than 3 complete ones,
/// or when trials are continued from checkpoints (a complete trial then ran only its last part).
fn early_stopping_note(file: &StudyFile, all: &[&FrozenTrial]) -> Option<String> {
    if file.pruner.as_ref().is_none_or(|p| p.promote) {
        return None;
    }
    let of = |s: TrialState| -> Vec<f64> {
        all.iter()
            .filter(|t| t.state == s)
            .filter_map(|t| t.duration_s().map(|d| d.max(0.0)))
            .collect()
    };
    let (complete, pruned) = (of(TrialState::Complete), of(TrialState::Pruned));
    if complete.len() < 3 || pruned.is_empty() {
        return None;
    }
    let mean = complete.iter().sum::<f64>() / complete.len() as f64;
    let n = complete.len() + pruned.len();
    let spent: f64 = complete.iter().chain(&pruned).sum();
    let full = mean * n as f64;
    let saved = if full > 0.0 { 1.0 - spent / full } else { 0.0 };
    Some(format!(
        "early stopping: {} of {n} trials pruned; the trials took {spent:.1} s in all, against about \
         {full:.1} s had each run to the end ({mean:.2} s each, the complete trials' mean): \
         about {:.0}% of the time saved",
        pruned.len(),
        100.0 * saved
    ))
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

/// What the study's reports count: the `[pruner]` resource's name, else "step".
fn step_name(file: &StudyFile) -> String {
    file.pruner
        .as_ref()
        .map_or("step", |p| p.resource_name())
        .to_string()
}

/// Prints a finished trial above the progress bar; `step` names what its reports count.
fn report_trial(
    study: &Study,
    t: &FrozenTrial,
    metrics: &[String],
    step: &str,
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
    bar.set_position({
        let counts = counter(&view);
        view.trials
            .iter()
            .filter(|t| counts(t) && t.state != TrialState::Running)
            .count() as u64
    });
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
        TrialState::Pruned => match t.intermediate.iter().next_back() {
            Some((at, m)) => {
                let shown = metrics
                    .iter()
                    .find_map(|name| m.get(name).map(|v| format!(" ({name}={})", fmt_value(*v))))
                    .unwrap_or_default();
                format!("stopped after {step} {at}{shown}")
            }
            None => "stopped before its first report".into(),
        },
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
        if let Some(a) = crate::resolve::architecture_string(Some(file), &b.params) {
            println!("  architecture = {a}");
        }
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

/// Options of `tuneforge reevaluate`.
#[derive(clap::Args)]
pub struct ReevaluateArgs {
    /// Study file or study name (a study that runs a command).
    pub study: String,
    /// How many of the best configurations to re-run.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// New seeds per configuration.
    #[arg(long, default_value_t = 5)]
    pub seeds: usize,
    /// Trials run in parallel.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Print only the summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// One re-evaluated configuration.
struct Reevaluated {
    source: u64,
    original: f64,
    values: Vec<f64>,
}

/// `tuneforge reevaluate`: re-runs the best configurations with new seeds (in the study
/// `NAME-reevaluate`, so the original study is untouched) and reports how much each result
/// swings with the seed and whether the ranking holds.
pub fn reevaluate(args: ReevaluateArgs, storage_flag: Option<&str>) -> Result<u8> {
    let r = resolve::existing(&args.study, storage_flag)?;
    let source = r.file.clone().ok_or_else(|| {
        Error::invalid(format!(
            "study '{}' was not created from a study file, so there is no command to re-run",
            r.name
        ))
    })?;
    command_of(&source)?;
    let record = r.storage.load_study(&r.name)?;
    if record.directions.len() != 1 {
        return Err(Error::invalid(
            "reevaluate ranks configurations by one objective; this study has several",
        ));
    }
    let dir = record.directions[0];
    let mut done: Vec<FrozenTrial> = r
        .storage
        .all_trials(record.id)?
        .into_iter()
        .filter(|t| t.state == TrialState::Complete && t.value().is_some_and(f64::is_finite))
        .filter(|t| !t.system_attrs.contains_key(tuneforge::attrs::REEVALUATES))
        .collect();
    if done.is_empty() {
        return Err(Error::invalid(format!(
            "study '{}' has no complete trial to re-evaluate",
            r.name
        )));
    }
    done.sort_by(|a, b| {
        let (x, y) = (a.value().unwrap_or(f64::NAN), b.value().unwrap_or(f64::NAN));
        dir.order(x, y).then(a.number.cmp(&b.number))
    });
    // One configuration once: duplicates of a configuration count as one.
    let mut top: Vec<FrozenTrial> = Vec::new();
    for t in done {
        if top.len() >= args.top.max(1) {
            break;
        }
        if !top.iter().any(|u| u.params == t.params) {
            top.push(t);
        }
    }
    let seeds = args.seeds.max(2);
    let mut file = source.clone();
    file.name = format!("{}-reevaluate", r.name);
    file.trials = Some((top.len() * seeds) as u64);
    file.pruner = None;
    file.enqueue.clear();
    file.sampler = tuneforge::studyfile::SamplerKind::Random;
    let base_seed = record
        .attrs
        .get(tuneforge::attrs::STUDY_SEED)
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    // Trial seeds derive from the study seed and trial numbers: a different study seed gives
    // seeds the original trials did not have.
    file.seed = Some(tuneforge::seed::mix(base_seed, 0x5EED_5EED));
    let (study, _) = resolve::open_study(&file, r.storage.clone())?;
    let existing = study.trials()?;
    for t in &top {
        let have = existing
            .iter()
            .filter(|e| {
                e.system_attrs
                    .get(tuneforge::attrs::REEVALUATES)
                    .and_then(|v| v.as_u64())
                    == Some(t.number)
            })
            .count();
        for _ in have..seeds {
            let mut attrs = std::collections::BTreeMap::new();
            attrs.insert(
                tuneforge::attrs::REEVALUATES.to_string(),
                serde_json::json!(t.number),
            );
            study.enqueue_with(t.params.clone(), attrs)?;
        }
    }
    if !args.quiet {
        eprintln!(
            "re-running the {} best configurations of '{}' with {seeds} new seeds each (study '{}')",
            top.len(),
            r.name,
            file.name
        );
    }
    let stop = install_interrupt_handler();
    let budget = Budget {
        trials: file.trials,
        jobs: args.jobs,
        timeout: None,
        quiet: args.quiet,
    };
    drive(&study, &file, &budget, None, &stop)?;
    let trials = study.trials()?;
    let results: Vec<Reevaluated> = top
        .iter()
        .map(|t| Reevaluated {
            source: t.number,
            original: t.value().unwrap_or(f64::NAN),
            values: trials
                .iter()
                .filter(|e| {
                    e.state == TrialState::Complete
                        && e.system_attrs
                            .get(tuneforge::attrs::REEVALUATES)
                            .and_then(|v| v.as_u64())
                            == Some(t.number)
                })
                .filter_map(|e| e.value())
                .collect(),
        })
        .collect();
    print_reevaluation(&results, dir, &file.metrics[0]);
    Ok(0)
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n.max(1.0);
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (m, var.sqrt())
}

/// Ranks of `v` (0 = best) under `dir`.
fn ranks(v: &[f64], dir: tuneforge::Direction) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| dir.order(v[a], v[b]).then(a.cmp(&b)));
    let mut r = vec![0.0; v.len()];
    for (k, &i) in order.iter().enumerate() {
        r[i] = k as f64;
    }
    r
}

fn print_reevaluation(results: &[Reevaluated], dir: tuneforge::Direction, metric: &str) {
    let stats: Vec<(f64, f64)> = results.iter().map(|r| mean_sd(&r.values)).collect();
    let means: Vec<f64> = stats.iter().map(|s| s.0).collect();
    let spread = mean_sd(&means).1;
    let orig_rank = ranks(&results.iter().map(|r| r.original).collect::<Vec<_>>(), dir);
    let new_rank = ranks(&means, dir);
    println!(
        "{:>6}  {:>10}  {:>10}  {:>10}  {:>5}  {:>9}  note",
        "trial", "original", "mean", "std", "runs", "rank now"
    );
    let mut flagged = 0;
    for (i, r) in results.iter().enumerate() {
        let (m, sd) = stats[i];
        // Swings with the seed: its seed-to-seed spread is larger than the spread between the
        // configurations' means (or, with one configuration, than 1% of its mean).
        let scale = if results.len() > 1 && spread > 0.0 {
            spread
        } else {
            0.01 * m.abs()
        };
        let swings = r.values.len() > 1 && sd > scale;
        flagged += usize::from(swings);
        println!(
            "{:>6}  {:>10}  {:>10}  {:>10}  {:>5}  {:>4} -> {:<2}  {}",
            r.source,
            fmt_value(r.original),
            fmt_value(m),
            fmt_value(sd),
            r.values.len(),
            orig_rank[i] as usize + 1,
            new_rank[i] as usize + 1,
            if swings { "SWINGS WITH THE SEED" } else { "" }
        );
    }
    if results.len() > 1 {
        // Spearman's rank correlation between the original ranking and the seed-averaged one.
        let n = results.len() as f64;
        let d2: f64 = orig_rank
            .iter()
            .zip(&new_rank)
            .map(|(a, b)| (a - b) * (a - b))
            .sum();
        let rho = 1.0 - 6.0 * d2 / (n * (n * n - 1.0));
        println!("rank stability (Spearman, original vs mean over seeds): {rho:.2}");
    }
    if flagged > 0 {
        println!(
            "{flagged} configuration(s) swing with the seed more than the configurations differ \
             in {metric}: the original ranking is luck as much as merit. Consider reporting the \
             mean over seeds, and ensembling (averaging the predictions of several seeds or of \
             the top configurations)."
        );
    } else {
        println!("no configuration swings with the seed more than the configurations differ");
    }
}
