//! `hutch attach CONTAINER`: our terminal joins a running container's
//! stdio, as `docker attach` does: its output from now on, our input to
//! its stdin when it was created with `-i`, its status when it exits.
//! With a terminal, the detach keys leave it running.

use super::MachineArg;
use crate::attach::{self, Mode};
use anyhow::bail;
use engine::container::{ContainerState, DetachKeys};
use engine::Engine;

#[derive(clap::Args)]
pub struct AttachArgs {
    /// Do not send our input to the container
    #[arg(long)]
    no_stdin: bool,
    /// Pass SIGINT and SIGTERM on to the container (without a terminal)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    sig_proxy: bool,
    /// Keys that detach, leaving the container running (docker's
    /// notation, e.g. ctrl-a,d) [default: ctrl-p,ctrl-q]
    #[arg(long)]
    detach_keys: Option<String>,
    container: String,
    #[command(flatten)]
    machine: MachineArg,
}

pub async fn run(engine: &Engine, a: AttachArgs) -> anyhow::Result<i32> {
    let detach_keys = a
        .detach_keys
        .as_deref()
        .map(DetachKeys::parse)
        .transpose()?;
    let machine = a.machine.machine.as_str();
    let details = engine.inspect_container(machine, &a.container).await?;
    if details.info.state != ContainerState::Running {
        bail!(
            "container {} is not running: start it first (hutch start -a attaches as it starts)",
            details.info.name
        );
    }
    let mode = Mode {
        stdin: !a.no_stdin && details.stdin,
        tty: details.tty,
        detach_keys,
    };
    attach::check_terminal(&mode)?;
    let id = details.info.id;
    let process = engine.attach_running(machine, &id, mode.stdin).await?;
    let forward = a.sig_proxy.then_some((engine, machine, id.as_str()));
    attach::run_to_exit(process, mode, forward).await
}
