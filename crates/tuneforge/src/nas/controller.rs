//! The recurrent controller of reinforcement-learning NAS: an LSTM that emits an architecture
//! one decision at a time (each step reads the embedding of the previous choice and a softmax
//! head per decision picks the next), trained by REINFORCE: the gradient of
//! `-(R - b) * log p(arch) - lambda * entropy` is computed by back-propagation through time and
//! applied with Adam. Written by hand in `f64`: the network is a few thousand weights and one
//! update is a few microseconds, so a deep-learning crate would only add build time.
//!
//! # References
//! - B. Zoph, Q. V. Le, "Neural Architecture Search with Reinforcement Learning", ICLR 2017
//!   (the controller emits the architecture as a token sequence; REINFORCE with a baseline).
//! - R. J. Williams, "Simple statistical gradient-following algorithms for connectionist
//!   reinforcement learning", Machine Learning 1992 (REINFORCE).
//! - H. Pham, M. Guan, B. Zoph, Q. Le, J. Dean, "Efficient Neural Architecture Search via
//!   Parameter Sharing", ICML 2018 (entropy bonus, uniform(-0.1, 0.1) initialisation).
//! - D. P. Kingma, J. Ba, "Adam: A Method for Stochastic Optimization", ICLR 2015.

use rand::{Rng, RngCore};

use crate::sampler::pick_by_probability;

/// Offsets of the parameter blocks in the flat parameter vector.
#[derive(Clone, Debug)]
struct Layout {
    hidden: usize,
    /// Embeddings: one row per token (start token + every choice of every decision).
    emb: usize,
    /// Input weights W (4H x H), recurrent weights U (4H x H), bias b (4H).
    w: usize,
    u: usize,
    b: usize,
    /// Per decision: head weights (K x H) then bias (K).
    heads: Vec<usize>,
    /// First token index of each decision's choices.
    token_base: Vec<usize>,
    len: usize,
}

impl Layout {
    fn new(sizes: &[usize], hidden: usize) -> Self {
        let tokens = 1 + sizes.iter().sum::<usize>();
        let emb = 0;
        let w = emb + tokens * hidden;
        let u = w + 4 * hidden * hidden;
        let b = u + 4 * hidden * hidden;
        let mut at = b + 4 * hidden;
        let mut heads = Vec::new();
        let mut token_base = Vec::new();
        let mut tok = 1;
        for &k in sizes {
            heads.push(at);
            at += k * hidden + k;
            token_base.push(tok);
            tok += k;
        }
        Layout {
            hidden,
            emb,
            w,
            u,
            b,
            heads,
            token_base,
            len: at,
        }
    }
}

/// What one pass over a sequence keeps for back-propagation.
struct Tape {
    tokens: Vec<usize>,
    h: Vec<Vec<f64>>,
    c: Vec<Vec<f64>>,
    gates: Vec<[Vec<f64>; 4]>,
    probs: Vec<Vec<f64>>,
}

/// The LSTM controller. See the module documentation.
#[derive(Clone, Debug)]
pub struct Controller {
    sizes: Vec<usize>,
    layout: Layout,
    params: Vec<f64>,
    m: Vec<f64>,
    v: Vec<f64>,
    steps: i32,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Weight of the entropy bonus.
    pub entropy_weight: f64,
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

impl Controller {
    /// A controller for decisions with `sizes[i]` choices each, `hidden` units, weights drawn
    /// uniformly from [-0.1, 0.1].
    pub fn new(sizes: &[usize], hidden: usize, rng: &mut dyn RngCore) -> Self {
        let layout = Layout::new(sizes, hidden.max(1));
        let params = (0..layout.len)
            .map(|_| rng.random_range(-0.1..0.1))
            .collect();
        Controller {
            sizes: sizes.to_vec(),
            m: vec![0.0; layout.len],
            v: vec![0.0; layout.len],
            layout,
            params,
            steps: 0,
            learning_rate: 0.02,
            entropy_weight: 1e-3,
        }
    }

    /// The number of weights.
    pub fn len(&self) -> usize {
        self.layout.len
    }

    /// True when the controller has no decisions.
    pub fn is_empty(&self) -> bool {
        self.sizes.is_empty()
    }

    /// Runs the LSTM over `actions`; when `sample` is given, actions are drawn from the policy
    /// (and written into `actions`) instead of read.
    fn forward(&self, actions: &mut [usize], mut sample: Option<&mut dyn RngCore>) -> Tape {
        let l = &self.layout;
        let hd = l.hidden;
        let p = &self.params;
        let n = self.sizes.len();
        let mut tape = Tape {
            tokens: Vec::with_capacity(n),
            h: vec![vec![0.0; hd]],
            c: vec![vec![0.0; hd]],
            gates: Vec::with_capacity(n),
            probs: Vec::with_capacity(n),
        };
        for t in 0..n {
            let tok = if t == 0 {
                0
            } else {
                l.token_base[t - 1] + actions[t - 1]
            };
            tape.tokens.push(tok);
            let x = &p[l.emb + tok * hd..l.emb + (tok + 1) * hd];
            let h_prev = &tape.h[t];
            let mut z = vec![0.0; 4 * hd];
            for (r, zr) in z.iter_mut().enumerate() {
                let wr = &p[l.w + r * hd..l.w + (r + 1) * hd];
                let ur = &p[l.u + r * hd..l.u + (r + 1) * hd];
                let mut s = p[l.b + r];
                for k in 0..hd {
                    s += wr[k] * x[k] + ur[k] * h_prev[k];
                }
                *zr = s;
            }
            let i: Vec<f64> = z[0..hd].iter().map(|&v| sigmoid(v)).collect();
            let f: Vec<f64> = z[hd..2 * hd].iter().map(|&v| sigmoid(v)).collect();
            let g: Vec<f64> = z[2 * hd..3 * hd].iter().map(|&v| v.tanh()).collect();
            let o: Vec<f64> = z[3 * hd..4 * hd].iter().map(|&v| sigmoid(v)).collect();
            let c: Vec<f64> = (0..hd).map(|k| f[k] * tape.c[t][k] + i[k] * g[k]).collect();
            let h: Vec<f64> = (0..hd).map(|k| o[k] * c[k].tanh()).collect();
            let kk = self.sizes[t];
            let head = l.heads[t];
            let mut logits: Vec<f64> = (0..kk)
                .map(|a| {
                    let row = &p[head + a * hd..head + (a + 1) * hd];
                    p[head + kk * hd + a] + row.iter().zip(&h).map(|(w, x)| w * x).sum::<f64>()
                })
                .collect();
            let mx = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let mut total = 0.0;
            for v in logits.iter_mut() {
                *v = (*v - mx).exp();
                total += *v;
            }
            for v in logits.iter_mut() {
                *v /= total;
            }
            if let Some(rng) = sample.as_deref_mut() {
                actions[t] = pick_by_probability(logits.iter().copied(), rng.random());
            }
            tape.gates.push([i, f, g, o]);
            tape.probs.push(logits);
            tape.c.push(c);
            tape.h.push(h);
        }
        tape
    }

    /// Draws an architecture from the policy.
    pub fn sample(&self, rng: &mut dyn RngCore) -> Vec<usize> {
        let mut actions = vec![0; self.sizes.len()];
        self.forward(&mut actions, Some(rng));
        actions
    }

    /// Log-probability of `actions` under the policy.
    pub fn log_prob(&self, actions: &[usize]) -> f64 {
        let mut a = actions.to_vec();
        let tape = self.forward(&mut a, None);
        tape.probs
            .iter()
            .zip(actions)
            .map(|(p, &k)| p[k].max(1e-300).ln())
            .sum()
    }

    /// The probability of each choice at each step when `actions` are fed back.
    pub fn probabilities(&self, actions: &[usize]) -> Vec<Vec<f64>> {
        let mut a = actions.to_vec();
        self.forward(&mut a, None).probs
    }

    /// The REINFORCE loss for `actions` with advantage `advantage`:
    /// `-advantage * log p(actions) - entropy_weight * sum of step entropies`.
    pub fn loss(&self, actions: &[usize], advantage: f64) -> f64 {
        let mut a = actions.to_vec();
        let tape = self.forward(&mut a, None);
        let mut loss = 0.0;
        for (p, &k) in tape.probs.iter().zip(actions) {
            let ent: f64 = -p.iter().map(|&q| q * q.max(1e-300).ln()).sum::<f64>();
            loss += -advantage * p[k].max(1e-300).ln() - self.entropy_weight * ent;
        }
        loss
    }

    /// The gradient of [`Controller::loss`] with respect to every weight (back-propagation
    /// through time).
    pub fn gradient(&self, actions: &[usize], advantage: f64) -> Vec<f64> {
        let l = &self.layout;
        let hd = l.hidden;
        let p = &self.params;
        let mut a = actions.to_vec();
        let tape = self.forward(&mut a, None);
        let mut grad = vec![0.0; l.len];
        let n = self.sizes.len();
        let mut dh_next = vec![0.0; hd];
        let mut dc_next = vec![0.0; hd];
        for t in (0..n).rev() {
            let kk = self.sizes[t];
            let head = l.heads[t];
            let probs = &tape.probs[t];
            let ent: f64 = -probs.iter().map(|&q| q * q.max(1e-300).ln()).sum::<f64>();
            // d loss / d logits: -A (onehot - p) + lambda * p (ln p + H).
            let dlogits: Vec<f64> = (0..kk)
                .map(|k| {
                    let one = if k == actions[t] { 1.0 } else { 0.0 };
                    -advantage * (one - probs[k])
                        + self.entropy_weight * probs[k] * (probs[k].max(1e-300).ln() + ent)
                })
                .collect();
            let h = &tape.h[t + 1];
            let mut dh = dh_next.clone();
            for (k, &dl) in dlogits.iter().enumerate() {
                for j in 0..hd {
                    grad[head + k * hd + j] += dl * h[j];
                    dh[j] += dl * p[head + k * hd + j];
                }
                grad[head + kk * hd + k] += dl;
            }
            let [i, f, g, o] = &tape.gates[t];
            let c = &tape.c[t + 1];
            let c_prev = &tape.c[t];
            let h_prev = &tape.h[t];
            let mut dz = vec![0.0; 4 * hd];
            let mut dc_prev = vec![0.0; hd];
            for k in 0..hd {
                let tc = c[k].tanh();
                let dc = dh[k] * o[k] * (1.0 - tc * tc) + dc_next[k];
                let d_o = dh[k] * tc;
                let d_i = dc * g[k];
                let d_g = dc * i[k];
                let d_f = dc * c_prev[k];
                dc_prev[k] = dc * f[k];
                dz[k] = d_i * i[k] * (1.0 - i[k]);
                dz[hd + k] = d_f * f[k] * (1.0 - f[k]);
                dz[2 * hd + k] = d_g * (1.0 - g[k] * g[k]);
                dz[3 * hd + k] = d_o * o[k] * (1.0 - o[k]);
            }
            let tok = tape.tokens[t];
            let x_at = l.emb + tok * hd;
            let mut dh_prev = vec![0.0; hd];
            for (r, &dzr) in dz.iter().enumerate() {
                if dzr == 0.0 {
                    continue;
                }
                grad[l.b + r] += dzr;
                for k in 0..hd {
                    grad[l.w + r * hd + k] += dzr * p[x_at + k];
                    grad[l.u + r * hd + k] += dzr * h_prev[k];
                    grad[x_at + k] += dzr * p[l.w + r * hd + k];
                    dh_prev[k] += dzr * p[l.u + r * hd + k];
                }
            }
            dh_next = dh_prev;
            dc_next = dc_prev;
        }
        grad
    }

    /// One Adam step on the REINFORCE loss of `actions` with `advantage`.
    pub fn update(&mut self, actions: &[usize], advantage: f64) {
        let g = self.gradient(actions, advantage);
        self.steps += 1;
        let (b1, b2, eps): (f64, f64, f64) = (0.9, 0.999, 1e-8);
        let c1 = 1.0 - b1.powi(self.steps);
        let c2 = 1.0 - b2.powi(self.steps);
        for (k, gk) in g.into_iter().enumerate() {
            self.m[k] = b1 * self.m[k] + (1.0 - b1) * gk;
            self.v[k] = b2 * self.v[k] + (1.0 - b2) * gk * gk;
            self.params[k] -=
                self.learning_rate * (self.m[k] / c1) / ((self.v[k] / c2).sqrt() + eps);
        }
    }

    #[cfg(test)]
    fn params_mut(&mut self) -> &mut Vec<f64> {
        &mut self.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn the_gradient_matches_finite_differences() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut c = Controller::new(&[3, 2, 4, 5], 6, &mut rng);
        // Larger weights than at initialisation, so every path carries gradient.
        for w in c.params_mut().iter_mut() {
            *w *= 8.0;
        }
        c.entropy_weight = 0.3;
        let actions = [2, 0, 3, 1];
        let adv = 1.7;
        let g = c.gradient(&actions, adv);
        let eps = 1e-6;
        let mut worst: f64 = 0.0;
        for (k, &gk) in g.iter().enumerate() {
            let orig = c.params[k];
            c.params_mut()[k] = orig + eps;
            let up = c.loss(&actions, adv);
            c.params_mut()[k] = orig - eps;
            let down = c.loss(&actions, adv);
            c.params_mut()[k] = orig;
            let num = (up - down) / (2.0 * eps);
            // Relative error, with an absolute floor for near-zero entries (finite differences
            // are only good to ~1e-9 there); a wrong gradient gives errors of order 1.
            worst = worst.max((num - gk).abs() / (1e-4 + num.abs().max(gk.abs())));
        }
        assert!(worst < 1e-5, "largest relative gradient error {worst}");
        assert!(g.iter().filter(|v| v.abs() > 1e-9).count() > c.len() / 2);
    }

    #[test]
    fn a_positive_advantage_makes_the_actions_more_likely() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(6);
        let mut c = Controller::new(&[5, 5, 5], 16, &mut rng);
        let a = [1, 4, 2];
        let before = c.log_prob(&a);
        c.update(&a, 1.0);
        assert!(c.log_prob(&a) > before);
        let b = [0, 0, 0];
        let before = c.log_prob(&b);
        c.update(&b, -1.0);
        assert!(c.log_prob(&b) < before);
    }

    #[test]
    fn samples_follow_the_policy() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let c = Controller::new(&[4, 3], 8, &mut rng);
        let p0 = c.probabilities(&[0, 0])[0].clone();
        let n = 20_000;
        let mut counts = [0usize; 4];
        for _ in 0..n {
            counts[c.sample(&mut rng)[0]] += 1;
        }
        for k in 0..4 {
            let freq = counts[k] as f64 / n as f64;
            assert!(
                (freq - p0[k]).abs() < 0.015,
                "choice {k}: {freq} vs {}",
                p0[k]
            );
        }
    }
}
