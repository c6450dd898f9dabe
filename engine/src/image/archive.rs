//! Load and save: image archives as `docker save` writes
//! them (manifest.json, legacy or blob paths) and OCI image layouts
//! (oci-layout, index.json, blobs/sha256). `save` writes both views in one
//! tar, which `docker load` and `skopeo` (docker-archive: and oci-archive:)
//! read.

use super::error::ImageError;
use super::import::decompress;
use super::index;
use super::lookup::{collect_garbage, find};
use super::manifest::{self, CONFIG_MEDIA_TYPE, LAYER_GZIP_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use super::reference::ImageName;
use super::reference::Reference;
use super::store::{Digest, HashingWriter, Store, StoreError, StoreLock};
use crate::Engine;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

const LAYER_TAR_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar";
const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// Files up to this size are hashed in memory; larger ones stream to disk.
const SMALL_FILE: u64 = 4 << 20;
/// The archive's own metadata, kept in memory to be parsed.
const METADATA: [&str; 3] = ["index.json", "manifest.json", "oci-layout"];

type Result<T> = std::result::Result<T, ImageError>;

fn invalid(message: String) -> ImageError {
    ImageError::Invalid(message)
}

/// The archive's files, each stored as a blob.
#[derive(Default)]
struct Contents {
    files: BTreeMap<PathBuf, Digest>,
    links: BTreeMap<PathBuf, PathBuf>,
    metadata: BTreeMap<PathBuf, Vec<u8>>,
}

impl Contents {
    /// The blob at `path`, following symlinks (docker writes repeated layers as links).
    fn blob(&self, path: &str) -> Result<Digest> {
        let mut p = normalize(Path::new(path))?;
        for _ in 0..16 {
            if let Some(d) = self.files.get(&p) {
                return Ok(d.clone());
            }
            match self.links.get(&p) {
                Some(target) => p = target.clone(),
                None => break,
            }
        }
        Err(invalid(format!("the archive lacks {path}")))
    }
}

/// A relative path with no `..` or root: archives may not point outside.
fn normalize(path: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            _ => {
                return Err(invalid(format!(
                    "unsafe path {} in the archive; refusing it",
                    path.display()
                )))
            }
        }
    }
    Ok(out)
}

/// An entry cut short means the archive was truncated.
fn check_complete(name: &str, path: &Path, got: u64, size: u64) -> Result<()> {
    if got != size {
        return Err(invalid(format!(
            "{name} is damaged: {} ends after {got} of {size} bytes (truncated?)",
            path.display()
        )));
    }
    Ok(())
}

fn expected_digest(path: &Path) -> Option<Digest> {
    let hex = path.strip_prefix("blobs/sha256").ok()?.to_str()?;
    format!("sha256:{hex}").parse().ok()
}

fn read_archive(store: &Store, input: Box<dyn Read>, name: &str) -> Result<Contents> {
    let mut archive = tar::Archive::new(decompress(input, name)?);
    let mut contents = Contents::default();
    let damaged = || ImageError::io(format!("{name} is damaged"));
    let entries = archive
        .entries()
        .map_err(ImageError::io(format!("{name} is not a tar archive")))?;
    for entry in entries {
        let mut entry = entry.map_err(damaged())?;
        let path = normalize(&entry.path().map_err(damaged())?)?;
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let expected = expected_digest(&path);
                let size = entry.size();
                let digest = if size <= SMALL_FILE {
                    let mut bytes = Vec::new();
                    entry.read_to_end(&mut bytes).map_err(damaged())?;
                    check_complete(name, &path, bytes.len() as u64, size)?;
                    let d = store
                        .put_bytes(&bytes, expected.as_ref())
                        .map_err(|e| in_archive(&path, e))?;
                    if METADATA.iter().any(|m| path == Path::new(m)) {
                        contents.metadata.insert(path.clone(), bytes);
                    }
                    d
                } else {
                    let mut blob = store.blob_writer()?;
                    let copied = std::io::copy(&mut entry, &mut blob).map_err(damaged())?;
                    check_complete(name, &path, copied, size)?;
                    blob.commit(expected.as_ref())
                        .map_err(|e| in_archive(&path, e))?
                };
                contents.files.insert(path, digest);
            }
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(damaged())?
                    .unwrap_or_default()
                    .into_owned();
                let joined = if entry.header().entry_type() == tar::EntryType::Symlink {
                    path.parent().unwrap_or(Path::new("")).join(target)
                } else {
                    target
                };
                // Resolve `..` lexically, staying inside the archive.
                let mut resolved = PathBuf::new();
                for c in joined.components() {
                    match c {
                        Component::ParentDir if resolved.pop() => {}
                        Component::Normal(n) => resolved.push(n),
                        Component::CurDir => {}
                        _ => {
                            return Err(invalid(format!(
                                "link {} points outside the archive",
                                path.display()
                            )))
                        }
                    }
                }
                contents.links.insert(path, resolved);
            }
            _ => {}
        }
    }
    Ok(contents)
}

/// Loads every image in the archive; returns the names it tagged.
pub fn load(
    store: &Store,
    lock: &StoreLock,
    input: Box<dyn Read>,
    name: &str,
) -> Result<Vec<String>> {
    let contents = read_archive(store, input, name)?;
    let images = if contents.metadata.contains_key(Path::new("index.json")) {
        oci_layout_images(store, &contents)?
    } else if contents.metadata.contains_key(Path::new("manifest.json")) {
        docker_archive_images(store, &contents)?
    } else {
        return Err(invalid(format!("{name} is neither a docker-archive (manifest.json) nor an OCI image layout (index.json)")));
    };
    if images.is_empty() {
        return Err(invalid(format!(
            "{name} holds no image with a name; nothing was loaded"
        )));
    }
    let mut names = Vec::new();
    for (reference, manifest) in images {
        // Every blob it needs must be here and parse before it gets a name.
        let image = manifest::load(store, &manifest)?;
        manifest::check_runnable(&image.manifest)
            .map_err(|e| invalid(format!("{}: {e}; nothing was loaded", reference.short())))?;
        for blob in image.blobs() {
            if !store.blob_path(&blob).is_file() {
                return Err(invalid(format!("the archive lacks blob {blob}")));
            }
        }
        verify_diff_ids(store, &image)?;
        store.set_tag(lock, &reference.full(), &manifest)?;
        names.push(reference.short());
    }
    Ok(names)
}

/// Each layer must unpack to the diff_id its config names.
pub fn verify_diff_ids(store: &Store, image: &manifest::Image) -> Result<()> {
    for layer in image.layers()? {
        let file = std::fs::File::open(store.blob_path(&layer.blob))
            .map_err(ImageError::io(format!("opening layer {}", layer.blob)))?;
        let mut unpacked = decompress(file, layer.blob.as_str())?;
        let mut hasher = HashingWriter::new(std::io::sink());
        std::io::copy(&mut unpacked, &mut hasher)
            .map_err(ImageError::io(format!("layer {} is damaged", layer.blob)))?;
        let (_, actual, unpacked) = hasher.finish();
        if actual != layer.diff_id {
            return Err(invalid(format!(
                "layer {} unpacks to {actual}, but the config says {}; nothing was loaded",
                layer.blob, layer.diff_id
            )));
        }
        store.record_unpacked_size(&layer.blob, unpacked)?;
    }
    Ok(())
}

/// The image's name from the OCI annotations, when they give a full one.
fn annotated_name(annotations: &BTreeMap<String, String>) -> Option<Reference> {
    let name = annotations
        .get("io.containerd.image.name")
        .or_else(|| annotations.get("org.opencontainers.image.ref.name"))?;
    // A bare tag ("latest") names no repository.
    if !name.contains(':') && !name.contains('/') {
        return None;
    }
    Reference::parse(name).ok()
}

fn oci_layout_images(store: &Store, contents: &Contents) -> Result<Vec<(Reference, Digest)>> {
    let top = index::Index::parse(&contents.metadata[Path::new("index.json")])?;
    let mut images = Vec::new();
    for entry in top.manifests {
        let Some(reference) = annotated_name(&entry.annotations) else {
            continue;
        };
        let manifest = if entry.media_type == INDEX_MEDIA_TYPE {
            index::Index::parse(&store.read_blob(&entry.digest)?)?.for_machine()?
        } else {
            entry.digest
        };
        images.push((reference, manifest));
    }
    Ok(images)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DockerManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

fn docker_archive_images(store: &Store, contents: &Contents) -> Result<Vec<(Reference, Digest)>> {
    let entries: Vec<DockerManifestEntry> = serde_json::from_slice(
        &contents.metadata[Path::new("manifest.json")],
    )
    .map_err(|source| ImageError::Malformed {
        what: "manifest.json".into(),
        source,
    })?;
    let mut images = Vec::new();
    for entry in entries {
        let config = contents.blob(&entry.config)?;
        let stored = |d: &Digest| ImageError::io(format!("reading blob {d}"));
        let config_size = std::fs::metadata(store.blob_path(&config))
            .map_err(stored(&config))?
            .len();
        let mut layers = Vec::new();
        for layer in &entry.layers {
            let digest = contents.blob(layer)?;
            let path = store.blob_path(&digest);
            let mut magic = [0u8; 2];
            let read = std::fs::File::open(&path)
                .and_then(|mut f| f.read(&mut magic))
                .map_err(stored(&digest))?;
            let gzipped = read == 2 && magic == [0x1f, 0x8b];
            let media_type = if gzipped {
                LAYER_GZIP_MEDIA_TYPE
            } else {
                LAYER_TAR_MEDIA_TYPE
            };
            let size = std::fs::metadata(&path).map_err(stored(&digest))?.len();
            layers.push(serde_json::json!({ "mediaType": media_type, "digest": digest.as_str(), "size": size }));
        }
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": { "mediaType": CONFIG_MEDIA_TYPE, "digest": config.as_str(), "size": config_size },
            "layers": layers,
        });
        let manifest = store.put_bytes(manifest.to_string().as_bytes(), None)?;
        for tag in entry.repo_tags.unwrap_or_default() {
            images.push((Reference::parse(&tag)?, manifest.clone()));
        }
    }
    Ok(images)
}

/// Writes the images as one tar holding both an OCI layout and docker's
/// manifest.json, to a temp file renamed onto `output` when complete.
pub fn save(store: &Store, images: &[(Reference, manifest::Image)], output: &Path) -> Result<()> {
    let tmp = output.with_extension("hutch-partial");
    let written = std::fs::File::create(&tmp)
        .map_err(ImageError::io(format!("creating {}", tmp.display())))
        .and_then(|file| write_archive(store, images, file));
    match written {
        Ok(()) => std::fs::rename(&tmp, output)
            .map_err(ImageError::io(format!("writing {}", output.display()))),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

fn write_archive(
    store: &Store,
    images: &[(Reference, manifest::Image)],
    file: std::fs::File,
) -> Result<()> {
    let writing = || ImageError::io("writing the archive");
    let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
    let mut add = |path: &str, bytes: &[u8]| -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, path, bytes).map_err(writing())
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let mut written = BTreeSet::new();
    let mut index = Vec::new();
    let mut docker = Vec::new();
    for (reference, image) in images {
        let manifest_bytes = store.read_blob(&image.manifest_digest)?;
        for blob in std::iter::once(image.manifest_digest.clone()).chain(image.blobs()) {
            if written.insert(blob.clone()) {
                add(
                    &format!("blobs/sha256/{}", blob.hex()),
                    &store.read_blob(&blob)?,
                )?;
            }
        }
        index.push(serde_json::json!({
            "mediaType": MANIFEST_MEDIA_TYPE,
            "digest": image.manifest_digest.as_str(),
            "size": manifest_bytes.len(),
            "annotations": { "io.containerd.image.name": reference.full(), "org.opencontainers.image.ref.name": reference.tag },
        }));
        let layers: Vec<String> = image.blobs()[1..]
            .iter()
            .map(|d| format!("blobs/sha256/{}", d.hex()))
            .collect();
        docker.push(serde_json::json!({
            "Config": format!("blobs/sha256/{}", image.config_digest.hex()),
            "RepoTags": [reference.short()],
            "Layers": layers,
        }));
    }
    let index = serde_json::json!({ "schemaVersion": 2, "manifests": index });
    add("index.json", index.to_string().as_bytes())?;
    add(
        "manifest.json",
        serde_json::Value::from(docker).to_string().as_bytes(),
    )?;
    let buffered = tar.into_inner().map_err(writing())?;
    buffered
        .into_inner()
        .map_err(|e| writing()(e.into_error()))?
        .sync_all()
        .map_err(writing())
}

/// A store failure while taking in the archive's file `path`.
fn in_archive(path: &Path, e: StoreError) -> ImageError {
    match e {
        StoreError::DigestMismatch { .. } => invalid(format!("{}: {e}", path.display())),
        other => other.into(),
    }
}

impl Engine {
    /// Loads every named image of an archive read from `input` (called
    /// `source` in messages); the names, as docker shows them.
    pub fn load(&self, input: Box<dyn Read>, source: &str) -> crate::Result<Vec<String>> {
        let store = self.store()?;
        let lock = store.lock()?;
        load(&store, &lock, input, source).or_else(|e| {
            // Whatever this load stored and did not name goes again.
            collect_garbage(&store, &lock)?;
            Err(e.into())
        })
    }

    /// Writes the images to one archive at `output`.
    pub fn save(&self, names: &[ImageName], output: &Path) -> crate::Result<()> {
        let store = self.store()?;
        let mut images = Vec::new();
        for name in names {
            let (full, image) = find(&store, name)?;
            let Some(full) = full else {
                return Err(ImageError::NameNeeded(name.to_string()).into());
            };
            images.push((Reference::parse(&full).map_err(ImageError::from)?, image));
        }
        Ok(save(&store, &images, output)?)
    }
}
