//! `commit`: a container's writable layer becomes a new image on top of
//! its own. The agent streams the changes as an OCI layer tar (the
//! container frozen meanwhile); they are stored gzipped like any layer;
//! the new config is the image's with the container's settings, the
//! `--change` instructions, the new diff id and a history entry.

use super::config_changes;
use super::error::ImageError;
use super::import::{store_layer, StoredLayer};
use super::lookup::{collect_garbage, find};
use super::manifest::{self, Image, CONFIG_MEDIA_TYPE, LAYER_GZIP_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use super::reference::{ImageName, Reference};
use super::store::{Digest, Store, StoreLock};
use crate::container::{labels, ArchiveReader, ContainerDetails};
use crate::time::rfc3339_now;
use crate::Engine;
use serde_json::{json, Map, Value};
use std::io::Read;
use tokio::sync::mpsc::{channel, Receiver};

/// What `commit` is asked for besides the container.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The new image's name; without one it is kept as `<none>`.
    pub reference: Option<Reference>,
    pub message: Option<String>,
    pub author: Option<String>,
    /// Dockerfile instructions applied to the config (`-c`).
    pub changes: Vec<String>,
}

/// docker's layer media types and OCI's name the same bytes: the new
/// manifest is OCI's throughout.
fn oci_layer_type(media_type: &str) -> &str {
    match media_type {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => LAYER_GZIP_MEDIA_TYPE,
        "application/vnd.docker.image.rootfs.diff.tar" => "application/vnd.oci.image.layer.v1.tar",
        other => other,
    }
}

/// The container's command as the image's `Cmd`: what follows the
/// image's entrypoint when the container kept it; otherwise its whole
/// command, with no entrypoint.
fn command_config(config: &mut Map<String, Value>, command: &[String]) {
    let entrypoint: Vec<String> = config
        .get("Entrypoint")
        .and_then(|e| serde_json::from_value(e.clone()).ok())
        .unwrap_or_default();
    match command.strip_prefix(entrypoint.as_slice()) {
        Some(cmd) => {
            config.insert("Cmd".into(), json!(cmd));
        }
        None => {
            config.insert("Entrypoint".into(), Value::Null);
            config.insert("Cmd".into(), json!(command));
        }
    }
}

/// The new image's config but for its new layer: `parent`'s, with the
/// container's settings, `options`' changes and a history entry.
fn new_config(
    parent: &[u8],
    details: &ContainerDetails,
    options: &CommitOptions,
) -> Result<Value, ImageError> {
    let mut image: Value =
        serde_json::from_slice(parent).map_err(|source| ImageError::Malformed {
            what: "the image's config".into(),
            source,
        })?;
    let Some(top) = image.as_object_mut() else {
        return Err(ImageError::Invalid(
            "the image's config is not an object".into(),
        ));
    };
    let config = top
        .entry("config")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .ok_or_else(|| ImageError::Invalid("the image's config has no config object".into()))?;
    command_config(config, &details.info.command);
    if let Some(process) = details.spec.process() {
        let image_has_term = config
            .get("Env")
            .and_then(Value::as_array)
            .is_some_and(|env| {
                env.iter()
                    .any(|e| e.as_str().is_some_and(|e| e.starts_with("TERM=")))
            });
        let mut env = process.env().clone().unwrap_or_default();
        // `-t`'s TERM is the terminal's, not the image's (as docker keeps it).
        if details.tty && !image_has_term {
            env.retain(|e| e != "TERM=xterm");
        }
        config.insert("Env".into(), json!(env));
        config.insert("WorkingDir".into(), json!(process.cwd()));
    }
    if let Some(user) = &details.user {
        config.insert("User".into(), json!(user));
    }
    let image_labels = config_changes::object(config, "Labels");
    for (key, value) in labels(details) {
        image_labels.insert(key, json!(value));
    }
    for change in &options.changes {
        config_changes::apply(config, change)?;
    }
    let created = rfc3339_now();
    top.insert("created".into(), json!(created));
    let mut entry = json!({ "created": created, "created_by": details.info.command.join(" ") });
    if let Some(author) = &options.author {
        top.insert("author".into(), json!(author));
        entry["author"] = json!(author);
    }
    if let Some(message) = &options.message {
        entry["comment"] = json!(message);
    }
    match top.get_mut("history").and_then(Value::as_array_mut) {
        Some(history) => history.push(entry),
        None => {
            top.insert("history".into(), json!([entry]));
        }
    }
    Ok(image)
}

/// Adds the new layer's diff id to `config`.
fn push_diff_id(config: &mut Value, diff_id: &Digest) -> Result<(), ImageError> {
    config
        .get_mut("rootfs")
        .and_then(|r| r.get_mut("diff_ids"))
        .and_then(Value::as_array_mut)
        .ok_or_else(|| ImageError::Invalid("the image's config has no diff ids".into()))?
        .push(json!(diff_id.as_str()));
    Ok(())
}

/// `image`'s layers as OCI manifest descriptors (none for `scratch`).
pub(super) fn layer_descriptors(image: Option<&Image>) -> Vec<Value> {
    let layers = image
        .map(|i| i.manifest.layers().as_slice())
        .unwrap_or_default();
    layers
        .iter()
        .map(|l| {
            json!({
                "mediaType": oci_layer_type(l.media_type().as_ref()),
                "digest": l.digest().to_string(),
                "size": l.size(),
            })
        })
        .collect()
}

/// Stores `config` and an OCI manifest of `layers`; the manifest's digest.
pub(super) fn store_image(
    store: &Store,
    layers: Vec<Value>,
    config: &Value,
) -> Result<Digest, ImageError> {
    let config_bytes = config.to_string().into_bytes();
    let config_digest = store.put_bytes(&config_bytes, None)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": { "mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest.as_str(), "size": config_bytes.len() },
        "layers": layers,
    });
    Ok(store.put_bytes(manifest.to_string().as_bytes(), None)?)
}

/// What the reading task hands the writing one.
enum Piece {
    Chunk(Vec<u8>),
    /// The layer is whole: without this, a closed channel means it was cut.
    End,
}

/// The pieces a task sends, read as one stream.
struct Pieces {
    from: Receiver<Piece>,
    chunk: std::io::Cursor<Vec<u8>>,
}

impl Read for Pieces {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.chunk.read(buf)?;
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            match self.from.blocking_recv() {
                Some(Piece::Chunk(next)) => self.chunk = std::io::Cursor::new(next),
                Some(Piece::End) => return Ok(0),
                None => return Err(std::io::Error::other("the layer's stream was cut short")),
            }
        }
    }
}

/// Stores the layer `reader` brings, compressing and hashing on a
/// blocking thread while the chunks arrive.
async fn receive_layer(store: &Store, mut reader: ArchiveReader) -> crate::Result<StoredLayer> {
    let (to, from) = channel(8);
    let writer_store = Store::at(store.root().to_path_buf());
    let writer = tokio::task::spawn_blocking(move || {
        let mut pieces = Pieces {
            from,
            chunk: std::io::Cursor::new(Vec::new()),
        };
        store_layer(&writer_store, &mut pieces, "the container's changes")
    });
    let read = loop {
        let piece = match reader.next().await {
            Ok(Some(chunk)) => Piece::Chunk(chunk),
            Ok(None) => Piece::End,
            Err(e) => break Err(e),
        };
        let end = matches!(piece, Piece::End);
        // A writer that stopped has its error to tell.
        if to.send(piece).await.is_err() || end {
            break Ok(());
        }
    };
    drop(to);
    let stored = writer
        .await
        .map_err(|e| ImageError::Invalid(format!("storing the layer: {e}")))?;
    read?;
    Ok(stored?)
}

/// What keeps a committed image in the store.
pub(super) enum Keep {
    /// A name.
    Tag(String),
    /// Nothing: docker's dangling `<none>`.
    Untagged,
    /// The build cache, under a step's key.
    BuildStep(String),
}

/// What a commit stores once its layer is in: config, manifest, name.
pub(super) struct Finish {
    pub store: Store,
    pub lock: StoreLock,
    /// The layers beneath the new one.
    pub layers: Vec<Value>,
    pub config: Value,
    pub keep: Keep,
}

impl Finish {
    /// The new image's manifest; on failure the blobs no name reaches go.
    pub fn run(self, layer: crate::Result<StoredLayer>) -> crate::Result<Digest> {
        let stored = layer.and_then(|layer| {
            let mut config = self.config;
            push_diff_id(&mut config, &layer.diff_id)?;
            let mut layers = self.layers;
            layers.push(json!({
                "mediaType": LAYER_GZIP_MEDIA_TYPE,
                "digest": layer.blob.as_str(),
                "size": layer.size,
            }));
            let manifest = store_image(&self.store, layers, &config)?;
            match &self.keep {
                Keep::Tag(reference) => self.store.set_tag(&self.lock, reference, &manifest)?,
                Keep::Untagged => self.store.keep_untagged(&self.lock, &manifest)?,
                Keep::BuildStep(key) => self.store.cache_step(&self.lock, key, &manifest)?,
            }
            Ok(manifest)
        });
        if stored.is_err() {
            collect_garbage(&self.store, &self.lock)?;
        }
        stored
    }
}

impl Engine {
    /// Stores `container`'s changes as a layer and, once it is whole,
    /// the image `finish` describes; its manifest's digest.
    pub(super) async fn store_commit(
        &self,
        machine: &str,
        container: &str,
        finish: Finish,
    ) -> crate::Result<Digest> {
        let layer = match self.container_layer(machine, container).await {
            Ok(reader) => receive_layer(&finish.store, reader).await,
            Err(e) => Err(e),
        };
        tokio::task::spawn_blocking(move || finish.run(layer))
            .await
            .map_err(|e| ImageError::Invalid(format!("storing the image: {e}")))?
    }
}

impl Engine {
    /// Makes `container`'s writable layer a new image on top of its own,
    /// named `options.reference` (or dangling); its id.
    pub async fn commit_container(
        &self,
        machine: &str,
        container: &str,
        options: &CommitOptions,
    ) -> crate::Result<Digest> {
        let details = self.inspect_container(machine, container).await?;
        let store = self.store()?;
        // Held throughout: no rmi takes the base's blobs meanwhile, and
        // garbage collection does not take the new ones before they are
        // named.
        let lock = store.lock_async().await?;
        let image_name: ImageName = details
            .image_id
            .as_str()
            .parse()
            .map_err(ImageError::from)?;
        let (_, parent) = find(&store, &image_name).map_err(|_| {
            ImageError::Invalid(format!(
                "the image of container {} ({}) is no longer in the store: pull or load {} again",
                details.info.name, details.image_id, details.info.image
            ))
        })?;
        // Bad changes are refused before anything is read or stored.
        let config = new_config(&store.read_blob(&parent.config_digest)?, &details, options)?;
        let finish = Finish {
            store: Store::at(store.root().to_path_buf()),
            lock,
            layers: layer_descriptors(Some(&parent)),
            config,
            keep: match &options.reference {
                Some(reference) => Keep::Tag(reference.full()),
                None => Keep::Untagged,
            },
        };
        let manifest = self.store_commit(machine, &details.info.id, finish).await?;
        Ok(manifest::load(&store, &manifest)?.config_digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_after_the_entrypoint_becomes_cmd() {
        let mut config = json!({ "Entrypoint": ["/entry"], "Cmd": ["old"] });
        let config = config.as_object_mut().unwrap();
        command_config(config, &["/entry".into(), "run".into()]);
        assert_eq!(config["Cmd"], json!(["run"]));
        assert_eq!(config["Entrypoint"], json!(["/entry"]));
        command_config(config, &["sh".into(), "-c".into(), "x".into()]);
        assert_eq!(config["Entrypoint"], Value::Null);
        assert_eq!(config["Cmd"], json!(["sh", "-c", "x"]));
    }
}
