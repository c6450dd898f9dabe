//! Images on the host: a content-addressed store (blobs by digest, names
//! to manifests), what the store holds and how images get in and out of it
//! (pull, import, load, save), and delivery of their layers into machines.

pub mod archive;
pub mod deliver;
pub mod import;
pub mod index;
mod list;
pub mod manifest;
mod mount;
pub mod pull;
pub mod reference;
mod remove;
pub mod store;
mod tag;

pub use list::{ImageDetails, ImageSummary};
pub use manifest::Image;
pub use reference::{ImageName, Reference, ReferenceError};
pub use remove::{Removal, Removed};

use crate::error::ErrorKind;
use crate::Engine;
use std::collections::BTreeSet;
use std::io;
use store::{Digest, Store, StoreError, StoreLock};

#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("no such image: {0} (see 'hutch images')")]
    NoSuchImage(String),
    #[error("image id {0} is ambiguous; give more digits")]
    AmbiguousId(String),
    #[error("this needs an image name, not an id: {0}")]
    NameNeeded(String),
    #[error("{what} is not valid")]
    Malformed {
        what: String,
        source: serde_json::Error,
    },
    /// Not a container image hutch can run (an artifact, an unknown layer type).
    #[error("{0}")]
    NotRunnable(String),
    #[error("the image has no {os}/{architecture} variant")]
    NoPlatform {
        os: &'static str,
        architecture: &'static str,
    },
    /// A damaged or unsafe archive, or an image whose parts disagree.
    #[error("{0}")]
    Invalid(String),
    #[error("{what}")]
    Io { what: String, source: io::Error },
}

impl ImageError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ImageError::Store(e) => e.kind(),
            ImageError::NoSuchImage(_) | ImageError::NoPlatform { .. } => ErrorKind::NotFound,
            ImageError::Io { .. } => ErrorKind::Internal,
            _ => ErrorKind::InvalidInput,
        }
    }

    /// An I/O failure while doing `what`.
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> ImageError {
        let what = what.into();
        move |source| ImageError::Io { what, source }
    }
}

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
        for d in store.tags()?.values() {
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

/// Deletes every blob no name reaches (manifests, configs, layers).
pub fn collect_garbage(store: &Store, lock: &StoreLock) -> Result<u64, ImageError> {
    let mut live = BTreeSet::new();
    for manifest in store.tags()?.values() {
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
    for digest in store.tags()?.values() {
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
