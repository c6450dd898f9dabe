//! `/volumes/...`: list, create, inspect, remove, prune; volumes live on
//! the machine's disk, as `hutch volume` shows them.

use crate::error::{not_found_as, parse_json, ApiError, ApiResult};
use crate::params::{label_matches, truthy};
use crate::state::ApiState;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use bollard_stubs::models::{VolumeCreateOptions, VolumePruneResponse};
use engine::volume::{VolumeCreate, VolumeInfo, VolumeInspect};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// docker's list: `{"Volumes": [...], "Warnings": []}`, each volume in
/// `volume inspect`'s shape.
#[derive(Serialize)]
pub struct VolumeList {
    #[serde(rename = "Volumes")]
    volumes: Vec<VolumeInspect>,
    #[serde(rename = "Warnings")]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
pub struct ListQuery {
    filters: Option<String>,
}

pub async fn list(
    State(st): State<Arc<ApiState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<VolumeList>> {
    let Query(query) = query?;
    let filters = crate::params::filters(query.filters.as_deref(), &["name", "label", "dangling"])?;
    let machine = st.ready().await?;
    let admitted = |v: &VolumeInfo| {
        let labels = || v.labels.iter().map(|(k, v)| (k, v));
        filters.iter().all(|(key, values)| match key.as_str() {
            "label" => values.iter().all(|want| label_matches(labels(), want)),
            "name" => values.iter().any(|want| v.name.contains(want.as_str())),
            _ => values
                .iter()
                .any(|want| truthy(&Some(want.clone())) == v.users.is_empty()),
        })
    };
    let volumes = st
        .engine
        .list_volumes(machine)
        .await?
        .iter()
        .filter(|v| admitted(v))
        .map(VolumeInspect::from)
        .collect();
    Ok(Json(VolumeList {
        volumes,
        warnings: Vec::new(),
    }))
}

pub async fn create(
    State(st): State<Arc<ApiState>>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<VolumeInspect>)> {
    let options: VolumeCreateOptions = parse_json(&body?)?;
    if let Some(driver) = options
        .driver
        .as_deref()
        .filter(|d| !d.is_empty() && *d != "local")
    {
        return Err(ApiError::bad_request(format!(
            "driver {driver:?} is not supported: volumes are local"
        )));
    }
    let create = VolumeCreate {
        name: options.name.filter(|n| !n.is_empty()),
        labels: options.labels.unwrap_or_default().into_iter().collect(),
    };
    let machine = st.ready().await?;
    let volume = st.engine.create_volume(machine, create).await?;
    Ok((StatusCode::CREATED, Json(VolumeInspect::from(&volume))))
}

fn no_such_volume(name: &str) -> impl FnOnce(engine::Error) -> ApiError {
    not_found_as(format!("get {name}: no such volume"))
}

pub async fn inspect(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<VolumeInspect>> {
    let machine = st.ready().await?;
    let volume = st
        .engine
        .inspect_volume(machine, &name)
        .await
        .map_err(no_such_volume(&name))?;
    Ok(Json(VolumeInspect::from(&volume)))
}

pub async fn remove(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    let machine = st.ready().await?;
    st.engine
        .remove_volume(machine, &name)
        .await
        .map_err(no_such_volume(&name))?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn prune(
    State(st): State<Arc<ApiState>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<Json<VolumePruneResponse>> {
    let Query(query) = query?;
    // docker 23+ prunes anonymous volumes unless `all=true` is filtered for.
    let filters = crate::params::filters(query.filters.as_deref(), &["all"])?;
    let all = filters
        .get("all")
        .is_some_and(|v| v.iter().any(|a| truthy(&Some(a.clone()))));
    let machine = st.ready().await?;
    let removed = st.engine.prune_volumes(machine, all).await?;
    Ok(Json(VolumePruneResponse {
        volumes_deleted: Some(removed),
        space_reclaimed: Some(0),
    }))
}
