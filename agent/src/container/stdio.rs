//! A container process's stdio, from the client's streams (any of which
//! may be absent): a terminal when asked for one, pipes into the log for
//! the first process (so `logs` works with or without a client), the
//! streams themselves for an exec.

use super::log::{relay, Log};
use super::spawn;
use crate::pty::{self, Pty};
use crate::sys::fd::pipe;
use crate::sys::vsock::VsockStream;
use protocol::{AgentError, ErrorKind, StdioStream};
use std::os::fd::OwnedFd;

pub struct Streams {
    pub stdin: Option<VsockStream>,
    pub stdout: Option<VsockStream>,
    pub stderr: Option<VsockStream>,
}

fn dup(fd: &OwnedFd) -> Result<OwnedFd, AgentError> {
    fd.try_clone()
        .map_err(|e| AgentError::new(ErrorKind::Internal, format!("dup: {e}")))
}

fn dev_null() -> Result<OwnedFd, AgentError> {
    std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| AgentError::new(ErrorKind::Internal, format!("opening /dev/null: {e}")))
}

/// The process's side of its stdio, and the terminal's controller (kept
/// for resizing) when it has one. With a terminal, all output is on the
/// stdout stream, as with docker; the stderr stream just closes.
pub fn connect(
    streams: Streams,
    tty: bool,
    log: Option<&Log>,
) -> Result<(spawn::Stdio, Option<OwnedFd>), AgentError> {
    if tty {
        let Pty {
            controller,
            replica,
        } = Pty::open()?;
        if let Some(stdin) = streams.stdin {
            pty::feed(dup(&controller)?, stdin);
        }
        output(dup(&controller)?, StdioStream::Stdout, streams.stdout, log);
        let stdio = spawn::Stdio {
            stdin: dup(&replica)?,
            stdout: dup(&replica)?,
            stderr: replica,
        };
        return Ok((stdio, Some(controller)));
    }
    let stdin = match streams.stdin {
        Some(s) => s.into_owned_fd(),
        None => dev_null()?,
    };
    let writer = |stream: StdioStream, client: Option<VsockStream>| match (log, client) {
        (Some(_), client) => {
            let (read, write) = pipe()?;
            output(read, stream, client, log);
            Ok(write)
        }
        // No log: the stream itself is the fd, no copying.
        (None, Some(client)) => Ok(client.into_owned_fd()),
        (None, None) => dev_null(),
    };
    let stdio = spawn::Stdio {
        stdin,
        stdout: writer(StdioStream::Stdout, streams.stdout)?,
        stderr: writer(StdioStream::Stderr, streams.stderr)?,
    };
    Ok((stdio, None))
}

fn output(from: OwnedFd, stream: StdioStream, client: Option<VsockStream>, log: Option<&Log>) {
    match log {
        Some(log) => log.copy(from, stream, client),
        None => relay(from, client, |_| {}),
    }
}
