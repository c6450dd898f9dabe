//! The monitor: a detached process (the host binary re-run as
//! `machine _monitor`) that owns one running machine. It holds the machine
//! lock, serves its control socket and its containers' published ports,
//! runs the machine on its backend (QEMU with our device cores over
//! vhost-user, or our own VMM in this process),
//! and records why the machine stopped.

pub mod control;
mod file_servers;
mod ports;
mod watch;

use super::backend::Backend;
use super::error::MachineError;
use super::qemu::{self, QemuConfig, GUEST_CID};
use super::state::{self, MachineState};
use crate::home::{Home, MachinePaths};
use control::{DeviceStatus, MonitorStatus, Served};
use net::Plan;
use serde::{Deserialize, Serialize};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use vmm::devices::DeviceConfig;
use vmm::hypervisor::Accel;
use vmm::runner::{Boot, Machine, MachineConfig, MachineExit};
use vmm::vhost_user::VhostBackend;

/// The serial number the guest reads from its layer disk.
const DISK_ID: &str = "hutch-layers";
/// How the host binary is asked to become a monitor: these arguments, then
/// `--config <json>` (see [`MonitorConfig::to_json`]).
pub const MONITOR_ARGS: [&str; 2] = ["machine", "_monitor"];

type Result<T> = std::result::Result<T, MachineError>;

/// Everything a monitor needs, handed over as one JSON argument.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorConfig {
    pub name: String,
    pub backend: Backend,
    pub cpus: u32,
    pub memory_mib: u32,
    pub disk_size: u64,
    /// `kvm`, `tcg`, ... (see `vmm::hypervisor::Accel`).
    pub accel: String,
    pub accel_reason: String,
    pub kernel: PathBuf,
    pub initramfs: PathBuf,
    /// Host directories to share (resolved; see `machine::shares`).
    #[serde(default)]
    pub shares: Vec<PathBuf>,
}

impl MonitorConfig {
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| MachineError::Control(format!("writing the monitor configuration: {e}")))
    }

    pub fn from_json(text: &str) -> Result<MonitorConfig> {
        serde_json::from_str(text)
            .map_err(|e| MachineError::Control(format!("bad monitor configuration: {e}")))
    }

    fn accel(&self) -> Result<Accel> {
        self.accel.parse().map_err(MachineError::Control)
    }
}

/// Unix socket paths are limited to 108 bytes; say so instead of failing oddly.
pub(super) fn check_socket_path(p: &Path) -> Result<()> {
    if p.as_os_str().len() >= 100 {
        return Err(MachineError::SocketPathTooLong(p.to_path_buf()));
    }
    Ok(())
}

/// The kernel command line (devices are added by each backend). The native
/// backend keeps the kernel's boot messages: when a vCPU fails they are what
/// explains it; under QEMU, `quiet` keeps TCG boots short.
fn kernel_cmdline(hostname: &str, backend: Backend, plan: &Plan, shares: &[PathBuf]) -> String {
    let quiet = if backend == Backend::Qemu {
        " quiet"
    } else {
        ""
    };
    let net = plan.to_cmdline();
    let mut line =
        format!("console=ttyS0 reboot=k panic=-1{quiet} hutch.hostname={hostname} hutch.net={net}");
    if let Some(shares) = super::shares::cmdline(shares) {
        line.push(' ');
        line.push_str(&shares);
    }
    line
}

/// The machine's devices: its vsock, its layer disk and its network card.
fn devices(paths: &MachinePaths, plan: &Plan) -> Vec<DeviceConfig> {
    vec![
        DeviceConfig::Vsock {
            guest_cid: GUEST_CID,
            uds: paths.vsock(),
        },
        DeviceConfig::Block {
            path: paths.disk(),
            serial: DISK_ID.into(),
        },
        DeviceConfig::Net {
            mac: plan.guest_mac,
            network: paths.network(),
        },
    ]
}

fn device_status(device: &DeviceConfig) -> DeviceStatus {
    let detail = match device {
        DeviceConfig::Vsock { guest_cid, uds } => {
            format!("guest cid {guest_cid}, host socket {}", uds.display())
        }
        DeviceConfig::Block { path, serial } => format!("{} ({serial})", path.display()),
        DeviceConfig::Net { mac, network } => format!(
            "mac {}, user-mode network at {}",
            mac.map(|b| format!("{b:02x}")).join(":"),
            network.display()
        ),
    };
    DeviceStatus {
        kind: device.kind().into(),
        detail,
    }
}

/// Runs the machine until it stops; the monitor process's whole life.
pub fn run(home: &Home, config: &MonitorConfig) -> Result<()> {
    let paths = home.machine(&config.name)?;
    let Some(_lock) = state::try_lock(&paths)? else {
        return Err(MachineError::AlreadyRunning(config.name.clone()));
    };
    let _ = std::fs::remove_file(paths.last_exit());
    let _ = std::fs::remove_file(paths.console_log());
    for socket in [paths.vsock(), paths.control(), paths.network()] {
        check_socket_path(&socket)?;
    }
    ensure_disk(&paths.disk(), config.disk_size)?;
    let accel = config.accel()?;
    let plan = Plan::default();
    // Before the card: it connects to the network when it opens.
    net::spawn(&paths.network(), plan.clone(), &net::host_resolvers()).map_err(|e| {
        MachineError::Device {
            what: "net",
            message: e.to_string(),
        }
    })?;
    let devices = devices(&paths, &plan);
    let device_count = devices.len();
    let record = MachineState {
        name: config.name.clone(),
        backend: config.backend.name().into(),
        accel: accel.name().into(),
        accel_reason: config.accel_reason.clone(),
        cpus: config.cpus,
        memory_mib: config.memory_mib,
        monitor_pid: std::process::id(),
        vm_pid: std::process::id(),
        started_at_ms: crate::time::now_ms(),
        shares: config.shares.clone(),
    };
    let served = Arc::new(Served {
        status: Mutex::new(MonitorStatus {
            machine: record.clone(),
            devices: devices
                .iter()
                .map(device_status)
                .chain(config.shares.iter().enumerate().map(file_servers::status))
                .collect(),
        }),
        ports: ports::Publisher::new(paths.vsock())
            .map_err(MachineError::io("starting the port publisher"))?,
    });
    control::serve(&paths.control(), served.clone())?;
    watch::serve(&paths.vsock(), config.shares.clone())
        .map_err(MachineError::io("listening for the machine's file watches"))?;
    let why = match config.backend {
        Backend::Qemu => run_qemu(
            config,
            accel,
            &paths,
            &devices,
            record,
            &served.status,
            &plan,
        ),
        Backend::Native => run_native(config, &paths, devices, &record, &plan),
    };
    let why = why.unwrap_or_else(|e| format!("the monitor failed: {e}"));
    let _ = std::fs::write(paths.last_exit(), &why);
    let _ = std::fs::remove_file(paths.state());
    let _ = std::fs::remove_file(paths.vsock());
    let _ = std::fs::remove_file(paths.control());
    let _ = std::fs::remove_file(paths.network());
    let _ = std::fs::remove_file(watch::socket_path(&paths.vsock()));
    for i in 0..device_count + config.shares.len() {
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
    let file = std::fs::File::create(&tmp).map_err(MachineError::io(format!(
        "creating the machine disk {}",
        tmp.display()
    )))?;
    file.set_len(size).map_err(MachineError::io(format!(
        "sizing the machine disk {}",
        tmp.display()
    )))?;
    std::fs::rename(&tmp, disk).map_err(MachineError::io(format!(
        "creating the machine disk {}",
        disk.display()
    )))
}

/// Opens a device's host side, serves it over vhost-user on its own
/// thread, and waits until its socket exists, so QEMU can connect to it.
fn serve_device(device: &DeviceConfig, socket: PathBuf) -> Result<()> {
    let what = device.kind();
    let backend = VhostBackend::open(device).map_err(|e| MachineError::Device {
        what,
        message: e.to_string(),
    })?;
    let _ = std::fs::remove_file(&socket);
    let path = socket.clone();
    std::thread::spawn(move || {
        if let Err(e) = backend.serve(&path) {
            tracing::error!("{what} device: {e}");
        }
    });
    wait_for_socket(&socket, what, || None)
}

/// Waits until a device backend's socket exists; `exited` says whether
/// (and how) the backend already gave up.
pub(super) fn wait_for_socket(
    socket: &Path,
    what: &'static str,
    mut exited: impl FnMut() -> Option<String>,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        if let Some(status) = exited() {
            return Err(MachineError::Device {
                what,
                message: format!("its server exited ({status}); see the monitor log"),
            });
        }
        if Instant::now() > deadline {
            return Err(MachineError::Device {
                what,
                message: "its vhost-user socket did not come up".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn run_qemu(
    config: &MonitorConfig,
    accel: Accel,
    paths: &MachinePaths,
    devices: &[DeviceConfig],
    mut record: MachineState,
    status: &Mutex<MonitorStatus>,
    plan: &Plan,
) -> Result<String> {
    let mut served = Vec::new();
    for (i, device) in devices.iter().enumerate() {
        let socket = paths.vhost_socket(i);
        check_socket_path(&socket)?;
        serve_device(device, socket.clone())?;
        served.push((device.clone(), socket));
    }
    let shares = file_servers::start(&config.shares, devices.len(), paths)?;
    let qemu_bin = qemu::find_qemu()?;
    let cmdline = kernel_cmdline(&config.name, Backend::Qemu, plan, &config.shares);
    let slirp = std::env::var(qemu::SLIRP_VAR).ok();
    let mut cmd = qemu::command(&QemuConfig {
        qemu: &qemu_bin,
        kernel: &config.kernel,
        initramfs: &config.initramfs,
        console_log: &paths.console_log(),
        devices: &served,
        shares: &shares,
        cpus: config.cpus,
        memory_mib: config.memory_mib,
        accel,
        cmdline: &cmdline,
        slirp: slirp.as_deref(),
    });
    // SAFETY: prctl in the forked child before exec; async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            // QEMU must not outlive its monitor.
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(MachineError::io("starting QEMU"))?;
    record.vm_pid = child.id();
    status
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .machine
        .vm_pid = child.id();
    record.save(paths)?;

    let exit = child.wait().map_err(MachineError::io("waiting for QEMU"))?;
    Ok(match (exit.code(), exit.signal()) {
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

fn run_native(
    config: &MonitorConfig,
    paths: &MachinePaths,
    devices: Vec<DeviceConfig>,
    record: &MachineState,
    plan: &Plan,
) -> Result<String> {
    let console = std::fs::File::create(paths.console_log())
        .map_err(MachineError::io("creating the console log"))?;
    let machine = Machine::new(MachineConfig {
        devices,
        cpus: config.cpus,
        memory_mib: config.memory_mib,
        boot: Boot::Linux {
            kernel: config.kernel.clone(),
            initramfs: Some(config.initramfs.clone()),
            cmdline: kernel_cmdline(&config.name, Backend::Native, plan, &[]),
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
