//! `hutch image prune`, `network prune` and `system prune` (the build
//! cache too): what nothing
//! uses goes, after docker's confirmation (or `-f`).

use super::lifecycle::confirmed;
use super::MachineArg;
use crate::units::human_size;
use engine::image::Removed;
use engine::Engine;

#[derive(clap::Args)]
pub struct ImagePruneArgs {
    /// Every image no container (of any running machine) uses; without
    /// it only images with no name (`<none>`, as a commit given none)
    #[arg(short, long)]
    all: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    force: bool,
}

#[derive(clap::Args)]
pub struct NetworkPruneArgs {
    /// Do not ask for confirmation
    #[arg(short, long)]
    force: bool,
    #[command(flatten)]
    machine: MachineArg,
}

#[derive(clap::Args)]
pub struct SystemPruneArgs {
    /// Also every image no container uses
    #[arg(short, long)]
    all: bool,
    /// Also anonymous volumes no container uses
    #[arg(long)]
    volumes: bool,
    /// Do not ask for confirmation
    #[arg(short, long)]
    force: bool,
    #[command(flatten)]
    machine: MachineArg,
}

/// docker's report of what a prune removed: a title, one line each, a
/// blank line; nothing when nothing went.
pub(super) fn print_deleted(title: &str, removed: &[String]) {
    if removed.is_empty() {
        return;
    }
    outln!("{title}");
    for item in removed {
        outln!("{item}");
    }
    outln!();
}

/// Prints what an image prune removed; the bytes it reclaimed.
async fn images(engine: &Engine, all: bool) -> anyhow::Result<u64> {
    let pruned = engine.prune_images(all).await?;
    let lines: Vec<String> = pruned
        .removal
        .removed
        .iter()
        .map(|removed| match removed {
            Removed::Untagged(name) => format!("untagged: {name}"),
            Removed::Deleted(id) => format!("deleted: {id}"),
        })
        .collect();
    print_deleted("Deleted Images:", &lines);
    for machine in &pruned.unchecked {
        eprintln!("hutch: warning: machine '{machine}' is not running: images its containers use were not counted (it keeps their layers)");
    }
    for (machine, why) in &pruned.removal.unpruned {
        eprintln!("hutch: warning: machine '{machine}' keeps unused layers: {why}");
    }
    Ok(pruned.reclaimed)
}

async fn networks(engine: &Engine, machine: &str) -> anyhow::Result<()> {
    print_deleted("Deleted Networks:", &engine.prune_networks(machine).await?);
    Ok(())
}

pub async fn image(engine: &Engine, a: ImagePruneArgs) -> anyhow::Result<i32> {
    let what = if a.all {
        "This will remove all images without at least one container associated to them."
    } else {
        "This will remove all dangling images."
    };
    if !a.force && !confirmed(what)? {
        return Ok(1);
    }
    let reclaimed = images(engine, a.all).await?;
    outln!("Total reclaimed space: {}", human_size(reclaimed));
    Ok(0)
}

pub async fn network(engine: &Engine, a: NetworkPruneArgs) -> anyhow::Result<i32> {
    if !a.force
        && !confirmed("This will remove all custom networks not used by at least one container.")?
    {
        return Ok(1);
    }
    networks(engine, &a.machine.machine).await?;
    Ok(0)
}

pub async fn system(engine: &Engine, a: SystemPruneArgs) -> anyhow::Result<i32> {
    let mut what = String::from(
        "This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n",
    );
    if a.volumes {
        what.push_str("  - all anonymous volumes not used by at least one container\n");
    }
    what.push_str(if a.all {
        "  - all images without at least one container associated to them\n"
    } else {
        "  - all dangling images\n"
    });
    what.push_str("  - all build cache\n");
    if !a.force && !confirmed(what.trim_end())? {
        return Ok(1);
    }
    let machine = a.machine.machine.as_str();
    print_deleted(
        "Deleted Containers:",
        &engine.prune_containers(machine).await?,
    );
    networks(engine, machine).await?;
    if a.volumes {
        print_deleted(
            "Deleted Volumes:",
            &engine.prune_volumes(machine, false).await?,
        );
    }
    let reclaimed = images(engine, a.all).await?;
    let (_, cache) = engine.prune_build_cache().await?;
    outln!("Total reclaimed space: {}", human_size(reclaimed + cache));
    Ok(0)
}
