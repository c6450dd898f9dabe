//! `hutch ps`: docker's columns and statuses.

use super::MachineArg;
use engine::container::status_text;
use engine::container::{ContainerInfo, ContainerState};
use engine::time::since;
use engine::Engine;

#[derive(clap::Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    all: bool,
    /// Only show container IDs
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    machine: MachineArg,
}

/// docker's PORTS: `0.0.0.0:8080->80/tcp, 0.0.0.0:5353->53/udp`.
fn ports(c: &ContainerInfo) -> String {
    let all: Vec<String> = c.ports.iter().map(ToString::to_string).collect();
    all.join(", ")
}

fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

pub async fn run(engine: &Engine, a: PsArgs) -> anyhow::Result<i32> {
    let containers: Vec<ContainerInfo> = engine
        .list_containers(&a.machine.machine)
        .await?
        .into_iter()
        .filter(|c| a.all || c.state == ContainerState::Running)
        .collect();
    if a.quiet {
        for c in &containers {
            outln!("{}", short_id(&c.id));
        }
        return Ok(0);
    }
    let ports: Vec<String> = containers.iter().map(ports).collect();
    let width = ports.iter().map(String::len).max().unwrap_or(0).max(8);
    outln!(
        "{:<14} {:<20} {:<24} {:<16} {:<26} {:<width$} NAMES",
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS"
    );
    for (c, ports) in containers.iter().zip(&ports) {
        let mut command = format!("\"{}\"", c.command.join(" "));
        if command.len() > 22 {
            command = format!("{}…\"", &command[..command.floor_char_boundary(20)]);
        }
        outln!(
            "{:<14} {:<20} {:<24} {:<16} {:<26} {:<width$} {}",
            short_id(&c.id),
            c.image,
            command,
            format!("{} ago", since((c.created_ms / 1000) as i64)),
            status_text(c),
            ports,
            c.name
        );
    }
    Ok(0)
}
