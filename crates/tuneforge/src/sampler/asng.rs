//! Adaptive stochastic natural gradient (ASNG) over independent categorical distributions: the
//! categorical half of CatCMA.
//!
//! Each categorical variable i with K_i choices has a probability vector q_i. A generation of λ
//! samples, ranked by loss, moves q along the natural gradient of the expected ranking utility,
//! which for a categorical distribution in its expectation parameters is simply
//! Σ_k w_k (onehot(c_k) − q) with the recombination weights w_k of the rank of sample k. The step
//! length is a trust region measured in the Fisher metric, ε = δ / ‖F^{1/2} G‖, and δ itself is
//! adapted from the accumulated, normalised gradient (long consistent steps grow it, noise shrinks
//! it). A margin keeps every probability at or above q_min = (1 − 0.73^{1/N}) / (K_i − 1), so no
//! choice is ever lost for good (N categorical variables).
//!
//! # References
//! - Y. Akimoto, S. Shirakawa, N. Yoshinari, K. Uchida, S. Saito, K. Nishida, "Adaptive
//!   Stochastic Natural Gradient Method for One-Shot Neural Architecture Search", ICML 2019
//!   (the natural gradient, the closed form of F^{1/2}G and the adaptation of δ).
//! - R. Hamano, S. Saito, M. Nomura, K. Uchida, S. Shirakawa, "CatCMA: Stochastic Optimization
//!   for Mixed-Category Problems", GECCO 2024 (the joint use with CMA-ES, the CMA weights and the
//!   margin).

use rand::Rng;

use super::pick_by_probability;

/// Categorical distributions adapted by ASNG. See the module documentation.
#[derive(Clone, Debug)]
pub struct Asng {
    /// Probabilities, one vector per variable.
    pub q: Vec<Vec<f64>>,
    q_min: Vec<f64>,
    /// Free parameters (Σ (K_i − 1)).
    dim: usize,
    delta_init: f64,
    delta_scale: f64,
    alpha: f64,
    s: Vec<f64>,
    gamma: f64,
}

impl Asng {
    /// Uniform distributions over `choices[i]` choices per variable (each at least 2).
    pub fn new(choices: &[usize]) -> Asng {
        let n = choices.len().max(1) as f64;
        let dim: usize = choices.iter().map(|k| k.saturating_sub(1)).sum();
        Asng {
            q: choices.iter().map(|&k| vec![1.0 / k as f64; k]).collect(),
            q_min: choices
                .iter()
                .map(|&k| (1.0 - 0.73f64.powf(1.0 / n)) / (k.max(2) - 1) as f64)
                .collect(),
            dim,
            delta_init: 1.0,
            delta_scale: 1.0,
            alpha: 1.5,
            s: vec![0.0; dim],
            gamma: 0.0,
        }
    }

    /// The floor of each variable's probabilities.
    pub fn margin(&self) -> &[f64] {
        &self.q_min
    }

    /// One draw of every variable.
    pub fn sample(&self, rng: &mut impl Rng) -> Vec<usize> {
        self.q
            .iter()
            .map(|q| pick_by_probability(q.iter().copied(), rng.random()))
            .collect()
    }

    /// Updates from samples ranked best first, with the weight of each rank (`weights[k]` for
    /// the k-th best; negative weights push probability away from bad choices).
    pub fn tell(&mut self, ranked: &[Vec<usize>], weights: &[f64]) {
        if self.dim == 0 || ranked.is_empty() {
            return;
        }
        // Natural gradient in expectation parameters: Σ w_k (onehot(c_k) − q).
        let mut grad: Vec<Vec<f64>> = self.q.iter().map(|q| vec![0.0; q.len()]).collect();
        for (c, &w) in ranked.iter().zip(weights) {
            for (i, &ci) in c.iter().enumerate() {
                for (j, g) in grad[i].iter_mut().enumerate() {
                    *g += w * (f64::from(u8::from(j == ci)) - self.q[i][j]);
                }
            }
        }
        // F^{1/2} G over the first K−1 coordinates of each variable (closed form, ASNG App. B).
        let mut fg = Vec::with_capacity(self.dim);
        for (q, g) in self.q.iter().zip(&grad) {
            let k = q.len();
            let last = q[k - 1].max(1e-300);
            let gsum: f64 = g[..k - 1].iter().sum();
            for j in 0..k - 1 {
                let qj = q[j].max(1e-300);
                fg.push(g[j] / qj.sqrt() + qj.sqrt() * gsum / (last + last.sqrt()));
            }
        }
        let norm = fg.iter().map(|v| v * v).sum::<f64>().sqrt() + 1e-30;
        let delta = self.delta_init / self.delta_scale;
        let eps = delta / norm;
        for (q, g) in self.q.iter_mut().zip(&grad) {
            for (p, gj) in q.iter_mut().zip(g) {
                *p += eps * gj;
            }
        }
        // Adapt the trust region from the accumulated normalised gradient.
        let beta = delta / (self.dim as f64).sqrt();
        for (s, f) in self.s.iter_mut().zip(&fg) {
            *s = (1.0 - beta) * *s + (beta * (2.0 - beta)).sqrt() * f / norm;
        }
        self.gamma = (1.0 - beta).powi(2) * self.gamma + beta * (2.0 - beta);
        let s2: f64 = self.s.iter().map(|v| v * v).sum();
        self.delta_scale *= (beta * (self.gamma - s2 / self.alpha)).exp();
        // Margin: lift every probability to q_min, taking the excess from those above it.
        for (q, &m) in self.q.iter_mut().zip(&self.q_min) {
            for p in q.iter_mut() {
                *p = p.max(m);
            }
            let sum: f64 = q.iter().sum();
            let room = sum - m * q.len() as f64;
            if room > 0.0 {
                for p in q.iter_mut() {
                    *p -= (sum - 1.0) * (*p - m) / room;
                }
            }
            let sum: f64 = q.iter().sum();
            for p in q.iter_mut() {
                *p /= sum;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// λ samples ranked by the number of variables that miss `target`, with CMA-style weights.
    fn generation(a: &mut Asng, target: &[usize], rng: &mut ChaCha8Rng) {
        let lambda = 8;
        let mut pop: Vec<Vec<usize>> = (0..lambda).map(|_| a.sample(rng)).collect();
        pop.sort_by_key(|c| c.iter().zip(target).filter(|(x, t)| x != t).count());
        let raw: Vec<f64> = (1..=lambda)
            .map(|i| ((lambda as f64 + 1.0) / 2.0).ln() - (i as f64).ln())
            .collect();
        let pos: f64 = raw.iter().filter(|w| **w > 0.0).sum();
        let w: Vec<f64> = raw.iter().map(|r| r.max(0.0) / pos).collect();
        a.tell(&pop, &w);
    }

    #[test]
    fn probabilities_stay_a_distribution_above_the_margin() {
        let mut a = Asng::new(&[2, 3, 5]);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..60 {
            generation(&mut a, &[1, 2, 4], &mut rng);
            for (q, m) in a.q.iter().zip(a.margin()) {
                assert!((q.iter().sum::<f64>() - 1.0).abs() < 1e-9);
                assert!(q.iter().all(|p| *p >= m - 1e-12), "{q:?} below {m}");
            }
        }
    }

    #[test]
    fn the_distribution_concentrates_on_the_best_choices() {
        // The paper's property: ranking-based natural-gradient steps raise the probability of
        // the choices that rank well, up to the margin's ceiling.
        let mut a = Asng::new(&[2, 3, 5, 4]);
        let target = [1, 2, 0, 3];
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..80 {
            generation(&mut a, &target, &mut rng);
        }
        for ((q, &t), m) in a.q.iter().zip(&target).zip(a.margin()) {
            let ceiling = 1.0 - m * (q.len() - 1) as f64;
            assert!(q[t] > 0.9 * ceiling, "{q:?}, target {t}");
        }
    }

    #[test]
    fn equal_ranks_leave_the_distribution_where_it_is() {
        // With zero total weight on every choice there is no gradient, so no move.
        let mut a = Asng::new(&[3]);
        let before = a.q.clone();
        a.tell(&[vec![0], vec![1], vec![2]], &[0.0, 0.0, 0.0]);
        assert_eq!(a.q, before);
    }
}
