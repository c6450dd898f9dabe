//! Finding images in the store by what users call them, and what the
//! store's names keep alive.

use super::error::ImageError;
use super::manifest::{self, Image};
use super::reference::ImageName;
use super::store::{Digest, Store, StoreError, StoreLock};
use crate::Engine;
use std::collections::BTreeSet;

/// The image a user named, and under which stored reference (`None` when
/// named by id).
pub fn find(store: &Store, name: &ImageName) -> Result<(Option<String>, Image), ImageError> {
    if let Some(r) = name.reference() {
        if let Some(d) = store.resolve(&r.full())? {
            return Ok((Some(r.full()), manifest::load(store, &d)?));
        }
    }
    if let Some(id) = name.id_prefix() {
        let mut found: Option<Image> = None;
        for d in &store.kept()? {
            let image = manifest::load(store, d)?;
            if image.config_digest.hex().starts_with(id) {
                if found
                    .as_ref()
                    .is_some_and(|f| f.config_digest != image.config_digest)
                {
                    return Err(ImageError::AmbiguousId(id.to_string()));
                }
                found = Some(image);
            }
        }
        if let Some(image) = found {
            return Ok((None, image));
        }
    }
    Err(ImageError::NoSuchImage(name.to_string()))
}

/// Deletes every blob no kept image reaches (manifests, configs, layers).
pub fn collect_garbage(store: &Store, lock: &StoreLock) -> Result<u64, ImageError> {
    let mut live = BTreeSet::new();
    for manifest in &store.kept()? {
        live.insert(manifest.clone());
        if let Ok(image) = manifest::load(store, manifest) {
            live.extend(image.blobs());
        }
    }
    Ok(store.remove_blobs_except(lock, &live)?)
}

/// Every diff id of every image in the store: what machines keep cached.
pub fn all_diff_ids(store: &Store) -> Result<Vec<Digest>, ImageError> {
    let mut ids = BTreeSet::new();
    for digest in &store.kept()? {
        ids.extend(manifest::load(store, digest)?.diff_ids()?);
    }
    Ok(ids.into_iter().collect())
}

impl Engine {
    /// The host image store, created if needed.
    pub fn store(&self) -> Result<Store, StoreError> {
        Store::open(self.home().store_dir())
    }
}
