//! Machines: starting one (a detached monitor process that owns it),
//! stopping it, its status, and connecting to its agent.

pub mod backend;
pub mod error;
pub mod monitor;
pub mod qemu;
pub mod shares;
pub mod state;

pub use backend::{Backend, BackendChoice};
pub use error::MachineError;

use crate::agent::AgentClient;
use crate::events::Event;
use crate::home::{ensure_dir, MachinePaths};
use crate::Engine;
use monitor::control::{ControlClient, MonitorStatus};
use monitor::{MonitorConfig, MONITOR_ARGS};
use protocol::GuestInfo;
use state::MachineState;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vmm::hypervisor::Accel;

type Result<T, E = MachineError> = std::result::Result<T, E>;

/// Settings of a machine started on demand (as `machine start` defaults).
pub const DEFAULT_CPUS: u32 = 2;
pub const DEFAULT_MEMORY_MIB: u32 = 512;
pub const DEFAULT_DISK_SIZE: u64 = 16 << 30;
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone)]
pub struct StartOptions {
    pub name: String,
    pub backend: BackendChoice,
    pub cpus: u32,
    pub memory_mib: u32,
    /// Size of the layer-cache disk if it has to be created.
    pub disk_size: u64,
    pub timeout: Duration,
    /// Host directories shared besides the defaults (home, temp).
    pub shares: Vec<std::path::PathBuf>,
}

impl StartOptions {
    /// The defaults, for machine `name`.
    pub fn new(name: &str) -> StartOptions {
        StartOptions {
            name: name.to_string(),
            backend: BackendChoice::Auto,
            cpus: DEFAULT_CPUS,
            memory_mib: DEFAULT_MEMORY_MIB,
            disk_size: DEFAULT_DISK_SIZE,
            timeout: DEFAULT_START_TIMEOUT,
            shares: Vec::new(),
        }
    }
}

/// A machine that came up.
#[derive(Debug, Clone)]
pub struct Started {
    /// From asking to its agent answering.
    pub elapsed: Duration,
    pub backend: Backend,
    pub accel: Accel,
}

/// How a stop went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    WasNotRunning,
    /// The agent synced and powered off.
    Clean,
    /// It did not power off in time and was killed.
    Killed,
}

/// A machine's status: what its monitor and its agent say while it runs,
/// or why it last stopped.
#[derive(Debug, Clone)]
pub enum MachineStatus {
    Running {
        monitor: Box<MonitorStatus>,
        guest: GuestInfo,
    },
    Stopped {
        last_exit: Option<String>,
    },
}

impl Engine {
    /// The host directories running machine `name` shares (none when it
    /// is not running).
    pub(crate) fn machine_shares(&self, name: &str) -> Result<Vec<std::path::PathBuf>> {
        let paths = self.machine_paths(name)?;
        Ok(MachineState::load(&paths)
            .map(|s| s.shares)
            .unwrap_or_default())
    }

    fn machine_paths(&self, name: &str) -> Result<MachinePaths> {
        Ok(self.home().machine(name)?)
    }

    /// Why machine `name` is not running, with the fix.
    fn not_running(&self, paths: &MachinePaths) -> MachineError {
        MachineError::NotRunning {
            name: paths.name().to_string(),
            why: state::last_exit(paths).filter(|why| why != "stopped"),
            console: paths.console_log(),
        }
    }

    /// Names of every machine that has a directory, sorted.
    pub fn machine_names(&self) -> Result<Vec<String>> {
        let Ok(entries) = std::fs::read_dir(self.home().machines_dir()) else {
            return Ok(Vec::new());
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| self.home().machine(n).is_ok())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Names of the machines running now.
    pub fn running_machines(&self) -> Result<Vec<String>> {
        let mut names = self.machine_names()?;
        names.retain(|n| self.machine_paths(n).is_ok_and(|p| state::is_running(&p)));
        Ok(names)
    }

    /// Whether machine `name` runs.
    pub fn machine_is_running(&self, name: &str) -> Result<bool> {
        Ok(state::is_running(&self.machine_paths(name)?))
    }

    /// Connects to the agent of running machine `name`; if it is not
    /// running, says why and how to start it.
    pub async fn connect_running(&self, name: &str) -> Result<AgentClient> {
        AgentClient::connect(&self.running_vsock(name)?)
            .await
            .map_err(|source| MachineError::Agent {
                name: name.to_string(),
                source,
            })
    }

    /// The vsock socket of running machine `name`, for connections to the
    /// agent's other ports.
    pub(crate) fn running_vsock(&self, name: &str) -> Result<std::path::PathBuf> {
        let paths = self.machine_paths(name)?;
        if !state::is_running(&paths) {
            return Err(self.not_running(&paths));
        }
        Ok(paths.vsock())
    }

    /// Connects to the monitor of running machine `name`.
    pub(crate) async fn connect_monitor(&self, name: &str) -> Result<ControlClient> {
        let paths = self.machine_paths(name)?;
        if !state::is_running(&paths) {
            return Err(self.not_running(&paths));
        }
        ControlClient::connect(&paths.control()).await
    }

    /// Connects to the agent of machine `name`, first starting the machine
    /// with default settings if it is not running, as docker starts its engine.
    pub async fn connect_or_start(&self, name: &str) -> Result<AgentClient> {
        if !state::is_running(&self.machine_paths(name)?) {
            self.report(Event::MachineStarting {
                machine: name.to_string(),
            });
            self.start_machine(&StartOptions::new(name)).await?;
        }
        self.connect_running(name).await
    }

    /// Boots a machine in a detached monitor and waits for its agent.
    pub async fn start_machine(&self, opts: &StartOptions) -> Result<Started> {
        let paths = self.machine_paths(&opts.name)?;
        ensure_dir(&paths.dir)?;
        // Its sockets drive the machine as root: this user's alone, whatever the umask.
        std::fs::set_permissions(&paths.dir, std::fs::Permissions::from_mode(0o700)).map_err(
            MachineError::io(format!("making {} private", paths.dir.display())),
        )?;
        if state::is_running(&paths) {
            return Err(MachineError::AlreadyRunning(opts.name.clone()));
        }
        let guest = self.home().guest_dir();
        let (kernel, initramfs) = (guest.join("vmlinux"), guest.join("initramfs.cpio.gz"));
        for f in [&kernel, &initramfs] {
            if !f.is_file() {
                return Err(MachineError::GuestFileMissing(f.clone()));
            }
        }
        let choice = self.choose_backend(opts.backend)?;
        let shares = match choice.backend {
            backend::Backend::Qemu => shares::plan(&opts.shares)?,
            backend::Backend::Native if opts.shares.is_empty() => Vec::new(),
            backend::Backend::Native => {
                return Err(MachineError::BadShare {
                    dir: opts.shares[0].clone(),
                    why: "the native backend has no virtio-fs device yet; use --backend qemu"
                        .into(),
                })
            }
        };
        let config = MonitorConfig {
            name: opts.name.clone(),
            backend: choice.backend,
            cpus: opts.cpus,
            memory_mib: opts.memory_mib,
            disk_size: opts.disk_size,
            accel: choice.accel.name().into(),
            accel_reason: choice.why.clone(),
            kernel,
            initramfs,
            shares,
        };

        let began = Instant::now();
        let mut monitor = self.spawn_monitor(&paths, &config)?;
        let deadline = began + opts.timeout;
        loop {
            if let Some(status) = monitor
                .try_wait()
                .map_err(MachineError::io("watching the monitor"))?
            {
                let log = std::fs::read_to_string(paths.monitor_log()).unwrap_or_default();
                let reason = state::last_exit(&paths)
                    .or_else(|| log.lines().last().map(str::to_string))
                    .unwrap_or_else(|| format!("monitor exited with {status}"));
                return Err(MachineError::FailedToStart {
                    name: opts.name.clone(),
                    reason,
                    console: state::console_tail(&paths, 10),
                });
            }
            if paths.vsock().exists() {
                let attempt = tokio::time::timeout(
                    Duration::from_secs(2),
                    AgentClient::connect(&paths.vsock()),
                )
                .await;
                if let Ok(Ok(_)) = attempt {
                    break;
                }
            }
            if Instant::now() > deadline {
                stop_processes(&paths);
                return Err(MachineError::NotReady {
                    name: opts.name.clone(),
                    seconds: opts.timeout.as_secs(),
                    console: state::console_tail(&paths, 10),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(Started {
            elapsed: began.elapsed(),
            backend: choice.backend,
            accel: choice.accel,
        })
    }

    /// Starts this program again as the machine's monitor, in a session of
    /// its own so that it outlives this process and its terminal.
    fn spawn_monitor(
        &self,
        paths: &MachinePaths,
        config: &MonitorConfig,
    ) -> Result<std::process::Child> {
        let exe = std::env::current_exe().map_err(MachineError::io("locating the hutch binary"))?;
        let log = std::fs::File::create(paths.monitor_log())
            .map_err(MachineError::io("creating the monitor log"))?;
        let log2 = log
            .try_clone()
            .map_err(MachineError::io("creating the monitor log"))?;
        let mut cmd = Command::new(exe);
        cmd.args(MONITOR_ARGS)
            .args(["--config", &config.to_json()?])
            .env("HUTCH_HOME", self.home().root())
            .env("HUTCH_GUEST_DIR", self.home().guest_dir())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        // SAFETY: setsid in the forked child; async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        cmd.spawn()
            .map_err(MachineError::io("starting the machine monitor"))
    }

    /// Asks the agent to sync and power off; kills the machine if it does
    /// not within `timeout`.
    pub async fn stop_machine(&self, name: &str, timeout: Duration) -> Result<Stopped> {
        let paths = self.machine_paths(name)?;
        if !state::is_running(&paths) {
            return Ok(Stopped::WasNotRunning);
        }
        let asked = async {
            let mut client = AgentClient::connect(&paths.vsock()).await?;
            client.shutdown().await
        };
        let clean = tokio::time::timeout(Duration::from_secs(5), asked)
            .await
            .is_ok_and(|r| r.is_ok())
            && wait_stopped(&paths, timeout).await;
        if clean {
            return Ok(Stopped::Clean);
        }
        stop_processes(&paths);
        if !wait_stopped(&paths, Duration::from_secs(5)).await {
            return Err(MachineError::DidNotStop {
                name: name.to_string(),
                log: paths.monitor_log(),
            });
        }
        Ok(Stopped::Killed)
    }

    /// What the monitor and the agent say of a running machine, or why it
    /// last stopped.
    pub async fn machine_status(&self, name: &str) -> Result<MachineStatus> {
        let paths = self.machine_paths(name)?;
        if !state::is_running(&paths) {
            return Ok(MachineStatus::Stopped {
                last_exit: state::last_exit(&paths),
            });
        }
        let monitor = self.connect_monitor(name).await?.status().await?;
        let mut agent = self.connect_running(name).await?;
        let guest = agent.info().await.map_err(|source| MachineError::Agent {
            name: name.to_string(),
            source,
        })?;
        Ok(MachineStatus::Running {
            monitor: Box::new(monitor),
            guest,
        })
    }

    /// Runs a machine's monitor in this process, until the machine stops
    /// (what the host binary does when started with [`MONITOR_ARGS`]).
    pub fn run_monitor(&self, config_json: &str) -> Result<()> {
        let config = MonitorConfig::from_json(config_json)?;
        monitor::run(self.home(), &config)
    }
}

/// Kills what a machine left running, QEMU first (the monitor then records it).
fn stop_processes(paths: &MachinePaths) {
    if let Some(s) = MachineState::load(paths) {
        for pid in [s.vm_pid, s.monitor_pid] {
            // SAFETY: kill(2); the pids come from the live machine's state file.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

async fn wait_stopped(paths: &MachinePaths, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !state::is_running(paths) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}
