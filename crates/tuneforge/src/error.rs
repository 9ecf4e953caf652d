//! The engine's error type: every failure names the thing at fault in one sentence.

use std::path::PathBuf;

/// Result alias used throughout tuneforge.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A distribution, parameter value or option is out of its valid range.
    #[error("{0}")]
    InvalidArgument(String),
    /// A study file could not be read or understood.
    #[error("{path}: {message}")]
    StudyFile {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong, with the line where known.
        message: String,
    },
    /// No study of that name exists in the storage.
    #[error("no study named '{0}' in this storage")]
    StudyNotFound(String),
    /// A study of that name already exists.
    #[error("a study named '{0}' already exists in this storage")]
    StudyExists(String),
    /// The trial does not exist.
    #[error("no trial {0} in this study")]
    TrialNotFound(String),
    /// The trial has finished; finished trials are read-only.
    #[error("trial {0} has already finished and cannot be changed")]
    TrialFinished(u64),
    /// A parameter was suggested twice in one trial with different distributions.
    #[error(
        "parameter '{name}' was already suggested in this trial with a different distribution ({previous} vs {requested})"
    )]
    ParamConflict {
        /// Parameter name.
        name: String,
        /// The distribution recorded first.
        previous: String,
        /// The distribution asked for now.
        requested: String,
    },
    /// The sampler has no more points to propose (e.g. grid search visited every point).
    #[error("the search space is exhausted: every point has been claimed")]
    Exhausted,
    /// The objective asked for its trial to be pruned.
    #[error("trial pruned")]
    Pruned,
    /// The storage backend failed.
    #[error("storage error: {0}")]
    Storage(String),
    /// An I/O failure with the path involved.
    #[error("{path}: {source}")]
    Io {
        /// The path being read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidArgument(msg.into())
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Storage(e.to_string())
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Storage(format!("corrupt JSON in storage: {e}"))
    }
}
