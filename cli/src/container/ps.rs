//! `hutch ps`: docker's columns and statuses.

use super::list;
use crate::image;
use anyhow::Result;
use protocol::{ContainerInfo, ContainerState};

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
            outln!("{}", &c.id[..12]);
        }
        return Ok(());
    }
    outln!(
        "{:<14} {:<20} {:<24} {:<16} {:<26} {:<8} NAMES",
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS"
    );
    for c in &containers {
        let mut command = format!("\"{}\"", c.command.join(" "));
        if command.len() > 22 {
            command = format!("{}…\"", &command[..command.floor_char_boundary(20)]);
        }
        outln!(
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
