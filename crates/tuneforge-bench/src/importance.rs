//! Parameter-importance benchmark: time and correctness of fANOVA and PED-ANOVA on studies of
//! 1,000 and 10,000 trials over 10 parameters, with Optuna's evaluators on the same data.
//!
//! The objective `5 x0 + 3 x1^2 + sin(6 x2) + 0.5 x0 x1` (seven more parameters do nothing)
//! has a known order: x0, x1, x2, then the idle ones.

use indexmap::IndexMap;
use rand::{Rng, SeedableRng};
use std::sync::Arc;

use tuneforge::importance::{self, Method};
use tuneforge::{Direction, Distribution, FrozenTrial, ParamValue, StudyView, TrialState};

/// Parameters of the benchmark study.
pub const DIM: usize = 10;

/// The objective.
pub fn objective(x: &[f64]) -> f64 {
    5.0 * x[0] + 3.0 * x[1] * x[1] + (6.0 * x[2]).sin() + 0.5 * x[0] * x[1]
}

/// `n` uniformly random configurations and their objective values.
pub fn dataset(n: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<f64>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<Vec<f64>> = (0..n)
        .map(|_| (0..DIM).map(|_| rng.random::<f64>()).collect())
        .collect();
    let y = x.iter().map(|r| objective(r)).collect();
    (x, y)
}

/// The dataset as a study view (minimisation).
pub fn view(x: &[Vec<f64>], y: &[f64]) -> StudyView {
    let d = Distribution::float(0.0, 1.0);
    let trials: Vec<Arc<FrozenTrial>> = x
        .iter()
        .zip(y)
        .enumerate()
        .map(|(i, (r, v))| {
            let mut t = FrozenTrial::new_for_tests(i as u64, TrialState::Complete);
            let mut params = IndexMap::new();
            let mut dists = IndexMap::new();
            for (k, xk) in r.iter().enumerate() {
                params.insert(format!("x{k}"), ParamValue::Float(*xk));
                dists.insert(format!("x{k}"), d.clone());
            }
            t.params = params;
            t.distributions = dists;
            t.values = Some(vec![*v]);
            Arc::new(t)
        })
        .collect();
    StudyView {
        directions: vec![Direction::Minimize],
        trials: Arc::new(trials),
    }
}

/// One timed evaluation (tuneforge's or a peer's; peers write the same fields as JSON lines).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Timing {
    /// `tuneforge-fanova`, `optuna-fanova`, ...
    pub method: String,
    /// Trials in the study.
    pub trials: usize,
    /// Seconds for the evaluation.
    pub seconds: f64,
    /// Parameters, most important first.
    pub ranking: Vec<String>,
    /// Share of the importance given to the seven idle parameters.
    pub idle_share: Option<f64>,
    /// True when the evaluation was stopped at the peer script's time limit.
    #[serde(default)]
    pub timed_out: bool,
}

/// Times tuneforge's two methods on `n` trials.
pub fn run(n: usize) -> tuneforge::Result<Vec<Timing>> {
    let (x, y) = dataset(n, 7);
    let v = view(&x, &y);
    let mut out = Vec::new();
    for (name, m) in [
        ("tuneforge-fanova", Method::Fanova),
        ("tuneforge-ped-anova", Method::PedAnova),
    ] {
        let start = std::time::Instant::now();
        let rep = importance::evaluate(&v, 0, m, 0)?;
        let seconds = start.elapsed().as_secs_f64();
        let idle = rep
            .params
            .iter()
            .filter(|p| !["x0", "x1", "x2"].contains(&p.name.as_str()))
            .map(|p| p.importance)
            .sum();
        out.push(Timing {
            method: name.into(),
            trials: n,
            seconds,
            ranking: rep.params.iter().map(|p| p.name.clone()).collect(),
            idle_share: Some(idle),
            timed_out: false,
        });
    }
    Ok(out)
}

/// Writes the dataset as CSV (`x0..x9,y`) for the peers.
pub fn write_csv(path: &std::path::Path, n: usize) -> std::io::Result<()> {
    use std::fmt::Write;
    let (x, y) = dataset(n, 7);
    let mut s = (0..DIM)
        .map(|k| format!("x{k}"))
        .collect::<Vec<_>>()
        .join(",");
    s.push_str(",y\n");
    for (r, v) in x.iter().zip(&y) {
        for xk in r {
            let _ = write!(s, "{xk:?},");
        }
        let _ = writeln!(s, "{v:?}");
    }
    std::fs::write(path, s)
}

/// The `importance` section of docs/BENCHMARKS.md.
pub fn section(rows: &[Timing], header: &str) -> String {
    use std::fmt::Write;
    let mut s = header.to_string();
    s.push_str(
        "\nfANOVA's variance shares have the order x0, x1, x2; PED-ANOVA rates what it takes to reach \
         the top 10 % of trials, where the dip of sin(6 x2) can outrank x1.\n\n\
         | method | trials | seconds | top 3 | share of the 7 idle parameters |\n\
         |---|---|---|---|---|\n",
    );
    let mut sorted: Vec<&Timing> = rows.iter().collect();
    sorted.sort_by(|a, b| (a.trials, &a.method).cmp(&(b.trials, &b.method)));
    for r in sorted {
        if r.timed_out {
            let _ = writeln!(
                s,
                "| {} | {} | > {:.0} (stopped) | - | - |",
                r.method, r.trials, r.seconds
            );
            continue;
        }
        let top: Vec<&str> = r.ranking.iter().take(3).map(String::as_str).collect();
        // fANOVA's variance shares have this order; PED-ANOVA rates what it takes to reach the
        // top 10 %, where the dip of sin(6 x2) can matter more than x1.
        let right = top == ["x0", "x1", "x2"] || !r.method.ends_with("-fanova");
        let _ = writeln!(
            s,
            "| {} | {} | {:.3} | {}{} | {:.1}% |",
            r.method,
            r.trials,
            r.seconds,
            top.join(", "),
            if right { "" } else { " (**wrong order**)" },
            100.0 * r.idle_share.unwrap_or(f64::NAN)
        );
    }
    for n in rows
        .iter()
        .map(|r| r.trials)
        .collect::<std::collections::BTreeSet<_>>()
    {
        let t = |m: &str| {
            rows.iter()
                .find(|r| r.trials == n && r.method == m)
                .map(|r| r.seconds)
        };
        let stopped = rows
            .iter()
            .any(|r| r.trials == n && r.method == "optuna-fanova" && r.timed_out);
        if let (Some(a), Some(b)) = (t("tuneforge-fanova"), t("optuna-fanova")) {
            let _ = writeln!(
                s,
                "\nfANOVA at {n} trials: tuneforge {a:.2} s, Optuna {}{b:.2} s ({}{:.0}x).",
                if stopped { "more than " } else { "" },
                if stopped { "over " } else { "" },
                b / a
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_benchmark_ranks_its_known_order_at_small_size() {
        let rows = super::run(500).unwrap();
        for r in rows {
            assert_eq!(&r.ranking[..2], ["x0", "x1"], "{r:?}");
            assert!(r.idle_share.unwrap() < 0.15, "{r:?}");
        }
    }
}
