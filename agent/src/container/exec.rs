//! `exec`: a command in a running container, joining its namespaces and
//! cgroup with its environment, user and capabilities.

use super::cgroup::Cgroup;
use super::{init, spawn, stdio, Container, Started, Streams};
use protocol::{AgentError, ExecSpec};

impl Container {
    /// Runs `spec` inside the running container: its namespaces, cgroup,
    /// user and capabilities, with the container's environment under the
    /// exec's own.
    pub fn exec(&self, exec: &ExecSpec, streams: Streams) -> Result<Started, AgentError> {
        // Held until it has joined: a copy must not freeze the container
        // between the check and the spawn (the exec would freeze with it).
        let _root = self.root_unless_copying()?;
        let record = self.lock();
        let pid = record.running_pid()?;
        if record.info.paused {
            // It would join the frozen cgroup and freeze at once.
            return Err(AgentError::new(
                protocol::ErrorKind::Conflict,
                format!("container {} is paused: unpause it first", record.info.name),
            ));
        }
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
            networks: Vec::new(),
            hosts: String::new(),
        };
        let cgroup = Cgroup::open(&record.info.id);
        // Not held while it starts: the reaper records exits under it.
        drop(record);
        let (stdio, terminal) = stdio::connect(streams, exec.tty)?;
        let pid = spawn::spawn(&config, 0, stdio, &cgroup, None, None)?;
        Ok(Started { pid, terminal })
    }
}
