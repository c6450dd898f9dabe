//! Sending an image's layers into a machine: the agent says which layers
//! its cache lacks, and each of those is streamed once, compressed as
//! stored, over its own vsock connection. The agent unpacks and verifies.

use super::error::ImageError;
use super::lookup::find;
use super::manifest::{Image, Layer};
use super::reference::ImageName;
use super::store::{Digest, Store};
use crate::agent::{connect_port, AgentClient, AgentError};
use crate::events::Event;
use crate::{Engine, Result};
use protocol::{read_frame_async, write_frame_async, Envelope, LayerUpload, Response, LAYER_PORT};
use std::path::{Path, PathBuf};

/// Layers uploaded at once: the agent unpacks each on its own thread.
const PARALLEL_UPLOADS: usize = 3;

/// An image whose layers are all in a machine's cache.
pub struct Prepared {
    pub image_id: Digest,
    pub diff_ids: Vec<Digest>,
    pub config: oci_spec::image::ImageConfiguration,
}

impl Engine {
    /// Finds the image (pulling it when it is not in the store and can be
    /// pulled, as `docker run` does) and sends the layers the machine
    /// behind `client` lacks.
    pub async fn prepare_image(
        &self,
        name: &ImageName,
        client: &mut AgentClient,
    ) -> Result<Prepared> {
        let store = self.store()?;
        if let (Err(_), Some(reference)) = (find(&store, name), name.reference()) {
            self.report(Event::ImageNotFoundLocally {
                name: name.to_string(),
            });
            self.pull(reference, false).await?;
        }
        // Held while layers are sent, so no rmi removes one mid-way.
        let _lock = store.lock_async().await?;
        let (_, image) = find(&store, name)?;
        self.deliver(client, &store, &image).await?;
        Ok(Prepared {
            image_id: image.config_digest.clone(),
            diff_ids: image.diff_ids()?,
            config: image.config,
        })
    }

    /// Makes sure the machine behind `client` holds every layer of `image`.
    async fn deliver(&self, client: &mut AgentClient, store: &Store, image: &Image) -> Result<()> {
        let layers = image.layers()?;
        let wanted: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
        let present = client.layer_status(wanted).await?;
        let mut running = tokio::task::JoinSet::new();
        for layer in layers.into_iter().filter(|l| !present.contains(&l.diff_id)) {
            if running.len() >= PARALLEL_UPLOADS {
                finished(running.join_next().await)?;
            }
            self.report(Event::LayerCopying {
                diff_id: layer.diff_id.clone(),
                bytes: layer.size,
            });
            let (uds, blob) = (client.socket().to_path_buf(), store.blob_path(&layer.blob));
            running.spawn(async move { upload(uds, blob, layer).await });
        }
        while let Some(done) = running.join_next().await {
            finished(Some(done))?;
        }
        Ok(())
    }
}

fn finished(done: Option<Result<Result<()>, tokio::task::JoinError>>) -> Result<()> {
    match done {
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(ImageError::Io {
            what: "a layer upload task failed".into(),
            source: std::io::Error::other(e.to_string()),
        }
        .into()),
        None => Ok(()),
    }
}

async fn upload(uds: PathBuf, blob: PathBuf, layer: Layer) -> Result<()> {
    let mut file = tokio::fs::File::open(&blob)
        .await
        .map_err(ImageError::io(format!("opening layer {}", layer.blob)))?;
    let size = file
        .metadata()
        .await
        .map_err(ImageError::io(format!("reading layer {}", layer.blob)))?
        .len();
    let mut conn = connect_port(Path::new(&uds), LAYER_PORT).await?;
    let header = LayerUpload {
        diff_id: layer.diff_id.clone(),
        size,
    };
    write_frame_async(&mut conn, &header)
        .await
        .map_err(|source| AgentError::Frame {
            what: format!("sending layer {}", layer.blob),
            source,
        })?;
    // When the agent refuses a layer it stops reading and answers; its
    // answer explains the failed write better than the write error does.
    let sent = tokio::io::copy(&mut file, &mut conn).await;
    let reply = read_frame_async::<Envelope<Response>, _>(&mut conn).await;
    match (reply, sent) {
        (
            Ok(Some(Envelope {
                body: Response::LayerStored { .. },
                ..
            })),
            Ok(_),
        ) => Ok(()),
        (
            Ok(Some(Envelope {
                body: Response::Error(e),
                ..
            })),
            _,
        ) => Err(AgentError::Refused(protocol::AgentError::new(
            e.kind,
            format!(
                "layer {} was not stored in the machine: {}",
                layer.blob, e.message
            ),
        ))
        .into()),
        (_, Err(source)) => Err(AgentError::Io {
            what: format!("sending layer {}", layer.blob),
            source,
        }
        .into()),
        (other, Ok(_)) => Err(AgentError::UnexpectedReply {
            request: "layer upload",
            reply: format!("{other:?}"),
        }
        .into()),
    }
}
