//! `/containers/...`: create, list, inspect, start, stop, restart, kill,
//! wait, logs and remove, each one engine call (or two) as the CLI makes.

use crate::create;
use crate::error::{no_such_image, parse_json, ApiError, ApiResult};
use crate::params::{label_matches, truthy};
use crate::state::ApiState;
use crate::stream::{encode_entries, Framing};
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bollard_stubs::models::{
    ContainerCreateResponse, ContainerSummary, ContainerSummaryHostConfig,
    ContainerSummaryStateEnum, Port, PortTypeEnum,
};
use engine::container::{
    labels, status_text, ContainerDetails, ContainerInspect, ContainerState, LogEntry,
    PortProtocol, StdioStream,
};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct CreateQuery {
    name: Option<String>,
}

pub async fn create(
    State(st): State<Arc<ApiState>>,
    query: Result<Query<CreateQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    let Query(query) = query?;
    let request = create::request(parse_json(&body?)?, query.name)?;
    let machine = st.ready().await?;
    // docker answers a missing image with 404; its clients pull and retry.
    st.engine
        .inspect_image(&request.image)
        .map_err(no_such_image(&request.image))?;
    let id = st.engine.create_container(machine, &request).await?;
    let created = ContainerCreateResponse {
        id,
        warnings: Vec::new(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[derive(Deserialize)]
pub struct ListQuery {
    all: Option<String>,
    limit: Option<i64>,
    filters: Option<String>,
}

pub async fn list(
    State(st): State<Arc<ApiState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<ContainerSummary>>> {
    let Query(query) = query?;
    let filters = Filters::parse(query.filters.as_deref())?;
    let all = truthy(&query.all) || filters.names_state();
    let mut shown = summaries(&st, all, &filters).await?;
    // docker-py sends -1 for no limit.
    if let Some(limit) = query.limit.filter(|l| *l > 0) {
        shown.truncate(limit as usize);
    }
    Ok(Json(shown))
}

/// The machine's containers (running ones only unless `all`) that pass
/// `filters`, in docker's list shape.
pub async fn summaries(
    st: &Arc<ApiState>,
    all: bool,
    filters: &Filters,
) -> ApiResult<Vec<ContainerSummary>> {
    let machine = st.ready().await?;
    // Labels live in the details (compose finds its containers by them).
    let details = st
        .engine
        .container_details(machine, |info| all || info.state == ContainerState::Running)
        .await?;
    Ok(details
        .iter()
        .filter(|d| filters.admit(d))
        .map(summary)
        .collect())
}

/// `filters={"status":["exited"],"name":["web"],"id":["abc"]}`; each key
/// must match one of its values.
pub struct Filters(HashMap<String, Vec<String>>);

impl Filters {
    pub fn parse(text: Option<&str>) -> ApiResult<Filters> {
        let supported = ["status", "name", "id", "ancestor", "label"];
        Ok(Filters(crate::params::filters(text, &supported)?))
    }

    /// A status filter looks at every container, as docker's does.
    fn names_state(&self) -> bool {
        self.0.contains_key("status")
    }

    fn admit(&self, details: &ContainerDetails) -> bool {
        let c = &details.info;
        let labels = labels(details);
        self.0.iter().all(|(key, values)| match key.as_str() {
            // docker: every label asked for; any one of another key's values.
            "label" => values.iter().all(|v| label_matches(labels.iter(), v)),
            _ => values.iter().any(|v| match key.as_str() {
                "status" => state_name(c) == v,
                "name" => c.name.contains(v.trim_start_matches('/')),
                "id" => c.id.starts_with(v.as_str()),
                "ancestor" => c.image == *v,
                _ => false,
            }),
        })
    }
}

fn state_name(c: &engine::container::ContainerInfo) -> &'static str {
    match c.state {
        ContainerState::Created => "created",
        ContainerState::Running if c.paused => "paused",
        ContainerState::Running => "running",
        ContainerState::Exited => "exited",
    }
}

fn summary(details: &ContainerDetails) -> ContainerSummary {
    let c = &details.info;
    let state = match c.state {
        ContainerState::Created => ContainerSummaryStateEnum::CREATED,
        ContainerState::Running if c.paused => ContainerSummaryStateEnum::PAUSED,
        ContainerState::Running => ContainerSummaryStateEnum::RUNNING,
        ContainerState::Exited => ContainerSummaryStateEnum::EXITED,
    };
    let ports = c
        .ports
        .iter()
        .map(|p| Port {
            ip: Some(p.host_ip.to_string()),
            private_port: p.container_port,
            public_port: Some(p.host_port),
            typ: Some(match p.protocol {
                PortProtocol::Udp => PortTypeEnum::UDP,
                _ => PortTypeEnum::TCP,
            }),
        })
        .collect();
    ContainerSummary {
        id: Some(c.id.clone()),
        names: Some(vec![format!("/{}", c.name)]),
        image: Some(c.image.clone()),
        command: Some(c.command.join(" ")),
        created: Some((c.created_ms / 1000) as i64),
        ports: Some(ports),
        labels: Some(labels(details).into_iter().collect()),
        state: Some(state),
        status: Some(status_text(c)),
        host_config: Some(ContainerSummaryHostConfig {
            network_mode: Some(details.network.clone()),
            annotations: None,
        }),
        ..Default::default()
    }
}

pub async fn inspect(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<ContainerInspect>> {
    let details = st.container(&name).await?;
    Ok(Json(ContainerInspect::from(&details)))
}

pub async fn start(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let details = st.container(&name).await?;
    let machine = st.machine.as_str();
    let id = details.info.id;
    if details.info.state == ContainerState::Running {
        // docker's answer; an attachment left from before stays unused.
        return Ok(StatusCode::NOT_MODIFIED);
    }
    // Attached first (`docker run` without -d): its attachment starts it,
    // so its first output reaches the client. Without one, or when the
    // attachment is gone (its client left), a plain start.
    let through_attachment = match st.take_attachment(&id) {
        Some(attachment) => {
            let (reply, outcome) = tokio::sync::oneshot::channel();
            match attachment.send(reply) {
                Ok(()) => outcome.await.ok(),
                Err(_) => None,
            }
        }
        None => None,
    };
    let started = match through_attachment {
        Some(started) => started,
        None => st.engine.start_container(machine, &id).await,
    };
    match started {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(e) => {
            // A container whose command cannot run never ran: the machine
            // will not remove it on exit, so `--rm`'s removal is ours.
            if details.auto_remove && details.info.state == ContainerState::Created {
                let _ = st.engine.remove_container(machine, &id, true, true).await;
            }
            Err(e.into())
        }
    }
}

#[derive(Deserialize)]
pub struct StopQuery {
    t: Option<i64>,
}

/// docker's default grace period before SIGKILL.
const STOP_TIMEOUT_S: u32 = 10;

fn timeout_of(query: &StopQuery) -> u32 {
    query
        .t
        .map(|t| t.clamp(0, u32::MAX as i64) as u32)
        .unwrap_or(STOP_TIMEOUT_S)
}

pub async fn stop(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    query: Result<Query<StopQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(query) = query?;
    let details = st.container(&name).await?;
    let machine = st.machine.as_str();
    if details.info.state != ContainerState::Running {
        return Ok(StatusCode::NOT_MODIFIED);
    }
    st.engine
        .stop_container(machine, &details.info.id, timeout_of(&query))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn restart(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    query: Result<Query<StopQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(query) = query?;
    let id = st.container_id(&name).await?;
    st.engine
        .restart_container(&st.machine, &id, timeout_of(&query))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct PruneQuery {
    filters: Option<String>,
}

/// `POST /containers/prune`: every container that is not running goes.
pub async fn prune(
    State(st): State<Arc<ApiState>>,
    query: Result<Query<PruneQuery>, QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let Query(query) = query?;
    // Filters (until, label) are not applied: refused, not ignored.
    crate::params::filters(query.filters.as_deref(), &[])?;
    let machine = st.ready().await?;
    let removed = st.engine.prune_containers(machine).await?;
    for id in &removed {
        st.forget(id);
    }
    Ok(Json(serde_json::json!({
        "ContainersDeleted": removed,
        "SpaceReclaimed": 0,
    })))
}

pub async fn pause(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let id = st.container_id(&name).await?;
    st.engine.pause_container(&st.machine, &id, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn unpause(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let id = st.container_id(&name).await?;
    st.engine.pause_container(&st.machine, &id, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct RenameQuery {
    name: Option<String>,
}

pub async fn rename(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    query: Result<Query<RenameQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(query) = query?;
    let new_name = query
        .name
        .map(|n| n.trim_start_matches('/').to_string())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("name is required: the container's new name"))?;
    let id = st.container_id(&name).await?;
    st.engine
        .rename_container(&st.machine, &id, &new_name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct KillQuery {
    signal: Option<String>,
}

pub async fn kill(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    query: Result<Query<KillQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(query) = query?;
    let signal = match query.signal.as_deref().filter(|s| !s.is_empty()) {
        None => libc::SIGKILL,
        Some(text) => engine::signal::parse(text).map_err(ApiError::bad_request)?,
    };
    let details = st.container(&name).await?;
    let machine = st.machine.as_str();
    if details.info.state != ContainerState::Running {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("container {name} is not running"),
        ));
    }
    st.engine
        .kill_container(machine, &details.info.id, signal)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct LogsQuery {
    follow: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
    timestamps: Option<String>,
    tail: Option<String>,
}

pub async fn logs(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    query: Result<Query<LogsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query?;
    let (stdout, stderr) = (truthy(&query.stdout), truthy(&query.stderr));
    if !stdout && !stderr {
        return Err(ApiError::bad_request(
            "you must choose at least one stream: stdout=1 or stderr=1",
        ));
    }
    let tail = match query.tail.as_deref() {
        None | Some("" | "all") => None,
        Some(n) => Some(n.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!("invalid tail {n:?}: a number of lines or all"))
        })?),
    };
    let details = st.container(&name).await?;
    let machine = st.machine.as_str();
    let reader = st
        .engine
        .container_logs(machine, &details.info.id, tail, truthy(&query.follow))
        .await?;
    let framing = Framing::for_tty(details.tty);
    let timestamps = truthy(&query.timestamps);
    let wanted = move |entry: &LogEntry| match entry.stream {
        StdioStream::Stderr => stderr,
        _ => stdout,
    };
    let chunks = futures_util::stream::unfold(reader, move |mut reader| async move {
        let entries = reader.next().await.ok()??;
        let bytes = encode_entries(entries.iter().filter(|e| wanted(e)), framing, timestamps);
        Some((
            Ok::<_, std::convert::Infallible>(Bytes::from(bytes)),
            reader,
        ))
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, framing.content_type())
        .body(Body::from_stream(chunks))
        .expect("static headers are valid"))
}

#[derive(Deserialize)]
pub struct RemoveQuery {
    force: Option<String>,
    v: Option<String>,
}

pub async fn remove(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    query: Result<Query<RemoveQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(query) = query?;
    let id = st.container_id(&name).await?;
    let machine = st.machine.as_str();
    st.engine
        .remove_container(machine, &id, truthy(&query.force), truthy(&query.v))
        .await?;
    st.forget(&id);
    Ok(StatusCode::NO_CONTENT)
}
