//! Limited-memory BFGS with box bounds by projection, for the GP's small smooth problems
//! (kernel hyperparameters, acquisition maximisation).
//!
//! # References
//! - D. C. Liu and J. Nocedal, "On the limited memory BFGS method for large scale optimization",
//!   Mathematical Programming 45, 1989 (two-loop recursion).
//! - J. Nocedal and S. J. Wright, "Numerical Optimization", 2nd ed., 2006 (Armijo backtracking).

/// Minimises `f` (returning value and gradient) from `x0` within `[lo, hi]`; returns the best
/// point found and its value. Stops after `max_iter` iterations or when an iteration improves
/// the value by less than `ftol` (relative).
pub fn minimize(
    mut f: impl FnMut(&[f64]) -> (f64, Vec<f64>),
    x0: &[f64],
    lo: &[f64],
    hi: &[f64],
    max_iter: usize,
    ftol: f64,
) -> (Vec<f64>, f64) {
    let n = x0.len();
    let project = |x: &mut [f64]| {
        for i in 0..n {
            x[i] = x[i].clamp(lo[i], hi[i]);
        }
    };
    let mut x = x0.to_vec();
    project(&mut x);
    let (mut fx, mut g) = f(&x);
    if !fx.is_finite() {
        return (x, fx);
    }
    let m = 8;
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(p, q)| p * q).sum::<f64>();
    for _ in 0..max_iter {
        // Two-loop recursion: d = -H g.
        let mut q = g.clone();
        let k = s_hist.len();
        let mut alpha = vec![0.0; k];
        for i in (0..k).rev() {
            let rho = 1.0 / dot(&y_hist[i], &s_hist[i]);
            alpha[i] = rho * dot(&s_hist[i], &q);
            for j in 0..n {
                q[j] -= alpha[i] * y_hist[i][j];
            }
        }
        let gamma = if k > 0 {
            dot(&s_hist[k - 1], &y_hist[k - 1]) / dot(&y_hist[k - 1], &y_hist[k - 1])
        } else {
            1.0 / dot(&g, &g).sqrt().max(1.0)
        };
        for v in q.iter_mut() {
            *v *= gamma;
        }
        for i in 0..k {
            let rho = 1.0 / dot(&y_hist[i], &s_hist[i]);
            let beta = rho * dot(&y_hist[i], &q);
            for j in 0..n {
                q[j] += s_hist[i][j] * (alpha[i] - beta);
            }
        }
        let mut d: Vec<f64> = q.iter().map(|v| -v).collect();
        if dot(&d, &g) >= 0.0 {
            d = g.iter().map(|v| -v).collect();
            s_hist.clear();
            y_hist.clear();
        }
        // Projected backtracking line search (Armijo).
        let mut t = 1.0;
        let mut accepted = None;
        for _ in 0..30 {
            let mut xn: Vec<f64> = x.iter().zip(&d).map(|(a, b)| a + t * b).collect();
            project(&mut xn);
            let step: Vec<f64> = xn.iter().zip(&x).map(|(a, b)| a - b).collect();
            if step.iter().all(|v| v.abs() < 1e-14) {
                break;
            }
            let (fn_, gn) = f(&xn);
            if fn_.is_finite() && fn_ <= fx + 1e-4 * dot(&g, &step) {
                accepted = Some((xn, fn_, gn, step));
                break;
            }
            t *= 0.5;
        }
        let Some((xn, fn_, gn, s)) = accepted else {
            break;
        };
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        let improvement = fx - fn_;
        if dot(&s, &y) > 1e-12 {
            s_hist.push(s);
            y_hist.push(y);
            if s_hist.len() > m {
                s_hist.remove(0);
                y_hist.remove(0);
            }
        }
        x = xn;
        fx = fn_;
        g = gn;
        if improvement.abs() < ftol * fx.abs().max(1.0) {
            break;
        }
    }
    (x, fx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_minimum_of_a_bounded_rosenbrock_and_respects_bounds() {
        let rosen = |x: &[f64]| {
            let f = 100.0 * (x[1] - x[0] * x[0]).powi(2) + (1.0 - x[0]).powi(2);
            let g = vec![
                -400.0 * x[0] * (x[1] - x[0] * x[0]) - 2.0 * (1.0 - x[0]),
                200.0 * (x[1] - x[0] * x[0]),
            ];
            (f, g)
        };
        let (x, f) = minimize(rosen, &[-1.2, 1.0], &[-2.0, -2.0], &[2.0, 2.0], 500, 1e-12);
        assert!(f < 1e-8 && (x[0] - 1.0).abs() < 1e-3, "{x:?} {f}");
        // With the optimum outside the box, the answer lies on the bound.
        let (x, _) = minimize(
            |x| ((x[0] - 3.0).powi(2), vec![2.0 * (x[0] - 3.0)]),
            &[0.0],
            &[0.0],
            &[1.0],
            50,
            1e-12,
        );
        assert_eq!(x, vec![1.0]);
    }
}
