//! Learning-curve extrapolation: fit parametric curve families to a trial's partial learning
//! curve, predict the value at the full resource with its uncertainty, and stop the trial when
//! it is unlikely to beat the best trial so far.
//!
//! Domhan, Springenberg & Hutter 2015, "Speeding up Automatic Hyperparameter Optimization of
//! Deep Neural Networks by Extrapolation of Learning Curves" (IJCAI): a weighted combination of
//! parametric families (power laws, exponentials, logarithmic ...) models the curve; training
//! stops when P(y_final better than y_best) < δ (δ = 0.05 in the paper). The paper samples the
//! combination by MCMC; here each family is fitted by least squares (its one nonlinear parameter
//! on a grid, the rest in closed form), families are weighted by their Gaussian likelihood, and
//! the predictive spread is the families' disagreement plus the residual noise.

use super::{Pruner, Target, loss_at, losses, peers};
use crate::error::Result;
use crate::record::{FrozenTrial, TrialState};
use crate::sampler::StudyView;

/// Prunes trials whose extrapolated final value is unlikely to beat the best one.
#[derive(Clone, Debug)]
pub struct CurveExtrapolationPruner {
    /// The full resource (the step whose value counts).
    pub max_resource: u64,
    /// Reports needed before extrapolating.
    pub min_points: usize,
    /// Stop when P(final better than best) falls below this (δ).
    pub threshold: f64,
    /// The metric and direction that drive pruning.
    pub target: Target,
}

impl CurveExtrapolationPruner {
    /// Extrapolates to `max_resource`; δ = 0.05, at least 4 reports.
    pub fn new(max_resource: u64) -> Self {
        CurveExtrapolationPruner {
            max_resource,
            min_points: 4,
            threshold: 0.05,
            target: Target::default(),
        }
    }

    /// The metric and direction that drive pruning.
    pub fn target(mut self, t: Target) -> Self {
        self.target = t;
        self
    }

    /// Stop below this probability of improvement.
    pub fn threshold(mut self, p: f64) -> Self {
        self.threshold = p;
        self
    }

    /// Reports needed before extrapolating.
    pub fn min_points(mut self, n: usize) -> Self {
        self.min_points = n.max(3);
        self
    }
}

/// A family y = c + a·g(x; θ): its basis g for a value of the nonlinear parameter θ.
struct Family {
    thetas: &'static [f64],
    basis: fn(f64, f64) -> f64,
}

const FAMILIES: [Family; 4] = [
    // pow3: c + a·x^(−α)
    Family {
        thetas: &[0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0],
        basis: |x, a| x.powf(-a),
    },
    // exp3: c + a·e^(−b·x), b relative to the curve's own scale (x is normalised)
    Family {
        thetas: &[0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0],
        basis: |x, b| (-b * x).exp(),
    },
    // log-linear: c + a·ln x
    Family {
        thetas: &[0.0],
        basis: |x, _| x.ln(),
    },
    // ilog2: c + a / ln(x + 1)
    Family {
        thetas: &[0.0],
        basis: |x, _| 1.0 / (x + 1.0).ln(),
    },
];

/// Least squares of y = c + a·g: returns (c, a, sum of squared errors).
fn fit_linear(g: &[f64], y: &[f64]) -> Option<(f64, f64, f64)> {
    let n = g.len() as f64;
    let (mg, my) = (g.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sgg: f64 = g.iter().map(|v| (v - mg) * (v - mg)).sum();
    if sgg <= 1e-18 {
        return None;
    }
    let sgy: f64 = g.iter().zip(y).map(|(a, b)| (a - mg) * (b - my)).sum();
    let a = sgy / sgg;
    let c = my - a * mg;
    let sse = g
        .iter()
        .zip(y)
        .map(|(gi, yi)| (yi - c - a * gi).powi(2))
        .sum();
    Some((c, a, sse))
}

/// Predicted value at `x_final` and its standard deviation, from the curve (x, y).
pub(crate) fn extrapolate(xs: &[f64], ys: &[f64], x_final: f64) -> Option<(f64, f64)> {
    let n = xs.len();
    if n < 3 {
        return None;
    }
    // exp3's rate is relative to the observed span; the other families use x as is.
    let span = xs.iter().cloned().fold(f64::MIN, f64::max).max(1.0);
    let mut fits: Vec<(f64, f64)> = Vec::new(); // (prediction, sse)
    for (k, f) in FAMILIES.iter().enumerate() {
        let scale = if k == 1 { span } else { 1.0 };
        let best = f
            .thetas
            .iter()
            .filter_map(|&t| {
                let g: Vec<f64> = xs.iter().map(|&x| (f.basis)(x / scale, t)).collect();
                fit_linear(&g, ys).map(|(c, a, sse)| (c + a * (f.basis)(x_final / scale, t), sse))
            })
            .filter(|(p, _)| p.is_finite())
            .min_by(|a, b| a.1.total_cmp(&b.1));
        fits.extend(best);
    }
    if fits.is_empty() {
        return None;
    }
    // Gaussian likelihood weights: w ∝ SSE^(−n/2), computed in logs.
    let floor = 1e-12 * ys.iter().map(|y| y * y).sum::<f64>().max(1e-12);
    let logw: Vec<f64> = fits
        .iter()
        .map(|(_, sse)| -0.5 * n as f64 * (sse.max(floor)).ln())
        .collect();
    let top = logw.iter().cloned().fold(f64::MIN, f64::max);
    let w: Vec<f64> = logw.iter().map(|l| (l - top).exp()).collect();
    let wsum: f64 = w.iter().sum();
    let mean = fits.iter().zip(&w).map(|((p, _), w)| p * w).sum::<f64>() / wsum;
    let spread = fits
        .iter()
        .zip(&w)
        .map(|((p, _), w)| w * (p - mean).powi(2))
        .sum::<f64>()
        / wsum;
    let noise = fits
        .iter()
        .zip(&w)
        .map(|((_, sse), w)| w * sse / (n as f64 - 2.0).max(1.0))
        .sum::<f64>()
        / wsum;
    Some((mean, (spread + noise).sqrt()))
}

fn normal_cdf(z: f64) -> f64 {
    0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2))
}

impl Pruner for CurveExtrapolationPruner {
    fn prune(&self, study: &StudyView, trial: &FrozenTrial) -> Result<bool> {
        let Some((metric, d)) = self.target.resolve(study, trial)? else {
            return Ok(false);
        };
        let curve = losses(trial, &metric, d);
        if curve.len() < self.min_points || curve.iter().any(|(_, l)| !l.is_finite()) {
            // A diverged value (infinite loss) stops the trial outright once it has warmed up.
            return Ok(curve.len() >= self.min_points);
        }
        if curve.last().is_some_and(|(s, _)| *s >= self.max_resource) {
            return Ok(false);
        }
        let best = peers(study, trial)
            .filter(|t| t.state == TrialState::Complete)
            .filter_map(|t| loss_at(t, &metric, d, self.max_resource, Some(0)))
            .fold(f64::INFINITY, f64::min);
        if !best.is_finite() {
            return Ok(false);
        }
        let xs: Vec<f64> = curve.iter().map(|(s, _)| *s as f64).collect();
        let ys: Vec<f64> = curve.iter().map(|(_, l)| *l).collect();
        let Some((mean, sd)) = extrapolate(&xs, &ys, self.max_resource as f64) else {
            return Ok(false);
        };
        let p_better = if sd > 0.0 {
            normal_cdf((best - mean) / sd)
        } else if mean < best {
            1.0
        } else {
            0.0
        };
        Ok(p_better < self.threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{trial, view};
    use super::*;
    use crate::record::TrialState::{Complete, Running};

    fn pow_curve(c: f64, a: f64, alpha: f64, steps: usize) -> Vec<f64> {
        (1..=steps)
            .map(|x| c + a * (x as f64).powf(-alpha))
            .collect()
    }

    #[test]
    fn extrapolates_power_law_and_exponential_curves() {
        let xs: Vec<f64> = (1..=10).map(|x| x as f64).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 0.2 + 0.8 * x.powf(-0.5)).collect();
        let (m, _) = extrapolate(&xs, &ys, 100.0).unwrap();
        assert!((m - 0.28).abs() < 0.02, "{m}");
        let ys: Vec<f64> = xs.iter().map(|x| 0.1 + 0.9 * (-0.3 * x).exp()).collect();
        let (m, _) = extrapolate(&xs, &ys, 60.0).unwrap();
        assert!((m - 0.1).abs() < 0.05, "{m}");
    }

    /// The paper's rule: stop a run whose curve will not get near the best final value, keep
    /// one heading below it.
    #[test]
    fn stops_runs_that_will_not_beat_the_best_and_keeps_those_that_may() {
        let p = CurveExtrapolationPruner::new(50);
        let best = trial(0, Complete, &pow_curve(0.2, 0.8, 0.7, 50));
        let hopeless = trial(1, Running, &pow_curve(0.6, 0.8, 0.7, 8));
        let promising = trial(2, Running, &pow_curve(0.1, 1.2, 0.7, 8));
        let v = view(vec![best, hopeless.clone(), promising.clone()]);
        assert!(p.prune(&v, &hopeless).unwrap());
        assert!(!p.prune(&v, &promising).unwrap());
    }

    #[test]
    fn needs_a_few_points_and_a_completed_trial() {
        let p = CurveExtrapolationPruner::new(50);
        let best = trial(0, Complete, &pow_curve(0.2, 0.8, 0.7, 50));
        let short = trial(1, Running, &pow_curve(5.0, 0.8, 0.7, 3));
        assert!(!p.prune(&view(vec![best, short.clone()]), &short).unwrap());
        let alone = trial(1, Running, &pow_curve(5.0, 0.8, 0.7, 10));
        assert!(!p.prune(&view(vec![alone.clone()]), &alone).unwrap());
    }
}
