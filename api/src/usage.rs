//! `docker top` and `docker stats`: `GET /containers/{id}/top` (docker's
//! default `ps -ef` columns) and `GET /containers/{id}/stats` (one JSON
//! reading, or one a second while `stream` and the container runs).

use crate::error::{ApiError, ApiResult};
use crate::params::truthy;
use crate::state::ApiState;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;
use axum::Json;
use engine::container::{top_row, UsageSample, TOP_TITLES};
use engine::time::format_rfc3339_ms;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// Between readings, as docker's daemon samples.
const INTERVAL: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
pub struct TopQuery {
    ps_args: Option<String>,
}

/// `GET /containers/{id}/top`.
pub async fn top(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    query: Result<Query<TopQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(query) = query?;
    if let Some(args) = query
        .ps_args
        .as_deref()
        .filter(|a| !a.is_empty() && *a != "-ef")
    {
        return Err(ApiError::bad_request(format!(
            "ps options {args:?} are not supported: hutch shows ps -ef's columns"
        )));
    }
    let id = st.container_id(&name).await?;
    let processes = st.engine.container_top(&st.machine, &id).await?;
    let now = engine::time::now_ms();
    let rows: Vec<Vec<String>> = processes.iter().map(|p| top_row(p, now)).collect();
    Ok(Json(json!({ "Titles": TOP_TITLES, "Processes": rows })))
}

#[derive(Deserialize)]
pub struct StatsQuery {
    stream: Option<String>,
    #[serde(rename = "one-shot")]
    one_shot: Option<String>,
}

/// docker's `cpu_stats` of a reading (times in nanoseconds).
fn cpu_stats(sample: Option<&UsageSample>) -> Value {
    let Some(s) = sample else {
        return json!({
            "cpu_usage": { "total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0 },
            "throttling_data": { "periods": 0, "throttled_periods": 0, "throttled_time": 0 },
        });
    };
    json!({
        "cpu_usage": {
            "total_usage": s.cpu_usage_us * 1000,
            "usage_in_kernelmode": s.cpu_system_us * 1000,
            "usage_in_usermode": s.cpu_user_us * 1000,
        },
        "system_cpu_usage": s.machine_cpu_us * 1000,
        "online_cpus": s.online_cpus,
        "throttling_data": { "periods": 0, "throttled_periods": 0, "throttled_time": 0 },
    })
}

/// One reading as docker's stats JSON, with the one before it.
fn stats_json(id: &str, name: &str, now: &UsageSample, before: Option<&UsageSample>) -> Value {
    let networks: serde_json::Map<String, Value> = now
        .networks
        .iter()
        .map(|(interface, n)| {
            (
                interface.clone(),
                json!({
                    "rx_bytes": n.rx_bytes, "rx_packets": n.rx_packets,
                    "rx_errors": n.rx_errors, "rx_dropped": n.rx_dropped,
                    "tx_bytes": n.tx_bytes, "tx_packets": n.tx_packets,
                    "tx_errors": n.tx_errors, "tx_dropped": n.tx_dropped,
                }),
            )
        })
        .collect();
    json!({
        "id": id,
        "name": format!("/{name}"),
        "read": format_rfc3339_ms(now.read_ms),
        "preread": before.map_or_else(|| "0001-01-01T00:00:00Z".to_string(), |b| format_rfc3339_ms(b.read_ms)),
        "pids_stats": { "current": now.pids, "limit": now.pids_limit },
        "blkio_stats": {},
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu_stats(Some(now)),
        "precpu_stats": cpu_stats(before),
        "memory_stats": {
            "usage": now.memory_usage,
            "limit": now.memory_limit,
            "stats": now.memory_stat,
        },
        "networks": networks,
    })
}

/// `GET /containers/{id}/stats`.
pub async fn stats(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    query: Result<Query<StatsQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let Query(query) = query?;
    let stream = query
        .stream
        .as_deref()
        .is_none_or(|s| truthy(&Some(s.to_string())));
    let details = st.container(&name).await?;
    let (id, name) = (details.info.id, details.info.name);
    let machine = st.machine.clone();
    let first = st.engine.container_stats(&machine, &id).await?;
    let json_response = |body: Body| {
        Response::builder()
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .expect("static headers are valid")
    };
    if !stream {
        // Without one-shot, a second reading gives the CPU rate its base.
        let (before, now) = if truthy(&query.one_shot) {
            (None, first)
        } else {
            tokio::time::sleep(INTERVAL).await;
            let now = st.engine.container_stats(&machine, &id).await?;
            (Some(first), now)
        };
        let body = stats_json(&id, &name, &now, before.as_ref());
        return Ok(json_response(Body::from(format!("{body}\n"))));
    }
    // One line now, then one a second until the container stops.
    let engine = st.engine.clone();
    let state = (None::<UsageSample>, Some(first));
    let lines = futures_util::stream::unfold(state, move |(before, now)| {
        let (engine, machine, id, name) =
            (engine.clone(), machine.clone(), id.clone(), name.clone());
        async move {
            let now = match now {
                Some(now) => now,
                None => {
                    tokio::time::sleep(INTERVAL).await;
                    engine.container_stats(&machine, &id).await.ok()?
                }
            };
            let line = format!("{}\n", stats_json(&id, &name, &now, before.as_ref()));
            Some((
                Ok::<_, std::io::Error>(Bytes::from(line)),
                (Some(now), None),
            ))
        }
    });
    Ok(json_response(Body::from_stream(lines)))
}
