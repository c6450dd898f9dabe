//! `GET /events`: container lifecycle events (create, start, die,
//! destroy) as docker streams them, one JSON object a line. One follower
//! per service reads the agent's event stream while the machine runs and
//! fans it out; recent events are kept for `since`.

use crate::error::{ApiError, ApiResult};
use crate::params::parse_filters;
use crate::state::{lock, ApiState};
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::Response;
use bollard_stubs::models::{
    EventActor, EventMessage, EventMessageScopeEnum, EventMessageTypeEnum,
};
use engine::container::LifecycleEvent;
use serde::Deserialize;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Events kept for clients that ask for past ones (`--since`).
const HISTORY: usize = 512;

/// The service's event hub.
pub struct Events {
    live: broadcast::Sender<LifecycleEvent>,
    history: std::sync::Mutex<VecDeque<LifecycleEvent>>,
    following: std::sync::atomic::AtomicBool,
}

impl Default for Events {
    fn default() -> Events {
        Events {
            live: broadcast::channel(HISTORY).0,
            history: Default::default(),
            following: Default::default(),
        }
    }
}

impl Events {
    /// Every event from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LifecycleEvent> {
        self.live.subscribe()
    }

    fn publish(&self, event: LifecycleEvent) {
        let mut history = lock(&self.history);
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(event.clone());
        let _ = self.live.send(event);
    }
}

/// Follows the machine's events, once per service while it runs; called
/// whenever a request finds the machine running.
pub fn follow(st: &Arc<ApiState>) {
    if st
        .events
        .following
        .swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        return;
    }
    let st = st.clone();
    tokio::spawn(async move {
        if let Ok(mut watch) = st.engine.watch_containers(&st.machine).await {
            while let Ok(event) = watch.next().await {
                st.events.publish(event);
            }
        }
        st.events
            .following
            .store(false, std::sync::atomic::Ordering::SeqCst);
    });
}

/// An event in docker's shape.
fn message(event: LifecycleEvent) -> EventMessage {
    EventMessage {
        typ: Some(EventMessageTypeEnum::CONTAINER),
        action: Some(event.action_name().into()),
        actor: Some(EventActor {
            id: Some(event.id),
            attributes: Some(event.attributes.into_iter().collect()),
        }),
        scope: Some(EventMessageScopeEnum::LOCAL),
        time: Some(event.time_ns / 1_000_000_000),
        time_nano: Some(event.time_ns),
    }
}

/// An event with the fields docker kept from API 1.21 (`status`, `id`,
/// `from`) beside today's: docker-compose 1.29 reads those.
#[derive(serde::Serialize)]
struct Legacy {
    status: Option<String>,
    id: Option<String>,
    from: Option<String>,
    #[serde(flatten)]
    message: EventMessage,
}

impl From<EventMessage> for Legacy {
    fn from(message: EventMessage) -> Legacy {
        let actor = message.actor.as_ref();
        Legacy {
            status: message.action.clone(),
            id: actor.and_then(|a| a.id.clone()),
            from: actor
                .and_then(|a| a.attributes.as_ref())
                .and_then(|a| a.get("image").cloned()),
            message,
        }
    }
}

#[derive(Deserialize)]
pub struct EventsQuery {
    since: Option<String>,
    until: Option<String>,
    filters: Option<String>,
}

/// docker's times in queries: Unix seconds, with a fraction.
fn seconds(text: &Option<String>) -> ApiResult<Option<f64>> {
    text.as_deref()
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<f64>()
                .map_err(|_| ApiError::bad_request(format!("invalid time {t:?}: Unix seconds")))
        })
        .transpose()
}

pub async fn events(
    State(st): State<Arc<ApiState>>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query?;
    let (since, until) = (seconds(&query.since)?, seconds(&query.until)?);
    let wanted = parse_filters(query.filters.as_deref())?;
    st.ready().await?;
    let admit = move |e: &LifecycleEvent| e.matches(&wanted);
    let in_window = move |e: &LifecycleEvent| {
        let at = e.time_ns as f64 / 1e9;
        since.is_none_or(|s| at >= s) && until.is_none_or(|u| at <= u)
    };
    // Read with the history locked, as publishing holds it: no event is
    // both in the copy and in the subscription, and none falls between.
    let (past, live) = {
        let history = lock(&st.events.history);
        let past: Vec<LifecycleEvent> = match since {
            Some(_) => history.iter().cloned().collect(),
            None => Vec::new(),
        };
        (past, st.events.subscribe())
    };
    let lines =
        futures_util::stream::unfold((past.into_iter(), live), move |(mut past, mut live)| {
            let (admit, in_window) = (admit.clone(), in_window);
            async move {
                loop {
                    let event = match past.next() {
                        Some(m) => m,
                        None => {
                            // Past `until`, the stream ends.
                            let received = match until {
                                Some(u) => {
                                    let left = u - engine::time::now_ms() as f64 / 1e3;
                                    let left = Duration::from_secs_f64(left.max(0.0));
                                    match tokio::time::timeout(left, live.recv()).await {
                                        Ok(received) => received,
                                        Err(_) => return None,
                                    }
                                }
                                None => live.recv().await,
                            };
                            match received {
                                Ok(m) => m,
                                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                                Err(_) => return None,
                            }
                        }
                    };
                    if admit(&event) && in_window(&event) {
                        let legacy = Legacy::from(message(event));
                        let mut line = serde_json::to_vec(&legacy).unwrap_or_default();
                        line.push(b'\n');
                        let chunk = Ok::<_, std::convert::Infallible>(Bytes::from(line));
                        return Some((chunk, (past, live)));
                    }
                }
            }
        });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from_stream(lines))
        .expect("static headers are valid"))
}
