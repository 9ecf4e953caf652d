//! Output warping for GP-BO: the Yeo-Johnson power transform with its exponent λ fitted by
//! maximum likelihood, applied to the standardised losses before the GP sees them.
//!
//! Hyperparameter losses are rarely Gaussian: a few diverged or badly configured trials form a
//! long tail, and a GP fitted to raw values spends its variance on that tail and flattens the
//! region that matters. The transform is monotone for every λ, so the ranking of trials (and
//! which one is best) never changes; only the spacing does.
//!
//! # References
//! - I.-K. Yeo, R. A. Johnson, "A new family of power transformations to improve normality or
//!   symmetry", Biometrika 87(4), 2000 (the transform and its likelihood).
//! - A. I. Cowen-Rivers et al., "HEBO: Pushing the Limits of Sample-Efficient Hyperparameter
//!   Optimisation", JAIR 74, 2022 (power-transformed outputs for BO on hyperparameter tasks).

/// The Yeo-Johnson transform ψ(y; λ). Continuous in λ (the λ = 0 and λ = 2 branches are the
/// limits of the general ones) and strictly increasing in y.
pub fn yeo_johnson(y: f64, lambda: f64) -> f64 {
    const EPS: f64 = 1e-9;
    if y >= 0.0 {
        if lambda.abs() < EPS {
            y.ln_1p()
        } else {
            ((y + 1.0).powf(lambda) - 1.0) / lambda
        }
    } else if (lambda - 2.0).abs() < EPS {
        -(-y).ln_1p()
    } else {
        -((1.0 - y).powf(2.0 - lambda) - 1.0) / (2.0 - lambda)
    }
}

/// Profile log-likelihood of λ for the sample `y` under a normal model of ψ(y; λ) (Yeo and
/// Johnson's eq. for the MLE, constants dropped).
pub fn log_likelihood(y: &[f64], lambda: f64) -> f64 {
    let n = y.len() as f64;
    let t: Vec<f64> = y.iter().map(|&v| yeo_johnson(v, lambda)).collect();
    let mean = t.iter().sum::<f64>() / n;
    let var = t.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let jacobian: f64 = y.iter().map(|&v| v.signum() * v.abs().ln_1p()).sum();
    -0.5 * n * var.max(1e-300).ln() + (lambda - 1.0) * jacobian
}

/// The maximum-likelihood λ in [-2, 4] (golden-section search; the profile likelihood is
/// unimodal in λ for all but pathological samples).
pub fn fit_lambda(y: &[f64]) -> f64 {
    let (mut a, mut b) = (-2.0f64, 4.0f64);
    let g = 0.5 * (5f64.sqrt() - 1.0);
    for _ in 0..60 {
        let c = b - g * (b - a);
        let d = a + g * (b - a);
        if log_likelihood(y, c) > log_likelihood(y, d) {
            b = d;
        } else {
            a = c;
        }
    }
    0.5 * (a + b)
}

/// Mean and (population) standard deviation of `y`.
pub fn moments(y: &[f64]) -> (f64, f64) {
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    (
        mean,
        (y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt(),
    )
}

/// Standardises `y`, applies the fitted Yeo-Johnson transform, and returns the result (not yet
/// re-standardised), in the same order. Constant or too short samples come back unchanged
/// (or divided by their largest magnitude, where their variance overflowed).
pub fn yeo_johnson_standardised(y: &[f64]) -> Vec<f64> {
    let (mut mean, mut sd) = moments(y);
    let scaled: Vec<f64>;
    let mut y = y;
    if !sd.is_finite() {
        // Losses near f64::MAX (a diverged run) overflow the variance; divided by the largest
        // magnitude they do not. Only then, so ordinary histories keep their exact arithmetic.
        let top = y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        scaled = y.iter().map(|v| v / top).collect();
        y = &scaled;
        (mean, sd) = moments(y);
    }
    if y.len() < 3 || !sd.is_finite() || sd <= 0.0 {
        return y.to_vec();
    }
    let z: Vec<f64> = y.iter().map(|v| (v - mean) / sd).collect();
    let lambda = fit_lambda(&z);
    z.iter().map(|&v| yeo_johnson(v, lambda)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn transform_is_increasing_continuous_in_lambda_and_the_identity_at_one() {
        let ys: Vec<f64> = (-40..=40).map(|i| i as f64 * 0.25).collect();
        for lambda in [-2.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0] {
            for w in ys.windows(2) {
                assert!(
                    yeo_johnson(w[0], lambda) < yeo_johnson(w[1], lambda),
                    "λ {lambda}"
                );
            }
        }
        for &y in &ys {
            assert!((yeo_johnson(y, 1.0) - y).abs() < 1e-12);
            // The special branches (λ = 0 for y >= 0, λ = 2 for y < 0) are the limits of the
            // general ones.
            let special = if y >= 0.0 { 0.0 } else { 2.0 };
            let near = yeo_johnson(y, special + 1e-7);
            assert!((near - yeo_johnson(y, special)).abs() < 1e-5, "{y}");
        }
    }

    #[test]
    fn maximum_likelihood_recovers_the_exponent_of_warped_normal_data() {
        // Data x = ψ⁻¹(z; λ) with z normal: the MLE should find λ again.
        let inverse = |z: f64, lambda: f64| -> f64 {
            // Bisection on the increasing transform.
            let (mut lo, mut hi) = (-1e6f64, 1e6f64);
            for _ in 0..200 {
                let mid = 0.5 * (lo + hi);
                if yeo_johnson(mid, lambda) < z {
                    lo = mid
                } else {
                    hi = mid
                }
            }
            0.5 * (lo + hi)
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for lambda in [0.0, 0.5, 1.0, 1.5] {
            let z: Vec<f64> = (0..4000)
                .map(|_| {
                    // Box-Muller.
                    let (u, v): (f64, f64) = (rng.random(), rng.random());
                    0.5 * (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos()
                })
                .collect();
            let x: Vec<f64> = z.iter().map(|&z| inverse(z, lambda)).collect();
            let fitted = fit_lambda(&x);
            assert!(
                (fitted - lambda).abs() < 0.15,
                "λ {lambda}: fitted {fitted}"
            );
        }
    }

    #[test]
    fn a_long_right_tail_is_compressed_and_order_is_kept() {
        // Rosenbrock-like losses: most small, a few huge.
        let y: Vec<f64> = (0..50).map(|i| (i as f64 / 5.0).powi(4)).collect();
        let w = yeo_johnson_standardised(&y);
        assert!(w.windows(2).all(|p| p[0] < p[1]));
        let skew = |v: &[f64]| {
            let n = v.len() as f64;
            let m = v.iter().sum::<f64>() / n;
            let s = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt();
            v.iter().map(|x| ((x - m) / s).powi(3)).sum::<f64>() / n
        };
        assert!(
            skew(&y) > 1.0 && skew(&w).abs() < 0.5 * skew(&y),
            "{} -> {}",
            skew(&y),
            skew(&w)
        );
        // Constant and NaN-free short inputs pass through.
        assert_eq!(
            yeo_johnson_standardised(&[2.0, 2.0, 2.0]),
            vec![2.0, 2.0, 2.0]
        );
    }
}
