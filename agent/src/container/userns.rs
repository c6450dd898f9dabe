//! `--userns private`: the container's root is an unprivileged id range of
//! the machine. The namespace is made before the container (held by an fd)
//! so that the image's layers can be mounted with their ownership shifted
//! into it (idmapped mounts: a root-owned file in the image is owned by the
//! container's root, which is uid 100000 in the machine).

use crate::sys::fd::pipe;
use oci_spec::runtime::{Linux, LinuxIdMapping};
use protocol::{AgentError, ErrorKind};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

// From <linux/mount.h>.
const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 4;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

fn failure(what: &str, e: impl std::fmt::Display) -> AgentError {
    AgentError::new(ErrorKind::Internal, format!("user namespace: {what}: {e}"))
}

/// `containerID hostID size` lines, as uid_map and gid_map take them.
fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// The machine id that the container's id 0 maps to.
fn zero_in_machine(maps: &[LinuxIdMapping]) -> Option<u32> {
    maps.iter()
        .find(|m| m.container_id() == 0)
        .map(|m| m.host_id())
}

/// The Linux section of a spec that asks for a user namespace of its own.
pub fn wanted(spec: &oci_spec::runtime::Spec) -> Option<&Linux> {
    spec.linux().as_ref().filter(|linux| {
        linux
            .namespaces()
            .iter()
            .flatten()
            .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::User)
    })
}

/// Whether a spec leaves the container in the machine's pid namespace.
pub fn shares_pid_namespace(spec: &oci_spec::runtime::Spec) -> bool {
    !spec.linux().as_ref().is_some_and(|linux| {
        linux
            .namespaces()
            .iter()
            .flatten()
            .any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Pid)
    })
}

/// The machine's (uid, gid) of the container's root under these mappings.
pub fn root_in_machine(linux: &Linux) -> Option<(u32, u32)> {
    let uids = linux.uid_mappings().as_deref().unwrap_or_default();
    let gids = linux.gid_mappings().as_deref().unwrap_or_default();
    Some((zero_in_machine(uids)?, zero_in_machine(gids)?))
}

pub struct UserNamespace {
    fd: OwnedFd,
    /// The machine's (uid, gid) for the container's root.
    root: (u32, u32),
}

impl UserNamespace {
    /// A new user namespace with the spec's mappings. A child is cloned into
    /// it only long enough for its maps to be written and its namespace
    /// opened.
    pub fn create(linux: &Linux) -> Result<UserNamespace, AgentError> {
        let root = root_in_machine(linux).ok_or_else(|| {
            AgentError::new(
                ErrorKind::BadRequest,
                "a user namespace needs uid and gid mappings for the container's root (0)",
            )
        })?;
        let uids = linux.uid_mappings().as_deref().unwrap_or_default();
        let gids = linux.gid_mappings().as_deref().unwrap_or_default();
        let (release_read, release_write) = pipe()?;
        // SAFETY: clone(2) without CLONE_VM and a null stack acts as fork.
        // The child only closes, reads and _exit(2)s, all async-signal-safe,
        // as required after forking a threaded process.
        let pid = unsafe {
            libc::syscall(
                libc::SYS_clone,
                (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong,
                0usize,
                0usize,
                0usize,
                0usize,
            )
        };
        if pid == 0 {
            let mut byte = 0u8;
            // SAFETY: see above. Its copy of the write end must go, or the
            // read would never see EOF.
            unsafe {
                libc::close(release_write.as_raw_fd());
                libc::read(release_read.as_raw_fd(), (&mut byte as *mut u8).cast(), 1);
                libc::_exit(0);
            }
        }
        if pid < 0 {
            return Err(failure("clone", io::Error::last_os_error()));
        }
        drop(release_read);
        let opened = (|| {
            let proc = format!("/proc/{pid}");
            std::fs::write(format!("{proc}/uid_map"), map_text(uids))
                .map_err(|e| failure("writing uid_map", e))?;
            std::fs::write(format!("{proc}/gid_map"), map_text(gids))
                .map_err(|e| failure("writing gid_map", e))?;
            std::fs::File::open(format!("{proc}/ns/user"))
                .map(OwnedFd::from)
                .map_err(|e| failure("opening it", e))
        })();
        drop(release_write);
        // SAFETY: reaping our own child (the reaper may have beaten us to
        // it, which is fine).
        unsafe { libc::waitpid(pid as i32, std::ptr::null_mut(), 0) };
        Ok(UserNamespace { fd: opened?, root })
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// The machine's (uid, gid) for the container's root.
    pub fn root_in_machine(&self) -> (u32, u32) {
        self.root
    }

    /// Mounts `source` at `target` with its ownership seen through this
    /// namespace's mappings.
    pub fn idmapped_bind(&self, source: &Path, target: &Path) -> io::Result<()> {
        let c = |p: &Path| {
            CString::new(p.as_os_str().as_bytes())
                .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
        };
        let (source, target, empty) = (c(source)?, c(target)?, CString::default());
        // SAFETY: open_tree(2) on a valid path; the result is checked.
        let tree = unsafe {
            libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                source.as_ptr(),
                OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint,
            )
        };
        if tree < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh fd owned by nobody else.
        let tree: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(tree as i32) };
        let attr = MountAttr {
            attr_set: MOUNT_ATTR_IDMAP,
            attr_clr: 0,
            propagation: 0,
            userns_fd: self.fd.as_raw_fd() as u64,
        };
        // SAFETY: mount_setattr(2) on our detached tree with a valid,
        // correctly sized mount_attr.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                tree.as_raw_fd(),
                empty.as_ptr(),
                libc::AT_EMPTY_PATH,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: move_mount(2) attaching our tree at a valid path.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                tree.as_raw_fd(),
                empty.as_ptr(),
                libc::AT_FDCWD,
                target.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_written_as_the_kernel_reads_them() {
        let maps: Vec<LinuxIdMapping> =
            serde_json::from_str(r#"[{"containerID":0,"hostID":100000,"size":65536}]"#).unwrap();
        assert_eq!(map_text(&maps), "0 100000 65536\n");
        assert_eq!(zero_in_machine(&maps), Some(100000));
        assert_eq!(zero_in_machine(&maps[1..]), None);
    }
}
