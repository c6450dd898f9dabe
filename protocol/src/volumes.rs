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
            MountRequest::Volume { target, .. } | MountRequest::Tmpfs { target, .. } => target,
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
    /// `volume` or `tmpfs`.
    pub kind: String,
    /// The volume's name.
    pub name: Option<String>,
    /// Where it comes from in the machine (a volume's directory).
    pub source: String,
    pub destination: String,
    pub read_only: bool,
}
