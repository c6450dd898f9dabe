//! `hutch machine exec`: run a command in the guest (not in a container),
//! streaming its stdio, and exit with its status.

use anyhow::Result;
use protocol::ExecSpec;

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
    crate::attach::exec(&mut client, &paths.vsock(), spec).await
}
