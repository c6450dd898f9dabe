//! The shares' file servers: one process per shared directory (the host
//! binary again, serving virtiofsd's passthrough over vhost-user; see the
//! `hutch-shares` crate), started before QEMU, which connects to each.

use super::control::DeviceStatus;
use super::{check_socket_path, wait_for_socket};
use crate::home::MachinePaths;
use crate::machine::error::MachineError;
use crate::machine::shares;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

type Result<T> = std::result::Result<T, MachineError>;

/// How `machine status` lists a share.
pub(super) fn status((index, dir): (usize, &PathBuf)) -> DeviceStatus {
    DeviceStatus {
        kind: "fs".into(),
        detail: format!(
            "{} at the same path in the machine ({})",
            dir.display(),
            shares::tag(index)
        ),
    }
}

/// How the host binary is asked to serve one share: these arguments, then
/// `--dir DIR --socket SOCKET`.
pub const SHARE_ARGS: [&str; 2] = ["machine", "_share"];

/// Starts one file server per share (this binary again, see
/// [`SHARE_ARGS`]), each on its own vhost-user socket, and waits until the
/// sockets exist. They die with the monitor, and end when QEMU goes.
pub(super) fn start(
    shares: &[PathBuf],
    first_socket: usize,
    paths: &MachinePaths,
) -> Result<Vec<(String, PathBuf)>> {
    let exe = std::env::current_exe().map_err(MachineError::io("locating the hutch binary"))?;
    let mut served = Vec::new();
    for (index, dir) in shares.iter().enumerate() {
        let socket = paths.vhost_socket(first_socket + index);
        check_socket_path(&socket)?;
        let _ = std::fs::remove_file(&socket);
        let mut cmd = std::process::Command::new(&exe);
        cmd.args(SHARE_ARGS)
            .arg("--dir")
            .arg(dir)
            .arg("--socket")
            .arg(&socket)
            .stdin(std::process::Stdio::null());
        // SAFETY: prctl in the forked child before exec; async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .map_err(MachineError::io("starting a share's file server"))?;
        wait_for_socket(&socket, "fs", || {
            child.try_wait().ok().flatten().map(|s| s.to_string())
        })?;
        served.push((shares::tag(index), socket));
    }
    Ok(served)
}
