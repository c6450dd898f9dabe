//! Starting a container's first process: its user namespace, root,
//! cgroup and namespaces, then `spawn`.

use super::cgroup::Cgroup;
use super::record::{now_ms, storage};
use super::userns::UserNamespace;
use super::{init, log, spawn, stdio, Container, Record, Started, Streams};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use protocol::{AgentError, ContainerState, ErrorKind};

/// The user namespace the spec asks for, made now (see userns.rs).
fn user_namespace(spec: &Spec) -> Result<Option<UserNamespace>, AgentError> {
    let Some(linux) = spec.linux() else {
        return Ok(None);
    };
    let wanted = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User);
    if !wanted {
        return Ok(None);
    }
    UserNamespace::create(linux).map(Some)
}

impl Container {
    /// Starts the first process of a created or exited container (the
    /// caller holds the process table's lock, so the reaper cannot miss
    /// its exit). A restart keeps the container's upper layer, as docker's.
    pub fn start(&self, streams: Streams) -> Result<Started, AgentError> {
        let mut record = self.lock();
        if record.info.state == ContainerState::Running {
            return Err(AgentError::new(
                ErrorKind::Conflict,
                format!("container {} is already running", record.info.name),
            ));
        }
        let userns = user_namespace(&record.spec)?;
        let launched = self
            .mount_root(&record.diff_ids, userns.as_ref())
            .and_then(|()| self.launch(&record, streams, userns.as_ref()));
        let started = match launched {
            Ok(started) => started,
            Err(e) => {
                self.unmount_root();
                Cgroup::open(&record.info.id).remove();
                return Err(e);
            }
        };
        let info = &mut record.info;
        info.state = ContainerState::Running;
        info.pid = Some(started.pid as u32);
        info.started_ms = Some(now_ms());
        info.finished_ms = None;
        info.exit_code = None;
        info.oom_killed = false;
        record.save(&self.dir)?;
        drop(record);
        self.changed.notify_all();
        Ok(started)
    }

    fn launch(
        &self,
        record: &Record,
        streams: Streams,
        userns: Option<&UserNamespace>,
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
        let (stdio, terminal) = stdio::connect(streams, record.tty, Some(&log))?;
        let config = init::InitConfig {
            spec: spec.clone(),
            rootfs: self.rootfs(),
            user: record.user.clone(),
            resolv_conf: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            join: None,
            userns: userns.is_some(),
        };
        let pid = spawn::spawn(
            &config,
            flags,
            stdio,
            &cgroup,
            userns.map(UserNamespace::fd),
        )?;
        Ok(Started { pid, terminal })
    }
}
