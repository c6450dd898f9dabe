//! Import: a plain rootfs tarball (optionally gzipped) becomes a
//! one-layer image.

use super::error::ImageError;
use super::lookup::collect_garbage;
use super::manifest;
use super::manifest::{CONFIG_MEDIA_TYPE, LAYER_GZIP_MEDIA_TYPE, MANIFEST_MEDIA_TYPE};
use super::reference::Reference;
use super::store::{Digest, HashingWriter, Store, StoreError};
use crate::time::rfc3339_now;
use crate::Engine;
use flate2::write::GzEncoder;
use std::io::Read;

type Result<T> = std::result::Result<T, ImageError>;

/// Offset and value of the "ustar" magic in a tar header block.
const USTAR_OFFSET: usize = 257;

/// The input with its compression (gzip or zstd, recognised by magic
/// bytes) undone.
pub fn decompress<'a>(input: impl Read + 'a, name: &str) -> Result<Box<dyn Read + 'a>> {
    protocol::compression::decompressed(input).map_err(ImageError::io(format!("reading {name}")))
}

/// Opens the input, undoing its compression, and checks it is a tar.
fn open_tar(input: Box<dyn Read>, name: &str) -> Result<Box<dyn Read>> {
    let mut reader = decompress(input, name)?;
    let mut first = vec![0u8; 512];
    let mut got = 0;
    while got < first.len() {
        match reader
            .read(&mut first[got..])
            .map_err(ImageError::io(format!("reading {name}")))?
        {
            0 => break,
            n => got += n,
        }
    }
    if got < 512 || &first[USTAR_OFFSET..USTAR_OFFSET + 5] != b"ustar" {
        return Err(ImageError::Invalid(format!(
            "{name} is not a tar archive (a rootfs tarball is expected)"
        )));
    }
    Ok(Box::new(std::io::Cursor::new(first).chain(reader)))
}

/// A layer written to the store.
pub struct StoredLayer {
    /// Its blob (gzipped) and the blob's size.
    pub blob: Digest,
    pub size: u64,
    /// The digest of the uncompressed tar.
    pub diff_id: Digest,
}

/// Stores the layer tar read from `tar` (called `name` in messages),
/// gzipped, in one pass: the tar is hashed (its diff id) as it is
/// compressed into a new blob, which is hashed as it is written.
pub fn store_layer(store: &Store, tar: &mut dyn Read, name: &str) -> Result<StoredLayer> {
    let gz = GzEncoder::new(store.blob_writer()?, flate2::Compression::fast());
    let mut diff = HashingWriter::new(gz);
    std::io::copy(tar, &mut diff).map_err(ImageError::io(format!("reading {name}")))?;
    let (gz, diff_id, unpacked) = diff.finish();
    let blob = gz
        .finish()
        .map_err(StoreError::io("compressing the layer"))?;
    let size = blob.written();
    let blob = blob.commit(None)?;
    store.record_unpacked_size(&blob, unpacked)?;
    Ok(StoredLayer {
        blob,
        size,
        diff_id,
    })
}

/// Stores the layer, config and manifest; returns the manifest digest.
pub fn import(store: &Store, input: Box<dyn Read>, name: &str) -> Result<Digest> {
    let mut tar = open_tar(input, name)?;

    let StoredLayer {
        blob: layer,
        size: layer_size,
        diff_id,
    } = store_layer(store, &mut tar, name)?;

    let config = serde_json::json!({
        "created": rfc3339_now(),
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": { "type": "layers", "diff_ids": [diff_id.as_str()] },
        "history": [{ "created": rfc3339_now(), "created_by": format!("hutch import {name}") }],
    });
    let config_bytes = config.to_string().into_bytes();
    let config_digest = store.put_bytes(&config_bytes, None)?;
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "config": { "mediaType": CONFIG_MEDIA_TYPE, "digest": config_digest.as_str(), "size": config_bytes.len() },
        "layers": [{ "mediaType": LAYER_GZIP_MEDIA_TYPE, "digest": layer.as_str(), "size": layer_size }],
    });
    Ok(store.put_bytes(manifest.to_string().as_bytes(), None)?)
}

impl Engine {
    /// A rootfs tarball from `input` (called `source` in messages) becomes
    /// the one-layer image `reference`; its id.
    pub fn import(
        &self,
        input: Box<dyn Read>,
        source: &str,
        reference: &Reference,
    ) -> crate::Result<Digest> {
        let store = self.store()?;
        // Held throughout: a concurrent rmi's garbage collection must not
        // take blobs that are stored but not yet named.
        let lock = store.lock()?;
        let manifest = match import(&store, input, source) {
            Ok(m) => m,
            Err(e) => {
                collect_garbage(&store, &lock)?;
                return Err(e.into());
            }
        };
        store.set_tag(&lock, &reference.full(), &manifest)?;
        Ok(manifest::load(&store, &manifest)?.config_digest)
    }
}
