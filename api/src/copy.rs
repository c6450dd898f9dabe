//! docker's copy endpoints (`docker cp`): `HEAD` and `GET
//! /containers/{id}/archive?path=P` tell what P is (the
//! `X-Docker-Container-Path-Stat` header) and `GET` sends it as a tar;
//! `PUT` unpacks the request body's tar into directory P. `GET
//! /containers/{id}/export` sends its whole filesystem (`docker export`).

use crate::error::{ApiError, ApiResult};
use crate::params::truthy;
use crate::state::ApiState;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use engine::container::{is_missing_path, ArchiveReader, CopyOptions, PathStat};
use engine::time::format_rfc3339_ms;
use futures_util::TryStreamExt;
use serde::Deserialize;
use std::sync::Arc;

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

#[derive(Deserialize)]
pub struct ArchiveQuery {
    path: Option<String>,
    #[serde(rename = "noOverwriteDirNonDir")]
    no_overwrite_dir_non_dir: Option<String>,
    #[serde(rename = "copyUIDGID")]
    copy_uid_gid: Option<String>,
}

impl ArchiveQuery {
    /// The path in the container; a relative one is taken from `/`.
    fn path(&self) -> ApiResult<String> {
        match self.path.as_deref() {
            None | Some("") => Err(ApiError::bad_request(
                "path= is required: the path in the container",
            )),
            Some(p) if p.starts_with('/') => Ok(p.to_string()),
            Some(p) => Ok(format!("/{p}")),
        }
    }
}

/// Go's `os.FileMode` of a `st_mode`, as docker's clients read `mode`.
fn go_file_mode(mode: u32) -> u32 {
    const DIR: u32 = 1 << 31;
    const SYMLINK: u32 = 1 << 27;
    const DEVICE: u32 = 1 << 26;
    const NAMED_PIPE: u32 = 1 << 25;
    const SOCKET: u32 = 1 << 24;
    const SETUID: u32 = 1 << 23;
    const SETGID: u32 = 1 << 22;
    const CHAR_DEVICE: u32 = 1 << 21;
    const STICKY: u32 = 1 << 20;
    let kind = match mode & 0o170000 {
        0o040000 => DIR,
        0o120000 => SYMLINK,
        0o060000 => DEVICE,
        0o020000 => DEVICE | CHAR_DEVICE,
        0o010000 => NAMED_PIPE,
        0o140000 => SOCKET,
        _ => 0,
    };
    let special = [(0o4000, SETUID), (0o2000, SETGID), (0o1000, STICKY)]
        .iter()
        .filter(|(bit, _)| mode & bit != 0)
        .fold(0, |acc, (_, go)| acc | go);
    kind | special | (mode & 0o777)
}

/// The stat header: base64 of docker's `ContainerPathStat` JSON.
fn stat_header(stat: &PathStat) -> HeaderValue {
    let json = serde_json::json!({
        "name": stat.name,
        "size": stat.size,
        "mode": go_file_mode(stat.mode),
        "mtime": format_rfc3339_ms(stat.mtime_s.max(0) as u64 * 1000),
        "linkTarget": stat.link_target,
    });
    let encoded = base64::engine::general_purpose::STANDARD.encode(json.to_string());
    HeaderValue::from_str(&encoded).expect("base64 is a valid header value")
}

fn with_stat(stat: &PathStat, body: Body) -> Response {
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(STAT_HEADER, stat_header(stat));
    response
}

/// What a request names: the container's id, the path and the query.
async fn target(
    st: &Arc<ApiState>,
    name: &str,
    query: Result<Query<ArchiveQuery>, QueryRejection>,
) -> ApiResult<(String, String, ArchiveQuery)> {
    let Query(query) = query?;
    let path = query.path()?;
    Ok((st.container_id(name).await?, path, query))
}

/// `HEAD /containers/{id}/archive`.
pub async fn stat(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    query: Result<Query<ArchiveQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let (id, path, _) = target(&st, &name, query).await?;
    let stat = st.engine.stat_in_container(&st.machine, &id, &path).await?;
    Ok(with_stat(&stat, Body::empty()))
}

/// `GET /containers/{id}/archive`: the tar streams as the machine sends it.
pub async fn read(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    query: Result<Query<ArchiveQuery>, QueryRejection>,
) -> ApiResult<Response> {
    let (id, path, _) = target(&st, &name, query).await?;
    let (stat, reader) = st
        .engine
        .copy_from_container(&st.machine, &id, &path)
        .await?;
    let mut response = with_stat(&stat, tar_body(reader));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    Ok(response)
}

/// The tar as the machine sends it; should the machine fail part-way,
/// the connection is cut rather than the tar ended as if whole.
fn tar_body(reader: ArchiveReader) -> Body {
    Body::from_stream(futures_util::stream::unfold(
        reader,
        |mut reader| async move {
            match reader.next().await {
                Ok(Some(chunk)) => Some((Ok(Bytes::from(chunk)), reader)),
                Ok(None) => None,
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), reader)),
            }
        },
    ))
}

/// `GET /containers/{id}/export`: its filesystem, without its volumes.
pub async fn export(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
) -> ApiResult<Response> {
    let id = st.container_id(&name).await?;
    let reader = st.engine.export_container(&st.machine, &id).await?;
    let mut response = Response::new(tar_body(reader));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    Ok(response)
}

/// `PUT /containers/{id}/archive`: the body's tar unpacked into the
/// directory at `path` as it arrives.
pub async fn write(
    State(st): State<Arc<ApiState>>,
    Path(name): Path<String>,
    query: Result<Query<ArchiveQuery>, QueryRejection>,
    request: Request,
) -> ApiResult<Response> {
    let (id, path, query) = target(&st, &name, query).await?;
    let options = CopyOptions {
        copy_owner: truthy(&query.copy_uid_gid),
        keep_kinds: truthy(&query.no_overwrite_dir_non_dir),
    };
    let body = request
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let tar = tokio_util::io::StreamReader::new(body);
    st.engine
        .copy_to_container(&st.machine, &id, &path, options, tar)
        .await
        .map_err(|e| match is_missing_path(&e) {
            true => ApiError::not_found(format!(
                "Could not find the file {path} in container {name}"
            )),
            false => e.into(),
        })?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .body(Body::empty())
        .expect("an empty answer is valid"))
}

#[cfg(test)]
mod tests {
    use super::go_file_mode;

    #[test]
    fn modes_read_as_go_file_modes() {
        assert_eq!(go_file_mode(0o100644), 0o644);
        assert_eq!(go_file_mode(0o040755), (1 << 31) | 0o755);
        assert_eq!(go_file_mode(0o120777), (1 << 27) | 0o777);
        assert_eq!(go_file_mode(0o104755), (1 << 23) | 0o755);
        assert_eq!(go_file_mode(0o020666), (1 << 26) | (1 << 21) | 0o666);
    }
}
