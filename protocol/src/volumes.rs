//! Volumes: directories on the machine's disk that outlive containers
//! (named ones, and anonymous ones made for `-v /path` and an image's
//! `VOLUME`s), and the tmpfs mounts a container asks for.

use serde::{Deserialize, Serialize};

/// A mount a container asks for when it is created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MountRequest {
    /// A volume by name (created on first use), or a new anonymous one.
    Volume {
        name: Option<String>,
        target: String,
        read_only: bool,
    },
    /// A host directory (or file) from one of the machine's shares, at the
    /// same path in the machine as on the host.
    Bind {
        source: String,
        target: String,
        read_only: bool,
        /// Made when missing (docker's `-v`) rather than refused
        /// (`--mount`); the engine does it on the host before asking.
        create: bool,
    },
    /// A tmpfs of its own, limited to `size_bytes` when given.
    Tmpfs {
        target: String,
        size_bytes: Option<u64>,
        /// Permission bits of its root (docker's default 1777).
        mode: Option<u32>,
    },
}

impl MountRequest {
    pub fn target(&self) -> &str {
        match self {
            MountRequest::Volume { target, .. }
            | MountRequest::Bind { target, .. }
            | MountRequest::Tmpfs { target, .. } => target,
        }
    }
}

/// `hutch volume create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeCreate {
    /// A random 64-hex-digit name when absent, as docker's.
    pub name: Option<String>,
    pub labels: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeInfo {
    pub name: String,
    /// Where it lives in the machine.
    pub mountpoint: String,
    pub created_ms: u64,
    pub labels: Vec<(String, String)>,
    /// Made for one container (`-v /path`, an image's `VOLUME`), not by name.
    pub anonymous: bool,
    /// The containers whose mounts name it.
    pub users: Vec<String>,
}

/// A container's mount, as `inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountInfo {
    /// `volume`, `bind` or `tmpfs`.
    pub kind: String,
    /// The volume's name.
    pub name: Option<String>,
    /// Where it comes from in the machine (a volume's directory; a bind
    /// mount's host path, the same in the machine).
    pub source: String,
    pub destination: String,
    pub read_only: bool,
}

/// The host port a machine's agent connects to (vsock CID 2) to hear of
/// host changes under its containers' bind mounts: virtio-fs tells the
/// guest nothing when the host changes a file, so inotify watchers in
/// containers would sleep through edits. The agent sends one
/// [`WatchRequest`]; the host answers with [`WatchEvents`] until the agent
/// closes the connection (the container exited).
pub const WATCH_PORT: u32 = 1028;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchRequest {
    /// Host directories (inside the machine's shares), watched recursively.
    pub dirs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEvents {
    /// What changed on the host: each path created, written or renamed
    /// there, and the directory of each path created, renamed or removed.
    pub changed: Vec<HostChange>,
}

/// A host path that changed, with its times as the host has them now (the
/// guest's cached ones may be stale): the agent sets exactly these, so the
/// host file is left as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostChange {
    pub path: String,
    /// (seconds, nanoseconds) since the epoch.
    pub atime: (i64, i64),
    pub mtime: (i64, i64),
}
