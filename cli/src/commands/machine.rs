//! `hutch machine start|status|exec|stop`, and the hidden `_monitor` that
//! a started machine runs as.

use crate::attach::{self, Mode};
use crate::units;
use engine::container::ExecOptions;
use engine::machine::{
    BackendChoice, MachineStatus, StartOptions, Stopped, DEFAULT_CPUS, DEFAULT_MEMORY_MIB,
};
use engine::Engine;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum MachineCommand {
    /// Boot a machine in the background and wait until its agent answers
    Start(StartArgs),
    /// Show state, backend, uptime, vCPUs, memory and kernel
    Status(NameArg),
    /// Run a command in the machine (not in a container)
    Exec(ExecArgs),
    /// Power the machine off (killed if it does not stop in time)
    Stop(StopArgs),
    #[command(name = "_monitor", hide = true)]
    Monitor(MonitorArgs),
    #[command(name = "_share", hide = true)]
    Share(ShareArgs),
}

/// `--name`: which machine.
#[derive(clap::Args)]
pub struct NameArg {
    #[arg(long, default_value = "default")]
    name: String,
}

#[derive(clap::Args)]
pub struct StartArgs {
    #[command(flatten)]
    name: NameArg,
    /// Machine backend: auto (native where the hypervisor can run a guest
    /// kernel, else qemu), native or qemu
    #[arg(long, default_value = "auto")]
    backend: BackendChoice,
    #[arg(long, default_value_t = DEFAULT_CPUS, value_parser = clap::value_parser!(u32).range(1..=64))]
    cpus: u32,
    /// Memory in MiB
    #[arg(long, default_value_t = DEFAULT_MEMORY_MIB, value_parser = clap::value_parser!(u32).range(64..=65536))]
    memory: u32,
    /// Size of the layer-cache disk, used when the disk is created (sparse: it takes host space only as it fills)
    #[arg(long, default_value = "16g", value_parser = parse_disk_size)]
    disk_size: u64,
    /// Seconds to wait for the agent
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Share a host directory with the machine (at the same path), besides
    /// your home and temp directories; containers can bind-mount from shares
    #[arg(long = "share", value_name = "DIR")]
    shares: Vec<std::path::PathBuf>,
}

#[derive(clap::Args)]
pub struct ExecArgs {
    #[command(flatten)]
    name: NameArg,
    /// Forward stdin
    #[arg(short, long)]
    interactive: bool,
    /// Set environment variables (KEY=VALUE)
    #[arg(short, long = "env")]
    env: Vec<String>,
    /// Working directory in the guest
    #[arg(short, long)]
    workdir: Option<String>,
    #[arg(required = true, trailing_var_arg = true)]
    command: Vec<String>,
}

#[derive(clap::Args)]
pub struct StopArgs {
    #[command(flatten)]
    name: NameArg,
    /// Seconds to wait for a clean power-off
    #[arg(short, long, default_value_t = 20)]
    time: u64,
}

/// One share's file server (see `engine::machine::monitor::SHARE_ARGS`).
#[derive(clap::Args)]
pub struct ShareArgs {
    #[arg(long)]
    pub dir: std::path::PathBuf,
    #[arg(long)]
    pub socket: std::path::PathBuf,
}

#[derive(clap::Args)]
pub struct MonitorArgs {
    /// The monitor's configuration, as the engine wrote it
    #[arg(long)]
    pub config: String,
}

/// Disk sizes: docker-style units, at least 64 MiB, whole sectors.
fn parse_disk_size(text: &str) -> Result<u64, String> {
    let bytes = units::parse_size(text).map_err(|e| e.to_string())?;
    if bytes < 64 << 20 {
        return Err("the disk must be at least 64m".into());
    }
    Ok(bytes / 512 * 512)
}

pub async fn run(engine: &Engine, command: MachineCommand) -> anyhow::Result<i32> {
    match command {
        MachineCommand::Start(a) => start(engine, a).await,
        MachineCommand::Status(a) => status(engine, &a.name).await,
        MachineCommand::Exec(a) => exec(engine, a).await,
        MachineCommand::Stop(a) => stop(engine, a).await,
        // main runs the monitor before any async runtime exists.
        MachineCommand::Monitor(a) => monitor(engine, &a),
        MachineCommand::Share(a) => share(&a),
    }
}

/// A share's file server: runs until QEMU disconnects.
pub fn share(args: &ShareArgs) -> anyhow::Result<i32> {
    hutch_shares::serve(&args.dir, &args.socket)?;
    Ok(0)
}

/// The monitor's whole life: runs until the machine stops.
pub fn monitor(engine: &Engine, args: &MonitorArgs) -> anyhow::Result<i32> {
    engine.run_monitor(&args.config)?;
    Ok(0)
}

async fn start(engine: &Engine, a: StartArgs) -> anyhow::Result<i32> {
    let options = StartOptions {
        name: a.name.name.clone(),
        backend: a.backend,
        cpus: a.cpus,
        memory_mib: a.memory,
        disk_size: a.disk_size,
        timeout: Duration::from_secs(a.timeout),
        shares: a.shares,
    };
    let started = engine.start_machine(&options).await?;
    outln!(
        "machine '{}' started in {:.2}s (backend {}, accel {})",
        options.name,
        started.elapsed.as_secs_f64(),
        started.backend.name(),
        started.accel
    );
    Ok(0)
}

async fn status(engine: &Engine, name: &str) -> anyhow::Result<i32> {
    outln!("name:     {name}");
    match engine.machine_status(name).await? {
        MachineStatus::Stopped { last_exit } => {
            outln!("state:    stopped");
            if let Some(why) = last_exit {
                outln!("last:     {why}");
            }
        }
        MachineStatus::Running { monitor, guest } => {
            let uptime = Duration::from_millis(guest.uptime_ms);
            outln!("state:    running");
            let machine = &monitor.machine;
            outln!("backend:  {} (accel {})", machine.backend, machine.accel);
            outln!("why:      {}", machine.accel_reason);
            outln!("uptime:   {}s", uptime.as_secs());
            outln!("cpus:     {}", guest.cpus);
            outln!("memory:   {} MiB", guest.memory_bytes >> 20);
            outln!("kernel:   {}", guest.kernel);
            outln!(
                "pid:      {} (monitor), {} ({})",
                machine.monitor_pid,
                machine.vm_pid,
                machine.backend
            );
            for device in &monitor.devices {
                outln!("device:   {} {}", device.kind, device.detail);
            }
        }
    }
    Ok(0)
}

async fn exec(engine: &Engine, a: ExecArgs) -> anyhow::Result<i32> {
    let options = ExecOptions {
        args: a.command,
        env: a.env,
        workdir: a.workdir,
        user: None,
        stdin: a.interactive,
        tty: false,
    };
    let process = engine.exec_in_machine(&a.name.name, options).await?;
    let mode = Mode {
        stdin: a.interactive,
        tty: false,
        detach_keys: None,
    };
    attach::run_to_exit(process, mode, None).await
}

async fn stop(engine: &Engine, a: StopArgs) -> anyhow::Result<i32> {
    let name = &a.name.name;
    match engine
        .stop_machine(name, Duration::from_secs(a.time))
        .await?
    {
        Stopped::WasNotRunning => outln!("machine '{name}' is not running"),
        Stopped::Clean => outln!("machine '{name}' stopped"),
        Stopped::Killed => {
            outln!("machine '{name}' stopped (killed after it did not power off in time)")
        }
    }
    Ok(0)
}
