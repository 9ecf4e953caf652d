//! CMA-ES: the covariance matrix adaptation evolution strategy, with IPOP restarts, quasi-random
//! mutations and categorical parameters (CatCMA).
//!
//! Each generation samples λ points from N(m, σ²C) on the unit cube of the numeric parameters,
//! moves the mean towards the best μ, and adapts the covariance C (rank-one and rank-μ updates
//! from the evolution path) and the step size σ (cumulative step-size adaptation). When the
//! search stagnates it restarts with a doubled population (IPOP), which makes it robust on
//! multimodal functions.
//!
//! What suits it to hyperparameter budgets of a few hundred trials:
//! - **Quasi-random mutations**: a generation's standard normal vectors come from one scrambled
//!   Sobol sequence (Box-Muller on coordinate pairs, fresh scrambling per generation), so the λ
//!   points of a generation cover the mutation distribution more evenly than independent draws.
//! - **Categorical parameters** get one categorical distribution each, adapted with the same
//!   ranking weights by the adaptive stochastic natural gradient ([`super::asng`]), as in
//!   CatCMA. In a conditional space (a trial lacks a modelled parameter) the categoricals fall
//!   back to random draws, since the unused coordinates of a point would mislead them.
//! - **Discrete parameters**: integer and stepped parameters keep a minimum spread along their
//!   axis (a simplified margin) so the search never freezes on one value; the point told to
//!   CMA-ES is the value the trial really used (its bin's centre); and when every modelled
//!   parameter is discrete a proposal that repeats a configuration already tried is redrawn.
//!
//! Trials are tied to the generation that proposed them; a generation is complete when λ of its
//! trials have completed (failed or pruned ones are replaced by new samples). State lives in the
//! sampler, so each process runs its own search.
//!
//! # References
//! - N. Hansen, "The CMA Evolution Strategy: A Tutorial", arXiv:1604.00772, 2016 (defaults and
//!   update equations used here).
//! - A. Auger, M. Jebalia, O. Teytaud, "Algorithms (X, sigma, eta): Quasi-random Mutations for
//!   Evolution Strategies", Artificial Evolution 2005 (quasi-random mutations);
//!   O. Teytaud, S. Gelly, "DCMA: yet another derandomization in covariance-matrix-adaptation",
//!   GECCO 2007 (the same inside CMA-ES).
//! - R. Hamano, S. Saito, M. Nomura, K. Uchida, S. Shirakawa, "CatCMA: Stochastic Optimization
//!   for Mixed-Category Problems", GECCO 2024.
//! - N. Hansen and A. Ostermeier, "Completely Derandomized Self-Adaptation in Evolution
//!   Strategies", Evolutionary Computation 9(2), 2001.
//! - A. Auger and N. Hansen, "A Restart CMA Evolution Strategy With Increasing Population
//!   Size", CEC 2005 (IPOP).
//! - R. Hamano, S. Saito, M. Nomura, S. Shirakawa, "CMA-ES with Margin", GECCO 2022 (keeping
//!   integer variables from fixation).
//!
//! ```
//! use tuneforge::{Study, Optimize};
//! use tuneforge::sampler::CmaEsConfig;
//! let study = Study::builder("doc-cma").sampler(CmaEsConfig::default().build(1)).build().unwrap();
//! study.optimize(|t| -> tuneforge::Result<f64> {
//!     let x = t.suggest_float("x", -5.0, 5.0).get()?;
//!     let y = t.suggest_float("y", -5.0, 5.0).get()?;
//!     Ok((x - 1.0).powi(2) + 10.0 * (y + 2.0).powi(2))
//! }, Optimize::trials(200)).unwrap();
//! assert!(study.best_value().unwrap().unwrap() < 1e-4);
//! ```

use indexmap::IndexMap;
use nalgebra::{DMatrix, DVector, SymmetricEigen};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;

use super::asng::Asng;
use super::{
    RandomSampler, Sampler, SobolSampler, StudyView, configuration_key, tried_configurations,
};
use crate::distribution::{Distribution, ParamValue};
use crate::error::Result;
use crate::record::{FrozenTrial, TrialState};
use crate::seed::mix;

/// Settings of [`CmaEsSampler`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CmaEsConfig {
    /// Initial step size on the unit cube. Default 1/6 (the range is about 6σ).
    pub sigma0: f64,
    /// Population size λ; default 4 + ⌊3 ln n⌋.
    pub popsize: Option<usize>,
    /// Restart with a larger population when the search stagnates (IPOP). Default true.
    pub ipop: bool,
    /// Population growth factor at each restart. Default 2.
    pub popsize_factor: usize,
    /// Learn categorical parameters too, with one adaptive categorical distribution each
    /// (CatCMA); when false they are drawn at random. Default true.
    pub categorical: bool,
    /// Draw each generation's mutations from a scrambled Sobol sequence instead of independent
    /// normal draws (quasi-random mutations: more even coverage at small budgets). Default true.
    pub quasi_random: bool,
}

impl Default for CmaEsConfig {
    fn default() -> Self {
        CmaEsConfig {
            sigma0: 1.0 / 6.0,
            popsize: None,
            ipop: true,
            popsize_factor: 2,
            categorical: true,
            quasi_random: true,
        }
    }
}

impl CmaEsConfig {
    /// Builds the sampler with this seed.
    pub fn build(self, seed: u64) -> CmaEsSampler {
        CmaEsSampler {
            cfg: self,
            seed,
            fallback: RandomSampler::new(seed),
            state: Mutex::new(State::default()),
        }
    }
}

/// The CMA-ES sampler. See the module documentation.
#[derive(Debug)]
pub struct CmaEsSampler {
    cfg: CmaEsConfig,
    seed: u64,
    fallback: RandomSampler,
    state: Mutex<State>,
}

/// One proposal: a point of the numeric unit cube and a choice per modelled categorical.
#[derive(Clone, Debug)]
struct Point {
    x: DVector<f64>,
    c: Vec<usize>,
}

#[derive(Debug)]
struct State {
    /// The numeric parameters CMA-ES models, fixed by the first complete trial.
    space: Option<Vec<(String, Distribution)>>,
    /// The categorical parameters modelled beside them (empty unless `categorical`).
    cats: Vec<(String, Distribution)>,
    cma: Option<Cma>,
    asng: Option<Asng>,
    /// Generation id (restart, generation) and point of each trial proposed here.
    issued: HashMap<u64, ((u32, u32), Point)>,
    /// Results of the current generation.
    results: Vec<(f64, Point)>,
    /// The first trial number proposed in the current generation (quasi-random index base).
    gen_first: Option<u64>,
    restarts: u32,
    /// Best loss of the current run, and generations since it last improved (stagnation).
    best: f64,
    since_improvement: usize,
}

impl Default for State {
    fn default() -> Self {
        State {
            space: None,
            cats: Vec::new(),
            cma: None,
            asng: None,
            issued: HashMap::new(),
            results: Vec::new(),
            gen_first: None,
            restarts: 0,
            best: f64::INFINITY,
            since_improvement: 0,
        }
    }
}

/// The strategy's state: Hansen's notation.
#[derive(Clone, Debug)]
pub struct Cma {
    n: usize,
    /// Population size λ.
    pub lambda: usize,
    mu: usize,
    /// Recombination weights for all λ ranks: positive for the best μ (summing to one),
    /// negative for the rest (active covariance update).
    weights: Vec<f64>,
    mu_eff: f64,
    cs: f64,
    ds: f64,
    cc: f64,
    c1: f64,
    cmu: f64,
    chi_n: f64,
    /// Mean.
    pub mean: DVector<f64>,
    /// Step size.
    pub sigma: f64,
    /// Covariance matrix.
    pub c: DMatrix<f64>,
    b: DMatrix<f64>,
    d: DVector<f64>,
    pc: DVector<f64>,
    ps: DVector<f64>,
    /// Generations done.
    pub generation: u32,
    /// Minimum standard deviation per coordinate (margin for discrete parameters).
    min_std: Vec<f64>,
}

impl Cma {
    /// A fresh strategy in `n` dimensions (Hansen's default parameters for `lambda`).
    pub fn new(mean: DVector<f64>, sigma: f64, lambda: Option<usize>, min_std: Vec<f64>) -> Cma {
        let n = mean.len();
        let nf = n as f64;
        let lambda = lambda
            .unwrap_or(4 + (3.0 * nf.ln()).floor() as usize)
            .max(2);
        let mu = lambda / 2;
        // Tutorial eq. (49)-(53): raw weights for every rank, the worse half negative.
        let raw: Vec<f64> = (1..=lambda)
            .map(|i| ((lambda as f64 + 1.0) / 2.0).ln() - (i as f64).ln())
            .collect();
        let pos: f64 = raw.iter().filter(|w| **w > 0.0).sum();
        let neg: f64 = raw.iter().filter(|w| **w < 0.0).map(|w| -w).sum();
        let sq = |it: &mut dyn Iterator<Item = f64>| {
            let v: Vec<f64> = it.collect();
            v.iter().sum::<f64>().powi(2) / v.iter().map(|w| w * w).sum::<f64>().max(1e-300)
        };
        let mu_eff = sq(&mut raw.iter().copied().filter(|w| *w > 0.0));
        let mu_eff_neg = sq(&mut raw.iter().copied().filter(|w| *w < 0.0));
        let cs = (mu_eff + 2.0) / (nf + mu_eff + 5.0);
        let ds = 1.0 + 2.0 * (((mu_eff - 1.0) / (nf + 1.0)).sqrt() - 1.0).max(0.0) + cs;
        let cc = (4.0 + mu_eff / nf) / (nf + 4.0 + 2.0 * mu_eff / nf);
        let c1 = 2.0 / ((nf + 1.3).powi(2) + mu_eff);
        let cmu =
            (1.0 - c1).min(2.0 * (mu_eff - 2.0 + 1.0 / mu_eff) / ((nf + 2.0).powi(2) + mu_eff));
        let alpha_mu = 1.0 + c1 / cmu.max(1e-300);
        let alpha_mu_eff = 1.0 + 2.0 * mu_eff_neg / (mu_eff + 2.0);
        let alpha_posdef = (1.0 - c1 - cmu) / (nf * cmu.max(1e-300));
        let neg_scale = alpha_mu.min(alpha_mu_eff).min(alpha_posdef);
        let weights: Vec<f64> = raw
            .iter()
            .map(|&w| {
                if w >= 0.0 {
                    w / pos
                } else if neg > 0.0 {
                    neg_scale * w / neg
                } else {
                    0.0
                }
            })
            .collect();
        Cma {
            n,
            lambda,
            mu,
            weights,
            mu_eff,
            cs,
            ds,
            cc,
            c1,
            cmu,
            chi_n: nf.sqrt() * (1.0 - 1.0 / (4.0 * nf) + 1.0 / (21.0 * nf * nf)),
            mean,
            sigma,
            c: DMatrix::identity(n, n),
            b: DMatrix::identity(n, n),
            d: DVector::from_element(n, 1.0),
            pc: DVector::zeros(n),
            ps: DVector::zeros(n),
            generation: 0,
            min_std: if min_std.len() == n {
                min_std
            } else {
                vec![0.0; n]
            },
        }
    }

    /// The recombination weights of all λ ranks and μ_eff.
    pub fn weights(&self) -> (&[f64], f64) {
        (&self.weights, self.mu_eff)
    }

    /// One sample of N(m, σ²C), without bounds.
    pub fn sample(&self, rng: &mut impl Rng) -> DVector<f64> {
        let z = DVector::from_fn(self.n, |_, _| standard_normal(rng));
        self.sample_from(&z)
    }

    /// The point m + σ B D z for a standard normal vector z.
    pub fn sample_from(&self, z: &DVector<f64>) -> DVector<f64> {
        let y = &self.b * z.component_mul(&self.d);
        &self.mean + y * self.sigma
    }

    /// Point `index` of a quasi-random generation inside the unit cube: z comes from the
    /// scrambled Sobol point through the Box-Muller transform (coordinates in pairs). A point
    /// outside the cube is replaced by a later point of the sequence (stepping by `stride`, so
    /// replacements do not collide with other members of the generation); after 100 tries a
    /// pseudo-random sample is clipped.
    pub fn sample_quasi_random_in_unit_cube(
        &self,
        stream: &SobolSampler,
        index: u64,
        stride: u64,
        rng: &mut impl Rng,
    ) -> DVector<f64> {
        for attempt in 0..100u64 {
            let i = index + attempt * stride.max(1);
            let z = DVector::from_fn(self.n, |d, _| {
                let pair = 2 * (d / 2);
                let r = (-2.0 * stream.point(i, pair).max(1e-300).ln()).sqrt();
                let angle = 2.0 * std::f64::consts::PI * stream.point(i, pair + 1);
                if d % 2 == 0 {
                    r * angle.cos()
                } else {
                    r * angle.sin()
                }
            });
            let x = self.sample_from(&z);
            if x.iter().all(|v| (0.0..=1.0).contains(v)) {
                return x;
            }
        }
        self.sample_in_unit_cube(rng)
    }

    /// One sample inside the unit cube: resampled while outside, then clipped.
    pub fn sample_in_unit_cube(&self, rng: &mut impl Rng) -> DVector<f64> {
        let mut x = self.sample(rng);
        for _ in 0..100 {
            if x.iter().all(|v| (0.0..=1.0).contains(v)) {
                return x;
            }
            x = self.sample(rng);
        }
        x.map(|v| v.clamp(0.0, 1.0))
    }

    /// Updates the strategy from λ evaluated points (loss, point); the best μ are used.
    pub fn tell(&mut self, mut results: Vec<(f64, DVector<f64>)>) {
        results.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = self.n as f64;
        let old_mean = self.mean.clone();
        let ys: Vec<DVector<f64>> = results
            .iter()
            .map(|(_, x)| (x - &old_mean) / self.sigma)
            .collect();
        let mut yw = DVector::zeros(self.n);
        for (w, y) in self.weights.iter().zip(&ys).take(self.mu) {
            yw += y * *w;
        }
        self.mean = &old_mean + &yw * self.sigma;
        // C^(-1/2) y_w = B D^-1 B^T y_w
        let inv_sqrt = &self.b * (self.b.transpose() * &yw).component_div(&self.d);
        self.ps = &self.ps * (1.0 - self.cs)
            + inv_sqrt * (self.cs * (2.0 - self.cs) * self.mu_eff).sqrt();
        let g = (self.generation + 1) as f64;
        let ps_norm = self.ps.norm();
        let hsig = ps_norm / (1.0 - (1.0 - self.cs).powf(2.0 * g)).sqrt() / self.chi_n
            < 1.4 + 2.0 / (n + 1.0);
        let h = if hsig { 1.0 } else { 0.0 };
        self.pc = &self.pc * (1.0 - self.cc)
            + &yw * (h * (self.cc * (2.0 - self.cc) * self.mu_eff).sqrt());
        // Rank-μ update over all ranks; negative weights are rescaled by n / |C^(-1/2) y|^2 so
        // that C stays positive definite (tutorial eq. 46). The decay of the old C uses the sum of
        // the weights before that rescaling (eq. 47).
        let mut rank_mu = DMatrix::zeros(self.n, self.n);
        let wsum: f64 = self.weights.iter().sum();
        for (w, y) in self.weights.iter().zip(&ys) {
            let w = if *w >= 0.0 {
                *w
            } else {
                let z = (self.b.transpose() * y).component_div(&self.d);
                *w * n / z.norm_squared().max(1e-300)
            };
            rank_mu += y * y.transpose() * w;
        }
        let delta = (1.0 - h) * self.cc * (2.0 - self.cc);
        self.c = &self.c * (1.0 + self.c1 * delta - self.c1 - self.cmu * wsum)
            + &self.pc * self.pc.transpose() * self.c1
            + rank_mu * self.cmu;
        self.sigma *= ((self.cs / self.ds) * (ps_norm / self.chi_n - 1.0)).exp();
        self.sigma = self.sigma.clamp(1e-300, 1e300);
        // Margin: discrete coordinates keep a minimum spread.
        for i in 0..self.n {
            let floor = self.min_std[i] / self.sigma;
            if floor > 0.0 && self.c[(i, i)] < floor * floor {
                self.c[(i, i)] = floor * floor;
            }
        }
        self.generation += 1;
        self.decompose();
    }

    fn decompose(&mut self) {
        // Keep C exactly symmetric before the eigendecomposition.
        let c = (&self.c + self.c.transpose()) * 0.5;
        self.c = c.clone();
        let eig = SymmetricEigen::new(c);
        self.d = eig.eigenvalues.map(|v| v.max(1e-20).sqrt());
        self.b = eig.eigenvectors;
    }

    /// The condition number of C.
    pub fn condition(&self) -> f64 {
        let max = self.d.max();
        let min = self.d.min();
        (max / min).powi(2)
    }

    /// The largest standard deviation along the continuous coordinates (those without a
    /// margin); `None` when every coordinate is discrete.
    pub fn max_continuous_std(&self) -> Option<f64> {
        (0..self.n)
            .filter(|&i| self.min_std[i] == 0.0)
            .map(|i| self.sigma * self.c[(i, i)].sqrt())
            .reduce(f64::max)
    }
}

fn standard_normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

impl CmaEsSampler {
    /// Restarts done so far (IPOP).
    pub fn restarts(&self) -> u32 {
        self.lock().restarts
    }

    /// The current population size.
    pub fn popsize(&self) -> Option<usize> {
        self.lock().cma.as_ref().map(|c| c.lambda)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fresh(&self, state: &State, space: &[(String, Distribution)], lambda: Option<usize>) -> Cma {
        let n = space.len();
        let mean = if state.restarts == 0 {
            DVector::from_element(n, 0.5)
        } else {
            let mut rng =
                ChaCha8Rng::seed_from_u64(mix(self.seed, 0xC0FFEE + state.restarts as u64));
            DVector::from_fn(n, |_, _| rng.random::<f64>())
        };
        let min_std = space
            .iter()
            .map(|(_, d)| match d.cardinality() {
                Some(k) if k > 1 => 0.25 / k as f64,
                _ => 0.0,
            })
            .collect();
        Cma::new(mean, self.cfg.sigma0, lambda, min_std)
    }

    /// Feeds finished trials to their generation; updates, and restarts when stagnating.
    fn absorb(&self, state: &mut State, study: &StudyView) {
        let Some(cma) = state.cma.as_ref() else {
            return;
        };
        let current = (state.restarts, cma.generation);
        let mut finished = Vec::new();
        let mut dynamic = false;
        for (&number, (gen_id, point)) in &state.issued {
            let Some(t) = study.trials.get(number as usize) else {
                continue;
            };
            if !t.state.is_finished() {
                continue;
            }
            finished.push(number);
            // A conditional space: a modelled categorical may switch off parameters, and a
            // point whose coordinates went unused would mislead the categorical model.
            if !state.cats.is_empty()
                && let Some(space) = &state.space
                && space
                    .iter()
                    .chain(&state.cats)
                    .any(|(n, _)| !t.params.contains_key(n))
            {
                dynamic = true;
            }
            if t.state == TrialState::Complete
                && *gen_id == current
                && let Some(v) = t.value()
            {
                state
                    .results
                    .push((study.directions[0].to_loss(v), point.clone()));
            }
        }
        for n in finished {
            state.issued.remove(&n);
        }
        if dynamic {
            state.cats.clear();
            state.asng = None;
        }
        let Some(cma) = state.cma.as_mut() else {
            return;
        };
        if state.results.len() < cma.lambda {
            return;
        }
        let mut batch: Vec<(f64, Point)> = state.results.drain(..).collect();
        batch.truncate(cma.lambda);
        batch.sort_by(|a, b| a.0.total_cmp(&b.0));
        let best = batch.first().map_or(f64::INFINITY, |r| r.0);
        if let Some(asng) = state.asng.as_mut() {
            let ranked: Vec<Vec<usize>> = batch.iter().map(|(_, p)| p.c.clone()).collect();
            asng.tell(&ranked, cma.weights().0);
        }
        cma.tell(batch.into_iter().map(|(v, p)| (v, p.x)).collect());
        state.gen_first = None;
        let improved =
            !state.best.is_finite() || best < state.best - 1e-12 * state.best.abs().max(1.0);
        if improved {
            state.best = best;
            state.since_improvement = 0;
        } else {
            state.since_improvement += 1;
        }
        // Stagnation (after Hansen's stopping criteria, with a tolerance suited to
        // hyperparameters): the continuous spread is below 1e-6 of the range, C is degenerate,
        // or the best value has not improved for 10 + 30n/λ generations.
        let window = 10 + (30.0 * cma.n as f64 / cma.lambda as f64).ceil() as usize;
        let stagnated = cma.max_continuous_std().is_some_and(|s| s < 1e-6)
            || cma.condition() > 1e14
            || state.since_improvement >= window;
        if stagnated && self.cfg.ipop {
            let lambda = cma.lambda * self.cfg.popsize_factor.max(1);
            state.restarts += 1;
            state.best = f64::INFINITY;
            state.since_improvement = 0;
            state.issued.clear();
            if let Some(space) = state.space.clone() {
                state.cma = Some(self.fresh(state, &space, Some(lambda)));
                state.asng = self.fresh_categorical(state);
            }
        }
    }

    fn fresh_categorical(&self, state: &State) -> Option<Asng> {
        let choices: Vec<usize> = state
            .cats
            .iter()
            .map(|(_, d)| d.cardinality().unwrap_or(1) as usize)
            .collect();
        (!choices.is_empty()).then(|| Asng::new(&choices))
    }
}

impl Sampler for CmaEsSampler {
    fn infer_relative_space(
        &self,
        study: &StudyView,
        _trial: &FrozenTrial,
    ) -> IndexMap<String, Distribution> {
        if study.directions.len() != 1 {
            return IndexMap::new();
        }
        let mut st = self.lock();
        if st.space.is_none()
            && let Some(first) = study.complete().next()
        {
            let (cats, space): (Vec<_>, Vec<_>) = first
                .distributions
                .iter()
                .filter(|(_, d)| !d.is_single())
                .map(|(n, d)| (n.clone(), d.clone()))
                .partition(|(_, d)| matches!(d, Distribution::Categorical { .. }));
            // Categoricals ride along with a Gaussian part; alone they are drawn at random.
            if !space.is_empty() {
                st.space = Some(space);
                if self.cfg.categorical {
                    st.cats = cats;
                }
            }
        }
        let mut out: IndexMap<String, Distribution> =
            st.space.clone().unwrap_or_default().into_iter().collect();
        out.extend(st.cats.iter().cloned());
        out
    }

    fn sample_relative(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
        space: &IndexMap<String, Distribution>,
    ) -> Result<IndexMap<String, f64>> {
        let mut st = self.lock();
        let Some(own) = st.space.clone() else {
            return Ok(IndexMap::new());
        };
        if st.cma.is_none() {
            let cma = self.fresh(&st, &own, self.cfg.popsize);
            st.cma = Some(cma);
            st.asng = self.fresh_categorical(&st);
        }
        self.absorb(&mut st, study);
        // The generation's mutations come from one scrambled Sobol sequence (fresh scrambling
        // per generation), indexed by the trial's place in the generation.
        let first = *st.gen_first.get_or_insert(trial.number);
        let Some(cma) = st.cma.as_ref() else {
            return Ok(IndexMap::new());
        };
        let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed, trial.number.wrapping_add(7)));
        let stream = SobolSampler::new(mix(
            self.seed,
            (u64::from(st.restarts) << 32) | u64::from(cma.generation),
        ));
        let mut index = trial.number.saturating_sub(first);
        let lambda = cma.lambda as u64;
        let mut draw = |rng: &mut ChaCha8Rng| Point {
            x: if self.cfg.quasi_random {
                let x = cma.sample_quasi_random_in_unit_cube(&stream, index, lambda, rng);
                // A redraw starts past the 100 replacement indices this draw may have used.
                index += lambda.max(1) * 101;
                x
            } else {
                cma.sample_in_unit_cube(rng)
            },
            c: st.asng.as_ref().map(|a| a.sample(rng)).unwrap_or_default(),
        };
        // On an all-discrete space a configuration already tried would teach nothing new:
        // redraw (a bounded number of times) until the proposal is a new one.
        let modelled: Vec<(&str, &Distribution)> = own
            .iter()
            .chain(&st.cats)
            .map(|(n, d)| (n.as_str(), d))
            .collect();
        let tried = tried_configurations(study, &modelled, trial.number);
        let is_repeat = |p: &Point| {
            let values: Vec<ParamValue> = own
                .iter()
                .zip(p.x.iter())
                .map(|((_, d), u)| d.from_unit(*u))
                .chain(
                    st.cats
                        .iter()
                        .zip(&p.c)
                        .map(|((_, d), &c)| d.to_external(c as f64)),
                )
                .collect();
            configuration_key(modelled.iter().map(|(_, d)| *d), &values)
                .is_some_and(|k| tried.contains(&k))
        };
        let mut point = draw(&mut rng);
        for _ in 0..100 {
            if tried.is_empty() || !is_repeat(&point) {
                break;
            }
            point = draw(&mut rng);
        }
        // Discrete coordinates are told to CMA-ES at the value the trial really used (the centre
        // of its bin), so the mean moves between the values that were evaluated.
        for ((_, dist), u) in own.iter().zip(point.x.iter_mut()) {
            if dist.cardinality().is_some() {
                *u = dist.to_unit(&dist.from_unit(*u))?;
            }
        }
        let gen_id = (st.restarts, cma.generation);
        let mut out = IndexMap::new();
        for ((name, dist), u) in own.iter().zip(point.x.iter()) {
            if space.get(name) == Some(dist) {
                out.insert(name.clone(), dist.to_internal(&dist.from_unit(*u))?);
            }
        }
        for ((name, dist), &c) in st.cats.iter().zip(&point.c) {
            if space.get(name) == Some(dist) {
                out.insert(name.clone(), c as f64);
            }
        }
        st.issued.insert(trial.number, (gen_id, point));
        Ok(out)
    }

    fn sample_independent(
        &self,
        study: &StudyView,
        trial: &FrozenTrial,
        name: &str,
        dist: &Distribution,
    ) -> Result<f64> {
        self.fallback.sample_independent(study, trial, name, dist)
    }

    fn name(&self) -> &'static str {
        "cmaes"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Optimize, Study};

    #[test]
    fn default_parameters_follow_the_tutorial() {
        for n in [2usize, 5, 10, 40] {
            let c = Cma::new(DVector::from_element(n, 0.5), 0.2, None, vec![]);
            assert_eq!(c.lambda, 4 + (3.0 * (n as f64).ln()).floor() as usize);
            let (w, mu_eff) = c.weights();
            assert_eq!(w.len(), c.lambda);
            let positive: Vec<f64> = w.iter().copied().filter(|x| *x > 0.0).collect();
            assert_eq!(positive.len(), c.lambda / 2, "the best half recombines");
            assert!((positive.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            assert!(
                w.windows(2).all(|p| p[0] >= p[1]),
                "weights decrease with rank"
            );
            assert!(mu_eff >= 1.0 && mu_eff <= positive.len() as f64);
            assert!(c.c1 + c.cmu <= 1.0);
            // The negative weights are bounded so that C stays positive definite (eq. 53).
            let neg: f64 = w.iter().filter(|x| **x < 0.0).map(|x| -x).sum();
            assert!(neg <= (1.0 - c.c1 - c.cmu) / (n as f64 * c.cmu) + 1e-12);
        }
    }

    fn run(c: &mut Cma, f: impl Fn(&DVector<f64>) -> f64, generations: usize, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for _ in 0..generations {
            let pop: Vec<(f64, DVector<f64>)> = (0..c.lambda)
                .map(|_| {
                    let x = c.sample(&mut rng);
                    (f(&x), x)
                })
                .collect();
            c.tell(pop);
        }
    }

    #[test]
    fn step_size_grows_on_a_linear_function_and_shrinks_near_an_optimum() {
        // Cumulative step-size adaptation: on a linear slope steps keep pointing the same way,
        // so sigma must increase; at a sphere's optimum it must decrease.
        let mut lin = Cma::new(DVector::zeros(5), 0.1, None, vec![]);
        run(&mut lin, |x| x[0], 30, 1);
        assert!(
            lin.sigma > 1.0,
            "sigma {} after 30 generations on a slope",
            lin.sigma
        );
        let mut sph = Cma::new(DVector::from_element(5, 1.0), 0.5, None, vec![]);
        run(&mut sph, |x| x.norm_squared(), 200, 2);
        assert!(sph.sigma < 1e-3, "sigma {}", sph.sigma);
        assert!(sph.mean.norm() < 1e-3, "mean {}", sph.mean);
    }

    #[test]
    fn the_covariance_learns_the_shape_of_an_ellipsoid() {
        let mut c = Cma::new(DVector::from_element(2, 1.0), 0.5, None, vec![]);
        run(&mut c, |x| x[0] * x[0] + 1e4 * x[1] * x[1], 120, 3);
        // Steps along the flat axis x0 must be ~100 times longer than along x1.
        let ratio = (c.c[(0, 0)] / c.c[(1, 1)]).sqrt();
        assert!(ratio > 30.0, "std ratio {ratio}");
    }

    #[test]
    fn the_sampler_converges_respects_integers_and_restarts_with_a_larger_population() {
        let sampler = std::sync::Arc::new(CmaEsConfig::default().build(5));
        let study = Study::builder("cma")
            .sampler_arc(sampler.clone())
            .build()
            .unwrap();
        study
            .optimize(
                |t| -> crate::Result<f64> {
                    let x = t.suggest_float("x", -3.0, 3.0).get()?;
                    let k = t.suggest_int("k", -10, 10).get()?;
                    let y = t.suggest_float("y", 1e-3, 10.0).log().get()?;
                    assert!((-10..=10).contains(&k));
                    if t.number() % 17 == 5 {
                        return Err(crate::Error::invalid("crash"));
                    }
                    Ok((x - 0.5).powi(2) + ((k - 3) as f64).powi(2) + y.ln().powi(2))
                },
                Optimize::trials(600),
            )
            .unwrap();
        let best = study.best_trial().unwrap().unwrap();
        assert!(best.value().unwrap() < 1e-3, "{:?}", best.value());
        assert_eq!(best.params["k"].as_i64(), Some(3));
        assert!(sampler.restarts() >= 1, "converged, then restarted");
        assert!(sampler.popsize().unwrap() >= 2 * (4 + (3.0f64 * 3f64.ln()).floor() as usize));
    }

    #[test]
    fn the_sampler_is_reproducible() {
        let run = |seed| {
            let s = Study::builder("r")
                .sampler(CmaEsConfig::default().build(seed))
                .build()
                .unwrap();
            s.optimize(
                |t| -> crate::Result<f64> {
                    let a = t.suggest_float("a", 0.0, 1.0).get()?;
                    let b = t.suggest_float("b", 0.0, 1.0).get()?;
                    Ok(a * b)
                },
                Optimize::trials(40),
            )
            .unwrap();
            s.trials()
                .unwrap()
                .into_iter()
                .map(|t| t.params)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }

    fn study_with(cfg: CmaEsConfig, seed: u64) -> Study {
        Study::builder("cma-x")
            .sampler(cfg.build(seed))
            .build()
            .unwrap()
    }

    #[test]
    fn categorical_parameters_are_learned_with_the_numeric_ones() {
        // CatCMA's property: the categorical distribution concentrates on the choice that ranks
        // best, while the Gaussian part optimises the numeric parameters.
        let share_of_best = |categorical: bool| {
            let study = study_with(
                CmaEsConfig {
                    categorical,
                    ..CmaEsConfig::default()
                },
                3,
            );
            study
                .optimize(
                    |t| -> crate::Result<f64> {
                        let x = t.suggest_float("x", -2.0, 2.0).get()?;
                        let y = t.suggest_float("y", -2.0, 2.0).get()?;
                        let c = t.suggest_categorical("act", &["a", "b", "c", "d"])?;
                        Ok(x * x + y * y + if c == "c" { 0.0 } else { 1.0 })
                    },
                    Optimize::trials(150),
                )
                .unwrap();
            let trials = study.trials().unwrap();
            let last = &trials[100..];
            let hits = last
                .iter()
                .filter(|t| t.params["act"].as_str() == Some("c"))
                .count();
            (
                hits as f64 / last.len() as f64,
                study.best_value().unwrap().unwrap(),
            )
        };
        let (learned, best) = share_of_best(true);
        let (random, _) = share_of_best(false);
        assert!(
            learned > 0.6,
            "best choice in {learned} of the last 50 trials"
        );
        assert!(random < 0.45, "random draws pick it {random} of the time");
        assert!(best < 0.01, "best {best}");
    }

    #[test]
    fn a_conditional_space_falls_back_to_random_categoricals_and_still_converges() {
        let study = study_with(CmaEsConfig::default(), 4);
        study
            .optimize(
                |t| -> crate::Result<f64> {
                    let kind = t.suggest_categorical("kind", &["quad", "abs"])?;
                    if kind == "quad" {
                        let x = t.suggest_float("x", -3.0, 3.0).get()?;
                        let y = t.suggest_float("y", -3.0, 3.0).get()?;
                        Ok((x - 1.0).powi(2) + (y + 0.5).powi(2))
                    } else {
                        let z = t.suggest_int("z", 0, 10).get()?;
                        Ok(0.5 + 0.2 * (z - 7).abs() as f64)
                    }
                },
                Optimize::trials(300),
            )
            .unwrap();
        let best = study.best_value().unwrap().unwrap();
        assert!(best < 0.05, "best {best}");
    }

    #[test]
    fn an_all_discrete_space_is_not_sampled_twice_at_the_same_configuration() {
        // 4 x 4 x 2 = 32 configurations; the first 16 proposals must all differ. (Once the search
        // has narrowed, the untried cells lie far out and a bounded number of redraws may not
        // reach them; then a repeat is accepted.)
        let study = study_with(CmaEsConfig::default(), 6);
        study
            .optimize(
                |t| -> crate::Result<f64> {
                    let a = t.suggest_int("a", 0, 3).get()?;
                    let b = t.suggest_int("b", 0, 3).get()?;
                    let c = t.suggest_categorical("c", &[false, true])?;
                    Ok(((a - 1) * (a - 1) + (b - 2) * (b - 2)) as f64 + f64::from(u8::from(c)))
                },
                Optimize::trials(16),
            )
            .unwrap();
        let mut seen = std::collections::HashSet::new();
        for t in study.trials().unwrap() {
            let key = format!("{:?}", t.params);
            assert!(seen.insert(key.clone()), "trial {} repeats {key}", t.number);
        }
    }

    #[test]
    fn quasi_random_mutations_balance_a_generation_better_than_random_ones() {
        // The property quasi-random mutations are used for: the mean of a generation's
        // mutation vectors stays closer to zero (lower discrepancy) than with independent draws,
        // so the recombined mean is not pushed around by sampling noise.
        let n = 6;
        let c = Cma::new(DVector::from_element(n, 0.5), 0.01, Some(16), vec![]);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let (mut quasi, mut pseudo) = (0.0, 0.0);
        for g in 0..200u64 {
            let stream = SobolSampler::new(mix(11, g));
            let mean_of = |xs: Vec<DVector<f64>>| {
                let sum = xs.iter().fold(DVector::zeros(n), |a, x| a + x);
                ((sum / xs.len() as f64) - &c.mean).norm()
            };
            quasi += mean_of(
                (0..16u64)
                    .map(|i| c.sample_quasi_random_in_unit_cube(&stream, i, 16, &mut rng))
                    .collect(),
            );
            pseudo += mean_of((0..16).map(|_| c.sample_in_unit_cube(&mut rng)).collect());
        }
        assert!(
            quasi < 0.7 * pseudo,
            "quasi {quasi} vs pseudo-random {pseudo}"
        );
    }
}
