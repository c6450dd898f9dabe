//! `POST /containers/{id}/attach` and `/resize`: docker's clients attach
//! to a created container before they start it, then resize its terminal.
//! The attachment prepares the start with its stdio attached and waits
//! for `/start` to run it, so no output is lost. Attached to a running
//! container (`docker attach`), a client gets its output from then on as
//! its log records it; its stdin, a pipe only an attached start has, is
//! not there to join.

use crate::error::{ApiError, ApiResult};
use crate::params::truthy;
use crate::state::{ApiState, StartRequest};
use crate::stream::{self, Client, Framing};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use engine::container::{ContainerState, Process};
use serde::Deserialize;
use std::sync::Arc;
use tokio::sync::oneshot;

#[derive(Deserialize)]
pub struct AttachQuery {
    stream: Option<String>,
    stdin: Option<String>,
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
    if details.info.state == ContainerState::Running {
        let log = st
            .engine
            .container_logs(machine, &id, Some(0), true)
            .await?;
        let (response, client) = Client::answer(&mut request, framing);
        tokio::spawn(async move { stream::follow_log(log, client.connect().await, framing).await });
        return Ok(response);
    }
    let stdin = truthy(&query.stdin) && details.stdin;
    let process = st.engine.attach_container(machine, &id, stdin).await?;
    if details.tty {
        st.set_resizer(&id, process.resizer().await?);
    }
    let start = st.await_start(&id);
    let (response, client) = Client::answer(&mut request, framing);
    tokio::spawn(session(st.clone(), id, process, start, client, framing));
    Ok(response)
}

/// Runs the attachment: the client's stream opens, `/start` starts the
/// process, output flows until it ends.
async fn session(
    st: Arc<ApiState>,
    id: String,
    mut process: Process,
    start: oneshot::Receiver<StartRequest>,
    client: Client,
    framing: Framing,
) {
    let client = client.connect().await;
    // A newer attachment replaced this one: it starts the container.
    let Ok(reply) = start.await else {
        return;
    };
    let started = process.start().await;
    let failed = started.is_err();
    let _ = reply.send(started);
    if !failed {
        stream::relay(process, client, framing, |_| {}).await;
    }
    st.drop_resizer(&id);
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
