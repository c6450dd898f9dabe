//! Volumes on the machine's disk, each a directory
//! `/var/lib/hutch/volumes/NAME` holding `volume.json` and the files
//! (`_data`), so they outlive containers and machine restarts. Which
//! containers use a volume is in their records (see `container/volumes.rs`).

use crate::container::names::{random_hex, valid_name};
use crate::container::now_ms;
use protocol::{AgentError, ErrorKind, VolumeCreate, VolumeInfo};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

const VOLUMES_DIR: &str = "/var/lib/hutch/volumes";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Volume {
    pub name: String,
    pub created_ms: u64,
    #[serde(default)]
    pub labels: Vec<(String, String)>,
    /// Made for one container rather than by name.
    #[serde(default)]
    pub anonymous: bool,
    /// The image's files at its first mount point were copied in (or it
    /// was not empty then), as docker does once.
    #[serde(default)]
    pub initialized: bool,
}

pub struct Volumes {
    root: PathBuf,
    /// Serializes creation and removal.
    lock: Mutex<()>,
}

fn storage(what: &str, e: std::io::Error) -> AgentError {
    AgentError::new(ErrorKind::Storage, format!("{what}: {e}"))
}

pub fn no_such_volume(name: &str) -> AgentError {
    AgentError::new(ErrorKind::NoSuchVolume, format!("no such volume: {name}"))
}

impl Default for Volumes {
    fn default() -> Volumes {
        Volumes::open(PathBuf::from(VOLUMES_DIR))
    }
}

impl Volumes {
    pub fn open(root: PathBuf) -> Volumes {
        Volumes {
            root,
            lock: Mutex::new(()),
        }
    }

    fn guard(&self) -> MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where its files are, in the machine.
    pub fn data(&self, name: &str) -> PathBuf {
        self.root.join(name).join("_data")
    }

    pub fn get(&self, name: &str) -> Result<Volume, AgentError> {
        // A name is one path component (no `/`, no `..`): it names a
        // directory under the volumes' root and nothing outside it.
        if !valid_name(name) {
            return Err(no_such_volume(name));
        }
        let bytes = std::fs::read(self.root.join(name).join("volume.json"))
            .map_err(|_| no_such_volume(name))?;
        serde_json::from_slice(&bytes).map_err(|_| no_such_volume(name))
    }

    fn save(&self, volume: &Volume) -> Result<(), AgentError> {
        let dir = self.root.join(&volume.name);
        let bytes = serde_json::to_vec_pretty(volume)
            .map_err(|e| AgentError::new(ErrorKind::Internal, e.to_string()))?;
        let tmp = dir.join("volume.json.tmp");
        std::fs::create_dir_all(dir.join("_data"))
            .and_then(|()| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, dir.join("volume.json")))
            .map_err(|e| storage("saving the volume", e))
    }

    /// `volume create`: a new volume, or the one by that name (docker's
    /// create is idempotent).
    pub fn create(&self, request: VolumeCreate) -> Result<Volume, AgentError> {
        self.make(request.name, request.labels, false)
    }

    /// The named volume (made if missing), or a new one with a random
    /// name (`anonymous`: made for one container's mount).
    fn make(
        &self,
        name: Option<String>,
        labels: Vec<(String, String)>,
        anonymous: bool,
    ) -> Result<Volume, AgentError> {
        let _guard = self.guard();
        let name = match name {
            Some(name) => {
                if !valid_name(&name) {
                    return Err(AgentError::new(
                        ErrorKind::BadRequest,
                        format!("invalid volume name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least two characters"),
                    ));
                }
                if let Ok(existing) = self.get(&name) {
                    return Ok(existing);
                }
                name
            }
            None => random_hex(32),
        };
        let volume = Volume {
            name,
            created_ms: now_ms(),
            labels,
            anonymous,
            initialized: false,
        };
        self.save(&volume)?;
        Ok(volume)
    }

    /// The volume a container's mount names (made if missing), or a new
    /// anonymous one.
    pub fn for_mount(&self, name: Option<&str>) -> Result<Volume, AgentError> {
        self.make(name.map(String::from), Vec::new(), name.is_none())
    }

    pub fn list(&self) -> Vec<Volume> {
        let mut all: Vec<Volume> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| self.get(&e.file_name().to_string_lossy()).ok())
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Deletes it and its files (the caller knows no container uses it).
    pub fn remove(&self, name: &str) -> Result<(), AgentError> {
        let _guard = self.guard();
        self.get(name)?;
        std::fs::remove_dir_all(self.root.join(name))
            .map_err(|e| storage(&format!("removing volume {name}"), e))
    }

    /// Once per volume, at its first mount: fills an empty volume with
    /// what the image has at the mount point (`from`), as docker does; with
    /// nothing there, gives it to `owner` (a user-namespaced container's
    /// root, which could not write to the machine root's directory).
    pub fn initialize(
        &self,
        name: &str,
        from: &Path,
        owner: Option<(u32, u32)>,
    ) -> Result<(), AgentError> {
        let _guard = self.guard();
        let mut volume = self.get(name)?;
        if volume.initialized {
            return Ok(());
        }
        let data = self.data(name);
        let empty = std::fs::read_dir(&data).map_or(true, |mut d| d.next().is_none());
        if empty && from.is_dir() {
            copy_tree(from, &data)
                .map_err(|e| storage("copying the image's files into the volume", e))?;
        } else if let (true, Some((uid, gid))) = (empty, owner) {
            std::os::unix::fs::chown(&data, Some(uid), Some(gid))
                .map_err(|e| storage("giving the volume to the container's root", e))?;
        }
        volume.initialized = true;
        self.save(&volume)
    }

    pub fn info(&self, volume: &Volume, users: Vec<String>) -> VolumeInfo {
        VolumeInfo {
            name: volume.name.clone(),
            mountpoint: self.data(&volume.name).to_string_lossy().into_owned(),
            created_ms: volume.created_ms,
            labels: volume.labels.clone(),
            anonymous: volume.anonymous,
            users,
        }
    }
}

/// Copies `from`'s contents into the directory `to`: files, directories
/// and symlinks, with their owners and modes (`to` itself takes `from`'s).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if meta.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
    } else if meta.is_file() {
        std::fs::copy(from, to)?;
    } else {
        // Devices, fifos and sockets are not copied (docker copies them;
        // a volume is for data).
        return Ok(());
    }
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))?;
    if !meta.file_type().is_symlink() {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volumes() -> (Volumes, PathBuf) {
        let dir = std::env::temp_dir().join(format!("hutch-volumes-{}", random_hex(6)));
        (Volumes::open(dir.clone()), dir)
    }

    #[test]
    fn volumes_are_created_once_listed_and_removed() {
        let (volumes, dir) = volumes();
        let create = |name: &str| VolumeCreate {
            name: Some(name.into()),
            labels: vec![("k".into(), "v".into())],
        };
        let data = volumes.create(create("data")).unwrap();
        std::fs::write(volumes.data("data").join("f"), "kept").unwrap();
        // Again: the same volume, its files untouched.
        assert_eq!(
            volumes.create(create("data")).unwrap().created_ms,
            data.created_ms
        );
        assert_eq!(
            std::fs::read_to_string(volumes.data("data").join("f")).unwrap(),
            "kept"
        );
        let anonymous = volumes.for_mount(None).unwrap();
        assert!(anonymous.anonymous && anonymous.name.len() == 64);
        let names: Vec<String> = volumes.list().into_iter().map(|v| v.name).collect();
        assert_eq!(names.len(), 2);
        assert!(names.contains(&"data".to_string()));
        volumes.remove("data").unwrap();
        assert_eq!(
            volumes.get("data").unwrap_err().kind,
            ErrorKind::NoSuchVolume
        );
        assert_eq!(
            volumes.remove("data").unwrap_err().kind,
            ErrorKind::NoSuchVolume
        );
        for outside in ["..", "../volumes", "a/../b", "/etc"] {
            assert_eq!(
                volumes.get(outside).unwrap_err().kind,
                ErrorKind::NoSuchVolume
            );
        }
        let e = volumes.create(create("-bad")).unwrap_err();
        assert!(e.message.contains("invalid volume name"), "{}", e.message);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_new_volume_takes_the_images_files_once() {
        let (volumes, dir) = volumes();
        let image = dir.join("image-vol");
        std::fs::create_dir_all(image.join("sub")).unwrap();
        std::fs::write(image.join("sub/conf"), "default").unwrap();
        std::os::unix::fs::symlink("sub/conf", image.join("link")).unwrap();
        volumes.for_mount(Some("vol")).unwrap();
        volumes.initialize("vol", &image, None).unwrap();
        let data = volumes.data("vol");
        assert_eq!(
            std::fs::read_to_string(data.join("sub/conf")).unwrap(),
            "default"
        );
        assert_eq!(
            std::fs::read_link(data.join("link")).unwrap(),
            Path::new("sub/conf")
        );
        // Only once: later changes in the volume stay.
        std::fs::remove_file(data.join("sub/conf")).unwrap();
        volumes.initialize("vol", &image, None).unwrap();
        assert!(!data.join("sub/conf").exists());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_volume_with_nothing_from_the_image_goes_to_the_containers_root() {
        use std::os::unix::fs::MetadataExt;
        let (volumes, dir) = volumes();
        volumes.for_mount(Some("fresh")).unwrap();
        let owner = (100_000, 100_000);
        volumes
            .initialize("fresh", &dir.join("not-in-image"), Some(owner))
            .unwrap();
        let meta = std::fs::metadata(volumes.data("fresh")).unwrap();
        // chown needs root; elsewhere the test only checks nothing failed.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!((meta.uid(), meta.gid()), owner);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
