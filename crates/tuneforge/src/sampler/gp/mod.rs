//! Gaussian-process Bayesian optimisation: a GP (Matérn-5/2, ARD) models the objective from the
//! history; the next configuration maximises log expected improvement.
//!
//! - Inputs live on the unit cube (log ranges in log space); integers and stepped floats are
//!   optimised continuously and snapped to their grid; categoricals use a 0/1 kernel distance and
//!   are optimised by trying each choice at the best point.
//! - Targets are standardised losses. Kernel hyperparameters are re-optimised (warm started
//!   from the previous fit) whenever the history has grown by 5% since the last optimisation —
//!   every trial up to 20 trials, every 10th at 200; in between, the previous kernel is
//!   conditioned on the new data (one Cholesky factorisation).
//! - The acquisition is maximised from many quasi-random candidates: the best of them, and
//!   always the best observed point, start a projected L-BFGS ascent over the numeric
//!   coordinates; the result is snapped onto the grid, each categorical choice is tried in
//!   turn, and where anything was discrete the continuous coordinates ascend once more with
//!   the discrete ones fixed (so they fit the values actually proposed).
//! - Parallel workers: running trials enter the model as if they had the worst value seen
//!   (constant liar), so simultaneous proposals spread out instead of collapsing onto one point.
//!
//! # References
//! - J. Snoek, H. Larochelle, R. P. Adams, "Practical Bayesian Optimization of Machine Learning
//!   Algorithms", NeurIPS 2012.
//! - S. Ament et al., "Unexpected Improvements to Expected Improvement for Bayesian
//!   Optimization", NeurIPS 2023 (log EI).
//! - D. Ginsbourger, R. Le Riche, L. Carraro, "Kriging is well-suited to parallelize
//!   optimization", 2010 (constant liar).
//!
//! ```
//! use tuneforge::{Study, Optimize};
//! use tuneforge::sampler::GpConfig;
//! let study = Study::builder("doc-gp").sampler(GpConfig::default().build(1)).build().unwrap();
//! study.optimize(|t| -> tuneforge::Result<f64> {
//!     let x = t.suggest_float("x", -5.0, 5.0).get()?;
//!     let y = t.suggest_float("y", -5.0, 5.0).get()?;
//!     Ok((x - 1.0).powi(2) + (y + 2.0).powi(2))
//! }, Optimize::trials(30)).unwrap();
//! assert!(study.best_value().unwrap().unwrap() < 0.05);
//! ```

pub mod acquisition;
pub mod lbfgs;
pub mod model;
pub mod warp;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

use self::acquisition::log_ei;
use self::model::{Gp, Hyper};
use super::{Sampler, SobolSampler, StudyView};
use crate::distribution::{Distribution, ParamValue};
use crate::error::Result;
use crate::record::{FrozenTrial, TrialState};
use crate::seed::mix;

/// Settings of [`GpSampler`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GpConfig {
    /// Complete trials (quasi-random) before the model is used. Default 10.
    pub n_startup_trials: usize,
    /// Quasi-random candidates scored before the local search. Default 1024.
    pub n_candidates: usize,
    /// Local searches started from the best candidates. Default 8.
    pub n_local_starts: usize,
    /// Count running trials as the worst value seen (parallel workers). Default true.
    pub constant_liar: bool,
}

impl Default for GpConfig {
    fn default() -> Self {
        GpConfig {
            n_startup_trials: 10,
            n_candidates: 1024,
            n_local_starts: 8,
            constant_liar: true,
        }
    }
}

impl GpConfig {
    /// Builds the sampler with this seed.
    pub fn build(self, seed: u64) -> GpSampler {
        GpSampler {
            startup: SobolSampler::new(seed),
            cfg: self,
            seed,
            warm: Mutex::new(None),
        }
    }
}

/// The GP-BO sampler. See the module documentation.
#[derive(Debug)]
pub struct GpSampler {
    cfg: GpConfig,
    seed: u64,
    startup: SobolSampler,
    /// The last optimised hyperparameters and the number of observations they were fitted on.
    warm: Mutex<Option<(Hyper, usize)>>,
}

/// The unit-cube coordinate of a value (categoricals: the choice index).
fn to_coord(d: &Distribution, v: &ParamValue) -> f64 {
    match d {
        Distribution::Categorical { .. } => d.to_internal(v).unwrap_or(0.0),
        _ => d.to_unit(v).unwrap_or(0.5),
    }
}

/// Snaps a coordinate onto the distribution (grid cell centres, choice indices).
fn snap(d: &Distribution, c: f64) -> f64 {
    match d {
        Distribution::Categorical { choices } => c.round().clamp(0.0, (choices.len() - 1) as f64),
        Distribution::Float { step: None, .. } => c.clamp(0.0, 1.0),
        _ => to_coord(d, &d.from_unit(c.clamp(0.0, 1.0))),
    }
}

fn value_of(d: &Distribution, c: f64) -> ParamValue {
    match d {
        Distribution::Categorical { choices } => {
            choices[(c.round().max(0.0) as usize).min(choices.len() - 1)].clone()
        }
        _ => d.from_unit(c),
    }
}

impl GpSampler {
    fn propose(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
        space: &IndexMap<String, Distribution>,
    ) -> Option<Vec<f64>> {
        let names: Vec<&String> = space.keys().collect();
        let dists: Vec<&Distribution> = space.values().collect();
        let row = |t: &FrozenTrial| -> Option<Vec<f64>> {
            names
                .iter()
                .zip(&dists)
                .map(|(n, d)| {
                    (t.distributions.get(*n) == Some(*d)).then(|| to_coord(d, &t.params[*n]))
                })
                .collect()
        };
        let dir = study.directions[0];
        let mut x = Vec::new();
        let mut y = Vec::new();
        for t in study.complete() {
            if let (Some(r), Some(v)) = (row(t), t.value()) {
                x.push(r);
                y.push(dir.to_loss(v));
            }
        }
        if x.len() < 2 {
            return None;
        }
        let n_obs = y.len();
        // Skewed losses (a long tail of bad trials) would dominate a GP fitted to them as
        // they are; a Yeo-Johnson power transform fitted by maximum likelihood makes them
        // closer to normal while keeping their order.
        let y = warp::yeo_johnson_standardised(&y);
        let (mean, sd) = warp::moments(&y);
        let sd = if sd > 0.0 { sd } else { 1.0 };
        let mut ys: Vec<f64> = y.iter().map(|v| (v - mean) / sd).collect();
        let best = ys.iter().cloned().fold(f64::INFINITY, f64::min);
        let best_x = x[ys.iter().position(|v| *v == best).unwrap_or(0)].clone();
        if self.cfg.constant_liar {
            let worst = ys.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            for t in study.in_states(&[TrialState::Running]) {
                if t.number != trial.number
                    && let Some(r) = row(t)
                {
                    x.push(r);
                    ys.push(worst);
                }
            }
        }
        let is_cat: Vec<bool> = dists
            .iter()
            .map(|d| matches!(d, Distribution::Categorical { .. }))
            .collect();
        let d = dists.len();
        let warm = self.warm.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let reuse = warm.as_ref().filter(|(h, fitted_on)| {
            h.log_ls.len() == d && n_obs < fitted_on + (fitted_on / 20).max(1)
        });
        let gp = match reuse
            .and_then(|(h, _)| Gp::condition(x.clone(), &ys, is_cat.clone(), h.clone()))
        {
            Some(gp) => gp,
            None => {
                let gp = Gp::fit(x, &ys, is_cat.clone(), warm.as_ref().map(|w| &w.0))?;
                *self.warm.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((gp.hyper.clone(), n_obs));
                gp
            }
        };

        let score = |p: &[f64]| {
            let (m, v) = gp.mean_var(p);
            log_ei(m, v.sqrt(), best).0
        };
        // Quasi-random candidates, snapped onto the space.
        let sobol_seed = mix(self.seed, trial.number) as u32;
        let mut cands: Vec<(f64, Vec<f64>)> = (0..self.cfg.n_candidates.max(1))
            .map(|i| {
                let p: Vec<f64> = (0..d)
                    .map(|j| {
                        let u = if j < 256 {
                            sobol_burley::sample(i as u32, j as u32, sobol_seed) as f64
                        } else {
                            ((i * 7919 + j * 104_729) % 1000) as f64 / 1000.0
                        };
                        match dists[j] {
                            Distribution::Categorical { choices } => {
                                ((u * choices.len() as f64).floor()).min((choices.len() - 1) as f64)
                            }
                            dj => snap(dj, u),
                        }
                    })
                    .collect();
                (score(&p), p)
            })
            .collect();
        cands.sort_by(|a, b| b.0.total_cmp(&a.0));
        // Ascends log EI over the coordinates in `free` from `start`, the others fixed.
        let ascend = |start: Vec<f64>, free: &[usize]| -> Vec<f64> {
            if free.is_empty() {
                return start;
            }
            let x0: Vec<f64> = free.iter().map(|&j| start[j]).collect();
            let lo = vec![0.0; free.len()];
            let hi = vec![1.0; free.len()];
            let (xf, _) = lbfgs::minimize(
                |z| {
                    let mut q = start.clone();
                    for (k, &j) in free.iter().enumerate() {
                        q[j] = z[k];
                    }
                    let (m, v, dm, dv) = gp.predict(&q);
                    let s = v.sqrt();
                    let (val, dmu, dsd) = log_ei(m, s, best);
                    let grad = free
                        .iter()
                        .map(|&j| -(dmu * dm[j] + dsd * dv[j] / (2.0 * s)))
                        .collect();
                    (-val, grad)
                },
                &x0,
                &lo,
                &hi,
                50,
                1e-9,
            );
            let mut p = start;
            for (k, &j) in free.iter().enumerate() {
                p[j] = xf[k];
            }
            p
        };
        // Numeric coordinates (categoricals stay fixed during an ascent), and among them the
        // continuous ones, re-ascended once the discrete coordinates have been settled.
        let numeric: Vec<usize> = (0..d).filter(|&j| !is_cat[j]).collect();
        let continuous: Vec<usize> = (0..d)
            .filter(|&j| matches!(dists[j], Distribution::Float { step: None, .. }))
            .collect();
        let has_discrete = continuous.len() < d;
        // The best observed point always starts a search: near it the model is surest, and
        // refining it is what the last stretch of a budget is for.
        let starts = cands
            .into_iter()
            .take(self.cfg.n_local_starts.max(1))
            .map(|c| c.1)
            .chain(std::iter::once(best_x));
        let mut best_point: Option<(f64, Vec<f64>)> = None;
        for start in starts {
            let mut p = ascend(start, &numeric);
            for j in 0..d {
                p[j] = snap(dists[j], p[j]);
            }
            // One greedy pass over categorical choices at this point.
            for j in (0..d).filter(|&j| is_cat[j]) {
                if let Distribution::Categorical { choices } = dists[j] {
                    let mut best_c = (score(&p), p[j]);
                    for c in 0..choices.len() {
                        let mut q = p.clone();
                        q[j] = c as f64;
                        let s = score(&q);
                        if s > best_c.0 {
                            best_c = (s, c as f64);
                        }
                    }
                    p[j] = best_c.1;
                }
            }
            if has_discrete {
                p = ascend(p, &continuous);
            }
            let s = score(&p);
            if best_point.as_ref().is_none_or(|b| s > b.0) {
                best_point = Some((s, p));
            }
        }
        best_point.map(|b| b.1)
    }
}

impl Sampler for GpSampler {
    fn infer_relative_space(
        &self,
        study: &StudyView,
        _trial: &FrozenTrial,
    ) -> IndexMap<String, Distribution> {
        super::intersection_space(study, self.cfg.n_startup_trials)
    }

    fn sample_relative(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
        space: &IndexMap<String, Distribution>,
    ) -> Result<IndexMap<String, f64>> {
        let Some(p) = self.propose(study, trial, space) else {
            return Ok(IndexMap::new());
        };
        let mut out = IndexMap::new();
        for ((name, d), c) in space.iter().zip(p) {
            out.insert(name.clone(), d.to_internal(&value_of(d, c))?);
        }
        Ok(out)
    }

    fn sample_independent(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
        name: &str,
        dist: &Distribution,
    ) -> Result<f64> {
        self.startup.sample_independent(study, trial, name, dist)
    }

    fn name(&self) -> &'static str {
        "gp"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Optimize, Outcome, RandomSampler, Study};

    fn branin(t: &mut crate::Trial) -> crate::Result<f64> {
        let x = t.suggest_float("x", -5.0, 10.0).get()?;
        let y = t.suggest_float("y", 0.0, 15.0).get()?;
        let pi = std::f64::consts::PI;
        Ok(
            (y - 5.1 / (4.0 * pi * pi) * x * x + 5.0 / pi * x - 6.0).powi(2)
                + 10.0 * (1.0 - 1.0 / (8.0 * pi)) * x.cos()
                + 10.0,
        )
    }

    #[test]
    fn gp_finds_the_branin_optimum_region_faster_than_random() {
        for seed in 0..3 {
            let gp = Study::builder("gp")
                .sampler(GpConfig::default().build(seed))
                .build()
                .unwrap();
            gp.optimize(branin, Optimize::trials(40)).unwrap();
            let rnd = Study::builder("rnd")
                .sampler(RandomSampler::new(seed))
                .build()
                .unwrap();
            rnd.optimize(branin, Optimize::trials(40)).unwrap();
            let (g, r) = (
                gp.best_value().unwrap().unwrap(),
                rnd.best_value().unwrap().unwrap(),
            );
            assert!(g < 0.45, "seed {seed}: GP {g} (optimum 0.398)");
            assert!(g <= r, "seed {seed}: GP {g} vs random {r}");
        }
    }

    #[test]
    fn mixed_spaces_are_respected_and_parallel_proposals_spread_out() {
        let s = Study::builder("mixed")
            .sampler(GpConfig::default().build(2))
            .build()
            .unwrap();
        s.optimize(
            |t| -> crate::Result<f64> {
                let a = t.suggest_int("a", 1, 64).log().get()?;
                let b = t.suggest_float("b", 0.0, 1.0).step(0.1).get()?;
                let c = t.suggest_categorical("c", &["x", "y", "z"])?;
                assert!((1..=64).contains(&a));
                assert!(((b * 10.0).round() - b * 10.0).abs() < 1e-9);
                if t.number() == 13 {
                    return Ok(f64::NAN); // a failed trial in the history
                }
                Ok((a as f64).ln() + (b - 0.3).abs() + if c == "y" { 0.0 } else { 1.0 })
            },
            Optimize::trials(30),
        )
        .unwrap();
        let best = s.best_trial().unwrap().unwrap();
        assert_eq!(best.params["c"], ParamValue::from("y"));
        // Four trials asked at once (constant liar) get four different points.
        let mut running = Vec::new();
        for _ in 0..4 {
            let mut t = s.ask().unwrap();
            let a = t.suggest_int("a", 1, 64).log().get().unwrap();
            let b = t.suggest_float("b", 0.0, 1.0).step(0.1).get().unwrap();
            let c = t.suggest_categorical("c", &["x", "y", "z"]).unwrap();
            running.push((t, format!("{a}-{b}-{c}")));
        }
        let distinct: std::collections::HashSet<&String> = running.iter().map(|r| &r.1).collect();
        assert!(
            distinct.len() >= 3,
            "{:?}",
            running.iter().map(|r| &r.1).collect::<Vec<_>>()
        );
        for (t, _) in running {
            s.tell(t, Outcome::Pruned).unwrap();
        }
    }

    #[test]
    fn huge_and_tiny_losses_in_one_history_still_give_valid_proposals() {
        // Diverged trials can report finite but enormous losses next to ordinary ones; the
        // warp and the standardisation must not overflow into NaN proposals.
        let s = Study::builder("huge")
            .sampler(GpConfig::default().build(5))
            .build()
            .unwrap();
        s.optimize(
            |t| -> crate::Result<f64> {
                let x = t.suggest_float("x", -1.0, 1.0).get()?;
                let y = t.suggest_float("y", -1.0, 1.0).get()?;
                assert!(x.is_finite() && (-1.0..=1.0).contains(&x));
                assert!(y.is_finite() && (-1.0..=1.0).contains(&y));
                Ok(if x > 0.5 { 1e300 } else { x * x + y * y })
            },
            Optimize::trials(25),
        )
        .unwrap();
        assert!(s.best_value().unwrap().unwrap() < 0.25);
        // The model learnt where the enormous losses are: few proposals after the 10 startup
        // trials go back there (a quarter of the range).
        let trials = s.trials().unwrap();
        let back = trials[10..]
            .iter()
            .filter(|t| t.params["x"].as_f64().is_some_and(|x| x > 0.5))
            .count();
        assert!(
            back <= 3,
            "{back} of 15 model-based trials in the x > 0.5 region"
        );
    }
}
