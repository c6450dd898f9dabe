//! Starting a container's first process: clone(2) into new namespaces,
//! exec the agent's own binary as `container-init` there (see `init.rs`),
//! move it into its cgroup, hand it the spec, and learn whether the
//! command started.

use super::cgroup::Cgroup;
use super::init::{InitConfig, CONFIG_FD, ERROR_FD, INIT_ARG, NETWORK_FD, SETUP_DONE, USERNS_FD};
use crate::sys::fd::{high_copy, pipe};
use crate::sys::process::clone_self;
use protocol::{AgentError, ErrorKind};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

fn failure(message: String) -> AgentError {
    AgentError::new(ErrorKind::Internal, message)
}

pub struct Stdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
}

/// Puts the container's end of its network into the namespace of the
/// given pid (see `network::plug`).
pub type Plug<'a> = &'a dyn Fn(i32) -> Result<(), AgentError>;

/// Starts the container; returns the pid of its first process once the
/// command itself runs (or the reason it could not). With `plug`, the
/// container's init asks for its network once its namespace is final.
pub fn spawn(
    config: &InitConfig,
    namespaces: libc::c_int,
    stdio: Stdio,
    cgroup: &Cgroup,
    userns: Option<&OwnedFd>,
    plug: Option<Plug<'_>>,
) -> Result<i32, AgentError> {
    let (config_read, mut config_write) = pipe().map(|(r, w)| (r, std::fs::File::from(w)))?;
    let (mut error_read, error_write) = pipe().map(|(r, w)| (std::fs::File::from(r), w))?;
    let mut sources = vec![
        high_copy(stdio.stdin.as_raw_fd())?,
        high_copy(stdio.stdout.as_raw_fd())?,
        high_copy(stdio.stderr.as_raw_fd())?,
        high_copy(config_read.as_raw_fd())?,
        high_copy(error_write.as_raw_fd())?,
    ];
    let mut targets = vec![0, 1, 2, CONFIG_FD, ERROR_FD];
    if let Some(fd) = userns {
        sources.push(high_copy(fd.as_raw_fd())?);
        targets.push(USERNS_FD);
    }
    let network = match plug {
        Some(_) => {
            let (ours, theirs) = std::os::unix::net::UnixStream::pair()
                .map_err(|e| failure(format!("a socket for the network: {e}")))?;
            sources.push(high_copy(theirs.as_raw_fd())?);
            targets.push(NETWORK_FD);
            Some(ours)
        }
        None => None,
    };
    let pid = clone_self(
        (namespaces | libc::SIGCHLD) as libc::c_ulong,
        &[INIT_ARG],
        &sources,
        &targets,
        126,
    )?;
    drop(sources);
    drop(stdio);
    drop(config_read);
    drop(error_write);

    let handed_over = cgroup
        .add(pid)
        .map_err(|e| failure(format!("joining the container's cgroup: {e}")))
        .and_then(|()| {
            let bytes = serde_json::to_vec(config).map_err(|e| failure(e.to_string()))?;
            config_write
                .write_all(&bytes)
                .map_err(|e| failure(format!("handing the container its config: {e}")))
        });
    drop(config_write);
    let networked = handed_over.and_then(|()| match (network, plug) {
        (Some(mut init), Some(plug)) => plug_when_ready(&mut init, pid, plug),
        _ => Ok(()),
    });
    if let Err(e) = networked {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        return Err(e);
    }
    // The error pipe closes on a successful exec (it is close-on-exec there).
    let mut report = Vec::new();
    let _ = error_read.read_to_end(&mut report);
    read_report(&report).map(|()| pid)
}

/// Waits for init to say its network namespace is final, plugs the
/// network into it, and says so. Init dying first is not an error here:
/// its report says why.
fn plug_when_ready(
    init: &mut std::os::unix::net::UnixStream,
    pid: i32,
    plug: Plug<'_>,
) -> Result<(), AgentError> {
    let mut ready = [0u8; 1];
    if init.read_exact(&mut ready).is_err() {
        return Ok(());
    }
    plug(pid)?;
    init.write_all(b"d")
        .map_err(|e| failure(format!("telling the container its network is ready: {e}")))
}

/// What container-init said: SETUP_DONE alone when the command's exec
/// succeeded, an error (after SETUP_DONE when the exec itself failed), or
/// nothing at all when it died before reporting (the reaper collects it).
fn read_report(report: &[u8]) -> Result<(), AgentError> {
    let error = match report.split_first() {
        Some((&SETUP_DONE, [])) => return Ok(()),
        Some((&SETUP_DONE, error)) => error,
        Some(_) => report,
        None => {
            return Err(failure(
                "the container's setup process died before it could report; the \
                 machine's console.log (in $HUTCH_HOME/machines/<name>/) may say why"
                    .into(),
            ))
        }
    };
    Err(serde_json::from_slice(error).unwrap_or_else(|_| {
        failure(format!(
            "the container failed to start: {}",
            String::from_utf8_lossy(error)
        ))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_reports_are_read_as_written() {
        assert!(read_report(b"+").is_ok(), "exec succeeded");
        let error =
            serde_json::to_vec(&AgentError::new(ErrorKind::NotFound, "x: no such file")).unwrap();
        let exec_failed = [b"+".as_slice(), &error].concat();
        for report in [&error[..], &exec_failed[..]] {
            let e = read_report(report).unwrap_err();
            assert_eq!(
                (e.kind, e.message.as_str()),
                (ErrorKind::NotFound, "x: no such file")
            );
        }
        let died = read_report(b"").unwrap_err();
        assert!(died.message.contains("died before"), "{}", died.message);
        let garbage = read_report(b"+oops").unwrap_err();
        assert!(garbage.message.contains("oops"), "{}", garbage.message);
    }
}
