//! Copies into and out of a container's filesystem (`cp`, docker's
//! archive endpoints), one [`protocol::archive`] connection each.
//!
//! The copy runs in a helper process chrooted into the container's root
//! (see helper.rs), so the kernel keeps every path inside it, as docker's
//! chrootarchive does. The root is opened once, as an fd: a running
//! container's own view (`/proc/PID/root`: its volumes and bind mounts
//! included) with its processes frozen meanwhile, so that none changes the
//! tree under the walk (docker pauses for the same reason); or a stopped
//! container's overlay root, mounted for the while. Its volumes are not
//! there then, so a path into one is refused rather than written to the
//! layer beneath.

mod helper;
mod ids;
mod layer;
mod pack;
mod scope;

pub use helper::{main as helper_main, COPY_ARG};

use super::cgroup::Cgroup;
use super::start::user_namespace;
use super::{Container, Record};
use crate::sys::vsock::VsockStream;
use helper::CopyJob;
use ids::IdMap;
use protocol::{
    read_frame, write_frame, AgentError, ArchiveAction, ArchiveRequest, Envelope, ErrorKind,
    Response,
};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::MutexGuard;
use std::time::Duration;

/// A client that neither sends nor takes a byte for this long ends its
/// copy (and the container's freeze).
const STALL_LIMIT: Duration = Duration::from_secs(120);

/// A copy counted as under way (see `Container::copies`) until dropped.
struct Counted<'a>(&'a Container);

impl<'a> Counted<'a> {
    fn new(container: &'a Container) -> Counted<'a> {
        container.copies.fetch_add(1, Ordering::SeqCst);
        Counted(container)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.copies.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A container's root held for a copy: on drop its processes are thawed
/// or its root unmounted, whatever happened meanwhile. (Fields drop in
/// order: the root is released before the copy stops counting.)
struct Held<'a> {
    container: &'a Container,
    frozen: Option<Cgroup>,
    mounted: bool,
    _in_use: MutexGuard<'a, ()>,
    _counted: Counted<'a>,
}

impl Held<'_> {
    /// Freezes the running container's processes until the hold ends
    /// (unless they are paused already, and stay so).
    fn freeze(&mut self, record: &Record) -> Result<(), AgentError> {
        if record.info.paused {
            return Ok(());
        }
        // Thawed on drop even if freezing fails half-way.
        let cgroup = self.frozen.insert(Cgroup::open(&record.info.id));
        cgroup.set_frozen(true).map_err(|e| {
            AgentError::new(ErrorKind::Internal, format!("freezing for the copy: {e}"))
        })
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(cgroup) = &self.frozen {
            let _ = cgroup.set_frozen(false);
        }
        if self.mounted {
            self.container.unmount_root();
        }
    }
}

fn open_dir(path: &Path) -> Result<OwnedFd, AgentError> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|e| {
            AgentError::new(
                ErrorKind::Internal,
                format!("opening the container's root: {e}"),
            )
        })
}

impl Container {
    /// Counts a copy as under way and takes the root (start, stop, pause
    /// and exec are refused meanwhile); a removed container is not there.
    fn hold(&self, asked_as: &str) -> Result<Held<'_>, AgentError> {
        let counted = Counted::new(self);
        let in_use = self.root_in_use();
        if self.removed.load(Ordering::SeqCst) {
            return Err(AgentError::new(
                ErrorKind::NoSuchContainer,
                format!("no such container: {asked_as}"),
            ));
        }
        Ok(Held {
            container: self,
            frozen: None,
            mounted: false,
            _in_use: in_use,
            _counted: counted,
        })
    }

    /// The root to copy in, held (see [`Held`]), and the job's context.
    fn hold_root(
        &self,
        request: &ArchiveRequest,
    ) -> Result<(Held<'_>, OwnedFd, CopyJob), AgentError> {
        let mut held = self.hold(&request.container)?;
        let record = self.lock().clone();
        let mut job = CopyJob {
            request: request.clone(),
            ids: IdMap::of(&record.spec),
            absent_mounts: Vec::new(),
        };
        if let Some(pid) = record.info.pid {
            if super::userns::shares_pid_namespace(&record.spec) {
                // Its /proc/1/root would be the machine's.
                return Err(AgentError::new(
                    ErrorKind::Conflict,
                    format!(
                        "container {} shares the machine's pid namespace: copies are refused",
                        record.info.name
                    ),
                ));
            }
            held.freeze(&record)?;
            let root = open_dir(Path::new(&format!("/proc/{pid}/root")))?;
            // Still its pid once opened: an exit is recorded before the
            // pid is reaped, so it was not someone else's.
            if self.lock().info.pid != Some(pid) {
                return Err(AgentError::new(
                    ErrorKind::Conflict,
                    format!("container {} stopped as the copy began", record.info.name),
                ));
            }
            return Ok((held, root, job));
        }
        let userns = user_namespace(&record.spec)?;
        self.mount_root(&record.diff_ids, userns.as_ref())?;
        held.mounted = true;
        job.absent_mounts = record
            .mounts
            .iter()
            .map(|m| m.destination.clone())
            .collect();
        let root = open_dir(&self.rootfs())?;
        Ok((held, root, job))
    }

    fn copy(&self, request: &ArchiveRequest, conn: &mut File) -> Result<(), AgentError> {
        if matches!(
            request.action,
            ArchiveAction::Layer | ArchiveAction::Changes
        ) {
            return self.send_upper(&request.container, &request.action, conn);
        }
        let (held, root, job) = self.hold_root(request)?;
        let copied = helper::run(&job, &root, conn);
        drop(held);
        copied
    }
}

/// Serves one archive connection (see [`protocol::archive`]).
pub fn serve(mut conn: VsockStream, containers: &super::Containers) {
    // Before anything is read: a client that sends nothing ends too.
    let _ = conn.set_timeouts(STALL_LIMIT);
    let Ok(Some(request)) = read_frame::<ArchiveRequest, _>(&mut conn) else {
        return;
    };
    let mut conn = File::from(conn.into_owned_fd());
    let copied = containers
        .find(&request.container)
        .and_then(|c| c.copy(&request, &mut conn));
    if let Err(e) = copied {
        let _ = write_frame(
            &mut conn,
            &Envelope {
                id: 0,
                body: Response::Error(e),
            },
        );
    }
}
