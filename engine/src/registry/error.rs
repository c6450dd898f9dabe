//! What goes wrong reaching a registry or keeping its credentials.

use super::failure::{Failure, RegistryFailure};
use crate::home::HomeError;
use crate::kind::ErrorKind;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A registry failed; the message says what it means and what to do.
    #[error("{message}")]
    Failed {
        message: String,
        source: RegistryFailure,
    },
    #[error("{} is not a JSON object; fix or remove it", .path.display())]
    BadConfig { path: PathBuf },
    #[error("{what}")]
    Config {
        what: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Home(#[from] HomeError),
    /// A login that cannot be tried: no registry, an empty name...
    #[error("{0}")]
    Invalid(String),
}

impl RegistryError {
    /// The same failure, its message led by `context`.
    pub fn prefixed(self, context: &str) -> RegistryError {
        match self {
            RegistryError::Failed { message, source } => RegistryError::Failed {
                message: format!("{context}: {message}"),
                source,
            },
            other => other,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            RegistryError::Failed { source, .. } => match source.failure {
                Failure::NotFound => ErrorKind::NotFound,
                Failure::Denied => ErrorKind::Denied,
                Failure::Unreachable | Failure::Untrusted | Failure::ServerError(_) => {
                    ErrorKind::Unavailable
                }
                Failure::BadContent => ErrorKind::InvalidInput,
                Failure::Other => ErrorKind::Internal,
            },
            RegistryError::BadConfig { .. } | RegistryError::Invalid(_) => ErrorKind::InvalidInput,
            RegistryError::Config { .. } => ErrorKind::Internal,
            RegistryError::Home(e) => e.kind(),
        }
    }
}
