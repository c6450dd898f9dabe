use crate::policy::HostUserPolicy;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use vhost_user_backend_virtiofsd::VhostUserDaemon;
use vhost_virtiofsd::vhost_user::Listener;
use virtiofsd::idmap::{GidMap, UidMap};
use virtiofsd::passthrough::{self, CachePolicy, InodeFileHandlesMode, PassthroughFs};
use virtiofsd::sandbox::{Sandbox, SandboxMode};
use virtiofsd::soft_idmap::cmdline::IdMap;
use virtiofsd::vhost_user::VhostUserFsBackendBuilder;
use vm_memory_virtiofsd::{GuestMemoryAtomic, GuestMemoryMmap};

#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("{0} is not a directory")]
    NotADirectory(String),
    #[error("listening on {path}: {message}")]
    Listen { path: String, message: String },
    #[error("raising the open-file limit: {0}")]
    FileLimit(String),
    #[error("entering the sandbox: {0}")]
    Sandbox(String),
    #[error("dropping capabilities: {0}")]
    Capabilities(String),
    #[error("serving the share: {0}")]
    Serve(String),
}

/// Guest IDs, all of them, become the sandbox's `0`: the user running
/// hutch (root itself, or the user namespace's root standing for the
/// unprivileged user). In the other direction that user appears as the
/// guest's root.
fn squash_all_to_host_user() -> Vec<IdMap> {
    vec![IdMap::SquashGuest {
        from_guest: 0,
        to_host: 0,
        count: u32::MAX,
    }]
}

/// File descriptors virtiofsd keeps for itself (its own listener, /proc
/// handles, the vring eventfds) out of the open-file limit.
const INTERNAL_FDS: u64 = 64;

/// Serves `dir` on the vhost-user socket `socket` until QEMU disconnects.
pub fn serve(dir: &Path, socket: &Path) -> Result<(), ShareError> {
    let dir_text = dir.to_string_lossy().into_owned();
    if !dir.is_dir() {
        return Err(ShareError::NotADirectory(dir_text));
    }
    let listener = Listener::new(socket, true).map_err(|e| ShareError::Listen {
        path: socket.display().to_string(),
        message: e.to_string(),
    })?;
    let fd_limit = virtiofsd::limits::setup_rlimit_nofile(None).map_err(ShareError::FileLimit)?;

    // SAFETY: geteuid/getegid have no preconditions.
    let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let root = euid == 0;
    // Unprivileged, the sandbox is a user namespace too, where this user is
    // root: so, as when hutch runs as root, the host user is the `0` that
    // every guest ID is squashed to, and appears as the guest's root.
    let (uid_map, gid_map) = if root {
        (Vec::new(), Vec::new())
    } else {
        (
            vec![UidMap {
                inside_uid: 0,
                outside_uid: euid,
                count: 1,
            }],
            vec![GidMap {
                inside_gid: 0,
                outside_gid: egid,
                count: 1,
            }],
        )
    };
    let mut sandbox = Sandbox::new(dir_text, SandboxMode::Namespace, uid_map, gid_map);
    let mountinfo_prefix = sandbox
        .get_mountinfo_prefix()
        .map_err(|e| ShareError::Sandbox(e.to_string()))?;
    let mut listener = sandbox
        .enter(listener)
        .map_err(|e| ShareError::Sandbox(e.to_string()))?;
    if root {
        keep_only_needed_capabilities()?;
    }

    // Attributes and names are trusted for a second; file contents are
    // kept across opens (`Always` sets KEEP_CACHE) and dropped by the guest
    // kernel when a refresh shows a new modification time (FUSE's
    // AUTO_INVAL_DATA). So a host edit shows within a second, and at once
    // under a running container's bind mount, whose watch refreshes the
    // attributes (see the monitor's watch.rs).
    let timeout = Duration::from_secs(1);
    let config = passthrough::Config {
        entry_timeout: timeout,
        attr_timeout: timeout,
        cache_policy: CachePolicy::Always,
        root_dir: sandbox.get_root_dir(),
        mountinfo_prefix,
        proc_sfd_rawfd: sandbox.get_proc_self_fd(),
        proc_mountinfo_rawfd: sandbox.get_mountinfo_fd(),
        announce_submounts: true,
        readdirplus: true,
        uid_map: Some(squash_all_to_host_user()),
        gid_map: Some(squash_all_to_host_user()),
        guest_fd_limit: fd_limit.saturating_sub(INTERNAL_FDS).max(128),
        // Each inode the guest holds costs an open file unless it is kept as
        // a file handle, which needs CAP_DAC_READ_SEARCH: with a limit
        // of, say, 20,000 open files a tree of 20,000 files would not fit.
        inode_file_handles: if root {
            InodeFileHandlesMode::Prefer
        } else {
            InodeFileHandlesMode::Never
        },
        ..Default::default()
    };
    let fs = PassthroughFs::new(config).map_err(|e| ShareError::Serve(e.to_string()))?;
    let fs = HostUserPolicy(fs);
    let backend = VhostUserFsBackendBuilder::default()
        .build(fs)
        .map_err(|e| ShareError::Serve(e.to_string()))?;
    let mut daemon = VhostUserDaemon::new(
        "hutch-share".into(),
        Arc::new(backend),
        GuestMemoryAtomic::new(GuestMemoryMmap::new()),
    )
    .map_err(|e| ShareError::Serve(format!("{e:?}")))?;
    daemon
        .start(&mut listener)
        .map_err(|e| ShareError::Serve(format!("{e:?}")))?;
    match daemon.wait() {
        Ok(()) => Ok(()),
        // QEMU going away is how a share ends.
        Err(vhost_user_backend_virtiofsd::Error::HandleRequest(
            vhost_virtiofsd::vhost_user::Error::Disconnected,
        )) => Ok(()),
        Err(e) => Err(ShareError::Serve(format!("{e:?}"))),
    }
}

/// As root, the server keeps only what acting on files for the guest needs:
/// no CAP_MKNOD (a container's `mknod` must not make a device node on the
/// host), no CAP_SETFCAP (nor a file with capabilities), no CAP_FSETID;
/// CAP_DAC_READ_SEARCH opens inodes kept as file handles.
fn keep_only_needed_capabilities() -> Result<(), ShareError> {
    let needed = vec![
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "SETGID",
        "SETUID",
    ];
    capng::clear(capng::Set::BOTH);
    capng::updatev(
        capng::Action::ADD,
        capng::Type::PERMITTED | capng::Type::EFFECTIVE,
        needed,
    )
    .map_err(|e| ShareError::Capabilities(e.to_string()))?;
    capng::apply(capng::Set::BOTH).map_err(|e| ShareError::Capabilities(e.to_string()))
}
