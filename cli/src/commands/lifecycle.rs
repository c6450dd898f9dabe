//! `hutch start|stop|kill|wait|rm`.

use super::{for_each, MachineArg};
use crate::attach::{self, Mode};
use anyhow::bail;
use engine::signal;
use engine::Engine;

#[derive(clap::Args)]
pub struct ContainersArgs {
    #[arg(required = true)]
    containers: Vec<String>,
    #[command(flatten)]
    machine: MachineArg,
}

#[derive(clap::Args)]
pub struct StartArgs {
    /// Attach the container's output (and exit with its status)
    #[arg(short, long)]
    attach: bool,
    /// Attach stdin as well
    #[arg(short, long)]
    interactive: bool,
    #[command(flatten)]
    target: ContainersArgs,
}

#[derive(clap::Args)]
pub struct StopArgs {
    /// Seconds to wait before killing
    #[arg(short, long, default_value_t = 10)]
    time: u32,
    #[command(flatten)]
    target: ContainersArgs,
}

#[derive(clap::Args)]
pub struct KillArgs {
    /// Signal by name or number
    #[arg(short, long, default_value = "KILL", value_parser = signal::parse)]
    signal: i32,
    #[command(flatten)]
    target: ContainersArgs,
}

#[derive(clap::Args)]
pub struct RmArgs {
    /// Kill a running container first
    #[arg(short, long)]
    force: bool,
    /// Also remove its anonymous volumes
    #[arg(short, long)]
    volumes: bool,
    #[command(flatten)]
    target: ContainersArgs,
}

/// `hutch start`: detached (prints each name), or with `-a` the one
/// container's output until it exits.
pub async fn start(engine: &Engine, a: StartArgs) -> anyhow::Result<i32> {
    let machine = &a.target.machine.machine;
    if !(a.attach || a.interactive) {
        return for_each(engine, machine, &a.target.containers, async |name| {
            engine.start_container(machine, name).await?;
            Ok(name.to_string())
        })
        .await;
    }
    let [container] = a.target.containers.as_slice() else {
        bail!("you cannot start and attach multiple containers at once");
    };
    let tty = engine.inspect_container(machine, container).await?.tty;
    let mode = Mode {
        stdin: a.interactive,
        tty,
    };
    attach::check_terminal(mode)?;
    let process = engine
        .attach_container(machine, container, mode.stdin)
        .await?;
    attach::run_to_exit(process, mode, Some((engine, machine, container))).await
}

/// `hutch stop`: SIGTERM, then SIGKILL after the timeout.
pub async fn stop(engine: &Engine, a: StopArgs) -> anyhow::Result<i32> {
    let machine = &a.target.machine.machine;
    for_each(engine, machine, &a.target.containers, async |name| {
        engine.stop_container(machine, name, a.time).await?;
        Ok(name.to_string())
    })
    .await
}

/// `hutch kill`: a signal (default SIGKILL) to running containers.
pub async fn kill(engine: &Engine, a: KillArgs) -> anyhow::Result<i32> {
    let machine = &a.target.machine.machine;
    for_each(engine, machine, &a.target.containers, async |name| {
        engine.kill_container(machine, name, a.signal).await?;
        Ok(name.to_string())
    })
    .await
}

/// `hutch wait`: blocks until each has exited; prints its exit code.
pub async fn wait(engine: &Engine, a: ContainersArgs) -> anyhow::Result<i32> {
    let machine = &a.machine.machine;
    for_each(engine, machine, &a.containers, async |name| {
        let status = engine.wait_container(machine, name).await?;
        Ok(status.shell_code().to_string())
    })
    .await
}

/// `hutch rm`: by name or id; `-f` kills a running one first.
pub async fn rm(engine: &Engine, a: RmArgs) -> anyhow::Result<i32> {
    let machine = &a.target.machine.machine;
    for_each(engine, machine, &a.target.containers, async |name| {
        engine
            .remove_container(machine, name, a.force, a.volumes)
            .await?;
        Ok(name.to_string())
    })
    .await
}
