//! Containers: `hutch run`, `create`, `start`, `stop`, `kill`, `wait`,
//! `rm`, `ps`, `logs`, `inspect`, `exec`. They live in a machine (the
//! agent keeps their records and logs on the machine's disk); the CLI
//! builds each one's runtime spec and sends the image's layers the
//! machine lacks.

pub mod exec;
pub mod inspect;
pub mod lifecycle;
pub mod logs;
pub mod ps;
pub mod signal;
pub mod spec;

use crate::agent::AgentClient;
use crate::attach::{self, Mode};
use crate::image;
use anyhow::{bail, Result};
use protocol::{ContainerCreate, ContainerInfo, Request, Response};
use std::path::Path;

pub struct CreateOptions {
    pub image: String,
    pub flags: spec::Flags,
    pub name: Option<String>,
    /// Removed once it exits (`--rm`).
    pub remove: bool,
    pub interactive: bool,
    pub tty: bool,
    pub machine: String,
}

/// Creates the container in the machine (started if needed); its id.
async fn create_in(o: CreateOptions, uds: &Path, client: &mut AgentClient) -> Result<String> {
    let prepared = image::prepare_for_machine(&o.image, uds, client).await?;
    let create = ContainerCreate {
        name: o.name,
        image: o.image.clone(),
        image_id: prepared.image_id,
        user: spec::user(&prepared.config, &o.flags),
        spec: Box::new(spec::build(&prepared.config, &o.flags, o.tty)?),
        diff_ids: prepared.diff_ids,
        stdin: o.interactive,
        tty: o.tty,
        auto_remove: o.remove,
    };
    match client.request(Request::CreateContainer(create)).await? {
        Response::ContainerCreated { id } => Ok(id),
        other => bail!("unexpected reply to create: {other:?}"),
    }
}

/// `hutch create`: prints the new container's id.
pub async fn create(o: CreateOptions) -> Result<i32> {
    let (paths, mut client) = crate::machine::connect_or_start(&o.machine).await?;
    let id = create_in(o, &paths.vsock(), &mut client).await?;
    outln!("{id}");
    Ok(0)
}

/// `hutch run`: create, then start detached (printing the id) or attached
/// until it exits; returns docker's exit status.
pub async fn run(o: CreateOptions, detach: bool) -> Result<i32> {
    let mode = Mode {
        stdin: o.interactive,
        tty: o.tty,
    };
    attach::check_terminal(mode)?;
    let (paths, mut client) = crate::machine::connect_or_start(&o.machine).await?;
    let uds = paths.vsock();
    let remove = o.remove;
    let id = create_in(o, &uds, &mut client).await?;
    let status = if detach {
        lifecycle::start_detached(&mut client, &id)
            .await
            .inspect(|code| {
                if *code == 0 {
                    outln!("{id}");
                }
            })
    } else {
        lifecycle::start_attached(&mut client, &uds, &id, mode).await
    };
    // A container that never ran is not removed by the machine on exit.
    let never_ran = match &status {
        Ok(code) => *code == attach::EXIT_NOT_FOUND || *code == attach::EXIT_NOT_EXECUTABLE,
        Err(_) => true,
    };
    if remove && never_ran {
        let _ = client
            .request(Request::RemoveContainer {
                container: id,
                force: true,
            })
            .await;
    }
    status
}

async fn list(machine: &str) -> Result<Vec<ContainerInfo>> {
    let (_, mut client) = crate::machine::connect_running(machine).await?;
    match client.request(Request::ListContainers).await? {
        Response::Containers(all) => Ok(all),
        other => bail!("unexpected reply to list: {other:?}"),
    }
}

/// Runs `action` for each named container, docker-style: each success
/// prints what `action` returns, each failure an error; 1 if any failed.
async fn for_each<F>(machine: &str, containers: &[String], mut action: F) -> Result<i32>
where
    F: AsyncFnMut(&mut AgentClient, &str) -> Result<String>,
{
    let (_, mut client) = crate::machine::connect_running(machine).await?;
    let mut failed = false;
    for name in containers {
        match action(&mut client, name).await {
            Ok(line) => outln!("{line}"),
            Err(e) => {
                eprintln!("hutch: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
