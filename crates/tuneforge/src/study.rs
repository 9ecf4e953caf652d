//! Studies: a named optimisation over one storage, driven by `optimize` or by ask/tell.

use indexmap::IndexMap;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::attrs;
use crate::distribution::ParamValue;
use crate::error::{Error, Result};
use crate::liveness::{Beats, Liveness};
use crate::pareto::pareto_front;
use crate::pruner::{NopPruner, Pruner};
use crate::record::{Direction, FrozenTrial, StudyRecord, TrialState};
use crate::sampler::{Reservation, Sampler, StudyView};
use crate::seed::{fresh_seed, trial_seed};
use crate::storage::{MemoryStorage, NewTrial, Storage};
use crate::trial::Trial;

/// How a trial ended, as told by the objective or its runner.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Finished with one value per objective.
    Complete(Vec<f64>),
    /// Stopped early by the pruner.
    Pruned,
    /// Failed, with the reason.
    Failed(String),
}

/// A study: a named search over one storage. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Study {
    inner: Arc<Inner>,
}

struct Inner {
    storage: Arc<dyn Storage>,
    record: StudyRecord,
    sampler: Arc<dyn Sampler>,
    pruner: Arc<dyn Pruner>,
    seed: u64,
    worker: String,
    cache: Mutex<Cache>,
    liveness: Liveness,
    beats: Arc<Beats>,
    last_reap: Mutex<Option<Instant>>,
    /// The environment id given to every trial this handle creates, when recorded.
    env: std::sync::OnceLock<String>,
    /// Distinguishes study handles in this process (for per-handle caches).
    instance: u64,
}

#[derive(Default)]
struct Cache {
    seq: u64,
    trials: Arc<Vec<Arc<FrozenTrial>>>,
}

/// Builds a [`Study`]: creates it in the storage or loads it when it already exists.
pub struct StudyBuilder {
    name: String,
    directions: Vec<Direction>,
    storage: Option<Arc<dyn Storage>>,
    sampler: Option<Arc<dyn Sampler>>,
    pruner: Option<Arc<dyn Pruner>>,
    seed: Option<u64>,
    attrs: BTreeMap<String, serde_json::Value>,
    load_if_exists: bool,
    liveness: Option<Liveness>,
    record_environment: bool,
}

impl StudyBuilder {
    /// One objective, minimised (the default) or maximised.
    pub fn direction(mut self, d: Direction) -> Self {
        self.directions = vec![d];
        self
    }

    /// Several objectives, one direction each.
    pub fn directions(mut self, d: impl IntoIterator<Item = Direction>) -> Self {
        self.directions = d.into_iter().collect();
        self
    }

    /// Where the study lives (default: in memory).
    pub fn storage(mut self, s: Arc<dyn Storage>) -> Self {
        self.storage = Some(s);
        self
    }

    /// The search strategy (default: [`crate::sampler::AutoSampler`] seeded with the study seed).
    pub fn sampler(mut self, s: impl Sampler + 'static) -> Self {
        self.sampler = Some(Arc::new(s));
        self
    }

    /// The search strategy, shared.
    pub fn sampler_arc(mut self, s: Arc<dyn Sampler>) -> Self {
        self.sampler = Some(s);
        self
    }

    /// The early-stopping rule (default: never prune).
    pub fn pruner(mut self, p: impl Pruner + 'static) -> Self {
        self.pruner = Some(Arc::new(p));
        self
    }

    /// The early-stopping rule, shared.
    pub fn pruner_arc(mut self, p: Arc<dyn Pruner>) -> Self {
        self.pruner = Some(p);
        self
    }

    /// The study seed: per-trial seeds and the default sampler derive from it.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// A study attribute stored at creation.
    pub fn attr(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.attrs.insert(key.to_string(), value.into());
        self
    }

    /// Heartbeats and retries of trials whose worker died (default: [`Liveness::default`]).
    /// Stored with a new study; an existing study keeps the policy it was created with.
    pub fn liveness(mut self, l: Liveness) -> Self {
        self.liveness = Some(l);
        self
    }

    /// Records the environment of this process (see [`crate::env::capture`]: machine, git
    /// state, versions) with the study, and its id on every trial this handle creates, for
    /// `tuneforge env` and `tuneforge compare`. Command trials run by the CLI record theirs
    /// anyway.
    pub fn record_environment(mut self) -> Self {
        self.record_environment = true;
        self
    }

    /// Whether an existing study of that name is loaded (default) or an error.
    pub fn load_if_exists(mut self, yes: bool) -> Self {
        self.load_if_exists = yes;
        self
    }

    /// Creates or loads the study.
    pub fn build(self) -> Result<Study> {
        if self.name.trim().is_empty() {
            return Err(Error::invalid("a study needs a non-empty name"));
        }
        if self.directions.is_empty() {
            return Err(Error::invalid("a study needs at least one direction"));
        }
        let storage = self
            .storage
            .unwrap_or_else(|| Arc::new(MemoryStorage::new()));
        let mut attrs = self.attrs;
        if let Some(l) = &self.liveness {
            l.validate()?;
            l.to_attrs(&mut attrs);
        }
        let record = match storage.load_study(&self.name) {
            Ok(r) => {
                if !self.load_if_exists {
                    return Err(Error::StudyExists(self.name));
                }
                if r.directions != self.directions {
                    return Err(Error::invalid(format!(
                        "study '{}' exists with directions {:?}, not {:?}",
                        r.name, r.directions, self.directions
                    )));
                }
                r
            }
            Err(Error::StudyNotFound(_)) => {
                let seed = self.seed.unwrap_or_else(fresh_seed);
                attrs.insert(attrs::STUDY_SEED.into(), seed.into());
                match storage.create_study(&self.name, &self.directions, &attrs) {
                    Ok(r) => r,
                    // Another process created it in between: use theirs.
                    Err(Error::StudyExists(_)) if self.load_if_exists => {
                        storage.load_study(&self.name)?
                    }
                    Err(e) => return Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let seed = self
            .seed
            .or_else(|| record.attrs.get(attrs::STUDY_SEED).and_then(|v| v.as_u64()))
            .unwrap_or_else(fresh_seed);
        let sampler = self
            .sampler
            .unwrap_or_else(|| Arc::new(crate::sampler::AutoSampler::new(seed)));
        let liveness = Liveness::from_attrs(&record.attrs);
        let beats = Beats::new(storage.clone(), liveness.interval);
        let study = Study {
            inner: Arc::new(Inner {
                storage,
                record,
                sampler,
                pruner: self.pruner.unwrap_or_else(|| Arc::new(NopPruner)),
                seed,
                worker: worker_id(),
                cache: Mutex::new(Cache::default()),
                liveness,
                beats,
                last_reap: Mutex::new(None),
                env: std::sync::OnceLock::new(),
                instance: {
                    static NEXT: std::sync::atomic::AtomicU64 =
                        std::sync::atomic::AtomicU64::new(0);
                    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                },
            }),
        };
        if self.record_environment {
            let argv: Vec<String> = std::env::args().collect();
            let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
            let id = crate::env::record(&study, &argv, &cwd)?;
            let _ = study.inner.env.set(id);
        }
        Ok(study)
    }
}

/// `host:pid`, naming this process as a worker.
pub fn worker_id() -> String {
    format!("{}:{}", crate::env::hostname(), std::process::id())
}

/// A function called after each finished trial.
pub type TrialCallback = Arc<dyn Fn(&Study, &FrozenTrial) + Send + Sync>;

/// Options for [`Study::optimize`].
#[derive(Clone, Default)]
pub struct Optimize {
    /// Trials this call runs (`None`: until stopped, timed out or exhausted).
    pub n_trials: Option<usize>,
    /// Wall-clock limit for this call; running trials finish, no new one starts after it.
    pub timeout: Option<Duration>,
    /// Trials evaluated in parallel threads (at least 1).
    pub n_jobs: usize,
    /// Set to stop starting new trials (e.g. from a Ctrl-C handler).
    pub stop: Option<Arc<AtomicBool>>,
    /// Called after each trial of this call finishes.
    pub callback: Option<TrialCallback>,
}

impl Optimize {
    /// Run `n` trials.
    pub fn trials(n: usize) -> Self {
        Optimize {
            n_trials: Some(n),
            n_jobs: 1,
            ..Default::default()
        }
    }

    /// Run until `d` has passed.
    pub fn timeout(d: Duration) -> Self {
        Optimize {
            timeout: Some(d),
            n_jobs: 1,
            ..Default::default()
        }
    }

    /// Also stop after `d`.
    pub fn with_timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Evaluate `n` trials at a time.
    pub fn jobs(mut self, n: usize) -> Self {
        self.n_jobs = n.max(1);
        self
    }

    /// Stop starting trials when `flag` becomes true.
    pub fn stop_flag(mut self, flag: Arc<AtomicBool>) -> Self {
        self.stop = Some(flag);
        self
    }

    /// Call `f` after each finished trial.
    pub fn on_trial_end(
        mut self,
        f: impl Fn(&Study, &FrozenTrial) + Send + Sync + 'static,
    ) -> Self {
        self.callback = Some(Arc::new(f));
        self
    }
}

/// What an objective may return: one value or one per objective.
pub trait ObjectiveValues {
    /// The values, one per direction.
    fn into_values(self) -> Vec<f64>;
}

impl ObjectiveValues for f64 {
    fn into_values(self) -> Vec<f64> {
        vec![self]
    }
}
impl ObjectiveValues for f32 {
    fn into_values(self) -> Vec<f64> {
        vec![self as f64]
    }
}
impl ObjectiveValues for Vec<f64> {
    fn into_values(self) -> Vec<f64> {
        self
    }
}
impl<const N: usize> ObjectiveValues for [f64; N] {
    fn into_values(self) -> Vec<f64> {
        self.to_vec()
    }
}
impl ObjectiveValues for (f64, f64) {
    fn into_values(self) -> Vec<f64> {
        vec![self.0, self.1]
    }
}
impl ObjectiveValues for (f64, f64, f64) {
    fn into_values(self) -> Vec<f64> {
        vec![self.0, self.1, self.2]
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Study {
    /// Starts building a study named `name` (minimising one objective, in memory, by default).
    pub fn builder(name: &str) -> StudyBuilder {
        StudyBuilder {
            name: name.to_string(),
            directions: vec![Direction::Minimize],
            storage: None,
            sampler: None,
            pruner: None,
            seed: None,
            attrs: BTreeMap::new(),
            load_if_exists: true,
            liveness: None,
            record_environment: false,
        }
    }

    /// The study's name.
    pub fn name(&self) -> &str {
        &self.inner.record.name
    }

    /// The study's stored record (as loaded).
    pub fn record(&self) -> &StudyRecord {
        &self.inner.record
    }

    /// One direction per objective.
    pub fn directions(&self) -> &[Direction] {
        &self.inner.record.directions
    }

    /// The study seed.
    pub fn seed(&self) -> u64 {
        self.inner.seed
    }

    /// The storage the study lives in.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.inner.storage
    }

    /// The sampler in use.
    pub fn sampler(&self) -> &Arc<dyn Sampler> {
        &self.inner.sampler
    }

    pub(crate) fn pruner(&self) -> &Arc<dyn Pruner> {
        &self.inner.pruner
    }

    /// This process's worker name.
    pub fn worker(&self) -> &str {
        &self.inner.worker
    }

    /// A fresh snapshot of all trials, read incrementally (only what changed since last time).
    pub fn view(&self) -> Result<StudyView> {
        let mut cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        let changes = self
            .inner
            .storage
            .trials_since(self.inner.record.id, cache.seq)?;
        if !changes.trials.is_empty() {
            let trials = Arc::make_mut(&mut cache.trials);
            let mut unordered = false;
            for t in changes.trials {
                let t = Arc::new(t);
                let n = t.number as usize;
                // Numbers are dense, so a trial's number is its index: new trials append.
                if n < trials.len() && trials[n].number == t.number {
                    trials[n] = t;
                } else if n == trials.len() {
                    trials.push(t);
                } else if let Some(pos) = trials.iter().position(|x| x.number == t.number) {
                    trials[pos] = t;
                } else {
                    unordered |= trials.last().is_some_and(|l| l.number > t.number);
                    trials.push(t);
                }
            }
            if unordered {
                trials.sort_by_key(|t| t.number);
            }
        }
        cache.seq = changes.seq.max(cache.seq);
        Ok(StudyView {
            directions: self.inner.record.directions.clone(),
            trials: cache.trials.clone(),
        })
    }

    /// All trials, ordered by number.
    pub fn trials(&self) -> Result<Vec<FrozenTrial>> {
        Ok(self
            .view()?
            .trials
            .iter()
            .map(|t| t.as_ref().clone())
            .collect())
    }

    /// Enqueues a trial with fixed parameters (e.g. a known-good baseline); it runs before any
    /// sampled trial. Parameters not given are sampled. Returns the trial number.
    pub fn enqueue(&self, params: IndexMap<String, ParamValue>) -> Result<u64> {
        self.enqueue_with(params, BTreeMap::new())
    }

    /// Enqueues a trial with fixed parameters and system attributes (e.g. `retry_of`).
    pub fn enqueue_with(
        &self,
        params: IndexMap<String, ParamValue>,
        system_attrs: BTreeMap<String, serde_json::Value>,
    ) -> Result<u64> {
        for (k, v) in &params {
            if let ParamValue::Float(f) = v
                && !f.is_finite()
            {
                return Err(Error::invalid(format!(
                    "enqueued parameter '{k}' is not a finite number"
                )));
            }
        }
        let t = self
            .inner
            .storage
            .create_trial(
                self.inner.record.id,
                NewTrial {
                    waiting: true,
                    fixed_params: params,
                    system_attrs,
                    ..Default::default()
                },
            )?
            .ok_or_else(|| Error::Storage("enqueue was refused".into()))?;
        Ok(t.number)
    }

    /// Starts a new trial: an enqueued one first, else a sampled one. Fails with
    /// [`Error::Exhausted`] when the sampler has nothing left (grid search done).
    ///
    /// The trial sends heartbeats until it is told or dropped, so keep it alive while it runs;
    /// trials of workers that died are failed (and retried, per the study's [`Liveness`])
    /// by the next `ask` of any worker.
    pub fn ask(&self) -> Result<Trial> {
        self.reap_if_due()?;
        self.ask_inner(true)
    }

    /// Starts a trial whose result will come later, from another process, through
    /// [`Study::tell_number`]: it has no heartbeats and is never failed as stale.
    pub fn ask_detached(&self) -> Result<Trial> {
        self.ask_inner(false)
    }

    fn ask_inner(&self, heartbeat: bool) -> Result<Trial> {
        let storage = &self.inner.storage;
        let id = self.inner.record.id;
        // A claim can lose a race with another worker; the next view shows the winner.
        for _ in 0..1000 {
            let view = self.view()?;
            // Enqueued trials first. The view is at most one round trip old, so a trial
            // enqueued in between is simply taken by the next ask.
            if view.trials.iter().any(|t| t.state == TrialState::Waiting) {
                if let Some(mut t) = storage.claim_waiting(id, &self.inner.worker, heartbeat)? {
                    if let Some(e) = self.inner.env.get() {
                        storage.set_system_attr(t.id, attrs::ENV, &e.clone().into())?;
                        t.system_attrs.insert(attrs::ENV.into(), e.clone().into());
                    }
                    return self.start(t, heartbeat, None);
                }
                continue;
            }
            let base = NewTrial {
                worker: Some(self.inner.worker.clone()),
                heartbeat,
                ..Default::default()
            };
            let mut new = match self.inner.sampler.reserve(&view)? {
                Reservation::Free => base,
                Reservation::Claim { key, params, attrs } => NewTrial {
                    claim: Some(key),
                    fixed_params: params,
                    system_attrs: attrs,
                    ..base
                },
                Reservation::Tagged { attrs } => NewTrial {
                    system_attrs: attrs,
                    ..base
                },
                Reservation::Exhausted => return Err(Error::Exhausted),
            };
            if let Some(e) = self.inner.env.get() {
                new.system_attrs.insert(attrs::ENV.into(), e.clone().into());
            }
            if let Some(t) = storage.create_trial(id, new)? {
                // The view taken just before is the history this trial is sampled from.
                return self.start(t, heartbeat, Some(view));
            }
        }
        Err(Error::Storage(
            "could not claim a point after 1000 attempts".into(),
        ))
    }

    fn start(&self, t: FrozenTrial, heartbeat: bool, view: Option<StudyView>) -> Result<Trial> {
        let beat = heartbeat.then(|| self.inner.beats.watch(t.id));
        // The trial seed is a function of the study seed and the number, so it is not written
        // separately (`seed::recorded_trial_seed` reads it back).
        let seed = trial_seed(self.inner.seed, t.number);
        let view = match view {
            Some(v) => v,
            None => self.view()?,
        };
        let mut t = t;
        t.system_attrs.insert(attrs::SEED.into(), seed.into());
        let space = self.inner.sampler.infer_relative_space(&view, &t);
        let relative = if space.is_empty() {
            IndexMap::new()
        } else {
            self.inner.sampler.sample_relative(&view, &t, &space)?
        };
        Ok(Trial::new(
            self.clone(),
            t,
            seed,
            view,
            space,
            relative,
            beat,
        ))
    }

    /// A number distinguishing this study handle (and its clones) from others in the process.
    pub(crate) fn instance(&self) -> u64 {
        self.inner.instance
    }

    /// The study's heartbeat and retry policy.
    pub fn liveness(&self) -> Liveness {
        self.inner.liveness
    }

    fn reap_if_due(&self) -> Result<()> {
        {
            let mut last = self
                .inner
                .last_reap
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if last.is_some_and(|t| t.elapsed() < self.inner.liveness.interval) {
                return Ok(());
            }
            *last = Some(Instant::now());
        }
        self.reap_stale().map(|_| ())
    }

    /// Fails the running trials whose worker sent no heartbeat within the grace period, and
    /// re-enqueues each once if the retry policy allows. Returns the trials failed by this
    /// call (another worker reaping at the same time gets a disjoint set).
    pub fn reap_stale(&self) -> Result<Vec<FrozenTrial>> {
        let l = self.inner.liveness;
        let message = format!(
            "its worker sent no heartbeat for {} s (it died, was stopped, or lost the storage)",
            l.grace.as_secs_f64()
        );
        let dead = self.inner.storage.fail_stale(
            self.inner.record.id,
            l.grace.as_millis() as u64,
            &message,
        )?;
        for t in &dead {
            let done = t.system_attrs.get(attrs::RETRIES).and_then(|v| v.as_u64());
            let done = done.unwrap_or(0);
            if done < l.max_retries as u64 {
                let extra = BTreeMap::from([(attrs::RETRIES.to_string(), (done + 1).into())]);
                self.requeue(t, extra)?;
            }
        }
        Ok(dead)
    }

    /// Enqueues the configuration of finished trial `t` again, at most once per trial (a
    /// second call for the same trial, from any worker, enqueues nothing and returns `None`).
    /// The re-run keeps `t`'s place in a promotion schedule (its budget, the trial it resumes
    /// from, its bracket and rung), so it runs what `t` was to run and its rung waits for it.
    pub fn requeue(
        &self,
        t: &FrozenTrial,
        mut system_attrs: BTreeMap<String, serde_json::Value>,
    ) -> Result<Option<u64>> {
        let mut params = t.fixed_params();
        params.extend(t.params.iter().map(|(k, v)| (k.clone(), v.clone())));
        for key in attrs::SCHEDULE_PLACE {
            if let Some(v) = t.system_attrs.get(key) {
                system_attrs
                    .entry(key.to_string())
                    .or_insert_with(|| v.clone());
            }
        }
        system_attrs.insert(attrs::RETRY_OF.into(), t.number.into());
        let new = NewTrial {
            waiting: true,
            fixed_params: params,
            claim: Some(format!("rerun-of:{}", t.number)),
            system_attrs,
            ..Default::default()
        };
        Ok(self
            .inner
            .storage
            .create_trial(self.inner.record.id, new)?
            .map(|t| t.number))
    }

    /// Finishes a trial with its outcome. Values that are NaN or infinite, or of the wrong
    /// count, turn the outcome into a failure naming the problem.
    pub fn tell(&self, trial: Trial, outcome: Outcome) -> Result<FrozenTrial> {
        let id = trial.id();
        // The trial holds a snapshot of the study; release it before the study updates its own.
        drop(trial);
        self.tell_id(id, outcome)
    }

    /// Finishes trial `number` (for ask/tell across processes).
    pub fn tell_number(&self, number: u64, outcome: Outcome) -> Result<FrozenTrial> {
        let t = self
            .inner
            .storage
            .trial_by_number(self.inner.record.id, number)?;
        if t.state.is_finished() {
            return Err(Error::TrialFinished(number));
        }
        if t.state == TrialState::Waiting {
            return Err(Error::invalid(format!(
                "trial {number} is waiting and has not been asked yet"
            )));
        }
        self.tell_id(t.id, outcome)
    }

    fn tell_id(&self, id: crate::record::TrialId, outcome: Outcome) -> Result<FrozenTrial> {
        let outcome = self.check_outcome(outcome);
        let storage = &self.inner.storage;
        let done = match outcome {
            Outcome::Complete(v) => storage.finish(id, TrialState::Complete, Some(&v), None)?,
            Outcome::Pruned => storage.finish(id, TrialState::Pruned, None, None)?,
            Outcome::Failed(m) => storage.finish(id, TrialState::Failed, None, Some(&m))?,
        };
        if self.inner.sampler.observes_trials()
            && let Ok(view) = self.view()
        {
            self.inner.sampler.after_trial(&view, &done);
        }
        Ok(done)
    }

    fn check_outcome(&self, outcome: Outcome) -> Outcome {
        let Outcome::Complete(values) = &outcome else {
            return outcome;
        };
        let n = self.directions().len();
        if values.len() != n {
            return Outcome::Failed(format!(
                "the objective returned {} values but the study has {n} objective(s)",
                values.len()
            ));
        }
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            return Outcome::Failed(format!(
                "the objective returned {bad}, which is not a finite number"
            ));
        }
        outcome
    }

    /// Runs `objective` on new trials until `opts` says stop. A trial whose objective returns an
    /// error, panics, or returns NaN is recorded as failed with the reason, and the study goes
    /// on. Returns early only when the storage fails; grid exhaustion ends the run normally.
    pub fn optimize<F, V, E>(&self, objective: F, opts: Optimize) -> Result<()>
    where
        F: Fn(&mut Trial) -> std::result::Result<V, E> + Sync,
        V: ObjectiveValues,
        E: Into<BoxError>,
    {
        let started = AtomicUsize::new(0);
        let halt = AtomicBool::new(false);
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        let deadline = opts.timeout.map(|d| Instant::now() + d);
        let jobs = opts.n_jobs.max(1);
        let worker = || {
            loop {
                let stop_requested = opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst));
                if halt.load(Ordering::SeqCst)
                    || stop_requested
                    || deadline.is_some_and(|d| Instant::now() >= d)
                {
                    return;
                }
                if let Some(n) = opts.n_trials
                    && started.fetch_add(1, Ordering::SeqCst) >= n
                {
                    return;
                }
                let mut trial = match self.ask() {
                    Ok(t) => t,
                    Err(Error::Exhausted) => {
                        halt.store(true, Ordering::SeqCst);
                        return;
                    }
                    Err(e) => {
                        halt.store(true, Ordering::SeqCst);
                        first_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        return;
                    }
                };
                let id = trial.id();
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    objective(&mut trial)
                }));
                let outcome = match result {
                    Ok(Ok(v)) => Outcome::Complete(v.into_values()),
                    Ok(Err(e)) => {
                        let e: BoxError = e.into();
                        match e.downcast_ref::<Error>() {
                            Some(Error::Pruned) => Outcome::Pruned,
                            _ => Outcome::Failed(format!("the objective returned an error: {e}")),
                        }
                    }
                    Err(panic) => Outcome::Failed(format!(
                        "the objective panicked: {}",
                        panic_message(&panic)
                    )),
                };
                match self.tell_id(id, outcome) {
                    Ok(done) => {
                        if let Some(cb) = &opts.callback {
                            cb(self, &done);
                        }
                    }
                    // Failed as stale by another worker while it ran (its heartbeats did not
                    // reach the storage): that worker already recorded why; go on.
                    Err(Error::TrialFinished(_)) => {}
                    Err(e) => {
                        halt.store(true, Ordering::SeqCst);
                        first_error
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        return;
                    }
                }
            }
        };
        if jobs == 1 {
            worker();
        } else {
            std::thread::scope(|s| {
                for _ in 0..jobs {
                    s.spawn(worker);
                }
            });
        }
        match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The best complete trial of a single-objective study (ties: the earliest).
    pub fn best_trial(&self) -> Result<Option<FrozenTrial>> {
        if self.directions().len() != 1 {
            return Err(Error::invalid(format!(
                "study '{}' has {} objectives: use best_trials() for the Pareto set",
                self.name(),
                self.directions().len()
            )));
        }
        Ok(best_of(&self.view()?))
    }

    /// The best value of a single-objective study.
    pub fn best_value(&self) -> Result<Option<f64>> {
        Ok(self.best_trial()?.and_then(|t| t.value()))
    }

    /// The best trials: the single best for one objective, the Pareto set for several.
    pub fn best_trials(&self) -> Result<Vec<FrozenTrial>> {
        Ok(best_trials_of(&self.view()?))
    }
}

/// The best complete trial of a single-objective view.
pub fn best_of(view: &StudyView) -> Option<FrozenTrial> {
    let dir = *view.directions.first()?;
    let mut best: Option<&FrozenTrial> = None;
    for t in view.complete().filter(can_be_best(view)) {
        let Some(v) = t.value() else { continue };
        if best.is_none_or(|b| b.value().is_some_and(|bv| dir.better(v, bv))) {
            best = Some(t);
        }
    }
    best.cloned()
}

/// Which complete trials can be best: when some complete trial satisfies all its constraints,
/// only such trials; otherwise (no constraints recorded, or none satisfied yet) all of them.
/// When trials were given budgets, only those with the largest budget reached so far.
fn can_be_best(view: &StudyView) -> impl Fn(&&FrozenTrial) -> bool {
    use crate::sampler::asha_scheduler::budget_of;
    use crate::sampler::nsga2::violation;
    let any_feasible_constrained = view
        .complete()
        .any(|u| u.system_attrs.contains_key(attrs::CONSTRAINTS) && violation(u) <= 0.0);
    // Trials run to different budgets (promotion schedules) compare at the largest one.
    let top_budget = view.complete().filter_map(budget_of).max();
    move |t: &&FrozenTrial| {
        (!any_feasible_constrained || violation(t) <= 0.0)
            && top_budget.is_none_or(|b| budget_of(t) == Some(b))
    }
}

/// The best trials of a view: the single best, or the Pareto set for several objectives.
pub fn best_trials_of(view: &StudyView) -> Vec<FrozenTrial> {
    if view.directions.len() == 1 {
        return best_of(view).into_iter().collect();
    }
    let complete: Vec<&FrozenTrial> = view
        .complete()
        .filter(|t| {
            t.values
                .as_ref()
                .is_some_and(|v| v.len() == view.directions.len())
        })
        .filter(can_be_best(view))
        .collect();
    let losses: Vec<Vec<f64>> = complete
        .iter()
        .map(|t| {
            t.values
                .iter()
                .flatten()
                .zip(&view.directions)
                .map(|(v, d)| d.to_loss(*v))
                .collect()
        })
        .collect();
    pareto_front(&losses)
        .into_iter()
        .map(|i| complete[i].clone())
        .collect()
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}
