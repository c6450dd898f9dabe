//! `exec`: a command inside a running container, joining its namespaces
//! and cgroup, as its user unless told otherwise; and a command in the
//! machine itself (`machine exec`).

use super::error::ContainerError;
use super::Process;
use crate::{Engine, Result};
use protocol::ExecSpec;

/// A command to run, and how.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub args: Vec<String>,
    /// `KEY=value` entries over the defaults.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    /// `-u`, resolved in the container.
    pub user: Option<String>,
    pub stdin: bool,
    pub tty: bool,
}

impl Engine {
    /// Prepares `options` in running container `container`; the returned
    /// process starts on [`Process::start`].
    pub async fn exec_in_container(
        &self,
        machine: &str,
        container: &str,
        options: ExecOptions,
    ) -> Result<Process> {
        if options
            .workdir
            .as_deref()
            .is_some_and(|w| !w.starts_with('/'))
        {
            return Err(ContainerError::InvalidRequest(
                "the working directory must be an absolute path".into(),
            )
            .into());
        }
        self.exec(machine, Some(container.to_string()), options)
            .await
    }

    /// Prepares `options` in the machine itself, outside every container.
    pub async fn exec_in_machine(&self, machine: &str, options: ExecOptions) -> Result<Process> {
        self.exec(machine, None, options).await
    }

    async fn exec(
        &self,
        machine: &str,
        container: Option<String>,
        o: ExecOptions,
    ) -> Result<Process> {
        let mut client = self.connect_running(machine).await?;
        let stdin = o.stdin;
        let spec = ExecSpec {
            args: o.args,
            env: o.env,
            cwd: o.workdir,
            stdin,
            container,
            user: o.user,
            tty: o.tty,
        };
        let exec_id = client.exec(spec).await?;
        Process::attach(client, exec_id, stdin).await
    }
}
