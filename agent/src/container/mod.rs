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
mod spawn;
mod user;

pub use cgroup::prepare_hierarchy;

use crate::layers::LayerCache;
use crate::vsock::VsockStream;
use cgroup::Cgroup;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use protocol::{AgentError, ContainerCreate, ContainerInfo, ContainerState, ErrorKind, ExitStatus};
use serde::{Deserialize, Serialize};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

const CONTAINERS_DIR: &str = "/var/lib/hutch/containers";
/// Docker's status for a container whose machine stopped under it.
const EXIT_MACHINE_STOPPED: i32 = 255;

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
    image_id: String,
    diff_ids: Vec<String>,
    spec: Spec,
    user: Option<String>,
    stdin: bool,
}

pub struct Container {
    dir: PathBuf,
    record: Mutex<Record>,
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

    /// Starts the first process (the caller holds the process table's
    /// lock, so the reaper cannot miss its exit); returns its pid.
    pub fn start(
        &self,
        stdin: Option<OwnedFd>,
        stdout: Option<VsockStream>,
        stderr: Option<VsockStream>,
    ) -> Result<u32, AgentError> {
        let mut record = self.lock();
        if record.info.state != ContainerState::Created {
            return Err(AgentError::new(
                ErrorKind::Conflict,
                format!("container {} has already run", record.info.name),
            ));
        }
        let rootfs = self.rootfs();
        self.mount_root(&record.diff_ids)?;
        let started = self.launch(&record, stdin, stdout, stderr);
        let pid = match started {
            Ok(pid) => pid,
            Err(e) => {
                let _ = crate::init::unmount(&rootfs.to_string_lossy(), libc::MNT_DETACH);
                Cgroup::open(&record.info.id).remove();
                return Err(e);
            }
        };
        record.info.state = ContainerState::Running;
        record.info.pid = Some(pid as u32);
        record.info.started_ms = Some(now_ms());
        Container::save(&record, &self.dir)?;
        Ok(pid as u32)
    }

    fn mount_root(&self, diff_ids: &[String]) -> Result<(), AgentError> {
        let lower = self.cache.lower_dirs(diff_ids)?;
        for sub in ["upper", "work", "rootfs"] {
            std::fs::create_dir_all(self.dir.join(sub))
                .map_err(|e| storage("creating the container's directories", e))?;
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

    fn launch(
        &self,
        record: &Record,
        stdin: Option<OwnedFd>,
        stdout: Option<VsockStream>,
        stderr: Option<VsockStream>,
    ) -> Result<i32, AgentError> {
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
                // Entered by init once inside its cgroup.
                LinuxNamespaceType::Cgroup => 0,
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
        let stdin = match stdin {
            Some(fd) => fd,
            None => std::fs::File::open("/dev/null")
                .map_err(|e| storage("opening /dev/null", e))?
                .into(),
        };
        let log = log::Log::open(&self.dir.join("container.log"))
            .map_err(|e| storage("opening the log", e))?;
        let (out_read, out_write) = spawn::pipe()?;
        let (err_read, err_write) = spawn::pipe()?;
        log.copy(out_read, "stdout", stdout);
        log.copy(err_read, "stderr", stderr);
        let config = init::InitConfig {
            spec: spec.clone(),
            rootfs: self.rootfs(),
            user: record.user.clone(),
            resolv_conf: std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        };
        let stdio = spawn::Stdio {
            stdin,
            stdout: out_write,
            stderr: err_write,
        };
        spawn::spawn(&config, flags, stdio, &cgroup)
    }

    /// The reaper's report: the first process is gone, and with it the
    /// rest of the container (its pid namespace dies with it).
    pub fn exited(&self, status: ExitStatus) {
        let mut record = self.lock();
        let cgroup = Cgroup::open(&record.info.id);
        record.info.oom_killed = cgroup.oom_killed();
        cgroup.remove();
        let _ = crate::init::unmount(&self.rootfs().to_string_lossy(), libc::MNT_DETACH);
        record.info.state = ContainerState::Exited;
        record.info.exit_code = Some(status.shell_code());
        record.info.finished_ms = Some(now_ms());
        record.info.pid = None;
        if let Err(e) = Container::save(&record, &self.dir) {
            crate::init::log(&format!("container {}: {}", record.info.id, e.message));
        }
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
        let mut spec: Spec = serde_json::from_str(&request.spec).map_err(|e| {
            AgentError::new(ErrorKind::BadRequest, format!("bad runtime spec: {e}"))
        })?;
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
        };
        if let Err(e) = Container::save(&record, &dir) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        self.cache.hold(&id, &record.diff_ids);
        let container = Arc::new(Container {
            dir,
            record: Mutex::new(record),
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
            if let Some(pid) = info.pid {
                // SAFETY: kill(2) on the container's first process, which the
                // reaper has not reaped (the record would say Exited).
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
            let mut waited = 0;
            while container.info().state == ContainerState::Running {
                if waited > 1000 {
                    return Err(AgentError::new(
                        ErrorKind::Internal,
                        format!("container {} did not die", info.name),
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
                waited += 1;
            }
        }
        std::fs::remove_dir_all(&container.dir)
            .map_err(|e| storage("removing the container's files", e))?;
        self.cache.release(&info.id);
        self.lock().retain(|c| !Arc::ptr_eq(c, &container));
        Ok(())
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
