//! `hutch-agent container-init`: the first process of a container, already
//! in its new namespaces and cgroup (see `spawn.rs`). Being a fresh,
//! single-threaded process it can allocate and parse freely: it reads the
//! spec, builds the root file system view, becomes the configured user and
//! finally execs the command, which thereby is PID 1 of the container.
//! Anything that fails is reported on ERROR_FD and the process exits.

use super::{caps, mounts, seccomp, user};
use crate::network::Attachment;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use protocol::{AgentError, ErrorKind};
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::path::{Path, PathBuf};

pub const INIT_ARG: &std::ffi::CStr = c"container-init";
pub const CONFIG_FD: i32 = 3;
pub const ERROR_FD: i32 = 4;
/// The user namespace to enter, when the container has one.
pub const USERNS_FD: i32 = 5;
/// A socket to the agent: init says its network namespace is ready, the
/// agent answers once the container's end of its veth pair is in it.
pub const NETWORK_FD: i32 = 6;
/// Written on ERROR_FD just before the command's execve.
pub const SETUP_DONE: u8 = b'+';

#[derive(Serialize, Deserialize)]
pub struct InitConfig {
    pub spec: Spec,
    /// The assembled root (overlay), as the agent sees it.
    pub rootfs: PathBuf,
    /// `-u` as given, resolved inside the root.
    pub user: Option<String>,
    /// The machine's resolv.conf, copied in.
    pub resolv_conf: String,
    /// An exec: join the namespaces of this running container process
    /// instead of building new ones.
    pub join: Option<u32>,
    /// Enter the user namespace on USERNS_FD once the root is built.
    pub userns: bool,
    /// Join these networks through NETWORK_FD once the network namespace
    /// is final (the first gives the default route).
    pub networks: Vec<Attachment>,
    /// Lines for /etc/hosts after the standard ones (the host's names).
    pub hosts: String,
}

fn step<T>(what: &str, result: std::io::Result<T>) -> Result<T, AgentError> {
    result
        .map_err(|e| AgentError::new(ErrorKind::Internal, format!("container setup: {what}: {e}")))
}

fn os_step(what: &str, rc: libc::c_int) -> Result<(), AgentError> {
    if rc < 0 {
        return step(what, Err(std::io::Error::last_os_error()));
    }
    Ok(())
}

fn cstr(s: &str) -> Result<CString, AgentError> {
    CString::new(s)
        .map_err(|_| AgentError::new(ErrorKind::BadRequest, format!("{s:?} contains a NUL byte")))
}

pub fn main() -> ! {
    let error = match run() {
        Ok(never) => match never {},
        Err(e) => e,
    };
    // SAFETY: ERROR_FD was set up by the agent for exactly this report.
    let mut report = unsafe { std::fs::File::from_raw_fd(ERROR_FD) };
    let _ = report.write_all(&serde_json::to_vec(&error).unwrap_or_default());
    std::process::exit(1);
}

fn run() -> Result<std::convert::Infallible, AgentError> {
    // Nothing of the agent's beyond our fds may reach the container.
    // SAFETY: close_range(2) with plain integer arguments.
    unsafe { libc::syscall(libc::SYS_close_range, NETWORK_FD as u32 + 1, u32::MAX, 0u32) };
    // First, for the container's first process and every exec alike, and
    // while we are still the machine's root (loading needs CAP_SYS_ADMIN).
    seccomp::load(&seccomp::program()?)?;
    let mut text = Vec::new();
    // SAFETY: CONFIG_FD was set up by the agent; we own it from here.
    let mut input = unsafe { std::fs::File::from_raw_fd(CONFIG_FD) };
    step("reading the config", input.read_to_end(&mut text))?;
    drop(input);
    let config: InitConfig = serde_json::from_slice(&text).map_err(|e| {
        AgentError::new(ErrorKind::BadRequest, format!("bad container config: {e}"))
    })?;
    // Now, while we are the machine's root: raising a hard limit is not
    // allowed inside a user namespace. Forks and exec keep them.
    set_rlimits(&config)?;
    // The agent protects itself from the OOM killer; the container must not
    // inherit that. Also done as the machine's root: inside a user namespace
    // our /proc files are no longer ours to write.
    step(
        "resetting oom_score_adj",
        std::fs::write("/proc/self/oom_score_adj", "0"),
    )?;
    if let Some(pid) = config.join {
        return join(pid, &config);
    }
    let spec = &config.spec;
    let linux = spec.linux().as_ref();
    let wants = |t: LinuxNamespaceType| {
        linux
            .and_then(|l| l.namespaces().as_ref())
            .is_some_and(|ns| ns.iter().any(|n| n.typ() == t))
    };
    // Only now, inside our cgroup, so that it becomes the namespace's root.
    if wants(LinuxNamespaceType::Cgroup) {
        // SAFETY: unshare(2) with a constant flag.
        os_step("unshare cgroup", unsafe {
            libc::unshare(libc::CLONE_NEWCGROUP)
        })?;
    }
    build_root(&config)?;
    if let Some(hostname) = spec.hostname() {
        // SAFETY: sethostname(2) reads `len` bytes of a valid buffer.
        os_step("sethostname", unsafe {
            libc::sethostname(hostname.as_ptr().cast(), hostname.len())
        })?;
    }
    if wants(LinuxNamespaceType::Network) {
        step("bringing up lo", crate::sys::net::loopback_up())?;
    }
    enter_root(&config.rootfs)?;
    if let Some(linux) = linux {
        for path in linux.masked_paths().iter().flatten() {
            step(&format!("masking {path}"), mounts::mask(path))?;
        }
        for path in linux.readonly_paths().iter().flatten() {
            step(&format!("making {path} read-only"), mounts::read_only(path))?;
        }
    }
    if config.userns {
        enter_user_namespace(USERNS_FD)?;
        // SAFETY: our own copy of the namespace fd; nothing else uses it.
        unsafe { libc::close(USERNS_FD) };
        // A network namespace of its own user namespace: its root may bind
        // low ports and use raw sockets there, as a container's root can.
        if wants(LinuxNamespaceType::Network) {
            // SAFETY: unshare(2) with a constant flag.
            os_step("unshare net", unsafe { libc::unshare(libc::CLONE_NEWNET) })?;
            step("bringing up lo", crate::sys::net::loopback_up())?;
        }
    }
    if !config.networks.is_empty() {
        join_networks(&config.networks)?;
    }
    exec_process(&config)
}

/// Has the agent plug the container's veths into our (final) network
/// namespace, then configures them.
fn join_networks(attachments: &[Attachment]) -> Result<(), AgentError> {
    // SAFETY: NETWORK_FD was set up by the agent for this exchange.
    let mut agent = unsafe { std::os::unix::net::UnixStream::from_raw_fd(NETWORK_FD) };
    let mut answer = [0u8; 1];
    step(
        "waiting for the network",
        agent
            .write_all(b"r")
            .and_then(|()| agent.read_exact(&mut answer)),
    )?;
    for (i, attachment) in attachments.iter().enumerate() {
        step(
            "configuring the network",
            crate::network::configure_inside(attachment, i == 0),
        )?;
    }
    Ok(())
}

/// The exec's pid in the container, for the signal forwarder.
static EXEC_CHILD: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward_signal(signal: libc::c_int) {
    let child = EXEC_CHILD.load(std::sync::atomic::Ordering::Relaxed);
    if child > 0 {
        // SAFETY: kill(2) is async-signal-safe.
        unsafe { libc::kill(child, signal) };
    }
}

/// Enters the user namespace on `fd` as its root (the machine's mapped
/// uid), with every capability there; the container's user comes later.
fn enter_user_namespace(fd: i32) -> Result<(), AgentError> {
    // SAFETY: setns(2) on an fd the agent handed us, then plain id calls.
    unsafe {
        os_step(
            "entering the user namespace",
            libc::setns(fd, libc::CLONE_NEWUSER),
        )?;
        os_step("setresgid", libc::setresgid(0, 0, 0))?;
        os_step("setresuid", libc::setresuid(0, 0, 0))
    }
}

/// An exec: enter the container's namespaces (the agent already put us in
/// its cgroup), then fork so the command is inside its pid namespace too.
/// We stay as the agent's child, pass signals on and exit as it does.
fn join(pid: u32, config: &InitConfig) -> Result<std::convert::Infallible, AgentError> {
    // Opened before entering any: the container's /proc is not ours.
    let open = |ns: &str| {
        let path = format!("/proc/{pid}/ns/{ns}");
        step(&format!("opening {path}"), std::fs::File::open(&path))
    };
    let enter = |ns: &std::fs::File| {
        // SAFETY: setns(2) on an open namespace fd; 0 accepts any kind.
        os_step("joining the container's namespaces", unsafe {
            libc::setns(std::os::fd::AsRawFd::as_raw_fd(ns), 0)
        })
    };
    let owned_by_machine = ["cgroup", "ipc", "uts", "pid", "mnt"]
        .iter()
        .map(|ns| open(ns))
        .collect::<Result<Vec<_>, _>>()?;
    let (user, net) = (open("user")?, open("net")?);
    use std::os::unix::fs::MetadataExt;
    let ours = step(
        "reading our user namespace",
        std::fs::metadata("/proc/self/ns/user"),
    )?;
    let theirs = step("reading its user namespace", user.metadata())?;
    for ns in &owned_by_machine {
        enter(ns)?;
    }
    // With a user namespace of its own, its network namespace belongs to
    // it (see `run`), so that one is entered from inside.
    if (ours.dev(), ours.ino()) != (theirs.dev(), theirs.ino()) {
        enter_user_namespace(std::os::fd::AsRawFd::as_raw_fd(&user))?;
    }
    enter(&net)?;
    drop((owned_by_machine, user, net));
    // SAFETY: fork(2) in this single-threaded process.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return step("fork", Err(std::io::Error::last_os_error()));
    }
    if child == 0 {
        return exec_process(config);
    }
    EXEC_CHILD.store(child, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: installing an async-signal-safe handler; closing our copies
    // of the stdio and report fds, so only the command holds them.
    unsafe {
        for sig in [
            libc::SIGTERM,
            libc::SIGINT,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGUSR1,
            libc::SIGUSR2,
        ] {
            libc::signal(
                sig,
                forward_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
        for fd in [0, 1, 2, ERROR_FD] {
            libc::close(fd);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our one child; retried when a signal interrupts.
    while unsafe { libc::waitpid(child, &mut status, 0) } < 0 {
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            std::process::exit(255);
        }
    }
    if libc::WIFSIGNALED(status) {
        std::process::exit(128 + libc::WTERMSIG(status));
    }
    std::process::exit(libc::WEXITSTATUS(status));
}

/// The root file system view, built while the agent's root is still visible.
fn build_root(config: &InitConfig) -> Result<(), AgentError> {
    let root = &config.rootfs;
    // Our mounts must not propagate back to the machine.
    step(
        "making mounts private",
        crate::sys::mount::mount("", "/", "", libc::MS_REC | libc::MS_PRIVATE, ""),
    )?;
    let root_str = root.to_string_lossy();
    step(
        "binding the root",
        crate::sys::mount::mount(&root_str, &root_str, "", libc::MS_BIND | libc::MS_REC, ""),
    )?;
    let nodev = !mounts::all_devices(&config.spec);
    if nodev {
        step(
            "closing the root to device nodes",
            crate::sys::mount::mount(
                "",
                &root_str,
                "",
                libc::MS_REMOUNT | libc::MS_BIND | libc::MS_NODEV,
                "",
            ),
        )?;
    }
    for m in config.spec.mounts().iter().flatten() {
        step(
            &format!("mounting {}", m.destination().display()),
            mounts::mount_one(root, m, nodev),
        )?;
        if m.destination() == Path::new("/dev") {
            step("creating devices", mounts::create_devices(root))?;
        }
    }
    let mapped_root = match config.spec.linux() {
        Some(linux) if config.userns => super::userns::root_in_machine(linux),
        _ => None,
    };
    let etc = step("finding /etc", mounts::resolve_in(root, Path::new("/etc")))?;
    step("creating /etc", std::fs::create_dir_all(&etc))?;
    let hostname = config.spec.hostname().clone().unwrap_or_default();
    // docker's: the container's own address names it.
    let own = config
        .networks
        .first()
        .map_or_else(|| "127.0.1.1".to_string(), |a| a.address.to_string());
    let files = [
        ("hostname", format!("{hostname}\n")),
        (
            "hosts",
            format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{own}\t{hostname}\n{}", config.hosts),
        ),
        ("resolv.conf", config.resolv_conf.clone()),
    ];
    for (name, content) in files {
        // Through resolve_in: the image's /etc/hosts may be a symlink.
        let path = step(
            "finding /etc",
            mounts::resolve_in(root, &Path::new("/etc").join(name)),
        )?;
        let _ = std::fs::remove_file(&path);
        step(
            &format!("writing /etc/{name}"),
            std::fs::write(&path, content),
        )?;
        // Editable by the container's root, as docker's are.
        if let Some((uid, gid)) = mapped_root {
            step(
                &format!("handing /etc/{name} to the container's root"),
                std::os::unix::fs::chown(&path, Some(uid), Some(gid)),
            )?;
        }
    }
    Ok(())
}

/// pivot_root into the container's root and drop the machine's.
fn enter_root(root: &Path) -> Result<(), AgentError> {
    step("entering the root", std::env::set_current_dir(root))?;
    let dot = cstr(".")?;
    // SAFETY: pivot_root(2) with "." for both: the old root ends up stacked
    // under the new one, then is detached below.
    let rc = unsafe { libc::syscall(libc::SYS_pivot_root, dot.as_ptr(), dot.as_ptr()) };
    os_step("pivot_root", rc as libc::c_int)?;
    step(
        "detaching the old root",
        crate::sys::mount::unmount(".", libc::MNT_DETACH),
    )?;
    step("entering /", std::env::set_current_dir("/"))
}

fn exec_process(config: &InitConfig) -> Result<std::convert::Infallible, AgentError> {
    let process = config
        .spec
        .process()
        .as_ref()
        .ok_or_else(|| AgentError::new(ErrorKind::BadRequest, "the spec has no process"))?;
    let args = process.args().clone().unwrap_or_default();
    let program = args
        .first()
        .cloned()
        .ok_or_else(|| AgentError::new(ErrorKind::BadRequest, "no command given"))?;
    let mut env = process.env().clone().unwrap_or_default();
    if process.terminal().unwrap_or(false) {
        // Our own session, with the terminal (fd 0) as its controlling
        // one: Ctrl-C and window changes reach the command.
        // SAFETY: setsid(2) with no arguments.
        os_step("setsid", unsafe { libc::setsid() })?;
        // SAFETY: TIOCSCTTY on our stdin with a plain integer argument.
        os_step("taking the terminal", unsafe {
            libc::ioctl(0, libc::TIOCSCTTY, 0)
        })?;
    }

    let identity = match &config.user {
        Some(u) => user::resolve_here(u).map_err(|e| AgentError::new(ErrorKind::BadRequest, e))?,
        None => user::Identity {
            uid: process.user().uid(),
            gid: process.user().gid(),
            groups: vec![process.user().gid()],
            home: if process.user().uid() == 0 {
                "/root".into()
            } else {
                "/".into()
            },
        },
    };
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", identity.home));
    }
    // docker creates a missing working directory.
    let cwd = process.cwd().to_string_lossy().into_owned();
    step(
        &format!("creating the working directory {cwd}"),
        std::fs::create_dir_all(&cwd),
    )?;

    let capabilities = process.capabilities().as_ref();
    step(
        "limiting capabilities",
        caps::limit_bounding(capabilities.and_then(|c| c.bounding().as_ref())),
    )?;
    // The spec's profile, while we may still load filters (CAP_SYS_ADMIN)
    // and as late as that allows: what follows (setgroups, setuid, capset,
    // execve) is what any profile lets a container do.
    let profile = config
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref());
    for program in profile
        .map(seccomp::profile_programs)
        .transpose()?
        .unwrap_or_default()
    {
        seccomp::load(&program)?;
    }
    let groups: Vec<libc::gid_t> = identity.groups.clone();
    // SAFETY: setgroups(2) reads `len` gids from a valid slice.
    os_step("setgroups", unsafe {
        libc::setgroups(groups.len(), groups.as_ptr())
    })?;
    // SAFETY: plain id-setting syscalls.
    os_step("setgid", unsafe { libc::setgid(identity.gid) })?;
    // SAFETY: as above; a non-root uid loses every capability here.
    os_step("setuid", unsafe { libc::setuid(identity.uid) })?;
    if identity.uid == 0 {
        if let Some(c) = capabilities {
            step(
                "setting capabilities",
                caps::set(
                    c.effective().as_ref(),
                    c.permitted().as_ref(),
                    c.inheritable().as_ref(),
                ),
            )?;
        }
    }
    // As the user, like docker: a directory the user cannot enter is an error.
    step(
        &format!("entering the working directory {cwd}"),
        std::env::set_current_dir(&cwd),
    )?;
    if process.no_new_privileges().unwrap_or(false) {
        // SAFETY: prctl with plain integer arguments.
        os_step("no_new_privs", unsafe {
            libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        })?;
    }

    let path = find_program(&program, &env)?;
    let c_path = cstr(&path)?;
    let c_args = args
        .iter()
        .map(|a| cstr(a))
        .collect::<Result<Vec<_>, _>>()?;
    let c_env = env.iter().map(|e| cstr(e)).collect::<Result<Vec<_>, _>>()?;
    let mut argv: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = c_env.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    reset_signals();
    // SAFETY: marks our own report fd close-on-exec, so a successful exec
    // closes it, then says setup is done: a report without this byte means
    // we died before getting here.
    unsafe {
        libc::fcntl(ERROR_FD, libc::F_SETFD, libc::FD_CLOEXEC);
        libc::write(ERROR_FD, [SETUP_DONE].as_ptr().cast(), 1);
    }
    // SAFETY: execve(2) with NUL-terminated arrays of valid C strings.
    unsafe { libc::execve(c_path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    let e = std::io::Error::last_os_error();
    Err(match e.raw_os_error() {
        Some(libc::ENOENT) => AgentError::new(
            ErrorKind::NotFound,
            format!("{program}: no such file or directory"),
        ),
        Some(libc::EACCES) | Some(libc::ENOEXEC) | Some(libc::EISDIR) => AgentError::new(
            ErrorKind::NotExecutable,
            format!("{program}: permission denied"),
        ),
        _ => AgentError::new(ErrorKind::Internal, format!("{program}: {e}")),
    })
}

fn set_rlimits(config: &InitConfig) -> Result<(), AgentError> {
    let Some(process) = config.spec.process() else {
        return Ok(());
    };
    for limit in process.rlimits().iter().flatten() {
        let resource = rlimit_number(&limit.typ().to_string()).ok_or_else(|| {
            AgentError::new(
                ErrorKind::BadRequest,
                format!("unknown rlimit {}", limit.typ()),
            )
        })?;
        let value = libc::rlimit {
            rlim_cur: limit.soft(),
            rlim_max: limit.hard(),
        };
        // SAFETY: setrlimit(2) reads one valid rlimit.
        os_step("setrlimit", unsafe {
            libc::setrlimit(resource as _, &value)
        })?;
    }
    Ok(())
}

/// The program as execvp finds it, on the container's PATH.
fn find_program(program: &str, env: &[String]) -> Result<String, AgentError> {
    if program.contains('/') {
        return Ok(program.to_string());
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let mut not_executable = None;
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        if let Ok(meta) = std::fs::metadata(&candidate) {
            use std::os::unix::fs::PermissionsExt;
            if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
                return Ok(candidate.to_string_lossy().into_owned());
            }
            not_executable.get_or_insert(candidate);
        }
    }
    match not_executable {
        Some(found) => Err(AgentError::new(
            ErrorKind::NotExecutable,
            format!("{}: permission denied", found.display()),
        )),
        None => Err(AgentError::new(
            ErrorKind::NotFound,
            format!("{program}: executable file not found in $PATH"),
        )),
    }
}

/// The agent's signal dispositions and mask must not leak into the
/// command (Rust ignores SIGPIPE, for one).
fn reset_signals() {
    // SAFETY: restoring default dispositions and an empty mask.
    unsafe {
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

// The casts are needed on glibc (u32 constants), not on musl (i32).
#[allow(clippy::unnecessary_cast)]
fn rlimit_number(name: &str) -> Option<i32> {
    // The constants' type differs between musl and glibc.
    Some(match name {
        "RLIMIT_CPU" => libc::RLIMIT_CPU as i32,
        "RLIMIT_FSIZE" => libc::RLIMIT_FSIZE as i32,
        "RLIMIT_DATA" => libc::RLIMIT_DATA as i32,
        "RLIMIT_STACK" => libc::RLIMIT_STACK as i32,
        "RLIMIT_CORE" => libc::RLIMIT_CORE as i32,
        "RLIMIT_RSS" => libc::RLIMIT_RSS as i32,
        "RLIMIT_NPROC" => libc::RLIMIT_NPROC as i32,
        "RLIMIT_NOFILE" => libc::RLIMIT_NOFILE as i32,
        "RLIMIT_MEMLOCK" => libc::RLIMIT_MEMLOCK as i32,
        "RLIMIT_AS" => libc::RLIMIT_AS as i32,
        "RLIMIT_LOCKS" => libc::RLIMIT_LOCKS as i32,
        "RLIMIT_SIGPENDING" => libc::RLIMIT_SIGPENDING as i32,
        "RLIMIT_MSGQUEUE" => libc::RLIMIT_MSGQUEUE as i32,
        "RLIMIT_NICE" => libc::RLIMIT_NICE as i32,
        "RLIMIT_RTPRIO" => libc::RLIMIT_RTPRIO as i32,
        "RLIMIT_RTTIME" => libc::RLIMIT_RTTIME as i32,
        _ => return None,
    })
}
