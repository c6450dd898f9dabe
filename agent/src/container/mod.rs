//! Containers in the machine. Each has a directory on the layer disk
//! (`record.json`, its private `upper` layer, `container.log`); its root is
//! overlayfs over the image's cached layers plus that upper, mounted while
//! it runs. The first process is started through `spawn` / `init`; the
//! agent's reaper reports its exit here.

mod caps;
mod cgroup;
pub mod init;
mod log;
mod mounts;
mod seccomp;
mod spawn;
mod stdio;
mod user;
mod userns;

pub use cgroup::prepare_hierarchy;
pub use stdio::Streams;

use crate::layers::LayerCache;
use cgroup::Cgroup;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use protocol::{
    AgentError, ContainerCreate, ContainerDetails, ContainerInfo, ContainerState, Digest,
    ErrorKind, ExecSpec, ExitStatus, LogEntry,
};
use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use userns::UserNamespace;

const CONTAINERS_DIR: &str = "/var/lib/hutch/containers";
/// Docker's status for a container whose machine stopped under it.
const EXIT_MACHINE_STOPPED: i32 = 255;
/// Most log bytes one `ContainerLogs` answer carries (frames are capped at
/// 1 MiB, and JSON escaping can grow text).
const LOG_CHUNK: usize = 128 * 1024;
/// How long a following `ContainerLogs` waits for new output before
/// answering with none.
const FOLLOW_WAIT: Duration = Duration::from_secs(2);

fn storage(what: &str, e: std::io::Error) -> AgentError {
    AgentError::new(ErrorKind::Storage, format!("{what}: {e}"))
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Clone, Serialize, Deserialize)]
struct Record {
    info: ContainerInfo,
    image_id: Digest,
    diff_ids: Vec<Digest>,
    spec: Spec,
    user: Option<String>,
    stdin: bool,
    #[serde(default)]
    tty: bool,
    #[serde(default)]
    auto_remove: bool,
}

/// A started process: its pid, and its terminal's controller if it has one.
pub struct Started {
    pub pid: i32,
    pub terminal: Option<OwnedFd>,
}

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

/// The pid of the container's first process, if it runs.
fn running_pid(record: &Record) -> Result<u32, AgentError> {
    let info = &record.info;
    info.pid
        .filter(|_| info.state == ContainerState::Running)
        .ok_or_else(|| {
            AgentError::new(
                ErrorKind::Conflict,
                format!("container {} is not running", info.name),
            )
        })
}

pub struct Container {
    dir: PathBuf,
    record: Mutex<Record>,
    /// Signalled when the record changes state.
    changed: Condvar,
    cache: Arc<LayerCache>,
}

impl Container {
    fn lock(&self) -> MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|p| p.into_inner())
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

    fn save(record: &Record, dir: &Path) -> Result<(), AgentError> {
        let bytes = serde_json::to_vec_pretty(record)
            .map_err(|e| AgentError::new(ErrorKind::Internal, e.to_string()))?;
        let tmp = dir.join("record.json.tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, dir.join("record.json")))
            .map_err(|e| storage("saving the container's record", e))
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
        }
    }

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
        Container::save(&record, &self.dir)?;
        drop(record);
        self.changed.notify_all();
        Ok(started)
    }

    /// Runs `spec` inside the running container: its namespaces, cgroup,
    /// user and capabilities, with the container's environment under the
    /// exec's own.
    pub fn exec(&self, exec: &ExecSpec, streams: Streams) -> Result<Started, AgentError> {
        let record = self.lock();
        let pid = running_pid(&record)?;
        let mut spec = record.spec.clone();
        let mut process = spec.process().clone().unwrap_or_default();
        let mut env = process.env().clone().unwrap_or_default();
        for entry in &exec.env {
            let key = entry.split('=').next().unwrap_or_default();
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(entry.clone());
        }
        process.set_args(Some(exec.args.clone()));
        process.set_env(Some(env));
        process.set_terminal(Some(exec.tty));
        if let Some(cwd) = &exec.cwd {
            process.set_cwd(cwd.into());
        }
        spec.set_process(Some(process));
        let config = init::InitConfig {
            spec,
            rootfs: self.rootfs(),
            user: exec.user.clone().or_else(|| record.user.clone()),
            resolv_conf: String::new(),
            join: Some(pid),
            userns: false,
        };
        let cgroup = Cgroup::open(&record.info.id);
        // Not held while it starts: the reaper records exits under it.
        drop(record);
        let (stdio, terminal) = stdio::connect(streams, exec.tty, None)?;
        let pid = spawn::spawn(&config, 0, stdio, &cgroup, None)?;
        Ok(Started { pid, terminal })
    }

    /// Blocks until the container is not running (a created one until it
    /// has run), at most `timeout`; its exit code if it exited.
    pub fn wait_exit(&self, timeout: Option<Duration>) -> Option<i32> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut record = self.lock();
        while record.info.state != ContainerState::Exited {
            record = match deadline {
                None => self.changed.wait(record).unwrap_or_else(|p| p.into_inner()),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    self.changed
                        .wait_timeout(record, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
        record.info.exit_code
    }

    pub fn kill(&self, signal: i32) -> Result<(), AgentError> {
        let record = self.lock();
        // The record says its first process runs. The reaper records the
        // exit before reaping it, so under this lock the pid is still that
        // process (or its zombie).
        crate::os::send_signal(running_pid(&record)? as i32, signal)
    }

    /// docker's stop: SIGTERM, SIGKILL after `timeout`; returns once exited.
    pub fn stop(&self, timeout: Duration) -> Result<(), AgentError> {
        if self.kill(libc::SIGTERM).is_err() {
            return Ok(()); // not running: nothing to stop
        }
        if self.wait_exit(Some(timeout)).is_some() {
            return Ok(());
        }
        let _ = self.kill(libc::SIGKILL);
        self.wait_exit(Some(Duration::from_secs(30)))
            .map(|_| ())
            .ok_or_else(|| {
                AgentError::new(
                    ErrorKind::Internal,
                    format!("container {} did not die after SIGKILL", self.info().name),
                )
            })
    }

    /// Log entries from `offset` (or the last `tail`); see `ContainerLogs`.
    pub fn logs(
        &self,
        offset: u64,
        tail: Option<u64>,
        follow: bool,
    ) -> Result<(Vec<LogEntry>, u64, bool), AgentError> {
        let path = self.dir.join("container.log");
        let deadline = Instant::now() + FOLLOW_WAIT;
        let (mut offset, mut tail) = (offset, tail);
        loop {
            let running = self.info().state == ContainerState::Running;
            let chunk = log::read(&path, offset, tail, LOG_CHUNK)
                .map_err(|e| storage("reading the container's log", e))?;
            let following = follow && running;
            if !chunk.entries.is_empty() || !following || Instant::now() >= deadline {
                let more = chunk.truncated || following;
                return Ok((chunk.entries, chunk.offset, more));
            }
            (offset, tail) = (chunk.offset, None);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The overlay root: the image's layers (seen through the user
    /// namespace's mappings when it has one) under the private upper.
    fn mount_root(
        &self,
        diff_ids: &[Digest],
        userns: Option<&UserNamespace>,
    ) -> Result<(), AgentError> {
        let mut lower = self.cache.lower_dirs(diff_ids)?;
        for sub in ["upper", "work", "rootfs"] {
            std::fs::create_dir_all(self.dir.join(sub))
                .map_err(|e| storage("creating the container's directories", e))?;
        }
        if let Some(userns) = userns {
            lower = self.shift_layers(&lower, userns)?;
        }
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.join(":"),
            self.dir.join("upper").display(),
            self.dir.join("work").display()
        );
        crate::init::mount(
            "overlay",
            &self.rootfs().to_string_lossy(),
            "overlay",
            0,
            &options,
        )
        .map_err(|e| {
            AgentError::new(
                ErrorKind::Storage,
                format!("assembling the container's root: {e}"),
            )
        })
    }

    /// Idmapped views of the layers under `lower/`, and the upper layer's
    /// root owned by the container's root, so that `/` is its own.
    fn shift_layers(
        &self,
        layers: &[String],
        userns: &UserNamespace,
    ) -> Result<Vec<String>, AgentError> {
        let mut shifted = Vec::new();
        for (i, layer) in layers.iter().enumerate() {
            let target = self.dir.join("lower").join(i.to_string());
            std::fs::create_dir_all(&target)
                .and_then(|()| userns.idmapped_bind(Path::new(layer), &target))
                .map_err(|e| {
                    AgentError::new(
                        ErrorKind::Storage,
                        format!("mapping the image's layers into the user namespace: {e}"),
                    )
                })?;
            shifted.push(target.to_string_lossy().into_owned());
        }
        let (uid, gid) = userns.root_in_machine();
        std::os::unix::fs::chown(self.dir.join("upper"), Some(uid), Some(gid))
            .map_err(|e| storage("handing the upper layer to the container's root", e))?;
        Ok(shifted)
    }

    /// Undoes `mount_root`; harmless when parts are not mounted.
    fn unmount_root(&self) {
        let _ = crate::init::unmount(&self.rootfs().to_string_lossy(), libc::MNT_DETACH);
        for entry in std::fs::read_dir(self.dir.join("lower"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = crate::init::unmount(&entry.path().to_string_lossy(), libc::MNT_DETACH);
        }
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

    /// The reaper's report: the first process is gone, and with it the
    /// rest of the container (its pid namespace dies with it).
    pub fn exited(&self, status: ExitStatus) {
        let mut record = self.lock();
        let cgroup = Cgroup::open(&record.info.id);
        record.info.oom_killed = cgroup.oom_killed();
        cgroup.remove();
        self.unmount_root();
        record.info.state = ContainerState::Exited;
        record.info.exit_code = Some(status.shell_code());
        record.info.finished_ms = Some(now_ms());
        record.info.pid = None;
        if let Err(e) = Container::save(&record, &self.dir) {
            crate::init::log(&format!("container {}: {}", record.info.id, e.message));
        }
        drop(record);
        self.changed.notify_all();
    }
}

pub struct Containers {
    root: PathBuf,
    cache: Arc<LayerCache>,
    all: Mutex<Vec<Arc<Container>>>,
}

impl Containers {
    /// Loads the records kept on the layer disk; containers that were
    /// running when the machine stopped are exited now.
    pub fn open(cache: Arc<LayerCache>) -> Containers {
        let root = PathBuf::from(CONTAINERS_DIR);
        let mut all = Vec::new();
        for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            let dir = entry.path();
            let Some(mut record) = std::fs::read(dir.join("record.json"))
                .ok()
                .and_then(|b| serde_json::from_slice::<Record>(&b).ok())
            else {
                continue;
            };
            if record.info.state == ContainerState::Running {
                record.info.state = ContainerState::Exited;
                record.info.exit_code = Some(EXIT_MACHINE_STOPPED);
                record.info.finished_ms = Some(now_ms());
                record.info.pid = None;
                let _ = Container::save(&record, &dir);
            }
            cache.hold(&record.info.id, &record.diff_ids);
            all.push(Arc::new(Container {
                dir,
                record: Mutex::new(record),
                changed: Condvar::new(),
                cache: cache.clone(),
            }));
        }
        Containers {
            root,
            cache,
            all: Mutex::new(all),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Arc<Container>>> {
        self.all.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn create(&self, request: ContainerCreate) -> Result<Arc<Container>, AgentError> {
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
        let mut all = self.lock();
        let taken = |name: &str| all.iter().any(|c| c.lock().info.name == name);
        let name = match request.name {
            Some(name) => {
                if !valid_name(&name) {
                    return Err(AgentError::new(ErrorKind::BadRequest, format!("invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")));
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
            },
            image_id: request.image_id,
            diff_ids: request.diff_ids,
            spec,
            user: request.user,
            stdin: request.stdin,
            tty: request.tty,
            auto_remove: request.auto_remove,
        };
        if let Err(e) = Container::save(&record, &dir) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        self.cache.hold(&id, &record.diff_ids);
        let container = Arc::new(Container {
            dir,
            record: Mutex::new(record),
            changed: Condvar::new(),
            cache: self.cache.clone(),
        });
        all.push(container.clone());
        Ok(container)
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

    /// Removes a container and its files; a running one only with `force`,
    /// which kills it first.
    pub fn remove(&self, key: &str, force: bool) -> Result<(), AgentError> {
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
        self.forget(&container)
    }

    fn forget(&self, container: &Arc<Container>) -> Result<(), AgentError> {
        let mut all = self.lock();
        let Some(at) = all.iter().position(|c| Arc::ptr_eq(c, container)) else {
            return Ok(()); // removed meanwhile
        };
        std::fs::remove_dir_all(&container.dir)
            .map_err(|e| storage("removing the container's files", e))?;
        self.cache.release(&container.id());
        all.remove(at);
        Ok(())
    }

    /// The reaper's report of a container's first process exiting.
    pub fn exited(&self, container: &Arc<Container>, status: ExitStatus) {
        container.exited(status);
        if container.auto_remove() {
            if let Err(e) = self.forget(container) {
                crate::init::log(&format!(
                    "removing container {}: {}",
                    container.id(),
                    e.message
                ));
            }
        }
    }
}

fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    bytes.len() >= 2
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(b))
}

fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    // SAFETY: getrandom(2) fills at most `n` bytes of a valid buffer.
    unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), n, 0) };
    bytes
}

fn random_hex(n: usize) -> String {
    random_bytes(n).iter().map(|b| format!("{b:02x}")).collect()
}

/// docker-style `adjective_noun` names.
fn random_name() -> String {
    const ADJECTIVES: [&str; 16] = [
        "brave", "calm", "eager", "fond", "gentle", "happy", "keen", "lucid", "merry", "nifty",
        "proud", "quiet", "sharp", "tender", "vivid", "witty",
    ];
    const NOUNS: [&str; 16] = [
        "badger", "beaver", "crane", "falcon", "ferret", "heron", "lynx", "marten", "otter", "owl",
        "puffin", "raven", "stoat", "swift", "vole", "wren",
    ];
    let r = random_bytes(3);
    format!(
        "{}_{}{}",
        ADJECTIVES[r[0] as usize % 16],
        NOUNS[r[1] as usize % 16],
        r[2] % 100
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker_rules() {
        assert!(valid_name("web"));
        assert!(valid_name("a.b_c-1"));
        assert!(!valid_name("-web"));
        assert!(!valid_name("w"));
        assert!(!valid_name("we b"));
        assert!(valid_name(&random_name()));
    }
}
