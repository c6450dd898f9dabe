//! The machine's layer cache: each layer unpacked once, keyed by its diff
//! id, on the layer disk; read-only image roots assembled from them.
//!
//! Layout under the cache root: `layers/<hex>/root` (the unpacked layer)
//! and `layers/<hex>/size`; `tmp/` holds layers being unpacked or deleted,
//! so a layer appears under `layers/` whole (by rename) or not at all.

mod disk;
pub mod unpack;
pub mod whiteout;

use crate::sys::mount::{bind_read_only, disk_space, mount, sync_fs, unmount};
use protocol::compression::decompressed;
use protocol::{AgentError, CacheUsage, CachedLayer, Digest, ErrorKind, LayerUpload};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use unpack::{unpack, UnpackError, Unpacking};

pub const CACHE_ROOT: &str = "/var/lib/hutch";
const MOUNT_ROOT: &str = "/run/hutch/images";
/// Overlay takes its options in one page.
const MAX_MOUNT_OPTIONS: usize = 4095;

pub struct LayerCache {
    root: PathBuf,
    /// Why the cache cannot be used, if it cannot.
    broken: Option<String>,
    /// Mounted images by id: their path.
    mounts: Mutex<BTreeMap<Digest, String>>,
    /// Layers in use, by holder (a mounted image's id, a container's id):
    /// prune keeps them, and holds this lock while it removes.
    held: Mutex<BTreeMap<String, Vec<Digest>>>,
    counter: AtomicU64,
}

fn storage(what: &str, path: &Path, e: io::Error) -> AgentError {
    AgentError::new(
        ErrorKind::Storage,
        format!("{what} {}: {e}", path.display()),
    )
}

impl LayerCache {
    /// Mounts the layer disk (formatting it on first boot) and clears what
    /// an interrupted unpack or delete left. A failure is kept and reported
    /// by every request that needs the cache.
    pub fn open_disk() -> Self {
        let root = PathBuf::from(CACHE_ROOT);
        let broken = disk::mount_layer_disk(&root)
            .and_then(|()| Self::prepare_dirs(&root))
            .err();
        if let Some(why) = &broken {
            crate::sys::console::log(&format!("layer cache unavailable: {why}"));
        }
        Self::with_root(root, broken)
    }

    fn with_root(root: PathBuf, broken: Option<String>) -> Self {
        LayerCache {
            root,
            broken,
            mounts: Mutex::new(BTreeMap::new()),
            held: Mutex::new(BTreeMap::new()),
            counter: AtomicU64::new(0),
        }
    }

    fn prepare_dirs(root: &Path) -> Result<(), String> {
        let tmp = root.join("tmp");
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)
                .map_err(|e| format!("clearing {}: {e}", tmp.display()))?;
        }
        for dir in [root.join("layers"), tmp] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        Ok(())
    }

    fn check(&self) -> Result<(), AgentError> {
        match &self.broken {
            Some(why) => Err(AgentError::new(
                ErrorKind::Storage,
                format!("the machine's layer cache is unavailable: {why}"),
            )),
            None => Ok(()),
        }
    }

    /// A digest is validated hex, so it is safe as a file name.
    fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    fn scratch(&self, hex: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.root.join("tmp").join(format!("{hex}.{n}"))
    }

    /// The listed layers that the cache holds.
    pub fn present(&self, diff_ids: &[Digest]) -> Result<Vec<Digest>, AgentError> {
        self.check()?;
        Ok(diff_ids
            .iter()
            .filter(|id| self.layer_dir(id).join("root").is_dir())
            .cloned()
            .collect())
    }

    /// Unpacks one uploaded layer blob read from `input`; returns the
    /// layer's unpacked size. The layer becomes visible only once whole and
    /// verified against its diff id; on any failure nothing is left.
    pub fn receive(&self, upload: &LayerUpload, input: impl Read) -> Result<u64, AgentError> {
        self.check()?;
        let dir = self.layer_dir(&upload.diff_id);
        let mut body = Counted::new(input.take(upload.size));
        if dir.is_dir() {
            // Stored meanwhile by another upload: take the bytes, keep ours.
            io::copy(&mut body, &mut io::sink()).map_err(|e| storage("reading", &dir, e))?;
            return Ok(read_size(&dir));
        }
        let tmp = self.scratch(upload.diff_id.hex());
        let result = self.unpack_verified(upload, &mut body, &tmp);
        let result = result.and_then(|size| match std::fs::rename(&tmp, &dir) {
            Ok(()) => Ok(size),
            Err(_) if dir.is_dir() => Ok(size),
            Err(e) => Err(storage("storing", &dir, e)),
        });
        if tmp.exists() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        result
    }

    fn unpack_verified(
        &self,
        upload: &LayerUpload,
        body: &mut Counted<impl Read>,
        tmp: &Path,
    ) -> Result<u64, AgentError> {
        let root = tmp.join("root");
        std::fs::create_dir_all(&root).map_err(|e| storage("creating", &root, e))?;
        let unpacked = {
            let plain = decompressed(&mut *body).map_err(|e| {
                AgentError::new(ErrorKind::InvalidLayer, format!("reading the layer: {e}"))
            })?;
            let mut hashed = Hashed::new(plain);
            let result = unpack(&mut hashed, &root, &Unpacking::LAYER);
            result.map(|stats| (stats, hashed.digest()))
        };
        let (stats, digest) = unpacked.map_err(|e| self.unpack_failure(e))?;
        io::copy(body, &mut io::sink()).map_err(|e| storage("reading", tmp, e))?;
        if body.count != upload.size {
            return Err(AgentError::new(
                ErrorKind::InvalidLayer,
                format!(
                    "the upload ended after {} of {} bytes",
                    body.count, upload.size
                ),
            ));
        }
        if digest != upload.diff_id {
            return Err(AgentError::new(
                ErrorKind::InvalidLayer,
                format!(
                    "layer content does not match its diff id: expected {}, got {digest}",
                    upload.diff_id
                ),
            ));
        }
        let size_file = tmp.join("size");
        std::fs::write(&size_file, stats.file_bytes.to_string()).map_err(|e| {
            self.unpack_failure(UnpackError::Io {
                path: size_file.display().to_string(),
                source: e,
            })
        })?;
        sync_fs(&self.root).map_err(|e| storage("syncing", &self.root, e))?;
        Ok(stats.file_bytes)
    }

    fn unpack_failure(&self, e: UnpackError) -> AgentError {
        if e.is_disk_full() {
            let (total, used) = disk_space(&self.root).unwrap_or((0, 0));
            return AgentError::new(
                ErrorKind::DiskFull,
                format!(
                    "the machine's layer disk is full ({} of {} MiB used): remove unused images with 'hutch rmi', or recreate the machine with a larger --disk-size",
                    used >> 20,
                    total >> 20
                ),
            );
        }
        match e {
            UnpackError::Io { .. } => AgentError::new(ErrorKind::Storage, e.to_string()),
            _ => AgentError::new(ErrorKind::InvalidLayer, e.to_string()),
        }
    }

    /// Mounts an image's root filesystem read-only (layers bottom to top);
    /// mounting a mounted image returns its path again.
    pub fn mount(&self, image_id: &Digest, diff_ids: &[Digest]) -> Result<String, AgentError> {
        self.check()?;
        let mut mounts = self.mounts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(path) = mounts.get(image_id) {
            return Ok(path.clone());
        }
        let holder = image_id.to_string();
        // Held first, so a prune either finishes before the check below or
        // keeps these layers.
        self.hold(&holder, diff_ids);
        let lower = self
            .lower_dirs(diff_ids)
            .inspect_err(|_| self.release(&holder))?;
        let path = format!("{MOUNT_ROOT}/{}", image_id.short());
        let mount_failed =
            |e: io::Error| AgentError::new(ErrorKind::Storage, format!("mounting {path}: {e}"));
        let mounted = match lower.as_slice() {
            [] => Err(AgentError::new(
                ErrorKind::BadRequest,
                "the image has no layers",
            )),
            // Overlay wants two lower layers when there is no upper one.
            [only] => bind_read_only(only, &path).map_err(mount_failed),
            _ => {
                let options = format!("lowerdir={}", lower.join(":"));
                if options.len() > MAX_MOUNT_OPTIONS {
                    Err(AgentError::new(
                        ErrorKind::BadRequest,
                        format!("the image has too many layers ({}) to mount", lower.len()),
                    ))
                } else {
                    mount("overlay", &path, "overlay", libc::MS_RDONLY, &options)
                        .map_err(mount_failed)
                }
            }
        };
        mounted.inspect_err(|_| self.release(&holder))?;
        mounts.insert(image_id.clone(), path.clone());
        Ok(path)
    }

    /// The layers' directories top first, as overlayfs's lowerdir lists them.
    pub fn lower_dirs(&self, diff_ids: &[Digest]) -> Result<Vec<String>, AgentError> {
        self.check()?;
        let mut lower = Vec::new();
        for id in diff_ids.iter().rev() {
            let root = self.layer_dir(id).join("root");
            if !root.is_dir() {
                return Err(AgentError::new(
                    ErrorKind::BadRequest,
                    format!("layer {id} is not in the machine's cache"),
                ));
            }
            lower.push(root.to_string_lossy().into_owned());
        }
        Ok(lower)
    }

    /// Keeps `diff_ids` from pruning while `holder` exists.
    pub fn hold(&self, holder: &str, diff_ids: &[Digest]) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.insert(holder.to_string(), diff_ids.to_vec());
    }

    pub fn release(&self, holder: &str) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        held.remove(holder);
    }

    pub fn unmount(&self, image_id: &Digest) -> Result<(), AgentError> {
        let mut mounts = self.mounts.lock().unwrap_or_else(|p| p.into_inner());
        let Some(path) = mounts.get(image_id) else {
            return Err(AgentError::new(
                ErrorKind::BadRequest,
                format!("image {image_id} is not mounted"),
            ));
        };
        unmount(path, 0)
            .map_err(|e| AgentError::new(ErrorKind::Storage, format!("unmounting {path}: {e}")))?;
        let _ = std::fs::remove_dir(path);
        mounts.remove(image_id);
        self.release(image_id.as_str());
        Ok(())
    }

    /// Removes every cached layer not in `keep` and not used by a mount.
    /// A layer is first renamed into `tmp/`, so none is ever half there.
    pub fn prune(&self, keep: &[Digest]) -> Result<Vec<Digest>, AgentError> {
        self.check()?;
        let mut wanted: BTreeSet<&Digest> = keep.iter().collect();
        let held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        for layers in held.values() {
            wanted.extend(layers.iter());
        }
        let layers = self.root.join("layers");
        let entries = std::fs::read_dir(&layers).map_err(|e| storage("listing", &layers, e))?;
        let mut removed = Vec::new();
        for entry in entries.flatten() {
            let Some(id) = layer_of_entry(&entry) else {
                continue; // not ours
            };
            if wanted.contains(&id) {
                continue;
            }
            let doomed = self.scratch(id.hex());
            std::fs::rename(entry.path(), &doomed)
                .map_err(|e| storage("removing", &entry.path(), e))?;
            std::fs::remove_dir_all(&doomed).map_err(|e| storage("removing", &doomed, e))?;
            removed.push(id);
        }
        sync_fs(&self.root).map_err(|e| storage("syncing", &self.root, e))?;
        Ok(removed)
    }

    pub fn usage(&self) -> Result<CacheUsage, AgentError> {
        self.check()?;
        let (disk_bytes, used_bytes) =
            disk_space(&self.root).map_err(|e| storage("measuring", &self.root, e))?;
        let layers_dir = self.root.join("layers");
        let entries =
            std::fs::read_dir(&layers_dir).map_err(|e| storage("listing", &layers_dir, e))?;
        let mut layers: Vec<CachedLayer> = entries
            .flatten()
            .filter_map(|e| {
                Some(CachedLayer {
                    diff_id: layer_of_entry(&e)?,
                    unpacked_bytes: read_size(&e.path()),
                })
            })
            .collect();
        layers.sort_by(|a, b| a.diff_id.cmp(&b.diff_id));
        let mounted = self
            .mounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        Ok(CacheUsage {
            disk_bytes,
            used_bytes,
            layers,
            mounted,
        })
    }
}

/// The layer a directory under `layers/` holds.
fn layer_of_entry(entry: &std::fs::DirEntry) -> Option<Digest> {
    format!("sha256:{}", entry.file_name().to_string_lossy())
        .parse()
        .ok()
}

fn read_size(layer_dir: &Path) -> u64 {
    std::fs::read_to_string(layer_dir.join("size"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Counts the bytes read through it.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R> Counted<R> {
    fn new(inner: R) -> Self {
        Counted { inner, count: 0 }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// sha256 of the bytes read through it.
struct Hashed<R> {
    inner: R,
    hasher: Sha256,
}

impl<R> Hashed<R> {
    fn new(inner: R) -> Self {
        Hashed {
            inner,
            hasher: Sha256::new(),
        }
    }

    fn digest(self) -> Digest {
        Digest::from_hash(self.hasher.finalize().into())
    }
}

impl<R: Read> Read for Hashed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
