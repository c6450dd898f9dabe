//! `/networks/...`: list, inspect, create, remove, connect, disconnect;
//! compose makes a network per project and finds it by name.

use crate::error::{not_found_as, parse_json, ApiError, ApiResult};
use crate::params::label_matches;
use crate::state::ApiState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use bollard_stubs::models::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
};
use engine::network::{NetworkCreate, NetworkInfo, NetworkInspect};
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
pub struct ListQuery {
    filters: Option<String>,
}

pub async fn list(
    State(st): State<Arc<ApiState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<Vec<NetworkInspect>>> {
    let Query(query) = query?;
    let filters =
        crate::params::filters(query.filters.as_deref(), &["name", "id", "label", "driver"])?;
    let machine = st.ready().await?;
    let networks = st.engine.list_networks(machine).await?;
    let admitted = |n: &NetworkInfo| {
        let labels = || n.labels.iter().map(|(k, v)| (k, v));
        filters.iter().all(|(key, values)| match key.as_str() {
            "label" => values.iter().all(|v| label_matches(labels(), v)),
            _ => values.iter().any(|v| match key.as_str() {
                "name" => n.name.contains(v.as_str()),
                "id" => n.id.starts_with(v.as_str()),
                _ => n.driver.name() == v,
            }),
        })
    };
    Ok(Json(
        networks
            .iter()
            .filter(|n| admitted(n))
            .map(NetworkInspect::from)
            .collect(),
    ))
}

async fn find(st: &Arc<ApiState>, name: &str) -> ApiResult<NetworkInfo> {
    let machine = st.ready().await?;
    st.engine
        .inspect_network(machine, name)
        .await
        .map_err(not_found_as(format!("network {name} not found")))
}

pub async fn inspect(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<NetworkInspect>> {
    Ok(Json(NetworkInspect::from(&find(&st, &name).await?)))
}

pub async fn create(
    State(st): State<Arc<ApiState>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<NetworkCreateResponse>)> {
    let request: NetworkCreateRequest = parse_json(&body?)?;
    if request.name.is_empty() {
        return Err(ApiError::bad_request("Name is required"));
    }
    if let Some(driver) = request
        .driver
        .as_deref()
        .filter(|d| !d.is_empty() && *d != "bridge")
    {
        return Err(ApiError::bad_request(format!(
            "driver {driver:?} is not supported: networks are bridges"
        )));
    }
    let subnet = request
        .ipam
        .as_ref()
        .and_then(|i| i.config.as_ref())
        .and_then(|c| c.first())
        .and_then(|c| c.subnet.clone());
    let create = NetworkCreate {
        name: request.name,
        subnet,
        labels: request.labels.unwrap_or_default().into_iter().collect(),
    };
    let machine = st.ready().await?;
    let network = st.engine.create_network(machine, create).await?;
    let created = NetworkCreateResponse {
        id: network.id,
        warning: String::new(),
    };
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn remove(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let network = find(&st, &name).await?;
    st.engine.remove_network(&st.machine, &network.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn connect(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    let request: NetworkConnectRequest = parse_json(&body?)?;
    let container = request
        .container
        .ok_or_else(|| ApiError::bad_request("Container is required"))?;
    let aliases = request
        .endpoint_config
        .and_then(|e| e.aliases)
        .unwrap_or_default();
    let network = find(&st, &name).await?;
    let id = st.container_id(&container).await?;
    st.engine
        .connect_network(&st.machine, &network.id, &id, aliases)
        .await?;
    Ok(StatusCode::OK)
}

pub async fn disconnect(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<StatusCode> {
    let request: NetworkDisconnectRequest = parse_json(&body?)?;
    let container = request
        .container
        .ok_or_else(|| ApiError::bad_request("Container is required"))?;
    let network = find(&st, &name).await?;
    let id = st.container_id(&container).await?;
    st.engine
        .disconnect_network(&st.machine, &network.id, &id)
        .await?;
    Ok(StatusCode::OK)
}
