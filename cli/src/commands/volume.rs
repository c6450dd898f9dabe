//! `hutch volume`: volumes on the machine's disk, as docker's commands.

use super::{ListArgs, MachineArg, NamesArgs};
use engine::volume::{VolumeCreate, VolumeInspect};
use engine::Engine;

#[derive(clap::Subcommand)]
pub enum VolumeCommand {
    /// Create a volume (a random name when none is given)
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(ListArgs),
    /// Show volumes in docker's JSON shape
    Inspect(NamesArgs),
    /// Remove volumes no container uses
    #[command(visible_alias = "remove")]
    Rm(RemoveArgs),
    /// Remove unused anonymous volumes (all unused ones with -a)
    Prune(PruneArgs),
}

#[derive(clap::Args)]
pub struct CreateArgs {
    name: Option<String>,
    /// Driver (only `local`)
    #[arg(short, long, default_value = "local", value_parser = ["local"])]
    driver: String,
    /// Set metadata on the volume: KEY=VALUE
    #[arg(long = "label")]
    labels: Vec<String>,
    #[command(flatten)]
    machine: MachineArg,
}

#[derive(clap::Args)]
pub struct RemoveArgs {
    #[arg(required = true)]
    names: Vec<String>,
    /// Do not report volumes that do not exist
    #[arg(short, long)]
    force: bool,
    #[command(flatten)]
    machine: MachineArg,
}

#[derive(clap::Args)]
pub struct PruneArgs {
    /// Also named volumes no container uses
    #[arg(short, long)]
    all: bool,
    /// Do not ask (hutch never asks)
    #[arg(short, long)]
    force: bool,
    #[command(flatten)]
    machine: MachineArg,
}

pub async fn run(engine: &Engine, command: VolumeCommand) -> anyhow::Result<i32> {
    Ok(super::error_exits_1(act(engine, command).await))
}

async fn act(engine: &Engine, command: VolumeCommand) -> anyhow::Result<i32> {
    match command {
        VolumeCommand::Create(a) => {
            let create = VolumeCreate {
                name: a.name,
                labels: super::labels(&a.labels),
            };
            let volume = engine.create_volume(&a.machine.machine, create).await?;
            outln!("{}", volume.name);
        }
        VolumeCommand::Ls(a) => {
            let volumes = engine.list_volumes(&a.machine.machine).await?;
            if !a.quiet {
                outln!("{:<10} VOLUME NAME", "DRIVER");
            }
            for v in &volumes {
                if a.quiet {
                    outln!("{}", v.name);
                } else {
                    outln!("{:<10} {}", "local", v.name);
                }
            }
        }
        VolumeCommand::Inspect(a) => {
            let machine = &a.machine.machine;
            engine.connect_running(machine).await?;
            return super::inspect::print_each(&a.names, async |name| {
                let volume = engine.inspect_volume(machine, name).await?;
                Ok(VolumeInspect::from(&volume))
            })
            .await;
        }
        VolumeCommand::Rm(a) => {
            let machine = &a.machine.machine;
            return super::for_each(engine, machine, &a.names, async |name| {
                match engine.remove_volume(machine, name).await {
                    Err(e) if !(a.force && e.kind() == engine::ErrorKind::NotFound) => Err(e),
                    _ => Ok(name.to_string()),
                }
            })
            .await;
        }
        VolumeCommand::Prune(a) => {
            let removed = engine.prune_volumes(&a.machine.machine, a.all).await?;
            super::prune::print_deleted("Deleted Volumes:", &removed);
            outln!("Total reclaimed volumes: {}", removed.len());
        }
    }
    Ok(0)
}
