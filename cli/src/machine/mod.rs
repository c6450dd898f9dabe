//! `hutch machine ...`: start, status, exec and stop a machine.

pub mod exec;
pub mod monitor;
pub mod qemu;
pub mod state;

use crate::agent::AgentClient;
use crate::paths::{self, MachinePaths};
use anyhow::{anyhow, bail, Context, Result};
use protocol::{Request, Response};
use state::MachineState;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use vmm::probe::{probe, Verdict};

/// Which machine backend runs the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// Our own VMM on KVM.
    Native,
    /// QEMU, with our device cores over vhost-user; KVM or TCG.
    Qemu,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Qemu => "qemu",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendChoice {
    /// native where KVM can run a guest kernel, else qemu
    Auto,
    Native,
    Qemu,
}

/// The backend to use, whether it gets KVM, and why.
struct Choice {
    backend: Backend,
    kvm: bool,
    why: String,
}

fn choose_backend(choice: BackendChoice) -> Result<Choice> {
    let verdict = probe();
    let backend = match (choice, &verdict) {
        (BackendChoice::Qemu, _) => Backend::Qemu,
        (BackendChoice::Native, _) => Backend::Native,
        (BackendChoice::Auto, Verdict::Usable) => Backend::Native,
        (BackendChoice::Auto, Verdict::Unusable(_)) => Backend::Qemu,
    };
    if backend == Backend::Qemu {
        qemu::find_qemu()?;
    }
    let (kvm, why) = match verdict {
        Verdict::Usable => (
            true,
            "a KVM probe guest took an exception through its own IDT".to_string(),
        ),
        Verdict::Unusable(why) if backend == Backend::Native => {
            eprintln!(
                "hutch: warning: {why}; the native backend was asked for, so it is tried anyway"
            );
            (true, why)
        }
        Verdict::Unusable(why) => {
            eprintln!("hutch: {why}; using the qemu backend with software emulation (TCG)");
            (false, why)
        }
    };
    Ok(Choice { backend, kvm, why })
}

/// Settings of a machine started on demand (as `machine start` defaults).
pub const DEFAULT_CPUS: u32 = 2;
pub const DEFAULT_MEMORY_MIB: u32 = 512;
pub const DEFAULT_DISK_SIZE: u64 = 16 << 30;
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(120);

/// Connects to the agent of machine `name`, first starting the machine with
/// default settings if it is not running, as docker starts its engine.
pub async fn connect_or_start(name: &str) -> Result<(MachinePaths, AgentClient)> {
    if !state::is_running(&MachinePaths::new(name)?) {
        eprintln!("starting machine '{name}'");
        start(StartOptions {
            name: name.to_string(),
            backend: BackendChoice::Auto,
            cpus: DEFAULT_CPUS,
            memory_mib: DEFAULT_MEMORY_MIB,
            disk_size: DEFAULT_DISK_SIZE,
            timeout: DEFAULT_START_TIMEOUT,
        })
        .await?;
    }
    connect_running(name).await
}

/// Connects to the agent of running machine `name`; if it is not running,
/// says why and how to start it.
pub async fn connect_running(name: &str) -> Result<(MachinePaths, AgentClient)> {
    let paths = MachinePaths::new(name)?;
    if !state::is_running(&paths) {
        return Err(not_running(name, &paths));
    }
    let client = AgentClient::connect(&paths.vsock())
        .await
        .with_context(|| format!("contacting the agent of machine '{name}'"))?;
    Ok((paths, client))
}

/// Names of every machine that has a directory, sorted.
pub fn machine_names() -> Result<Vec<String>> {
    let dir = paths::hutch_home()?.join("machines");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| MachinePaths::new(n).is_ok())
        .collect();
    names.sort();
    Ok(names)
}

/// Names of the machines running now.
pub fn running_machines() -> Result<Vec<String>> {
    let mut names = machine_names()?;
    names.retain(|n| MachinePaths::new(n).is_ok_and(|p| state::is_running(&p)));
    Ok(names)
}

pub struct StartOptions {
    pub name: String,
    pub backend: BackendChoice,
    pub cpus: u32,
    pub memory_mib: u32,
    /// Size of the layer-cache disk if it has to be created.
    pub disk_size: u64,
    pub timeout: Duration,
}

struct GuestFiles {
    kernel: PathBuf,
    initramfs: PathBuf,
}

fn guest_files() -> Result<GuestFiles> {
    let dir = paths::guest_dir()?;
    let files = GuestFiles {
        kernel: dir.join("vmlinux"),
        initramfs: dir.join("initramfs.cpio.gz"),
    };
    for f in [&files.kernel, &files.initramfs] {
        if !f.is_file() {
            bail!(
                "guest file {} is missing; build it with ./install.sh, or point HUTCH_GUEST_DIR at a directory holding vmlinux and initramfs.cpio.gz",
                f.display()
            );
        }
    }
    Ok(files)
}

/// Explains why a machine is not running, with the fix.
pub fn not_running(name: &str, paths: &MachinePaths) -> anyhow::Error {
    match state::last_exit(paths) {
        Some(why) if why != "stopped" => anyhow!(
            "machine '{name}' is not running ({why}; console log: {}); start it with 'hutch machine start{}'",
            paths.console_log().display(),
            name_flag(name)
        ),
        _ => anyhow!(
            "machine '{name}' is not running; start it with 'hutch machine start{}'",
            name_flag(name)
        ),
    }
}

fn name_flag(name: &str) -> String {
    if name == "default" {
        String::new()
    } else {
        format!(" --name {name}")
    }
}

pub async fn start(opts: StartOptions) -> Result<()> {
    let paths = MachinePaths::new(&opts.name)?;
    paths::ensure_dir(&paths.dir)?;
    // Its sockets drive the machine as root: this user's alone, whatever the umask.
    std::fs::set_permissions(&paths.dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private", paths.dir.display()))?;
    if state::is_running(&paths) {
        bail!("machine '{}' is already running", opts.name);
    }
    let guest = guest_files()?;
    let choice = choose_backend(opts.backend)?;

    let began = Instant::now();
    let exe = std::env::current_exe().context("locating the hutch binary")?;
    let log = std::fs::File::create(paths.monitor_log())?;
    let mut cmd = Command::new(exe);
    cmd.args(["machine", "_monitor", "--name", &opts.name])
        .args(["--cpus", &opts.cpus.to_string()])
        .args(["--memory", &opts.memory_mib.to_string()])
        .args(["--disk-size", &opts.disk_size.to_string()])
        .arg("--kernel")
        .arg(&guest.kernel)
        .arg("--initramfs")
        .arg(&guest.initramfs)
        .args(["--backend", choice.backend.name()])
        .args(["--accel-reason", &choice.why])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    if choice.kvm {
        cmd.arg("--kvm");
    }
    // SAFETY: setsid in the forked child; async-signal-safe. The monitor
    // leaves our session so it outlives this command and the terminal.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let mut monitor = cmd.spawn().context("starting the machine monitor")?;

    let deadline = began + opts.timeout;
    loop {
        if let Some(status) = monitor.try_wait()? {
            let log = std::fs::read_to_string(paths.monitor_log()).unwrap_or_default();
            let reason = state::last_exit(&paths)
                .or_else(|| log.lines().last().map(str::to_string))
                .unwrap_or_else(|| format!("monitor exited with {status}"));
            let console = state::console_tail(&paths, 10);
            bail!(
                "machine '{}' failed to start: {reason}\n{console}",
                opts.name
            );
        }
        if paths.vsock().exists() {
            let attempt =
                tokio::time::timeout(Duration::from_secs(2), AgentClient::connect(&paths.vsock()))
                    .await;
            if let Ok(Ok(_)) = attempt {
                break;
            }
        }
        if Instant::now() > deadline {
            stop_processes(&paths);
            bail!(
                "machine '{}' did not become ready in {}s; console:\n{}",
                opts.name,
                opts.timeout.as_secs(),
                state::console_tail(&paths, 10)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    outln!(
        "machine '{}' started in {:.2}s (backend {}, accel {})",
        opts.name,
        began.elapsed().as_secs_f64(),
        choice.backend.name(),
        state::accel_name(choice.kvm)
    );
    Ok(())
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

pub async fn stop(name: &str, timeout: Duration) -> Result<()> {
    let paths = MachinePaths::new(name)?;
    if !state::is_running(&paths) {
        outln!("machine '{name}' is not running");
        return Ok(());
    }
    // Ask the agent to sync and power off; kill only if it does not.
    let asked = async {
        let mut client = AgentClient::connect(&paths.vsock()).await?;
        client.request(Request::Shutdown).await
    };
    let clean = tokio::time::timeout(Duration::from_secs(5), asked)
        .await
        .is_ok_and(|r| r.is_ok())
        && wait_stopped(&paths, timeout).await;
    if !clean {
        stop_processes(&paths);
        if !wait_stopped(&paths, Duration::from_secs(5)).await {
            bail!(
                "machine '{name}' did not stop; see {}",
                paths.monitor_log().display()
            );
        }
        outln!("machine '{name}' stopped (killed after it did not power off in time)");
    } else {
        outln!("machine '{name}' stopped");
    }
    Ok(())
}

pub async fn status(name: &str) -> Result<()> {
    let paths = MachinePaths::new(name)?;
    let running = state::is_running(&paths);
    let saved = MachineState::load(&paths);
    let (true, Some(s)) = (running, saved) else {
        outln!("name:     {name}");
        outln!("state:    stopped");
        if let Some(why) = state::last_exit(&paths) {
            outln!("last:     {why}");
        }
        return Ok(());
    };
    let mut client = AgentClient::connect(&paths.vsock())
        .await
        .context("contacting the agent")?;
    let Response::Info(info) = client.request(Request::Info).await? else {
        bail!("unexpected reply to info");
    };
    let uptime = Duration::from_millis(info.uptime_ms);
    outln!("name:     {name}");
    outln!("state:    running");
    outln!("backend:  {} (accel {})", s.backend, s.accel);
    outln!("why:      {}", s.accel_reason);
    outln!("uptime:   {}s", uptime.as_secs());
    outln!("cpus:     {}", info.cpus);
    outln!("memory:   {} MiB", info.memory_bytes >> 20);
    outln!("kernel:   {}", info.kernel);
    outln!("pid:      {} (monitor), {} (qemu)", s.monitor_pid, s.vm_pid);
    Ok(())
}
