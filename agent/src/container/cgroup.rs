//! cgroup v2 for containers: each in `/sys/fs/cgroup/hutch/<id>` with the
//! spec's memory, cpu and pids limits. The agent sits in its own cgroup
//! with protected memory, out of the containers' reach.

use oci_spec::runtime::LinuxResources;
use std::io;
use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";
const CONTROLLERS: &str = "+cpu +memory +pids";
/// Memory the kernel keeps for the agent under pressure from containers.
const AGENT_MEMORY_MIN: &str = "33554432";

fn write(path: &Path, value: &str) -> io::Result<()> {
    std::fs::write(path, value).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("writing {value:?} to {}: {e}", path.display()),
        )
    })
}

/// Once at boot: controllers for containers, and the agent moved into its
/// own protected cgroup (and made the OOM killer's last choice).
pub fn prepare_hierarchy() -> io::Result<()> {
    let root = Path::new(ROOT);
    let agent = root.join("agent");
    std::fs::create_dir_all(&agent)?;
    write(&agent.join("cgroup.procs"), &std::process::id().to_string())?;
    write(&root.join("cgroup.subtree_control"), CONTROLLERS)?;
    let _ = write(&agent.join("memory.min"), AGENT_MEMORY_MIN);
    let containers = root.join("hutch");
    std::fs::create_dir_all(&containers)?;
    write(&containers.join("cgroup.subtree_control"), CONTROLLERS)?;
    write(Path::new("/proc/self/oom_score_adj"), "-1000")
}

pub struct Cgroup {
    path: PathBuf,
}

impl Cgroup {
    pub fn create(id: &str, resources: Option<&LinuxResources>) -> io::Result<Cgroup> {
        let path = Path::new(ROOT).join("hutch").join(id);
        std::fs::create_dir_all(&path)?;
        let cgroup = Cgroup { path };
        if let Some(r) = resources {
            cgroup.apply(r)?;
        }
        Ok(cgroup)
    }

    pub fn open(id: &str) -> Cgroup {
        Cgroup {
            path: Path::new(ROOT).join("hutch").join(id),
        }
    }

    fn apply(&self, r: &LinuxResources) -> io::Result<()> {
        if let Some(limit) = r
            .memory()
            .as_ref()
            .and_then(|m| m.limit())
            .filter(|l| *l > 0)
        {
            write(&self.path.join("memory.max"), &limit.to_string())?;
            // docker's --memory without --memory-swap: no swap on top.
            let _ = write(&self.path.join("memory.swap.max"), "0");
        }
        if let Some(cpu) = r.cpu() {
            if let Some(quota) = cpu.quota().filter(|q| *q > 0) {
                let period = cpu.period().unwrap_or(100_000);
                write(&self.path.join("cpu.max"), &format!("{quota} {period}"))?;
            }
        }
        if let Some(pids) = r.pids() {
            if pids.limit() > 0 {
                write(&self.path.join("pids.max"), &pids.limit().to_string())?;
            }
        }
        Ok(())
    }

    pub fn add(&self, pid: i32) -> io::Result<()> {
        write(&self.path.join("cgroup.procs"), &pid.to_string())
    }

    /// One of its files, e.g. `cpu.stat`.
    pub fn read(&self, file: &str) -> io::Result<String> {
        std::fs::read_to_string(self.path.join(file))
    }

    /// Freezes (`true`) or thaws its processes; returns once the kernel
    /// reports it done (`frozen 1` or `frozen 0` in cgroup.events).
    pub fn set_frozen(&self, frozen: bool) -> io::Result<()> {
        write(
            &self.path.join("cgroup.freeze"),
            if frozen { "1" } else { "0" },
        )?;
        let want = if frozen { "frozen 1" } else { "frozen 0" };
        for _ in 0..400 {
            let events = std::fs::read_to_string(self.path.join("cgroup.events"))?;
            if events.lines().any(|l| l == want) {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("{} did not report {want:?} within 2 s", self.path.display()),
        ))
    }

    /// Whether the kernel's OOM killer has killed anything in it.
    pub fn oom_killed(&self) -> bool {
        std::fs::read_to_string(self.path.join("memory.events"))
            .unwrap_or_default()
            .lines()
            .any(|l| {
                l.split_once(' ')
                    .is_some_and(|(k, v)| k == "oom_kill" && v.trim() != "0")
            })
    }

    /// Removes it once its processes are gone (they die with PID 1 of the
    /// container's pid namespace, but not in the same instant).
    pub fn remove(&self) {
        for _ in 0..100 {
            match std::fs::remove_dir(&self.path) {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return,
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
    }
}
