//! Creating a container: its record and directory, nothing running yet.

use super::names::{random_hex, random_name, valid_name};
use super::record::{now_ms, storage, Record};
use super::{Container, Containers};
use protocol::{
    AgentError, ContainerAction, ContainerCreate, ContainerEvent, ContainerInfo, ContainerState,
    ErrorKind,
};
use std::sync::{Arc, Condvar, Mutex};

impl Containers {
    pub fn create(&self, request: ContainerCreate) -> Result<Arc<Container>, AgentError> {
        let (network, networks) = self.joined_at_creation(&request)?;
        let mut spec = *request.spec;
        let command = spec
            .process()
            .as_ref()
            .and_then(|p| p.args().clone())
            .unwrap_or_default();
        if command.is_empty() {
            return Err(AgentError::new(ErrorKind::BadRequest, "no command given"));
        }
        self.cache.lower_dirs(&request.diff_ids)?;
        let extra_hosts = request.extra_hosts;
        for entry in &extra_hosts {
            super::networks::parse_extra_host(entry)?;
        }
        let inherited = self.volumes_from(&request.volumes_from)?;
        let mut all = self.lock();
        let taken = |name: &str| all.iter().any(|c| c.lock().info.name == name);
        let name = match request.name {
            Some(name) => {
                if !valid_name(&name) {
                    return Err(AgentError::new(ErrorKind::BadRequest, format!("invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least two characters")));
                }
                if taken(&name) {
                    return Err(AgentError::new(ErrorKind::Conflict, format!("the container name {name:?} is already in use; remove that container or choose another name")));
                }
                name
            }
            None => loop {
                let name = random_name();
                if !taken(&name) {
                    break name;
                }
            },
        };
        let (mounts, spec_mounts) =
            self.resolve_mounts(&request.mounts, inherited, &request.image_volumes)?;
        let mut all_mounts = spec.mounts().clone().unwrap_or_default();
        all_mounts.extend(spec_mounts);
        spec.set_mounts(Some(all_mounts));
        let id = random_hex(32);
        if spec.hostname().as_deref().unwrap_or_default().is_empty() {
            // docker's default: the short id.
            spec.set_hostname(Some(id[..12].to_string()));
        }
        let dir = self.root.join(&id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| storage("creating the container's directory", e))?;
        let record = Record {
            info: ContainerInfo {
                id: id.clone(),
                name,
                image: request.image,
                command,
                state: ContainerState::Created,
                created_ms: now_ms(),
                started_ms: None,
                finished_ms: None,
                exit_code: None,
                oom_killed: false,
                pid: None,
                endpoint: None,
                ports: Vec::new(),
                paused: false,
            },
            image_id: request.image_id,
            diff_ids: request.diff_ids,
            spec,
            user: request.user,
            stdin: request.stdin,
            tty: request.tty,
            auto_remove: request.auto_remove,
            network,
            networks,
            extra_hosts,
            dns: request.dns,
            mounts,
            port_bindings: request.ports,
            published: None,
        };
        if let Err(e) = record.save(&dir) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        self.cache.hold(&id, &record.diff_ids);
        let container = Arc::new(Container {
            dir,
            record: Mutex::new(record),
            changed: Condvar::new(),
            root_in_use: Mutex::new(()),
            copies: Default::default(),
            removed: Default::default(),
            console: Default::default(),
            cache: self.cache.clone(),
            networks: self.networks.clone(),
            volumes: self.volumes.clone(),
            events: self.events.clone(),
        });
        all.push(container.clone());
        drop(all);
        self.events.publish(ContainerEvent {
            container: id,
            action: ContainerAction::Create,
            lease: None,
            exit_code: None,
        });
        Ok(container)
    }
}
