//! Hardware-aware scalar objectives: fold a measured cost (latency, parameters) into one number
//! a single-objective search can maximise or minimise. For a Pareto front instead, optimise
//! accuracy and latency as two objectives with [`crate::sampler::Nsga2Sampler`].
//!
//! # References
//! - M. Tan, B. Chen, R. Pang, V. Vasudevan, M. Sandler, A. Howard, Q. V. Le, "MnasNet:
//!   Platform-Aware Neural Architecture Search for Mobile", CVPR 2019, eq. 2: reward
//!   `ACC(m) * (LAT(m) / T)^w`, `w = alpha` when `LAT <= T` else `beta`; `alpha = beta = -0.07`
//!   makes a model twice as slow pay about 5% of its accuracy (soft constraint), `alpha = 0,
//!   beta = -1` is a hard constraint.

use crate::error::{Error, Result};

/// MnasNet's latency-aware reward (maximise). See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MnasNetReward {
    /// Target latency T (same unit as the measured latency).
    pub target: f64,
    /// Exponent when the model meets the target.
    pub alpha: f64,
    /// Exponent when it is slower than the target.
    pub beta: f64,
}

impl MnasNetReward {
    /// The paper's soft constraint, `alpha = beta = -0.07`, at target latency `target`.
    pub fn soft(target: f64) -> Self {
        MnasNetReward {
            target,
            alpha: -0.07,
            beta: -0.07,
        }
    }

    /// The hard constraint, `alpha = 0`, `beta = -1`.
    pub fn hard(target: f64) -> Self {
        MnasNetReward {
            target,
            alpha: 0.0,
            beta: -1.0,
        }
    }

    /// The reward of a model with accuracy `accuracy` and latency `latency`.
    pub fn reward(&self, accuracy: f64, latency: f64) -> Result<f64> {
        finite("accuracy", accuracy)?;
        positive("latency", latency)?;
        positive("target latency", self.target)?;
        let w = if latency <= self.target {
            self.alpha
        } else {
            self.beta
        };
        Ok(accuracy * (latency / self.target).powf(w))
    }
}

/// The loss-times-log-latency objective (minimise): `loss * ln(latency)^beta`, with latency in
/// units where it exceeds 1 (e.g. microseconds) so the logarithm is positive; `beta = 0`
/// ignores latency and larger `beta` weighs it more.
pub fn loss_log_latency(loss: f64, latency: f64, beta: f64) -> Result<f64> {
    finite("loss", loss)?;
    finite("beta", beta)?;
    if latency.is_nan() || latency <= 1.0 || latency.is_infinite() {
        return Err(Error::invalid(format!(
            "latency {latency} must be finite and above 1 (express it in a unit where it is, \
             e.g. microseconds) so that its logarithm is positive"
        )));
    }
    Ok(loss * latency.ln().powf(beta))
}

fn finite(what: &str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{what} must be a finite number, not {v}"
        )))
    }
}

fn positive(what: &str, v: f64) -> Result<()> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{what} must be positive and finite, not {v}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnasnet_soft_constraint_charges_about_five_percent_for_twice_the_latency() {
        let r = MnasNetReward::soft(10.0);
        let at = r.reward(0.8, 10.0).unwrap();
        let slow = r.reward(0.8, 20.0).unwrap();
        assert_eq!(at, 0.8);
        let loss = 1.0 - slow / at;
        assert!((loss - 0.0474).abs() < 1e-3, "{loss}");
        // Faster than the target earns a little.
        assert!(r.reward(0.8, 5.0).unwrap() > at);
        // Hard constraint: no reward for speed, a steep price for being slow.
        let h = MnasNetReward::hard(10.0);
        assert_eq!(h.reward(0.8, 5.0).unwrap(), 0.8);
        assert!((h.reward(0.8, 20.0).unwrap() - 0.4).abs() < 1e-12);
    }

    #[test]
    fn bad_inputs_are_refused() {
        let r = MnasNetReward::soft(10.0);
        assert!(r.reward(f64::NAN, 1.0).is_err());
        assert!(r.reward(0.5, 0.0).is_err());
        assert!(r.reward(0.5, f64::INFINITY).is_err());
        assert!(MnasNetReward::soft(-1.0).reward(0.5, 1.0).is_err());
        assert!(loss_log_latency(0.3, 0.5, 1.0).is_err());
        assert!(loss_log_latency(f64::NAN, 100.0, 1.0).is_err());
    }

    #[test]
    fn loss_log_latency_weighs_latency_by_beta() {
        let fast = 1_000.0;
        let slow = 100_000.0;
        assert_eq!(
            loss_log_latency(0.3, fast, 0.0).unwrap(),
            loss_log_latency(0.3, slow, 0.0).unwrap()
        );
        // With beta = 1, a slightly better loss does not pay for 100x the latency.
        assert!(
            loss_log_latency(0.28, slow, 1.0).unwrap() > loss_log_latency(0.3, fast, 1.0).unwrap()
        );
        // With beta = 0.1 it does.
        assert!(
            loss_log_latency(0.2, slow, 0.1).unwrap() < loss_log_latency(0.3, fast, 0.1).unwrap()
        );
    }
}
