//! Sending an image's layers into a machine: the agent says which layers
//! its cache lacks, and each of those is streamed once, compressed as
//! stored, over its own vsock connection. The agent unpacks and verifies.

use super::manifest::Image;
use super::store::{Digest, Store};
use crate::agent::{connect_port, AgentClient, AgentFailure};
use crate::units::human_size;
use anyhow::{anyhow, bail, Context, Result};
use protocol::{
    read_frame_async, write_frame_async, Envelope, LayerUpload, Request, Response, LAYER_PORT,
};
use std::path::Path;

/// A layer: its blob in the host store and its diff id.
pub struct Layer {
    pub blob: Digest,
    pub size: u64,
    pub diff_id: Digest,
}

/// The image's layers bottom to top, paired with their diff ids.
pub fn layers(image: &Image) -> Result<Vec<Layer>> {
    let diff_ids = image.config.rootfs().diff_ids();
    if diff_ids.len() != image.manifest.layers().len() {
        bail!(
            "image {} has {} layers but its config lists {} diff ids",
            image.manifest_digest,
            image.manifest.layers().len(),
            diff_ids.len()
        );
    }
    image
        .manifest
        .layers()
        .iter()
        .zip(diff_ids)
        .map(|(l, diff_id)| {
            Ok(Layer {
                blob: l.digest().to_string().parse()?,
                size: l.size(),
                diff_id: diff_id.parse()?,
            })
        })
        .collect()
}

/// Makes sure the machine behind `uds` holds every layer of `image`.
pub async fn deliver(
    uds: &Path,
    client: &mut AgentClient,
    store: &Store,
    image: &Image,
) -> Result<()> {
    let layers = layers(image)?;
    let wanted: Vec<Digest> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let Response::Layers { present } = client
        .request(Request::LayerStatus { diff_ids: wanted })
        .await?
    else {
        bail!("unexpected reply to a layer status request");
    };
    // A few layers at a time: the agent unpacks each on its own thread.
    let mut running = tokio::task::JoinSet::new();
    for layer in layers.into_iter().filter(|l| !present.contains(&l.diff_id)) {
        if running.len() >= PARALLEL_UPLOADS {
            finished(running.join_next().await)?;
        }
        eprintln!(
            "{}: copying into the machine ({})",
            layer.diff_id.short(),
            human_size(layer.size)
        );
        let (uds, blob) = (uds.to_path_buf(), store.blob_path(&layer.blob));
        running.spawn(async move { upload(&uds, &blob, &layer).await });
    }
    while let Some(done) = running.join_next().await {
        finished(Some(done))?;
    }
    Ok(())
}

/// Layers uploaded at once.
const PARALLEL_UPLOADS: usize = 3;

fn finished(done: Option<Result<Result<()>, tokio::task::JoinError>>) -> Result<()> {
    match done {
        Some(Ok(result)) => result,
        Some(Err(e)) => Err(anyhow!("layer upload task failed: {e}")),
        None => Ok(()),
    }
}

async fn upload(uds: &Path, blob: &Path, layer: &Layer) -> Result<()> {
    let mut file = tokio::fs::File::open(blob)
        .await
        .with_context(|| format!("opening layer {}", layer.blob))?;
    let size = file.metadata().await?.len();
    let mut conn = connect_port(uds, LAYER_PORT).await?;
    let header = LayerUpload {
        diff_id: layer.diff_id.clone(),
        size,
    };
    write_frame_async(&mut conn, &header).await?;
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
        ) => Err(anyhow!(AgentFailure(e)))
            .with_context(|| format!("layer {} was not stored in the machine", layer.blob)),
        (_, Err(e)) => Err(anyhow!(e)).context(format!("sending layer {}", layer.blob)),
        (other, Ok(_)) => bail!("unexpected answer to layer upload: {other:?}"),
    }
}
