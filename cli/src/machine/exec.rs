//! `hutch machine exec`: run a command in the guest (not in a container),
//! streaming its stdio, and exit with its status.

use crate::attach::{run_to_exit, Mode};
use anyhow::{bail, Result};
use protocol::{ExecSpec, Request, Response};

pub struct ExecOptions {
    pub name: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub interactive: bool,
}

/// Runs the command; returns the exit status hutch should exit with.
pub async fn exec(opts: ExecOptions) -> Result<i32> {
    let (paths, mut client) = super::connect_running(&opts.name).await?;
    let spec = ExecSpec {
        args: opts.args,
        env: opts.env,
        cwd: opts.workdir,
        stdin: opts.interactive,
        container: None,
        user: None,
        tty: false,
    };
    let Response::ExecCreated { exec_id } = client.request(Request::Exec(spec)).await? else {
        bail!("unexpected reply to exec");
    };
    let mode = Mode {
        stdin: opts.interactive,
        tty: false,
    };
    run_to_exit(&mut client, &paths.vsock(), exec_id, mode).await
}
