//! `hutch exec`: a command inside a running container, joining its
//! namespaces and cgroup, as its user unless `-u` says otherwise.

use crate::attach::{self, Mode};
use anyhow::{bail, Result};
use protocol::ExecSpec;

pub struct ExecOptions {
    pub container: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub interactive: bool,
    pub tty: bool,
    pub machine: String,
}

pub async fn exec(o: ExecOptions) -> Result<i32> {
    let mode = Mode {
        stdin: o.interactive,
        tty: o.tty,
    };
    attach::check_terminal(mode)?;
    if o.workdir.as_deref().is_some_and(|w| !w.starts_with('/')) {
        bail!("the working directory must be an absolute path");
    }
    let (paths, mut client) = crate::machine::connect_running(&o.machine).await?;
    let spec = ExecSpec {
        args: o.args,
        env: super::spec::resolve_env(&o.env),
        cwd: o.workdir,
        stdin: o.interactive,
        container: Some(o.container),
        user: o.user,
        tty: o.tty,
    };
    attach::exec(&mut client, &paths.vsock(), spec).await
}
