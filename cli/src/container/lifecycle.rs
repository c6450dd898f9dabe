//! Starting, stopping, signalling, waiting for and removing containers.

use super::for_each;
use crate::agent::AgentClient;
use crate::attach::{self, Mode};
use anyhow::{bail, Result};
use protocol::{ContainerDetails, Request, Response};
use std::path::Path;

/// Starts it with its output going only to its log.
async fn request_start(client: &mut AgentClient, container: &str) -> Result<()> {
    let request = Request::StartContainer {
        container: container.to_string(),
        attach: false,
    };
    client.request(request).await.map(|_| ())
}

/// Starts it detached; 0, or docker's 127/126 when its command cannot run.
pub async fn start_detached(client: &mut AgentClient, container: &str) -> Result<i32> {
    match request_start(client, container).await {
        Ok(()) => Ok(0),
        Err(e) => attach::cannot_run(e),
    }
}

/// Starts it with our stdio attached (see `attach::run_to_exit`); its exit
/// status.
pub async fn start_attached(
    client: &mut AgentClient,
    uds: &Path,
    container: &str,
    mode: Mode,
) -> Result<i32> {
    let request = Request::StartContainer {
        container: container.to_string(),
        attach: true,
    };
    let Response::ExecCreated { exec_id } = client.request(request).await? else {
        bail!("unexpected reply to start");
    };
    attach::run_to_exit(client, uds, exec_id, mode, Some(container)).await
}

/// `hutch start`: detached (prints each name), or with `attach` the one
/// container's output until it exits.
pub async fn start(
    machine: &str,
    containers: &[String],
    attach: bool,
    interactive: bool,
) -> Result<i32> {
    if !attach {
        return for_each(machine, containers, async |client, name| {
            request_start(client, name).await.map(|()| name.to_string())
        })
        .await;
    }
    let [container] = containers else {
        bail!("you cannot start and attach multiple containers at once");
    };
    let (paths, mut client) = crate::machine::connect_running(machine).await?;
    let tty = match client
        .request(Request::InspectContainer {
            container: container.clone(),
        })
        .await?
    {
        Response::ContainerDetails(ContainerDetails { tty, .. }) => tty,
        other => bail!("unexpected reply to inspect: {other:?}"),
    };
    let mode = Mode {
        stdin: interactive,
        tty,
    };
    attach::check_terminal(mode)?;
    start_attached(&mut client, &paths.vsock(), container, mode).await
}

/// Sends each container its request; prints each name that succeeded.
async fn for_each_request(
    machine: &str,
    containers: &[String],
    request: impl Fn(String) -> Request,
) -> Result<i32> {
    for_each(machine, containers, async |client, name| {
        client
            .request(request(name.to_string()))
            .await
            .map(|_| name.to_string())
    })
    .await
}

/// `hutch stop`: SIGTERM, then SIGKILL after `timeout_s`.
pub async fn stop(machine: &str, containers: &[String], timeout_s: u32) -> Result<i32> {
    for_each_request(machine, containers, |name| Request::StopContainer {
        container: name,
        timeout_s,
    })
    .await
}

/// `hutch kill`: a signal (default SIGKILL) to running containers.
pub async fn kill(machine: &str, containers: &[String], signal: i32) -> Result<i32> {
    for_each_request(machine, containers, |name| Request::KillContainer {
        container: name,
        signal,
    })
    .await
}

/// `hutch wait`: blocks until each has exited; prints its exit code.
pub async fn wait(machine: &str, containers: &[String]) -> Result<i32> {
    for_each(machine, containers, async |client, name| {
        let request = Request::WaitContainer {
            container: name.to_string(),
        };
        match client.request(request).await? {
            Response::Exited(status) => Ok(status.shell_code().to_string()),
            other => bail!("unexpected reply to wait: {other:?}"),
        }
    })
    .await
}

/// `hutch rm`: by name or id; `force` kills a running one first.
pub async fn rm(machine: &str, containers: &[String], force: bool) -> Result<i32> {
    for_each_request(machine, containers, |name| Request::RemoveContainer {
        container: name,
        force,
    })
    .await
}
