//! Architecture search that trains real networks, on the CPU, with burn: image dataset readers,
//! cell networks and weight-sharing supernets over [`tuneforge::nas::CellSpace`], and the training
//! recipe every search method shares.
//!
//! Overview: [`data`] reads MNIST, Fashion-MNIST and digits into fixed splits; [`ops`] are the
//! candidate operations; [`supernet::CellNet`] is a supernet or a stand-alone network, driven by
//! an [`supernet::EdgeMode`]; [`train`] trains and evaluates.
#![deny(missing_docs)]

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
