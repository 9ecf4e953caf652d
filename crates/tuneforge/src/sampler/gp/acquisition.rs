//! Log expected improvement, computed stably far into the tail where plain EI underflows.
//!
//! EI(x) = σ h(z) with z = (best − μ)/σ and h(z) = φ(z) + zΦ(z) (minimisation). For z ≤ −1,
//! h(z) = φ(z) (1 − t m(t)) with t = −z and the Mills ratio m(t) = Φ(−t)/φ(t), so log h never
//! forms the tiny difference φ(z) + zΦ(z) directly.
//!
//! # References
//! - S. Ament, S. Daulton, D. Eriksson, M. Balandat, E. Bakshy, "Unexpected Improvements to
//!   Expected Improvement for Bayesian Optimization", NeurIPS 2023 (LogEI).
//! - D. R. Jones, M. Schonlau, W. J. Welch, "Efficient Global Optimization of Expensive
//!   Black-Box Functions", J. Global Optimization 13, 1998 (EI).

use std::f64::consts::{PI, SQRT_2};

/// Standard normal density.
pub fn norm_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * PI).sqrt()
}

/// Standard normal distribution function.
pub fn norm_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / SQRT_2)
}

/// The scaled complementary error function exp(x²) erfc(x), for x ≥ 0.
fn erfcx(x: f64) -> f64 {
    if x < 25.0 {
        (x * x).exp() * libm::erfc(x)
    } else {
        let x2 = x * x;
        (1.0 - 1.0 / (2.0 * x2) + 3.0 / (4.0 * x2 * x2) - 15.0 / (8.0 * x2 * x2 * x2))
            / (x * PI.sqrt())
    }
}

/// 1 − t·m(t) for t ≥ 1, with m the Mills ratio (asymptotic series for large t).
fn one_minus_t_mills(t: f64) -> f64 {
    if t > 30.0 {
        let u = 1.0 / (t * t);
        u * (1.0 - 3.0 * u + 15.0 * u * u - 105.0 * u * u * u)
    } else {
        let m = (PI / 2.0).sqrt() * erfcx(t / SQRT_2);
        1.0 - t * m
    }
}

/// log h(z) and Φ(z)/h(z) (the derivative of log h).
pub fn log_h(z: f64) -> (f64, f64) {
    if z > -1.0 {
        let cdf = norm_cdf(z);
        let h = norm_pdf(z) + z * cdf;
        (h.ln(), cdf / h)
    } else {
        let t = -z;
        let m = (PI / 2.0).sqrt() * erfcx(t / SQRT_2);
        let rest = one_minus_t_mills(t).max(1e-300);
        (-0.5 * z * z - 0.5 * (2.0 * PI).ln() + rest.ln(), m / rest)
    }
}

/// log EI at a point with posterior mean `mean` and standard deviation `sd`, below `best`;
/// also its derivatives with respect to the mean and the standard deviation.
pub fn log_ei(mean: f64, sd: f64, best: f64) -> (f64, f64, f64) {
    let sd = sd.max(1e-12);
    let z = (best - mean) / sd;
    let (lh, r) = log_h(z);
    let value = sd.ln() + lh;
    (value, -r / sd, (1.0 - r * z) / sd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_ei_matches_plain_ei_where_that_is_accurate_and_stays_finite_in_the_tail() {
        for &(m, s, b) in &[
            (0.0, 1.0, 0.5),
            (1.0, 0.3, 0.2),
            (0.0, 2.0, -1.0),
            (3.0, 1.0, 0.0),
        ] {
            let z: f64 = (b - m) / s;
            let ei = s * (norm_pdf(z) + z * norm_cdf(z));
            let (l, _, _) = log_ei(m, s, b);
            assert!(
                (l - ei.ln()).abs() < 1e-9,
                "{m} {s} {b}: {l} vs {}",
                ei.ln()
            );
        }
        // Far in the tail plain EI is 0; log EI keeps decreasing smoothly (≈ -z²/2 - 2 ln z).
        let (a, _, _) = log_ei(40.0, 1.0, 0.0);
        let (b, _, _) = log_ei(60.0, 1.0, 0.0);
        assert!(a.is_finite() && b.is_finite() && b < a);
        assert!(
            (a - (-800.0 - 0.5 * (2.0 * PI).ln() - 2.0 * 40f64.ln())).abs() < 0.01,
            "{a}"
        );
        // Continuity at the branch point z = -1.
        let (l1, _, _) = log_ei(1.0 + 1e-9, 1.0, 0.0);
        let (l2, _, _) = log_ei(1.0 - 1e-9, 1.0, 0.0);
        assert!((l1 - l2).abs() < 1e-6);
    }

    #[test]
    fn derivatives_match_finite_differences() {
        for &(m, s, b) in &[(0.3, 0.7, 0.1), (5.0, 1.0, 0.0), (-1.0, 0.5, 0.0)] {
            let (_, dm, ds) = log_ei(m, s, b);
            let h = 1e-6;
            let fd_m = (log_ei(m + h, s, b).0 - log_ei(m - h, s, b).0) / (2.0 * h);
            let fd_s = (log_ei(m, s + h, b).0 - log_ei(m, s - h, b).0) / (2.0 * h);
            assert!(
                (dm - fd_m).abs() < 1e-5 * fd_m.abs().max(1.0),
                "{dm} {fd_m}"
            );
            assert!(
                (ds - fd_s).abs() < 1e-5 * fd_s.abs().max(1.0),
                "{ds} {fd_s}"
            );
        }
    }
}
