//! The error type of architecture search with training: every failure names what is at fault.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong when reading data, building networks or searching.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A dataset file is missing, truncated or malformed.
    #[error("{path}: {message}")]
    Data {
        /// The file (or folder) at fault.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// An option, operation name or architecture is not valid.
    #[error("{0}")]
    Config(String),
    /// Training diverged or produced no usable number.
    #[error("training failed: {0}")]
    Training(String),
    /// Writing a result (weights, JSON, source) failed.
    #[error("{path}: {message}")]
    Io {
        /// The file being written.
        path: String,
        /// The cause.
        message: String,
    },
    /// The engine refused (a space, a study, the storage).
    #[error(transparent)]
    Engine(#[from] tuneforge::Error),
}
