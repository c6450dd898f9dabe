//! Containers: `hutch run`, `ps`, `rm`. They live in a machine (the agent
//! keeps their records on the machine's disk); the CLI builds each one's
//! runtime spec and sends the image's layers the machine lacks.

pub mod spec;

use crate::image;
use crate::machine::exec::attach_start_wait;
use anyhow::{bail, Result};
use protocol::{ContainerCreate, ContainerInfo, ContainerState, Request, Response};

pub struct RunOptions {
    pub image: String,
    pub flags: spec::Flags,
    pub name: Option<String>,
    pub remove: bool,
    pub interactive: bool,
    pub machine: String,
}

/// `hutch run`: create, attach, start, wait; returns docker's exit status.
pub async fn run(o: RunOptions) -> Result<i32> {
    let (paths, mut client) = crate::machine::connect_or_start(&o.machine).await?;
    let prepared = image::prepare_for_machine(&o.image, &paths.vsock(), &mut client).await?;
    let create = ContainerCreate {
        name: o.name,
        image: o.image.clone(),
        image_id: prepared.image_id,
        user: spec::user(&prepared.config, &o.flags),
        spec: spec::build(&prepared.config, &o.flags)?,
        diff_ids: prepared.diff_ids,
        stdin: o.interactive,
    };
    let Response::ContainerCreated { id, exec_id } =
        client.request(Request::CreateContainer(create)).await?
    else {
        bail!("unexpected reply to create");
    };
    let status = attach_start_wait(&mut client, &paths.vsock(), exec_id, o.interactive).await;
    if o.remove {
        let removed = client
            .request(Request::RemoveContainer {
                container: id,
                force: true,
            })
            .await;
        if let Err(e) = removed {
            eprintln!("hutch: removing the container: {e:#}");
        }
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

fn status(c: &ContainerInfo) -> String {
    let since = |ms: Option<u64>| image::time::since((ms.unwrap_or(c.created_ms) / 1000) as i64);
    match c.state {
        ContainerState::Created => "Created".into(),
        ContainerState::Running => format!("Up {}", since(c.started_ms)),
        ContainerState::Exited => format!(
            "Exited ({}) {} ago",
            c.exit_code.unwrap_or(0),
            since(c.finished_ms)
        ),
    }
}

/// `hutch ps`: docker's columns; running containers unless `all`.
pub async fn ps(machine: &str, all: bool, quiet: bool) -> Result<()> {
    let containers: Vec<ContainerInfo> = list(machine)
        .await?
        .into_iter()
        .filter(|c| all || c.state == ContainerState::Running)
        .collect();
    if quiet {
        for c in &containers {
            println!("{}", &c.id[..12]);
        }
        return Ok(());
    }
    println!(
        "{:<14} {:<20} {:<24} {:<16} {:<26} {:<8} NAMES",
        "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS"
    );
    for c in &containers {
        let mut command = format!("\"{}\"", c.command.join(" "));
        if command.len() > 22 {
            command = format!("{}…\"", &command[..command.floor_char_boundary(20)]);
        }
        println!(
            "{:<14} {:<20} {:<24} {:<16} {:<26} {:<8} {}",
            &c.id[..12],
            c.image,
            command,
            format!("{} ago", image::time::since((c.created_ms / 1000) as i64)),
            status(c),
            "",
            c.name
        );
    }
    Ok(())
}

/// `hutch rm`: by name or id; `force` kills a running one first.
pub async fn rm(machine: &str, containers: &[String], force: bool) -> Result<i32> {
    let (_, mut client) = crate::machine::connect_running(machine).await?;
    let mut failed = false;
    for name in containers {
        let request = Request::RemoveContainer {
            container: name.clone(),
            force,
        };
        match client.request(request).await {
            Ok(_) => println!("{name}"),
            Err(e) => {
                eprintln!("hutch: {e:#}");
                failed = true;
            }
        }
    }
    Ok(if failed { 1 } else { 0 })
}
