//! Architecture search that trains real networks, on the CPU, with burn: image dataset readers,
//! networks and weight-sharing supernets over [`tuneforge::nas::CellSpace`] and
//! [`tuneforge::nas::ChainSpace`], and the training recipe every search method shares.
//!
//! Overview: [`data`] reads MNIST, Fashion-MNIST and digits into fixed splits; [`ops`] are the
//! candidate operations; [`supernet::CellNet`] and [`chainnet::ChainNet`] are supernets or
//! stand-alone networks, driven by an [`supernet::EdgeMode`]; [`train`] trains and evaluates;
//! [`cpuconv`] and [`cpubatchnorm`] are the training-speed convolution and batch norm that
//! replace burn's generic ones on its CPU backend.
#![deny(missing_docs)]

pub mod chainnet;
pub mod chainsearch;
pub mod cpubatchnorm;
pub mod cpuconv;
pub mod cpupool;
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

/// Three classes of 8x8 images told apart by which third is bright (for tests).
#[cfg(test)]
pub(crate) fn test_blobs(n: usize) -> data::ImageSet {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let label = i % 3;
        for p in 0..64 {
            let bright = (p / 8) * 3 / 8 == label;
            pixels.push(if bright { 1.0 } else { -0.5 } + ((i * 31 + p * 7) % 11) as f32 * 0.02);
        }
        labels.push(label as u8);
    }
    data::ImageSet {
        pixels,
        labels,
        channels: 1,
        height: 8,
        width: 8,
        classes: 3,
    }
}

/// Asserts that `a` and `b` agree to 1e-4 relative (to 1 + |b|) in every entry (for tests).
#[cfg(test)]
pub(crate) fn assert_close(a: &[f32], b: &[f32], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let worst = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "{what}: largest relative difference {worst}");
}
