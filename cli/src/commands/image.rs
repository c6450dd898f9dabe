//! `hutch images`, `image inspect|ls|import|tag|rm|mount|unmount`,
//! `import`, `tag`, `rmi`, `load`, `save`, `history` (`image prune` is in
//! prune.rs).

use super::MachineArg;
use crate::time::ago;
use crate::units::human_size;
use engine::image::{ImageName, Reference, Removed};
use engine::Engine;
use std::collections::BTreeSet;

#[derive(clap::Subcommand)]
pub enum ImageCommand {
    /// Show images' details as JSON
    Inspect(ImagesArgs),
    /// List images
    Ls(ListArgs),
    /// Create a one-layer image from a rootfs tarball (`-` for stdin)
    Import(ImportArgs),
    /// Give an image another name
    Tag(TagArgs),
    /// Remove images
    Rm(ImagesArgs),
    /// Assemble an image's root filesystem (read-only) in the machine and print its path there
    Mount(MountArgs),
    /// Undo `image mount`
    Unmount(MountArgs),
    /// Remove images no container uses (-a), after a confirmation
    Prune(super::prune::ImagePruneArgs),
    /// Show how an image was made, newest step first
    History(HistoryArgs),
}

#[derive(clap::Args)]
pub struct ListArgs {
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show manifest digests
    #[arg(long)]
    digests: bool,
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// Rootfs tarball, plain or gzipped (`-` for standard input)
    file: String,
    reference: Reference,
}

#[derive(clap::Args)]
pub struct TagArgs {
    source: ImageName,
    target: Reference,
}

#[derive(clap::Args)]
pub struct ImagesArgs {
    #[arg(required = true)]
    images: Vec<ImageName>,
}

#[derive(clap::Args)]
pub struct MountArgs {
    image: ImageName,
    /// The machine (started if it is not running)
    #[command(flatten)]
    machine: MachineArg,
}

#[derive(clap::Args)]
pub struct HistoryArgs {
    image: ImageName,
    /// Show whole commands
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct LoadArgs {
    /// Archive to read (default: standard input)
    #[arg(short, long)]
    input: Option<String>,
}

#[derive(clap::Args)]
pub struct SaveArgs {
    #[arg(short, long)]
    output: String,
    #[arg(required = true)]
    images: Vec<ImageName>,
}

pub async fn run(engine: &Engine, command: ImageCommand) -> anyhow::Result<i32> {
    match command {
        ImageCommand::Inspect(a) => inspect(engine, &a.images)?,
        ImageCommand::Ls(a) => list(engine, &a)?,
        ImageCommand::Import(a) => import(engine, &a)?,
        ImageCommand::Tag(a) => engine.tag(&a.source, &a.target)?,
        ImageCommand::Rm(a) => remove(engine, &a.images).await?,
        ImageCommand::Mount(a) => {
            let path = engine.mount_image(&a.image, &a.machine.machine).await?;
            outln!("{path}");
        }
        ImageCommand::Unmount(a) => engine.unmount_image(&a.image, &a.machine.machine).await?,
        ImageCommand::Prune(a) => return super::prune::image(engine, a).await,
        ImageCommand::History(a) => return history(engine, a),
    }
    Ok(0)
}

/// A file by name, or standard input for `-` (or no name).
fn input(path: Option<&str>) -> anyhow::Result<(Box<dyn std::io::Read>, String)> {
    match path {
        None | Some("-") => Ok((Box::new(std::io::stdin()), "standard input".into())),
        Some(p) => {
            let file = std::fs::File::open(p)
                .map_err(|e| anyhow::anyhow!(e).context(format!("opening {p}")))?;
            Ok((Box::new(file), p.to_string()))
        }
    }
}

fn import(engine: &Engine, a: &ImportArgs) -> anyhow::Result<()> {
    let (reader, _) = input(Some(&a.file))?;
    let id = engine.import(reader, &a.file, &a.reference)?;
    outln!("{id}");
    Ok(())
}

pub fn load(engine: &Engine, a: LoadArgs) -> anyhow::Result<i32> {
    let (reader, name) = input(a.input.as_deref())?;
    for loaded in engine.load(reader, &name)? {
        outln!("Loaded image: {loaded}");
    }
    Ok(0)
}

pub fn save(engine: &Engine, a: SaveArgs) -> anyhow::Result<i32> {
    engine.save(&a.images, std::path::Path::new(&a.output))?;
    Ok(0)
}

fn list(engine: &Engine, a: &ListArgs) -> anyhow::Result<()> {
    let images = engine.images()?;
    if a.quiet {
        let mut seen = BTreeSet::new();
        for image in &images {
            if seen.insert(image.id.clone()) {
                outln!("{}", image.id.short());
            }
        }
        return Ok(());
    }
    let header_digest = match a.digests {
        true => format!("{:<72} ", "DIGEST"),
        false => String::new(),
    };
    outln!(
        "{:<40} {:<12} {header_digest}{:<14} {:<24} SIZE",
        "REPOSITORY",
        "TAG",
        "IMAGE ID",
        "CREATED"
    );
    for image in images {
        let created = image.created.as_deref().map_or_else(|| "N/A".into(), ago);
        let digest = match a.digests {
            true => format!("{:<72} ", image.manifest_digest),
            false => String::new(),
        };
        outln!(
            "{:<40} {:<12} {digest}{:<14} {created:<24} {}",
            image.repository,
            image.tag,
            image.id.short(),
            human_size(image.size)
        );
    }
    Ok(())
}

/// docker's `history`: IMAGE, CREATED, CREATED BY, SIZE, COMMENT.
pub fn history(engine: &Engine, a: HistoryArgs) -> anyhow::Result<i32> {
    let steps = engine.image_history(&a.image)?;
    let id = |step: &engine::image::HistoryStep| {
        step.id
            .as_ref()
            .map_or_else(|| "<missing>".to_string(), |d| d.short().to_string())
    };
    if a.quiet {
        for step in &steps {
            outln!("{}", id(step));
        }
        return Ok(0);
    }
    outln!(
        "{:<14} {:<24} {:<45} {:<10} COMMENT",
        "IMAGE",
        "CREATED",
        "CREATED BY",
        "SIZE"
    );
    for step in &steps {
        let created = step.created.as_deref().map_or_else(|| "N/A".into(), ago);
        let mut by = step.created_by.replace('\t', " ");
        if !a.no_trunc && by.chars().count() > 44 {
            by = by.chars().take(43).collect::<String>() + "…";
        }
        outln!(
            "{:<14} {created:<24} {by:<45} {:<10} {}",
            id(step),
            human_size(step.size),
            step.comment
        );
    }
    Ok(0)
}

async fn remove(engine: &Engine, names: &[ImageName]) -> anyhow::Result<()> {
    let removal = engine.remove_images(names).await?;
    for removed in removal.removed {
        match removed {
            Removed::Untagged(name) => outln!("Untagged: {name}"),
            Removed::Deleted(id) => outln!("Deleted: {id}"),
        }
    }
    for (machine, layers) in removal.pruned {
        outln!("Removed {layers} cached layers from machine '{machine}'");
    }
    for (machine, why) in removal.unpruned {
        eprintln!("hutch: warning: machine '{machine}' keeps unused layers: {why}");
    }
    Ok(())
}

fn inspect(engine: &Engine, names: &[ImageName]) -> anyhow::Result<()> {
    let details = names
        .iter()
        .map(|n| engine.inspect_image(n))
        .collect::<Result<Vec<_>, _>>()?;
    outln!("{}", serde_json::to_string_pretty(&details)?);
    Ok(())
}
