//! One-shot search with a single-path supernet (SPOS).
//!
//! The supernet is trained by sampling, for every mini-batch, one operation per edge uniformly
//! at random and training only that path, so every operation's weights are trained in many
//! contexts and any path can later be evaluated with the weights it inherits. Candidates are
//! then ranked by their validation accuracy with inherited weights (batch statistics
//! recomputed on each batch, as SPOS recalibrates batch norm per path), and an evolutionary
//! search (top-k parents, mutation and crossover, identical cells skipped) finds the best
//! ranked one, to be retrained from scratch.
//!
//! The one-shot ranking is only useful if it agrees with stand-alone training: Kendall's τ
//! between the two on a sample of architectures measures that.
//!
//! # References
//! - Z. Guo, X. Zhang, H. Mu, W. Heng, Z. Liu, Y. Wei, J. Sun, "Single Path One-Shot Neural
//!   Architecture Search with Uniform Sampling", ECCV 2020.
//! - G. Bender, P.-J. Kindermans, B. Zoph, V. Vasudevan, Q. Le, "Understanding and Simplifying
//!   One-Shot Architecture Search", ICML 2018.
//! - M. G. Kendall, "A New Measure of Rank Correlation", Biometrika 1938 (τ-b for ties).

use std::collections::HashSet;

use burn::tensor::Device;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tuneforge::nas::{ArchitectureSpace, CellSpace, ChainSpace};

use crate::chainnet::ChainNet;
use crate::data::ImageSet;
use crate::error::{Error, Result};
use crate::supernet::{CellNet, EdgeMode, NetConfig, SharedWeights};
use crate::train::{Steps, TrainConfig, accuracy_batch_stats, train_device};

/// Settings of the evolutionary search over the one-shot ranking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvolveConfig {
    /// Population per generation. Default 16.
    pub population: usize,
    /// Generations after the random first one. Default 5.
    pub generations: usize,
    /// Parents kept per generation (the best). Default 4.
    pub parents: usize,
    /// Probability that a child is a mutation (else a crossover of two parents). Default 0.5.
    pub mutation: f64,
    /// Seed. Default 0.
    pub seed: u64,
}

impl Default for EvolveConfig {
    fn default() -> Self {
        EvolveConfig {
            population: 16,
            generations: 5,
            parents: 4,
            mutation: 0.5,
            seed: 0,
        }
    }
}

impl EvolveConfig {
    /// The defaults with a population of `budget` (at least 2) and no more parents than that.
    pub fn with_population(budget: usize, seed: u64) -> EvolveConfig {
        let population = budget.max(2);
        let base = EvolveConfig::default();
        EvolveConfig {
            population,
            parents: base.parents.min(population),
            seed,
            ..base
        }
    }
}

/// Trains a supernet over `space` by uniform single-path sampling with the recipe `config`;
/// `on_epoch(epoch, loss)` sees each epoch's mean loss.
pub fn train_supernet(
    space: &CellSpace,
    net_config: &NetConfig,
    train: &ImageSet,
    config: &TrainConfig,
    on_epoch: impl FnMut(usize, f64),
) -> Result<CellNet> {
    train_single_paths(
        |device| CellNet::supernet(space, net_config, device),
        train,
        config,
        on_epoch,
        |_, rng| space.random(rng),
    )
}

/// [`train_supernet`] over a chain space: each mini-batch trains the blocks of one uniformly
/// sampled chain.
pub fn train_chain_supernet(
    space: &ChainSpace,
    net_config: &NetConfig,
    train: &ImageSet,
    config: &TrainConfig,
    on_epoch: impl FnMut(usize, f64),
) -> Result<ChainNet> {
    train_single_paths(
        |device| ChainNet::supernet(space, net_config, device),
        train,
        config,
        on_epoch,
        |n, rng| {
            // Every block a chain of this space can choose is one of the supernet's candidates.
            n.path(space, &space.random(rng))
                .expect("a chain of the supernet's own space has a path through it")
        },
    )
}

/// The single-path training loop: the recipe is checked, the device seeded, the supernet
/// built by `build`, then every mini-batch trains the path `sample` draws.
fn train_single_paths<N: SharedWeights>(
    build: impl FnOnce(&Device) -> Result<N>,
    train: &ImageSet,
    config: &TrainConfig,
    mut on_epoch: impl FnMut(usize, f64),
    sample: impl Fn(&N, &mut ChaCha8Rng) -> Vec<usize>,
) -> Result<N> {
    config.validate()?;
    let device = train_device();
    device.seed(config.seed);
    let mut net = build(&device)?;
    let mut steps = Steps::new(config, train.len());
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    for epoch in 0..config.epochs {
        let (trained, loss) = steps.epoch(
            net,
            train,
            &device,
            &mut rng,
            "the supernet loss",
            |n, x, rng| n.forward_mode(x, &EdgeMode::Path(sample(n, rng)), false),
        )?;
        net = trained;
        on_epoch(epoch, loss);
    }
    Ok(net)
}

/// The one-shot score of `arch`: validation accuracy with inherited weights.
pub fn one_shot_accuracy(net: &CellNet, arch: &[usize], valid: &ImageSet) -> f64 {
    accuracy_batch_stats(net, valid, &EdgeMode::Path(arch.to_vec()), 256)
}

/// The one-shot score of chain `arch`: validation accuracy with the blocks it inherits.
pub fn chain_one_shot_accuracy(
    net: &ChainNet,
    space: &ChainSpace,
    arch: &[usize],
    valid: &ImageSet,
) -> Result<f64> {
    let path = net.path(space, arch)?;
    Ok(accuracy_batch_stats(net, valid, &EdgeMode::Path(path), 256))
}

/// The best architecture and every scored one, with its score.
pub type Evolved = (Vec<usize>, Vec<(Vec<usize>, f64)>);

/// Evolutionary search maximising `score` over `space`: a random first generation, then
/// children of the best `parents` by mutation or uniform crossover. Every distinct cell (by the
/// space's identity) is scored once. Returns the best architecture and every scored one.
pub fn evolve(
    space: &dyn ArchitectureSpace,
    config: &EvolveConfig,
    mut score: impl FnMut(&[usize]) -> Result<f64>,
) -> Result<Evolved> {
    if config.population < 2 || config.parents == 0 || config.parents > config.population {
        return Err(Error::Config(
            "evolution needs a population of at least 2 and between 1 and population parents"
                .into(),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut seen = HashSet::new();
    let mut scored: Vec<(Vec<usize>, f64)> = Vec::new();
    let mut generation: Vec<Vec<usize>> = Vec::new();
    let mut tries = 0;
    while generation.len() < config.population && tries < 100 * config.population {
        tries += 1;
        let a = space.random(&mut rng);
        if seen.insert(space.identity(&a)) {
            generation.push(a);
        }
    }
    for g in 0..=config.generations {
        for arch in generation.drain(..) {
            let s = score(&arch)?;
            scored.push((arch, s));
        }
        if g == config.generations {
            break;
        }
        let mut ranked = scored.clone();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let parents: Vec<Vec<usize>> = ranked
            .iter()
            .take(config.parents)
            .map(|(a, _)| a.clone())
            .collect();
        let mut tries = 0;
        while generation.len() < config.population && tries < 100 * config.population {
            tries += 1;
            let child = if rng.random_bool(config.mutation.clamp(0.0, 1.0)) {
                space.mutate(&parents[rng.random_range(0..parents.len())], &mut rng)
            } else {
                let a = &parents[rng.random_range(0..parents.len())];
                let b = &parents[rng.random_range(0..parents.len())];
                a.iter()
                    .zip(b)
                    .map(|(&x, &y)| if rng.random_bool(0.5) { x } else { y })
                    .collect()
            };
            if seen.insert(space.identity(&child)) {
                generation.push(child);
            }
        }
        if generation.is_empty() {
            break; // the space is exhausted
        }
    }
    let best = scored
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(a, _)| a.clone())
        .ok_or_else(|| Error::Config("evolution scored no architecture".into()))?;
    Ok((best, scored))
}

/// Kendall's τ-b between two paired samples (ties in either count as neither concordant nor
/// discordant, and shrink the denominator). NaN when either sample is constant.
pub fn kendall_tau(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len());
    let (mut concordant, mut discordant, mut ties_x, mut ties_y) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..n {
        for j in i + 1..n {
            let dx = x[i] - x[j];
            let dy = y[i] - y[j];
            match (dx == 0.0, dy == 0.0) {
                (true, true) => {}
                (true, false) => ties_x += 1,
                (false, true) => ties_y += 1,
                _ if (dx > 0.0) == (dy > 0.0) => concordant += 1,
                _ => discordant += 1,
            }
        }
    }
    let n1 = (concordant + discordant + ties_x) as f64;
    let n2 = (concordant + discordant + ties_y) as f64;
    (concordant - discordant) as f64 / (n1 * n2).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kendall_tau_matches_hand_counts() {
        let _serial = crate::test_serial();
        assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), 1.0);
        assert_eq!(kendall_tau(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), -1.0);
        // pairs (1,2) (1,3) (1,4) (2,3) concordant, (2,4) (3,4) discordant: (4 - 2) / 6
        let tau = kendall_tau(&[1.0, 2.0, 3.0, 4.0], &[1.0, 3.0, 4.0, 2.0]);
        assert!((tau - 1.0 / 3.0).abs() < 1e-12, "{tau}");
        // a tie in x: 2 pairs concordant, 1 tied in x -> 2 / sqrt(3 * 2)
        let tau = kendall_tau(&[1.0, 1.0, 2.0], &[1.0, 2.0, 3.0]);
        assert!((tau - 2.0 / 6f64.sqrt()).abs() < 1e-12, "{tau}");
        assert!(kendall_tau(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
    }

    #[test]
    fn evolution_scores_each_distinct_cell_once_and_climbs() {
        let _serial = crate::test_serial();
        let space = CellSpace::nas_bench_201();
        // score: number of conv3x3 edges (op index 3); the best cell has 6
        let mut calls = 0;
        let cfg = EvolveConfig {
            population: 12,
            generations: 8,
            parents: 3,
            ..Default::default()
        };
        let (best, scored) = evolve(&space, &cfg, |a| {
            calls += 1;
            Ok(a.iter().filter(|&&k| k == 3).count() as f64)
        })
        .unwrap();
        assert_eq!(calls, scored.len());
        let ids: HashSet<String> = scored.iter().map(|(a, _)| space.identity(a)).collect();
        assert_eq!(ids.len(), scored.len(), "no cell is scored twice");
        let first_gen_best = scored[..12].iter().map(|s| s.1).fold(0.0, f64::max);
        let best_score = best.iter().filter(|&&k| k == 3).count() as f64;
        assert!(
            best_score > first_gen_best,
            "{best_score} vs {first_gen_best}"
        );
        assert!(evolve(&space, &EvolveConfig { parents: 0, ..cfg }, |_| Ok(0.0)).is_err());
    }
}
