//! Containers in the machine. Each has a directory on the layer disk
//! (`record.json`, its private `upper` layer, `container.log`); its root is
//! overlayfs over the image's cached layers plus that upper, mounted while
//! it runs. The first process is started through `spawn` / `init`; the
//! agent's reaper reports its exit here.

mod archive;
mod caps;
mod cgroup;
mod console;
mod create;
mod exec;
pub mod init;
mod log;
mod logs;
mod mounts;
pub(crate) mod names;
mod networks;
mod pause;
mod record;
mod remove;
mod rootfs;
mod seccomp;
mod spawn;
mod start;
mod stdio;
mod stop;
mod syscalls;
mod usage;
mod user;
mod userns;
mod volumes;

pub use archive::{helper_main as copy_helper_main, serve as serve_archive, COPY_ARG};
pub use cgroup::prepare_hierarchy;
pub use stdio::Streams;

use crate::events::Events;
use crate::layers::LayerCache;
use crate::network::Networks;
use crate::volumes::Volumes;
use protocol::{
    AgentError, ContainerDetails, ContainerInfo, ContainerState, ErrorKind, ExitStatus,
    PublishedPorts,
};
pub use record::now_ms;
use record::Record;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

const CONTAINERS_DIR: &str = "/var/lib/hutch/containers";
/// Docker's status for a container whose machine stopped under it.
const EXIT_MACHINE_STOPPED: i32 = 255;

/// A started process: its pid, and its terminal's controller if it has one.
pub struct Started {
    pub pid: i32,
    pub terminal: Option<OwnedFd>,
}

pub struct Container {
    dir: PathBuf,
    record: Mutex<Record>,
    /// Signalled when the record changes state.
    changed: Condvar,
    /// Held while a copy works on its root, and by what would change the
    /// root under it: start, pause and unpause, removal.
    root_in_use: Mutex<()>,
    /// Copies under way or waiting for the root: what would wait for one
    /// is refused instead.
    copies: AtomicUsize,
    /// Removed: a copy that found it before must not bring it back.
    removed: AtomicBool,
    /// The running first process's stdio, which clients join (`attach`);
    /// set and cleared under the record's lock.
    console: Mutex<Option<Arc<console::Console>>>,
    cache: Arc<LayerCache>,
    networks: Arc<Networks>,
    volumes: Arc<Volumes>,
    events: Arc<Events>,
}

impl Container {
    fn lock(&self) -> MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn root_in_use(&self) -> MutexGuard<'_, ()> {
        self.root_in_use.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The root, unless a copy holds it or waits for it: what would wait
    /// for a copy (a start, pause or exec, answered while others wait on
    /// the agent) is refused instead. Other holders are brief.
    fn root_unless_copying(&self) -> Result<MutexGuard<'_, ()>, AgentError> {
        // Never blocking: a copy counts itself before it takes the root,
        // so a held root is either a copy's (refused) or brief.
        loop {
            self.refuse_while_copying()?;
            match self.root_in_use.try_lock() {
                Ok(guard) => return Ok(guard),
                Err(std::sync::TryLockError::Poisoned(p)) => return Ok(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => {
                    std::thread::sleep(std::time::Duration::from_millis(2))
                }
            }
        }
    }

    fn refuse_while_copying(&self) -> Result<(), AgentError> {
        if self.copies.load(Ordering::SeqCst) == 0 {
            return Ok(());
        }
        Err(AgentError::new(
            ErrorKind::Conflict,
            format!(
                "a copy into or out of container {} is in progress: try again when it ends",
                self.info().name
            ),
        ))
    }

    fn set_console(&self, console: Option<Arc<console::Console>>) {
        *self.console.lock().unwrap_or_else(|p| p.into_inner()) = console;
    }

    /// Joins a client to the running first process's stdio (`attach`):
    /// its output from now on, its input into the process's stdin when
    /// that is open (`-i`). Its pid, and its terminal's controller.
    pub fn join(&self, streams: Streams) -> Result<Started, AgentError> {
        let record = self.lock();
        let pid = record.running_pid()?;
        let console = self
            .console
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(console) = console else {
            // Running with no console: a record from before this boot.
            return Err(AgentError::new(
                ErrorKind::Conflict,
                format!("container {} has no stdio to attach to", record.info.name),
            ));
        };
        drop(record);
        console.join(streams, false);
        Ok(Started {
            pid: pid as i32,
            terminal: console.terminal(),
        })
    }

    /// Refuses an attachment to a container that does not run.
    pub fn check_running(&self) -> Result<(), AgentError> {
        self.lock().running_pid().map(drop)
    }

    pub fn id(&self) -> String {
        self.lock().info.id.clone()
    }

    pub fn info(&self) -> ContainerInfo {
        self.lock().info.clone()
    }

    pub fn wants_stdin(&self) -> bool {
        self.lock().stdin
    }

    fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    pub fn auto_remove(&self) -> bool {
        self.lock().auto_remove
    }

    pub fn details(&self) -> ContainerDetails {
        let r = self.lock();
        ContainerDetails {
            info: r.info.clone(),
            image_id: r.image_id.clone(),
            spec: Box::new(r.spec.clone()),
            user: r.user.clone(),
            tty: r.tty,
            stdin: r.stdin,
            auto_remove: r.auto_remove,
            network: r.network.clone(),
            port_bindings: r.port_bindings.clone(),
            networks: r.networks.iter().map(|j| j.membership()).collect(),
            mounts: r.mounts.clone(),
            extra_hosts: r.extra_hosts.clone(),
            dns: r.dns.clone(),
        }
    }

    /// Where a published port's connections go: its address on its
    /// network, or the machine's loopback for `--network host`.
    pub fn forward_target(&self, port: u16) -> Result<std::net::SocketAddr, AgentError> {
        let r = self.lock();
        r.running_pid()?;
        let ip = match (&r.info.endpoint, r.network.as_str()) {
            (Some(endpoint), _) => std::net::IpAddr::V4(endpoint.address),
            (None, "host") => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            (None, _) => {
                return Err(AgentError::new(
                    ErrorKind::Conflict,
                    format!("container {} has no network to forward to", r.info.name),
                ))
            }
        };
        Ok(std::net::SocketAddr::new(ip, port))
    }

    /// The host ports its next start is published on (the monitor listens
    /// on them already); `start` takes them over.
    pub fn publish_next_run(&self, published: Option<PublishedPorts>) {
        self.lock().published = published;
    }
}

pub struct Containers {
    root: PathBuf,
    cache: Arc<LayerCache>,
    networks: Arc<Networks>,
    volumes: Arc<Volumes>,
    events: Arc<Events>,
    all: Mutex<Vec<Arc<Container>>>,
}

impl Containers {
    /// Loads the records kept on the layer disk; containers that were
    /// running when the machine stopped are exited now.
    pub fn open(
        cache: Arc<LayerCache>,
        networks: Arc<Networks>,
        volumes: Arc<Volumes>,
        events: Arc<Events>,
    ) -> Containers {
        let root = PathBuf::from(CONTAINERS_DIR);
        let mut all = Vec::new();
        for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let dir = entry.path();
            let Some(mut record) = Record::load(&dir) else {
                continue;
            };
            if record.info.state == ContainerState::Running {
                record.info.state = ContainerState::Exited;
                record.info.paused = false;
                record.info.exit_code = Some(EXIT_MACHINE_STOPPED);
                record.info.finished_ms = Some(now_ms());
                record.info.pid = None;
                record.info.endpoint = None;
                record.info.ports.clear();
                for joined in &mut record.networks {
                    joined.attachment = None;
                }
                record.published = None;
                let _ = record.save(&dir);
            }
            cache.hold(&record.info.id, &record.diff_ids);
            all.push(Arc::new(Container {
                dir,
                record: Mutex::new(record),
                changed: Condvar::new(),
                root_in_use: Mutex::new(()),
                copies: AtomicUsize::new(0),
                removed: AtomicBool::new(false),
                console: Mutex::new(None),
                cache: cache.clone(),
                networks: networks.clone(),
                volumes: volumes.clone(),
                events: events.clone(),
            }));
        }
        Containers {
            root,
            cache,
            networks,
            volumes,
            events,
            all: Mutex::new(all),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Container>>> {
        self.all.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn list(&self) -> Vec<ContainerInfo> {
        let mut infos: Vec<ContainerInfo> = self.lock().iter().map(|c| c.info()).collect();
        infos.sort_by_key(|c| std::cmp::Reverse(c.created_ms));
        infos
    }

    /// By name, full id or unique id prefix.
    pub fn find(&self, key: &str) -> Result<Arc<Container>, AgentError> {
        let all = self.lock();
        if let Some(c) = all.iter().find(|c| {
            let r = c.lock();
            r.info.name == key || r.info.id == key
        }) {
            return Ok(c.clone());
        }
        let matches: Vec<_> = all
            .iter()
            .filter(|c| !key.is_empty() && c.lock().info.id.starts_with(key))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(AgentError::new(
                ErrorKind::NoSuchContainer,
                format!("no such container: {key}"),
            )),
            _ => Err(AgentError::new(
                ErrorKind::BadRequest,
                format!("{key} matches more than one container; give more of the id"),
            )),
        }
    }

    /// The reaper's report of a container's first process exiting.
    pub fn exited(self: &Arc<Self>, container: &Arc<Container>, status: ExitStatus) {
        container.exited(status);
        if !container.auto_remove() {
            return;
        }
        // docker's --rm takes the anonymous volumes too. Gone before the
        // exit is reported, unless a copy holds the root: then on a thread
        // of its own, as the reaper must not wait for a copy.
        let copying = container.copies.load(Ordering::SeqCst);
        let (containers, container) = (self.clone(), container.clone());
        let remove = move || {
            if let Err(e) = containers.forget(&container, true) {
                crate::sys::console::log(&format!(
                    "removing container {}: {}",
                    container.id(),
                    e.message
                ));
            }
        };
        match copying {
            0 => remove(),
            _ => drop(std::thread::spawn(remove)),
        }
    }
}
