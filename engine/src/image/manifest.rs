//! Reading an image (manifest + config) back from the store, parsed with
//! `oci-spec`'s types so malformed JSON is an error, not a surprise later.

use super::error::ImageError;
use super::store::{Digest, Store};
use oci_spec::image::{ImageConfiguration, ImageManifest};

type Result<T> = std::result::Result<T, ImageError>;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_GZIP_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Configs of images that can run; artifacts (charts, signatures, SBOMs)
/// carry other config types.
const RUNNABLE_CONFIGS: &[&str] = &[
    CONFIG_MEDIA_TYPE,
    "application/vnd.docker.container.image.v1+json",
];
/// Layers hutch can unpack: tars, plain or gzip/zstd compressed.
const UNPACKABLE_LAYERS: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    LAYER_GZIP_MEDIA_TYPE,
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
];

/// Refuses, before anything is downloaded or named, what is not a
/// container image hutch can run.
pub fn check_runnable(manifest: &ImageManifest) -> Result<()> {
    let config = manifest.config().media_type().to_string();
    if !RUNNABLE_CONFIGS.contains(&config.as_str()) {
        return Err(ImageError::NotRunnable(format!("this is not a container image: its config has media type {config:?} (expected {CONFIG_MEDIA_TYPE})")));
    }
    for layer in manifest.layers() {
        let kind = layer.media_type().to_string();
        if !UNPACKABLE_LAYERS.contains(&kind.as_str()) {
            return Err(ImageError::NotRunnable(format!(
                "layer {} has media type {kind:?}, which hutch cannot unpack (it takes {})",
                layer.digest(),
                UNPACKABLE_LAYERS.join(", ")
            )));
        }
    }
    Ok(())
}

/// A layer: its blob in the store and its diff id.
pub struct Layer {
    pub blob: Digest,
    pub size: u64,
    pub diff_id: Digest,
}

#[derive(Clone)]
pub struct Image {
    pub manifest_digest: Digest,
    pub manifest: ImageManifest,
    pub config_digest: Digest,
    pub config: ImageConfiguration,
}

fn digest_of(d: &oci_spec::image::Digest) -> Result<Digest> {
    d.to_string()
        .parse()
        .map_err(|e: protocol::InvalidDigest| ImageError::Invalid(e.to_string()))
}

impl Image {
    /// The image's layers bottom to top, paired with their diff ids.
    pub fn layers(&self) -> Result<Vec<Layer>> {
        let diff_ids = self.config.rootfs().diff_ids();
        if diff_ids.len() != self.manifest.layers().len() {
            return Err(ImageError::Invalid(format!(
                "image {} has {} layers but its config lists {} diff ids",
                self.manifest_digest,
                self.manifest.layers().len(),
                diff_ids.len()
            )));
        }
        self.manifest
            .layers()
            .iter()
            .zip(diff_ids)
            .map(|(l, diff_id)| {
                Ok(Layer {
                    blob: digest_of(l.digest())?,
                    size: l.size(),
                    diff_id: diff_id
                        .parse()
                        .map_err(|e: protocol::InvalidDigest| ImageError::Invalid(e.to_string()))?,
                })
            })
            .collect()
    }

    /// The diff ids of its layers, bottom to top.
    pub fn diff_ids(&self) -> Result<Vec<Digest>> {
        Ok(self.layers()?.into_iter().map(|l| l.diff_id).collect())
    }

    /// Every blob the image consists of: config and layers.
    pub fn blobs(&self) -> Vec<Digest> {
        let mut all = vec![self.config_digest.clone()];
        all.extend(
            self.manifest
                .layers()
                .iter()
                .filter_map(|l| digest_of(l.digest()).ok()),
        );
        all
    }

    /// Stored (compressed) bytes of config and layers.
    pub fn stored_size(&self) -> u64 {
        self.manifest.config().size() + self.manifest.layers().iter().map(|l| l.size()).sum::<u64>()
    }

    /// Unpacked bytes of the layers, as docker's SIZE counts; a layer whose
    /// unpacked size was never learnt counts as stored.
    pub fn size(&self, store: &Store) -> u64 {
        self.manifest
            .layers()
            .iter()
            .map(|l| {
                digest_of(l.digest())
                    .ok()
                    .and_then(|d| store.unpacked_size(&d))
                    .unwrap_or(l.size())
            })
            .sum()
    }
}

impl Image {
    /// The stored config as JSON, whole: with what oci-spec's typed
    /// config has no field for (docker's Healthcheck, OnBuild, Shell).
    pub fn raw_config(&self, store: &Store) -> Result<serde_json::Value> {
        serde_json::from_slice(&store.read_blob(&self.config_digest)?).map_err(|source| {
            ImageError::Malformed {
                what: format!("config {} (an OCI image config)", self.config_digest),
                source,
            }
        })
    }
}

pub fn load(store: &Store, manifest_digest: &Digest) -> Result<Image> {
    let bytes = store.read_blob(manifest_digest)?;
    let manifest: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|source| ImageError::Malformed {
            what: format!("manifest {manifest_digest} (an OCI image manifest)"),
            source,
        })?;
    let config_digest = digest_of(manifest.config().digest())?;
    let config: ImageConfiguration = serde_json::from_slice(&store.read_blob(&config_digest)?)
        .map_err(|source| ImageError::Malformed {
            what: format!("config {config_digest} (an OCI image config)"),
            source,
        })?;
    Ok(Image {
        manifest_digest: manifest_digest.clone(),
        manifest,
        config_digest,
        config,
    })
}
