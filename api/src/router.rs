//! docker's paths, versioned (`/v1.49/containers/json`) or not, to their
//! handlers; anything else is docker's JSON 404.

use crate::error::ApiError;
use crate::state::ApiState;
use crate::{
    archive, attach, build, commit, containers, copy, events, exec, images, networks, prune,
    system, usage, volumes, wait,
};
use axum::extract::Request;
use axum::routing::{delete, get, post};
use axum::Router;
use std::sync::Arc;
use tower::Layer;

/// Request bodies above this are refused (413): create and exec bodies
/// are a few KiB; image loads and builds stream and are not read whole.
const BODY_LIMIT: usize = 4 << 20;

pub fn app(state: Arc<ApiState>) -> axum::routing::IntoMakeService<Router> {
    let routes = Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/system/df", get(system::df))
        .route("/events", get(events::events))
        .route("/containers/json", get(containers::list))
        .route("/containers/create", post(containers::create))
        .route("/containers/prune", post(containers::prune))
        .route("/containers/{id}/json", get(containers::inspect))
        .route("/containers/{id}/start", post(containers::start))
        .route("/containers/{id}/stop", post(containers::stop))
        .route("/containers/{id}/restart", post(containers::restart))
        .route("/containers/{id}/kill", post(containers::kill))
        .route("/containers/{id}/pause", post(containers::pause))
        .route("/containers/{id}/unpause", post(containers::unpause))
        .route("/containers/{id}/rename", post(containers::rename))
        .route("/containers/{id}/wait", post(wait::wait))
        .route("/containers/{id}/logs", get(containers::logs))
        .route("/containers/{id}/top", get(usage::top))
        .route("/containers/{id}/changes", get(commit::changes))
        .route("/containers/{id}/export", get(copy::export))
        .route("/commit", post(commit::commit))
        .route("/containers/{id}/stats", get(usage::stats))
        .route("/containers/{id}/attach", post(attach::attach))
        .route("/containers/{id}/resize", post(attach::resize))
        .route("/containers/{id}", delete(containers::remove))
        .route(
            "/containers/{id}/archive",
            get(copy::read).head(copy::stat).put(copy::write),
        )
        .route("/containers/{id}/exec", post(exec::create))
        .route("/exec/{id}/start", post(exec::start))
        .route("/exec/{id}/resize", post(exec::resize))
        .route("/exec/{id}/json", get(exec::inspect))
        .route("/networks", get(networks::list))
        .route("/networks/create", post(networks::create))
        .route("/networks/prune", post(prune::networks))
        .route(
            "/networks/{id}",
            get(networks::inspect).delete(networks::remove),
        )
        .route("/networks/{id}/connect", post(networks::connect))
        .route("/networks/{id}/disconnect", post(networks::disconnect))
        .route("/volumes", get(volumes::list))
        .route("/volumes/create", post(volumes::create))
        .route("/volumes/prune", post(volumes::prune))
        .route(
            "/volumes/{name}",
            get(volumes::inspect).delete(volumes::remove),
        )
        .route("/images/json", get(images::list))
        .route("/images/create", post(images::pull))
        .route("/images/get", get(archive::save))
        .route("/images/load", post(archive::load))
        .route("/images/prune", post(prune::images))
        .route("/build", post(build::build))
        .route("/build/prune", post(prune::build_cache))
        // Image names hold slashes: the action is read off the path's end.
        .route(
            "/images/{*name}",
            get(images::get).delete(images::remove).post(images::post),
        )
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state);
    // The version prefix goes before routing, so one table serves both.
    let app = tower::util::MapRequestLayer::new(strip_version).layer(routes);
    Router::new().fallback_service(app).into_make_service()
}

async fn not_found(request: Request) -> ApiError {
    ApiError::not_found(format!("page not found: {}", request.uri().path()))
}

/// `/v1.49/x` → `/x`.
fn strip_version(mut request: Request) -> Request {
    let path = request.uri().path();
    let Some(rest) = path.strip_prefix("/v") else {
        return request;
    };
    let Some((version, tail)) = rest.split_once('/') else {
        return request;
    };
    let is_version = version
        .split_once('.')
        .is_some_and(|(a, b)| is_digits(a) && is_digits(b));
    if !is_version {
        return request;
    }
    let query = request
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    if let Ok(uri) = format!("/{tail}{query}").parse() {
        *request.uri_mut() = uri;
    }
    request
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stripped(uri: &str) -> String {
        let request = Request::builder()
            .uri(uri)
            .body(axum::body::Body::empty())
            .unwrap();
        strip_version(request).uri().to_string()
    }

    #[test]
    fn versioned_and_plain_paths_meet() {
        assert_eq!(
            stripped("/v1.49/containers/json?all=1"),
            "/containers/json?all=1"
        );
        assert_eq!(stripped("/containers/json"), "/containers/json");
        assert_eq!(stripped("/volumes/x"), "/volumes/x");
        assert_eq!(stripped("/vx.1/y"), "/vx.1/y");
    }
}
