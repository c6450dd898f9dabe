//! `POST /containers/{id}/attach` and `/resize`: docker's clients attach
//! to a created container before they start it, then resize its terminal.
//! The attachment prepares the start with its stdio attached and waits
//! for `/start` to run it, so no output is lost. Attached to a running
//! container (`docker attach`), a client joins its stdio: its output from
//! then on, and its stdin when it was created with `-i`. With a terminal,
//! the detach keys (`detachKeys`, Ctrl-P Ctrl-Q by default) end the
//! attachment and leave it running.

use crate::error::{ApiError, ApiResult};
use crate::params::truthy;
use crate::state::{ApiState, SharedResizer, StartRequest};
use crate::stream::{self, Client, Framing};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use engine::container::{ContainerState, DetachKeys, Process};
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::oneshot;

#[derive(Deserialize)]
pub struct AttachQuery {
    stream: Option<String>,
    stdin: Option<String>,
    #[serde(rename = "detachKeys")]
    detach_keys: Option<String>,
}

pub async fn attach(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    query: Result<Query<AttachQuery>, QueryRejection>,
    mut request: Request,
) -> ApiResult<Response> {
    let Query(query) = query?;
    if !truthy(&query.stream) {
        return Err(ApiError::bad_request(
            "only stream=1 attachments are served; read past output with logs",
        ));
    }
    let details = st.container(&name).await?;
    let machine = st.machine.as_str();
    let id = details.info.id.clone();
    let framing = Framing::for_tty(details.tty);
    let stdin = truthy(&query.stdin) && details.stdin;
    let detach = match (details.tty, query.detach_keys.as_deref()) {
        (false, _) => None,
        (true, None | Some("")) => Some(DetachKeys::default()),
        (true, Some(keys)) => Some(DetachKeys::parse(keys).map_err(engine::Error::from)?),
    };
    let (process, start) = match details.info.state {
        ContainerState::Running => {
            let mut process = st.engine.attach_running(machine, &id, stdin).await?;
            process.start().await?;
            (process, None)
        }
        _ => {
            let process = st.engine.attach_container(machine, &id, stdin).await?;
            (process, Some(st.await_start(&id)))
        }
    };
    let resizer = match details.tty {
        true => Some(st.set_resizer(&id, process.resizer().await?)),
        false => None,
    };
    let (response, client) = Client::answer(&mut request, framing);
    let attachment = Attachment {
        id,
        start,
        framing,
        detach,
        resizer,
    };
    tokio::spawn(session(st.clone(), process, client, attachment));
    Ok(response)
}

/// An attachment's particulars.
struct Attachment {
    id: String,
    /// Where `/start` comes (not for a running container).
    start: Option<oneshot::Receiver<StartRequest>>,
    framing: Framing,
    detach: Option<DetachKeys>,
    resizer: Option<SharedResizer>,
}

/// Runs the attachment: the client's stream opens, `/start` starts the
/// process (unless it runs already), output flows until it ends.
async fn session(st: Arc<ApiState>, mut process: Process, client: Client, a: Attachment) {
    let client = client.connect().await;
    let mut started = true;
    if let Some(start) = a.start {
        // A newer attachment replaced this one: it starts the container.
        let Ok(reply) = start.await else {
            return;
        };
        let result = process.start().await;
        started = result.is_ok();
        let _ = reply.send(result);
    }
    if started {
        stream::relay(process, client, a.framing, a.detach, |_| {}).await;
    }
    if let Some(resizer) = &a.resizer {
        st.release_resizer(&a.id, resizer);
    }
}

#[derive(Deserialize)]
pub struct ResizeQuery {
    h: Option<u16>,
    w: Option<u16>,
}

/// The terminal of the container's attached process (or of an exec, for
/// `/exec/{id}/resize`) takes the client's window size.
pub async fn resize_terminal(st: &ApiState, id: &str, query: ResizeQuery) -> ApiResult<StatusCode> {
    let (Some(rows), Some(cols)) = (query.h, query.w) else {
        return Err(ApiError::bad_request(
            "resize needs h and w (rows and columns)",
        ));
    };
    // No terminal to resize (no -t, or not attached here): nothing to do,
    // as with docker for a container without a terminal.
    if let Some(resizer) = st.resizer(id) {
        resizer.lock().await.resize(rows, cols).await?;
    }
    Ok(StatusCode::OK)
}

pub async fn resize(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    query: Result<Query<ResizeQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(query) = query?;
    let id = st.container_id(&name).await?;
    resize_terminal(&st, &id, query).await
}
