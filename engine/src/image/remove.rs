//! `rmi`: names go; layers no remaining image uses are deleted from the
//! store and from the caches of running machines.

use super::error::ImageError;
use super::list::shown_name;
use super::lookup::{all_diff_ids, collect_garbage, find};
use super::reference::ImageName;
use super::store::{Digest, Store};
use crate::{Engine, Result};

/// What removing an image did, in the order docker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// A name was removed (shown short).
    Untagged(String),
    /// The image itself went: no name was left.
    Deleted(Digest),
}

/// Everything `rmi` did.
#[derive(Debug, Clone, Default)]
pub struct Removal {
    pub removed: Vec<Removed>,
    /// Running machines whose caches gave up layers: (machine, layers).
    pub pruned: Vec<(String, usize)>,
    /// Running machines that could not be told: (machine, why). They keep
    /// the layers until the next removal reaches them.
    pub unpruned: Vec<(String, String)>,
}

impl Engine {
    pub async fn remove_images(&self, names: &[ImageName]) -> Result<Removal> {
        let store = self.store()?;
        let mut removed = Vec::new();
        {
            let lock = store.lock_async().await?;
            for name in names {
                let (reference, image) = find(&store, name)?;
                let tags: Vec<String> = match reference {
                    Some(r) => vec![r],
                    None => store
                        .tags_of(&image.manifest_digest)
                        .map_err(ImageError::from)?,
                };
                for t in &tags {
                    store.remove_tag(&lock, t)?;
                    removed.push(Removed::Untagged(shown_name(t)));
                }
                if store
                    .tags_of(&image.manifest_digest)
                    .map_err(ImageError::from)?
                    .is_empty()
                {
                    store.forget_untagged(&lock, &image.manifest_digest)?;
                    removed.push(Removed::Deleted(image.config_digest.clone()));
                }
            }
            collect_garbage(&store, &lock)?;
        }
        let mut removal = Removal {
            removed,
            ..Removal::default()
        };
        self.prune_machines(&store, &mut removal).await?;
        Ok(removal)
    }

    /// Drops cached layers no image refers to any more from running
    /// machines, which gives their disk space back to the host. A machine
    /// that cannot be reached is told next time; the host store is already
    /// right.
    async fn prune_machines(&self, store: &Store, removal: &mut Removal) -> Result<()> {
        let machines = self.running_machines()?;
        if machines.is_empty() {
            return Ok(());
        }
        let keep = all_diff_ids(store)?;
        for machine in machines {
            let pruned = async {
                let mut client = self.connect_running(&machine).await?;
                Ok::<_, crate::Error>(client.prune_layers(keep.clone()).await?)
            };
            match pruned.await {
                Ok(removed) if !removed.is_empty() => removal.pruned.push((machine, removed.len())),
                Ok(_) => {}
                Err(e) => removal.unpruned.push((machine, e.to_string())),
            }
        }
        Ok(())
    }
}
