//! The seccomp filter under which every container process runs, its first
//! process and every `exec` alike, whatever else its spec asks for.
//!
//! It keeps containers away from the machine's control plane: vsock is not
//! network-namespaced, so a container that can open an `AF_VSOCK` socket
//! can reach the agent (which refuses it: see `vsock::is_host`) and
//! whatever the host listens on for the machine. So `socket(AF_VSOCK, ..)`
//! fails with EPERM, as under docker's default profile, and so does
//! io_uring, which can create sockets without calling socket(2)
//! (IORING_OP_SOCKET) and which docker's profile leaves out too.
//! (A container given SYS_ADMIN or `--privileged` can still become the
//! machine's root outside any filter, through a writable /proc/sys: then
//! the machine's kernel is the wall, as the host's is under docker.)
//!
//! After it, the spec's own profile (docker's default, or the user's),
//! compiled by [`profile_programs`].

use super::syscalls;
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator};
use protocol::{AgentError, ErrorKind};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

fn internal(what: &str, e: impl std::fmt::Display) -> AgentError {
    AgentError::new(ErrorKind::Internal, format!("seccomp: {what}: {e}"))
}

/// The filter, compiled for this machine's architecture.
pub fn program() -> Result<BpfProgram, AgentError> {
    let family_is_vsock = SeccompCondition::new(
        0,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::Eq,
        libc::AF_VSOCK as u64,
    )
    .map_err(|e| internal("the socket rule", e))?;
    let vsock_socket =
        SeccompRule::new(vec![family_is_vsock]).map_err(|e| internal("the socket rule", e))?;
    let denied: BTreeMap<i64, Vec<SeccompRule>> = [
        (libc::SYS_socket, vec![vsock_socket]),
        // An empty rule list matches every call.
        (libc::SYS_io_uring_setup, vec![]),
        (libc::SYS_io_uring_enter, vec![]),
        (libc::SYS_io_uring_register, vec![]),
    ]
    .into_iter()
    .collect();
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| internal("this architecture", e))?;
    let filter = SeccompFilter::new(
        denied,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| internal("building the filter", e))?;
    BpfProgram::try_from(filter).map_err(|e| internal("compiling the filter", e))
}

/// What a profile asks for, as seccompiler's action (an errno rule
/// without its own errno gives EPERM, as runc's does).
fn action_of(action: LinuxSeccompAction, errno: Option<u32>) -> Result<SeccompAction, AgentError> {
    let errno = errno.unwrap_or(libc::EPERM as u32);
    Ok(match action {
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno(errno),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            SeccompAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActTrace => SeccompAction::Trace(errno),
        LinuxSeccompAction::ScmpActNotify => {
            return Err(AgentError::new(
                ErrorKind::BadRequest,
                "seccomp: SCMP_ACT_NOTIFY needs a listener, which hutch does not run",
            ))
        }
    })
}

/// One argument test; none for a masked test that can never hold as
/// libseccomp reads it (bits of the value outside the mask).
fn condition(arg: &LinuxSeccompArg) -> Result<Option<SeccompCondition>, AgentError> {
    let (op, value) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpEq => (SeccompCmpOp::Eq, arg.value()),
        LinuxSeccompOperator::ScmpCmpNe => (SeccompCmpOp::Ne, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (SeccompCmpOp::Lt, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (SeccompCmpOp::Le, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (SeccompCmpOp::Gt, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (SeccompCmpOp::Ge, arg.value()),
        // (arg & value) == value_two
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            let (mask, wanted) = (arg.value(), arg.value_two().unwrap_or(0));
            if wanted & !mask != 0 {
                return Ok(None);
            }
            (SeccompCmpOp::MaskedEq(mask), wanted)
        }
    };
    let index = u8::try_from(arg.index()).map_err(|e| internal("an argument's index", e))?;
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value)
        .map(Some)
        .map_err(|e| internal("an argument rule", e))
}

/// A profile entry's argument tests as seccompiler rules (any may
/// match): one rule of them all (ANDed), or, when they all test the same
/// argument, one rule each (ORed), as runc reads them. None: every call.
fn rules_of(args: &[LinuxSeccompArg]) -> Result<Option<Vec<SeccompRule>>, AgentError> {
    if args.is_empty() {
        return Ok(None);
    }
    let rule = |conditions: Vec<SeccompCondition>| {
        SeccompRule::new(conditions).map_err(|e| internal("a rule", e))
    };
    let same_argument = args.len() > 1 && args.iter().all(|a| a.index() == args[0].index());
    let mut rules = Vec::new();
    if same_argument {
        for arg in args {
            if let Some(condition) = condition(arg)? {
                rules.push(rule(vec![condition])?);
            }
        }
    } else {
        let conditions: Option<Vec<_>> = args.iter().map(condition).collect::<Result<_, _>>()?;
        rules.extend(conditions.map(rule).transpose()?);
    }
    Ok(Some(rules))
}

/// The calls an action applies to: each with its rules (none: every
/// call of it).
type Calls = BTreeMap<i64, Option<Vec<SeccompRule>>>;

fn add_calls(
    calls: &mut Calls,
    numbers: impl Iterator<Item = i64>,
    rules: &Option<Vec<SeccompRule>>,
) {
    for number in numbers {
        let entry = calls.entry(number).or_insert_with(|| Some(Vec::new()));
        match (rules, entry.as_mut()) {
            (None, _) => *entry = None,
            (Some(rules), Some(list)) => list.extend(rules.iter().cloned()),
            (Some(_), None) => {}
        }
    }
}

/// The container spec's profile as filters to load after hutch's own.
/// One filter answers the default action for every call no entry names
/// (and a named call whose argument tests fail), passing the rest; one
/// filter per other action answers it for its calls and passes the
/// rest. Each call thus gets exactly its entry's action, whichever is
/// strictest, as the kernel takes the strictest answer of all filters.
/// The default's filter comes last: the others load while it cannot yet
/// refuse seccomp(2).
pub fn profile_programs(profile: &LinuxSeccomp) -> Result<Vec<BpfProgram>, AgentError> {
    let default_errno = profile.default_errno_ret().unwrap_or(libc::EPERM as u32);
    let default = match profile.default_action() {
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno(default_errno),
        other => action_of(other, Some(default_errno))?,
    };
    let mut named = Calls::new();
    let mut groups: Vec<(SeccompAction, Calls)> = Vec::new();
    for syscall in profile.syscalls().iter().flatten() {
        let action = action_of(syscall.action(), syscall.errno_ret())?;
        if action == default {
            continue;
        }
        let rules = rules_of(syscall.args().as_deref().unwrap_or_default())?;
        if rules.as_ref().is_some_and(Vec::is_empty) {
            // Argument tests that never hold: the entry matches nothing.
            continue;
        }
        let numbers = || syscall.names().iter().filter_map(|n| syscalls::number(n));
        add_calls(&mut named, numbers(), &rules);
        if action == SeccompAction::Allow {
            continue;
        }
        let calls = match groups.iter_mut().position(|(a, _)| *a == action) {
            Some(at) => &mut groups[at].1,
            None => {
                groups.push((action.clone(), Calls::new()));
                &mut groups.last_mut().expect("just pushed").1
            }
        };
        add_calls(calls, numbers(), &rules);
    }
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| internal("this architecture", e))?;
    let compile = |calls: Calls, mismatch: SeccompAction, matched: SeccompAction| {
        let rules = calls
            .into_iter()
            .map(|(number, rules)| (number, rules.unwrap_or_default()))
            .collect();
        let filter = SeccompFilter::new(rules, mismatch, matched, arch)
            .map_err(|e| internal("building the profile's filter", e))?;
        BpfProgram::try_from(filter).map_err(|e| internal("compiling the profile", e))
    };
    let mut programs = groups
        .into_iter()
        .map(|(action, calls)| compile(calls, SeccompAction::Allow, action))
        .collect::<Result<Vec<_>, _>>()?;
    if default != SeccompAction::Allow {
        programs.push(compile(named, default, SeccompAction::Allow)?);
    }
    Ok(programs)
}

/// Loads `program` on the calling thread; it is inherited by every child
/// and kept across execve. Needs CAP_SYS_ADMIN or no_new_privs: the agent
/// calls it as the machine's root. Not seccompiler's `apply_filter`, which
/// always sets no_new_privs: setuid programs in a container must keep
/// working as they do under docker, unless its spec asks for no_new_privs.
pub fn load(program: &BpfProgram) -> Result<(), AgentError> {
    let len = u16::try_from(program.len()).map_err(|e| internal("the filter's length", e))?;
    let fprog = libc::sock_fprog {
        len,
        // seccompiler's sock_filter is #[repr(C)] {u16, u8, u8, u32}, the
        // kernel's struct, as libc's is.
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: seccomp(2) reads `fprog` and the `len` instructions it points
    // to, all valid for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        return Err(internal(
            "loading the filter",
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Error;

    fn errno_of(rc: libc::c_long) -> Option<i32> {
        (rc < 0).then(|| Error::last_os_error().raw_os_error().unwrap_or(0))
    }

    #[test]
    fn a_profile_gives_each_call_its_action() {
        let profile: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                { "names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EACCES },
                { "names": ["getpriority"], "action": "SCMP_ACT_ERRNO",
                  "args": [{ "index": 0, "value": libc::PRIO_PGRP, "op": "SCMP_CMP_EQ" }] },
                { "names": ["no_such_call"], "action": "SCMP_ACT_ERRNO" }
            ]
        }))
        .unwrap();
        let programs = profile_programs(&profile).expect("the profile compiles");
        std::thread::spawn(move || {
            // SAFETY: prctl with plain integers, as above.
            let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            assert_eq!(rc, 0);
            for program in &programs {
                load(program).expect("the filter loads");
            }
            // SAFETY: mkdir(2) of a path that is never made.
            let rc = unsafe { libc::mkdir(c"/nonexistent-hutch-test".as_ptr(), 0o700) };
            assert_eq!(errno_of(rc.into()), Some(libc::EACCES));
            // SAFETY: getpriority(2) with plain integers.
            let rc = unsafe { libc::syscall(libc::SYS_getpriority, libc::PRIO_PROCESS, 0) };
            assert_eq!(
                errno_of(rc),
                None,
                "only the argument the rule names is refused"
            );
            // SAFETY: as above.
            let rc = unsafe { libc::syscall(libc::SYS_getpriority, libc::PRIO_PGRP, 0) };
            assert_eq!(
                errno_of(rc),
                Some(libc::EPERM),
                "an errno rule's own default"
            );
        })
        .join()
        .expect("the filtered thread");
    }

    #[test]
    fn vsock_sockets_and_io_uring_are_refused_and_nothing_else() {
        let program = program().expect("the filter compiles");
        // Filters are per thread: this one ends with the thread.
        std::thread::spawn(move || {
            // SAFETY: prctl with plain integers; lets an unprivileged test
            // load a filter (the agent has CAP_SYS_ADMIN instead).
            let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
            assert_eq!(rc, 0);
            load(&program).expect("the filter loads");
            let socket = |family| {
                // SAFETY: socket(2); a returned fd is closed at once.
                let fd = unsafe { libc::socket(family, libc::SOCK_STREAM, 0) };
                let errno = errno_of(fd.into());
                if fd >= 0 {
                    // SAFETY: closing the fd just made.
                    unsafe { libc::close(fd) };
                }
                errno
            };
            assert_eq!(socket(libc::AF_VSOCK), Some(libc::EPERM));
            assert_eq!(socket(libc::AF_UNIX), None, "other families work");
            assert_eq!(socket(libc::AF_INET), None, "other families work");
            let mut params = [0u8; 120];
            // SAFETY: io_uring_setup(2) with a valid params block.
            let rc = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
            assert_eq!(errno_of(rc), Some(libc::EPERM));
        })
        .join()
        .expect("the filtered thread");
    }
}
