//! `docker exec`: an exec is created (`POST /containers/{id}/exec`),
//! started with its stream (`POST /exec/{id}/start`, upgraded), resized,
//! and inspected for its exit code once its stream ends.

use crate::attach::{resize_terminal, ResizeQuery};
use crate::error::{parse_json, ApiError, ApiResult};
use crate::state::{lock, ApiState, ExecRecord};
use crate::stream::{self, Client, Framing};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bollard_stubs::models::{ExecConfig, ExecInspectResponse, ExecStartConfig};
use engine::container::{ContainerState, ExecOptions, ExitStatus};
use std::sync::Arc;

/// docker's `{"Id": ...}` (bollard-stubs' `IdResponse` serializes its
/// field as `id`, which Go clients accept and Python ones do not).
#[derive(serde::Serialize)]
pub struct Created {
    #[serde(rename = "Id")]
    id: String,
}

pub async fn create(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<Created>)> {
    let config: ExecConfig = parse_json(&body?)?;
    let args = config.cmd.clone().unwrap_or_default();
    if args.is_empty() {
        return Err(ApiError::bad_request("Cmd is required: the command to run"));
    }
    let details = st.container(&name).await?;
    if details.info.state != ContainerState::Running {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("container {} is not running", details.info.id),
        ));
    }
    let options = ExecOptions {
        args,
        env: config.env.unwrap_or_default(),
        workdir: config.working_dir.filter(|w| !w.is_empty()),
        user: config.user.filter(|u| !u.is_empty()),
        stdin: config.attach_stdin.unwrap_or(false),
        tty: config.tty.unwrap_or(false),
    };
    let id = new_exec_id();
    lock(&st.execs).insert(
        id.clone(),
        ExecRecord {
            container: details.info.id,
            options,
            started: false,
            running: false,
            exit_code: None,
            pid: None,
        },
    );
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// 64 hex digits, as docker's exec ids.
fn new_exec_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let now = engine::time::now_ms();
    format!("{:016x}{:016x}{:032x}", std::process::id(), now, n)
}

fn record(st: &ApiState, id: &str) -> ApiResult<ExecRecord> {
    lock(&st.execs)
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
}

pub async fn start(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
    mut request: Request,
) -> ApiResult<Response> {
    let body = axum::body::to_bytes(std::mem::take(request.body_mut()), 1 << 20)
        .await
        .map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
    let config: ExecStartConfig = parse_json(&body)?;
    // Claimed under the lock: two starts of one exec run it once.
    let exec = {
        let mut execs = lock(&st.execs);
        let exec = execs
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))?;
        if exec.started {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("exec {id} has already been started"),
            ));
        }
        exec.started = true;
        exec.clone()
    };
    let machine = st.ready().await?;
    let mut process = st
        .engine
        .exec_in_container(machine, &exec.container, exec.options.clone())
        .await?;
    let tty = exec.options.tty;
    if tty {
        st.set_resizer(&id, process.resizer().await?);
    }
    let framing = Framing::for_tty(tty);
    if config.detach.unwrap_or(false) {
        let pid = process.start().await?;
        running(&st, &id, pid);
        tokio::spawn(finish(st, id, process, None, framing));
        return Ok(StatusCode::OK.into_response());
    }
    let (response, client) = Client::answer(&mut request, framing);
    tokio::spawn(async move {
        // Started once the stream is open: output sent before the switch
        // of protocols could be lost in a client's HTTP read buffer.
        let client = client.connect().await;
        match process.start().await {
            Ok(pid) => {
                running(&st, &id, pid);
                finish(st, id, process, client, framing).await;
            }
            // docker's exec of a command that cannot run: the stream says
            // why, the exit code is 127 or 126.
            Err(e) => {
                let code = cannot_run(&e).unwrap_or(126);
                lock(&st.execs)
                    .entry(id.clone())
                    .and_modify(|r| r.exit_code = Some(code));
                let message = format!("{}\n", crate::error::message_of(&e));
                stream::tell(client, framing, message).await;
                st.drop_resizer(&id);
            }
        }
    });
    Ok(response)
}

fn running(st: &ApiState, id: &str, pid: u32) {
    if let Some(e) = lock(&st.execs).get_mut(id) {
        e.running = true;
        e.pid = Some(pid);
    }
}

/// Relays the exec's stream (if it has a client) and records its exit.
async fn finish(
    st: Arc<ApiState>,
    id: String,
    process: engine::container::Process,
    client: Option<(Option<stream::ClientRead>, stream::ClientWrite)>,
    framing: Framing,
) {
    let finished = |status: Option<&ExitStatus>| {
        if let Some(e) = lock(&st.execs).get_mut(&id) {
            e.running = false;
            e.exit_code = Some(status.map_or(126, |s| s.shell_code()) as i64);
        }
    };
    // No detach keys: an exec's stdio are its streams, which end with us.
    stream::relay(process, client, framing, None, finished).await;
    st.drop_resizer(&id);
}

pub async fn resize(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
    query: Result<Query<ResizeQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Query(query) = query?;
    record(&st, &id)?;
    resize_terminal(&st, &id, query).await
}

pub async fn inspect(
    State(st): State<Arc<ApiState>>,
    Path(id): Path<String>,
) -> ApiResult<Json<ExecInspectResponse>> {
    let exec = record(&st, &id)?;
    Ok(Json(ExecInspectResponse {
        id: Some(id),
        running: Some(exec.running),
        exit_code: exec.exit_code,
        container_id: Some(exec.container),
        open_stdin: Some(exec.options.stdin),
        pid: exec.pid.map(i64::from),
        ..Default::default()
    }))
}

/// docker's exit code for a command that cannot run.
fn cannot_run(e: &engine::Error) -> Option<i64> {
    match e.kind() {
        engine::ErrorKind::CommandNotFound => Some(127),
        engine::ErrorKind::CommandNotExecutable => Some(126),
        _ => None,
    }
}
