//! The monitor: a detached `hutch` process that owns one running machine.
//! It holds the machine lock, serves the vsock device to QEMU over
//! vhost-user, runs QEMU, and records why the machine stopped.

use super::qemu::{self, QemuConfig, GUEST_CID};
use super::state::{self, MachineState};
use crate::paths::MachinePaths;
use anyhow::{bail, Context, Result};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct MonitorArgs {
    pub name: String,
    pub cpus: u32,
    pub memory_mib: u32,
    pub kvm: bool,
    pub accel_reason: String,
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
}

/// Unix socket paths are limited to 108 bytes; say so instead of failing oddly.
fn check_socket_path(p: &std::path::Path) -> Result<()> {
    if p.as_os_str().len() >= 100 {
        bail!(
            "socket path {} is too long for a Unix socket; use a shorter HUTCH_HOME",
            p.display()
        );
    }
    Ok(())
}

pub fn run(args: MonitorArgs) -> Result<()> {
    let paths = MachinePaths::new(&args.name)?;
    let Some(_lock) = state::try_lock(&paths)? else {
        bail!("machine '{}' is already running", args.name);
    };
    let _ = std::fs::remove_file(paths.last_exit());
    let _ = std::fs::remove_file(paths.console_log());
    check_socket_path(&paths.vsock())?;
    check_socket_path(&paths.vhost_vsock())?;
    let _ = std::fs::remove_file(paths.vhost_vsock());

    let (vhost, uds) = (paths.vhost_vsock(), paths.vsock());
    std::thread::spawn(move || {
        if let Err(e) = vmm::vhost_user::vsock::serve_vsock(&vhost, &uds, GUEST_CID) {
            tracing::error!("vsock device: {e}");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !paths.vhost_vsock().exists() {
        if Instant::now() > deadline {
            bail!("the vsock device did not come up");
        }
        std::thread::sleep(Duration::from_millis(5));
    }

    let qemu_bin = qemu::find_qemu()?;
    let mut cmd = qemu::command(&QemuConfig {
        qemu: &qemu_bin,
        kernel: &args.kernel,
        initramfs: &args.initramfs,
        console_log: &paths.console_log(),
        vhost_vsock: &paths.vhost_vsock(),
        cpus: args.cpus,
        memory_mib: args.memory_mib,
        kvm: args.kvm,
        hostname: &args.name,
    });
    // SAFETY: prctl in the forked child before exec; async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            // QEMU must not outlive its monitor.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().context("starting QEMU")?;
    MachineState {
        name: args.name.clone(),
        backend: "qemu".into(),
        accel: if args.kvm { "kvm" } else { "tcg" }.into(),
        accel_reason: args.accel_reason,
        cpus: args.cpus,
        memory_mib: args.memory_mib,
        monitor_pid: std::process::id(),
        qemu_pid: child.id(),
        started_at_ms: state::now_ms(),
    }
    .save(&paths)?;

    let status = child.wait().context("waiting for QEMU")?;
    let why = match (status.code(), status.signal()) {
        (Some(0), _) => "stopped".to_string(),
        (Some(c), _) => format!("QEMU exited with status {c}"),
        (_, Some(s)) => format!("QEMU was killed by signal {s}"),
        _ => "QEMU exited".to_string(),
    };
    std::fs::write(paths.last_exit(), &why)?;
    let _ = std::fs::remove_file(paths.state());
    let _ = std::fs::remove_file(paths.vsock());
    let _ = std::fs::remove_file(paths.vhost_vsock());
    Ok(())
}
