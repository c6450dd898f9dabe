//! The Docker Engine API over hutch's engine, served on a Unix socket:
//! the `docker` CLI, docker-py and compose drive hutch through it. The
//! handlers call the engine library as the CLI does; what lives here is
//! HTTP: docker's paths and JSON shapes (bollard-stubs' generated models),
//! its status codes, and its stream framing for attach, exec and logs.

mod archive;
mod attach;
mod build;
mod commit;
mod containers;
mod copy;
mod create;
mod error;
mod events;
mod exec;
mod images;
mod lines;
mod listener;
mod networks;
mod params;
mod prune;
mod pull;
mod router;
mod state;
mod stream;
mod system;
mod usage;
mod volumes;
mod wait;

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
    let (stopping, stopped) = tokio::sync::oneshot::channel();
    let signal = async move {
        shutdown.await;
        let _ = stopping.send(());
    };
    // Requests in flight get a grace period; streams that never end
    // (`logs -f`, attachments) do not keep the service up past it.
    let grace = async move {
        if stopped.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = axum::serve(listener, app).with_graceful_shutdown(signal) => served,
        () = grace => Ok(()),
    }
}

/// How long requests in flight may take once the service is told to stop.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
