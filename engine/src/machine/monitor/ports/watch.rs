//! Closing a run's listeners when the agent says that run died.

use super::Leases;
use crate::agent::{AgentClient, AgentError, EventStream};
use protocol::ContainerAction;
use std::path::Path;

/// The agent's event stream, from now on.
pub async fn subscribe(vsock: &Path) -> Result<EventStream, AgentError> {
    AgentClient::connect(vsock).await?.events().await
}

/// Follows `events` until the agent goes away.
pub async fn release_on_exit(mut events: EventStream, leases: Leases) {
    loop {
        let event = match events.next().await {
            Ok(event) => event,
            Err(e) => {
                tracing::info!("container events ended: {e}");
                return;
            }
        };
        let Some(lease) = event.lease else { continue };
        if event.action != ContainerAction::Die {
            continue;
        }
        let mut leases = leases.lock().unwrap_or_else(|p| p.into_inner());
        // A newer run's listeners have another lease and stay.
        if leases.get(&event.container).is_some_and(|l| l.id == lease) {
            leases.remove(&event.container);
        }
    }
}
