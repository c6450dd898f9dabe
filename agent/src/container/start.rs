//! Starting a container's first process: its user namespace, root,
//! cgroup and namespaces, then `spawn`.

use super::cgroup::Cgroup;
use super::console::Console;
use super::record::{now_ms, storage};
use super::userns::UserNamespace;
use super::{init, log, spawn, Container, Record, Started, Streams};
use crate::network::{self, Attachment};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use protocol::{AgentError, ContainerAction, ContainerEvent, ContainerState, ErrorKind};

/// The user namespace the spec asks for, made now (see userns.rs).
pub(super) fn user_namespace(spec: &Spec) -> Result<Option<UserNamespace>, AgentError> {
    match super::userns::wanted(spec) {
        Some(linux) => UserNamespace::create(linux).map(Some),
        None => Ok(None),
    }
}

/// Whether the spec gives it a network namespace of its own (not so
/// with `--network host`).
fn own_network_namespace(record: &Record) -> bool {
    record
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Network))
}

impl Container {
    /// Starts the first process of a created or exited container (the
    /// caller holds the process table's lock, so the reaper cannot miss
    /// its exit). A restart keeps the container's upper layer, as docker's.
    pub fn start(&self, streams: Streams) -> Result<Started, AgentError> {
        let _in_use = self.root_unless_copying()?;
        let mut record = self.lock();
        if record.info.state == ContainerState::Running {
            return Err(AgentError::new(
                ErrorKind::Conflict,
                format!("container {} is already running", record.info.name),
            ));
        }
        let userns = user_namespace(&record.spec)?;
        let own_namespace = own_network_namespace(&record);
        let attachments = self.attach_networks(&mut record, own_namespace)?;
        let launched = self
            .mount_root(&record.diff_ids, userns.as_ref())
            .and_then(|()| {
                self.initialize_volumes(&record, userns.as_ref().map(|u| u.root_in_machine()))
            })
            .and_then(|()| self.launch(&record, streams, userns.as_ref(), &attachments));
        let started = match launched {
            Ok(started) => started,
            Err(e) => {
                record.published = None;
                self.unmount_root();
                Cgroup::open(&record.info.id).remove();
                self.release_networks(&mut record);
                return Err(e);
            }
        };
        self.refresh_endpoint(&mut record);
        let info = &mut record.info;
        info.state = ContainerState::Running;
        info.pid = Some(started.pid as u32);
        info.started_ms = Some(now_ms());
        info.finished_ms = None;
        info.exit_code = None;
        info.oom_killed = false;
        let published = record.published.as_ref();
        record.info.ports = published.map(|p| p.ports.clone()).unwrap_or_default();
        record.save(&self.dir)?;
        let binds: Vec<String> = record
            .mounts
            .iter()
            .filter(|m| m.kind == "bind")
            .map(|m| m.source.clone())
            .collect();
        if !binds.is_empty() {
            crate::shares::watch_for(started.pid, binds);
        }
        let event = ContainerEvent {
            container: record.info.id.clone(),
            action: ContainerAction::Start,
            lease: record.published.as_ref().map(|p| p.lease),
            exit_code: None,
        };
        drop(record);
        self.changed.notify_all();
        self.events.publish(event);
        Ok(started)
    }

    fn launch(
        &self,
        record: &Record,
        streams: Streams,
        userns: Option<&UserNamespace>,
        attachments: &[Attachment],
    ) -> Result<Started, AgentError> {
        let spec = &record.spec;
        let linux = spec.linux().as_ref();
        let cgroup = Cgroup::create(&record.info.id, linux.and_then(|l| l.resources().as_ref()))
            .map_err(|e| {
                AgentError::new(
                    ErrorKind::Internal,
                    format!("creating the container's cgroup: {e}"),
                )
            })?;
        let mut flags = 0;
        for ns in linux
            .and_then(|l| l.namespaces().as_ref())
            .into_iter()
            .flatten()
        {
            flags |= match ns.typ() {
                LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
                LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
                LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
                LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
                LinuxNamespaceType::Network => libc::CLONE_NEWNET,
                // Entered by init once inside its cgroup; the user
                // namespace by init once the root is built (see init.rs).
                LinuxNamespaceType::Cgroup | LinuxNamespaceType::User => 0,
                other => {
                    return Err(AgentError::new(
                        ErrorKind::BadRequest,
                        format!("the {other} namespace is not supported"),
                    ));
                }
            };
        }
        if flags & libc::CLONE_NEWNS == 0 {
            return Err(AgentError::new(
                ErrorKind::BadRequest,
                "a container needs its own mount namespace",
            ));
        }
        let log = log::Log::open(&self.dir.join("container.log"))
            .map_err(|e| storage("opening the log", e))?;
        let (console, stdio) = Console::open(streams, record.tty, record.stdin, &log)?;
        let config = init::InitConfig {
            spec: spec.clone(),
            rootfs: self.rootfs(),
            user: record.user.clone(),
            resolv_conf: self.resolv_conf(record),
            join: None,
            userns: userns.is_some(),
            networks: attachments.to_vec(),
            hosts: self.extra_hosts(record),
        };
        let plug = |pid| {
            let plugged = attachments.iter().try_for_each(|a| network::plug(a, pid));
            plugged.map_err(|e| {
                AgentError::new(
                    ErrorKind::Internal,
                    format!("connecting the container's network: {e}"),
                )
            })
        };
        let pid = spawn::spawn(
            &config,
            flags,
            stdio,
            &cgroup,
            userns.map(UserNamespace::fd),
            (!attachments.is_empty()).then_some(&plug as spawn::Plug<'_>),
        )?;
        let terminal = console.terminal();
        self.set_console(Some(console));
        Ok(Started { pid, terminal })
    }
}
