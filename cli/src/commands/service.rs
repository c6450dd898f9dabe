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
    /// Also create (or update) a docker context of this name pointing at
    /// the service (`docker context use NAME` then selects it)
    #[arg(long, num_args = 0..=1, default_missing_value = "hutch")]
    context: Option<String>,
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
    if let Some(name) = &a.context {
        docker_context(name, &socket)?;
        eprintln!("hutch: docker context {name:?} points at {}; select it with `docker context use {name}`", socket.display());
        return Ok(0);
    }
    outln!("export DOCKER_HOST=unix://{}", socket.display());
    if !socket.exists() {
        eprintln!(
            "hutch: nothing listens on {} yet: start it with `hutch system service`",
            socket.display()
        );
    }
    Ok(0)
}

/// Creates docker context `name` for the socket, or points the existing
/// one at it, with docker's own CLI (its contexts are its files to write).
fn docker_context(name: &str, socket: &std::path::Path) -> anyhow::Result<()> {
    let host = format!("host=unix://{}", socket.display());
    let exists = std::process::Command::new("docker")
        .args(["context", "inspect", name])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot run the docker CLI ({e}); install it, or use the DOCKER_HOST line"
            )
        })?
        .success();
    let verb = if exists { "update" } else { "create" };
    let out = std::process::Command::new("docker")
        .args([
            "context",
            verb,
            name,
            "--description",
            "hutch system service",
            "--docker",
            &host,
        ])
        .output()?;
    if !out.status.success() {
        anyhow::bail!(
            "docker context {verb} {name} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
