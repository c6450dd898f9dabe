//! A container's changes to its image's files, read from its overlay
//! upper directory: listed (docker's `diff`) or written as an OCI layer
//! tar (`commit`). A running container's processes are frozen meanwhile,
//! so nothing changes under the walk, and the walk never follows a
//! symlink: it reads the upper directory as the machine's root, and a
//! container's symlink must not lead it onto the machine.

use super::ids::IdMap;
use super::pack::{append_entry, send_data, sorted_entries};
use super::{Held, Record};
use crate::container::Container;
use crate::layers::whiteout::{is_opaque, is_whiteout, OPAQUE_MARKER, WHITEOUT_PREFIX};
use crate::sys::xattr;
use protocol::{
    write_frame, AgentError, ArchiveAction, Change, ChangeKind, Envelope, ErrorKind, PathStat,
    Response,
};
use std::collections::hash_map::{Entry, HashMap};
use std::fs::{self, Metadata};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const CAPABILITY_XATTR: &str = "security.capability";
/// How a tar carries an xattr (the unpacker reads it back).
const PAX_CAPABILITY: &str = "SCHILY.xattr.security.capability";

/// What the runtime puts in every container's root: mount points and
/// the files it writes. Like docker's init layer, they are neither
/// changes nor part of a committed image.
const RUNTIME_PATHS: [&str; 6] = [
    "dev",
    "proc",
    "sys",
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
];

fn is_runtime_path(name: &Path) -> bool {
    RUNTIME_PATHS.iter().any(|p| relative(name) == Path::new(p))
}

/// A directory (`/etc`) in the upper layer only because the runtime
/// wrote its files there: no change of the container's.
fn holds_only_runtime_paths(dir: &Path, name: &Path) -> bool {
    if !RUNTIME_PATHS
        .iter()
        .any(|p| Path::new(p).parent() == Some(relative(name)))
    {
        return false;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries
        .flatten()
        .all(|e| is_runtime_path(&name.join(e.file_name())))
}

/// What one entry of the upper directory says.
enum Found {
    /// Deleted from the image (an overlayfs whiteout).
    Deleted,
    /// A directory; opaque: it replaced the image's, hiding its contents.
    Dir { opaque: bool },
    /// A file, symlink or device node, added or changed.
    Other,
}

/// Calls `visit` for every entry under `dir` (named `rel` in the
/// container) but the runtime's, parents before children, each
/// directory's entries in name order.
fn walk(
    dir: &Path,
    rel: &Path,
    visit: &mut dyn FnMut(&Path, &Path, &Metadata, Found) -> io::Result<()>,
) -> io::Result<()> {
    for entry in sorted_entries(dir)? {
        let (path, name) = (entry.path(), rel.join(entry.file_name()));
        let meta = fs::symlink_metadata(&path)?;
        if is_runtime_path(&name) || (meta.is_dir() && holds_only_runtime_paths(&path, &name)) {
            continue;
        }
        if is_whiteout(&meta) {
            visit(&path, &name, &meta, Found::Deleted)?;
        } else if meta.is_dir() {
            let opaque = is_opaque(&path);
            visit(&path, &name, &meta, Found::Dir { opaque })?;
            walk(&path, &name, visit)?;
        } else {
            visit(&path, &name, &meta, Found::Other)?;
        }
    }
    Ok(())
}

/// Whether `rel` exists in the image whose layer directories are `lowers`
/// (top first), as overlayfs would merge them: a whiteout or a
/// non-directory on the way hides it, and an opaque directory hides what
/// the layers below it have. Goes one component at a time, never through
/// a symlink.
fn in_image(lowers: &[PathBuf], rel: &Path) -> bool {
    let parts: Vec<_> = rel.components().collect();
    for lower in lowers {
        let mut at = lower.clone();
        let mut below_hidden = false;
        for (i, part) in parts.iter().enumerate() {
            at.push(part);
            let Ok(meta) = fs::symlink_metadata(&at) else {
                break;
            };
            if is_whiteout(&meta) {
                return false;
            }
            if i + 1 == parts.len() {
                return true;
            }
            if !meta.is_dir() {
                return false;
            }
            below_hidden |= is_opaque(&at);
        }
        if below_hidden {
            return false;
        }
    }
    false
}

impl Container {
    /// The upper directory held for reading: the container counted as
    /// copied (start, stop and exec wait), a running one frozen.
    fn hold_upper(&self, asked_as: &str) -> Result<(Held<'_>, Record, PathBuf), AgentError> {
        let mut held = self.hold(asked_as)?;
        let record = self.lock().clone();
        if record.info.pid.is_some() {
            held.freeze(&record)?;
        }
        // Made at the first start: a container never started changed nothing.
        let upper = self.dir.join("upper");
        fs::create_dir_all(&upper).map_err(|e| reading_error(&record, e))?;
        Ok((held, record, upper))
    }

    /// Sends what the upper directory holds on `conn`, `action` saying
    /// how: as an OCI layer tar ([`ArchiveAction::Layer`]) or as docker's
    /// change list ([`ArchiveAction::Changes`]).
    pub(super) fn send_upper(
        &self,
        asked_as: &str,
        action: &ArchiveAction,
        conn: &mut fs::File,
    ) -> Result<(), AgentError> {
        let (held, record, upper) = self.hold_upper(asked_as)?;
        let lowers: Vec<PathBuf> = self
            .cache
            .lower_dirs(&record.diff_ids)?
            .into_iter()
            .map(PathBuf::from)
            .collect();
        let meta = fs::metadata(&upper).map_err(|e| reading_error(&record, e))?;
        let stat = PathStat {
            name: "/".into(),
            size: meta.len(),
            mode: meta.mode(),
            mtime_s: meta.mtime(),
            link_target: String::new(),
        };
        let _ = write_frame(
            conn,
            &Envelope {
                id: 0,
                body: Response::PathStat(stat),
            },
        );
        let ids = IdMap::of(&record.spec);
        send_data(
            conn,
            "reading the container's changes",
            |out| match action {
                ArchiveAction::Changes => write_changes(&upper, &lowers, out),
                _ => write_layer(&upper, &ids, out),
            },
        );
        drop(held);
        Ok(())
    }
}

/// What the container added, changed and deleted, as docker's `diff`
/// lists it, one JSON [`Change`] a line: every path under the upper
/// directory, judged against the image's layers `lowers` (top first).
fn write_changes(upper: &Path, lowers: &[PathBuf], out: &mut dyn Write) -> io::Result<()> {
    // Paths under an opaque directory are new whatever the image had.
    let mut opaque_dirs: Vec<PathBuf> = Vec::new();
    walk(upper, Path::new("/"), &mut |_, name, _, found| {
        let replaced = opaque_dirs.iter().any(|d| name.starts_with(d));
        let kind = match found {
            Found::Deleted => ChangeKind::Deleted,
            _ if !replaced && in_image(lowers, relative(name)) => ChangeKind::Changed,
            _ => ChangeKind::Added,
        };
        if let Found::Dir { opaque: true } = found {
            opaque_dirs.push(name.to_path_buf());
        }
        let change = Change {
            path: name.to_string_lossy().into_owned(),
            kind,
        };
        serde_json::to_writer(&mut *out, &change)?;
        out.write_all(b"\n")
    })?;
    out.flush()
}

/// The upper directory `upper` as an OCI layer: whiteouts become `.wh.`
/// files, opaque directories get `.wh..wh..opq`; owners are the
/// container's.
fn write_layer(upper: &Path, ids: &IdMap, out: &mut dyn Write) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    // Files linked more than once: the first name each was written as.
    let mut first_names: HashMap<(u64, u64), PathBuf> = HashMap::new();
    walk(
        upper,
        Path::new(""),
        &mut |path, name, meta, found| match found {
            Found::Deleted => {
                let file_name = name.file_name().unwrap_or_default().to_string_lossy();
                let marker = name.with_file_name(format!("{WHITEOUT_PREFIX}{file_name}"));
                append_marker(&mut builder, &marker, meta)
            }
            Found::Dir { opaque } => {
                append_entry(&mut builder, path, meta, name, ids)?;
                match opaque {
                    true => append_marker(&mut builder, &name.join(OPAQUE_MARKER), meta),
                    false => Ok(()),
                }
            }
            Found::Other => {
                if meta.is_file() && meta.nlink() > 1 {
                    match first_names.entry((meta.dev(), meta.ino())) {
                        Entry::Occupied(first) => {
                            return append_hard_link(&mut builder, name, first.get());
                        }
                        Entry::Vacant(slot) => {
                            slot.insert(name.to_path_buf());
                        }
                    }
                }
                // File capabilities (ping's, say) survive a copy-up: keep them.
                if let Some(caps) = xattr::get(path, CAPABILITY_XATTR) {
                    builder.append_pax_extensions([(PAX_CAPABILITY, &caps[..])])?;
                }
                append_entry(&mut builder, path, meta, name, ids)
            }
        },
    )?;
    builder.into_inner()?.flush()
}

/// `name` as another name of the file written as `first`.
fn append_hard_link<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &Path,
    first: &Path,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Link);
    header.set_size(0);
    builder.append_link(&mut header, name, first)
}

/// An empty file that marks a deletion, as OCI layers have them.
fn append_marker<W: Write>(
    builder: &mut tar::Builder<W>,
    name: &Path,
    meta: &Metadata,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o600);
    header.set_size(0);
    header.set_mtime(meta.mtime().max(0) as u64);
    builder.append_data(&mut header, name, io::empty())
}

fn relative(name: &Path) -> &Path {
    name.strip_prefix("/").unwrap_or(name)
}

fn reading_error(record: &Record, e: io::Error) -> AgentError {
    AgentError::new(
        ErrorKind::Storage,
        format!("reading the changes of container {}: {e}", record.info.name),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("hutch-layer-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn c_path(path: &Path) -> std::ffi::CString {
        std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap()
    }

    /// The names in the layer `write_layer` makes of `upper`.
    fn layer_of(upper: &Path) -> Vec<String> {
        let mut tar_bytes = Vec::new();
        write_layer(upper, &IdMap::default(), &mut tar_bytes).unwrap();
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    /// An overlayfs whiteout at `path`, as the kernel leaves one.
    fn whiteout(path: &Path) {
        let path = c_path(path);
        // SAFETY: a valid NUL-terminated path; a 0/0 character device.
        let made = unsafe { libc::mknod(path.as_ptr(), libc::S_IFCHR | 0o600, 0) };
        assert_eq!(made, 0);
    }

    #[test]
    fn an_upper_directory_becomes_an_oci_layer() {
        let upper = scratch("upper");
        fs::write(upper.join("added"), "new").unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::create_dir_all(upper.join("proc")).unwrap();
        fs::write(upper.join("etc/hosts"), "127.0.0.1 localhost").unwrap();
        fs::write(upper.join("etc/changed"), "v2").unwrap();
        whiteout(&upper.join("gone"));
        fs::create_dir_all(upper.join("opq")).unwrap();
        fs::write(upper.join("opq/only"), "").unwrap();
        fs::hard_link(upper.join("added"), upper.join("etc/linked")).unwrap();
        let (dir, name, value) = (c_path(&upper.join("opq")), c"trusted.overlay.opaque", b"y");
        // SAFETY: valid NUL-terminated path and name; the value's pointer
        // and length describe `value`.
        let set =
            unsafe { libc::lsetxattr(dir.as_ptr(), name.as_ptr(), value.as_ptr().cast(), 1, 0) };
        assert_eq!(set, 0, "{}", io::Error::last_os_error());
        let entries = layer_of(&upper);
        assert_eq!(
            entries,
            [
                "added",
                "etc",
                "etc/changed",
                "etc/linked",
                ".wh.gone",
                "opq",
                "opq/.wh..wh..opq",
                "opq/only"
            ]
        );
        // The second name of a file is a link to the first, not a copy.
        let mut tar_bytes = Vec::new();
        write_layer(&upper, &IdMap::default(), &mut tar_bytes).unwrap();
        let mut archive = tar::Archive::new(&tar_bytes[..]);
        let linked = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap() == Path::new("etc/linked"))
            .unwrap();
        assert_eq!(linked.header().entry_type(), tar::EntryType::Link);
        assert_eq!(linked.link_name().unwrap().unwrap(), Path::new("added"));
        fs::remove_dir_all(&upper).unwrap();
    }

    #[test]
    fn the_runtimes_own_files_are_no_changes() {
        let upper = scratch("runtime");
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::create_dir_all(upper.join("dev")).unwrap();
        for name in ["etc/hosts", "etc/hostname", "etc/resolv.conf"] {
            fs::write(upper.join(name), "written at start").unwrap();
        }
        let left = layer_of(&upper);
        assert!(left.is_empty(), "{left:?}");
        // Once the container changes something else in /etc, /etc shows.
        fs::write(upper.join("etc/motd"), "hi").unwrap();
        let names = layer_of(&upper);
        assert_eq!(names, ["etc", "etc/motd"]);
        fs::remove_dir_all(&upper).unwrap();
    }

    #[test]
    fn the_image_is_what_the_top_layer_shows() {
        let root = scratch("image");
        let (top, bottom) = (root.join("top"), root.join("bottom"));
        fs::create_dir_all(bottom.join("etc/conf.d")).unwrap();
        fs::write(bottom.join("etc/conf.d/a"), "a").unwrap();
        fs::write(bottom.join("etc/hosts"), "h").unwrap();
        fs::create_dir_all(top.join("etc")).unwrap();
        // A symlink in a layer is never gone through.
        std::os::unix::fs::symlink("/", top.join("link")).unwrap();
        let lowers = [top.clone(), bottom.clone()];
        assert!(in_image(&lowers, Path::new("etc/hosts")));
        assert!(in_image(&lowers, Path::new("etc/conf.d/a")));
        assert!(!in_image(&lowers, Path::new("etc/missing")));
        assert!(in_image(&lowers, Path::new("link")));
        assert!(!in_image(&lowers, Path::new("link/etc")));
        // A whiteout in the top layer deletes the bottom's file.
        whiteout(&top.join("etc/hosts"));
        assert!(!in_image(&lowers, Path::new("etc/hosts")));
        fs::remove_dir_all(&root).unwrap();
    }
}
