//! `POST /images/prune`, `/networks/prune` and `/build/prune`, which
//! `docker image|network|system prune` call. Filters other than images'
//! `dangling` are refused, not ignored.

use crate::error::ApiResult;
use crate::params::filters;
use crate::state::ApiState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use engine::image::Removed;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Deserialize)]
pub struct PruneQuery {
    filters: Option<String>,
}

/// `POST /images/prune`: `dangling=false` (docker's `-a`) takes every
/// image no container uses.
pub async fn images(
    State(st): State<Arc<ApiState>>,
    query: Result<Query<PruneQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(query) = query?;
    let filters = filters(query.filters.as_deref(), &["dangling"])?;
    let all = filters
        .get("dangling")
        .is_some_and(|v| v.iter().any(|d| d == "false" || d == "0"));
    st.ready().await?;
    let pruned = st.engine.prune_images(all).await?;
    let deleted: Vec<Value> = pruned
        .removal
        .removed
        .iter()
        .map(|removed| match removed {
            Removed::Untagged(name) => json!({ "Untagged": name }),
            Removed::Deleted(id) => json!({ "Deleted": id.to_string() }),
        })
        .collect();
    Ok(Json(json!({
        "ImagesDeleted": deleted,
        "SpaceReclaimed": pruned.reclaimed,
    })))
}

/// `POST /networks/prune`.
pub async fn networks(
    State(st): State<Arc<ApiState>>,
    query: Result<Query<PruneQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(query) = query?;
    filters(query.filters.as_deref(), &[])?;
    let machine = st.ready().await?;
    let removed = st.engine.prune_networks(machine).await?;
    Ok(Json(json!({ "NetworksDeleted": removed })))
}

/// `POST /build/prune`: the build cache emptied (docker's `builder
/// prune`, and part of its `system prune`).
pub async fn build_cache(
    State(st): State<Arc<ApiState>>,
    query: Result<Query<PruneQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(query) = query?;
    filters(query.filters.as_deref(), &[])?;
    let (_, freed) = st.engine.prune_build_cache().await?;
    Ok(Json(
        json!({ "CachesDeleted": [], "SpaceReclaimed": freed }),
    ))
}
