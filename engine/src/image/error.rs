//! What goes wrong finding, reading or taking in an image.

use super::reference::ReferenceError;
use super::store::StoreError;
use crate::kind::ErrorKind;
use std::io;

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("no such image: {0} (see 'hutch images')")]
    NoSuchImage(String),
    #[error("image id {0} is ambiguous; give more digits")]
    AmbiguousId(String),
    #[error("this needs an image name, not an id: {0}")]
    NameNeeded(String),
    #[error("{what} is not valid")]
    Malformed {
        what: String,
        source: serde_json::Error,
    },
    /// Not a container image hutch can run (an artifact, an unknown layer type).
    #[error("{0}")]
    NotRunnable(String),
    #[error("the image has no {os}/{architecture} variant")]
    NoPlatform {
        os: &'static str,
        architecture: &'static str,
    },
    /// A damaged or unsafe archive, or an image whose parts disagree.
    #[error("{0}")]
    Invalid(String),
    #[error("{what}")]
    Io { what: String, source: io::Error },
}

impl ImageError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ImageError::Store(e) => e.kind(),
            ImageError::NoSuchImage(_) | ImageError::NoPlatform { .. } => ErrorKind::NotFound,
            ImageError::Io { .. } => ErrorKind::Internal,
            _ => ErrorKind::InvalidInput,
        }
    }

    /// An I/O failure while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> ImageError {
        let what = what.into();
        move |source| ImageError::Io { what, source }
    }
}
