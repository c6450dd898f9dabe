//! `POST /build` (docker's classic builder, which the CLI uses with
//! `DOCKER_BUILDKIT=0`): the context tar in the body is unpacked into a
//! directory in hutch's home for the build and removed after; progress
//! streams as docker's `{"stream": ...}` lines, the image id as
//! `{"aux": {"ID": ...}}`, a failure as an `error` line.

use crate::archive::ChunkReader;
use crate::error::{message_of, ApiError, ApiResult};
use crate::params::truthy;
use crate::state::ApiState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use engine::image::{new_build_id, unpack_context, BuildOptions, Reference};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Deserialize)]
pub struct BuildQuery {
    dockerfile: Option<String>,
    buildargs: Option<String>,
    target: Option<String>,
    labels: Option<String>,
    nocache: Option<String>,
    q: Option<String>,
    remote: Option<String>,
}

/// `t=a&t=b`: the names, as docker's clients repeat the key.
fn tags(query: Option<&str>) -> ApiResult<Vec<Reference>> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(key, value)| key == "t" && !value.is_empty())
        .map(|(_, value)| {
            Reference::parse(&value)
                .map_err(|e| ApiError::bad_request(format!("invalid tag {value:?}: {e}")))
        })
        .collect()
}

/// `buildargs={"A":"b"}` or `labels={...}`; a null value (an unset
/// arg) is left out.
fn string_map(text: Option<&str>, what: &str) -> ApiResult<BTreeMap<String, String>> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(BTreeMap::new());
    };
    let args: BTreeMap<String, Option<String>> = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("invalid {what}: {e}")))?;
    Ok(args
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect())
}

/// The build's directory: removed when dropped, however the build ends.
struct ContextDir(PathBuf);

impl Drop for ContextDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The Dockerfile named by `dockerfile=` inside the context.
fn read_dockerfile(context: &Path, name: &str) -> ApiResult<String> {
    let relative = name.trim_start_matches('/');
    if relative.split('/').any(|part| part == "..") {
        return Err(ApiError::bad_request(format!(
            "the Dockerfile {name} is outside the build context"
        )));
    }
    std::fs::read_to_string(context.join(relative)).map_err(|e| {
        ApiError::bad_request(format!(
            "cannot read the Dockerfile {name} in the build context: {e}; name it with dockerfile="
        ))
    })
}

/// Takes out what docker's CLI adds for a Dockerfile from outside the
/// context (`-f` elsewhere, or `-`): the file under a random name, and
/// that name in `.dockerignore`. Left in, its random name would change
/// every `COPY .` and so miss the cache each time.
fn remove_cli_dockerfile(context: &Path, name: &str) {
    if !name.starts_with(".dockerfile.") || name.contains('/') {
        return;
    }
    let _ = std::fs::remove_file(context.join(name));
    let ignore = context.join(".dockerignore");
    let Ok(text) = std::fs::read_to_string(&ignore) else {
        return;
    };
    let kept: Vec<&str> = text.lines().filter(|line| line.trim() != name).collect();
    let _ = match kept.iter().all(|line| line.trim().is_empty()) {
        true => std::fs::remove_file(&ignore),
        false => std::fs::write(&ignore, kept.join("\n") + "\n"),
    };
}

pub async fn build(
    State(st): State<Arc<ApiState>>,
    query: Result<Query<BuildQuery>, QueryRejection>,
    request: Request,
) -> ApiResult<Response> {
    let Query(query) = query?;
    if query.remote.as_deref().is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::bad_request(
            "remote build contexts are not supported: send the context as a tar",
        ));
    }
    let tags = tags(request.uri().query())?;
    let build_args = string_map(query.buildargs.as_deref(), "buildargs")?;
    let labels = string_map(query.labels.as_deref(), "labels")?;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = ContextDir(st.engine.home().root().join(format!(
        "build-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )));
    let reader = ChunkReader::of(request);
    let path = dir.0.clone();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&path).map_err(engine::image::ImageError::io(
            "making the build's directory",
        ))?;
        unpack_context(reader, &path)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(engine::Error::from)?;
    let name = query.dockerfile.as_deref().unwrap_or("Dockerfile");
    let dockerfile = read_dockerfile(&dir.0, name)?;
    remove_cli_dockerfile(&dir.0, name);
    let options = BuildOptions {
        context: Some(dir.0.clone()),
        dockerfile,
        tags,
        build_args,
        target: query.target.filter(|t| !t.is_empty()),
        labels,
        no_cache: truthy(&query.nocache),
        build_id: new_build_id(),
    };
    let quiet = truthy(&query.q);
    let machine = st.ready().await?.to_string();
    let (lines, receiver) = mpsc::unbounded_channel::<Value>();
    let (out, mut progress) = mpsc::unbounded_channel::<String>();
    let forward = lines.clone();
    let forwarding = tokio::spawn(async move {
        while let Some(text) = progress.recv().await {
            if !quiet {
                let _ = forward.send(json!({ "stream": text }));
            }
        }
    });
    let engine = st.engine.clone();
    tokio::spawn(async move {
        let built = tokio::select! {
            built = engine.build(&machine, &options, &out) => built,
            // The client left (docker's CLI interrupted): the build stops,
            // and the step under way goes with its container.
            () = lines.closed() => {
                let _ = engine.remove_build_containers(&machine, &options.build_id).await;
                return;
            }
        };
        drop(out);
        drop(dir);
        // Every progress line goes before the outcome's.
        let _ = forwarding.await;
        let line = match built {
            Ok(id) => {
                // docker's CLI prints a quiet build's stream: the id.
                if quiet {
                    let _ = lines.send(json!({ "stream": format!("{id}\n") }));
                }
                json!({ "aux": { "ID": id.as_str() } })
            }
            Err(e) => {
                let message = message_of(&e);
                json!({ "errorDetail": { "message": message }, "error": message })
            }
        };
        let _ = lines.send(line);
    });
    Ok(crate::lines::json_lines(receiver))
}
