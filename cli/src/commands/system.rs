//! `hutch system df` (and `system prune`, in prune.rs; `system service`).

use crate::units::human_size;
use engine::Engine;

#[derive(clap::Subcommand)]
pub enum SystemCommand {
    /// Show images, layers, shared and unique bytes, host store and machine disk usage
    Df,
    /// Serve the Docker Engine API on a Unix socket (for the docker CLI,
    /// docker-py, compose); runs until interrupted
    Service(super::service::ServiceArgs),
    /// Remove stopped containers, unused networks and (with -a) images
    /// no container uses, and (with --volumes) unused anonymous volumes
    Prune(super::prune::SystemPruneArgs),
}

pub async fn run(engine: &Engine, command: SystemCommand) -> anyhow::Result<i32> {
    match command {
        SystemCommand::Df => df(engine).await,
        SystemCommand::Prune(a) => Ok(super::error_exits_1(super::prune::system(engine, a).await)),
        // Dispatched before the CLI's runtime starts (it builds its own).
        SystemCommand::Service(_) => unreachable!("main serves the API before this runtime starts"),
    }
}

async fn df(engine: &Engine) -> anyhow::Result<i32> {
    let usage = engine.disk_usage().await?;
    let mut rows = vec![
        row(
            "Images",
            usage.images.to_string(),
            usage.image_bytes,
            "sum of each image's layers and config".into(),
        ),
        row(
            "Layers",
            usage.layers.to_string(),
            usage.layer_bytes,
            format!(
                "each stored once; {} shared by several images ({})",
                usage.shared_layers,
                human_size(usage.shared_bytes)
            ),
        ),
        row(
            "Host store",
            String::new(),
            usage.store_allocated,
            format!("{} (on disk)", usage.store_dir.display()),
        ),
    ];
    for machine in &usage.machines {
        rows.push(row(
            &format!("Machine disk ({})", machine.name),
            String::new(),
            machine.allocated,
            format!(
                "{} (on host disk; {} virtual)",
                machine.path.display(),
                human_size(machine.size)
            ),
        ));
        if let Some(cache) = &machine.cache {
            rows.push(row(
                &format!("Machine cache ({})", machine.name),
                cache.layers.len().to_string(),
                cache.layers.iter().map(|l| l.unpacked_bytes).sum(),
                format!(
                    "layers unpacked in the machine; file system {} used of {}; {} images mounted",
                    human_size(cache.used_bytes),
                    human_size(cache.disk_bytes),
                    cache.mounted.len()
                ),
            ));
        }
    }
    outln!("{:<24} {:>7} {:>10}   DETAIL", "TYPE", "COUNT", "SIZE");
    for (kind, count, size, detail) in rows {
        outln!("{kind:<24} {count:>7} {size:>10}   {detail}");
    }
    Ok(0)
}

type Row = (String, String, String, String);

fn row(kind: &str, count: String, bytes: u64, detail: String) -> Row {
    (kind.to_string(), count, human_size(bytes), detail)
}
