//! `POST /commit` (a container's changes become an image),
//! `GET /containers/{id}/changes` (docker's `diff`) and
//! `GET /images/{name}/history`.

use crate::error::{no_such_image, ApiError, ApiResult};
use crate::images::reference_of;
use crate::state::ApiState;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use bollard_stubs::models::{ChangeType, FilesystemChange, HistoryResponseItem};
use engine::container::ChangeKind;
use engine::image::{CommitOptions, ImageName};
use engine::time::parse_rfc3339;
use serde_json::{json, Value};
use std::sync::Arc;

/// docker's query: `container`, `repo`, `tag`, `comment`, `author`,
/// `pause`, and `changes` repeated, one instruction each.
pub async fn commit(
    State(st): State<Arc<ApiState>>,
    RawQuery(query): RawQuery,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut container = None;
    let (mut repo, mut tag) = (None, None);
    let mut options = CommitOptions::default();
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let value = value.into_owned();
        let given = || Some(value.clone()).filter(|v| !v.is_empty());
        match key.as_ref() {
            "container" => container = given(),
            "repo" => repo = given(),
            "tag" => tag = given(),
            "comment" => options.message = given(),
            "author" => options.author = given(),
            "changes" => options.changes.extend(given()),
            // hutch always pauses while it reads the changes.
            _ => {}
        }
    }
    let container = container
        .ok_or_else(|| ApiError::bad_request("container= is required: the one to commit"))?;
    options.reference = repo.map(|repo| reference_of(repo, tag)).transpose()?;
    let id = st.container_id(&container).await?;
    let image = st
        .engine
        .commit_container(&st.machine, &id, &options)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "Id": image.as_str() }))))
}

/// `GET /containers/{id}/changes`: kinds 0 changed, 1 added, 2 deleted.
pub async fn changes(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<FilesystemChange>>> {
    let id = st.container_id(&name).await?;
    let changes = st.engine.container_changes(&st.machine, &id).await?;
    Ok(Json(
        changes
            .into_iter()
            .map(|c| FilesystemChange {
                path: c.path,
                kind: match c.kind {
                    ChangeKind::Changed => ChangeType::_0,
                    ChangeKind::Added => ChangeType::_1,
                    ChangeKind::Deleted => ChangeType::_2,
                },
            })
            .collect(),
    ))
}

/// `GET /images/{name}/history`, newest step first; the store is read on
/// a blocking thread.
pub async fn history(
    st: Arc<ApiState>,
    name: ImageName,
) -> ApiResult<Json<Vec<HistoryResponseItem>>> {
    let engine = st.engine.clone();
    let shown = name.clone();
    let steps = tokio::task::spawn_blocking(move || engine.image_history(&name))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| no_such_image(&shown)(e.into()))?;
    Ok(Json(
        steps
            .into_iter()
            .map(|s| HistoryResponseItem {
                id: s.id.map_or_else(|| "<missing>".into(), |d| d.to_string()),
                created: s.created.as_deref().and_then(parse_rfc3339).unwrap_or(0),
                created_by: s.created_by,
                tags: s.tags,
                size: s.size as i64,
                comment: s.comment,
            })
            .collect(),
    ))
}
