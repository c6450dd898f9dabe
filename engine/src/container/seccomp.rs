//! docker's default seccomp profile, written for hutch: an allow-list of
//! the system calls ordinary programs make, argument rules for clone and
//! personality, and the calls that need a capability allowed only when
//! the container has it. Unknown names (another architecture's, a newer
//! kernel's) are skipped by the agent, as libseccomp skips them. It goes
//! into the OCI spec's `linux.seccomp`; `--security-opt seccomp=...`
//! replaces it with a profile file (docker's JSON, which is the OCI
//! shape) or turns it off.

use super::error::ContainerError;
use oci_spec::runtime::{
    Arch, Capabilities, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder,
    LinuxSeccompBuilder, LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};

/// What any container may call.
#[rustfmt::skip]
const ALLOWED: &[&str] = &[
    "accept", "accept4", "access", "adjtimex", "alarm", "arch_prctl", "bind", "brk",
    "cachestat", "capget", "capset", "chdir", "chmod", "chown", "chown32", "clock_adjtime",
    "clock_adjtime64", "clock_getres", "clock_getres_time64", "clock_gettime",
    "clock_gettime64", "clock_nanosleep", "clock_nanosleep_time64", "close", "close_range",
    "connect", "copy_file_range", "creat", "dup", "dup2", "dup3", "epoll_create",
    "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2",
    "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat", "exit",
    "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32",
    "fchownat", "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork",
    "fremovexattr", "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64",
    "fsync", "ftruncate", "ftruncate64", "futex", "futex_requeue", "futex_time64",
    "futex_wait", "futex_waitv", "futex_wake", "futimesat", "get_robust_list",
    "get_thread_area", "getcpu", "getcwd", "getdents", "getdents64", "getegid", "getegid32",
    "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32", "getitimer",
    "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority", "getrandom",
    "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit", "getrusage",
    "getsid", "getsockname", "getsockopt", "gettid", "gettimeofday", "getuid", "getuid32",
    "getxattr", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch",
    "io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_pgetevents_time64",
    "io_setup", "io_submit", "ioctl", "ioprio_get", "ioprio_set", "ipc", "kill",
    "landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "lchown",
    "lchown32", "lgetxattr", "link", "linkat", "listen", "listxattr", "llistxattr", "_llseek",
    "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64", "madvise", "map_shadow_stack",
    "membarrier", "memfd_create", "memfd_secret", "mincore", "mkdir", "mkdirat", "mknod",
    "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2", "modify_ldt", "mprotect",
    "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedreceive_time64",
    "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap", "msgctl", "msgget",
    "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap", "name_to_handle_at",
    "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2", "pause",
    "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv",
    "preadv2", "prlimit64", "process_mrelease", "process_vm_readv", "process_vm_writev", "pselect6", "pselect6_time64", "ptrace",
    "pwrite64", "pwritev", "pwritev2", "read", "readahead", "readlink", "readlinkat",
    "readv", "recv", "recvfrom", "recvmmsg", "recvmmsg_time64", "recvmsg",
    "remap_file_pages", "removexattr", "rename", "renameat", "renameat2", "restart_syscall",
    "rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigqueueinfo",
    "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait", "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo", "sched_get_priority_max", "sched_get_priority_min",
    "sched_getaffinity", "sched_getattr", "sched_getparam", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity",
    "sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp",
    "select", "semctl", "semget", "semop", "semtimedop", "semtimedop_time64", "send",
    "sendfile", "sendfile64", "sendmmsg", "sendmsg", "sendto", "set_robust_list",
    "set_thread_area", "set_tid_address", "setfsgid", "setfsgid32", "setfsuid",
    "setfsuid32", "setgid", "setgid32", "setgroups", "setgroups32", "setitimer", "setpgid",
    "setpriority", "setregid", "setregid32", "setresgid", "setresgid32", "setresuid",
    "setresuid32", "setreuid", "setreuid32", "setrlimit", "setsid", "setsockopt", "setuid",
    "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
    "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socket", "socketcall",
    "socketpair", "splice", "stat", "stat64", "statfs", "statfs64", "statx", "symlink",
    "symlinkat", "sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
    "timer_create", "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64",
    "timer_settime", "timer_settime64", "timerfd_create", "timerfd_gettime",
    "timerfd_gettime64", "timerfd_settime", "timerfd_settime64", "times", "tkill",
    "truncate", "truncate64", "ugetrlimit", "umask", "uname", "unlink", "unlinkat", "utime",
    "utimensat", "utimensat_time64", "utimes", "vfork", "vmsplice", "wait4", "waitid",
    "waitpid", "write", "writev",
];

/// Calls allowed only with a capability (what the capability is for).
#[rustfmt::skip]
const WITH_CAPABILITY: &[(Capability, &[&str])] = &[
    (
        Capability::SysAdmin,
        &[
            "bpf", "clone", "clone3", "fanotify_init", "fsconfig", "fsmount", "fsopen",
            "fspick", "lookup_dcookie", "mount", "mount_setattr", "move_mount", "open_tree",
            "perf_event_open", "quotactl", "quotactl_fd", "setdomainname", "sethostname",
            "setns", "syslog", "umount", "umount2", "unshare",
        ],
    ),
    (Capability::SysBoot, &["reboot"]),
    (Capability::SysChroot, &["chroot"]),
    (Capability::SysModule, &["delete_module", "init_module", "finit_module"]),
    (Capability::SysPacct, &["acct"]),
    (
        Capability::SysPtrace,
        &["kcmp", "pidfd_getfd", "process_madvise"],
    ),
    (Capability::SysRawio, &["iopl", "ioperm"]),
    (
        Capability::SysTime,
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    (Capability::SysTtyConfig, &["vhangup"]),
    (Capability::SysNice, &["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    (Capability::DacReadSearch, &["open_by_handle_at"]),
    (Capability::Syslog, &["syslog"]),
    (Capability::Bpf, &["bpf"]),
    (Capability::Perfmon, &["perf_event_open"]),
];

/// clone's namespace flags (CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS,
/// CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET): without
/// SYS_ADMIN a container makes threads and processes, not namespaces.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

/// personality(2) values programs use (Linux, with the address space
/// unrandomised, the 32-bit variants, and the query).
const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x2_0000, 0x2_0008, 0xffff_ffff];

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

fn rule(names: &[&str], action: LinuxSeccompAction) -> LinuxSyscallBuilder {
    LinuxSyscallBuilder::default()
        .names(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
        .action(action)
}

/// docker's default profile for a container with `caps`.
pub fn default_profile(caps: &Capabilities) -> Result<LinuxSeccomp, ContainerError> {
    let allow = LinuxSeccompAction::ScmpActAllow;
    let mut syscalls: Vec<LinuxSyscall> = vec![rule(ALLOWED, allow).build()?];
    for (cap, names) in WITH_CAPABILITY {
        if caps.contains(cap) {
            syscalls.push(rule(names, allow).build()?);
        }
    }
    for personality in PERSONALITIES {
        let arg = LinuxSeccompArgBuilder::default()
            .index(0usize)
            .value(personality)
            .op(LinuxSeccompOperator::ScmpCmpEq)
            .build()?;
        syscalls.push(rule(&["personality"], allow).args(vec![arg]).build()?);
    }
    if !caps.contains(&Capability::SysAdmin) {
        let no_namespaces = LinuxSeccompArgBuilder::default()
            .index(0usize)
            .value(CLONE_NAMESPACE_FLAGS)
            .value_two(0u64)
            .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
            .build()?;
        syscalls.push(rule(&["clone"], allow).args(vec![no_namespaces]).build()?);
        // clone3 hides its flags in memory, where a filter cannot look:
        // ENOSYS sends the C library back to clone.
        syscalls.push(
            rule(&["clone3"], LinuxSeccompAction::ScmpActErrno)
                .errno_ret(ENOSYS)
                .build()?,
        );
    }
    let architectures = match std::env::consts::ARCH {
        "aarch64" => vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm],
        _ => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32],
    };
    Ok(LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActErrno)
        .default_errno_ret(EPERM)
        .architectures(architectures)
        .syscalls(syscalls)
        .build()?)
}

/// What `--security-opt seccomp=VALUE` asks for.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum SeccompChoice {
    /// docker's default profile (`builtin`, or no option).
    #[default]
    Default,
    /// No profile (hutch's own rules, which keep the machine's control
    /// plane out of reach, still hold).
    Unconfined,
    /// A profile in docker's JSON: the OCI shape, plus entries that hold
    /// only with some capabilities or on some architectures.
    Profile(Box<serde_json::Value>),
}

fn not_a_profile(why: impl std::fmt::Display) -> ContainerError {
    ContainerError::InvalidRequest(format!(
        "the seccomp profile is not docker's JSON ({why}); give seccomp=unconfined or a profile file"
    ))
}

/// The machine's architecture as docker's profiles name it.
fn machine_arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    }
}

/// The machines' kernel (guest-kernel/), for `minKernel`.
const MACHINE_KERNEL: (u32, u32) = (6, 1);

/// Whether a docker profile entry's `includes`/`excludes` let it apply
/// to a container with `caps` (moby's rules: every included capability
/// present, no excluded one; the machine's architecture included, not
/// excluded; a kernel at least `minKernel`).
fn entry_applies(entry: &serde_json::Value, caps: &Capabilities) -> Result<bool, ContainerError> {
    let list = |side: &str, key: &str| -> Vec<String> {
        let values = entry
            .get(side)
            .and_then(|s| s.get(key))
            .and_then(|v| v.as_array());
        values
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    };
    let has = |name: &String| capability(name).map(|c| caps.contains(&c));
    for name in list("excludes", "caps") {
        if has(&name)? {
            return Ok(false);
        }
    }
    for name in list("includes", "caps") {
        if !has(&name)? {
            return Ok(false);
        }
    }
    let arch = machine_arch().to_string();
    let arches = list("includes", "arches");
    if list("excludes", "arches").contains(&arch) || !(arches.is_empty() || arches.contains(&arch))
    {
        return Ok(false);
    }
    let min_kernel = entry
        .get("includes")
        .and_then(|i| i.get("minKernel"))
        .and_then(|v| v.as_str());
    if let Some(version) = min_kernel {
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let wanted = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if wanted > MACHINE_KERNEL {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A capability as a profile names it.
fn capability(name: &str) -> Result<Capability, ContainerError> {
    super::spec::capability(name).map_err(|_| not_a_profile(format!("unknown capability {name}")))
}

/// docker's profile `profile` for a container with `caps`, in the OCI
/// shape: the entries that apply to it.
fn resolve(
    profile: &serde_json::Value,
    caps: &Capabilities,
) -> Result<LinuxSeccomp, ContainerError> {
    let mut profile = profile.clone();
    if let Some(entries) = profile.get_mut("syscalls").and_then(|s| s.as_array_mut()) {
        let mut kept = Vec::new();
        for entry in entries.drain(..) {
            if entry_applies(&entry, caps)? {
                kept.push(entry);
            }
        }
        *entries = kept;
    }
    serde_json::from_value(profile).map_err(not_a_profile)
}

impl SeccompChoice {
    /// `unconfined`, `builtin`, or a profile's JSON text (docker's CLI
    /// sends the file's contents; hutch's reads the file first).
    pub fn parse(value: &str) -> Result<SeccompChoice, ContainerError> {
        match value {
            "unconfined" => return Ok(SeccompChoice::Unconfined),
            "builtin" => return Ok(SeccompChoice::Default),
            _ => {}
        }
        let profile: serde_json::Value = serde_json::from_str(value).map_err(not_a_profile)?;
        // Refused now, not when the container starts.
        resolve(&profile, &Capabilities::new())?;
        Ok(SeccompChoice::Profile(Box::new(profile)))
    }

    /// The spec's profile for a container with `caps`; none when unconfined.
    pub fn profile(&self, caps: &Capabilities) -> Result<Option<LinuxSeccomp>, ContainerError> {
        match self {
            SeccompChoice::Default => default_profile(caps).map(Some),
            SeccompChoice::Unconfined => Ok(None),
            SeccompChoice::Profile(profile) => resolve(profile, caps).map(Some),
        }
    }
}

/// Go's strconv.ParseBool, which docker's options use.
fn go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// `--security-opt` values: `seccomp=unconfined|builtin|<profile JSON>`
/// (the CLIs read a file's), `no-new-privileges[:true|false]`; AppArmor
/// and SELinux options are taken and have nothing to act on (the machine
/// has neither), as docker's are on a host without them.
pub fn security_options(options: &[String]) -> Result<(SeccompChoice, bool), ContainerError> {
    let (mut seccomp, mut no_new_privileges) = (SeccompChoice::Default, false);
    for option in options {
        let (key, value) = option
            .split_once(['=', ':'])
            .unwrap_or((option.as_str(), "true"));
        match key {
            "seccomp" => seccomp = SeccompChoice::parse(value)?,
            "no-new-privileges" => {
                no_new_privileges = go_bool(value).ok_or_else(|| {
                    ContainerError::InvalidRequest(format!(
                        "--security-opt {option}: no-new-privileges takes true or false"
                    ))
                })?
            }
            "apparmor" | "label" => {}
            _ => {
                return Err(ContainerError::InvalidRequest(format!(
                    "--security-opt {option}: hutch takes seccomp=unconfined|builtin|PROFILE, no-new-privileges, apparmor= and label= (the last two have nothing to act on)"
                )))
            }
        }
    }
    Ok((seccomp, no_new_privileges))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_profile_follows_the_capabilities() {
        let plain: Capabilities = [Capability::Chown].into_iter().collect();
        let profile = default_profile(&plain).unwrap();
        let names = |p: &LinuxSeccomp| -> Vec<String> {
            p.syscalls()
                .iter()
                .flatten()
                .filter(|s| s.action() == LinuxSeccompAction::ScmpActAllow && s.args().is_none())
                .flat_map(|s| s.names().clone())
                .collect()
        };
        let allowed = names(&profile);
        assert!(allowed.iter().any(|n| n == "read"));
        assert!(!allowed
            .iter()
            .any(|n| n == "mount" || n == "unshare" || n == "keyctl"));
        let clone = profile
            .syscalls()
            .iter()
            .flatten()
            .find(|s| s.names() == &["clone"]);
        assert!(
            clone.unwrap().args().is_some(),
            "clone only without namespace flags"
        );
        let admin: Capabilities = [Capability::SysAdmin].into_iter().collect();
        let allowed = names(&default_profile(&admin).unwrap());
        assert!(allowed.iter().any(|n| n == "mount") && allowed.iter().any(|n| n == "clone"));
    }

    #[test]
    fn a_docker_profile_keeps_the_entries_for_the_containers_capabilities() {
        let profile = serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                { "names": ["read"], "action": "SCMP_ACT_ALLOW" },
                { "names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": { "caps": ["CAP_SYS_ADMIN"] } },
                { "names": ["clone"], "action": "SCMP_ACT_ALLOW", "excludes": { "caps": ["CAP_SYS_ADMIN"] } },
                { "names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": { "minKernel": "4.8" } },
                { "names": ["future"], "action": "SCMP_ACT_ALLOW", "includes": { "minKernel": "9.0" } },
                { "names": ["arm_only"], "action": "SCMP_ACT_ALLOW", "includes": { "arches": ["arm64"] } }
            ]
        });
        let names = |caps: &[Capability]| -> Vec<String> {
            let caps: Capabilities = caps.iter().copied().collect();
            let profile = resolve(&profile, &caps).unwrap();
            profile
                .syscalls()
                .iter()
                .flatten()
                .flat_map(|s| s.names().clone())
                .collect()
        };
        if machine_arch() == "amd64" {
            assert_eq!(names(&[]), ["read", "clone", "ptrace"]);
            assert_eq!(names(&[Capability::SysAdmin]), ["read", "mount", "ptrace"]);
        }
        assert!(SeccompChoice::parse(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["x"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_FLY"]}}]}"#
        )
        .is_err());
    }

    #[test]
    fn security_opt_values_are_read() {
        assert_eq!(
            SeccompChoice::parse("unconfined").unwrap(),
            SeccompChoice::Unconfined
        );
        let profile = r#"{"defaultAction": "SCMP_ACT_ALLOW", "archMap": [],
            "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}"#;
        assert!(matches!(
            SeccompChoice::parse(profile).unwrap(),
            SeccompChoice::Profile(_)
        ));
        let err = SeccompChoice::parse("{not json").unwrap_err().to_string();
        assert!(err.contains("seccomp=unconfined"), "{err}");
        let opts =
            |o: &[&str]| security_options(&o.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            opts(&["no-new-privileges"]).unwrap(),
            (SeccompChoice::Default, true)
        );
        assert_eq!(
            opts(&["seccomp=unconfined", "no-new-privileges:false"]).unwrap(),
            (SeccompChoice::Unconfined, false)
        );
        assert_eq!(
            opts(&["no-new-privileges:1"]).unwrap(),
            (SeccompChoice::Default, true)
        );
        assert!(opts(&["apparmor=unconfined", "label=disable"]).is_ok());
        assert!(opts(&["systempaths=unconfined"]).is_err());
    }
}
