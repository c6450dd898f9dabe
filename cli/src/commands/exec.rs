//! `hutch exec`: a command inside a running container.

use super::run::{resolve_env, ProcessArgs};
use super::MachineArg;
use crate::attach::{self, Mode};
use engine::container::ExecOptions;
use engine::Engine;

#[derive(clap::Args)]
pub struct ExecArgs {
    /// Keep stdin open and send it to the command
    #[arg(short, long)]
    interactive: bool,
    /// Give the command a terminal
    #[arg(short, long)]
    tty: bool,
    #[command(flatten)]
    process: ProcessArgs,
    #[command(flatten)]
    machine: MachineArg,
    container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub async fn run(engine: &Engine, a: ExecArgs) -> anyhow::Result<i32> {
    let mode = Mode {
        stdin: a.interactive,
        tty: a.tty,
        detach_keys: None,
    };
    attach::check_terminal(&mode)?;
    let options = ExecOptions {
        args: a.command,
        env: resolve_env(&a.process.env),
        workdir: a.process.workdir,
        user: a.process.user,
        stdin: a.interactive,
        tty: a.tty,
    };
    let process = engine
        .exec_in_container(&a.machine.machine, &a.container, options)
        .await?;
    attach::run_to_exit(process, mode, None).await
}
