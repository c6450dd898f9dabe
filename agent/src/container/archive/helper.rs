//! The copy helper: the agent's own binary run as `hutch-agent
//! copy-helper JOB`, chrooted into the container's root (given as fd 3),
//! speaking the archive protocol on stdin/stdout (the host's connection).
//! Inside the chroot the kernel resolves every path in the container's
//! root, so no symlink, however it changes during the copy, leads onto
//! the machine. It tells the agent on fd 4 how it began: `R` before its
//! first answer on the connection, or `E` and an error (JSON) if it
//! failed before answering, which the agent then sends.

use super::ids::IdMap;
use super::{pack, scope};
use crate::layers::unpack::{unpack, UnpackError, Unpacking};
use crate::sys::fd::{high_copy, pipe};
use crate::sys::process::clone_self;
use protocol::{
    write_frame, AgentError, ArchiveAction, ArchiveRequest, ChunkReader, Envelope, ErrorKind,
    PathStat, Response, MAX_CHUNK,
};
use scope::Located;
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub const COPY_ARG: &std::ffi::CStr = c"copy-helper";
const ROOT_FD: RawFd = 3;
const STATUS_FD: RawFd = 4;

/// What the helper is asked to do.
#[derive(Serialize, Deserialize)]
pub struct CopyJob {
    pub request: ArchiveRequest,
    pub ids: IdMap,
    /// Where the stopped container's volumes and mounts would be.
    pub absent_mounts: Vec<String>,
}

impl CopyJob {
    /// Refuses a path at or under a mount that is not there now.
    fn check_mounted(&self, path: &Path) -> Result<(), AgentError> {
        match self.mount_at(path) {
            Some(why) => Err(AgentError::new(ErrorKind::Conflict, why)),
            None => Ok(()),
        }
    }

    fn mount_at(&self, path: &Path) -> Option<String> {
        let inside = Path::new("/").join(path);
        self.absent_mounts
            .iter()
            .find(|m| inside.starts_with(m.as_str()))
            .map(|m| format!("{m} is a mount of this container, there only while it runs: start the container to copy there"))
    }
}

/// Runs `job` in a helper chrooted at `root`, on `conn`; returns once it
/// is done. An error means nothing was answered yet.
pub fn run(job: &CopyJob, root: &OwnedFd, conn: &File) -> Result<(), AgentError> {
    let (status_read, status_write) = pipe()?;
    // Numbered out of the way of the fds the helper gets them as.
    let sources = [
        high_copy(conn.as_raw_fd())?,
        high_copy(conn.as_raw_fd())?,
        high_copy(root.as_raw_fd())?,
        high_copy(status_write.as_raw_fd())?,
    ];
    drop(status_write);
    let targets = [0, 1, ROOT_FD, STATUS_FD];
    let job_text = serde_json::to_string(job)
        .ok()
        .and_then(|text| CString::new(text).ok())
        .ok_or_else(|| AgentError::new(ErrorKind::Internal, "encoding the copy job"))?;
    // Its exit signal is none rather than SIGCHLD: a "clone child", which
    // the agent's reaper (waitid without __WALL) never sees, so only the
    // waitpid below reaps it and no pid is mistaken.
    let pid = clone_self(0, &[COPY_ARG, &job_text], &sources, &targets, 127)?;
    drop(sources);
    let mut status = Vec::new();
    // Until `R`, an error, or the helper's end.
    let _ = File::from(status_read).read_to_end(&mut status);
    let mut exit = 0;
    // SAFETY: waitpid(2) on our own clone child, with a valid out-pointer.
    unsafe { libc::waitpid(pid, &mut exit, libc::__WCLONE) };
    match status.split_first() {
        Some((b'R', _)) => Ok(()),
        Some((b'E', error)) => Err(serde_json::from_slice(error).unwrap_or_else(|_| {
            AgentError::new(ErrorKind::Internal, "the copy failed before it began")
        })),
        _ => Err(AgentError::new(
            ErrorKind::Internal,
            "the copy helper ended before it answered",
        )),
    }
}

/// The host's connection as the helper has it; the first write tells the
/// agent that the answering has begun.
struct Conn {
    input: BufReader<File>,
    output: File,
    status: Option<File>,
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.input.read(buf)
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let Some(mut status) = self.status.take() {
            status.write_all(b"R")?;
        }
        self.output.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.output.flush()
    }
}

/// The helper's `main`.
pub fn main() -> ! {
    // SAFETY: `run` placed the status pipe at STATUS_FD, the root at
    // ROOT_FD and the connection at 0 and 1 for this process alone.
    let mut conn = unsafe {
        Conn {
            input: BufReader::with_capacity(MAX_CHUNK, File::from_raw_fd(0)),
            output: File::from_raw_fd(1),
            status: Some(File::from_raw_fd(STATUS_FD)),
        }
    };
    let outcome = std::env::args()
        .nth(2)
        .ok_or_else(|| AgentError::new(ErrorKind::Internal, "no copy job given"))
        .and_then(|text| {
            serde_json::from_str::<CopyJob>(&text)
                .map_err(|e| AgentError::new(ErrorKind::Internal, format!("copy job: {e}")))
        })
        .and_then(|job| enter_root().map(|()| job))
        .and_then(|job| copy(&job, &mut conn));
    if let (Err(e), Some(mut status)) = (outcome, conn.status.take()) {
        let mut message = vec![b'E'];
        message.extend(serde_json::to_vec(&e).unwrap_or_default());
        let _ = status.write_all(&message);
        std::process::exit(2);
    }
    std::process::exit(0)
}

/// chroot into the root at ROOT_FD.
fn enter_root() -> Result<(), AgentError> {
    let failed = |what: &str| {
        AgentError::new(
            ErrorKind::Internal,
            format!(
                "entering the container's root ({what}): {}",
                io::Error::last_os_error()
            ),
        )
    };
    // SAFETY: plain syscalls on an fd this process owns and on static,
    // NUL-terminated paths.
    unsafe {
        if libc::fchdir(ROOT_FD) != 0 {
            return Err(failed("fchdir"));
        }
        if libc::chroot(c".".as_ptr()) != 0 {
            return Err(failed("chroot"));
        }
        if libc::chdir(c"/".as_ptr()) != 0 {
            return Err(failed("chdir"));
        }
        libc::close(ROOT_FD);
    }
    keep_only_file_capabilities()
}

/// What writing a tree needs (owners, modes with set-id bits, times,
/// device nodes, and reading past permissions), and nothing else: none
/// of the ways out of a chroot (`CAP_SYS_CHROOT`, `open_by_handle_at`'s
/// `CAP_DAC_READ_SEARCH`, `CAP_SYS_ADMIN`'s mounts and trusted xattrs).
fn keep_only_file_capabilities() -> Result<(), AgentError> {
    use oci_spec::runtime::Capability;
    let keep: oci_spec::runtime::Capabilities = [
        Capability::Chown,
        Capability::DacOverride,
        Capability::Fowner,
        Capability::Fsetid,
        Capability::Mknod,
    ]
    .into_iter()
    .collect();
    let failed = |what: &str, e: io::Error| {
        AgentError::new(
            ErrorKind::Internal,
            format!("limiting the copy's capabilities ({what}): {e}"),
        )
    };
    crate::container::caps::limit_bounding(Some(&keep)).map_err(|e| failed("bounding", e))?;
    crate::container::caps::set(Some(&keep), Some(&keep), None).map_err(|e| failed("capset", e))?;
    // SAFETY: prctl with plain integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(failed("no_new_privs", io::Error::last_os_error()));
    }
    Ok(())
}

fn reply(conn: &mut impl Write, body: Response) {
    // A client that left learns nothing more; the copy just ends.
    let _ = write_frame(conn, &Envelope { id: 0, body });
}

fn path_error(path: &str, e: io::Error) -> AgentError {
    match e.kind() {
        io::ErrorKind::NotFound => AgentError::new(
            ErrorKind::NoSuchPath,
            format!("no such file or directory in the container: {path}"),
        ),
        _ => AgentError::new(ErrorKind::BadRequest, format!("{path}: {e}")),
    }
}

fn unpack_error(e: UnpackError) -> AgentError {
    let kind = match &e {
        UnpackError::Io { .. } if e.is_disk_full() => ErrorKind::DiskFull,
        UnpackError::Io { .. } => ErrorKind::Storage,
        UnpackError::Unsafe { .. } | UnpackError::Corrupt(_) => ErrorKind::BadRequest,
    };
    AgentError::new(kind, format!("copying into the container: {e}"))
}

fn stat(located: &Located, path: &str) -> Result<PathStat, AgentError> {
    let at = Path::new("/").join(&located.resolved);
    let meta = std::fs::symlink_metadata(&at).map_err(|e| path_error(path, e))?;
    // A link that loops or leads nowhere still has a stat of its own.
    let link_target = match meta.file_type().is_symlink() {
        true => scope::link_target(Path::new("/"), &located.resolved).unwrap_or_default(),
        false => String::new(),
    };
    Ok(PathStat {
        name: located.name.clone(),
        size: meta.len(),
        mode: meta.mode(),
        mtime_s: meta.mtime(),
        link_target,
    })
}

/// Errors before the answer are returned; after it, they are the outcome.
fn copy<S: Read + Write>(job: &CopyJob, conn: &mut S) -> Result<(), AgentError> {
    let path = job.request.path.as_str();
    let root = Path::new("/");
    let located = scope::locate(root, path).map_err(|e| path_error(path, e))?;
    job.check_mounted(&located.resolved)?;
    match job.request.action {
        ArchiveAction::Stat => reply(conn, Response::PathStat(stat(&located, path)?)),
        ArchiveAction::Read => {
            reply(conn, Response::PathStat(stat(&located, path)?));
            let name = match located.name.as_str() {
                "/" => ".",
                name => name,
            };
            let source = root.join(&located.resolved);
            pack::send_data(conn, &format!("copying {path}"), |out| {
                pack::pack(&source, Path::new(name), &job.ids, out)
            });
        }
        ArchiveAction::Export => {
            reply(conn, Response::PathStat(stat(&located, path)?));
            pack::send_data(conn, "exporting the container", |out| {
                pack::pack_root(root, &job.ids, out)
            });
        }
        ArchiveAction::Layer | ArchiveAction::Changes => {
            return Err(AgentError::new(
                ErrorKind::Internal,
                "the agent reads a layer itself, not through the copy helper",
            ))
        }
        ArchiveAction::Write {
            copy_owner,
            keep_kinds,
        } => {
            let dir = scope::resolve(root, path, true).map_err(|e| path_error(path, e))?;
            job.check_mounted(&dir)?;
            let target = Located {
                resolved: dir,
                name: located.name.clone(),
            };
            let found = stat(&target, path)?;
            if !found.is_dir() {
                return Err(AgentError::new(
                    ErrorKind::BadRequest,
                    format!(
                        "{path} is not a directory in the container: a copy goes into a directory"
                    ),
                ));
            }
            reply(conn, Response::PathStat(found));
            let ids = &job.ids;
            let owner = |uid, gid| match copy_owner {
                true => ids.to_machine(uid, gid),
                false => ids.root(),
            };
            let refuse = |at: &Path| job.mount_at(at);
            let how = Unpacking {
                whiteouts: false,
                owner: &owner,
                keep_kinds,
                refuse: &refuse,
            };
            let mut chunks = ChunkReader::new(&mut *conn);
            let unpacked = unpack(&mut chunks, &root.join(&target.resolved), &how);
            // Read to the end even after a refusal, so that the host,
            // still sending, hears why rather than a reset.
            let _ = io::copy(&mut chunks, &mut io::sink());
            let outcome = unpacked.map(|_| Response::Done);
            reply(
                conn,
                outcome.unwrap_or_else(|e| Response::Error(unpack_error(e))),
            );
        }
    }
    Ok(())
}
