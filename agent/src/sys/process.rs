//! System-call failures as the agent reports them, the one way it starts
//! its own binary in a clone child, and the one way it signals a process
//! it started.

use protocol::{AgentError, ErrorKind};
use std::ffi::{c_char, CStr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

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

/// The agent's own binary run in a child made by clone(2) with `flags`
/// (namespaces, and the exit signal in the low byte), with `args` after
/// its name and no environment; the child's fd `targets[i]` is
/// `sources[i]` (which the caller numbers out of the targets' way). A
/// child that cannot exec exits with `failed_exec`. Returns its pid.
pub fn clone_self(
    flags: libc::c_ulong,
    args: &[&CStr],
    sources: &[OwnedFd],
    targets: &[RawFd],
    failed_exec: i32,
) -> Result<i32, AgentError> {
    let raw: Vec<RawFd> = sources.iter().map(|f| f.as_raw_fd()).collect();
    let mut argv: Vec<*const c_char> = vec![c"hutch-agent".as_ptr()];
    argv.extend(args.iter().map(|a| a.as_ptr()));
    argv.push(std::ptr::null());
    let envp = [std::ptr::null()];
    let program = c"/proc/self/exe";
    // SAFETY: clone(2) without CLONE_VM and with a null stack behaves like
    // fork: the child gets a copy of this address space. In the child only
    // async-signal-safe calls follow (dup2, execve, _exit) on data
    // prepared above, as is required after forking a threaded process.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid == 0 {
        // SAFETY: see above; nothing here allocates, frees or takes locks
        // (the vectors are only borrowed).
        unsafe {
            for (source, target) in raw.iter().zip(targets.iter()) {
                if libc::dup2(*source, *target) < 0 {
                    libc::_exit(failed_exec);
                }
            }
            libc::execve(program.as_ptr(), argv.as_ptr(), envp.as_ptr());
            libc::_exit(failed_exec);
        }
    }
    if pid < 0 {
        return Err(last_error("clone"));
    }
    Ok(pid as i32)
}
