//! Message types. Requests and responses travel in an [`Envelope`] whose id
//! ties a response to its request.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub id: u64,
    pub body: T,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Must be the first request on a connection.
    Hello {
        version: u32,
    },
    Ping,
    Info,
    /// Prepares a process; it starts on [`Request::Start`], once its stdio
    /// streams have attached.
    Exec(ExecSpec),
    Start {
        exec_id: u64,
    },
    /// Answered when the process has exited.
    Wait {
        exec_id: u64,
    },
    Signal {
        exec_id: u64,
        signal: i32,
    },
    /// Syncs filesystems and powers the machine off after replying.
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecSpec {
    pub args: Vec<String>,
    /// `KEY=value` entries added to the agent's default environment.
    pub env: Vec<String>,
    pub cwd: Option<String>,
    /// Whether a stdin stream will attach; without one the process reads /dev/null.
    pub stdin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Hello { version: u32, agent: String },
    Pong,
    Info(GuestInfo),
    ExecCreated { exec_id: u64 },
    Started { pid: u32 },
    Exited(ExitStatus),
    Done,
    Error(AgentError),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestInfo {
    pub kernel: String,
    pub hostname: String,
    pub uptime_ms: u64,
    pub cpus: u32,
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    /// The shell convention, which docker follows: 128+N for signal N.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => 128 + s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentError {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The command does not exist (docker's exit status 127).
    NotFound,
    /// The command exists but cannot be run (docker's exit status 126).
    NotExecutable,
    VersionMismatch,
    BadRequest,
    UnknownExec,
    Internal,
}

/// First frame on a [`crate::STREAM_PORT`] connection; raw bytes follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamAttach {
    pub exec_id: u64,
    pub stream: StdioStream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StdioStream {
    Stdin,
    Stdout,
    Stderr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_exit_maps_to_128_plus_n() {
        assert_eq!(ExitStatus::Signal(9).shell_code(), 137);
        assert_eq!(ExitStatus::Code(42).shell_code(), 42);
    }

    #[test]
    fn unknown_request_kind_is_an_error_not_a_panic() {
        let r: Result<Envelope<Request>, _> =
            serde_json::from_str(r#"{"id":1,"body":"format_disk"}"#);
        assert!(r.is_err());
    }
}
