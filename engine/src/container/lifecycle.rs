//! Starting, stopping, signalling, waiting for and removing containers.

use super::Process;
use crate::{Engine, Result};
use protocol::{ContainerState, ExitStatus};

impl Engine {
    /// Starts a created or exited container, its output going to its log;
    /// its pid. Starting a running one is no error, as with docker.
    pub async fn start_container(&self, machine: &str, container: &str) -> Result<u32> {
        let mut client = self.connect_running(machine).await?;
        let publishing = self.publish(machine, &mut client, container).await?;
        let started = client
            .start_container(container, publishing.ports.clone())
            .await;
        publishing.settle(started.is_ok()).await;
        Ok(started?)
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
        let publishing = self.publish(machine, &mut client, container).await?;
        let prepared = client
            .start_container_attached(container, publishing.ports.clone())
            .await;
        publishing.settle(prepared.is_ok()).await;
        Ok(Process::attach(client, prepared?, stdin)
            .await?
            .on_console())
    }

    /// Joins a running container's stdio (`attach`): [`Process::start`]
    /// joins, after which its output from then on arrives, and our stdin
    /// (with `stdin`, when the container was created with `-i`) goes to
    /// its; [`Process::wait`] waits for its exit.
    pub async fn attach_running(
        &self,
        machine: &str,
        container: &str,
        stdin: bool,
    ) -> Result<Process> {
        let mut client = self.connect_running(machine).await?;
        let exec_id = client.attach_container(container, stdin).await?;
        Ok(Process::attach(client, exec_id, stdin).await?.on_console())
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
        let id = client.inspect_container(container).await?.info.id;
        client.stop_container(&id, timeout_s).await?;
        // Its host ports are free once stop returns, as with docker (the
        // monitor would also close them on the agent's exit event).
        self.unpublish(machine, &id).await
    }

    /// docker's restart: stopped first if it runs (SIGTERM, SIGKILL after
    /// `timeout_s`), then started; its new pid.
    pub async fn restart_container(
        &self,
        machine: &str,
        container: &str,
        timeout_s: u32,
    ) -> Result<u32> {
        let details = self.inspect_container(machine, container).await?;
        let id = details.info.id;
        if details.info.state == ContainerState::Running {
            self.stop_container(machine, &id, timeout_s).await?;
        }
        self.start_container(machine, &id).await
    }

    /// Removes every container that is not running (and its anonymous
    /// volumes); the ids removed.
    pub async fn prune_containers(&self, machine: &str) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for c in self.list_containers(machine).await? {
            if c.state != ContainerState::Running {
                self.remove_container(machine, &c.id, false, true).await?;
                removed.push(c.id);
            }
        }
        Ok(removed)
    }

    /// Freezes (`pause`) or thaws a running container's processes.
    pub async fn pause_container(&self, machine: &str, container: &str, pause: bool) -> Result<()> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.pause_container(container, pause).await?)
    }

    pub async fn rename_container(&self, machine: &str, container: &str, name: &str) -> Result<()> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.rename_container(container, name).await?)
    }

    pub async fn kill_container(&self, machine: &str, container: &str, signal: i32) -> Result<()> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.kill_container(container, signal).await?)
    }

    /// What happens to the machine's containers from now on (create,
    /// start, die, destroy), until the machine stops.
    pub async fn container_events(&self, machine: &str) -> Result<crate::agent::EventStream> {
        let client = self.connect_running(machine).await?;
        Ok(client.events().await?)
    }

    /// Blocks until the container is not running; how it exited.
    pub async fn wait_container(&self, machine: &str, container: &str) -> Result<ExitStatus> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.wait_container(container).await?)
    }

    /// By name or id; `force` kills a running one first; `volumes` also
    /// removes its anonymous volumes.
    pub async fn remove_container(
        &self,
        machine: &str,
        container: &str,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let mut client = self.connect_running(machine).await?;
        let id = client.inspect_container(container).await?.info.id;
        client.remove_container(container, force, volumes).await?;
        // Listeners a start that never ran may have left behind.
        self.unpublish(machine, &id).await
    }
}
