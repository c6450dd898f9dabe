//! `hutch system service`: the Docker Engine API on a Unix socket, for
//! the `docker` CLI, docker-py, compose and IDEs (podman's model: the
//! CLI stays daemonless; the service is for API clients). `hutch
//! docker-env` prints the line that points them at it.

use super::MachineArg;
use engine::Engine;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ServiceArgs {
    /// Where to listen (default: $XDG_RUNTIME_DIR/hutch/docker.sock, else
    /// docker.sock in hutch's home)
    #[arg(long)]
    socket: Option<PathBuf>,
    /// The machine that runs the containers (started on demand)
    #[command(flatten)]
    machine: MachineArg,
}

#[derive(clap::Args)]
pub struct DockerEnvArgs {
    /// The service's socket, if not the default one
    #[arg(long)]
    socket: Option<PathBuf>,
}

/// The service's default socket: the runtime directory (per user, gone at
/// logout) where there is one, else hutch's home.
pub fn default_socket(engine: &Engine) -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("hutch").join("docker.sock"),
        None => engine.home().root().join("docker.sock"),
    }
}

/// Serves until SIGINT or SIGTERM, on a runtime with a thread per core
/// (clients run many requests at once; the CLI's runtime has one thread).
pub fn serve(engine: &Engine, a: &ServiceArgs) -> anyhow::Result<i32> {
    let socket = a.socket.clone().unwrap_or_else(|| default_socket(engine));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = hutch_api::bind(&socket)?;
        eprintln!(
            "hutch: serving the Docker API for machine {:?} on {}",
            a.machine.machine,
            socket.display()
        );
        eprintln!(
            "hutch: point clients at it with: export DOCKER_HOST=unix://{}",
            socket.display()
        );
        hutch_api::serve(
            engine.clone(),
            a.machine.machine.clone(),
            listener,
            stopped(),
        )
        .await?;
        let _ = std::fs::remove_file(&socket);
        anyhow::Ok(())
    })?;
    runtime.shutdown_background();
    Ok(0)
}

async fn stopped() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

/// `hutch docker-env`: `eval "$(hutch docker-env)"` points docker's
/// clients at the service.
pub fn docker_env(engine: &Engine, a: DockerEnvArgs) -> anyhow::Result<i32> {
    let socket = a.socket.unwrap_or_else(|| default_socket(engine));
    outln!("export DOCKER_HOST=unix://{}", socket.display());
    if !socket.exists() {
        eprintln!(
            "hutch: nothing listens on {} yet: start it with `hutch system service`",
            socket.display()
        );
    }
    Ok(0)
}
