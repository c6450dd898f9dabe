//! A start's published ports: the monitor listens on the container's
//! host ports before the agent starts it, so a port in use fails the
//! start with nothing running, and a failed start closes them again.

use crate::agent::AgentClient;
use crate::machine::monitor::control::ControlClient;
use crate::{Engine, Result};
use protocol::{ContainerState, PublishedPorts};

/// The ports a start is about to use, until it is known to have worked.
pub(super) struct Publishing {
    monitor: Option<(ControlClient, String)>,
    pub(super) ports: Option<PublishedPorts>,
}

impl Publishing {
    /// Closes the listeners again unless the start `worked`.
    pub(super) async fn settle(self, worked: bool) {
        if let (false, Some((mut monitor, id))) = (worked, self.monitor) {
            let _ = monitor.unpublish(&id).await;
        }
    }
}

impl Engine {
    /// Has the monitor listen on `container`'s ports for the run about to
    /// start; nothing when it has none or already runs.
    pub(super) async fn publish(
        &self,
        machine: &str,
        client: &mut AgentClient,
        container: &str,
    ) -> Result<Publishing> {
        let details = client.inspect_container(container).await?;
        if details.port_bindings.is_empty() || details.info.state == ContainerState::Running {
            return Ok(Publishing {
                monitor: None,
                ports: None,
            });
        }
        let mut monitor = self.connect_monitor(machine).await?;
        let id = details.info.id;
        let ports = monitor.publish(&id, details.port_bindings).await?;
        Ok(Publishing {
            monitor: Some((monitor, id)),
            ports: Some(ports),
        })
    }

    /// Closes a container's listeners (before it is removed).
    pub(super) async fn unpublish(&self, machine: &str, id: &str) -> Result<()> {
        Ok(self.connect_monitor(machine).await?.unpublish(id).await?)
    }
}
