//! What goes wrong making a container.

use crate::kind::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// The request cannot make a container (no command, a bad value).
    #[error("{0}")]
    InvalidRequest(String),
    /// A bind mount outside the machine's shares.
    #[error("{0}")]
    MountsDenied(String),
    #[error("building the runtime spec")]
    Spec(#[from] oci_spec::OciSpecError),
}

impl ContainerError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ContainerError::InvalidRequest(_) | ContainerError::MountsDenied(_) => {
                ErrorKind::InvalidInput
            }
            ContainerError::Spec(_) => ErrorKind::Internal,
        }
    }
}
