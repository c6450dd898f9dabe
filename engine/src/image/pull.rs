//! Pull: an image from any OCI-distribution registry into the store.
//! Blobs already held are skipped, so a rerun after a dropped connection
//! fetches only what is missing; every blob is verified against its digest
//! before it becomes visible, and the image is named only once complete.

use super::error::ImageError;
use super::reference::Reference;
use super::store::{BlobWriter, Digest, Store};
use super::{archive, index, manifest};
use crate::events::{Event, PullEvent};
use crate::registry::failure::{Failure, RegistryFailure};
use crate::registry::{credentials, explain, Transport};
use crate::{Engine, Result};
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

/// What a pull ended with.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub manifest: Digest,
    /// The name already pointed at this manifest.
    pub up_to_date: bool,
}

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

/// Where a pull talks to: the client, the credentials, the image.
#[derive(Clone)]
struct Source {
    client: Client,
    auth: RegistryAuth,
    image: oci_client::Reference,
}

impl Engine {
    /// Runs `f` up to [`ATTEMPTS`] times while its failure may be passing.
    async fn with_retries<T, F, Fut>(&self, what: &str, mut f: F) -> Result<T, RegistryFailure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, RegistryFailure>>,
    {
        let mut attempt = 1;
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) if attempt < ATTEMPTS && !e.is_permanent() => {
                    self.report(Event::Retrying {
                        what: what.to_string(),
                        error: e.to_string(),
                        attempt,
                        of: ATTEMPTS - 1,
                    });
                    tokio::time::sleep(Duration::from_millis(500 * attempt as u64)).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Fetches a manifest; checks its bytes against its digest.
    async fn fetch_manifest(
        &self,
        source: &Source,
        image: &oci_client::Reference,
    ) -> Result<(Vec<u8>, Digest), RegistryFailure> {
        let (bytes, digest) = self
            .with_retries("fetching the manifest", || async {
                source
                    .client
                    .pull_manifest_raw(image, &source.auth, ACCEPTED)
                    .await
                    .map_err(RegistryFailure::from)
            })
            .await?;
        let actual = Digest::of(&bytes);
        let mismatch = |said: &str| {
            RegistryFailure::new(
                Failure::BadContent,
                format!(
                    "manifest digest mismatch: {said}, the bytes hash to {actual}; nothing was stored"
                ),
            )
        };
        if !digest.is_empty() && digest != actual.as_str() {
            return Err(mismatch(&format!("the registry says {digest}")));
        }
        if let Some(want) = image.digest().filter(|want| *want != actual.as_str()) {
            return Err(mismatch(&format!("asked for {want}")));
        }
        Ok((bytes.to_vec(), actual))
    }

    async fn fetch_blob(
        &self,
        source: &Source,
        store: &Store,
        digest: &Digest,
        received: &AtomicU64,
    ) -> Result<(), RegistryFailure> {
        self.with_retries(digest.short(), || async {
            received.store(0, Ordering::Relaxed);
            let writer = store
                .blob_writer()
                .map_err(|e| RegistryFailure::new(Failure::BadContent, e))?;
            let mut blob = AsyncBlob(writer, received);
            source
                .client
                .pull_blob(&source.image, digest.as_str(), &mut blob)
                .await
                .map_err(RegistryFailure::from)?;
            // Wrong bytes or a full disk: downloading again would not help.
            blob.0
                .commit(Some(digest))
                .map(|_| ())
                .map_err(|e| RegistryFailure::new(Failure::BadContent, e))
        })
        .await
    }

    /// Pulls `reference` into the store (layers already held are skipped);
    /// progress goes out as [`PullEvent`]s.
    pub async fn pull(&self, reference: &Reference, insecure: bool) -> Result<Pulled> {
        let store = self.store()?;
        // Held throughout, so no garbage collection takes blobs that are
        // stored but not yet named. On failure, finished blobs stay for a
        // rerun to reuse.
        let lock = store.lock_async().await?;
        let transport = Transport::choose(&reference.registry, insecure).await;
        let login = credentials::lookup(self.home(), &reference.registry)?;
        let source = Source {
            client: transport.oci_client(),
            auth: match &login {
                Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
                None => RegistryAuth::Anonymous,
            },
            image: remote(reference),
        };
        let shown = reference.short();
        let explained = |e, subject: &str| -> crate::Error {
            explain(e, &reference.registry, subject, login.is_some()).into()
        };
        let (mut bytes, mut digest) = self
            .fetch_manifest(&source, &source.image)
            .await
            .map_err(|e| explained(e, &shown))?;

        // A multi-platform index: take this machine's platform.
        if index::is_index(&bytes)? {
            let pick = index::Index::parse(&bytes)?.for_machine()?;
            let by_digest = source.image.clone_with_digest(pick.to_string());
            (bytes, digest) = self
                .fetch_manifest(&source, &by_digest)
                .await
                .map_err(|e| explained(e, &shown))?;
        }
        let parsed: oci_spec::image::ImageManifest =
            serde_json::from_slice(&bytes).map_err(|source| ImageError::Malformed {
                what: "the registry's image manifest".into(),
                source,
            })?;
        manifest::check_runnable(&parsed).map_err(|e| {
            ImageError::NotRunnable(format!("cannot pull {shown}; nothing was stored: {e}"))
        })?;
        let manifest_digest = store.put_bytes(&bytes, Some(&digest))?;
        let up_to_date = store.resolve(&reference.full())? == Some(manifest_digest.clone());
        self.report(Event::Pull(PullEvent::Started {
            tag: reference.digest.clone().unwrap_or(reference.tag.clone()),
            repository: reference.short_repository(),
        }));
        if let Some((short, e)) = self.fetch_blobs(&source, &store, &parsed).await {
            let subject = format!("layer {short} of {shown}");
            return Err(explain(e, &reference.registry, &subject, login.is_some())
                .prefixed(&format!(
                    "pulling {shown}; finished layers are kept, rerun to resume"
                ))
                .into());
        }
        let pulled = manifest::load(&store, &manifest_digest)?;
        archive::verify_diff_ids(&store, &pulled)?;
        store.set_tag(&lock, &reference.full(), &manifest_digest)?;
        self.report(Event::Pull(PullEvent::Finished {
            digest: manifest_digest.clone(),
            up_to_date,
            name: shown,
        }));
        Ok(Pulled {
            manifest: manifest_digest,
            up_to_date,
        })
    }

    /// Downloads the config and the layers the store lacks, in parallel;
    /// the first failure, with the layer's short id.
    async fn fetch_blobs(
        &self,
        source: &Source,
        store: &Store,
        manifest: &oci_spec::image::ImageManifest,
    ) -> Option<(String, RegistryFailure)> {
        // The config downloads too, but docker shows progress for layers only.
        let config = (manifest.config().digest(), manifest.config().size(), false);
        let layers = manifest
            .layers()
            .iter()
            .map(|l| (l.digest(), l.size(), true));
        let mut downloads = tokio::task::JoinSet::new();
        for (blob, size, is_layer) in std::iter::once(config).chain(layers) {
            let blob: Digest = match blob.to_string().parse() {
                Ok(d) => d,
                Err(e) => {
                    let failure = RegistryFailure::new(Failure::BadContent, e);
                    return Some((blob.to_string(), failure));
                }
            };
            let short = blob.short().to_string();
            if store.blob_path(&blob).is_file() {
                if is_layer {
                    self.report(Event::Pull(PullEvent::LayerHeld { id: short }));
                }
                continue;
            }
            let received = Arc::new(AtomicU64::new(0));
            if is_layer {
                self.report(Event::Pull(PullEvent::LayerDownloading {
                    id: short.clone(),
                    total: size,
                    received: received.clone(),
                }));
            }
            let (engine, source, root) = (self.clone(), source.clone(), store.root().to_path_buf());
            downloads.spawn(async move {
                let store = Store::at(root);
                let result = engine.fetch_blob(&source, &store, &blob, &received).await;
                (short, is_layer, result)
            });
        }
        let mut failure = None;
        while let Some(done) = downloads.join_next().await {
            let (short, is_layer, result) = match done {
                Ok(done) => done,
                Err(e) => {
                    let lost = RegistryFailure::new(
                        Failure::Other,
                        format!("a download task failed: {e}"),
                    );
                    failure.get_or_insert((String::from("?"), lost));
                    continue;
                }
            };
            match result {
                Ok(()) if is_layer => self.report(Event::Pull(PullEvent::LayerDone { id: short })),
                Ok(()) => {}
                Err(e) => {
                    self.report(Event::Pull(PullEvent::LayerFailed { id: short.clone() }));
                    failure.get_or_insert((short, e));
                }
            }
        }
        failure
    }
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
