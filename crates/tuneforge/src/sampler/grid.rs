//! Grid search: every point of a finite grid evaluated exactly once, also across many workers,
//! after which the study stops.
//!
//! Each point is claimed through the storage's exactly-once claim before its trial exists, so
//! two workers can never evaluate the same point. Points are visited in a seeded random order
//! (so a study stopped early has spread its budget over the grid).
//!
//! ```
//! use tuneforge::{Study, GridSampler, ParamValue};
//! use indexmap::IndexMap;
//! let mut grid = IndexMap::new();
//! grid.insert("x".to_string(), vec![ParamValue::Int(1), ParamValue::Int(2), ParamValue::Int(3)]);
//! let study = Study::builder("doc-grid").sampler(GridSampler::new(grid, 0).unwrap()).build().unwrap();
//! study.optimize(|t| -> tuneforge::Result<f64> {
//!     Ok(t.suggest_int("x", 1, 3).get()? as f64)
//! }, tuneforge::Optimize::trials(10)).unwrap();
//! assert_eq!(study.trials().unwrap().len(), 3); // stopped when exhausted
//! ```

use indexmap::IndexMap;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;

use super::{Reservation, Sampler, StudyView};
use crate::attrs;
use crate::distribution::{Distribution, ParamValue};
use crate::error::{Error, Result};
use crate::record::FrozenTrial;

/// Exhaustive search over a finite set of points.
#[derive(Clone, Debug)]
pub struct GridSampler {
    points: Vec<IndexMap<String, ParamValue>>,
    order: Vec<usize>,
}

/// Largest grid accepted (a larger one is almost certainly a mistake in the space).
pub const MAX_POINTS: usize = 10_000_000;

impl GridSampler {
    /// The full product of the values given per parameter, visited in an order shuffled by `seed`.
    pub fn new(values: IndexMap<String, Vec<ParamValue>>, seed: u64) -> Result<Self> {
        let mut points = vec![IndexMap::new()];
        for (name, vals) in &values {
            if vals.is_empty() {
                return Err(Error::invalid(format!(
                    "grid parameter '{name}' has no values"
                )));
            }
            if points.len().saturating_mul(vals.len()) > MAX_POINTS {
                return Err(Error::invalid(format!(
                    "the grid has more than {MAX_POINTS} points"
                )));
            }
            points = points
                .into_iter()
                .flat_map(|p| {
                    vals.iter().map(move |v| {
                        let mut q = p.clone();
                        q.insert(name.clone(), v.clone());
                        q
                    })
                })
                .collect();
        }
        Self::from_points(points, seed)
    }

    /// A grid of explicit points (e.g. the valid combinations of a conditional space).
    pub fn from_points(points: Vec<IndexMap<String, ParamValue>>, seed: u64) -> Result<Self> {
        if points.is_empty() {
            return Err(Error::invalid("the grid has no points"));
        }
        let mut order: Vec<usize> = (0..points.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        Ok(GridSampler { points, order })
    }

    /// Number of grid points.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// True when the grid has no points (never, once built).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The claim key of point `i`.
    pub fn key(i: usize) -> String {
        format!("grid:{i}")
    }
}

impl Sampler for GridSampler {
    fn reserve(&self, study: &StudyView) -> Result<Reservation> {
        let taken: HashSet<&str> = study
            .trials
            .iter()
            .filter_map(|t| t.system_attrs.get(attrs::CLAIM).and_then(|v| v.as_str()))
            .collect();
        for &i in &self.order {
            let key = Self::key(i);
            if !taken.contains(key.as_str()) {
                return Ok(Reservation::Claim {
                    key,
                    params: self.points[i].clone(),
                    attrs: Default::default(),
                });
            }
        }
        Ok(Reservation::Exhausted)
    }

    fn sample_independent(
        &self,
        _study: &StudyView,
        trial: &FrozenTrial,
        name: &str,
        dist: &Distribution,
    ) -> Result<f64> {
        // Parameters of the claimed point are fixed on the trial and never reach the sampler.
        // A parameter outside the grid can only take a single-valued distribution.
        if dist.is_single() {
            return dist.to_internal(&dist.from_unit(0.5));
        }
        Err(Error::invalid(format!(
            "grid search: parameter '{name}' of trial {} is not in the grid",
            trial.number
        )))
    }

    fn name(&self) -> &'static str {
        "grid"
    }
}
