//! Copies into and out of a container's filesystem (`cp`, docker's
//! archive endpoints), one [`protocol::archive`] connection each.
//!
//! A running container is copied through its own view (`/proc/PID/root`:
//! its volumes and bind mounts included) with its processes frozen, so
//! nothing in it can swap a directory for a symlink while a path is
//! resolved or walked (docker pauses for the same reason). A stopped one
//! has its overlay root mounted for the copy; its volumes are not there
//! then, so a path into one is refused rather than copied to the layer
//! beneath.

mod ids;
mod pack;
mod scope;

use super::cgroup::Cgroup;
use super::start::user_namespace;
use super::Container;
use crate::layers::unpack::{unpack, UnpackError, Unpacking};
use ids::IdMap;
use protocol::{
    write_frame, AgentError, ArchiveAction, ArchiveRequest, ChunkReader, ChunkWriter, Envelope,
    ErrorKind, PathStat, Response,
};
use scope::Located;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A container's root as the copy sees it.
pub struct Root {
    dir: PathBuf,
    ids: IdMap,
    /// Where the stopped container's volumes and mounts would be.
    absent_mounts: Vec<String>,
}

impl Root {
    /// Refuses a path at or under a mount that is not there now.
    fn check_mounted(&self, resolved: &Path) -> Result<(), AgentError> {
        let inside = Path::new("/").join(resolved);
        match self
            .absent_mounts
            .iter()
            .find(|m| inside.starts_with(m.as_str()))
        {
            Some(mount) => Err(AgentError::new(
                ErrorKind::Conflict,
                format!("{mount} is a mount of this container, there only while it runs: start the container to copy there"),
            )),
            None => Ok(()),
        }
    }
}

impl Container {
    /// Runs `work` on the container's root (see the module's comment).
    fn with_root<T>(
        &self,
        work: impl FnOnce(&Root) -> Result<T, AgentError>,
    ) -> Result<T, AgentError> {
        let _in_use = self.root_in_use();
        let record = self.lock().clone();
        let ids = IdMap::of(&record.spec);
        if let Some(pid) = record.info.pid {
            let cgroup = Cgroup::open(&record.info.id);
            let freeze = !record.info.paused;
            if freeze {
                cgroup.set_frozen(true).map_err(|e| {
                    AgentError::new(ErrorKind::Internal, format!("freezing for the copy: {e}"))
                })?;
            }
            let root = Root {
                dir: PathBuf::from(format!("/proc/{pid}/root")),
                ids,
                absent_mounts: Vec::new(),
            };
            let result = work(&root);
            if freeze {
                let _ = cgroup.set_frozen(false);
            }
            return result;
        }
        let userns = user_namespace(&record.spec)?;
        self.mount_root(&record.diff_ids, userns.as_ref())?;
        let root = Root {
            dir: self.rootfs(),
            ids,
            absent_mounts: record
                .mounts
                .iter()
                .map(|m| m.destination.clone())
                .collect(),
        };
        let result = work(&root);
        self.unmount_root();
        result
    }
}

fn reply(conn: &mut impl Write, body: Response) {
    // A client that left learns nothing more; the copy just ends.
    let _ = write_frame(conn, &Envelope { id: 0, body });
}

fn path_error(path: &str, e: std::io::Error) -> AgentError {
    match e.kind() {
        std::io::ErrorKind::NotFound => AgentError::new(
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

fn stat(root: &Root, located: &Located, path: &str) -> Result<PathStat, AgentError> {
    let meta =
        fs::symlink_metadata(root.dir.join(&located.resolved)).map_err(|e| path_error(path, e))?;
    let link_target = if meta.file_type().is_symlink() {
        scope::link_target(&root.dir, &located.resolved).map_err(|e| path_error(path, e))?
    } else {
        String::new()
    };
    Ok(PathStat {
        name: located.name.clone(),
        size: meta.len(),
        mode: meta.mode(),
        mtime_s: meta.mtime(),
        link_target,
    })
}

/// Serves one archive connection: the request's answer, then its data
/// and the outcome (see [`protocol::archive`]).
pub fn serve<S: Read + Write>(
    request: ArchiveRequest,
    conn: &mut S,
    containers: &super::Containers,
) {
    let copied = containers
        .find(&request.container)
        .and_then(|c| c.with_root(|root| copy(&request, root, conn)));
    if let Err(e) = copied {
        reply(conn, Response::Error(e));
    }
}

/// Errors before the answer are returned; after it, they are the outcome.
fn copy<S: Read + Write>(
    request: &ArchiveRequest,
    root: &Root,
    conn: &mut S,
) -> Result<(), AgentError> {
    let path = request.path.as_str();
    let located = scope::locate(&root.dir, path).map_err(|e| path_error(path, e))?;
    root.check_mounted(&located.resolved)?;
    match request.action {
        ArchiveAction::Stat => reply(conn, Response::PathStat(stat(root, &located, path)?)),
        ArchiveAction::Read => {
            reply(conn, Response::PathStat(stat(root, &located, path)?));
            let name = match located.name.as_str() {
                "/" => ".",
                name => name,
            };
            let mut chunks = ChunkWriter::new(&mut *conn);
            let packed = pack::pack(
                &root.dir.join(&located.resolved),
                Path::new(name),
                &root.ids,
                &mut chunks,
            );
            let ended = chunks.finish().map(|_| ());
            let outcome = packed
                .and(ended)
                .map_err(|e| AgentError::new(ErrorKind::Storage, format!("copying {path}: {e}")));
            reply(
                conn,
                outcome.map_or_else(Response::Error, |()| Response::Done),
            );
        }
        ArchiveAction::Write {
            copy_owner,
            keep_kinds,
        } => {
            let dir = scope::resolve(&root.dir, path, true).map_err(|e| path_error(path, e))?;
            root.check_mounted(&dir)?;
            let target = Located {
                resolved: dir,
                name: located.name.clone(),
            };
            let found = stat(root, &target, path)?;
            if !found.is_dir() {
                return Err(AgentError::new(
                    ErrorKind::BadRequest,
                    format!(
                        "{path} is not a directory in the container: a copy goes into a directory"
                    ),
                ));
            }
            reply(conn, Response::PathStat(found));
            let ids = &root.ids;
            let owner = |uid, gid| {
                if copy_owner {
                    ids.to_machine(uid, gid)
                } else {
                    ids.root()
                }
            };
            let how = Unpacking {
                whiteouts: false,
                owner: &owner,
                keep_kinds,
            };
            let unpacked = unpack(
                ChunkReader::new(&mut *conn),
                &root.dir.join(&target.resolved),
                &how,
            );
            let outcome = unpacked.map(|_| Response::Done);
            reply(
                conn,
                outcome.unwrap_or_else(|e| Response::Error(unpack_error(e))),
            );
        }
    }
    Ok(())
}
