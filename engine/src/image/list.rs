//! What the store holds: one summary per name (`images`), and an image's
//! details in docker's shape (`image inspect`).

use super::error::ImageError;
use super::lookup::find;
use super::manifest::{self, Image};
use super::reference::ImageName;
use super::reference::Reference;
use super::store::{Digest, Store};
use crate::{Engine, Result};
use serde::Serialize;

/// One name of an image, as a row of `docker images`.
#[derive(Debug, Clone)]
pub struct ImageSummary {
    /// The repository as docker shows it (`alpine`, `localhost:5000/app`).
    pub repository: String,
    /// The tag, or `<none>` for a name by digest.
    pub tag: String,
    pub id: Digest,
    pub manifest_digest: Digest,
    /// When the image was built, as its config says (RFC 3339).
    pub created: Option<String>,
    /// What its layers unpack to (docker's SIZE).
    pub size: u64,
    /// Kept without a name (repository and tag are `<none>`).
    pub dangling: bool,
}

/// An image's details, in the shape (and field names) of docker's
/// `image inspect`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageDetails {
    pub id: Digest,
    pub repo_tags: Vec<String>,
    pub manifest_digest: Digest,
    pub created: Option<String>,
    pub architecture: String,
    pub os: String,
    pub size: u64,
    pub stored_size: u64,
    /// The config's `config` as stored, with what oci-spec's type has no
    /// field for (docker's Healthcheck, OnBuild, Shell).
    pub config: Option<serde_json::Value>,
    #[serde(rename = "RootFS")]
    pub root_fs: RootFs,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RootFs {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    #[serde(rename = "DiffIDs")]
    pub diff_ids: Vec<String>,
    pub layers: Vec<String>,
}

/// A stored full reference as docker shows it.
pub(super) fn shown_name(full: &str) -> String {
    Reference::parse(full)
        .map(|r| r.short())
        .unwrap_or_else(|_| full.to_string())
}

/// The `config` object of `image`'s stored config.
fn raw_settings(store: &Store, image: &Image) -> Result<Option<serde_json::Value>> {
    let mut config = image.raw_config(store)?;
    Ok(config.get_mut("config").map(serde_json::Value::take))
}

impl Engine {
    /// Every name in the store, sorted by name, then the images kept
    /// without one (`<none>`).
    pub fn images(&self) -> Result<Vec<ImageSummary>> {
        let store = self.store()?;
        let names = store.tags()?.into_iter().map(|(full, digest)| {
            let (repository, tag) = match Reference::parse(&full) {
                Ok(r) => (r.short_repository(), r.shown_tag().to_string()),
                Err(_) => (full.clone(), String::new()),
            };
            (Some((repository, tag)), digest)
        });
        let dangling = store.untagged()?.into_iter().map(|digest| (None, digest));
        let mut rows = Vec::new();
        for (name, digest) in names.chain(dangling) {
            let image = manifest::load(&store, &digest)?;
            let none = || ("<none>".to_string(), "<none>".to_string());
            let ((repository, tag), dangling) = match name {
                Some(name) => (name, false),
                None => (none(), true),
            };
            rows.push(ImageSummary {
                repository,
                tag,
                id: image.config_digest.clone(),
                manifest_digest: image.manifest_digest.clone(),
                created: image.config.created().clone(),
                size: image.size(&store),
                dangling,
            });
        }
        Ok(rows)
    }

    pub fn inspect_image(&self, name: &ImageName) -> Result<ImageDetails> {
        let store = self.store()?;
        let (_, image) = find(&store, name)?;
        let repo_tags = store
            .tags_of(&image.manifest_digest)
            .map_err(ImageError::from)?
            .iter()
            .map(|t| shown_name(t))
            .collect();
        let layers = image
            .manifest
            .layers()
            .iter()
            .map(|l| l.digest().to_string())
            .collect();
        Ok(ImageDetails {
            id: image.config_digest.clone(),
            repo_tags,
            manifest_digest: image.manifest_digest.clone(),
            created: image.config.created().clone(),
            architecture: image.config.architecture().to_string(),
            os: image.config.os().to_string(),
            size: image.size(&store),
            stored_size: image.stored_size(),
            config: raw_settings(&store, &image)?,
            root_fs: RootFs {
                kind: "layers",
                diff_ids: image.config.rootfs().diff_ids().clone(),
                layers,
            },
        })
    }
}
