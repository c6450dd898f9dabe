//! Starting, stopping, signalling, waiting for and removing containers.

use super::Process;
use crate::{Engine, Result};
use protocol::ExitStatus;

impl Engine {
    /// Starts a created or exited container, its output going to its log;
    /// its pid. Starting a running one is no error, as with docker.
    pub async fn start_container(&self, machine: &str, container: &str) -> Result<u32> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.start_container(container).await?)
    }

    /// Prepares a container's start with its stdio attached (stdin when
    /// `stdin`); [`Process::start`] runs it.
    pub async fn attach_container(
        &self,
        machine: &str,
        container: &str,
        stdin: bool,
    ) -> Result<Process> {
        let mut client = self.connect_running(machine).await?;
        let exec_id = client.start_container_attached(container).await?;
        Process::attach(client, exec_id, stdin).await
    }

    /// docker's stop: SIGTERM, then SIGKILL after `timeout_s`; returns once
    /// it exited.
    pub async fn stop_container(
        &self,
        machine: &str,
        container: &str,
        timeout_s: u32,
    ) -> Result<()> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.stop_container(container, timeout_s).await?)
    }

    pub async fn kill_container(&self, machine: &str, container: &str, signal: i32) -> Result<()> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.kill_container(container, signal).await?)
    }

    /// Blocks until the container is not running; how it exited.
    pub async fn wait_container(&self, machine: &str, container: &str) -> Result<ExitStatus> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.wait_container(container).await?)
    }

    /// By name or id; `force` kills a running one first.
    pub async fn remove_container(
        &self,
        machine: &str,
        container: &str,
        force: bool,
    ) -> Result<()> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.remove_container(container, force).await?)
    }
}
