//! The multi-objective benchmark: ZDT1, ZDT2 and ZDT3 (Zitzler, Deb & Thiele 2000, 6 variables)
//! minimising two objectives; the quality of a run at a budget is the hypervolume of the
//! Pareto front of its first `budget` trials (reference point (1.1, 11)). Peers write the
//! objective values of their trials in order, so every hypervolume is computed by the same code.

use tuneforge::pareto::{hypervolume, pareto_front};
use tuneforge::sampler::{Nsga2Config, TpeConfig};
use tuneforge::{Direction, Optimize, RandomSampler, Sampler, Study};

/// The reference point of the hypervolume.
pub const REFERENCE: [f64; 2] = [1.1, 11.0];
/// Variables of every problem.
pub const DIM: usize = 6;
/// The problems.
pub const PROBLEMS: [&str; 3] = ["zdt1", "zdt2", "zdt3"];

/// The two objectives of `problem` at `x` (all in [0, 1]).
pub fn zdt(problem: &str, x: &[f64]) -> (f64, f64) {
    let f1 = x[0];
    let g = 1.0 + 9.0 * x[1..].iter().sum::<f64>() / (x.len() - 1) as f64;
    let r = f1 / g;
    let h = match problem {
        "zdt1" => 1.0 - r.sqrt(),
        "zdt2" => 1.0 - r * r,
        _ => 1.0 - r.sqrt() - r * (10.0 * std::f64::consts::PI * f1).sin(),
    };
    (f1, g * h)
}

/// One run: the objective values of its trials, in order.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Run {
    /// Problem name.
    pub problem: String,
    /// Sampler name.
    pub sampler: String,
    /// Seed.
    pub seed: u64,
    /// (f1, f2) of each complete trial in order.
    pub values: Vec<[f64; 2]>,
}

impl Run {
    /// Hypervolume of the Pareto front of the first `budget` trials.
    pub fn hv_at(&self, budget: usize) -> f64 {
        let pts: Vec<Vec<f64>> = self
            .values
            .iter()
            .take(budget)
            .map(|v| v.to_vec())
            .collect();
        let front: Vec<Vec<f64>> = pareto_front(&pts)
            .into_iter()
            .map(|i| pts[i].clone())
            .collect();
        hypervolume(&front, &REFERENCE)
    }
}

/// Runs tuneforge sampler `name` (nsga2, tpe, random) on `problem` for `budget` trials.
pub fn run(problem: &str, name: &str, seed: u64, budget: usize) -> Result<Run, String> {
    let sampler: Box<dyn Sampler> = match name {
        "nsga2" => Box::new(Nsga2Config::default().build(seed)),
        "tpe" => Box::new(TpeConfig::default().build(seed)),
        "random" => Box::new(RandomSampler::new(seed)),
        other => return Err(format!("unknown sampler {other}")),
    };
    let study = Study::builder(problem)
        .directions([Direction::Minimize, Direction::Minimize])
        .sampler_arc(std::sync::Arc::from(sampler))
        .build()
        .map_err(|e| e.to_string())?;
    study
        .optimize(
            |t| -> tuneforge::Result<(f64, f64)> {
                let x: Vec<f64> = (0..DIM)
                    .map(|i| t.suggest_float(&format!("x{i}"), 0.0, 1.0).get())
                    .collect::<tuneforge::Result<_>>()?;
                Ok(zdt(problem, &x))
            },
            Optimize::trials(budget),
        )
        .map_err(|e| e.to_string())?;
    let values = study
        .trials()
        .map_err(|e| e.to_string())?
        .iter()
        .filter_map(|t| t.values.as_ref().map(|v| [v[0], v[1]]))
        .collect();
    Ok(Run {
        problem: problem.into(),
        sampler: name.into(),
        seed,
        values,
    })
}

/// The Markdown table: median hypervolume (and quartiles) per problem, sampler and budget.
pub fn section(runs: &[Run], budgets: &[usize], header: &str) -> String {
    use std::collections::BTreeMap;
    let mut groups: BTreeMap<(&str, &str), Vec<&Run>> = BTreeMap::new();
    for r in runs {
        groups
            .entry((r.problem.as_str(), r.sampler.as_str()))
            .or_default()
            .push(r);
    }
    let mut s = String::from(header);
    s.push_str("\n| problem | sampler | seeds |");
    for b in budgets {
        s.push_str(&format!(" HV @{b} (median [q1, q3]) |"));
    }
    s.push_str("\n|---|---|---:|");
    for _ in budgets {
        s.push_str("---:|");
    }
    s.push('\n');
    let mut best: BTreeMap<(&str, usize), (f64, &str)> = BTreeMap::new();
    for ((p, name), rs) in &groups {
        s.push_str(&format!("| {p} | {name} | {} |", rs.len()));
        for &b in budgets {
            let mut v: Vec<f64> = rs.iter().map(|r| r.hv_at(b)).collect();
            v.sort_by(f64::total_cmp);
            let q = |f: f64| crate::report::quantile(&v, f);
            let med = q(0.5);
            s.push_str(&format!(" {:.3} [{:.3}, {:.3}] |", med, q(0.25), q(0.75)));
            let e = best.entry((p, b)).or_insert((f64::MIN, name));
            if med > e.0 {
                *e = (med, name);
            }
        }
        s.push('\n');
    }
    s.push_str("\nHighest median per problem and budget: ");
    let lines: Vec<String> = best
        .iter()
        .map(|((p, b), (_, name))| format!("{p} @{b}: {name}"))
        .collect();
    s.push_str(&lines.join("; "));
    s.push_str(".\n");
    s
}
