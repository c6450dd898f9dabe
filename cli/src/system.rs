//! `hutch system df`: what images take on the host (each layer stored once,
//! however many images share it) and what each machine's layer disk takes.

use crate::agent::AgentClient;
use crate::image::{manifest, store::Store};
use crate::machine::state;
use crate::paths::{self, MachinePaths};
use crate::units::human_size;
use anyhow::{bail, Result};
use protocol::{Request, Response};
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub async fn df() -> Result<()> {
    let store = Store::open(&paths::hutch_home()?)?;
    let mut images = BTreeMap::new();
    for digest in store.tags()?.values() {
        images.insert(digest.clone(), manifest::load(&store, digest)?);
    }
    // blob digest → (size, images using it)
    let mut layers: BTreeMap<String, (u64, usize)> = BTreeMap::new();
    for image in images.values() {
        for l in image.manifest.layers() {
            layers
                .entry(l.digest().to_string())
                .or_insert((l.size(), 0))
                .1 += 1;
        }
    }
    let image_bytes: u64 = images.values().map(|i| i.stored_size()).sum();
    let layer_bytes: u64 = layers.values().map(|(size, _)| size).sum();
    let shared: Vec<u64> = layers
        .values()
        .filter(|(_, users)| *users > 1)
        .map(|(size, _)| *size)
        .collect();

    let mut rows = vec![
        row(
            "Images",
            images.len().to_string(),
            image_bytes,
            "sum of each image's layers and config".into(),
        ),
        row(
            "Layers",
            layers.len().to_string(),
            layer_bytes,
            format!(
                "each stored once; {} shared by several images ({})",
                shared.len(),
                human_size(shared.iter().sum())
            ),
        ),
        row(
            "Host store",
            String::new(),
            allocated_bytes(store.root()),
            format!("{} (on disk)", store.root().display()),
        ),
    ];
    for name in crate::machine::machine_names()? {
        if MachinePaths::new(&name)?.disk().exists() {
            rows.extend(machine_rows(&name).await?);
        }
    }
    outln!("{:<24} {:>7} {:>10}   DETAIL", "TYPE", "COUNT", "SIZE");
    for (kind, count, size, detail) in rows {
        outln!("{kind:<24} {count:>7} {size:>10}   {detail}");
    }
    Ok(())
}

type Row = (String, String, String, String);

fn row(kind: &str, count: String, bytes: u64, detail: String) -> Row {
    (kind.to_string(), count, human_size(bytes), detail)
}

async fn machine_rows(name: &str) -> Result<Vec<Row>> {
    let paths = MachinePaths::new(name)?;
    let disk = std::fs::metadata(paths.disk())?;
    let mut rows = vec![row(
        &format!("Machine disk ({name})"),
        String::new(),
        disk.blocks() * 512,
        format!(
            "{} (on host disk; {} virtual)",
            paths.disk().display(),
            human_size(disk.len())
        ),
    )];
    if !state::is_running(&paths) {
        return Ok(rows);
    }
    let mut client = AgentClient::connect(&paths.vsock()).await?;
    let Response::DiskUsage(usage) = client.request(Request::DiskUsage).await? else {
        bail!("unexpected reply to a disk usage request");
    };
    rows.push(row(
        &format!("Machine cache ({name})"),
        usage.layers.len().to_string(),
        usage.layers.iter().map(|l| l.unpacked_bytes).sum(),
        format!(
            "layers unpacked in the machine; file system {} used of {}; {} images mounted",
            human_size(usage.used_bytes),
            human_size(usage.disk_bytes),
            usage.mounted.len()
        ),
    ));
    Ok(rows)
}

/// Bytes a directory tree really occupies on disk.
fn allocated_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => allocated_bytes(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}
