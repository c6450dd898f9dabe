//! File descriptors: pipes and copies placed out of the way.

use super::process::last_error;
use protocol::AgentError;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// A close-on-exec pipe: (read end, write end).
pub fn pipe() -> Result<(OwnedFd, OwnedFd), AgentError> {
    let mut fds = [0; 2];
    // SAFETY: pipe2(2) fills two fds into a valid array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(last_error("pipe"));
    }
    // SAFETY: both fds are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A close-on-exec copy numbered above the fds the child is given, so the
/// child's dup2 calls never overwrite a source they still need.
pub fn high_copy(fd: RawFd) -> Result<OwnedFd, AgentError> {
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd returns a new fd or -1.
    let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 16) };
    if copy < 0 {
        return Err(last_error("dup"));
    }
    // SAFETY: `copy` is a fresh fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}
