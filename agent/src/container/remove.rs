//! Removing a container: killed first with `force`, then its files and
//! its hold on the cached layers go.

use super::record::storage;
use super::{Container, Containers};
use protocol::{AgentError, ContainerAction, ContainerEvent, ContainerState, ErrorKind};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

impl Containers {
    /// Removes a container and its files; a running one only with `force`,
    /// which kills it first.
    /// With `volumes`, its anonymous volumes go too (`rm -v`).
    pub fn remove(&self, key: &str, force: bool, volumes: bool) -> Result<(), AgentError> {
        let container = self.find(key)?;
        let info = container.info();
        if info.state == ContainerState::Running {
            if !force {
                return Err(AgentError::new(
                    ErrorKind::Conflict,
                    format!(
                        "container {} is running: stop it first, or remove it with -f",
                        info.name
                    ),
                ));
            }
            let _ = container.kill(libc::SIGKILL);
            if container.wait_exit(Some(Duration::from_secs(30))).is_none() {
                return Err(AgentError::new(
                    ErrorKind::Internal,
                    format!("container {} did not die", info.name),
                ));
            }
        }
        self.forget(&container, volumes)
    }

    pub(super) fn forget(
        &self,
        container: &Arc<Container>,
        volumes: bool,
    ) -> Result<(), AgentError> {
        // Before the list: a copy holds the root for as long as it takes,
        // and the list must not wait with it.
        let _in_use = container.root_in_use();
        let mut all = self.lock();
        let Some(at) = all.iter().position(|c| Arc::ptr_eq(c, container)) else {
            return Ok(()); // removed meanwhile
        };
        std::fs::remove_dir_all(&container.dir)
            .map_err(|e| storage("removing the container's files", e))?;
        container.removed.store(true, Ordering::SeqCst);
        self.cache.release(&container.id());
        all.remove(at);
        if volumes {
            self.remove_anonymous_volumes(&all, container);
        }
        drop(all);
        self.events.publish(ContainerEvent {
            container: container.id(),
            action: ContainerAction::Destroy,
            lease: None,
            exit_code: None,
        });
        Ok(())
    }
}
