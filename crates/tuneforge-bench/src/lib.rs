//! Benchmarks for tuneforge: problems with known optima (classic test functions, a mixed and a
//! conditional space, tabular HPO data), a harness that runs samplers over seeds and budgets,
//! and the report that writes `docs/BENCHMARKS.md`. The same problems are implemented for the
//! Python peers in `bench/peers/problems.py`, so every number in a table comes from one run of
//! one command.
#![deny(missing_docs)]

pub mod dashboard;
pub mod fcnet_width;
pub mod harness;
pub mod importance;
#[cfg(feature = "lcbench")]
pub mod lcbench;
pub mod mftrain;
pub mod multifidelity;
pub mod multiobjective;
pub mod nasbench;
pub mod nastrain;
pub mod problems;
pub mod rank_test;
pub mod report;
pub mod tabular;
pub mod throughput;
