//! Disk usage: what images take on the host (each layer stored once,
//! however many images share it) and what each machine's layer disk takes.

use crate::image::{manifest, ImageError};
use crate::{Engine, Result};
use protocol::CacheUsage;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct DiskUsage {
    pub images: usize,
    /// Each image's layers and config, summed over images.
    pub image_bytes: u64,
    pub layers: usize,
    /// Each layer counted once.
    pub layer_bytes: u64,
    /// Layers more than one image uses, and their bytes.
    pub shared_layers: usize,
    pub shared_bytes: u64,
    pub store_dir: PathBuf,
    /// What the store occupies on the host's disk.
    pub store_allocated: u64,
    pub machines: Vec<MachineDisk>,
}

#[derive(Debug, Clone)]
pub struct MachineDisk {
    pub name: String,
    pub path: PathBuf,
    /// Host blocks the sparse disk file occupies.
    pub allocated: u64,
    /// Its size as the guest sees it.
    pub size: u64,
    /// The layer cache, when the machine runs.
    pub cache: Option<CacheUsage>,
}

impl Engine {
    pub async fn disk_usage(&self) -> Result<DiskUsage> {
        let store = self.store()?;
        let mut images = BTreeMap::new();
        for digest in store.tags().map_err(ImageError::from)?.values() {
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
        let shared: Vec<u64> = layers
            .values()
            .filter(|(_, users)| *users > 1)
            .map(|(size, _)| *size)
            .collect();
        let mut machines = Vec::new();
        for name in self.machine_names()? {
            let paths = self.home().machine(&name)?;
            let Ok(disk) = std::fs::metadata(paths.disk()) else {
                continue;
            };
            let cache = match self.machine_is_running(&name)? {
                true => Some(self.connect_running(&name).await?.disk_usage().await?),
                false => None,
            };
            machines.push(MachineDisk {
                name,
                path: paths.disk(),
                allocated: disk.blocks() * 512,
                size: disk.len(),
                cache,
            });
        }
        Ok(DiskUsage {
            images: images.len(),
            image_bytes: images.values().map(|i| i.stored_size()).sum(),
            layers: layers.len(),
            layer_bytes: layers.values().map(|(size, _)| size).sum(),
            shared_layers: shared.len(),
            shared_bytes: shared.iter().sum(),
            store_dir: store.root().to_path_buf(),
            store_allocated: allocated_bytes(store.root()),
            machines,
        })
    }
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
