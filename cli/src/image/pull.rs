//! `hutch pull`: an image from any OCI-distribution registry into the store.
//! Blobs already held are skipped, so a rerun after a dropped connection
//! fetches only what is missing; every blob is verified against its digest
//! before it becomes visible, and the image is named only once complete.

use super::progress::Board;
use super::reference::Reference;
use super::store::{BlobWriter, Digest, Store, StoreLock};
use super::{index, manifest};
use crate::registry::failure::{is_permanent, Failure, RegistryError};
use crate::registry::{credentials, explain, Transport};
use anyhow::{Context, Result};
use oci_client::secrets::RegistryAuth;
use oci_client::Client;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const ACCEPTED: &[&str] = &[
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];
const ATTEMPTS: u32 = 3;

fn remote(r: &Reference) -> oci_client::Reference {
    match &r.digest {
        Some(d) => {
            oci_client::Reference::with_digest(r.registry.clone(), r.repository.clone(), d.clone())
        }
        None => {
            oci_client::Reference::with_tag(r.registry.clone(), r.repository.clone(), r.tag.clone())
        }
    }
}

async fn with_retries<T, F, Fut>(what: &str, mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < ATTEMPTS && !is_permanent(&e) => {
                eprintln!("{what}: {e:#}; retrying ({attempt}/{})", ATTEMPTS - 1);
                tokio::time::sleep(Duration::from_millis(500 * attempt as u64)).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Fetches a manifest by reference; checks its bytes against its digest.
async fn fetch_manifest(
    client: &Client,
    auth: &RegistryAuth,
    image: &oci_client::Reference,
) -> Result<(Vec<u8>, Digest)> {
    let (bytes, digest) = with_retries("fetching the manifest", || async {
        client
            .pull_manifest_raw(image, auth, ACCEPTED)
            .await
            .map_err(|e| RegistryError::from(e).into())
    })
    .await?;
    let actual = Digest::of(&bytes);
    let mismatch = |said: &str| {
        RegistryError::new(
            Failure::BadContent,
            format!(
                "manifest digest mismatch: {said}, the bytes hash to {actual}; nothing was stored"
            ),
        )
    };
    if !digest.is_empty() && digest != actual.as_str() {
        return Err(mismatch(&format!("the registry says {digest}")).into());
    }
    if let Some(want) = image.digest().filter(|want| *want != actual.as_str()) {
        return Err(mismatch(&format!("asked for {want}")).into());
    }
    Ok((bytes.to_vec(), actual))
}

async fn fetch_blob(
    client: &Client,
    store: &Store,
    image: &oci_client::Reference,
    digest: &Digest,
    received: &AtomicU64,
) -> Result<()> {
    with_retries(&digest.hex()[..12], || async {
        received.store(0, Ordering::Relaxed);
        let mut blob = AsyncBlob(store.blob_writer()?, received);
        client
            .pull_blob(image, digest.as_str(), &mut blob)
            .await
            .map_err(RegistryError::from)?;
        // Wrong bytes or a full disk: downloading again would not help.
        blob.0
            .commit(Some(digest))
            .map(|_| ())
            .map_err(|e| RegistryError::new(Failure::BadContent, format!("{e:#}")).into())
    })
    .await
}

/// Lets the client stream a download into a blob, counting the bytes for
/// the progress display. The writes go to the page cache and do not block
/// for long, so they are done in place.
struct AsyncBlob<'a>(BlobWriter<'a>, &'a AtomicU64);

impl tokio::io::AsyncWrite for AsyncBlob<'_> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let written = self.0.write(buf);
        if let Ok(n) = written {
            self.1.fetch_add(n as u64, Ordering::Relaxed);
        }
        std::task::Poll::Ready(written)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(self.0.flush())
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Pulls `name`; returns the manifest digest. The caller holds the lock
/// so that no garbage collection runs while blobs are not yet named.
pub async fn pull(store: &Store, lock: &StoreLock, name: &str, insecure: bool) -> Result<Digest> {
    let reference = Reference::parse(name)?;
    let client = Transport::choose(&reference.registry, insecure)
        .await
        .oci_client();
    let login = credentials::lookup(&reference.registry)?;
    let auth = match &login {
        Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
        None => RegistryAuth::Anonymous,
    };
    let image = remote(&reference);
    let shown = reference.short();
    let explained = |e, subject: &str| explain(e, &reference.registry, subject, login.is_some());
    let (mut bytes, mut digest) = fetch_manifest(&client, &auth, &image)
        .await
        .map_err(|e| explained(e, &shown))?;

    // A multi-platform index: take this machine's platform.
    if index::is_index(&bytes).context("the registry sent a malformed manifest")? {
        let pick = index::Index::parse(&bytes)?
            .for_machine()
            .with_context(|| shown.clone())?;
        let by_digest = image.clone_with_digest(pick.to_string());
        (bytes, digest) = fetch_manifest(&client, &auth, &by_digest)
            .await
            .map_err(|e| explained(e, &shown))?;
    }
    let parsed: oci_spec::image::ImageManifest =
        serde_json::from_slice(&bytes).context("the registry sent a malformed image manifest")?;
    manifest::check_runnable(&parsed)
        .with_context(|| format!("cannot pull {shown}; nothing was stored"))?;
    let manifest_digest = store.put_bytes(&bytes, Some(&digest))?;
    let up_to_date = store.resolve(&reference.full())? == Some(manifest_digest.clone());
    outln!(
        "{}: Pulling from {}",
        reference.digest.as_deref().unwrap_or(&reference.tag),
        reference.short_repository()
    );
    // The config downloads too, but docker shows progress for layers only.
    let config = (parsed.config().digest(), parsed.config().size(), false);
    let layers = parsed.layers().iter().map(|l| (l.digest(), l.size(), true));
    let board = Board::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (blob, size, is_layer) in std::iter::once(config).chain(layers) {
        let blob = Digest::try_from(blob.to_string()).map_err(anyhow::Error::msg)?;
        let short = blob.hex()[..12].to_string();
        if store.blob_path(&blob).is_file() {
            if is_layer {
                board.held(&short);
            }
            continue;
        }
        let received = match is_layer {
            true => board.downloading(&short, size),
            false => Arc::new(AtomicU64::new(0)),
        };
        let (client, image, root) = (client.clone(), image.clone(), store.root().to_path_buf());
        tasks.spawn(async move {
            let store = Store::at(root);
            let result = fetch_blob(&client, &store, &image, &blob, &received).await;
            (short, is_layer, result)
        });
    }
    board.draw();
    let mut failure = None;
    let mut redraw = tokio::time::interval(Duration::from_millis(100));
    loop {
        let done = tokio::select! {
            done = tasks.join_next() => done,
            _ = redraw.tick() => {
                board.draw();
                continue;
            }
        };
        let Some(done) = done else { break };
        let (short, is_layer, result) = done.context("a download task failed")?;
        match result {
            Ok(()) if is_layer => board.finish(&short, "Pull complete"),
            Ok(()) => {}
            Err(e) => {
                board.finish(&short, "Failed");
                failure = Some(explained(e, &format!("layer {short} of {shown}")));
            }
        }
    }
    board.draw();
    if let Some(e) = failure {
        return Err(e.context(format!(
            "pulling {shown}; finished layers are kept, rerun to resume"
        )));
    }
    let pulled = manifest::load(store, &manifest_digest)?;
    super::archive::verify_diff_ids(store, &pulled)?;
    store.set_tag(lock, &reference.full(), &manifest_digest)?;
    outln!("Digest: {manifest_digest}");
    if up_to_date {
        outln!("Status: Image is up to date for {shown}");
    } else {
        outln!("Status: Downloaded newer image for {shown}");
    }
    Ok(manifest_digest)
}
