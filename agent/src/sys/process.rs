//! System-call failures as the agent reports them, and the one way it
//! signals a process it started.

use protocol::{AgentError, ErrorKind};

/// The last system call's failure, as `what: reason`.
pub fn last_error(what: &str) -> AgentError {
    AgentError::new(
        ErrorKind::Internal,
        format!("{what}: {}", std::io::Error::last_os_error()),
    )
}

/// Sends `signal` to `pid`. The caller vouches that `pid` is still the
/// process it means (a child not yet reaped).
pub fn send_signal(pid: i32, signal: i32) -> Result<(), AgentError> {
    // SAFETY: kill(2) with plain integers; which process it reaches is the
    // caller's guarantee above.
    if unsafe { libc::kill(pid, signal) } < 0 {
        return Err(AgentError::new(
            ErrorKind::BadRequest,
            format!("signal {signal}: {}", std::io::Error::last_os_error()),
        ));
    }
    Ok(())
}
