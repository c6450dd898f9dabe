//! An exec's stdio, from the client's streams (any of which may be
//! absent): a terminal when asked for one, else the streams themselves.
//! (A container's first process has a console: see console.rs.)

use super::log::drain;
use super::spawn;
use crate::pty::{self, Pty};
use crate::sys::vsock::VsockStream;
use protocol::{AgentError, ErrorKind};
use std::io::Write;
use std::os::fd::OwnedFd;

pub struct Streams {
    pub stdin: Option<VsockStream>,
    pub stdout: Option<VsockStream>,
    pub stderr: Option<VsockStream>,
}

pub(super) fn dup(fd: &OwnedFd) -> Result<OwnedFd, AgentError> {
    fd.try_clone()
        .map_err(|e| AgentError::new(ErrorKind::Internal, format!("dup: {e}")))
}

pub(super) fn dev_null() -> Result<OwnedFd, AgentError> {
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
pub fn connect(streams: Streams, tty: bool) -> Result<(spawn::Stdio, Option<OwnedFd>), AgentError> {
    if tty {
        let Pty {
            controller,
            replica,
        } = Pty::open()?;
        if let Some(stdin) = streams.stdin {
            pty::feed(dup(&controller)?, stdin);
        }
        if let Some(mut client) = streams.stdout {
            let from = dup(&controller)?;
            std::thread::spawn(move || {
                let mut gone = false;
                drain(from, |bytes| {
                    // The client went away; the process goes on.
                    gone = gone || client.write_all(bytes).is_err();
                });
            });
        }
        let stdio = spawn::Stdio {
            stdin: dup(&replica)?,
            stdout: dup(&replica)?,
            stderr: replica,
        };
        return Ok((stdio, Some(controller)));
    }
    // The streams themselves are the fds: no copying, and EOF reaches the
    // client when the process tree closes them.
    let fd = |s: Option<VsockStream>| s.map_or_else(dev_null, |v| Ok(v.into_owned_fd()));
    let stdio = spawn::Stdio {
        stdin: fd(streams.stdin)?,
        stdout: fd(streams.stdout)?,
        stderr: fd(streams.stderr)?,
    };
    Ok((stdio, None))
}
