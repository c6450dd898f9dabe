//! The seccomp filter under which every container process runs, its first
//! process and every `exec` alike, whatever else its spec asks for.
//!
//! It keeps containers away from the machine's control plane: vsock is not
//! network-namespaced, so a container that can open an `AF_VSOCK` socket
//! can reach the agent (which refuses it: see `vsock::is_host`) and
//! whatever the host listens on for the machine. So `socket(AF_VSOCK, ..)`
//! fails with EPERM, as under docker's default profile, and so does
//! io_uring, which can create sockets without calling socket(2)
//! (IORING_OP_SOCKET) and which docker's profile leaves out too.

use protocol::{AgentError, ErrorKind};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

fn internal(what: &str, e: impl std::fmt::Display) -> AgentError {
    AgentError::new(ErrorKind::Internal, format!("seccomp: {what}: {e}"))
}

/// The filter, compiled for this machine's architecture.
pub fn program() -> Result<BpfProgram, AgentError> {
    let family_is_vsock = SeccompCondition::new(
        0,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::Eq,
        libc::AF_VSOCK as u64,
    )
    .map_err(|e| internal("the socket rule", e))?;
    let vsock_socket =
        SeccompRule::new(vec![family_is_vsock]).map_err(|e| internal("the socket rule", e))?;
    let denied: BTreeMap<i64, Vec<SeccompRule>> = [
        (libc::SYS_socket, vec![vsock_socket]),
        // An empty rule list matches every call.
        (libc::SYS_io_uring_setup, vec![]),
        (libc::SYS_io_uring_enter, vec![]),
        (libc::SYS_io_uring_register, vec![]),
    ]
    .into_iter()
    .collect();
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| internal("this architecture", e))?;
    let filter = SeccompFilter::new(
        denied,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| internal("building the filter", e))?;
    BpfProgram::try_from(filter).map_err(|e| internal("compiling the filter", e))
}

/// Loads `program` on the calling thread; it is inherited by every child
/// and kept across execve. Needs CAP_SYS_ADMIN or no_new_privs: the agent
/// calls it as the machine's root. Not seccompiler's `apply_filter`, which
/// always sets no_new_privs: setuid programs in a container must keep
/// working as they do under docker, unless its spec asks for no_new_privs.
pub fn load(program: &BpfProgram) -> Result<(), AgentError> {
    let len = u16::try_from(program.len()).map_err(|e| internal("the filter's length", e))?;
    let fprog = libc::sock_fprog {
        len,
        // seccompiler's sock_filter is #[repr(C)] {u16, u8, u8, u32}, the
        // kernel's struct, as libc's is.
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: seccomp(2) reads `fprog` and the `len` instructions it points
    // to, all valid for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        return Err(internal(
            "loading the filter",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Error;

    fn errno_of(rc: libc::c_long) -> Option<i32> {
        (rc < 0).then(|| Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    #[test]
    fn vsock_sockets_and_io_uring_are_refused_and_nothing_else() {
        let program = program().expect("the filter compiles");
        // Filters are per thread: this one ends with the thread.
        std::thread::spawn(move || {
            // SAFETY: prctl with plain integers; lets an unprivileged test
            // load a filter (the agent has CAP_SYS_ADMIN instead).
            let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            assert_eq!(rc, 0);
            load(&program).expect("the filter loads");
            let socket = |family| {
                // SAFETY: socket(2); a returned fd is closed at once.
                let fd = unsafe { libc::socket(family, libc::SOCK_STREAM, 0) };
                let errno = errno_of(fd.into());
                if fd >= 0 {
                    // SAFETY: closing the fd just made.
                    unsafe { libc::close(fd) };
                }
                errno
            };
            assert_eq!(socket(libc::AF_VSOCK), Some(libc::EPERM));
            assert_eq!(socket(libc::AF_UNIX), None, "other families work");
            assert_eq!(socket(libc::AF_INET), None, "other families work");
            let mut params = [0u8; 120];
            // SAFETY: io_uring_setup(2) with a valid params block.
            let rc = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
            assert_eq!(errno_of(rc), Some(libc::EPERM));
        })
        .join()
        .expect("the filtered thread");
    }
}
