//! docker's `image prune`: the dangling images (kept without a name, as a
//! commit given none is) that no container uses; with `all`, every image
//! no container uses. The store serves every machine: the containers of
//! each running machine count; a stopped machine's cannot be asked, and
//! lose nothing (each machine keeps the layers its containers use).

use super::reference::ImageName;
use super::remove::Removal;
use crate::{Engine, Result};
use std::collections::{BTreeMap, BTreeSet};

/// What a prune removed, and the bytes its images' layers unpacked to.
#[derive(Debug, Clone, Default)]
pub struct ImagePrune {
    pub removal: Removal,
    pub reclaimed: u64,
    /// Machines not running, whose containers could not be counted.
    pub unchecked: Vec<String>,
}

impl Engine {
    pub async fn prune_images(&self, all: bool) -> Result<ImagePrune> {
        let candidates: Vec<_> = self
            .images()?
            .into_iter()
            .filter(|image| all || image.dangling)
            .collect();
        if !all && candidates.is_empty() {
            return Ok(ImagePrune::default());
        }
        let mut used = BTreeSet::new();
        let mut unchecked = Vec::new();
        for machine in self.machine_names()? {
            if !self.machine_is_running(&machine)? {
                unchecked.push(machine);
                continue;
            }
            let details = self.container_details(&machine, |_| true).await?;
            used.extend(details.into_iter().map(|d| d.image_id));
        }
        let unused: BTreeMap<String, u64> = candidates
            .into_iter()
            .filter(|image| !used.contains(&image.id))
            .map(|image| (image.id.to_string(), image.size))
            .collect();
        if unused.is_empty() {
            return Ok(ImagePrune {
                unchecked,
                ..ImagePrune::default()
            });
        }
        let names = unused
            .keys()
            .map(|id| id.parse::<ImageName>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(super::ImageError::from)?;
        Ok(ImagePrune {
            removal: self.remove_images(&names).await?,
            reclaimed: unused.values().sum(),
            unchecked,
        })
    }
}
