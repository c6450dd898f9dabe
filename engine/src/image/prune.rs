//! docker's `image prune`: with `all`, every image no container uses.
//! Without it only dangling images (no name) go, and hutch's store keeps
//! no image without a name (an image goes with its last name), so there
//! are none to remove.

use super::reference::ImageName;
use super::remove::Removal;
use crate::{Engine, Result};
use std::collections::{BTreeMap, BTreeSet};

/// What a prune removed, and the bytes its images' layers unpacked to.
#[derive(Debug, Clone, Default)]
pub struct ImagePrune {
    pub removal: Removal,
    pub reclaimed: u64,
}

impl Engine {
    pub async fn prune_images(&self, machine: &str, all: bool) -> Result<ImagePrune> {
        if !all {
            return Ok(ImagePrune::default());
        }
        let mut used = BTreeSet::new();
        for c in self.list_containers(machine).await? {
            used.insert(self.inspect_container(machine, &c.id).await?.image_id);
        }
        let unused: BTreeMap<String, u64> = self
            .images()?
            .into_iter()
            .filter(|image| !used.contains(&image.id))
            .map(|image| (image.id.to_string(), image.size))
            .collect();
        if unused.is_empty() {
            return Ok(ImagePrune::default());
        }
        let names = unused
            .keys()
            .map(|id| id.parse::<ImageName>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(super::ImageError::from)?;
        Ok(ImagePrune {
            removal: self.remove_images(&names).await?,
            reclaimed: unused.values().sum(),
        })
    }
}
