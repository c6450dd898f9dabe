//! What goes wrong making a container.

use crate::kind::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// The request cannot make a container (no command, a bad value).
    #[error("{0}")]
    InvalidRequest(String),
    #[error("building the runtime spec")]
    Spec(#[from] oci_spec::OciSpecError),
}

impl ContainerError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ContainerError::InvalidRequest(_) => ErrorKind::InvalidInput,
            ContainerError::Spec(_) => ErrorKind::Internal,
        }
    }
}
