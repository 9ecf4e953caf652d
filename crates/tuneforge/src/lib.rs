//! tuneforge finds good hyperparameters: define a search space by running code (or declare it in
//! a study file), and a [`Study`] proposes configurations, records every trial in a [`storage`]
//! that many workers can share, and returns the best.
//!
//! # Overview
//! - [`Study`]: create or load with [`Study::builder`]; run [`Study::optimize`], or drive it one
//!   trial at a time with [`Study::ask`] / [`Study::tell`]; [`Study::enqueue`] a baseline to run
//!   first; read [`Study::best_trial`] or the Pareto set [`Study::best_trials`].
//! - [`Trial`]: `suggest_float`, `suggest_int`, `suggest_categorical`; `report` several named
//!   metrics per step; `should_prune`; user attributes.
//! - [`Distribution`] and [`ParamValue`]: the one place values are converted.
//! - [`sampler`]: [`RandomSampler`], [`SobolSampler`], [`GridSampler`].
//! - [`storage`]: [`storage::MemoryStorage`], [`storage::SqliteStorage`]; open by URL with
//!   [`storage::open`].
//! - [`studyfile`] and [`runner`]: declarative studies whose trials are external commands.
//!
//! # Example
//! ```
//! use tuneforge::{Direction, Study, SobolSampler, Optimize};
//!
//! let study = Study::builder("quadratic")
//!     .direction(Direction::Minimize)
//!     .sampler(SobolSampler::new(42))
//!     .build()?;
//! study.optimize(|trial| -> tuneforge::Result<f64> {
//!     let x = trial.suggest_float("x", -10.0, 10.0).get()?;
//!     let kind = trial.suggest_categorical("kind", &["linear", "square"])?;
//!     // A conditional parameter: only square trials have `scale`.
//!     let y = if kind == "square" {
//!         let scale = trial.suggest_float("scale", 1e-3, 1.0).log().get()?;
//!         scale * x * x
//!     } else {
//!         x.abs() + 1.0
//!     };
//!     Ok(y)
//! }, Optimize::trials(64))?;
//! let best = study.best_trial()?.expect("some trial completed");
//! assert!(best.value().unwrap() < 1.0);
//! # Ok::<(), tuneforge::Error>(())
//! ```
#![deny(missing_docs)]

pub mod attrs;
pub mod distribution;
pub mod env;
pub mod error;
pub mod importance;
pub mod liveness;
pub mod nas;
pub mod pareto;
pub mod pruner;
pub mod record;
pub mod runner;
pub mod sampler;
pub mod seed;
pub mod space;
pub mod storage;
pub mod study;
pub mod studyfile;
pub mod testing;
pub mod trial;

pub use distribution::{Distribution, ParamValue};
pub use error::{Error, Result};
pub use record::{Direction, FrozenTrial, Metrics, StudyRecord, TrialState};
pub use sampler::{GridSampler, RandomSampler, Sampler, SobolSampler, StudyView};
pub use study::{Optimize, Outcome, Study};
pub use trial::Trial;
