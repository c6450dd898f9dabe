//! `POST /containers/{id}/wait`: the response's headers go out at once
//! (the docker CLI waits for them before it starts the container); the
//! body, `{"StatusCode": N}`, at the exit. The agent's wait answers for a
//! running or created container; the machine's events answer for what
//! it cannot see: the next exit of an exited container, and a container
//! that is already gone (a `--rm` one) or removed before it ran.

use crate::error::{message_of, ApiError, ApiResult};
use crate::state::ApiState;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::Response;
use bollard_stubs::models::{ContainerWaitExitError, ContainerWaitResponse};
use engine::container::ContainerState;
use engine::container::{ContainerAction, LifecycleEvent};
use engine::ErrorKind;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

#[derive(Deserialize)]
pub struct WaitQuery {
    condition: Option<String>,
}

/// docker's status for a container removed before it ever ran.
const NEVER_RAN: i64 = 125;
/// How long a `removed` wait gives the machine to remove a `--rm` one.
const REMOVAL_GRACE: Duration = Duration::from_secs(5);

pub async fn wait(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query?;
    let condition = query.condition.unwrap_or_default();
    if !matches!(
        condition.as_str(),
        "" | "not-running" | "next-exit" | "removed"
    ) {
        return Err(ApiError::bad_request(format!(
            "invalid condition {condition:?}: not-running, next-exit or removed"
        )));
    }
    let details = st.container(&name).await?;
    // Heard from before the headers go out, so no exit is missed.
    let mut events = st.events.subscribe();
    let waited = async move {
        let id = details.info.id.clone();
        let state = details.info.state;
        let code = match (condition.as_str(), state) {
            ("" | "not-running", s) if s != ContainerState::Running => {
                Ok(i64::from(details.info.exit_code.unwrap_or(0)))
            }
            // An exited container's next exit follows its next start.
            (_, ContainerState::Exited) => Ok(next_exit(&mut events, &id).await),
            _ => {
                let from_events = next_exit(&mut events, &id);
                tokio::pin!(from_events);
                let agent = tokio::select! {
                    status = st.engine.wait_container(&st.machine, &id) => {
                        status.map(|s| i64::from(s.shell_code()))
                    }
                    code = &mut from_events => Ok(code),
                };
                match agent {
                    Ok(code) => Ok(code),
                    // Gone before the agent was asked: its events say how it ended.
                    Err(e) if e.kind() == ErrorKind::NotFound => Ok(from_events.await),
                    Err(e) => Err(message_of(&e)),
                }
            }
        };
        reply(code, &condition, &st, &id, events).await
    };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from_stream(futures_util::stream::once(waited)))
        .expect("static headers are valid"))
}

/// The body, once a `removed` wait has also seen the removal.
async fn reply(
    code: Result<i64, String>,
    condition: &str,
    st: &ApiState,
    id: &str,
    mut events: broadcast::Receiver<LifecycleEvent>,
) -> Result<Bytes, std::convert::Infallible> {
    if condition == "removed" && st.engine.inspect_container(&st.machine, id).await.is_ok() {
        let destroyed = event_for(&mut events, id, &[ContainerAction::Destroy]);
        let _ = tokio::time::timeout(REMOVAL_GRACE, destroyed).await;
    }
    let response = match code {
        Ok(code) => ContainerWaitResponse {
            status_code: code,
            error: None,
        },
        Err(message) => ContainerWaitResponse {
            status_code: NEVER_RAN,
            error: Some(ContainerWaitExitError {
                message: Some(message),
            }),
        },
    };
    Ok(Bytes::from(
        serde_json::to_vec(&response).unwrap_or_default(),
    ))
}

/// The exit code of `id`'s next `die` event, or docker's 125 if it is
/// destroyed first (it never ran).
async fn next_exit(events: &mut broadcast::Receiver<LifecycleEvent>, id: &str) -> i64 {
    let actions = [ContainerAction::Die, ContainerAction::Destroy];
    let event = event_for(events, id, &actions).await;
    match event.action {
        ContainerAction::Die => event
            .attributes
            .get("exitCode")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        _ => NEVER_RAN,
    }
}

/// The next event of `id` whose action is one of `actions`.
async fn event_for(
    events: &mut broadcast::Receiver<LifecycleEvent>,
    id: &str,
    actions: &[ContainerAction],
) -> LifecycleEvent {
    loop {
        match events.recv().await {
            Ok(event) => {
                if event.id == id && actions.contains(&event.action) {
                    return event;
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            // The hub lives as long as the service.
            Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
        }
    }
}
