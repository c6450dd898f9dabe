//! `/images/...`: list, inspect, tag and remove. Pulls are in `pull`.
//! Image names hold slashes (`localhost:5000/team/app`), so one route
//! takes the rest of the path and reads the action off its end, as
//! docker's router does.

use crate::error::{no_such_image, ApiError, ApiResult};
use crate::state::ApiState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bollard_stubs::models::{ImageDeleteResponseItem, ImageSummary};
use engine::image::{ImageName, Reference, Removed};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub use crate::pull::pull;

pub async fn list(State(st): State<Arc<ApiState>>) -> ApiResult<Json<Vec<ImageSummary>>> {
    // One entry an image, with every name it has.
    let mut by_id: BTreeMap<String, ImageSummary> = BTreeMap::new();
    for row in st.engine.images()? {
        let id = row.id.to_string();
        let entry = by_id.entry(id.clone()).or_insert_with(|| ImageSummary {
            id,
            parent_id: String::new(),
            repo_tags: Vec::new(),
            repo_digests: Vec::new(),
            created: row
                .created
                .as_deref()
                .and_then(engine::time::parse_rfc3339)
                .unwrap_or(0),
            size: row.size as i64,
            shared_size: -1,
            labels: HashMap::new(),
            containers: -1,
            ..Default::default()
        });
        match row.tag.as_str() {
            _ if row.dangling => {}
            "<none>" => entry
                .repo_digests
                .push(format!("{}@{}", row.repository, row.manifest_digest)),
            tag => entry.repo_tags.push(format!("{}:{tag}", row.repository)),
        }
    }
    Ok(Json(by_id.into_values().collect()))
}

/// docker's `repo` and `tag` parameters as one name.
pub fn reference_of(repo: String, tag: Option<String>) -> ApiResult<Reference> {
    let name = match tag {
        Some(tag) => format!("{repo}:{tag}"),
        None => repo,
    };
    Reference::parse(&name)
        .map_err(|e| ApiError::bad_request(format!("invalid name {name:?}: {e}")))
}

fn image_name(text: &str) -> ApiResult<ImageName> {
    text.parse()
        .map_err(|e| ApiError::bad_request(format!("invalid image name {text:?}: {e}")))
}

/// `GET /images/{name}/json`, `/images/{name}/get` (save) and
/// `/images/{name}/history`.
pub async fn get(State(st): State<Arc<ApiState>>, Path(path): Path<String>) -> ApiResult<Response> {
    if let Some(name) = path.strip_suffix("/get") {
        return crate::archive::save_named(st, vec![image_name(name)?]).await;
    }
    if let Some(name) = path.strip_suffix("/history") {
        return Ok(crate::commit::history(st, image_name(name)?)
            .await?
            .into_response());
    }
    let Some(name) = path.strip_suffix("/json") else {
        return Err(ApiError::not_found(format!(
            "page not found: /images/{path}"
        )));
    };
    let name = image_name(name)?;
    let details = st
        .engine
        .inspect_image(&name)
        .map_err(no_such_image(&name))?;
    Ok(Json(details).into_response())
}

#[derive(Deserialize)]
pub struct TagQuery {
    repo: Option<String>,
    tag: Option<String>,
}

/// `POST /images/{name}/tag?repo=R&tag=T`.
pub async fn post(
    State(st): State<Arc<ApiState>>,
    Path(path): Path<String>,
    query: Result<Query<TagQuery>, QueryRejection>,
) -> ApiResult<StatusCode> {
    let Some(name) = path.strip_suffix("/tag") else {
        return Err(ApiError::not_found(format!(
            "page not found: /images/{path}"
        )));
    };
    let Query(query) = query?;
    let repo = query
        .repo
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("repo is required: the name to give the image"))?;
    let target = reference_of(repo, query.tag.filter(|t| !t.is_empty()))?;
    let source = image_name(name)?;
    // Tagging takes the store's lock, which a pull holds while it runs:
    // the wait is a blocking thread's, not a runtime worker's.
    let engine = st.engine.clone();
    tokio::task::spawn_blocking(move || engine.tag(&source, &target))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(StatusCode::CREATED)
}

/// `DELETE /images/{name}`: docker's list of what was untagged and deleted.
pub async fn remove(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<ImageDeleteResponseItem>>> {
    let name = image_name(&name)?;
    let removal = st
        .engine
        .remove_images(std::slice::from_ref(&name))
        .await
        .map_err(no_such_image(&name))?;
    let items = removal
        .removed
        .iter()
        .map(|r| match r {
            Removed::Untagged(name) => ImageDeleteResponseItem {
                untagged: Some(name.clone()),
                deleted: None,
            },
            Removed::Deleted(digest) => ImageDeleteResponseItem {
                untagged: None,
                deleted: Some(digest.to_string()),
            },
        })
        .collect();
    Ok(Json(items))
}
