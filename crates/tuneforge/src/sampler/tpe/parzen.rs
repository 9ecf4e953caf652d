//! Parzen (kernel density) estimators over the unit cube, the building block of TPE.
//!
//! Each observation is one mixture component; one extra component is the prior (uniform-ish:
//! a wide Gaussian at the centre, a uniform categorical). Numeric dimensions use Gaussians
//! truncated to `[0, 1]`; a discrete numeric value gets the probability mass of its cell, a
//! continuous one the density. Categorical dimensions use Optuna-style smoothed one-hot kernels.
//! In the multivariate form, a candidate's likelihood under a component is the product over
//! dimensions, and the mixture sums components (in log space).

use rand::Rng;

/// A value in one dimension of the unit cube.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Coord {
    /// A numeric coordinate in `[0, 1]`; `cell` is the interval of a discrete value.
    Num {
        /// Position (the cell centre for discrete values).
        x: f64,
        /// The value's cell, for discrete dimensions.
        cell: Option<(f64, f64)>,
    },
    /// A categorical index.
    Cat(usize),
}

/// The kind of each dimension.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DimKind {
    /// Continuous numeric.
    Continuous,
    /// Numeric with `n` distinct values.
    Discrete(u64),
    /// Categorical with `k` choices.
    Categorical(usize),
}

#[derive(Clone, Debug)]
enum Dim {
    Numeric {
        mu: Vec<f64>,
        sigma: Vec<f64>,
        log_z: Vec<f64>,
    },
    Categorical {
        log_p: Vec<Vec<f64>>,
    },
}

/// A Parzen estimator: a weighted mixture of product kernels.
#[derive(Clone, Debug)]
pub struct Parzen {
    log_w: Vec<f64>,
    w: Vec<f64>,
    dims: Vec<Dim>,
}

const SIGMA0: f64 = 0.2;

/// Optuna's default weights: recent observations count fully, the oldest less (after 25).
pub fn default_weights(n: usize) -> Vec<f64> {
    if n < 25 {
        return vec![1.0; n];
    }
    let ramp = n - 25;
    let mut w: Vec<f64> = (0..ramp)
        .map(|i| {
            if ramp == 1 {
                1.0 / n as f64
            } else {
                1.0 / n as f64 + (1.0 - 1.0 / n as f64) * i as f64 / (ramp - 1) as f64
            }
        })
        .collect();
    w.extend(std::iter::repeat_n(1.0, 25));
    w
}

fn norm_cdf(z: f64) -> f64 {
    0.5 * libm::erfc(-z / std::f64::consts::SQRT_2)
}

fn log_norm_pdf(z: f64) -> f64 {
    -0.5 * z * z - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

fn log_sum_exp(xs: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = xs.collect();
    let m = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

impl Parzen {
    /// Fits the estimator to `obs` (one row per observation, one coordinate per dimension)
    /// with observation `weights`, adding a prior component of weight `prior_weight`.
    pub fn fit(kinds: &[DimKind], obs: &[Vec<Coord>], weights: &[f64], prior_weight: f64) -> Self {
        let n = obs.len();
        let d = kinds.len().max(1);
        let mut w: Vec<f64> = weights.to_vec();
        w.push(prior_weight);
        let total: f64 = w.iter().sum();
        let w: Vec<f64> = w.iter().map(|x| x / total).collect();
        // Scott-like bandwidth, shrinking with the number of observations and the dimension.
        let base = SIGMA0 * (n.max(1) as f64).powf(-1.0 / (d as f64 + 4.0));
        let min_sigma = 1.0 / (1.0 + n as f64).min(100.0);
        let dims = kinds
            .iter()
            .enumerate()
            .map(|(j, kind)| match kind {
                DimKind::Continuous | DimKind::Discrete(_) => {
                    let floor = match kind {
                        DimKind::Discrete(cells) => min_sigma.max(0.5 / *cells as f64),
                        _ => min_sigma,
                    };
                    let sigma_obs = base.clamp(floor, 1.0);
                    let mut mu: Vec<f64> = obs
                        .iter()
                        .map(|o| match o[j] {
                            Coord::Num { x, .. } => x,
                            Coord::Cat(_) => 0.5,
                        })
                        .collect();
                    mu.push(0.5);
                    let mut sigma = vec![sigma_obs; n];
                    sigma.push(1.0);
                    let log_z = mu
                        .iter()
                        .zip(&sigma)
                        .map(|(m, s)| {
                            (norm_cdf((1.0 - m) / s) - norm_cdf(-m / s))
                                .max(1e-300)
                                .ln()
                        })
                        .collect();
                    Dim::Numeric { mu, sigma, log_z }
                }
                DimKind::Categorical(k) => {
                    let k = *k;
                    let fill = prior_weight / (n as f64 + 1.0);
                    let mut log_p = Vec::with_capacity(n + 1);
                    for o in obs {
                        let mut p = vec![fill; k];
                        if let Coord::Cat(c) = o[j]
                            && c < k
                        {
                            p[c] += 1.0;
                        }
                        let s: f64 = p.iter().sum();
                        log_p.push(p.iter().map(|x| (x / s).ln()).collect());
                    }
                    log_p.push(vec![-(k as f64).ln(); k]);
                    Dim::Categorical { log_p }
                }
            })
            .collect();
        Parzen {
            log_w: w.iter().map(|x| x.ln()).collect(),
            w,
            dims,
        }
    }

    /// Draws one point: a component by weight, then each coordinate from that component.
    /// Numeric coordinates are continuous in `[0, 1]`; the caller snaps discrete ones.
    pub fn sample(&self, rng: &mut impl Rng) -> Vec<Coord> {
        let u: f64 = rng.random();
        let mut acc = 0.0;
        let mut c = self.w.len() - 1;
        for (i, wi) in self.w.iter().enumerate() {
            acc += wi;
            if u < acc {
                c = i;
                break;
            }
        }
        self.dims
            .iter()
            .map(|dim| match dim {
                Dim::Numeric { mu, sigma, .. } => Coord::Num {
                    x: truncated_normal(mu[c], sigma[c], rng),
                    cell: None,
                },
                Dim::Categorical { log_p } => {
                    let u: f64 = rng.random();
                    let mut acc = 0.0;
                    let p = &log_p[c];
                    let mut pick = p.len() - 1;
                    for (i, lp) in p.iter().enumerate() {
                        acc += lp.exp();
                        if u < acc {
                            pick = i;
                            break;
                        }
                    }
                    Coord::Cat(pick)
                }
            })
            .collect()
    }

    /// Log-likelihood of a point (density for continuous coordinates, cell mass for discrete).
    pub fn log_pdf(&self, point: &[Coord]) -> f64 {
        log_sum_exp((0..self.log_w.len()).map(|c| {
            let mut lp = self.log_w[c];
            for (dim, coord) in self.dims.iter().zip(point) {
                lp += match (dim, coord) {
                    (Dim::Numeric { mu, sigma, log_z }, Coord::Num { x, cell }) => match cell {
                        None => log_norm_pdf((x - mu[c]) / sigma[c]) - sigma[c].ln() - log_z[c],
                        Some((lo, hi)) => {
                            let mass = norm_cdf((hi - mu[c]) / sigma[c])
                                - norm_cdf((lo - mu[c]) / sigma[c]);
                            mass.max(1e-300).ln() - log_z[c]
                        }
                    },
                    (Dim::Categorical { log_p }, Coord::Cat(k)) => {
                        log_p[c].get(*k).copied().unwrap_or(f64::NEG_INFINITY)
                    }
                    _ => f64::NEG_INFINITY,
                };
            }
            lp
        }))
    }
}

/// A draw from N(mu, sigma) truncated to [0, 1] (rejection; clamped after many misses).
fn truncated_normal(mu: f64, sigma: f64, rng: &mut impl Rng) -> f64 {
    for _ in 0..64 {
        let u1: f64 = rng.random::<f64>().max(1e-300);
        let u2: f64 = rng.random();
        let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        let x = mu + sigma * z;
        if (0.0..=1.0).contains(&x) {
            return x;
        }
    }
    mu.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn weights_ramp_only_after_25_observations() {
        assert_eq!(default_weights(3), vec![1.0; 3]);
        let w = default_weights(40);
        assert_eq!(w.len(), 40);
        assert!((w[0] - 1.0 / 40.0).abs() < 1e-12);
        assert!(w[..15].windows(2).all(|p| p[0] < p[1]));
        assert!(w[15..].iter().all(|&x| x == 1.0));
    }

    #[test]
    fn the_density_integrates_to_one_and_peaks_at_the_observations() {
        let kinds = [DimKind::Continuous];
        let obs = vec![
            vec![Coord::Num { x: 0.2, cell: None }],
            vec![Coord::Num {
                x: 0.25,
                cell: None,
            }],
        ];
        let p = Parzen::fit(&kinds, &obs, &[1.0, 1.0], 1.0);
        let n = 20_000;
        let integral: f64 = (0..n)
            .map(|i| {
                p.log_pdf(&[Coord::Num {
                    x: (i as f64 + 0.5) / n as f64,
                    cell: None,
                }])
                .exp()
                    / n as f64
            })
            .sum();
        assert!((integral - 1.0).abs() < 1e-3, "{integral}");
        let at = |x: f64| p.log_pdf(&[Coord::Num { x, cell: None }]);
        assert!(at(0.22) > at(0.8));
        // Discrete masses over all cells sum to one.
        let kinds = [DimKind::Discrete(4)];
        let obs = vec![vec![Coord::Num {
            x: 0.125,
            cell: Some((0.0, 0.25)),
        }]];
        let p = Parzen::fit(&kinds, &obs, &[1.0], 1.0);
        let total: f64 = (0..4)
            .map(|k| {
                let lo = k as f64 / 4.0;
                p.log_pdf(&[Coord::Num {
                    x: lo + 0.125,
                    cell: Some((lo, lo + 0.25)),
                }])
                .exp()
            })
            .sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
    }

    #[test]
    fn categorical_kernels_favour_observed_choices_and_samples_follow_the_mixture() {
        let kinds = [DimKind::Categorical(3)];
        let obs: Vec<Vec<Coord>> = (0..10).map(|_| vec![Coord::Cat(2)]).collect();
        let p = Parzen::fit(&kinds, &obs, &[1.0; 10], 1.0);
        let total: f64 = (0..3).map(|k| p.log_pdf(&[Coord::Cat(k)]).exp()).sum();
        assert!((total - 1.0).abs() < 1e-9);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let twos = (0..1000)
            .filter(|_| p.sample(&mut rng)[0] == Coord::Cat(2))
            .count();
        let expected = p.log_pdf(&[Coord::Cat(2)]).exp() * 1000.0;
        assert!(
            (twos as f64 - expected).abs() < 60.0,
            "{twos} vs {expected}"
        );
    }
}
