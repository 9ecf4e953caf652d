//! Runs a sampler on a problem for a budget of evaluations and records the best-so-far curve and
//! the time the sampler itself took (wall time minus objective time).

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::problems::Problem;
use tuneforge::{Optimize, Sampler, Study};

/// One run: a sampler on a problem with one seed. The same JSON line format is written by the
/// Python peers (`bench/peers/samplers.py`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunResult {
    /// Problem name.
    pub problem: String,
    /// Sampler name (peers prefixed with their package, e.g. `optuna-tpe`).
    pub sampler: String,
    /// Seed.
    pub seed: u64,
    /// Best objective value after each evaluation (length = budget).
    pub best: Vec<f64>,
    /// Mean seconds per trial spent outside the objective (sampling and bookkeeping).
    pub sampler_s_per_trial: f64,
}

/// Makes a sampler from a seed.
pub type SamplerFactory = Arc<dyn Fn(u64) -> Arc<dyn Sampler> + Send + Sync>;

/// Runs `sampler` on `problem` for `budget` evaluations.
pub fn run(
    problem: &dyn Problem,
    name: &str,
    sampler: &SamplerFactory,
    seed: u64,
    budget: usize,
) -> RunResult {
    let study = Study::builder(&problem.name())
        .sampler_arc(sampler(seed))
        .seed(seed)
        .build()
        .expect("in-memory study");
    let in_objective = Mutex::new(Duration::ZERO);
    let start = Instant::now();
    study
        .optimize(
            |t| -> tuneforge::Result<f64> {
                let t0 = Instant::now();
                let v = problem.evaluate(t);
                *in_objective.lock().unwrap_or_else(|p| p.into_inner()) += t0.elapsed();
                v
            },
            Optimize::trials(budget),
        )
        .expect("in-memory storage does not fail");
    let total = start.elapsed();
    let objective = in_objective.into_inner().unwrap_or_else(|p| p.into_inner());
    let mut best = Vec::with_capacity(budget);
    let mut b = f64::INFINITY;
    for t in study.trials().expect("in-memory storage does not fail") {
        if let Some(v) = t.value() {
            b = b.min(v);
        }
        best.push(b);
    }
    RunResult {
        problem: problem.name(),
        sampler: name.to_string(),
        seed,
        best,
        sampler_s_per_trial: total.saturating_sub(objective).as_secs_f64() / budget.max(1) as f64,
    }
}
