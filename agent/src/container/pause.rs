//! docker's pause, unpause and rename: a running container's cgroup
//! frozen and thawed (cgroup v2's freezer), and a new name.

use super::cgroup::Cgroup;
use super::names::valid_name;
use super::{Container, Containers};
use protocol::{AgentError, ContainerState, ErrorKind};
use std::sync::Arc;

fn conflict(message: String) -> AgentError {
    AgentError::new(ErrorKind::Conflict, message)
}

impl Container {
    /// Freezes (`pause`) or thaws its processes.
    pub fn set_paused(&self, pause: bool) -> Result<(), AgentError> {
        let _in_use = self.root_unless_copying()?;
        let mut record = self.lock();
        let name = record.info.name.clone();
        if record.info.state != ContainerState::Running {
            return Err(conflict(format!("container {name} is not running")));
        }
        if record.info.paused == pause {
            let already = if pause {
                "already paused"
            } else {
                "not paused"
            };
            return Err(conflict(format!("container {name} is {already}")));
        }
        let verb = if pause { "pausing" } else { "unpausing" };
        Cgroup::open(&record.info.id)
            .set_frozen(pause)
            .map_err(|e| AgentError::new(ErrorKind::Internal, format!("{verb} {name}: {e}")))?;
        record.info.paused = pause;
        record.save(&self.dir)
    }
}

impl Containers {
    /// Renames a container; the new name must be free. (On a user
    /// network, DNS answers to the new name from its next start.)
    pub fn rename(&self, key: &str, name: &str) -> Result<(), AgentError> {
        if !valid_name(name) {
            return Err(AgentError::new(
                ErrorKind::BadRequest,
                format!("invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least two characters"),
            ));
        }
        let container = self.find(key)?;
        let all = self.lock();
        let taken = all
            .iter()
            .any(|c| !Arc::ptr_eq(c, &container) && c.lock().info.name == name);
        if taken {
            return Err(conflict(format!(
                "the container name {name:?} is already in use; remove that container or choose another name"
            )));
        }
        let mut record = container.lock();
        record.info.name = name.to_string();
        record.save(&container.dir)
    }
}
