//! A container's record on the layer disk (`record.json`): what it was
//! created from and its state, rewritten whole (temp file, then rename)
//! on every change.

use crate::network::Attachment;
use oci_spec::runtime::Spec;
use protocol::{
    AgentError, ContainerInfo, ContainerState, Digest, ErrorKind, Membership, MountInfo,
    PortBinding, PublishedPorts,
};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::Path;

pub(super) fn storage(what: &str, e: std::io::Error) -> AgentError {
    AgentError::new(ErrorKind::Storage, format!("{what}: {e}"))
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Record {
    pub(super) info: ContainerInfo,
    pub(super) image_id: Digest,
    pub(super) diff_ids: Vec<Digest>,
    pub(super) spec: Spec,
    pub(super) user: Option<String>,
    pub(super) stdin: bool,
    #[serde(default)]
    pub(super) tty: bool,
    #[serde(default)]
    pub(super) auto_remove: bool,
    /// The network it was created on (`bridge`, `none`, `host` or a
    /// user-defined one).
    #[serde(default = "bridge")]
    pub(super) network: String,
    /// The networks it joins when started: the one it was created on
    /// (unless `none` or `host`), then those `network connect` added.
    #[serde(default)]
    pub(super) networks: Vec<Joined>,
    /// `--add-host` entries, `NAME:ADDRESS`.
    #[serde(default)]
    pub(super) extra_hosts: Vec<String>,
    /// `--dns` servers.
    #[serde(default)]
    pub(super) dns: Vec<Ipv4Addr>,
    /// Its volumes and tmpfs (their runtime mounts are in `spec`).
    #[serde(default)]
    pub(super) mounts: Vec<MountInfo>,
    /// The ports it asked to publish.
    #[serde(default)]
    pub(super) port_bindings: Vec<PortBinding>,
    /// The host ports of its current run (their lease), or of the run
    /// that is about to start.
    #[serde(default)]
    pub(super) published: Option<PublishedPorts>,
}

fn bridge() -> String {
    crate::network::BRIDGE_NETWORK.to_string()
}

/// One network a container belongs to.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct Joined {
    pub(super) network: String,
    #[serde(default)]
    pub(super) aliases: Vec<String>,
    /// Its interface there while it runs.
    #[serde(default)]
    pub(super) attachment: Option<Attachment>,
}

impl Joined {
    pub(super) fn membership(&self) -> Membership {
        Membership {
            network: self.network.clone(),
            aliases: self.aliases.clone(),
            endpoint: self.attachment.as_ref().map(Attachment::endpoint),
        }
    }
}

impl Record {
    /// The record kept in `dir`, if it is there and readable.
    pub(super) fn load(dir: &Path) -> Option<Record> {
        let bytes = std::fs::read(dir.join("record.json")).ok()?;
        let mut record: Record = serde_json::from_slice(&bytes).ok()?;
        // Kept before containers could join several networks.
        if record.networks.is_empty() && !matches!(record.network.as_str(), "none" | "host") {
            record.networks.push(Joined {
                network: record.network.clone(),
                aliases: Vec::new(),
                attachment: None,
            });
        }
        Some(record)
    }

    /// Its interfaces while it runs.
    pub(super) fn attachments(&self) -> impl Iterator<Item = &Attachment> {
        self.networks.iter().filter_map(|j| j.attachment.as_ref())
    }

    pub(super) fn save(&self, dir: &Path) -> Result<(), AgentError> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| AgentError::new(ErrorKind::Internal, e.to_string()))?;
        let tmp = dir.join("record.json.tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, dir.join("record.json")))
            .map_err(|e| storage("saving the container's record", e))
    }

    /// The pid of the container's first process, if it runs.
    pub(super) fn running_pid(&self) -> Result<u32, AgentError> {
        let info = &self.info;
        info.pid
            .filter(|_| info.state == ContainerState::Running)
            .ok_or_else(|| {
                AgentError::new(
                    ErrorKind::Conflict,
                    format!("container {} is not running", info.name),
                )
            })
    }
}
