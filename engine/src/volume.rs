//! Volumes in a machine: `hutch volume create|ls|inspect|rm|prune`, in
//! docker's `volume inspect` shape.

use crate::time::format_rfc3339_ms;
use crate::{Engine, Result};
pub use protocol::{MountRequest, VolumeCreate, VolumeInfo};
use serde::Serialize;
use std::collections::BTreeMap;

impl Engine {
    /// Creates a volume in `machine` (started if needed); docker's create
    /// of an existing name answers with that volume.
    pub async fn create_volume(&self, machine: &str, create: VolumeCreate) -> Result<VolumeInfo> {
        let mut client = self.connect_or_start(machine).await?;
        Ok(client.create_volume(create).await?)
    }

    pub async fn list_volumes(&self, machine: &str) -> Result<Vec<VolumeInfo>> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.list_volumes().await?)
    }

    pub async fn inspect_volume(&self, machine: &str, name: &str) -> Result<VolumeInfo> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.inspect_volume(name).await?)
    }

    /// Refused while a container (running or not) uses it.
    pub async fn remove_volume(&self, machine: &str, name: &str) -> Result<()> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.remove_volume(name).await?)
    }

    /// Removes unused volumes (anonymous ones; all with `all`); their names.
    pub async fn prune_volumes(&self, machine: &str, all: bool) -> Result<Vec<String>> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.prune_volumes(all).await?)
    }
}

/// docker's `volume inspect` document.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeInspect {
    pub created_at: String,
    pub driver: &'static str,
    pub labels: BTreeMap<String, String>,
    pub mountpoint: String,
    pub name: String,
    pub options: BTreeMap<String, String>,
    pub scope: &'static str,
}

impl From<&VolumeInfo> for VolumeInspect {
    fn from(v: &VolumeInfo) -> VolumeInspect {
        VolumeInspect {
            created_at: format_rfc3339_ms(v.created_ms),
            driver: "local",
            labels: v.labels.iter().cloned().collect(),
            mountpoint: v.mountpoint.clone(),
            name: v.name.clone(),
            options: BTreeMap::new(),
            scope: "local",
        }
    }
}
