//! Test problems with known minima. Each asks its parameters through a [`Trial`], so any sampler
//! sees the same space it would see in real use (floats, log scales, ints, categoricals,
//! conditions). `bench/peers/problems.py` defines the same problems for the Python peers.
//!
//! Functions and optima: S. Surjanovic and D. Bingham, "Virtual Library of Simulation
//! Experiments: Test Functions and Datasets" (Simon Fraser University).

use std::f64::consts::PI;
use tuneforge::{Result, Trial};

/// A minimisation problem with a known optimum.
pub trait Problem: Send + Sync {
    /// Short name used in tables.
    fn name(&self) -> String;
    /// The global minimum.
    fn f_star(&self) -> f64;
    /// Evaluates one configuration, suggesting its parameters on `t`.
    fn evaluate(&self, t: &mut Trial) -> Result<f64>;
}

/// A box-bounded continuous function of `dim` variables `x0, x1, ...`.
pub struct Function {
    name: &'static str,
    dim: usize,
    low: f64,
    high: f64,
    f_star: f64,
    f: fn(&[f64]) -> f64,
}

impl Function {
    const fn new(
        name: &'static str,
        dim: usize,
        low: f64,
        high: f64,
        f_star: f64,
        f: fn(&[f64]) -> f64,
    ) -> Self {
        Function {
            name,
            dim,
            low,
            high,
            f_star,
            f,
        }
    }

    /// The value at `x` (for tests and for checking optima).
    pub fn at(&self, x: &[f64]) -> f64 {
        (self.f)(x)
    }
}

impl Problem for Function {
    fn name(&self) -> String {
        self.name.to_string()
    }
    fn f_star(&self) -> f64 {
        self.f_star
    }
    fn evaluate(&self, t: &mut Trial) -> Result<f64> {
        let mut x = Vec::with_capacity(self.dim);
        for i in 0..self.dim {
            let (lo, hi) = if self.name == "branin" {
                [(-5.0, 10.0), (0.0, 15.0)][i]
            } else {
                (self.low, self.high)
            };
            x.push(t.suggest_float(&format!("x{i}"), lo, hi).get()?);
        }
        Ok((self.f)(&x))
    }
}

/// Branin (2-D), minimum 0.397887 at three points.
pub fn branin(x: &[f64]) -> f64 {
    let (a, b, c) = (1.0, 5.1 / (4.0 * PI * PI), 5.0 / PI);
    let (r, s, t) = (6.0, 10.0, 1.0 / (8.0 * PI));
    a * (x[1] - b * x[0] * x[0] + c * x[0] - r).powi(2) + s * (1.0 - t) * x[0].cos() + s
}

fn hartmann(x: &[f64], a: &[&[f64]], p: &[&[f64]]) -> f64 {
    let alpha = [1.0, 1.2, 3.0, 3.2];
    -(0..4)
        .map(|i| {
            let inner: f64 = x
                .iter()
                .enumerate()
                .map(|(j, xj)| a[i][j] * (xj - p[i][j]).powi(2))
                .sum();
            alpha[i] * (-inner).exp()
        })
        .sum::<f64>()
}

/// Hartmann-3 on [0,1]^3, minimum -3.86278.
pub fn hartmann3(x: &[f64]) -> f64 {
    let a: [&[f64]; 4] = [
        &[3.0, 10.0, 30.0],
        &[0.1, 10.0, 35.0],
        &[3.0, 10.0, 30.0],
        &[0.1, 10.0, 35.0],
    ];
    let p: [&[f64]; 4] = [
        &[0.3689, 0.1170, 0.2673],
        &[0.4699, 0.4387, 0.7470],
        &[0.1091, 0.8732, 0.5547],
        &[0.0381, 0.5743, 0.8828],
    ];
    hartmann(x, &a, &p)
}

/// Hartmann-6 on [0,1]^6, minimum -3.32237.
pub fn hartmann6(x: &[f64]) -> f64 {
    let a: [&[f64]; 4] = [
        &[10.0, 3.0, 17.0, 3.5, 1.7, 8.0],
        &[0.05, 10.0, 17.0, 0.1, 8.0, 14.0],
        &[3.0, 3.5, 1.7, 10.0, 17.0, 8.0],
        &[17.0, 8.0, 0.05, 10.0, 0.1, 14.0],
    ];
    let p: [&[f64]; 4] = [
        &[0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886],
        &[0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991],
        &[0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650],
        &[0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381],
    ];
    hartmann(x, &a, &p)
}

/// Rosenbrock, minimum 0 at (1, ..., 1).
pub fn rosenbrock(x: &[f64]) -> f64 {
    x.windows(2)
        .map(|w| 100.0 * (w[1] - w[0] * w[0]).powi(2) + (1.0 - w[0]).powi(2))
        .sum()
}

/// Ackley, minimum 0 at the origin.
pub fn ackley(x: &[f64]) -> f64 {
    let d = x.len() as f64;
    let s1 = x.iter().map(|v| v * v).sum::<f64>() / d;
    let s2 = x.iter().map(|v| (2.0 * PI * v).cos()).sum::<f64>() / d;
    -20.0 * (-0.2 * s1.sqrt()).exp() - s2.exp() + 20.0 + std::f64::consts::E
}

/// Levy, minimum 0 at (1, ..., 1).
pub fn levy(x: &[f64]) -> f64 {
    let w: Vec<f64> = x.iter().map(|v| 1.0 + (v - 1.0) / 4.0).collect();
    let d = w.len();
    let mut s = (PI * w[0]).sin().powi(2);
    for wi in &w[..d - 1] {
        s += (wi - 1.0).powi(2) * (1.0 + 10.0 * (PI * wi + 1.0).sin().powi(2));
    }
    s + (w[d - 1] - 1.0).powi(2) * (1.0 + (2.0 * PI * w[d - 1]).sin().powi(2))
}

/// Styblinski-Tang's minimum per dimension, at x_i = -2.903534.
const STYBLINSKI_TANG_MIN_PER_DIM: f64 = -39.1661657037714;

/// Styblinski-Tang, minimum -39.16617 per dimension at x_i = -2.903534.
pub fn styblinski_tang(x: &[f64]) -> f64 {
    x.iter()
        .map(|v| v.powi(4) - 16.0 * v * v + 5.0 * v)
        .sum::<f64>()
        / 2.0
}

/// Rastrigin, minimum 0 at the origin.
pub fn rastrigin(x: &[f64]) -> f64 {
    10.0 * x.len() as f64
        + x.iter()
            .map(|v| v * v - 10.0 * (2.0 * PI * v).cos())
            .sum::<f64>()
}

/// Griewank, minimum 0 at the origin.
pub fn griewank(x: &[f64]) -> f64 {
    let s = x.iter().map(|v| v * v).sum::<f64>() / 4000.0;
    let p = x
        .iter()
        .enumerate()
        .map(|(i, v)| (v / ((i + 1) as f64).sqrt()).cos())
        .product::<f64>();
    1.0 + s - p
}

/// Functions kept out of the benchmark's tables: the same families at other dimensions and two
/// more families. A default chosen because it did well on [`functions`] should also do well
/// here (`tuneforge-bench samplers --held-out`), or it was fitted to the table.
pub fn held_out_functions() -> Vec<Function> {
    let f = Function::new;
    let st = STYBLINSKI_TANG_MIN_PER_DIM;
    vec![
        f("ackley5", 5, -32.768, 32.768, 0.0, ackley),
        f("ackley20", 20, -32.768, 32.768, 0.0, ackley),
        f("levy5", 5, -10.0, 10.0, 0.0, levy),
        f("levy20", 20, -10.0, 10.0, 0.0, levy),
        f("rosenbrock3", 3, -5.0, 10.0, 0.0, rosenbrock),
        f("rosenbrock10", 10, -5.0, 10.0, 0.0, rosenbrock),
        f("styblinski4", 4, -5.0, 5.0, st * 4.0, styblinski_tang),
        f("styblinski16", 16, -5.0, 5.0, st * 16.0, styblinski_tang),
        f("rastrigin6", 6, -5.12, 5.12, 0.0, rastrigin),
        f("griewank8", 8, -600.0, 600.0, 0.0, griewank),
    ]
}

/// The classic functions of the benchmark.
pub fn functions() -> Vec<Function> {
    let f = Function::new;
    vec![
        f("branin", 2, -5.0, 10.0, 0.397887357729738, branin),
        f("hartmann3", 3, 0.0, 1.0, -3.86278214782076, hartmann3),
        f("hartmann6", 6, 0.0, 1.0, -3.32236801141551, hartmann6),
        f("rosenbrock5", 5, -5.0, 10.0, 0.0, rosenbrock),
        f("ackley10", 10, -32.768, 32.768, 0.0, ackley),
        f("levy10", 10, -10.0, 10.0, 0.0, levy),
        f(
            "styblinski8",
            8,
            -5.0,
            5.0,
            STYBLINSKI_TANG_MIN_PER_DIM * 8.0,
            styblinski_tang,
        ),
    ]
}

/// A mixed space like a training run's: a log-scaled learning rate, an integer depth, a
/// categorical optimiser and a float dropout. Minimum 0.
pub struct Mixed;

impl Problem for Mixed {
    fn name(&self) -> String {
        "mixed".into()
    }
    fn f_star(&self) -> f64 {
        0.0
    }
    fn evaluate(&self, t: &mut Trial) -> Result<f64> {
        let lr = t.suggest_float("lr", 1e-5, 1.0).log().get()?;
        let layers = t.suggest_int("layers", 1, 8).get()?;
        let opt = t.suggest_categorical("optimizer", &["sgd", "adam", "rmsprop"])?;
        let dropout = t.suggest_float("dropout", 0.0, 0.9).get()?;
        let opt_cost = match opt {
            "adam" => 0.0,
            "sgd" => 0.5,
            _ => 1.0,
        };
        Ok((lr.log10() + 2.5).powi(2)
            + 0.3 * (layers - 3).abs() as f64
            + opt_cost
            + 2.0 * (dropout - 0.2).powi(2))
    }
}

/// A conditional space: the branch decides which parameters exist. Minimum 0 (branch "quad").
pub struct Conditional;

impl Problem for Conditional {
    fn name(&self) -> String {
        "conditional".into()
    }
    fn f_star(&self) -> f64 {
        0.0
    }
    fn evaluate(&self, t: &mut Trial) -> Result<f64> {
        let kind = t.suggest_categorical("kind", &["quad", "abs", "flat"])?;
        Ok(match kind {
            "quad" => {
                let x = t.suggest_float("qx", -3.0, 3.0).get()?;
                let y = t.suggest_float("qy", -3.0, 3.0).get()?;
                (x - 1.0).powi(2) + (y + 0.5).powi(2)
            }
            "abs" => {
                let z = t.suggest_int("az", 0, 10).get()?;
                0.2 * (z - 7).abs() as f64 + 0.5
            }
            _ => 1.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_out_functions_reach_their_minima_at_the_published_points() {
        for f in held_out_functions() {
            let at_min = if f.name.starts_with("levy") || f.name.starts_with("rosenbrock") {
                vec![1.0; f.dim]
            } else if f.name.starts_with("styblinski") {
                vec![-2.903534; f.dim]
            } else {
                vec![0.0; f.dim]
            };
            let v = f.at(&at_min);
            assert!(
                (v - f.f_star).abs() < 1e-4 * f.f_star.abs().max(1.0),
                "{}: {v}",
                f.name
            );
        }
        // The same values as bench/peers/problems.py gives (cross-language agreement).
        let g = held_out_functions();
        let at = |name: &str, x: &[f64]| g.iter().find(|f| f.name == name).unwrap().at(x);
        assert!((at("rastrigin6", &[0.3; 6]) - 79.08101966249684).abs() < 1e-9);
        assert!((at("griewank8", &[3.0; 8]) - 1.0180936361990047).abs() < 1e-9);
    }

    #[test]
    fn functions_reach_their_published_minima() {
        let at = |name: &str, x: &[f64]| {
            functions()
                .into_iter()
                .find(|f| f.name == name)
                .unwrap()
                .at(x)
        };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-4 * b.abs().max(1.0);
        assert!(close(at("branin", &[PI, 2.275]), 0.397887));
        assert!(close(at("branin", &[-PI, 12.275]), 0.397887));
        assert!(close(
            at("hartmann3", &[0.114614, 0.555649, 0.852547]),
            -3.86278
        ));
        assert!(close(
            at(
                "hartmann6",
                &[0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573]
            ),
            -3.32237
        ));
        assert_eq!(at("rosenbrock5", &[1.0; 5]), 0.0);
        assert!(at("ackley10", &[0.0; 10]).abs() < 1e-12);
        assert!(at("levy10", &[1.0; 10]).abs() < 1e-12);
        assert!(close(at("styblinski8", &[-2.903534; 8]), -39.16617 * 8.0));
        // The same values as bench/peers/problems.py gives (cross-language agreement).
        assert!((at("levy10", &[0.3; 10]) - 1.1255143237335299).abs() < 1e-12);
        assert!((at("ackley10", &[1.7; 10]) - 7.748707080017855).abs() < 1e-12);
        for f in functions().into_iter().chain(held_out_functions()) {
            // f* is a lower bound: random points never go below it.
            for k in 0..1000 {
                let x: Vec<f64> = (0..f.dim)
                    .map(|i| {
                        let u = ((k * 7919 + i * 104729) % 1000) as f64 / 1000.0;
                        if f.name == "branin" {
                            [(-5.0, 10.0), (0.0, 15.0)][i].0 + u * 15.0
                        } else {
                            f.low + u * (f.high - f.low)
                        }
                    })
                    .collect();
                assert!(f.at(&x) >= f.f_star - 1e-9, "{} below f*", f.name);
            }
        }
    }
}
