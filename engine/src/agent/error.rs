//! What goes wrong talking to an agent.

use crate::kind::ErrorKind;
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot reach the machine's vsock socket {}", .path.display())]
    Unreachable { path: PathBuf, source: io::Error },
    #[error("the guest refused vsock port {port} (is the agent running?)")]
    PortRefused { port: u32 },
    #[error("vsock connect to port {port} failed: {reply}")]
    ConnectFailed { port: u32, reply: String },
    #[error("{what}")]
    Io { what: String, source: io::Error },
    #[error("{what}")]
    Frame {
        what: String,
        source: protocol::FrameError,
    },
    #[error("the agent closed the connection")]
    Closed,
    /// The agent answered with an error.
    #[error("{}", .0.message)]
    Refused(protocol::AgentError),
    #[error("unexpected reply from the agent to {request}: {reply}")]
    UnexpectedReply {
        request: &'static str,
        reply: String,
    },
}

impl AgentError {
    pub fn kind(&self) -> ErrorKind {
        use protocol::ErrorKind as Agent;
        match self {
            AgentError::Refused(e) => match e.kind {
                Agent::NotFound => ErrorKind::CommandNotFound,
                Agent::NotExecutable => ErrorKind::CommandNotExecutable,
                Agent::NoSuchContainer
                | Agent::NoSuchNetwork
                | Agent::NoSuchVolume
                | Agent::NoSuchPath => ErrorKind::NotFound,
                Agent::Conflict => ErrorKind::Conflict,
                Agent::BadRequest | Agent::InvalidLayer => ErrorKind::InvalidInput,
                Agent::VersionMismatch
                | Agent::UnknownExec
                | Agent::DiskFull
                | Agent::Storage
                | Agent::Internal => ErrorKind::Internal,
            },
            AgentError::UnexpectedReply { .. } => ErrorKind::Internal,
            _ => ErrorKind::Unavailable,
        }
    }

    /// The agent's own error, when it answered with one.
    pub fn refusal(&self) -> Option<&protocol::AgentError> {
        match self {
            AgentError::Refused(e) => Some(e),
            _ => None,
        }
    }
}
