//! [`Error`] gathers every module's error, keeping each as its source,
//! for operations that span modules (a `run` touches the store, a
//! registry, a machine and its agent).

pub use crate::kind::ErrorKind;

/// An engine error of any module.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Home(#[from] crate::home::HomeError),
    #[error(transparent)]
    Store(#[from] crate::image::store::StoreError),
    #[error(transparent)]
    Image(#[from] crate::image::error::ImageError),
    #[error(transparent)]
    Registry(#[from] crate::registry::error::RegistryError),
    #[error(transparent)]
    Agent(#[from] crate::agent::error::AgentError),
    #[error(transparent)]
    Machine(#[from] crate::machine::error::MachineError),
    #[error(transparent)]
    Container(#[from] crate::container::error::ContainerError),
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Home(e) => e.kind(),
            Error::Store(e) => e.kind(),
            Error::Image(e) => e.kind(),
            Error::Registry(e) => e.kind(),
            Error::Agent(e) => e.kind(),
            Error::Machine(e) => e.kind(),
            Error::Container(e) => e.kind(),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
