//! Architecture search that trains real networks, on the CPU, with burn: image dataset readers,
//! cell networks and weight-sharing supernets over [`tuneforge::nas::CellSpace`], and the training
//! recipe every search method shares.
//!
//! Overview: [`data`] reads MNIST, Fashion-MNIST and digits into fixed splits; [`ops`] are the
//! candidate operations; [`supernet::CellNet`] is a supernet or a stand-alone network, driven by
//! an [`supernet::EdgeMode`]; [`train`] trains and evaluates.
#![deny(missing_docs)]

pub mod cpubatchnorm;
pub mod cpuconv;
pub mod darts;
pub mod data;
pub mod enas;
pub mod error;
pub mod export;
pub mod latency;
pub mod ops;
pub mod pipeline;
pub mod scaling;
pub mod spos;
pub mod supernet;
pub mod train;

pub use error::{Error, Result};

/// Serialises this crate's unit tests: burn's CPU device draws every random tensor from one
/// process-wide generator, so tests that seed it and draw from it in parallel threads would see
/// each other's draws (a finite-difference check then failed now and then on other weights).
#[cfg(test)]
pub(crate) fn test_serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}
