//! Random search: every parameter drawn independently and uniformly (log-uniformly for log
//! ranges).
//!
//! # References
//! - J. Bergstra and Y. Bengio, "Random Search for Hyper-Parameter Optimization", JMLR 13, 2012:
//!   random search matches or beats grid search at equal budget because few parameters matter.
//!
//! ```
//! use tuneforge::{Study, RandomSampler};
//! let study = Study::builder("doc-random").sampler(RandomSampler::new(7)).build().unwrap();
//! study.optimize(|t| -> tuneforge::Result<f64> {
//!     let x = t.suggest_float("x", -3.0, 3.0).get()?;
//!     Ok(x * x)
//! }, tuneforge::Optimize::trials(30)).unwrap();
//! assert!(study.best_value().unwrap().unwrap() < 1.0);
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Sampler, StudyView};
use crate::distribution::Distribution;
use crate::error::Result;
use crate::record::FrozenTrial;
use crate::seed::{mix, name_hash};

/// Uniform random sampling, seeded.
#[derive(Clone, Debug)]
pub struct RandomSampler {
    seed: u64,
}

impl RandomSampler {
    /// A random sampler with this seed.
    pub fn new(seed: u64) -> Self {
        RandomSampler { seed }
    }

    /// The uniform draw in `[0, 1)` used for parameter `name` of trial `number`: it depends on
    /// nothing else, so the order in which parameters are suggested does not matter.
    pub fn unit(&self, number: u64, name: &str) -> f64 {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(mix(self.seed, number), name_hash(name)));
        rng.random::<f64>()
    }
}

impl Sampler for RandomSampler {
    fn sample_independent(
        &self,
        _study: &StudyView,
        trial: &FrozenTrial,
        name: &str,
        dist: &Distribution,
    ) -> Result<f64> {
        dist.to_internal(&dist.from_unit(self.unit(trial.number, name)))
    }

    fn name(&self) -> &'static str {
        "random"
    }
}
