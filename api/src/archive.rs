//! `docker save` and `docker load`: `GET /images/get?names=...` (or
//! `/images/{name}/get`) streams a docker-archive tar; `POST /images/load`
//! reads one from the request body as it arrives, whatever its size.

use crate::error::{ApiError, ApiResult};
use crate::state::ApiState;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::Response;
use engine::image::ImageName;
use futures_util::StreamExt;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// `names=a&names=b`, as docker's clients repeat the key.
fn names_in(query: Option<&str>) -> ApiResult<Vec<ImageName>> {
    let names: Vec<ImageName> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(key, _)| key == "names")
        .map(|(_, value)| {
            value
                .parse()
                .map_err(|e| ApiError::bad_request(format!("invalid image name {value:?}: {e}")))
        })
        .collect::<ApiResult<_>>()?;
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "names= is required: the images to save",
        ));
    }
    Ok(names)
}

pub async fn save_named(st: Arc<ApiState>, names: Vec<ImageName>) -> ApiResult<Response> {
    // The engine writes archives to files: one in hutch's home, streamed
    // and then removed.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = st.engine.home().root().join(format!(
        "save-{}-{}.tar",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let engine = st.engine.clone();
    // Written, opened and unlinked in one blocking call: the open file
    // streams on, and nothing is left behind whenever the client leaves.
    let opened = tokio::task::spawn_blocking(move || {
        let saved = engine.save(&names, &path);
        let opened = saved.and_then(|()| {
            std::fs::File::open(&path)
                .map_err(|e| engine::image::ImageError::io("opening the saved archive")(e).into())
        });
        let _ = std::fs::remove_file(&path);
        opened
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let file = tokio::fs::File::from_std(opened?);
    let chunks = futures_util::stream::unfold(file, |mut file| async move {
        let mut buf = vec![0; 256 << 10];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "application/x-tar")
        .body(Body::from_stream(chunks))
        .expect("static headers are valid"))
}

/// `GET /images/get?names=a&names=b`.
pub async fn save(State(st): State<Arc<ApiState>>, request: Request) -> ApiResult<Response> {
    let names = names_in(request.uri().query())?;
    save_named(st, names).await
}

/// The body's chunks as a blocking reader, for the engine's loader.
pub struct ChunkReader {
    chunks: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

impl ChunkReader {
    /// Reads `request`'s body as it arrives.
    pub fn of(request: Request) -> ChunkReader {
        let (sender, chunks) = mpsc::channel(16);
        let mut body = request.into_body().into_data_stream();
        tokio::spawn(async move {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(std::io::Error::other);
                if sender.send(chunk).await.is_err() {
                    return;
                }
            }
        });
        ChunkReader {
            chunks,
            current: Bytes::new(),
        }
    }
}

/// `POST /images/load`: docker's `{"stream": "Loaded image: ..."}` lines.
pub async fn load(State(st): State<Arc<ApiState>>, request: Request) -> ApiResult<Response> {
    let reader = ChunkReader::of(request);
    let engine = st.engine.clone();
    let loaded =
        tokio::task::spawn_blocking(move || engine.load(Box::new(reader), "the request body"))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let names = loaded?;
    let lines: String = names
        .iter()
        .map(|name| {
            let line = serde_json::json!({ "stream": format!("Loaded image: {name}\n") });
            format!("{line}\n")
        })
        .collect();
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(lines))
        .expect("static headers are valid"))
}
