//! The Docker Engine API over hutch's engine, served on a Unix socket:
//! the `docker` CLI, docker-py and compose drive hutch through it. The
//! handlers call the engine library as the CLI does; what lives here is
//! HTTP: docker's paths and JSON shapes (bollard-stubs' generated models),
//! its status codes, and its stream framing for attach, exec and logs.

mod attach;
mod containers;
mod create;
mod error;
mod exec;
mod images;
mod listener;
mod params;
mod pull;
mod router;
mod state;
mod stream;
mod system;

pub use listener::{bind, ListenError};

use state::ApiState;
use std::sync::Arc;
use tokio::net::UnixListener;

/// docker's API version this service speaks (docker 28's is 1.50; 1.49 is
/// what the models were generated from, and clients negotiate down to it).
pub const API_VERSION: &str = "1.49";
/// The oldest version clients may ask for.
pub const MIN_API_VERSION: &str = "1.24";

/// Serves the API for `machine` (started on demand) on `listener` until
/// `shutdown` completes.
pub async fn serve(
    engine: engine::Engine,
    machine: String,
    listener: UnixListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = Arc::new(ApiState::new(engine, machine));
    let app = router::app(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
