//! Processes run on the host's behalf, and PID 1's duty of reaping every
//! child, ours or orphaned.
//!
//! Reaping and spawning share one lock: the reaper only peeks at which child
//! exited (`WNOWAIT`) outside it and reaps under it, and a spawn holds it
//! until the new pid is recorded. So a status is never lost for a pid not yet
//! recorded, and the reaper never steals the child of a failed `exec` that
//! the standard library reaps itself inside `spawn`.

use crate::container::{Container, Containers, Started, Streams};
use crate::sys::vsock::VsockStream;
use protocol::{AgentError, ErrorKind, ExecSpec, ExitStatus, StdioStream};
use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long `Start` waits for the stdio streams to attach.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What an exec id starts: a command in the machine, a container's first
/// process (with or without a client attached), a command inside a
/// running container, or a client joining a running container's stdio
/// (`attach`; its "start" joins, its wait is the container's).
enum Kind {
    Command(ExecSpec),
    Container {
        container: Arc<Container>,
        attached: bool,
    },
    InContainer {
        container: Arc<Container>,
        spec: ExecSpec,
    },
    Attach {
        container: Arc<Container>,
        stdin: bool,
    },
}

impl Kind {
    /// Which streams must attach before it starts.
    fn needs(&self, stream: StdioStream) -> bool {
        match self {
            Kind::Command(spec) | Kind::InContainer { spec, .. } => {
                stream != StdioStream::Stdin || spec.stdin
            }
            Kind::Container {
                container,
                attached,
            } => *attached && (stream != StdioStream::Stdin || container.wants_stdin()),
            Kind::Attach { stdin, .. } => stream != StdioStream::Stdin || *stdin,
        }
    }
}

struct Exec {
    kind: Kind,
    streams: HashMap<StdioStream, VsockStream>,
    pid: Option<i32>,
    status: Option<ExitStatus>,
    /// The controller of its terminal, for resizing.
    terminal: Option<OwnedFd>,
    /// The connection that made it closed: nobody will wait for it, so
    /// it goes at its exit.
    abandoned: bool,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    execs: HashMap<u64, Exec>,
    by_pid: HashMap<i32, u64>,
    spawns: u64,
}

#[derive(Default)]
pub struct ProcessTable {
    inner: Mutex<Inner>,
    changed: Condvar,
}

fn unknown(exec_id: u64) -> AgentError {
    AgentError::new(
        ErrorKind::UnknownExec,
        format!("no process with exec id {exec_id}"),
    )
}

impl ProcessTable {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere must not wedge PID 1: take the data as it is.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn create(&self, spec: ExecSpec) -> Result<u64, AgentError> {
        if spec.args.is_empty() || spec.args[0].is_empty() {
            return Err(AgentError::new(ErrorKind::BadRequest, "no command given"));
        }
        Ok(self.add(Kind::Command(spec)))
    }

    /// An exec id under which the container's first process starts; when
    /// not `attached`, no streams are awaited (output goes to its log).
    pub fn create_for_container(&self, container: Arc<Container>, attached: bool) -> u64 {
        self.add(Kind::Container {
            container,
            attached,
        })
    }

    /// An exec id for a command inside a running container.
    pub fn create_in_container(
        &self,
        container: Arc<Container>,
        spec: ExecSpec,
    ) -> Result<u64, AgentError> {
        if spec.args.is_empty() || spec.args[0].is_empty() {
            return Err(AgentError::new(ErrorKind::BadRequest, "no command given"));
        }
        Ok(self.add(Kind::InContainer { container, spec }))
    }

    /// An exec id for a client joining a running container's stdio; with
    /// `stdin`, its input goes to the container's (when that is open).
    pub fn create_attach(&self, container: Arc<Container>, stdin: bool) -> Result<u64, AgentError> {
        container.check_running()?;
        let stdin = stdin && container.wants_stdin();
        Ok(self.add(Kind::Attach { container, stdin }))
    }

    fn add(&self, kind: Kind) -> u64 {
        let mut inner = self.lock();
        inner.next_id += 1;
        let id = inner.next_id;
        inner.execs.insert(
            id,
            Exec {
                kind,
                streams: HashMap::new(),
                pid: None,
                status: None,
                terminal: None,
                abandoned: false,
            },
        );
        id
    }

    pub fn attach(
        &self,
        exec_id: u64,
        which: StdioStream,
        stream: VsockStream,
    ) -> Result<(), AgentError> {
        let mut inner = self.lock();
        let exec = inner
            .execs
            .get_mut(&exec_id)
            .ok_or_else(|| unknown(exec_id))?;
        if exec.pid.is_some() {
            return Err(AgentError::new(
                ErrorKind::BadRequest,
                "process already started",
            ));
        }
        exec.streams.insert(which, stream);
        drop(inner);
        self.changed.notify_all();
        Ok(())
    }

    /// Starts the process once its streams have attached; returns its pid.
    pub fn start(&self, exec_id: u64) -> Result<u32, AgentError> {
        let deadline = Instant::now() + ATTACH_TIMEOUT;
        let mut inner = self.lock();
        loop {
            let exec = inner.execs.get(&exec_id).ok_or_else(|| unknown(exec_id))?;
            if exec.pid.is_some() {
                return Err(AgentError::new(
                    ErrorKind::BadRequest,
                    "process already started",
                ));
            }
            let ready = [StdioStream::Stdin, StdioStream::Stdout, StdioStream::Stderr]
                .into_iter()
                .all(|s| !exec.kind.needs(s) || exec.streams.contains_key(&s));
            if ready {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(AgentError::new(
                    ErrorKind::BadRequest,
                    "stdio streams did not attach in time",
                ));
            }
            inner = self
                .changed
                .wait_timeout(inner, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        let exec = inner
            .execs
            .get_mut(&exec_id)
            .ok_or_else(|| unknown(exec_id))?;
        let mut take = |s| exec.streams.remove(&s);
        let streams = Streams {
            stdin: take(StdioStream::Stdin),
            stdout: take(StdioStream::Stdout),
            stderr: take(StdioStream::Stderr),
        };
        let spawned = match &exec.kind {
            Kind::Command(spec) => build_command(spec, streams).and_then(|mut cmd| {
                let child = cmd.spawn().map_err(|e| spawn_error(&spec.args[0], e))?;
                // Dropped unwaited: the reaper collects its status.
                Ok(Started {
                    pid: child.id() as i32,
                    terminal: None,
                })
            }),
            Kind::Container { container, .. } => container.start(streams),
            Kind::InContainer { container, spec } => container.exec(spec, streams),
            Kind::Attach { container, .. } => container.join(streams),
        };
        let Started { pid, terminal } = match spawned {
            Ok(started) => started,
            Err(e) => {
                // Nothing will ever wait for it: forget it (its streams close).
                inner.execs.remove(&exec_id);
                return Err(e);
            }
        };
        exec.pid = Some(pid);
        exec.terminal = terminal;
        exec.streams.clear();
        // An attachment spawned nothing: the pid is the container's, whose
        // exit goes to the entry that started it.
        if !matches!(exec.kind, Kind::Attach { .. }) {
            inner.by_pid.insert(pid, exec_id);
            inner.spawns += 1;
        }
        drop(inner);
        self.changed.notify_all();
        Ok(pid as u32)
    }

    /// Blocks until the process exits; the entry is then forgotten.
    pub fn wait(&self, exec_id: u64) -> Result<ExitStatus, AgentError> {
        let mut inner = self.lock();
        loop {
            let exec = inner.execs.get(&exec_id).ok_or_else(|| unknown(exec_id))?;
            if exec.pid.is_none() {
                return Err(AgentError::new(
                    ErrorKind::BadRequest,
                    "process was never started",
                ));
            }
            if let Kind::Attach { container, .. } = &exec.kind {
                let container = container.clone();
                drop(inner);
                let code = container.wait_exit(None).unwrap_or_default();
                self.lock().execs.remove(&exec_id);
                return Ok(ExitStatus::Code(code));
            }
            if let Some(status) = exec.status {
                inner.execs.remove(&exec_id);
                return Ok(status);
            }
            inner = self.changed.wait(inner).unwrap_or_else(|p| p.into_inner());
        }
    }

    pub fn signal(&self, exec_id: u64, signal: i32) -> Result<(), AgentError> {
        let inner = self.lock();
        let exec = inner.execs.get(&exec_id).ok_or_else(|| unknown(exec_id))?;
        let pid = exec
            .pid
            .ok_or_else(|| AgentError::new(ErrorKind::BadRequest, "process was never started"))?;
        if let Kind::Attach { container, .. } = &exec.kind {
            return container.kill(signal);
        }
        if exec.status.is_some() {
            return Ok(());
        }
        // A pid we spawned and have not reaped yet (the reaper sets the
        // status under this lock), so it cannot have been reused.
        crate::sys::process::send_signal(pid, signal)
    }

    /// The connection that made `exec_id` closed, so no client will wait
    /// for it (a client that detached, or left): it goes now if it is not
    /// running (or only joined a container's stdio), else at its exit.
    pub fn abandon(&self, exec_id: u64) {
        let mut inner = self.lock();
        let Some(exec) = inner.execs.get_mut(&exec_id) else {
            return;
        };
        let running = exec.pid.is_some() && exec.status.is_none();
        if running && !matches!(exec.kind, Kind::Attach { .. }) {
            exec.abandoned = true;
        } else {
            inner.execs.remove(&exec_id);
        }
        drop(inner);
        self.changed.notify_all();
    }

    pub fn resize(&self, exec_id: u64, rows: u16, cols: u16) -> Result<(), AgentError> {
        let inner = self.lock();
        let exec = inner.execs.get(&exec_id).ok_or_else(|| unknown(exec_id))?;
        let terminal = exec
            .terminal
            .as_ref()
            .ok_or_else(|| AgentError::new(ErrorKind::BadRequest, "the process has no terminal"))?;
        crate::pty::resize(terminal, rows, cols)
    }
}

fn build_command(spec: &ExecSpec, streams: Streams) -> Result<Command, AgentError> {
    if spec.tty {
        return Err(AgentError::new(
            ErrorKind::BadRequest,
            "a terminal is offered for containers only",
        ));
    }
    let cwd = spec.cwd.as_deref().unwrap_or("/");
    if !std::path::Path::new(cwd).is_dir() {
        return Err(AgentError::new(
            ErrorKind::BadRequest,
            format!("working directory {cwd} does not exist"),
        ));
    }
    let mut cmd = Command::new(&spec.args[0]);
    cmd.args(&spec.args[1..]).current_dir(cwd).env_clear();
    for entry in [DEFAULT_PATH, "HOME=/root", "TERM=xterm"]
        .iter()
        .map(|s| s.to_string())
        .chain(spec.env.iter().cloned())
    {
        if let Some((k, v)) = entry.split_once('=') {
            cmd.env(k, v);
        }
    }
    // The vsock sockets become the process's stdio directly: no copying in
    // the agent, and EOF reaches the host when the process tree closes them.
    let fd =
        |s: Option<VsockStream>| s.map_or_else(Stdio::null, |v| Stdio::from(v.into_owned_fd()));
    cmd.stdin(fd(streams.stdin));
    cmd.stdout(fd(streams.stdout));
    cmd.stderr(fd(streams.stderr));
    Ok(cmd)
}

fn spawn_error(program: &str, e: std::io::Error) -> AgentError {
    match e.kind() {
        std::io::ErrorKind::NotFound => AgentError::new(
            ErrorKind::NotFound,
            format!("{program}: executable file not found"),
        ),
        std::io::ErrorKind::PermissionDenied => AgentError::new(
            ErrorKind::NotExecutable,
            format!("{program}: permission denied"),
        ),
        _ if e.raw_os_error() == Some(libc::ENOEXEC) => AgentError::new(
            ErrorKind::NotExecutable,
            format!("{program}: exec format error"),
        ),
        _ => AgentError::new(ErrorKind::Internal, format!("{program}: {e}")),
    }
}

/// The exit status `waitid` reports for an exited child.
fn exit_status(info: &libc::siginfo_t) -> ExitStatus {
    // SAFETY: waitid filled `info` for an exited child, so si_status is set.
    let status = unsafe { info.si_status() };
    if info.si_code == libc::CLD_EXITED {
        ExitStatus::Code(status)
    } else {
        ExitStatus::Signal(status)
    }
}

pub fn start_reaper(table: Arc<ProcessTable>, containers: Arc<Containers>) {
    std::thread::spawn(move || loop {
        let spawns_seen = table.lock().spawns;
        // SAFETY: siginfo_t is plain data; waitid fills it in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid(2) with a valid out-pointer; WNOWAIT leaves the child reapable.
        let rc = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOWAIT) };
        if rc < 0 {
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::ECHILD) => {
                    // No children: sleep until the next spawn.
                    let mut inner = table.lock();
                    while inner.spawns == spawns_seen {
                        inner = table.changed.wait(inner).unwrap_or_else(|p| p.into_inner());
                    }
                }
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
            continue;
        }
        // SAFETY: waitid succeeded with WEXITED, so si_pid is set.
        let pid = unsafe { info.si_pid() };
        let status = exit_status(&info);
        // A container's exit is recorded (and an --rm one removed) while its
        // first process is still an unreaped zombie: until it is reaped its
        // pid cannot be reused, so `kill`/`stop`, which go by the record,
        // never signal a stranger. Cleanup takes a moment: not under the
        // table's lock.
        let container = {
            let inner = table.lock();
            match inner.by_pid.get(&pid).and_then(|id| inner.execs.get(id)) {
                Some(Exec {
                    kind: Kind::Container { container, .. },
                    ..
                }) => Some(container.clone()),
                _ => None,
            }
        };
        if let Some(container) = &container {
            containers.exited(container, status);
        }
        let mut inner = table.lock();
        // SAFETY: reaping one specific pid; WNOHANG because `spawn` may have
        // reaped it already (a failed exec).
        if unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) } != pid {
            continue;
        }
        let Some(exec_id) = inner.by_pid.remove(&pid) else {
            continue;
        };
        // Nobody waits on a detached start's entry or an abandoned one: it
        // goes now. An attached client hears of the exit only now, after
        // the container's record.
        let unwaited = inner.execs.get(&exec_id).is_some_and(|e| {
            e.abandoned
                || matches!(
                    e.kind,
                    Kind::Container {
                        attached: false,
                        ..
                    }
                )
        });
        if unwaited {
            inner.execs.remove(&exec_id);
        }
        if let Some(exec) = inner.execs.get_mut(&exec_id) {
            exec.status = Some(status);
        }
        drop(inner);
        table.changed.notify_all();
    });
}
