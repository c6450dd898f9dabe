//! The monitor: a detached `hutch` process that owns one running machine.
//! It holds the machine lock, runs the machine on its backend (QEMU with our
//! vsock device over vhost-user, or our own VMM in this process), and
//! records why the machine stopped.

use super::qemu::{self, QemuConfig, GUEST_CID};
use super::state::{self, MachineState};
use super::Backend;
use crate::paths::MachinePaths;
use anyhow::{bail, Context, Result};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use vmm::devices::DeviceConfig;
use vmm::hypervisor::Accel;
use vmm::runner::{Boot, Machine, MachineConfig, MachineExit};
use vmm::vhost_user::VhostBackend;

/// The serial number the guest reads from its layer disk.
const DISK_ID: &str = "hutch-layers";

pub struct MonitorArgs {
    pub name: String,
    pub backend: Backend,
    pub cpus: u32,
    pub memory_mib: u32,
    pub disk_size: u64,
    pub kvm: bool,
    pub accel_reason: String,
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
}

/// Unix socket paths are limited to 108 bytes; say so instead of failing oddly.
fn check_socket_path(p: &Path) -> Result<()> {
    if p.as_os_str().len() >= 100 {
        bail!(
            "socket path {} is too long for a Unix socket; use a shorter HUTCH_HOME",
            p.display()
        );
    }
    Ok(())
}

/// The kernel command line (devices are added by each backend). The native
/// backend keeps the kernel's boot messages: when a vCPU fails they are what
/// explains it; under QEMU, `quiet` keeps TCG boots short.
fn kernel_cmdline(hostname: &str, backend: Backend) -> String {
    let quiet = if backend == Backend::Qemu {
        " quiet"
    } else {
        ""
    };
    format!("console=ttyS0 reboot=k panic=-1{quiet} hutch.hostname={hostname}")
}

pub fn run(args: MonitorArgs) -> Result<()> {
    let paths = MachinePaths::new(&args.name)?;
    let Some(_lock) = state::try_lock(&paths)? else {
        bail!("machine '{}' is already running", args.name);
    };
    let _ = std::fs::remove_file(paths.last_exit());
    let _ = std::fs::remove_file(paths.console_log());
    check_socket_path(&paths.vsock())?;
    ensure_disk(&paths.disk(), args.disk_size)?;
    let mut record = MachineState {
        name: args.name.clone(),
        backend: args.backend.name().into(),
        accel: state::accel_name(args.kvm).into(),
        accel_reason: args.accel_reason.clone(),
        cpus: args.cpus,
        memory_mib: args.memory_mib,
        monitor_pid: std::process::id(),
        vm_pid: std::process::id(),
        started_at_ms: state::now_ms(),
    };
    let why = match args.backend {
        Backend::Qemu => run_qemu(&args, &paths, &mut record)?,
        Backend::Native => run_native(&args, &paths, &record)?,
    };
    std::fs::write(paths.last_exit(), &why)?;
    let _ = std::fs::remove_file(paths.state());
    let _ = std::fs::remove_file(paths.vsock());
    for i in 0..devices(&paths).len() {
        let _ = std::fs::remove_file(paths.vhost_socket(i));
    }
    Ok(())
}

/// Creates the machine's disk on its first start: a sparse file of `size`
/// bytes that the agent formats. It appears under its name only once it
/// has its full size, so a killed start leaves no short disk behind.
fn ensure_disk(disk: &Path, size: u64) -> Result<()> {
    if disk.exists() {
        return Ok(());
    }
    let tmp = disk.with_extension("img.tmp");
    let file = std::fs::File::create(&tmp)
        .with_context(|| format!("creating the machine disk {}", tmp.display()))?;
    file.set_len(size)
        .with_context(|| format!("sizing the machine disk {}", tmp.display()))?;
    std::fs::rename(&tmp, disk)
        .with_context(|| format!("creating the machine disk {}", disk.display()))
}

/// The machine's devices: its vsock and its layer disk.
fn devices(paths: &MachinePaths) -> Vec<DeviceConfig> {
    vec![
        DeviceConfig::Vsock {
            guest_cid: GUEST_CID,
            uds: paths.vsock(),
        },
        DeviceConfig::Block {
            path: paths.disk(),
            serial: DISK_ID.into(),
        },
    ]
}

/// Opens a device's host side, serves it over vhost-user on its own
/// thread, and waits until its socket exists, so QEMU can connect to it.
fn serve_device(device: &DeviceConfig, socket: PathBuf) -> Result<()> {
    let what = device.kind();
    let backend = VhostBackend::open(device).with_context(|| format!("the {what} device"))?;
    let _ = std::fs::remove_file(&socket);
    let path = socket.clone();
    std::thread::spawn(move || {
        if let Err(e) = backend.serve(&path) {
            tracing::error!("{what} device: {e}");
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        if Instant::now() > deadline {
            bail!("the {what} device did not come up");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn run_qemu(args: &MonitorArgs, paths: &MachinePaths, record: &mut MachineState) -> Result<String> {
    let served: Vec<(DeviceConfig, PathBuf)> = devices(paths)
        .into_iter()
        .enumerate()
        .map(|(i, device)| {
            let socket = paths.vhost_socket(i);
            (device, socket)
        })
        .collect();
    for (device, socket) in &served {
        check_socket_path(socket)?;
        serve_device(device, socket.clone())?;
    }

    let qemu_bin = qemu::find_qemu()?;
    let cmdline = kernel_cmdline(&args.name, Backend::Qemu);
    let mut cmd = qemu::command(&QemuConfig {
        qemu: &qemu_bin,
        kernel: &args.kernel,
        initramfs: &args.initramfs,
        console_log: &paths.console_log(),
        devices: &served,
        cpus: args.cpus,
        memory_mib: args.memory_mib,
        accel: if args.kvm { Accel::Kvm } else { Accel::Tcg },
        cmdline: &cmdline,
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
    record.vm_pid = child.id();
    record.save(paths)?;

    let status = child.wait().context("waiting for QEMU")?;
    Ok(match (status.code(), status.signal()) {
        (Some(0), _) => "stopped".to_string(),
        (Some(c), _) => format!("QEMU exited with status {c}"),
        (_, Some(s)) => format!("QEMU was killed by signal {s}"),
        _ => "QEMU exited".to_string(),
    })
}

/// Blocks SIGTERM and SIGINT in this thread (and the threads it spawns
/// later), and stops the machine when one arrives.
fn stop_on_termination(stop: vmm::runner::StopHandle) {
    // SAFETY: sigset manipulation on a local set; pthread_sigmask on the
    // calling thread only.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || {
        let mut sig = 0;
        // SAFETY: sigwait on a valid set with a valid out-pointer.
        if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
            tracing::info!("signal {sig}: stopping the machine");
            stop.stop();
        }
    });
}

fn run_native(args: &MonitorArgs, paths: &MachinePaths, record: &MachineState) -> Result<String> {
    let console = std::fs::File::create(paths.console_log()).context("creating the console log")?;
    let machine = Machine::new(MachineConfig {
        devices: devices(paths),
        cpus: args.cpus,
        memory_mib: args.memory_mib,
        boot: Boot::Linux {
            kernel: args.kernel.clone(),
            initramfs: Some(args.initramfs.clone()),
            cmdline: kernel_cmdline(&args.name, Backend::Native),
        },
        console: Box::new(console),
    });
    stop_on_termination(machine.stop_handle());
    record.save(paths)?;
    Ok(match machine.run()? {
        MachineExit::Reset | MachineExit::Halted => "stopped".to_string(),
        MachineExit::Stopped => "stopped by a signal".to_string(),
        MachineExit::VcpuFailed { vcpu, reason } => format!("vCPU {vcpu} failed: {reason}"),
    })
}
