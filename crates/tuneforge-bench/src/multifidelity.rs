//! The multi-fidelity benchmark harness: each method tunes a learner's hyperparameters, trials
//! run epoch by epoch (reporting validation accuracy) and may be stopped early; the cost is the
//! total number of epochs trained. The anytime curve records, after every trial, the best
//! validation accuracy at the full budget (R epochs) among the trials that ran to the end (what
//! the method would return), against the epochs spent so far.
//!
//! The learning curves come from a [`CurveSource`]: the LCBench surrogate (`lcbench`, 52 epochs)
//! or real networks trained here, epoch by epoch (`mftrain`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::rank_test;
use tuneforge::pruner::{
    AshaPruner, CurveExtrapolationPruner, HyperbandPruner, NopPruner, PercentilePruner, Pruner,
    Target,
};
use tuneforge::sampler::asha_scheduler::budget_of;
use tuneforge::sampler::{AshaScheduler, BohbSampler, HyperbandScheduler, RfConfig, TpeConfig};
use tuneforge::{Direction, Error, Optimize, RandomSampler, Sampler, Study, Trial};

/// The methods this benchmark knows: (name, what it is). r = 1 epoch, R = the source's full
/// budget, η = 3 throughout.
pub const METHODS: [(&str, &str); 22] = [
    ("random", "random search, every trial to R epochs"),
    ("tpe", "TPE, every trial to R epochs"),
    ("median", "TPE + median stopping"),
    ("curve", "TPE + learning-curve extrapolation"),
    ("asha", "random + ASHA (r=1, eta=3)"),
    ("hyperband", "random + Hyperband (r=1, eta=3)"),
    ("tpe-hyperband", "TPE + Hyperband"),
    ("bohb", "BOHB: TPE per budget + Hyperband"),
    (
        "bohb-asha",
        "BOHB's TPE per budget + ASHA on Hyperband's most aggressive bracket only (rungs R·eta^-k)",
    ),
    (
        "asha-promote",
        "promotion-based ASHA (r=1, eta=3): trials run to rung budgets, promotions resume from the checkpoint",
    ),
    (
        "bohb-promote",
        "promotion-based ASHA with BOHB's per-budget TPE proposing new configurations",
    ),
    (
        "bohb-promote-hb",
        "promotion-based ASHA on Hyperband's budgets (rungs R·eta^-k) with BOHB's per-budget TPE proposing new configurations",
    ),
    (
        "bohb-promote-hb-first",
        "bohb-promote-hb, and until a trial has R epochs the best of the first 3 configurations runs on to R at once (first_full_after = 3)",
    ),
    (
        "bohb-promote-hb-lead",
        "bohb-promote-hb, and until a trial has R epochs, once 9 configurations have results at the bottom rung the leader at the highest rung reached runs on to R at once (first_full_after = 9)",
    ),
    (
        "bohb-paper-hb",
        "bohb-promote-hb with the settings of Falkner et al. 2018's experiments: gamma = 0.15, 64 candidates, a budget modelled from d + 1 = 8 observations",
    ),
    (
        "bohb-paper-hb-lead",
        "bohb-paper-hb with first_full_after = 9, as in bohb-promote-hb-lead",
    ),
    (
        "bohb-paper-hb-lead-nobottom",
        "bohb-paper-hb-lead with no model at the bottom rung: min_model_budget = the second rung's budget (6 epochs for R = 52), so proposals stay random until 8 configurations have reached it",
    ),
    (
        "bohb-paper-hb-lead-nobottom-bw3",
        "bohb-paper-hb-lead-nobottom with the BOHB paper's bandwidth factor b_w = 3: candidates are drawn from the good density with every numeric kernel 3 times as wide",
    ),
    (
        "bohb-paper-hb-lead-nobottom-lowbw3",
        "bohb-paper-hb-lead-nobottom with b_w = 3 for the models below the full budget only (low_budget_bandwidth_factor = 3): a low budget's density is drawn from 3 times as wide, the full budget's as fitted",
    ),
    (
        "bohb-rf-hb-first",
        "bohb-promote-hb-first with a random forest and expected improvement (SMAC's model) per budget in place of TPE",
    ),
    (
        "hyperband-sync",
        "random + Hyperband as published: brackets s_max..0 of synchronous successive halving, promotions resume from the checkpoint",
    ),
    (
        "bohb-sync",
        "BOHB as published: BOHB's per-budget TPE + synchronous Hyperband brackets, promotions resume from the checkpoint",
    ),
];

/// Where learning curves come from.
pub trait CurveSource: Sync {
    /// Epochs of a full training (R).
    fn max_epochs(&self) -> usize;

    /// Suggests a configuration in `trial` for `task` and returns its learner; `seed` seeds the
    /// training (weights, batch order).
    fn learner<'a>(
        &'a self,
        task: &str,
        trial: &mut Trial,
        seed: u64,
    ) -> tuneforge::Result<Box<dyn Learner + 'a>>;
}

/// One configuration being trained. Under a promotion schedule the harness keeps a learner that
/// stopped at its budget as the trial's checkpoint, and the trial that continues it trains on
/// from there.
pub trait Learner: Send {
    /// Trains through epoch `epoch` (1-based; called with increasing epochs) and returns the
    /// validation accuracy in percent.
    fn accuracy_after(&mut self, epoch: usize) -> tuneforge::Result<f64>;
}

/// The runs already stored in a results file: its text, empty when there is no such file. A
/// file that is there but cannot be read (not UTF-8, no permission) is an error, since the
/// caller would otherwise overwrite it as if it were empty.
pub fn read_stored(path: &std::path::Path) -> Result<String, String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The text of a results file (JSON lines) holding `fresh` and, of the lines already in
/// `stored`, those that are not runs `replaced` selects (a section over a subset of tasks or
/// methods may share the file of a larger one). Lines that are not runs stay as they are;
/// runs are sorted by task, method and seed.
pub fn merge_runs(stored: &str, fresh: &[Run], replaced: impl Fn(&Run) -> bool) -> String {
    let mut other = Vec::new();
    let mut kept: Vec<Run> = Vec::new();
    for line in stored.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Run>(line) {
            Ok(r) if replaced(&r) => {}
            Ok(r) => kept.push(r),
            Err(_) => other.push(line.to_string()),
        }
    }
    let mut runs: Vec<&Run> = kept.iter().chain(fresh).collect();
    runs.sort_by(|a, b| (&a.task, &a.method, a.seed).cmp(&(&b.task, &b.method, b.seed)));
    let mut lines = other;
    lines.extend(runs.iter().filter_map(|r| serde_json::to_string(r).ok()));
    lines.join("\n") + "\n"
}

/// One run's anytime curve.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Run {
    /// The task (LCBench task id or dataset).
    pub task: String,
    /// The method.
    pub method: String,
    /// Seed.
    pub seed: u64,
    /// (epochs spent, best full-budget validation accuracy so far) after each trial that
    /// changed it.
    pub trace: Vec<(u64, f64)>,
    /// Trials started.
    pub trials: u64,
    /// Wall-clock seconds of the run (absent in older records).
    #[serde(default)]
    pub seconds: Option<f64>,
    /// The cost the run could spend, when recorded; a run cut short (below its section's
    /// budget) counts at the checkpoints it reaches only. Absent: the section's whole budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<u64>,
}

impl Run {
    /// The best full-budget accuracy after `epochs` epochs (NaN before the first full run).
    pub fn best_at(&self, epochs: u64) -> f64 {
        self.trace
            .iter()
            .take_while(|(e, _)| *e <= epochs)
            .last()
            .map(|(_, a)| *a)
            .unwrap_or(f64::NAN)
    }

    /// Whether the run could spend `epochs` (its trace says what it had found by then).
    pub fn reaches(&self, epochs: u64) -> bool {
        self.budget.is_none_or(|b| epochs <= b)
    }

    /// Epochs spent when the best accuracy first reached `level` (None: never).
    pub fn epochs_to(&self, level: f64) -> Option<u64> {
        self.trace
            .iter()
            .find(|(_, a)| *a >= level)
            .map(|(e, _)| *e)
    }
}

/// What a run records while its study optimizes: the cost spent (raising the stop flag once
/// the budget is gone), the anytime trace of the best full-budget value, the trials started.
pub struct Recorder {
    spent: AtomicU64,
    budget: u64,
    stop: Arc<AtomicBool>,
    trace: Mutex<Vec<(u64, f64)>>,
    trials: AtomicU64,
    clock: std::time::Instant,
}

impl Recorder {
    /// A recorder for a run of `budget` (in the harness's cost unit).
    pub fn new(budget: u64) -> Recorder {
        Recorder {
            spent: AtomicU64::new(0),
            budget,
            stop: Arc::new(AtomicBool::new(false)),
            trace: Mutex::new(Vec::new()),
            trials: AtomicU64::new(0),
            clock: std::time::Instant::now(),
        }
    }

    /// Counts a trial started.
    pub fn trial(&self) {
        self.trials.fetch_add(1, Ordering::SeqCst);
    }

    /// Adds `cost` to what was spent (stopping the study once the budget is reached) and
    /// returns the total.
    pub fn spend(&self, cost: u64) -> u64 {
        let used = self.spent.fetch_add(cost, Ordering::SeqCst) + cost;
        if used >= self.budget {
            self.stop.store(true, Ordering::SeqCst);
        }
        used
    }

    /// The cost spent so far.
    pub fn spent(&self) -> u64 {
        self.spent.load(Ordering::SeqCst)
    }

    /// Records a full-budget `value` reached after `at` when it beats the best so far.
    pub fn full(&self, at: u64, value: f64) {
        let mut tr = self.trace.lock().unwrap_or_else(|p| p.into_inner());
        if tr.last().is_none_or(|(_, best)| value > *best) {
            tr.push((at, value));
        }
    }

    /// Runs `study` with `objective` until the budget is spent.
    pub fn optimize<F>(&self, study: &Study, objective: F) -> Result<(), String>
    where
        F: Fn(&mut Trial) -> tuneforge::Result<f64> + Sync,
    {
        study
            .optimize(objective, Optimize::default().stop_flag(self.stop.clone()))
            .map_err(|e| e.to_string())
    }

    /// The run recorded.
    pub fn into_run(self, task: &str, method: &str, seed: u64) -> Run {
        Run {
            task: task.to_string(),
            method: method.to_string(),
            seed,
            trace: self.trace.into_inner().unwrap_or_else(|p| p.into_inner()),
            trials: self.trials.load(Ordering::SeqCst),
            seconds: Some(self.clock.elapsed().as_secs_f64()),
            budget: Some(self.budget),
        }
    }
}

/// The sampler and pruner of `method` (a name from [`METHODS`]) with budgets from 1 to `r` and
/// reduction factor `eta`.
fn parts(method: &str, seed: u64, r: u64, eta: u64) -> Option<(Arc<dyn Sampler>, Arc<dyn Pruner>)> {
    let target = Target::new("acc", Direction::Maximize);
    let tpe = || -> Arc<dyn Sampler> { Arc::new(TpeConfig::default().build(seed)) };
    let random = || -> Arc<dyn Sampler> { Arc::new(RandomSampler::new(seed)) };
    let hb = || HyperbandPruner::new(1, r, eta).target(target.clone());
    Some(match method {
        "random" => (random(), Arc::new(NopPruner)),
        "tpe" => (tpe(), Arc::new(NopPruner)),
        "median" => (tpe(), Arc::new(PercentilePruner::median().target(target))),
        "curve" => (
            tpe(),
            Arc::new(CurveExtrapolationPruner::new(r).target(target)),
        ),
        "asha" => (
            random(),
            Arc::new(AshaPruner::new(1, r, eta).target(target)),
        ),
        "hyperband" => (random(), Arc::new(hb())),
        "tpe-hyperband" => (tpe(), Arc::new(hb())),
        "bohb" => (
            Arc::new(BohbSampler::new(1, r, eta, seed).target(target.clone())),
            Arc::new(hb()),
        ),
        "bohb-asha" => (
            Arc::new(BohbSampler::new(1, r, eta, seed).target(target.clone())),
            Arc::new(hb().max_brackets(1)),
        ),
        "asha-promote" => (
            Arc::new(AshaScheduler::new(random(), 1, r, eta).target(target.clone())),
            Arc::new(NopPruner),
        ),
        "bohb-promote" => (
            Arc::new({
                // BOHB's models at ASHA's rungs (r·η^k) and the full budget.
                let budgets = tuneforge::pruner::asha_budgets(1, r, eta);
                let bohb = BohbSampler::with_budgets(budgets, seed).target(target.clone());
                AshaScheduler::new(Arc::new(bohb), 1, r, eta).target(target.clone())
            }),
            Arc::new(NopPruner),
        ),
        "hyperband-sync" => (
            Arc::new(HyperbandScheduler::new(random(), 1, r, eta).target(target.clone())),
            Arc::new(NopPruner),
        ),
        "bohb-sync" => (
            Arc::new(
                HyperbandScheduler::new(
                    Arc::new(BohbSampler::new(1, r, eta, seed).target(target.clone())),
                    1,
                    r,
                    eta,
                )
                .target(target.clone()),
            ),
            Arc::new(NopPruner),
        ),
        "bohb-promote-hb"
        | "bohb-promote-hb-first"
        | "bohb-promote-hb-lead"
        | "bohb-paper-hb"
        | "bohb-paper-hb-lead"
        | "bohb-paper-hb-lead-nobottom"
        | "bohb-paper-hb-lead-nobottom-bw3"
        | "bohb-paper-hb-lead-nobottom-lowbw3"
        | "bohb-rf-hb-first" => (
            Arc::new({
                let mut bohb = BohbSampler::new(1, r, eta, seed).target(target.clone());
                if method.starts_with("bohb-paper-hb") {
                    bohb = bohb.gamma(0.15).candidates(64).min_points(8);
                }
                if method.ends_with("-bw3") {
                    bohb = bohb.bandwidth_factor(3.0);
                }
                if method.ends_with("-lowbw3") {
                    bohb = bohb.low_budget_bandwidth_factor(3.0);
                }
                if method.contains("-nobottom") {
                    // The rung above the bottom one (Hyperband's 2, 6, 17 for R = 52).
                    let second = bohb.budgets().get(1).copied().unwrap_or(r);
                    bohb = bohb.min_model_budget(second);
                }
                if method == "bohb-rf-hb-first" {
                    bohb = bohb.random_forest(RfConfig::default());
                }
                let asha = AshaScheduler::new(Arc::new(bohb), 1, r, eta)
                    .budgets_at(tuneforge::pruner::hyperband_budgets(1, r, eta))
                    .target(target.clone());
                if method.ends_with("-first") {
                    asha.first_full_after(3)
                } else if method.contains("-lead") {
                    asha.first_full_after(9)
                } else {
                    asha
                }
            }),
            Arc::new(NopPruner),
        ),
        _ => return None,
    })
}

/// A study (maximising "acc") running `method` on `task` with budgets from 1 to `r` and
/// reduction factor `eta`.
pub fn study(task: &str, method: &str, seed: u64, r: u64, eta: u64) -> Result<Study, String> {
    let (sampler, pruner) =
        parts(method, seed, r, eta).ok_or_else(|| format!("unknown method '{method}'"))?;
    Study::builder(&format!("{task}-{method}-{seed}"))
        .direction(Direction::Maximize)
        .sampler_arc(sampler)
        .pruner_arc(pruner)
        .seed(seed)
        .build()
        .map_err(|e| e.to_string())
}

/// The seed of a trial's training: distinct per (run seed, trial number).
pub fn training_seed(run_seed: u64, trial: u64) -> u64 {
    run_seed.wrapping_mul(1_000_003).wrapping_add(trial)
}

/// Runs `method` on `task` until `budget` epochs are spent.
pub fn run(
    source: &dyn CurveSource,
    task: &str,
    method: &str,
    seed: u64,
    budget: u64,
) -> Result<Run, String> {
    let r = source.max_epochs();
    let study = study(task, method, seed, r as u64, 3)?;
    let rec = Recorder::new(budget);
    // The learners of trials that stopped at their budget below R, by trial number: the
    // checkpoints a promotion continues (each taken once).
    let checkpoints: Mutex<HashMap<u64, Box<dyn Learner + '_>>> = Mutex::new(HashMap::new());
    let objective = |t: &mut Trial| -> tuneforge::Result<f64> {
        rec.trial();
        let mut learner = source.learner(task, t, training_seed(seed, t.number()))?;
        // Under a promotion schedule the trial continues the learner of the trial it promotes
        // (its checkpoint) from that trial's budget to its own, the fresh one above having only
        // recorded the parameters; otherwise it trains from scratch to the end.
        let end = budget_of(t.frozen()).map_or(r, |b| b as usize);
        let attr = |k: &str| t.frozen().system_attrs.get(k).and_then(|v| v.as_u64());
        let start = match attr(tuneforge::attrs::RESUME_FROM) {
            Some(from) => {
                let budget = attr(tuneforge::attrs::RESUME_BUDGET).ok_or_else(|| {
                    Error::Storage(format!("trial {from} continued without its budget"))
                })?;
                learner = checkpoints
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&from)
                    .ok_or_else(|| Error::Storage(format!("no checkpoint of trial {from}")))?;
                budget as usize
            }
            None => 0,
        };
        let mut acc = f64::NAN;
        for e in start + 1..=end {
            acc = learner.accuracy_after(e)?;
            rec.spend(1);
            t.report(e as u64, [("acc", acc)])?;
            if e < r && t.should_prune()? {
                return Err(Error::Pruned);
            }
        }
        if end == r {
            rec.full(rec.spent(), acc);
        } else {
            checkpoints
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(t.number(), learner);
        }
        Ok(acc)
    };
    rec.optimize(&study, objective)?;
    Ok(rec.into_run(task, method, seed))
}

/// Whether a median fraction `f` with upper interval end `hi` meets the target `at_most`:
/// only when the whole interval does is it met beyond seed noise.
pub fn target_verdict(f: f64, hi: f64, at_most: f64) -> &'static str {
    if hi <= at_most {
        "met"
    } else if f <= at_most {
        "**met by the median only**: the interval reaches above it, so other seeds may miss it"
    } else {
        "**not met**"
    }
}

/// Checkpoints, as fractions of the budget.
pub const CHECKPOINTS: [f64; 6] = [0.02, 0.05, 0.1, 0.2, 0.5, 1.0];

/// The level of the rank test beside target 2's median comparison.
const SIGNIFICANCE: f64 = 0.05;

/// The rank of `v` among `values` (which hold `v`; higher is better, 1 = best), ties sharing
/// the mean of their ranks.
fn rank_among(v: f64, values: impl Iterator<Item = f64>) -> f64 {
    let (better, ties) = values.fold((0usize, 0usize), |(b, t), o| {
        (b + usize::from(o > v), t + usize::from(o == v))
    });
    better as f64 + (ties as f64 + 1.0) / 2.0
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Resamplings behind the interval of the budget fraction needed to reach random search's level.
pub const BOOTSTRAP_REPLICATES: usize = 1000;

/// The budget fraction `run` needed to reach `level` (infinite: never).
fn fraction_to(run: &Run, level: f64, budget: u64) -> f64 {
    run.epochs_to(level)
        .map_or(f64::INFINITY, |e| e as f64 / budget as f64)
}

/// A percentile bootstrap interval (5% and 95%) of the median over tasks of the budget fraction
/// a method needs to reach random search's final level. `tasks` holds, per task, random search's
/// runs and the method's runs; each of `replicates` resamplings draws both with replacement,
/// recomputes the level (the median of random search's best at `budget`, no result counting as
/// 0) and the method's median fraction, then the median over tasks. Infinite bounds: never.
pub fn fraction_interval(
    tasks: &[(&[&Run], &[&Run])],
    budget: u64,
    replicates: usize,
    seed: u64,
) -> (f64, f64) {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut medians = Vec::with_capacity(replicates);
    for _ in 0..replicates {
        let mut per_task = Vec::with_capacity(tasks.len());
        for (random, method) in tasks {
            if random.is_empty() || method.is_empty() {
                continue;
            }
            let level = median(
                (0..random.len())
                    .map(|_| {
                        let b = random[rng.random_range(0..random.len())].best_at(budget);
                        if b.is_nan() { 0.0 } else { b }
                    })
                    .collect(),
            );
            per_task.push(median(
                (0..method.len())
                    .map(|_| fraction_to(method[rng.random_range(0..method.len())], level, budget))
                    .collect(),
            ));
        }
        medians.push(median(per_task));
    }
    medians.sort_by(f64::total_cmp);
    let at = |q: f64| {
        medians
            .get(((medians.len().saturating_sub(1)) as f64 * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    (at(0.05), at(0.95))
}

/// The mean of `v` (NaN when empty).
fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

/// How a multi-fidelity section names its cost and its metric (the metric is always "higher is
/// better").
pub struct Units {
    /// One configuration's full budget, e.g. "52 epochs".
    pub full: String,
    /// The metric, e.g. "validation accuracy".
    pub metric: String,
    /// What the cost counts, e.g. "epochs".
    pub cost_name: String,
    /// What the whole budget pays for, e.g. "100 configurations trained for 52 epochs".
    pub budget_text: String,
    /// A cost as text, e.g. "260 epochs".
    pub cost: fn(u64) -> String,
    /// A difference of the metric as text, e.g. "-1.58 points".
    pub gap: fn(f64) -> String,
    /// What a run with no full-budget result yet counts as.
    pub missing: f64,
}

impl Units {
    /// Epochs as the cost and validation accuracy in percent as the metric: `budget` epochs of
    /// full trainings of `r` epochs.
    pub fn epochs(r: u64, budget: u64) -> Units {
        Units {
            full: format!("{r} epochs"),
            metric: "validation accuracy".into(),
            cost_name: "epochs".into(),
            budget_text: format!(
                "{} configurations trained for {r} epochs",
                budget / r.max(1)
            ),
            cost: |c| format!("{c} epochs"),
            gap: |d| format!("{d:+.2} points"),
            missing: 0.0,
        }
    }
}

/// The median of `v`; None when it is empty.
fn median_if_any(v: Vec<f64>) -> Option<f64> {
    (!v.is_empty()).then(|| median(v))
}

/// The best full-budget value at `epochs` of each run of `method` on `task` with seeds in
/// `seeds` that reaches `epochs` (`units.missing` for a run with no full trial yet).
fn best_at_per_seed(
    by: &std::collections::BTreeMap<(&str, &str), Vec<&Run>>,
    task: &str,
    method: &str,
    epochs: u64,
    units: &Units,
    seeds: &std::ops::Range<u64>,
) -> Vec<f64> {
    by.get(&(task, method))
        .into_iter()
        .flatten()
        .filter(|r| seeds.contains(&r.seed) && r.reaches(epochs))
        .map(|r| {
            let b = r.best_at(epochs);
            if b.is_nan() { units.missing } else { b }
        })
        .collect()
}

/// Target 2's test between two disjoint seed blocks of one method: (the tasks where its median
/// with seeds `a` is at least its median with seeds `b` at every checkpoint the runs of both
/// reach, the tasks with runs in both blocks). Against itself a method is as good as it: this
/// is what a method no better and no worse than the best peer scores, seed noise alone.
fn self_test(
    by: &std::collections::BTreeMap<(&str, &str), Vec<&Run>>,
    tasks: &std::collections::BTreeSet<&str>,
    method: &str,
    checkpoints: &[u64],
    units: &Units,
    a: &std::ops::Range<u64>,
    b: &std::ops::Range<u64>,
) -> (usize, usize) {
    let med =
        |task: &str, seeds, c| median_if_any(best_at_per_seed(by, task, method, c, units, seeds));
    let mut out = (0, 0);
    for &task in tasks {
        if med(task, a, 0).is_none() || med(task, b, 0).is_none() {
            continue;
        }
        out.1 += 1;
        // Compared where both blocks have runs that reach the checkpoint.
        let holds = checkpoints
            .iter()
            .all(|&c| match (med(task, a, c), med(task, b, c)) {
                (Some(x), Some(y)) => x >= y,
                _ => true,
            });
        out.0 += usize::from(holds);
    }
    out
}

/// Target 2 on the runs with seeds in `seeds`: per task, ours (`best`) against the best peer
/// (the lowest mean rank among the peers with runs over the checkpoints; ties: the first
/// listed), and against the best of all peers at each checkpoint. A peer whose runs were all
/// cut short before a checkpoint is left out there: ranked over, and compared at, the
/// checkpoints its runs reach.
struct TargetTwo<'a> {
    /// Tasks with at least one peer.
    tasks: usize,
    /// Tasks where ours is at least the best peer at every checkpoint.
    wins: usize,
    /// Tasks where ours is at least every peer at every checkpoint.
    wins_envelope: usize,
    /// Tasks where every peer ran, and the wins among them.
    tasks_all_peers: usize,
    wins_all_peers: usize,
    /// Tasks where a one-sided Mann-Whitney test over the seeds (p < 0.05) finds the best peer
    /// ahead of ours at one checkpoint or more, and where it finds ours ahead of that peer.
    peer_ahead_significantly: Vec<&'a str>,
    ours_ahead_significantly: usize,
    /// Per checkpoint, the tasks where that test finds the peer ahead, and ours.
    peer_ahead_at: Vec<usize>,
    ours_ahead_at: Vec<usize>,
    /// How often each peer is the best peer.
    best_peers: std::collections::BTreeMap<&'a str, usize>,
    /// Per lost task, the largest gap to its best peer, as text.
    gaps: Vec<String>,
}

fn target_two<'a>(
    by: &std::collections::BTreeMap<(&'a str, &'a str), Vec<&Run>>,
    tasks: &std::collections::BTreeSet<&'a str>,
    best: &str,
    peers: &[&'a str],
    checkpoints: &[u64],
    units: &Units,
    seeds: std::ops::Range<u64>,
) -> TargetTwo<'a> {
    let med = |task: &str, m: &str, epochs: u64| {
        median_if_any(best_at_per_seed(by, task, m, epochs, units, &seeds))
    };
    let mut out = TargetTwo {
        tasks: 0,
        wins: 0,
        wins_envelope: 0,
        tasks_all_peers: 0,
        wins_all_peers: 0,
        peer_ahead_significantly: Vec::new(),
        ours_ahead_significantly: 0,
        peer_ahead_at: vec![0; checkpoints.len()],
        ours_ahead_at: vec![0; checkpoints.len()],
        best_peers: Default::default(),
        gaps: Vec::new(),
    };
    for &task in tasks {
        let here: Vec<&str> = peers
            .iter()
            .copied()
            .filter(|p| med(task, p, 0).is_some())
            .collect();
        if here.is_empty() {
            continue;
        }
        out.tasks += 1;
        let full = here.len() == peers.len();
        out.tasks_all_peers += usize::from(full);
        // Per checkpoint: ours and each peer's median (None: no run of that peer reaches it).
        let at: Vec<(u64, f64, Vec<Option<f64>>)> = checkpoints
            .iter()
            .map(|&c| {
                let theirs = here.iter().map(|p| med(task, p, c)).collect();
                (c, med(task, best, c).unwrap_or(units.missing), theirs)
            })
            .collect();
        let mean_ranks: Vec<f64> = (0..here.len())
            .map(|i| {
                let ranks: Vec<f64> = at
                    .iter()
                    .filter_map(|(_, _, theirs)| {
                        theirs[i].map(|v| rank_among(v, theirs.iter().flatten().copied()))
                    })
                    .collect();
                mean(&ranks)
            })
            .collect();
        let top = (0..here.len())
            .min_by(|a, b| mean_ranks[*a].total_cmp(&mean_ranks[*b]))
            .unwrap_or(0);
        *out.best_peers.entry(here[top]).or_default() += 1;
        let (mut peer_ahead, mut ours_ahead) = (false, false);
        for (i, &c) in checkpoints.iter().enumerate() {
            let per_seed = |m| best_at_per_seed(by, task, m, c, units, &seeds);
            let (mine, theirs) = (per_seed(best), per_seed(here[top]));
            let (p, o) = (
                rank_test::p_greater(&theirs, &mine) < SIGNIFICANCE,
                rank_test::p_greater(&mine, &theirs) < SIGNIFICANCE,
            );
            out.peer_ahead_at[i] += usize::from(p);
            out.ours_ahead_at[i] += usize::from(o);
            peer_ahead |= p;
            ours_ahead |= o;
        }
        if peer_ahead {
            out.peer_ahead_significantly.push(task);
        }
        out.ours_ahead_significantly += usize::from(ours_ahead);
        if at
            .iter()
            .all(|(_, mine, theirs)| theirs.iter().flatten().all(|v| mine >= v))
        {
            out.wins_envelope += 1;
        }
        let worst = at
            .iter()
            .filter_map(|(c, mine, theirs)| theirs[top].map(|v| (*c, mine - v)))
            .filter(|(_, d)| *d < 0.0)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        match worst {
            None => {
                out.wins += 1;
                out.wins_all_peers += usize::from(full);
            }
            Some((c, d)) => {
                let gap = if d.is_finite() {
                    (units.gap)(d)
                } else {
                    "no full-budget result yet".into()
                };
                out.gaps.push(format!(
                    "{task} ({}: {gap} at {})",
                    here[top],
                    (units.cost)(c)
                ));
            }
        }
    }
    out
}

/// The tables of a multi-fidelity section of docs/BENCHMARKS.md: `runs` at `budget` (in the
/// cost `units` name); `ours` names tuneforge's methods (the rest are peers). With `figure` (the
/// path the section links, relative to the Markdown file) it also returns the anytime figure
/// there, as SVG: mean rank against the budget spent, on a finer grid than the table, for random
/// search, TPE, tuneforge's best methods and every peer.
pub fn section(
    runs: &[Run],
    budget: u64,
    units: &Units,
    ours: &[&str],
    header: &str,
    figure: Option<&str>,
) -> (String, Option<String>) {
    use std::collections::{BTreeMap, BTreeSet};
    let tasks: BTreeSet<&str> = runs.iter().map(|r| r.task.as_str()).collect();
    let mut methods: Vec<&str> = Vec::new();
    for r in runs {
        if !methods.contains(&r.method.as_str()) {
            methods.push(&r.method);
        }
    }
    let by: BTreeMap<(&str, &str), Vec<&Run>> = runs.iter().fold(BTreeMap::new(), |mut m, r| {
        m.entry((r.task.as_str(), r.method.as_str()))
            .or_default()
            .push(r);
        m
    });
    // Target 1 counts the budget each run needed: only runs that could spend the whole budget.
    let by_full: BTreeMap<(&str, &str), Vec<&Run>> = by
        .iter()
        .map(|(k, rs)| {
            (
                *k,
                rs.iter().copied().filter(|r| r.reaches(budget)).collect(),
            )
        })
        .collect();
    let seeds = by.values().map(|v| v.len()).max().unwrap_or(0);
    let med_at = |task: &str, m: &str, epochs: u64| {
        median_if_any(best_at_per_seed(
            &by,
            task,
            m,
            epochs,
            units,
            &(0..u64::MAX),
        ))
    };
    let checkpoints: Vec<u64> = CHECKPOINTS
        .iter()
        .map(|f| (f * budget as f64).round() as u64)
        .collect();
    let mut s = String::from(header);

    // Mean ranks.
    s.push_str(&format!(
        "\n### Anytime quality: mean rank over {} tasks (lower is better)\n\nEach method's median \
         over seeds of the best {} at {} found within the budget fraction, ranked per task among \
         the methods run on it.\n\n| method | runs |",
        tasks.len(),
        units.metric,
        units.full
    ));
    for f in CHECKPOINTS {
        s.push_str(&format!(" {}% |", f * 100.0));
    }
    s.push_str("\n|---|---:|");
    for _ in CHECKPOINTS {
        s.push_str("---:|");
    }
    s.push('\n');
    // Per method and point of `points`, its rank on each task.
    let rank_at = |points: &[u64]| {
        let mut ranks: BTreeMap<&str, Vec<Vec<f64>>> = BTreeMap::new();
        for &task in &tasks {
            for (ci, &c) in points.iter().enumerate() {
                let vals: Vec<(&str, f64)> = methods
                    .iter()
                    .filter_map(|m| med_at(task, m, c).map(|v| (*m, v)))
                    .collect();
                for (m, v) in &vals {
                    let r = ranks
                        .entry(m)
                        .or_insert_with(|| vec![Vec::new(); points.len()]);
                    r[ci].push(rank_among(*v, vals.iter().map(|(_, o)| *o)));
                }
            }
        }
        ranks
    };
    let ranks = rank_at(&checkpoints);
    for m in &methods {
        let n: usize = by
            .iter()
            .filter(|((_, mm), _)| mm == m)
            .map(|(_, v)| v.len())
            .sum();
        s.push_str(&format!("| {m} | {n} |"));
        for r in &ranks[m] {
            s.push_str(&format!(" {:.2} |", mean(r)));
        }
        s.push('\n');
    }
    let figure_at = s.len();

    // Target 1: budget needed to match random search's final quality.
    s.push_str(&format!(
        "\n### Budget to reach random search's final quality\n\nPer task, the level is random \
         search's median (over seeds) best {} after its whole budget ({}); for each method, the \
         median over seeds of the {} it needed to reach that level, as a fraction of that budget \
         (a run that never reached it counts as never). Target for Hyperband or BOHB: at most 0.10 (median over tasks). The interval \
         is a 90% bootstrap interval of that median: {BOOTSTRAP_REPLICATES} resamplings of the \
         seeds, per task, of both random search (its level) and the method.\n\n\
         | method | median fraction over tasks | 90% interval | tasks within 0.10 | tasks never reached (median) |\n\
         |---|---:|---:|---:|---:|\n",
        units.metric, units.budget_text, units.cost_name
    ));
    // Each method's median fraction and its 90% interval.
    let show = |f: f64| {
        if f.is_finite() {
            format!("{f:.3}")
        } else {
            "never".into()
        }
    };
    let mut fractions: BTreeMap<&str, (f64, f64, f64)> = BTreeMap::new();
    for m in &methods {
        let mut per_task = Vec::new();
        let mut never = 0;
        for &task in &tasks {
            let (Some(level), Some(rs)) = (
                med_at(task, "random", budget),
                by_full.get(&(task, *m)).filter(|rs| !rs.is_empty()),
            ) else {
                continue;
            };
            let f = median(rs.iter().map(|r| fraction_to(r, level, budget)).collect());
            if f.is_infinite() {
                never += 1;
            }
            per_task.push(f);
        }
        if per_task.is_empty() {
            continue;
        }
        let within = per_task.iter().filter(|f| **f <= 0.1).count();
        let med = median(per_task.clone());
        let resampled: Vec<(&[&Run], &[&Run])> = tasks
            .iter()
            .filter_map(|&t| {
                Some((
                    by_full.get(&(t, "random"))?.as_slice(),
                    by_full.get(&(t, *m))?.as_slice(),
                ))
            })
            .collect();
        let (lo, hi) = fraction_interval(&resampled, budget, BOOTSTRAP_REPLICATES, 0);
        fractions.insert(m, (med, lo, hi));
        s.push_str(&format!(
            "| {m} | {} | {} – {} | {within} of {} | {never} |\n",
            show(med),
            show(lo),
            show(hi),
            per_task.len()
        ));
    }
    // tuneforge's Hyperband and BOHB methods (not the peers, whose names may say Hyperband).
    let hb = METHODS
        .iter()
        .map(|(m, _)| *m)
        .filter(|m| m.contains("hyperband") || m.starts_with("bohb"))
        .filter_map(|m| fractions.get(m).map(|f| (m, *f)))
        .min_by(|a, b| a.1.0.total_cmp(&b.1.0));
    if let Some((m, (f, lo, hi))) = hb {
        s.push_str(&format!(
            "\nBest of tuneforge's Hyperband/BOHB: **{m}, {}** of the budget (90% interval \
             {} – {}): target {}.\n",
            show(f),
            show(lo),
            show(hi),
            target_verdict(f, hi, 0.1)
        ));
    }

    // Target 2: our best multi-fidelity method against the best peer, checkpoint by checkpoint.
    let peers: Vec<&str> = methods
        .iter()
        .copied()
        .filter(|m| !ours.contains(m))
        .collect();
    let mf: Vec<&str> = methods
        .iter()
        .copied()
        .filter(|m| ours.contains(m) && !["random", "tpe"].contains(m))
        .collect();
    let avg =
        |m: &str| ranks[m].iter().flatten().sum::<f64>() / ranks[m].iter().flatten().count() as f64;
    let best_ranked = mf.iter().copied().min_by(|a, b| avg(a).total_cmp(&avg(b)));
    if let (false, Some(best)) = (peers.is_empty(), best_ranked) {
        let t2 = target_two(&by, &tasks, best, &peers, &checkpoints, units, 0..u64::MAX);
        let pct_of = |w: usize, n: usize| 100.0 * w as f64 / n.max(1) as f64;
        let verdict_of = |w: usize, n: usize| {
            if n > 0 && w as f64 >= 0.75 * n as f64 {
                "met against these peers"
            } else {
                "**not met**"
            }
        };
        let n = t2.tasks;
        let tally: Vec<String> = t2
            .best_peers
            .iter()
            .map(|(p, k)| format!("{p} on {k}"))
            .collect();
        s.push_str(&format!(
            "\n### tuneforge's best multi-fidelity method against the best peer\n\n\
             tuneforge's best multi-fidelity method by mean rank is **{best}**. On each task the \
             best peer is the one with the lowest mean rank among the peers ({}) over the {} \
             checkpoints: {}. On {} of {n} tasks ({:.0}%) its median anytime {} is at least \
             that peer's at every checkpoint; target 75%: {}.{}\n\n\
             A stricter test, against the best of all peers at each checkpoint (no single \
             peer's curve): {} of {n} tasks ({:.0}%), {}.\n",
            peers.join(", "),
            CHECKPOINTS.len(),
            tally.join(", "),
            t2.wins,
            pct_of(t2.wins, n),
            units.metric,
            verdict_of(t2.wins, n),
            if t2.gaps.is_empty() {
                String::new()
            } else {
                format!(
                    " Where that peer is ahead (the largest gap): {}.",
                    t2.gaps.join(", ")
                )
            },
            t2.wins_envelope,
            pct_of(t2.wins_envelope, n),
            verdict_of(t2.wins_envelope, n).trim_matches('*'),
        ));
        let counts = |v: &[usize]| {
            v.iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        s.push_str(&format!(
            "\nThe medians above move with the seeds. A one-sided Mann-Whitney U test over the \
             seeds at each checkpoint (p < {SIGNIFICANCE}) finds that best peer ahead of {best} \
             at one checkpoint or more on {} of {n} tasks{}, and {best} ahead of it on {} of {n} \
             (per checkpoint, {}: the peer on {}, {best} on {}). (Between two methods of equal \
             quality, {} such tests a task find a given one of them ahead somewhere by chance on \
             up to {:.0}% of tasks.) Target 2 is judged on the medians, not on this test.\n",
            t2.peer_ahead_significantly.len(),
            if t2.peer_ahead_significantly.is_empty() {
                String::new()
            } else {
                format!(" ({})", t2.peer_ahead_significantly.join(", "))
            },
            t2.ours_ahead_significantly,
            CHECKPOINTS.map(|f| format!("{:.0}%", 100.0 * f)).join(", "),
            counts(&t2.peer_ahead_at),
            counts(&t2.ours_ahead_at),
            CHECKPOINTS.len(),
            100.0 * (1.0 - (1.0 - SIGNIFICANCE).powi(CHECKPOINTS.len() as i32)),
        ));
        if t2.tasks_all_peers < n {
            s.push_str(&format!(
                "\nNot every peer ran on every task. On the {} tasks where all of them ran: \
                 {} of {} ({:.0}%), {}.\n",
                t2.tasks_all_peers,
                t2.wins_all_peers,
                t2.tasks_all_peers,
                pct_of(t2.wins_all_peers, t2.tasks_all_peers),
                verdict_of(t2.wins_all_peers, t2.tasks_all_peers).trim_matches('*'),
            ));
        }
        // With more than 10 seeds, the same count on each block of 10 seeds: how far a
        // 10-seed verdict moves with the seeds.
        if seeds > 10 {
            let blocks: Vec<String> = (0..seeds as u64)
                .step_by(10)
                .map(|lo| {
                    let b = target_two(&by, &tasks, best, &peers, &checkpoints, units, lo..lo + 10);
                    let hi = (lo + 9).min(seeds as u64 - 1);
                    format!("seeds {lo}–{hi}: {} of {}", b.wins, b.tasks)
                })
                .collect();
            s.push_str(&format!(
                "\nThe same count on each block of 10 seeds (ours and the peers' runs with those \
                 seeds; a peer counts where it has runs in the block): {}.\n",
                blocks.join(", ")
            ));
            // The scale of those counts: each method's blocks of 10 seeds against each other.
            let blocks: Vec<std::ops::Range<u64>> = (0..seeds as u64)
                .step_by(10)
                .map(|lo| lo..lo + 10)
                .collect();
            let floor: Vec<String> = std::iter::once(best)
                .chain(peers.iter().copied())
                .filter_map(|m| {
                    let (mut wins, mut n) = (0, 0);
                    for a in &blocks {
                        for b in blocks.iter().filter(|b| *b != a) {
                            let (w, k) = self_test(&by, &tasks, m, &checkpoints, units, a, b);
                            wins += w;
                            n += k;
                        }
                    }
                    (n > 0).then(|| format!("{m} {wins} of {n} ({:.0}%)", pct_of(wins, n)))
                })
                .collect();
            s.push_str(&format!(
                "\nFor scale, the same test between one method's own blocks of 10 seeds (each \
                 block against each other block, on the tasks with runs in both), i.e. what a \
                 method scores against one exactly as good, from seed noise alone: {}.\n",
                floor.join(", ")
            ));
        }
    }
    s.push_str(&format!("\nSeeds per (task, method): up to {seeds}."));
    // Runs cut short: per method, how many and how far they reach.
    let short: Vec<String> = methods
        .iter()
        .filter_map(|m| {
            let cut: Vec<u64> = runs
                .iter()
                .filter(|r| r.method == *m && !r.reaches(budget))
                .filter_map(|r| r.budget)
                .collect();
            let reach = cut.iter().min()?;
            Some(format!(
                "{m}: {} runs reach {}% of the budget",
                cut.len(),
                (100.0 * *reach as f64 / budget as f64).round()
            ))
        })
        .collect();
    if !short.is_empty() {
        s.push_str(&format!(
            " Runs cut short add seeds at the checkpoints they reach and are left out beyond \
             (and from the budget to random search's level): {}.",
            short.join("; ")
        ));
    }
    s.push('\n');

    let Some(path) = figure else {
        return (s, None);
    };
    // The figure: mean rank at 41 budget fractions from 1 % to 100 %, evenly spaced in log.
    let fractions: Vec<f64> = (0..=40)
        .map(|i| 10f64.powf(-2.0 + 2.0 * i as f64 / 40.0))
        .collect();
    let points: Vec<u64> = fractions
        .iter()
        .map(|f| ((f * budget as f64).round() as u64).max(1))
        .collect();
    let fine = rank_at(&points);
    let mut shown: Vec<&str> = Vec::new();
    let ours_best = [best_ranked, hb.map(|(m, _)| m)];
    for m in ["random", "tpe"]
        .into_iter()
        .chain(ours_best.into_iter().flatten())
        .chain(peers.iter().copied())
    {
        if fine.contains_key(m) && !shown.contains(&m) {
            shown.push(m);
        }
    }
    let curves: Vec<tuneforge_dashboard::plot::Curve> = shown
        .iter()
        .map(|m| tuneforge_dashboard::plot::Curve {
            name: (*m).to_string(),
            points: fractions
                .iter()
                .zip(&fine[m])
                .map(|(f, r)| (*f, mean(r)))
                .collect(),
            bold: ours_best.contains(&Some(*m)),
            dashed: peers.contains(m),
        })
        .collect();
    let svg = tuneforge_dashboard::plot::curves_svg(
        &format!("Anytime quality, mean rank over {} tasks", tasks.len()),
        &format!(
            "budget spent (fraction of {}, log scale)",
            units.budget_text
        ),
        "mean rank among all methods (lower is better)",
        (fractions[0], 1.0),
        |x| format!("{}%", (x * 100.0).round()),
        &curves,
    );
    let list = |pick: &dyn Fn(&tuneforge_dashboard::plot::Curve) -> bool| {
        curves
            .iter()
            .filter(|c| pick(c))
            .map(|c| format!("`{}`", c.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let drawn = [
        (list(&|c| !c.bold && !c.dashed), ""),
        (
            list(&|c| c.bold),
            " (bold: tuneforge's best by mean rank and by budget to random search's level)",
        ),
        (list(&|c| c.dashed), " (dashed: the peers)"),
    ]
    .iter()
    .filter(|(names, _)| !names.is_empty())
    .map(|(names, what)| format!("{names}{what}"))
    .collect::<Vec<_>>()
    .join("; ");
    match svg {
        Ok(svg) => {
            s.insert_str(
                figure_at,
                &format!(
                    "\n![Mean rank against the budget spent]({path})\n\nThe same ranks at 41 \
                     budget fractions from 1 % to 100 %, among all {} methods. Drawn: {}.\n",
                    methods.len(),
                    drawn
                ),
            );
            (s, Some(svg))
        }
        Err(e) => {
            eprintln!("warning: the anytime figure was not drawn: {e}");
            (s, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run of `method` on `task` with the given anytime trace.
    fn run_of(task: &str, method: &str, trace: Vec<(u64, f64)>) -> Run {
        Run {
            task: task.into(),
            method: method.into(),
            ..traced(trace)
        }
    }

    /// A run of `method` on `task` with `seed` whose one full result, `v`, came at 20 epochs.
    fn seeded_run(task: &str, method: &str, seed: u64, v: f64) -> Run {
        Run {
            seed,
            ..run_of(task, method, vec![(20, v)])
        }
    }

    fn traced(trace: Vec<(u64, f64)>) -> Run {
        Run {
            task: "t".into(),
            method: "m".into(),
            seed: 0,
            trace,
            trials: 0,
            seconds: None,
            budget: None,
        }
    }

    /// A learner that must be trained through consecutive epochs: it counts a call that skips
    /// or repeats an epoch (what a promotion given a fresh learner would do).
    struct Counting<'a> {
        x: f64,
        done: usize,
        broken: &'a AtomicU64,
    }

    impl Learner for Counting<'_> {
        fn accuracy_after(&mut self, epoch: usize) -> tuneforge::Result<f64> {
            if epoch != self.done + 1 {
                self.broken.fetch_add(1, Ordering::SeqCst);
            }
            self.done = epoch;
            Ok(100.0 * (1.0 - (self.x - 0.3).powi(2)) * epoch as f64 / 27.0)
        }
    }

    struct Synthetic(AtomicU64);

    impl CurveSource for Synthetic {
        fn max_epochs(&self) -> usize {
            27
        }

        fn learner<'a>(
            &'a self,
            _task: &str,
            trial: &mut Trial,
            _seed: u64,
        ) -> tuneforge::Result<Box<dyn Learner + 'a>> {
            let x = trial.suggest_float("x", 0.0, 1.0).get()?;
            Ok(Box::new(Counting {
                x,
                done: 0,
                broken: &self.0,
            }))
        }
    }

    /// Under a promotion schedule a promoted trial continues the learner its predecessor left
    /// (every learner sees consecutive epochs), and promotions reach the full budget.
    #[test]
    fn promotions_continue_the_checkpointed_learner() {
        for method in ["asha-promote", "bohb-promote-hb", "hyperband-sync"] {
            let source = Synthetic(AtomicU64::new(0));
            let run = run(&source, "t", method, 3, 40 * 27).unwrap();
            assert_eq!(source.0.load(Ordering::SeqCst), 0, "{method}");
            assert!(run.best_at(40 * 27) > 90.0, "{method}: {run:?}");
            // Far more trials than 40 full trainings: most stopped at low budgets.
            assert!(run.trials > 80, "{method}: {} trials", run.trials);
        }
    }

    /// The target counts as met only when the whole interval is within it; a median within
    /// it whose interval reaches above says so.
    #[test]
    fn the_verdict_follows_the_interval() {
        assert_eq!(target_verdict(0.08, 0.095, 0.1), "met");
        assert!(target_verdict(0.099, 0.13, 0.1).contains("median only"));
        assert_eq!(target_verdict(0.118, 0.138, 0.1), "**not met**");
        assert_eq!(
            target_verdict(f64::INFINITY, f64::INFINITY, 0.1),
            "**not met**"
        );
    }

    /// With a metric that may be negative (FCNet's negated MSE) a run without a full-budget
    /// result counts as the units' `missing` (-inf): no method is behind at a checkpoint where
    /// none has a result, and a gap is measured where ours has none and a peer has one.
    #[test]
    fn a_missing_result_counts_as_the_units_say() {
        let run = |m: &str, trace| run_of("t", m, trace);
        let units = crate::fcnet_width::units(10);
        let ours = ["random", "bohb"];
        // Budget 10 000: checkpoints at 200, 500, 1000, ... Nobody has a result at 200.
        let level = vec![(300, -0.5), (9000, -0.2)];
        let runs = vec![
            run("random", level.clone()),
            run("bohb", vec![(300, -0.4), (900, -0.1)]),
            run("peer", vec![(450, -0.45), (5000, -0.3)]),
        ];
        let (s, _) = section(&runs, 10_000, &units, &ours, "", None);
        assert!(s.contains("On 1 of 1 tasks (100%)"), "{s}");
        // A peer with a result at 200 where ours has none: the gap says so.
        let runs = vec![
            run("random", level),
            run("bohb", vec![(300, -0.4), (900, -0.1)]),
            run("peer", vec![(150, -0.45), (5000, -0.3)]),
        ];
        let (s, _) = section(&runs, 10_000, &units, &ours, "", None);
        assert!(s.contains("On 0 of 1 tasks (0%)"), "{s}");
        assert!(
            s.contains("t (peer: no full-budget result yet at 0.2 mean trainings)"),
            "{s}"
        );
        // The best method's fraction: bohb reached random search's level (-0.2) at 900.
        assert!(s.contains("| bohb | 0.090 |"), "{s}");
    }

    /// Target 2 compares ours with each task's best peer (the lowest mean rank among the peers
    /// over the checkpoints), not with the best of all peers at each checkpoint: a peer that
    /// leads at two checkpoints and trails at four is not the best peer, and the stricter test
    /// reports the loss to it separately.
    #[test]
    fn target_two_compares_with_each_tasks_best_peer() {
        let units = Units::epochs(10, 1000);
        let ours = ["random", "bohb"];
        // Checkpoints at 20, 50, 100, 200, 500 and 1000 epochs.
        let runs = vec![
            run_of("t", "random", vec![(20, 50.0), (900, 65.0)]),
            run_of("t", "bohb", vec![(20, 60.0), (150, 70.0)]),
            // Best peer on t (ranks 0, 1, 1, 0, 0, 0): ours is never behind it.
            run_of("t", "p-steady", vec![(20, 59.0), (200, 69.0)]),
            // Ahead of ours at 50 and 100 only.
            run_of("t", "p-spike", vec![(20, 40.0), (50, 61.0)]),
            run_of("u", "random", vec![(20, 50.0)]),
            run_of("u", "bohb", vec![(20, 60.0)]),
            run_of("u", "p-steady", vec![(20, 59.0), (500, 62.0)]),
            run_of("u", "p-spike", vec![(20, 40.0)]),
        ];
        let (s, _) = section(&runs, 1000, &units, &ours, "", None);
        assert!(s.contains("over the 6 checkpoints: p-steady on 2."), "{s}");
        assert!(
            s.contains("On 1 of 2 tasks (50%) its median anytime"),
            "{s}"
        );
        assert!(s.contains("target 75%: **not met**"), "{s}");
        assert!(
            s.contains("u (p-steady: -2.00 points at 500 epochs)"),
            "{s}"
        );
        assert!(!s.contains("t (p-"), "{s}");
        assert!(
            s.contains("(no single peer's curve): 0 of 2 tasks (0%), not met."),
            "{s}"
        );
        assert!(!s.contains("Not every peer ran"), "{s}");
        // p-spike ran on t only: the count over the tasks with every peer is t's alone.
        let t_spike: Vec<Run> = runs
            .iter()
            .filter(|r| r.task == "t" || r.method != "p-spike")
            .cloned()
            .collect();
        let (s, _) = section(&t_spike, 1000, &units, &ours, "", None);
        assert!(s.contains("On 1 of 2 tasks (50%)"), "{s}");
        assert!(
            s.contains(
                "Not every peer ran on every task. On the 1 tasks where all of them ran: 1 of 1 \
                 (100%), met against these peers."
            ),
            "{s}"
        );
        // Without u, t alone meets the target against these peers.
        let t_only: Vec<Run> = runs.into_iter().filter(|r| r.task == "t").collect();
        let (s, _) = section(&t_only, 1000, &units, &ours, "", None);
        assert!(s.contains("On 1 of 1 tasks (100%)"), "{s}");
        assert!(s.contains("target 75%: met against these peers."), "{s}");
    }

    /// Storing a plan's runs replaces the stored runs the plan covers and keeps the others,
    /// and a line that is not a run, in the order runs sort in.
    /// A missing results file holds no runs; one that cannot be read is an error naming it,
    /// and is left as it was.
    #[test]
    fn an_unreadable_results_file_is_an_error_not_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.jsonl");
        assert_eq!(read_stored(&missing).unwrap(), "");
        let bad = dir.path().join("bad.jsonl");
        let bytes = [b'{', 0xff, 0xfe, b'}', b'\n'];
        std::fs::write(&bad, bytes).unwrap();
        let err = read_stored(&bad).unwrap_err();
        assert!(
            err.contains("cannot read") && err.contains("bad.jsonl"),
            "{err}"
        );
        assert_eq!(std::fs::read(&bad).unwrap(), bytes);
        let good = dir.path().join("good.jsonl");
        std::fs::write(&good, "{}\n").unwrap();
        assert_eq!(read_stored(&good).unwrap(), "{}\n");
    }

    #[test]
    fn storing_runs_keeps_the_runs_of_other_plans() {
        let line = |r: &Run| serde_json::to_string(r).expect("a run serialises");
        let old_t = run_of("t", "bohb", vec![(10, 50.0)]);
        let other = run_of("u", "bohb", vec![(10, 40.0)]);
        let stored = format!("{}\nnot a run\n\n{}\n", line(&other), line(&old_t));
        let new_t = run_of("t", "bohb", vec![(10, 55.0)]);
        let text = merge_runs(&stored, std::slice::from_ref(&new_t), |r| r.task == "t");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines, ["not a run", &line(&new_t), &line(&other)]);
        assert_eq!(merge_runs("", &[], |_| true), "\n");
    }

    /// A run cut short (its budget below the section's) counts at the checkpoints it reaches
    /// and nowhere else: not as a run that found nothing more, not in the budget to random
    /// search's level.
    #[test]
    fn runs_cut_short_count_at_the_checkpoints_they_reach() {
        let units = Units::epochs(10, 1000);
        let ours = ["random", "bohb"];
        // Checkpoints at 20, 50, 100, 200, 500 and 1000 epochs.
        let mut runs = Vec::new();
        for seed in 0..3 {
            runs.push(Run {
                seed,
                ..run_of("t", "random", vec![(20, 50.0), (900, 60.0)])
            });
            runs.push(Run {
                seed,
                ..run_of("t", "bohb", vec![(20, 59.0), (400, 65.0)])
            });
        }
        runs.push(run_of("t", "p", vec![(20, 61.0), (450, 70.0)]));
        for seed in 1..3 {
            runs.push(Run {
                seed,
                budget: Some(200),
                ..run_of("t", "p", vec![(20, 58.0)])
            });
        }
        let (s, _) = section(&runs, 1000, &units, &ours, "", None);
        // Up to 200 epochs the peer's median is 58 (three seeds), from 500 on 70 (one).
        assert!(
            s.contains("| bohb | 3 | 1.00 | 1.00 | 1.00 | 1.00 | 2.00 | 2.00 |"),
            "{s}"
        );
        assert!(
            s.contains("| p | 3 | 2.00 | 2.00 | 2.00 | 2.00 | 1.00 | 1.00 |"),
            "{s}"
        );
        assert!(s.contains("t (p: -5.00 points at 500 epochs)"), "{s}");
        // Random search's level is 60: the full run reached it after 20 epochs of 1000.
        assert!(
            s.contains("| p | 0.020 | 0.020 – 0.020 | 1 of 1 | 0 |"),
            "{s}"
        );
        assert!(s.contains("p: 2 runs reach 20% of the budget"), "{s}");
        // Read as full runs, the short ones would hide the peer's lead at 500 epochs.
        let as_full: Vec<Run> = runs
            .iter()
            .map(|r| Run {
                budget: None,
                ..r.clone()
            })
            .collect();
        let (s, _) = section(&as_full, 1000, &units, &ours, "", None);
        assert!(s.contains("On 1 of 1 tasks (100%)"), "{s}");
        assert!(!s.contains("reach 20% of the budget"), "{s}");
    }

    /// With more than 10 seeds, target 2 is also counted on each block of 10 seeds: ours wins
    /// on seeds 0-9, loses on 10-19, and ties the peer over all 20.
    #[test]
    fn target_two_is_counted_per_block_of_ten_seeds() {
        let units = Units::epochs(10, 1000);
        let ours = ["random", "bohb"];
        let mut runs = Vec::new();
        for seed in 0..20 {
            let at = |m: &str, v: f64| seeded_run("t", m, seed, v);
            runs.push(at("random", 50.0));
            runs.push(at("bohb", if seed < 10 { 60.0 } else { 58.0 }));
            runs.push(at("peer", 59.0));
        }
        let (s, _) = section(&runs, 1000, &units, &ours, "", None);
        assert!(s.contains("On 1 of 1 tasks (100%)"), "{s}");
        assert!(
            s.contains("a peer counts where it has runs in the block): seeds 0–9: 1 of 1, seeds 10–19: 0 of 1."),
            "{s}"
        );
        // Each method against itself: bohb's first block wins, its second loses; the peer
        // ties itself everywhere.
        assert!(
            s.contains("from seed noise alone: bohb 1 of 2 (50%), peer 2 of 2 (100%)."),
            "{s}"
        );
        // Ten seeds: no blocks.
        let ten: Vec<Run> = runs.iter().filter(|r| r.seed < 10).cloned().collect();
        let (s, _) = section(&ten, 1000, &units, &ours, "", None);
        assert!(!s.contains("block of 10 seeds"), "{s}");
    }

    /// The rank test beside target 2 tells a lead the seeds could give from a clear one: a
    /// median lost by a hair among spread seeds is significant neither way; a constant lead
    /// over 20 seeds is, for whichever side holds it.
    #[test]
    fn target_two_reports_which_leads_a_rank_test_finds() {
        let units = Units::epochs(10, 1000);
        let ours = ["random", "bohb"];
        let mut runs = Vec::new();
        for seed in 0..20 {
            let at = |task: &str, m: &str, v: f64| seeded_run(task, m, seed, v);
            let spread = 59.0 + 2.0 * (seed % 2) as f64;
            for (task, ours, peer) in [("a", 60.0, 59.0), ("b", spread, 60.5), ("c", 60.0, 65.0)] {
                runs.push(at(task, "random", 50.0));
                runs.push(at(task, "bohb", ours));
                runs.push(at(task, "peer", peer));
            }
        }
        let (s, _) = section(&runs, 1000, &units, &ours, "", None);
        // The medians: ours holds on a only.
        assert!(s.contains("On 1 of 3 tasks (33%)"), "{s}");
        assert!(
            s.contains(
                "finds that best peer ahead of bohb at one checkpoint or more on 1 of 3 tasks \
                 (c), and bohb ahead of it on 1 of 3 (per checkpoint, 2%, 5%, 10%, 20%, 50%, \
                 100%: the peer on 1, 1, 1, 1, 1, 1, bohb on 1, 1, 1, 1, 1, 1)."
            ),
            "{s}"
        );
    }

    /// With a figure path the section links the figure after the rank table, and the SVG draws
    /// random search, tuneforge's best and the peer (named in its legend), but no other of ours.
    #[test]
    fn the_anytime_figure_is_linked_and_draws_the_chosen_methods() {
        let run = |m: &str, trace| run_of("t", m, trace);
        let units = Units::epochs(10, 1000);
        let ours = ["random", "asha", "bohb"];
        let runs = vec![
            run("random", vec![(10, 50.0), (900, 60.0)]),
            run("asha", vec![(30, 40.0), (700, 55.0)]),
            run("bohb", vec![(20, 55.0), (100, 65.0)]),
            run("peer-x", vec![(10, 52.0), (500, 58.0)]),
        ];
        let (s, svg) = section(&runs, 1000, &units, &ours, "", Some("figures/f.svg"));
        let svg = svg.expect("a figure");
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(80)]);
        for shown in ["random", "bohb", "peer-x"] {
            assert!(
                svg.contains(&format!(">\n{shown}\n<")),
                "{shown} in the legend"
            );
        }
        assert!(!svg.contains(">\nasha\n<"), "neither the best nor a peer");
        let link = s.find("![Mean rank against the budget spent](figures/f.svg)");
        let (table, next) = (s.find("| bohb |"), s.find("### Budget to reach"));
        assert!(link.is_some() && table < link && link < next, "{s}");
        let (plain, none) = section(&runs, 1000, &units, &ours, "", None);
        assert!(none.is_none() && !plain.contains("!["));
    }

    /// Without seed-to-seed differences the interval is the point estimate; a method that never
    /// reaches the level gives "never" at both ends; spread between seeds gives an interval
    /// around the median within the spread.
    #[test]
    fn the_fraction_interval_reflects_seed_noise() {
        let random: Vec<Run> = (0..5)
            .map(|_| traced(vec![(100, 0.5), (1000, 0.9)]))
            .collect();
        let random: Vec<&Run> = random.iter().collect();
        let same: Vec<Run> = (0..5).map(|_| traced(vec![(50, 0.95)])).collect();
        let same: Vec<&Run> = same.iter().collect();
        assert_eq!(
            fraction_interval(&[(&random, &same)], 1000, 200, 1),
            (0.05, 0.05)
        );
        let never = [traced(vec![(10, 0.1)])];
        let never: Vec<&Run> = never.iter().collect();
        let (lo, hi) = fraction_interval(&[(&random, &never)], 1000, 200, 1);
        assert!(lo.is_infinite() && hi.is_infinite());
        let spread: Vec<Run> = (1..=10).map(|k| traced(vec![(10 * k, 0.95)])).collect();
        let spread: Vec<&Run> = spread.iter().collect();
        let (lo, hi) = fraction_interval(&[(&random, &spread)], 1000, 1000, 1);
        assert!((0.01..0.055).contains(&lo), "{lo} {hi}");
        assert!(hi > 0.055 && hi <= 0.1, "{lo} {hi}");
    }

    #[cfg(feature = "lcbench")]
    #[test]
    fn runs_spend_their_budget_and_pruning_methods_try_more_configurations() {
        use crate::lcbench::{EPOCHS, Surrogate};
        let dir = std::path::PathBuf::from(
            std::env::var("CARGO_MANIFEST_DIR")
                .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string()),
        )
        .join("../../../shared/data/lcbench");
        if !dir.join("model.onnx").exists() {
            assert!(std::env::var("CI").is_err(), "CI has the shared data");
            return;
        }
        let s = Surrogate::load(&dir).unwrap();
        let s = crate::lcbench::Curves(&s);
        let budget = 20 * EPOCHS as u64;
        let t0 = std::time::Instant::now();
        let random = run(&s, "3945", "random", 1, budget).unwrap();
        let t1 = t0.elapsed();
        let hb = run(&s, "3945", "hyperband", 1, budget).unwrap();
        let t2 = t0.elapsed() - t1;
        let bohb = run(&s, "3945", "bohb", 1, budget).unwrap();
        eprintln!(
            "random {t1:?} ({} trials), hyperband {t2:?} ({} trials), bohb {:?} ({} trials)",
            random.trials,
            hb.trials,
            t0.elapsed() - t1 - t2,
            bohb.trials
        );
        assert_eq!(random.trials, 20);
        assert!(hb.trials > 40, "{}", hb.trials);
        assert!(
            random
                .trace
                .windows(2)
                .all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1)
        );
        assert!(random.best_at(budget) > 50.0);
    }
}
