//! Runs one trial as an external command and records everything about it.
//!
//! The process gets its parameters through the command template and as JSON in
//! `TUNEFORGE_PARAMS`, with `TUNEFORGE_TRIAL` (number), `TUNEFORGE_SEED`, `TUNEFORGE_WORKDIR`
//! (its own directory) and `TUNEFORGE_STUDY`. It runs in the study file's directory, in a process
//! group of its own, so stopping it (pruned, timed out, interrupted) stops everything it started:
//! SIGTERM to the group, then SIGKILL after the grace period. Its stdout and stderr are saved in
//! its working directory and their tails kept with the trial.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::metrics::{MetricLine, parse_metric_line};
use super::template::{Context, params_json};
use crate::attrs;
use crate::error::{Error, Result};
use crate::record::{FrozenTrial, Metrics};
use crate::space::SearchSpace;
use crate::study::{Outcome, Study};
use crate::studyfile::CommandSpec;
use crate::trial::Trial;

/// Bytes of stdout and of stderr kept with each trial (the tail; the full logs are files).
pub const LOG_TAIL_BYTES: usize = 8 * 1024;

/// The streams a command trial captures, each with the trial attribute that keeps its tail.
pub const STREAMS: [(&str, &str); 2] = [
    ("stdout", attrs::STDOUT_TAIL),
    ("stderr", attrs::STDERR_TAIL),
];

/// The file in a trial's working directory that holds a stream's whole output.
fn log_path(workdir: &Path, stream: &str) -> PathBuf {
    workdir.join(format!("{stream}.log"))
}

/// The file `stream` (`stdout` or `stderr`) of trial `t` was written to, when this machine
/// has it; otherwise only the tail kept in the storage is left.
pub fn log_file(t: &FrozenTrial, stream: &str) -> Option<PathBuf> {
    let workdir = t.system_attrs.get(attrs::WORKDIR)?.as_str()?;
    Some(log_path(Path::new(workdir), stream)).filter(|p| p.is_file())
}

/// Options for running command trials.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The metric names that are the objective values, one per direction.
    pub metrics: Vec<String>,
}

/// Runs trials of a study as external commands.
#[derive(Clone, Debug)]
pub struct CommandRunner {
    spec: CommandSpec,
    space: SearchSpace,
    opts: RunOptions,
}

enum Ended {
    Exited(ExitStatus),
    Pruned,
    TimedOut(f64),
    Interrupted,
}

impl CommandRunner {
    /// A runner for `spec`, suggesting parameters from `space`.
    pub fn new(spec: CommandSpec, space: SearchSpace, opts: RunOptions) -> Self {
        CommandRunner { spec, space, opts }
    }

    /// Runs `trial` to its end and records it. `stop` interrupts it (Ctrl-C): the process is
    /// stopped, the trial recorded as failed and interrupted, and a copy with the same
    /// parameters enqueued so that the next run evaluates it. Errors are storage failures and a
    /// command that cannot be started at all (no such program, no permission), which no trial
    /// can get past: that trial is recorded as failed, its configuration enqueued again (it
    /// does not count against the study's trials), and the error says why. Everything else the
    /// command does wrong becomes the trial's failure reason.
    pub fn run(&self, study: &Study, mut trial: Trial, stop: &AtomicBool) -> Result<FrozenTrial> {
        let params = match self.space.suggest_all(&mut trial) {
            Ok(p) => p,
            Err(e @ (Error::Storage(_) | Error::TrialFinished(_))) => return Err(e),
            Err(e) => return study.tell(trial, Outcome::Failed(e.to_string())),
        };
        let workdir = trial_dir(&self.spec.workdir, study.name(), trial.number());
        if let Err(e) = std::fs::create_dir_all(&workdir) {
            let msg = format!(
                "cannot create the trial directory {}: {e}",
                workdir.display()
            );
            return study.tell(trial, Outcome::Failed(msg));
        }
        let workdir = workdir.canonicalize().unwrap_or(workdir);
        // A promoted trial runs to its own budget and continues from the trial it promotes.
        let frozen = trial.frozen();
        let budget = crate::sampler::asha_scheduler::budget_of(frozen).or(self.spec.budget);
        let resume = match frozen
            .system_attrs
            .get(attrs::RESUME_FROM)
            .and_then(|v| v.as_u64())
        {
            Some(n) => study
                .storage()
                .trial_by_number(study.record().id, n)?
                .system_attrs
                .get(attrs::WORKDIR)
                .and_then(|v| v.as_str())
                .map(str::to_string),
            None => None,
        };
        let ctx = Context {
            trial: trial.number(),
            seed: trial.seed(),
            workdir: workdir.display().to_string(),
            study: study.name().to_string(),
            budget,
            resume: resume.clone(),
            arch: match &self.spec.architecture {
                Some(a) => {
                    let space = a.build()?;
                    Some(space.format(&space.arch_of(&params)?))
                }
                None => None,
            },
        };
        let argv = self.spec.template.expand(&params, &ctx);
        trial.set_system_attr(attrs::COMMAND, shell_words(&argv).into())?;
        let env = crate::env::record(study, &argv, &self.spec.cwd)?;
        trial.set_system_attr(attrs::ENV, env.into())?;
        trial.set_system_attr(attrs::WORKDIR, ctx.workdir.clone().into())?;

        let started = Instant::now();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .current_dir(&self.spec.cwd)
            .envs(&self.spec.env)
            .env("TUNEFORGE_PARAMS", params_json(&params))
            .env("TUNEFORGE_TRIAL", trial.number().to_string())
            .env("TUNEFORGE_TRIAL_ID", trial.id().to_string())
            .env("TUNEFORGE_SEED", trial.seed().to_string())
            .env("TUNEFORGE_WORKDIR", &ctx.workdir)
            .env("TUNEFORGE_STUDY", study.name())
            .envs(ctx.budget.map(|b| ("TUNEFORGE_BUDGET", b.to_string())))
            .envs(
                self.spec
                    .resource
                    .as_ref()
                    .filter(|_| ctx.budget.is_some())
                    .map(|r| ("TUNEFORGE_RESOURCE", r.clone())),
            )
            .envs(resume.map(|r| ("TUNEFORGE_RESUME_DIR", r)))
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                // No trial of this command can run (a missing program, no permission): record
                // this one as failed, enqueue its configuration again for the next run, and stop
                // rather than spend the whole budget on the same failure.
                let hint = if e.kind() == std::io::ErrorKind::NotFound && !argv[0].contains('/') {
                    " (is it on PATH?)"
                } else {
                    ""
                };
                let msg = format!(
                    "could not start '{}' (from {}): {e}{hint}",
                    argv[0],
                    self.spec.cwd.display()
                );
                let done = study.tell(trial, Outcome::Failed(msg.clone()))?;
                study.requeue(&done, Default::default())?;
                return Err(Error::invalid(format!(
                    "{msg}; trial {} did not run, and its configuration runs first when the \
                     study is run again",
                    done.number
                )));
            }
        };
        let (tx, rx) = mpsc::channel::<String>();
        let out = spawn_reader(child.stdout.take(), log_path(&workdir, "stdout"), Some(tx));
        let err = spawn_reader(child.stderr.take(), log_path(&workdir, "stderr"), None);

        let mut finals = Metrics::new();
        let ended = self.supervise(&mut trial, &mut child, &rx, stop, started, &mut finals);
        // Whatever happened, nothing of the trial outlives it.
        kill_group(&child, libc::SIGKILL);
        let _ = child.wait();
        drop(rx);
        let out_tail = out.join().unwrap_or_default();
        let err_tail = err.join().unwrap_or_default();
        let ended = ended?;
        let elapsed = started.elapsed().as_secs_f64();

        trial.set_system_attr(attrs::STDOUT_TAIL, out_tail.clone().into())?;
        trial.set_system_attr(attrs::STDERR_TAIL, err_tail.clone().into())?;
        if !finals.is_empty() {
            trial.set_system_attr("final_metrics", serde_json::to_value(&finals)?)?;
        }
        let outcome = match ended {
            Ended::Pruned => Outcome::Pruned,
            Ended::TimedOut(limit) => Outcome::Failed(format!(
                "timed out after {limit} s (the per-trial limit) and was stopped{}",
                last_line_note("stdout", &out_tail)
            )),
            Ended::Interrupted => {
                trial.set_system_attr(attrs::INTERRUPTED, true.into())?;
                study.requeue(trial.frozen(), Default::default())?;
                Outcome::Failed(format!(
                    "interrupted after {elapsed:.1} s; the same configuration runs again when the \
                     study is resumed"
                ))
            }
            Ended::Exited(status) => {
                if let Some(code) = status.code() {
                    trial.set_system_attr(attrs::EXIT_CODE, code.into())?;
                }
                if !status.success() {
                    let how = match (status.code(), status.signal()) {
                        (Some(c), _) => format!("exited with status {c}"),
                        (None, Some(s)) => format!("was killed by signal {s}"),
                        _ => "ended abnormally".to_string(),
                    };
                    Outcome::Failed(format!(
                        "the command {how}{}",
                        last_line_note("stderr", &err_tail)
                    ))
                } else {
                    self.values(&trial, &finals, &out_tail)
                }
            }
        };
        study.tell(trial, outcome)
    }

    /// Follows the running process: records its reports, asks the pruner, enforces the timeout
    /// and the stop flag.
    fn supervise(
        &self,
        trial: &mut Trial,
        child: &mut Child,
        rx: &mpsc::Receiver<String>,
        stop: &AtomicBool,
        started: Instant,
        finals: &mut Metrics,
    ) -> Result<Ended> {
        let limit = self.spec.timeout_s;
        let grace = Duration::from_secs_f64(self.spec.grace_s);
        let mut stdout_open = true;
        let mut exited: Option<(std::process::ExitStatus, Instant)> = None;
        loop {
            if stdout_open {
                match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(line) => match parse_metric_line(&line) {
                        MetricLine::Report { step, metrics } => {
                            trial.report(step, metrics)?;
                            if trial.should_prune()? {
                                terminate(child, grace);
                                return Ok(Ended::Pruned);
                            }
                        }
                        MetricLine::Final(m) => finals.extend(m),
                        MetricLine::Other => {}
                    },
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => stdout_open = false,
                }
            } else {
                std::thread::sleep(Duration::from_millis(20));
            }
            if stop.load(Ordering::SeqCst) {
                terminate(child, grace);
                return Ok(Ended::Interrupted);
            }
            if let Some(l) = limit
                && started.elapsed().as_secs_f64() > l
            {
                terminate(child, grace);
                return Ok(Ended::TimedOut(l));
            }
            if exited.is_none()
                && let Some(status) = child.try_wait().map_err(|e| Error::io("child", e))?
            {
                exited = Some((status, Instant::now()));
            }
            if let Some((status, at)) = exited {
                if !stdout_open {
                    return Ok(Ended::Exited(status));
                }
                // The command is done but something it started still holds its output open:
                // the trial is over, so whatever it left behind is stopped.
                if at.elapsed() > Duration::from_millis(500) {
                    kill_group(child, libc::SIGTERM);
                    std::thread::sleep(Duration::from_millis(100));
                    kill_group(child, libc::SIGKILL);
                    return Ok(Ended::Exited(status));
                }
            }
        }
    }

    fn values(&self, trial: &Trial, finals: &Metrics, out_tail: &str) -> Outcome {
        let mut values = Vec::new();
        for m in &self.opts.metrics {
            let v = finals
                .get(m)
                .copied()
                .or_else(|| trial.frozen().last_intermediate(m).map(|(_, v)| v));
            match v {
                None => {
                    return Outcome::Failed(format!(
                        "the command exited normally but printed no value for metric '{m}' \
                         (expected a JSON line on stdout such as {{\"{m}\": 0.93}}){}",
                        last_line_note("stdout", out_tail)
                    ));
                }
                Some(x) if !x.is_finite() => {
                    return Outcome::Failed(format!(
                        "the command reported {m} = {x}, which is not a finite number"
                    ));
                }
                Some(x) => values.push(x),
            }
        }
        Outcome::Complete(values)
    }
}

/// Reads a pipe line by line: appends to `log`, keeps the tail, forwards lines to `tx`.
fn spawn_reader(
    pipe: Option<impl Read + Send + 'static>,
    log: PathBuf,
    tx: Option<mpsc::Sender<String>>,
) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let Some(pipe) = pipe else {
            return String::new();
        };
        let mut file = std::fs::File::create(&log).ok();
        let mut tail: VecDeque<String> = VecDeque::new();
        let mut tail_bytes = 0usize;
        let mut reader = BufReader::new(pipe);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
            if let Some(f) = file.as_mut() {
                let _ = f.write_all(&buf);
            }
            let line = String::from_utf8_lossy(&buf)
                .trim_end_matches(['\n', '\r'])
                .to_string();
            tail_bytes += line.len() + 1;
            tail.push_back(line.clone());
            while tail_bytes > LOG_TAIL_BYTES && tail.len() > 1 {
                tail_bytes -= tail.pop_front().map(|l| l.len() + 1).unwrap_or(0);
            }
            if let Some(tx) = &tx {
                // The supervisor stops listening once the trial is over; keep draining.
                let _ = tx.send(line);
            }
        }
        let mut s: Vec<String> = tail.into();
        if let Some(last) = s.last_mut()
            && last.len() > LOG_TAIL_BYTES
        {
            let cut = last.len() - LOG_TAIL_BYTES;
            let cut = (cut..last.len())
                .find(|&i| last.is_char_boundary(i))
                .unwrap_or(0);
            *last = last[cut..].to_string();
        }
        s.join("\n")
    })
}

/// Sends `signal` to the child's whole process group.
fn kill_group(child: &Child, signal: i32) {
    let pid = child.id() as i32;
    if pid > 0 {
        // SAFETY: plain kill(2) on the process group the child leads; errors (ESRCH) are fine.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

/// SIGTERM to the group, then SIGKILL if the child has not exited within `grace`.
fn terminate(child: &mut Child, grace: Duration) {
    kill_group(child, libc::SIGTERM);
    let until = Instant::now() + grace;
    while Instant::now() < until {
        if let Ok(Some(_)) = child.try_wait() {
            kill_group(child, libc::SIGKILL);
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_group(child, libc::SIGKILL);
}

fn last_line_note(stream: &str, tail: &str) -> String {
    match tail.lines().rev().find(|l| !l.trim().is_empty()) {
        Some(l) => {
            let l = l.trim();
            let l = if l.len() > 300 {
                let mut end = 300;
                while !l.is_char_boundary(end) {
                    end -= 1;
                }
                format!("{}...", &l[..end])
            } else {
                l.to_string()
            };
            format!("; last {stream} line: {l}")
        }
        None => format!("; it printed nothing on {stream}"),
    }
}

/// A directory name from a study name.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The argv as one shell-quoted line (for the record).
fn shell_words(argv: &[String]) -> String {
    shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_else(|_| argv.join(" "))
}

/// The directory that holds trial `number`'s files for `study` under `base`.
pub fn trial_dir(base: &Path, study: &str, number: u64) -> PathBuf {
    base.join(sanitize(study)).join(format!("trial-{number}"))
}
