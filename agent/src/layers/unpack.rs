//! Unpacks a tar into a directory: a layer as overlayfs expects a lower
//! layer (ownership, modes, times, xattrs, hard links, symlinks and device
//! nodes kept; OCI whiteouts turned into overlayfs whiteouts (`.wh.name` →
//! a 0/0 character device, `.wh..wh..opq` → the `trusted.overlay.opaque`
//! xattr)), or a copy into a container (`cp`), as [`Unpacking`] says.
//!
//! Nothing is ever written outside the directory: entry names with `..`
//! are refused, absolute names are taken relative to it, and no entry is
//! created through a symlink (every parent must be a real directory).

use std::ffi::{CString, OsStr};
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{lchown, symlink, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use super::whiteout::{OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX};
const PAX_XATTR_PREFIX: &str = "SCHILY.xattr.";

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// The layer tries to write outside its directory.
    #[error("unsafe layer entry {entry:?}: {why}")]
    Unsafe { entry: String, why: String },
    /// The tar stream itself is broken.
    #[error("layer is not a valid tar: {0}")]
    Corrupt(String),
    #[error("writing {path}: {source}")]
    Io { path: String, source: io::Error },
}

impl UnpackError {
    pub fn is_disk_full(&self) -> bool {
        matches!(self, UnpackError::Io { source, .. }
            if matches!(source.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT)))
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> UnpackError + '_ {
    move |source| UnpackError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Unpacked {
    /// Bytes of regular file content written.
    pub file_bytes: u64,
    pub entries: u64,
}

/// How entries are written.
pub struct Unpacking<'a> {
    /// OCI whiteouts become overlayfs ones (a layer); otherwise `.wh.`
    /// names are ordinary files.
    pub whiteouts: bool,
    /// The (uid, gid) an entry gets, from its header's.
    pub owner: &'a dyn Fn(u32, u32) -> (u32, u32),
    /// Refuse to replace a directory with a non-directory or the other way
    /// round (docker's `noOverwriteDirNonDir`) rather than clear the way.
    pub keep_kinds: bool,
    /// Why nothing may be written at a path, if that is so.
    pub refuse: &'a dyn Fn(&Path) -> Option<String>,
}

impl Unpacking<'_> {
    /// A layer: whiteouts and owners as the tar has them.
    pub const LAYER: Unpacking<'static> = Unpacking {
        whiteouts: true,
        owner: &|uid, gid| (uid, gid),
        keep_kinds: false,
        refuse: &|_| None,
    };
}

/// Unpacks the tar read from `input` into `dest`, which must exist (a
/// layer's is empty). Reads `input` to its end, so a caller hashing it
/// sees every byte.
pub fn unpack(input: impl Read, dest: &Path, how: &Unpacking<'_>) -> Result<Unpacked, UnpackError> {
    let mut archive = tar::Archive::new(input);
    let mut stats = Unpacked::default();
    // Directory times are set last: creating entries inside changes them.
    let mut dir_times = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| UnpackError::Corrupt(e.to_string()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| UnpackError::Corrupt(e.to_string()))?;
        let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let rel = relative_path(&raw_name)?;
        stats.entries += 1;
        let Some(name) = rel.file_name().map(OsStr::to_owned) else {
            continue; // the layer's root directory itself
        };
        let parent = real_parent(dest, &rel, &raw_name)?;
        let name_str = name.to_string_lossy();
        if how.whiteouts && name_str == OPAQUE_MARKER {
            set_xattr(&parent, OPAQUE_XATTR, b"y").map_err(io_err(&parent))?;
            continue;
        }
        if let Some(hidden) = name_str
            .strip_prefix(WHITEOUT_PREFIX)
            .filter(|_| how.whiteouts)
        {
            // Other `.wh..wh.` names are AUFS bookkeeping, not whiteouts.
            if !hidden.starts_with(".wh.") {
                let target = parent.join(hidden);
                remove_existing(&target)?;
                make_node(&target, libc::S_IFCHR, 0).map_err(io_err(&target))?;
            }
            continue;
        }
        let target = parent.join(&name);
        if let Some(why) = (how.refuse)(&target) {
            return Err(unsafe_entry(&raw_name, &why));
        }
        let header = entry.header().clone();
        let kind = header.entry_type();
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        let mtime = header.mtime().unwrap_or(0);
        if how.keep_kinds {
            same_kind(&target, kind == tar::EntryType::Directory, &raw_name)?;
        }
        match kind {
            tar::EntryType::Directory => {
                let is_dir = fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir());
                if !is_dir {
                    remove_existing(&target)?;
                    fs::create_dir(&target).map_err(io_err(&target))?;
                }
                dir_times.push((target.clone(), mtime));
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                remove_existing(&target)?;
                let mut file = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&target)
                    .map_err(io_err(&target))?;
                stats.file_bytes += io::copy(&mut entry, &mut file).map_err(|e| {
                    if e.kind() == io::ErrorKind::UnexpectedEof {
                        UnpackError::Corrupt(format!("{raw_name}: file data is truncated"))
                    } else {
                        io_err(&target)(e)
                    }
                })?;
            }
            tar::EntryType::Symlink => {
                let link = link_name(&entry, &raw_name)?;
                remove_existing(&target)?;
                symlink(&link, &target).map_err(io_err(&target))?;
            }
            tar::EntryType::Link => {
                let link = link_name(&entry, &raw_name)?;
                let source_rel = relative_path(&link.to_string_lossy())?;
                let source_parent = real_parent(dest, &source_rel, &raw_name)?;
                let source = match source_rel.file_name() {
                    Some(n) => source_parent.join(n),
                    None => return Err(unsafe_entry(&raw_name, "hard link to the layer root")),
                };
                match fs::symlink_metadata(&source) {
                    Ok(m) if !m.is_dir() => {}
                    _ => {
                        return Err(unsafe_entry(
                            &raw_name,
                            "hard link to something not earlier in this layer",
                        ))
                    }
                }
                if source != target {
                    remove_existing(&target)?;
                    fs::hard_link(&source, &target).map_err(io_err(&target))?;
                }
                // A hard link shares its source's metadata.
                continue;
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                let (type_bits, dev) = match kind {
                    tar::EntryType::Char => (libc::S_IFCHR, device(&header)),
                    tar::EntryType::Block => (libc::S_IFBLK, device(&header)),
                    _ => (libc::S_IFIFO, 0),
                };
                remove_existing(&target)?;
                make_node(&target, type_bits, dev).map_err(io_err(&target))?;
            }
            other => {
                return Err(UnpackError::Corrupt(format!(
                    "{raw_name}: unsupported tar entry type {other:?}"
                )))
            }
        }
        let (uid, gid) = (how.owner)(
            header.uid().unwrap_or(0) as u32,
            header.gid().unwrap_or(0) as u32,
        );
        lchown(&target, Some(uid), Some(gid)).map_err(io_err(&target))?;
        if kind != tar::EntryType::Symlink {
            // After chown, which clears set-id bits.
            fs::set_permissions(&target, fs::Permissions::from_mode(mode))
                .map_err(io_err(&target))?;
        }
        if let Ok(Some(extensions)) = entry.pax_extensions() {
            for ext in extensions.flatten() {
                let Ok(key) = ext.key() else { continue };
                if let Some(attr) = key.strip_prefix(PAX_XATTR_PREFIX) {
                    set_xattr(&target, attr, ext.value_bytes()).map_err(io_err(&target))?;
                }
            }
        }
        if kind != tar::EntryType::Directory {
            set_mtime(&target, mtime).map_err(io_err(&target))?;
        }
    }
    // Whatever follows the end-of-archive blocks still counts for the hash.
    io::copy(archive.into_inner().by_ref(), &mut io::sink())
        .map_err(|e| UnpackError::Corrupt(e.to_string()))?;
    for (dir, mtime) in dir_times.iter().rev() {
        set_mtime(dir, *mtime).map_err(io_err(dir))?;
    }
    Ok(stats)
}

fn unsafe_entry(entry: &str, why: &str) -> UnpackError {
    UnpackError::Unsafe {
        entry: entry.to_string(),
        why: why.to_string(),
    }
}

/// The entry's path inside the layer: `.` and a leading `/` dropped, `..`
/// refused.
fn relative_path(name: &str) -> Result<PathBuf, UnpackError> {
    let mut rel = PathBuf::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(part) => rel.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(unsafe_entry(name, "the path leaves the layer ('..')"))
            }
        }
    }
    Ok(rel)
}

/// The directory an entry goes in, creating missing parents. Every parent
/// must be a real directory: following a symlink could lead anywhere.
fn real_parent(dest: &Path, rel: &Path, entry: &str) -> Result<PathBuf, UnpackError> {
    let mut dir = dest.to_path_buf();
    let Some(parent) = rel.parent() else {
        return Ok(dir);
    };
    for part in parent.components() {
        dir.push(part);
        match fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(unsafe_entry(
                    entry,
                    &format!(
                        "it is written through the symlink {}",
                        dir.strip_prefix(dest).unwrap_or(&dir).display()
                    ),
                ))
            }
            Ok(_) => {
                return Err(UnpackError::Corrupt(format!(
                    "{entry}: a parent is not a directory"
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&dir).map_err(io_err(&dir))?;
            }
            Err(e) => return Err(io_err(&dir)(e)),
        }
    }
    Ok(dir)
}

fn link_name<R: Read>(entry: &tar::Entry<R>, raw_name: &str) -> Result<PathBuf, UnpackError> {
    match entry.link_name() {
        Ok(Some(link)) => Ok(link.into_owned()),
        _ => Err(UnpackError::Corrupt(format!(
            "{raw_name}: link without a target"
        ))),
    }
}

/// docker's `noOverwriteDirNonDir`: an existing entry keeps its kind.
fn same_kind(target: &Path, dir_entry: bool, entry: &str) -> Result<(), UnpackError> {
    let Ok(existing) = fs::symlink_metadata(target) else {
        return Ok(());
    };
    match (existing.is_dir(), dir_entry) {
        (true, false) => Err(unsafe_entry(
            entry,
            "it would replace a directory with a non-directory",
        )),
        (false, true) => Err(unsafe_entry(
            entry,
            "it would replace a non-directory with a directory",
        )),
        _ => Ok(()),
    }
}

/// Clears the way for a new entry: a later entry replaces an earlier one.
fn remove_existing(target: &Path) -> Result<(), UnpackError> {
    match fs::symlink_metadata(target) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(target).map_err(io_err(target)),
        Ok(_) => fs::remove_file(target).map_err(io_err(target)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(target)(e)),
    }
}

fn device(header: &tar::Header) -> libc::dev_t {
    let major = header.device_major().ok().flatten().unwrap_or(0);
    let minor = header.device_minor().ok().flatten().unwrap_or(0);
    libc::makedev(major, minor)
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput.into())
}

fn make_node(path: &Path, type_bits: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
    let p = c_path(path)?;
    // SAFETY: `p` is a valid NUL-terminated path for the call's duration.
    let rc = unsafe { libc::mknod(p.as_ptr(), type_bits | 0o600, dev) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let (p, n) = (
        c_path(path)?,
        CString::new(name).map_err(|_| io::ErrorKind::InvalidInput)?,
    );
    // SAFETY: valid NUL-terminated path and name; value pointer and length
    // describe `value`.
    let rc = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr() as *const libc::c_void,
            value.len(),
            0,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets access and modification time, on a symlink itself rather than its
/// target.
fn set_mtime(path: &Path, secs: u64) -> io::Result<()> {
    let p = c_path(path)?;
    // SAFETY: timespec is plain data; zeroed is valid.
    let mut t: libc::timespec = unsafe { std::mem::zeroed() };
    t.tv_sec = secs.min(i64::MAX as u64) as _;
    let times = [t, t];
    // SAFETY: valid path and a two-element timespec array.
    let rc = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            p.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
