//! `POST /images/create?fromImage=NAME&tag=TAG`: a pull, its progress
//! streamed as docker's JSON lines (the CLI draws its bars from them);
//! a failure after the headers went out is an `error` line, as docker's.

use crate::error::{message_of, ApiError, ApiResult};
use crate::state::ApiState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use bollard_stubs::models::{CreateImageInfo, ErrorDetail, ProgressDetail};
use engine::image::Reference;
use engine::{Engine, Event, PullEvent, Reporter};
use serde::Deserialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Deserialize)]
pub struct PullQuery {
    #[serde(rename = "fromImage")]
    from_image: Option<String>,
    tag: Option<String>,
}

/// How often a downloading layer's progress is sent.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

pub async fn pull(
    State(st): State<Arc<ApiState>>,
    query: Result<Query<PullQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query?;
    let image = query.from_image.filter(|i| !i.is_empty()).ok_or_else(|| {
        ApiError::bad_request("fromImage is required (importing with fromSrc is not supported)")
    })?;
    let text = match query.tag.filter(|t| !t.is_empty()) {
        // The CLI sends a digest as the tag.
        Some(tag) if tag.contains(':') => format!("{image}@{tag}"),
        Some(tag) => format!("{image}:{tag}"),
        None => image,
    };
    let reference = Reference::parse(&text)
        .map_err(|e| ApiError::bad_request(format!("invalid reference {text:?}: {e}")))?;
    let (lines, receiver) = mpsc::unbounded_channel();
    let engine = Engine::new(
        st.engine.home().clone(),
        Arc::new(Progress {
            lines: lines.clone(),
        }),
    );
    tokio::spawn(async move {
        if let Err(e) = engine.pull(&reference, false).await {
            let message = message_of(&e);
            let _ = lines.send(CreateImageInfo {
                error: Some(message.clone()),
                error_detail: Some(ErrorDetail {
                    message: Some(message),
                    code: None,
                }),
                ..Default::default()
            });
        }
    });
    Ok(crate::lines::json_lines(receiver))
}

/// The pull's events as docker's progress lines.
struct Progress {
    lines: mpsc::UnboundedSender<CreateImageInfo>,
}

fn status(id: Option<&str>, status: impl Into<String>) -> CreateImageInfo {
    CreateImageInfo {
        id: id.map(String::from),
        status: Some(status.into()),
        ..Default::default()
    }
}

impl Reporter for Progress {
    fn report(&self, event: Event) {
        let Event::Pull(event) = event else {
            return;
        };
        let send = |info| {
            let _ = self.lines.send(info);
        };
        match event {
            PullEvent::Started { tag, repository } => {
                send(status(Some(&tag), format!("Pulling from {repository}")))
            }
            PullEvent::LayerHeld { id } => send(status(Some(&id), "Already exists")),
            PullEvent::LayerDownloading {
                id,
                total,
                received,
            } => {
                send(status(Some(&id), "Pulling fs layer"));
                tokio::spawn(follow_download(self.lines.downgrade(), id, total, received));
            }
            PullEvent::LayerDone { id } => send(status(Some(&id), "Pull complete")),
            PullEvent::LayerFailed { id } => send(status(Some(&id), "Download failed")),
            PullEvent::Finished {
                digest,
                up_to_date,
                name,
            } => {
                send(status(None, format!("Digest: {digest}")));
                send(status(
                    None,
                    match up_to_date {
                        true => format!("Status: Image is up to date for {name}"),
                        false => format!("Status: Downloaded newer image for {name}"),
                    },
                ));
            }
        }
    }
}

/// "Downloading" lines with the bytes received, until the layer is whole,
/// the pull is over (only the pull holds the sender: a weak one here lets
/// the stream end with it) or the client stopped listening.
async fn follow_download(
    lines: mpsc::WeakUnboundedSender<CreateImageInfo>,
    id: String,
    total: u64,
    received: Arc<AtomicU64>,
) {
    loop {
        let current = received.load(Ordering::Relaxed);
        let line = CreateImageInfo {
            id: Some(id.clone()),
            status: Some("Downloading".into()),
            progress_detail: Some(ProgressDetail {
                current: Some(current as i64),
                total: Some(total as i64),
            }),
            ..Default::default()
        };
        let Some(sender) = lines.upgrade() else {
            return;
        };
        if current >= total || sender.send(line).is_err() {
            return;
        }
        drop(sender);
        tokio::time::sleep(PROGRESS_EVERY).await;
    }
}
