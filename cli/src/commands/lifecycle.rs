//! `hutch start|stop|restart|kill|pause|unpause|rename|wait|rm|container prune`.

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
        detach_keys: None,
    };
    attach::check_terminal(&mode)?;
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

/// `hutch pause` / `hutch unpause`: a running container's processes
/// frozen and thawed.
pub async fn pause(engine: &Engine, a: ContainersArgs, pause: bool) -> anyhow::Result<i32> {
    let machine = &a.machine.machine;
    for_each(engine, machine, &a.containers, async |name| {
        engine.pause_container(machine, name, pause).await?;
        Ok(name.to_string())
    })
    .await
}

#[derive(clap::Args)]
pub struct RenameArgs {
    container: String,
    new_name: String,
    #[command(flatten)]
    machine: MachineArg,
}

/// `hutch rename OLD NEW`.
pub async fn rename(engine: &Engine, a: RenameArgs) -> anyhow::Result<i32> {
    engine
        .rename_container(&a.machine.machine, &a.container, &a.new_name)
        .await?;
    Ok(0)
}

/// `hutch restart`: stopped (if running), then started.
pub async fn restart(engine: &Engine, a: StopArgs) -> anyhow::Result<i32> {
    let machine = &a.target.machine.machine;
    for_each(engine, machine, &a.target.containers, async |name| {
        engine.restart_container(machine, name, a.time).await?;
        Ok(name.to_string())
    })
    .await
}

#[derive(clap::Subcommand)]
pub enum ContainerCommand {
    /// Remove every container that is not running
    Prune(PruneArgs),
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation
    #[arg(short, long)]
    force: bool,
    #[command(flatten)]
    machine: MachineArg,
}

pub async fn container(engine: &Engine, command: ContainerCommand) -> anyhow::Result<i32> {
    let ContainerCommand::Prune(a) = command;
    if !a.force && !confirmed("This will remove all stopped containers.")? {
        return Ok(1);
    }
    let removed = engine.prune_containers(&a.machine.machine).await?;
    super::prune::print_deleted("Deleted Containers:", &removed);
    outln!("Total reclaimed space: 0B");
    Ok(0)
}

/// docker's "Are you sure?" prompt; without a terminal to ask on, the
/// answer is no and the fix is said.
pub(super) fn confirmed(what: &str) -> anyhow::Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        bail!("{what} Pass -f to confirm (no terminal to ask on).");
    }
    eprint!("WARNING! {what}\nAre you sure you want to continue? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
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
