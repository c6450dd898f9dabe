//! What goes wrong starting, reaching or stopping a machine.

use crate::agent::AgentError;
use crate::home::HomeError;
use crate::kind::ErrorKind;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("{}", not_running_message(.name, .why.as_deref(), .console))]
    NotRunning {
        name: String,
        /// Why it last stopped, when that was not a clean stop.
        why: Option<String>,
        console: PathBuf,
    },
    #[error("machine '{0}' is already running")]
    AlreadyRunning(String),
    #[error("guest file {} is missing; build it with ./install.sh, or point HUTCH_GUEST_DIR at a directory holding vmlinux and initramfs.cpio.gz", .0.display())]
    GuestFileMissing(PathBuf),
    #[error("{0} not found; install it (Debian/Ubuntu: apt-get install qemu-system-x86)")]
    QemuMissing(&'static str),
    #[error("machine '{name}' failed to start: {reason}\n{console}")]
    FailedToStart {
        name: String,
        reason: String,
        console: String,
    },
    #[error("machine '{name}' did not become ready in {seconds}s; console:\n{console}")]
    NotReady {
        name: String,
        seconds: u64,
        console: String,
    },
    #[error("machine '{name}' did not stop; see {}", .log.display())]
    DidNotStop { name: String, log: PathBuf },
    #[error("contacting the agent of machine '{name}'")]
    Agent { name: String, source: AgentError },
    #[error("socket path {} is too long for a Unix socket; use a shorter HUTCH_HOME", .0.display())]
    SocketPathTooLong(PathBuf),
    #[error("the {what} device: {message}")]
    Device { what: &'static str, message: String },
    #[error(transparent)]
    Vmm(#[from] vmm::runner::VmmError),
    #[error("the machine's monitor: {0}")]
    Control(String),
    #[error("{0}")]
    PortUnavailable(String),
    #[error("cannot share {} with the machine: {why}", .dir.display())]
    BadShare { dir: PathBuf, why: String },
    #[error("{what}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// ` --name NAME` for commands naming a machine other than the default.
pub(crate) fn name_flag(name: &str) -> String {
    if name == "default" {
        String::new()
    } else {
        format!(" --name {name}")
    }
}

fn not_running_message(name: &str, why: Option<&str>, console: &std::path::Path) -> String {
    let start = format!("start it with 'hutch machine start{}'", name_flag(name));
    match why {
        Some(why) => format!(
            "machine '{name}' is not running ({why}; console log: {}); {start}",
            console.display()
        ),
        None => format!("machine '{name}' is not running; {start}"),
    }
}

impl MachineError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            MachineError::Home(e) => e.kind(),
            MachineError::NotRunning { .. } => ErrorKind::MachineNotRunning,
            MachineError::AlreadyRunning(_) | MachineError::PortUnavailable(_) => {
                ErrorKind::Conflict
            }
            MachineError::GuestFileMissing(_) => ErrorKind::NotFound,
            MachineError::QemuMissing(_) | MachineError::Vmm(_) | MachineError::Agent { .. } => {
                ErrorKind::Unavailable
            }
            MachineError::SocketPathTooLong(_) | MachineError::BadShare { .. } => {
                ErrorKind::InvalidInput
            }
            _ => ErrorKind::Internal,
        }
    }

    /// An I/O failure while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> MachineError {
        let what = what.into();
        move |source| MachineError::Io { what, source }
    }
}
