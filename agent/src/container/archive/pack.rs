//! A file or directory tree in a container's root written as a tar whose
//! entries start with a given name (docker's archive of a path). Owners
//! are the container's; symlinks are stored, never followed.

use super::ids::IdMap;
use protocol::{write_frame, AgentError, ChunkWriter, Envelope, ErrorKind, Response, MAX_CHUNK};
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Whether `dir` is a mount of the kernel's own views (proc, sysfs,
/// cgroups, pseudo-terminals, message queues): a running container has
/// them in its root, docker's copy has them empty, and walking them
/// would never end.
fn is_kernel_view(dir: &Path) -> bool {
    const VIEWS: [i64; 5] = [0x9fa0, 0x6265_6572, 0x6367_7270, 0x1cd1, 0x1980_2202];
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs is plain data, filled in by the call.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a statfs to fill.
    let rc = unsafe { libc::statfs(path.as_ptr(), &mut fs) };
    rc == 0 && VIEWS.contains(&(fs.f_type as i64))
}

/// Sends what `fill` writes (a tar, or a change list) as archive chunks
/// on `conn`, then the
/// outcome (`Done`, or the error that cut it short, about `what`) as the
/// closing frame.
pub fn send_data<S: Write>(
    conn: &mut S,
    what: &str,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) {
    let mut chunks = BufWriter::with_capacity(MAX_CHUNK, ChunkWriter::new(&mut *conn));
    let filled = fill(&mut chunks);
    let ended = chunks
        .into_inner()
        .map_err(|e| e.into_error())
        .and_then(ChunkWriter::finish)
        .map(|_| ());
    let body = match filled.and(ended) {
        Ok(()) => Response::Done,
        Err(e) => Response::Error(AgentError::new(ErrorKind::Storage, format!("{what}: {e}"))),
    };
    // A client that left learns nothing more.
    let _ = write_frame(conn, &Envelope { id: 0, body });
}

/// Writes `source` and everything under it as `name`, `name/...`.
pub fn pack(source: &Path, name: &Path, ids: &IdMap, out: impl Write) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    append(&mut builder, source, name, ids, None)?;
    builder.into_inner()?.flush()
}

/// Writes what is under `root` as `NAME`, `NAME/...`, leaving out what is
/// mounted on it: a mount point is an empty directory (docker's
/// `export`). The file system is told by `st_dev`, which overlayfs gives
/// all its files when its layers share a disk, as a machine's do.
pub fn pack_root(root: &Path, ids: &IdMap, out: impl Write) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    let dev = fs::symlink_metadata(root)?.dev();
    for entry in sorted_entries(root)? {
        let name = Path::new(&entry.file_name()).to_path_buf();
        append(&mut builder, &entry.path(), &name, ids, Some(dev))?;
    }
    builder.into_inner()?.flush()
}

/// `dir`'s entries in name order.
pub(super) fn sorted_entries(dir: &Path) -> io::Result<Vec<fs::DirEntry>> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

/// Appends `path` and what is under it; with `only_dev`, what is on
/// another file system stays out (a directory is kept, empty).
fn append<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &Path,
    name: &Path,
    ids: &IdMap,
    only_dev: Option<u64>,
) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    let mounted = only_dev.is_some_and(|dev| meta.dev() != dev);
    if mounted && !meta.is_dir() {
        return Ok(());
    }
    append_entry(builder, path, &meta, name, ids)?;
    if meta.is_dir() && !mounted && !is_kernel_view(path) {
        for entry in sorted_entries(path)? {
            append(
                builder,
                &entry.path(),
                &name.join(entry.file_name()),
                ids,
                only_dev,
            )?;
        }
    }
    Ok(())
}

/// Writes the one entry at `path` (whose `meta` the caller has) as
/// `name`: contents for a file, never what a symlink points to.
pub fn append_entry<W: Write>(
    builder: &mut tar::Builder<W>,
    path: &Path,
    meta: &fs::Metadata,
    name: &Path,
    ids: &IdMap,
) -> io::Result<()> {
    let kind = meta.file_type();
    if kind.is_socket() {
        return Ok(()); // tar has no sockets, nor does docker's copy
    }
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    let (uid, gid) = ids.to_container(meta.uid(), meta.gid());
    header.set_uid(uid.into());
    header.set_gid(gid.into());
    if kind.is_symlink() {
        header.set_size(0);
        return builder.append_link(&mut header, name, fs::read_link(path)?);
    }
    if kind.is_file() {
        let size = meta.len();
        let file = fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        // Exactly the size the header promised, whatever the file does.
        let data = file.take(size).chain(io::repeat(0)).take(size);
        return builder.append_data(&mut header, name, data);
    }
    if kind.is_char_device() || kind.is_block_device() {
        let dev = meta.rdev();
        header.set_device_major(libc::major(dev))?;
        header.set_device_minor(libc::minor(dev))?;
    }
    header.set_size(0);
    builder.append_data(&mut header, name, io::empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn a_tree_is_packed_under_its_new_name_with_symlinks_kept() {
        let dir = std::env::temp_dir().join(format!("hutch-pack-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("app/sub")).unwrap();
        fs::write(dir.join("app/sub/data"), b"bytes").unwrap();
        symlink("/etc/passwd", dir.join("app/link")).unwrap();
        let mut tar_bytes = Vec::new();
        pack(
            &dir.join("app"),
            Path::new("renamed"),
            &IdMap::default(),
            &mut tar_bytes,
        )
        .unwrap();
        let mut seen = Vec::new();
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mut body = String::new();
            if let Some(link) = entry.link_name().unwrap() {
                body = format!("-> {}", link.display());
            } else {
                entry.read_to_string(&mut body).unwrap();
            }
            seen.push(format!("{name} {body}"));
        }
        assert_eq!(
            seen,
            [
                "renamed ",
                "renamed/link -> /etc/passwd",
                "renamed/sub ",
                "renamed/sub/data bytes"
            ]
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
