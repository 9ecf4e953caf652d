//! ENAS: an LSTM controller samples child networks that all share the weights of one supernet;
//! the shared weights and the controller are trained alternately.
//!
//! Each epoch first trains the shared weights for one pass over the training split, every
//! mini-batch on a child sampled from the controller; then the controller takes
//! `controller_steps` REINFORCE steps, each child rewarded with its accuracy on a validation
//! mini-batch with the shared weights, minus an exponential moving-average baseline. At the end
//! `final_samples` children are drawn and the one with the best validation accuracy (shared
//! weights) is returned, to be retrained from scratch.
//!
//! The controller is [`tuneforge::nas::controller::Controller`], the same LSTM the RL sampler
//! of architecture studies uses.
//!
//! # References
//! - H. Pham, M. Guan, B. Zoph, Q. Le, J. Dean, "Efficient Neural Architecture Search via
//!   Parameter Sharing", ICML 2018.
//! - R. J. Williams, "Simple Statistical Gradient-Following Algorithms for Connectionist
//!   Reinforcement Learning", Machine Learning 1992 (REINFORCE).

use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tuneforge::nas::controller::Controller;
use tuneforge::nas::{ArchitectureSpace, CellSpace};

use crate::data::ImageSet;
use crate::error::Result;
use crate::supernet::{CellNet, EdgeMode, NetConfig};
use crate::train::{Steps, TrainConfig, accuracy_batch_stats, train_device};

/// Settings of an ENAS search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnasConfig {
    /// Recipe of the shared weights (epochs, batch, learning rate, seed).
    pub train: TrainConfig,
    /// Controller steps per epoch. Default 30.
    pub controller_steps: usize,
    /// Hidden units of the controller. Default 32.
    pub hidden: usize,
    /// Decay of the reward baseline. Default 0.9.
    pub baseline_decay: f64,
    /// Validation images per controller reward. Default 128.
    pub reward_images: usize,
    /// Children drawn at the end. Default 16.
    pub final_samples: usize,
}

impl Default for EnasConfig {
    fn default() -> Self {
        EnasConfig {
            train: TrainConfig::default(),
            controller_steps: 30,
            hidden: 32,
            baseline_decay: 0.9,
            reward_images: 128,
            final_samples: 16,
        }
    }
}

/// The result of an ENAS search.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EnasOutcome {
    /// The chosen cell.
    pub arch: Vec<usize>,
    /// Mean controller reward per epoch.
    pub epoch_reward: Vec<f64>,
    /// The final children and their validation accuracy with shared weights.
    pub finalists: Vec<(Vec<usize>, f64)>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Runs ENAS over `space`. `on_epoch(epoch, loss, mean reward)` sees each epoch.
pub fn search(
    space: &CellSpace,
    net_config: &NetConfig,
    train: &ImageSet,
    valid: &ImageSet,
    config: &EnasConfig,
    mut on_epoch: impl FnMut(usize, f64, f64),
) -> Result<EnasOutcome> {
    config.train.validate()?;
    let start = Instant::now();
    let device = train_device();
    device.seed(config.train.seed);
    let mut rng = ChaCha8Rng::seed_from_u64(config.train.seed);
    let sizes: Vec<usize> = space.decisions().iter().map(|d| d.choices.len()).collect();
    let mut controller = Controller::new(&sizes, config.hidden, &mut rng);
    let mut net = CellNet::supernet(space, net_config, &device)?;
    let tc = &config.train;
    let mut steps = Steps::new(tc, train.len());
    let mut baseline: Option<f64> = None;
    let mut epoch_reward = Vec::new();
    let reward_batch = |rng: &mut ChaCha8Rng| {
        let mut idx: Vec<usize> = (0..valid.len()).collect();
        idx.shuffle(rng);
        idx.truncate(config.reward_images.max(1));
        valid.subset(&idx)
    };
    for epoch in 0..tc.epochs {
        let (trained, loss) = steps.epoch(
            net,
            train,
            &device,
            &mut rng,
            "the shared-weight loss",
            |n, x, rng| n.forward(x, &EdgeMode::Path(controller.sample(rng))),
        )?;
        net = trained;
        let mut reward_sum = 0.0;
        for _ in 0..config.controller_steps {
            let child = controller.sample(&mut rng);
            let batch = reward_batch(&mut rng);
            let reward = accuracy_batch_stats(&net, &batch, &EdgeMode::Path(child.clone()), 256);
            let b = baseline.unwrap_or(reward);
            controller.update(&child, reward - b);
            baseline = Some(config.baseline_decay * b + (1.0 - config.baseline_decay) * reward);
            reward_sum += reward;
        }
        let mean_reward = reward_sum / config.controller_steps.max(1) as f64;
        epoch_reward.push(mean_reward);
        on_epoch(epoch, loss, mean_reward);
    }
    let mut finalists: Vec<(Vec<usize>, f64)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..config.final_samples.max(1) * 4 {
        if finalists.len() >= config.final_samples.max(1) {
            break;
        }
        let child = controller.sample(&mut rng);
        if !seen.insert(space.identity(&child)) {
            continue;
        }
        let acc = accuracy_batch_stats(&net, valid, &EdgeMode::Path(child.clone()), 256);
        finalists.push((child, acc));
    }
    let arch = finalists
        .iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(a, _)| a.clone())
        .unwrap_or_else(|| controller.sample(&mut rng));
    Ok(EnasOutcome {
        arch,
        epoch_reward,
        finalists,
        seconds: start.elapsed().as_secs_f64(),
    })
}
