//! The build context on the host: the sources COPY and ADD name, picked
//! (globs too) within it and past `.dockerignore`, their content hash for
//! the cache, and the tar of what a copy places.

use super::ignore::Ignore;
use crate::image::ImageError;
use globset::GlobBuilder;
use sha2::{Digest as _, Sha256};
use std::fs::Metadata;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub struct Context {
    /// None for a Dockerfile read from stdin: nothing to copy.
    root: Option<PathBuf>,
    ignore: Ignore,
}

/// A source in the context.
pub struct Picked {
    /// Relative to the context root, `/`-separated (empty for the root).
    pub rel: String,
    pub path: PathBuf,
    pub is_dir: bool,
    /// A tar whose contents ADD unpacks (see `copy`), rather than the file.
    pub unpack: bool,
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> ImageError {
    ImageError::io(what)
}

fn is_glob(source: &str) -> bool {
    source.contains(['*', '?', '['])
}

impl Context {
    pub fn open(root: Option<PathBuf>) -> Result<Context, ImageError> {
        let ignore = match &root {
            Some(root) => Ignore::read(root)?,
            None => Ignore::parse("")?,
        };
        Ok(Context { root, ignore })
    }

    /// What `source` names: one path, or every path a glob matches.
    pub fn pick(&self, source: &str) -> Result<Vec<Picked>, ImageError> {
        let root = self.root.as_deref().ok_or_else(|| {
            ImageError::Invalid(format!(
                "COPY {source}: there is no build context to copy from; give a directory rather than '-'"
            ))
        })?;
        let rel = clean(source).ok_or_else(|| {
            ImageError::Invalid(format!(
                "COPY {source}: the path is outside the build context; copy only what is in it"
            ))
        })?;
        let missing = || {
            ImageError::Invalid(format!(
                "COPY failed: file not found in build context or excluded by .dockerignore: {source}"
            ))
        };
        if !is_glob(&rel) {
            if !rel.is_empty() && self.ignore.excludes(&rel) {
                return Err(missing());
            }
            return Ok(vec![picked_at(root, rel).ok_or_else(missing)?]);
        }
        let glob = GlobBuilder::new(&rel)
            .literal_separator(true)
            .build()
            .map_err(|e| ImageError::Invalid(format!("COPY {source}: {e}")))?
            .compile_matcher();
        let picked: Vec<Picked> = self
            .walk(root, "")?
            .into_iter()
            .filter(|(rel, _, _)| glob.is_match(rel))
            .filter_map(|(rel, _, _)| picked_at(root, rel))
            .collect();
        match picked.is_empty() {
            true => Err(missing()),
            false => Ok(picked),
        }
    }

    /// Everything under directory `dir` (context-relative `rel`) that
    /// `.dockerignore` lets through, parents first, sorted: each with its
    /// name under `dir`.
    pub fn walk(
        &self,
        dir: &Path,
        rel: &str,
    ) -> Result<Vec<(String, PathBuf, Metadata)>, ImageError> {
        let mut found = Vec::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(io(format!("reading {}", dir.display())))?
            .collect::<Result<_, _>>()
            .map_err(io(format!("reading {}", dir.display())))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let in_context = join(rel, &name);
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path)
                .map_err(io(format!("reading {}", path.display())))?;
            let excluded = self.ignore.excludes(&in_context);
            if meta.is_dir() && (!excluded || self.ignore.has_exceptions()) {
                let under = self.walk(&path, &in_context)?;
                if !excluded || !under.is_empty() {
                    found.push((in_context, path, meta));
                }
                found.extend(under);
            } else if !excluded {
                found.push((in_context, path, meta));
            }
        }
        Ok(found)
    }

    /// A hash of what `picked` holds (names, kinds, modes, contents and
    /// link targets; not times or owners): the cache's key for a copy.
    pub fn hash(&self, picked: &[Picked]) -> Result<String, ImageError> {
        let mut hasher = Sha256::new();
        for source in picked {
            let meta = std::fs::metadata(&source.path)
                .map_err(io(format!("reading {}", source.path.display())))?;
            hash_entry(&mut hasher, &source.rel, &source.path, &meta)?;
            if source.is_dir {
                for (rel, path, meta) in self.walk(&source.path, &source.rel)? {
                    hash_entry(&mut hasher, &rel, &path, &meta)?;
                }
            }
        }
        Ok(hex::encode(hasher.finalize()))
    }
}

/// The source at `rel`, its symlinks followed inside the context; none
/// if nothing is there.
fn picked_at(root: &Path, rel: String) -> Option<Picked> {
    let path = resolve(root, &rel)?;
    let meta = std::fs::metadata(&path).ok()?;
    Some(Picked {
        rel,
        path,
        is_dir: meta.is_dir(),
        unpack: false,
    })
}

/// Symlinks a path may pass before it is taken for a loop.
const MAX_LINKS: usize = 40;

/// `rel` under `root` with every symlink on the way followed as if `root`
/// were `/` (docker's FollowSymlinkInScope): no link leads out of the
/// context, whatever it points at. None for a loop.
fn resolve(root: &Path, rel: &str) -> Option<PathBuf> {
    let mut resolved: Vec<String> = Vec::new();
    let mut pending: std::collections::VecDeque<String> =
        rel.split('/').map(str::to_string).collect();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = root.join(resolved.join("/")).join(&part);
        match std::fs::symlink_metadata(&candidate) {
            Ok(meta) if meta.is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                let target = std::fs::read_link(&candidate).ok()?;
                let target = target.to_string_lossy();
                if target.starts_with('/') {
                    resolved.clear();
                }
                let rest: Vec<String> = pending.drain(..).collect();
                pending.extend(target.split('/').map(str::to_string));
                pending.extend(rest);
            }
            _ => resolved.push(part),
        }
    }
    Some(root.join(resolved.join("/")))
}

fn hash_entry(
    hasher: &mut Sha256,
    rel: &str,
    path: &Path,
    meta: &Metadata,
) -> Result<(), ImageError> {
    hasher.update(format!("{rel}\0{:o}\0", meta.mode()).as_bytes());
    if meta.is_file() {
        let mut file =
            std::fs::File::open(path).map_err(io(format!("reading {}", path.display())))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file
                .read(&mut buf)
                .map_err(io(format!("reading {}", path.display())))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
    } else if meta.is_symlink() {
        let target = std::fs::read_link(path).map_err(io(format!("reading {}", path.display())))?;
        hasher.update(target.as_os_str().as_encoded_bytes());
    }
    hasher.update(b"\0");
    Ok(())
}

/// `name` under `/`-separated `dir` (itself when `dir` is empty).
pub fn join(dir: &str, name: &str) -> String {
    match dir.is_empty() {
        true => name.to_string(),
        false => format!("{dir}/{name}"),
    }
}

/// Unpacks a build context sent as a tar (compressed or not, as the
/// Engine API's `/build` takes it) into `dir`. The tar crate keeps every
/// entry inside `dir`.
pub fn unpack_context(input: impl Read, dir: &Path) -> Result<(), ImageError> {
    let input = protocol::compression::decompressed(input)
        .map_err(ImageError::io("reading the build context"))?;
    let mut archive = tar::Archive::new(Completed {
        input,
        read: 0,
        zeros: None,
    });
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    archive.unpack(dir).map_err(ImageError::io(
        "unpacking the build context (a tar is expected)",
    ))
}

/// A tar as docker's CLI sends it with `-f -`: its last entry unpadded
/// and no end-of-archive blocks (Go's reader takes that; the tar crate
/// wants whole blocks). At the end of the input come the zeros that
/// complete it; after a whole archive they are never read.
struct Completed<R> {
    input: R,
    read: u64,
    /// Zeros still to give once the input has ended.
    zeros: Option<u64>,
}

impl<R: Read> Read for Completed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.zeros.is_none() {
            let n = self.input.read(buf)?;
            if n > 0 || buf.is_empty() {
                self.read += n as u64;
                return Ok(n);
            }
            self.zeros = Some((512 - self.read % 512) % 512 + 1024);
        }
        let left = self.zeros.as_mut().expect("set above");
        let n = buf.len().min(*left as usize);
        buf[..n].fill(0);
        *left -= n as u64;
        Ok(n)
    }
}

/// `path`'s components with `.` dropped and each `..` taking back the
/// one before; and whether some `..` would have gone above the start.
pub fn normal_parts(path: &str) -> (Vec<&str>, bool) {
    let mut parts: Vec<&str> = Vec::new();
    let mut escaped = false;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => escaped |= parts.pop().is_none(),
            part => parts.push(part),
        }
    }
    (parts, escaped)
}

/// `path` in the image as an absolute, clean path (relative to `workdir`;
/// `..` stops at `/`, as docker's path joining does).
pub fn absolute(workdir: &str, path: &str) -> String {
    let joined = match path.starts_with('/') {
        true => path.to_string(),
        false => format!("{workdir}/{path}"),
    };
    format!("/{}", normal_parts(&joined).0.join("/"))
}

/// A relative `/`-separated path without `.` components; none if `..`
/// would leave the root.
pub fn clean(path: &str) -> Option<String> {
    let (parts, escaped) = normal_parts(path);
    (!escaped).then(|| parts.join("/"))
}

/// Who owns and what mode has everything a copy places (`--chown`,
/// `--chmod`); none keeps the source's.
#[derive(Clone, Copy, Default)]
pub struct Stamp {
    pub owner: Option<(u64, u64)>,
    pub mode: Option<u32>,
}

/// How a tar's entry is named in a copy (none leaves it out).
pub type Rename = Box<dyn Fn(&str) -> Option<String> + Send>;

/// One thing a copy places, named relative to the directory the tar is
/// unpacked in.
pub enum Item {
    /// A directory the copy makes (a missing parent of its destination).
    NewDir { name: String },
    /// A file, directory (itself, not its contents) or symlink on the host.
    Host { name: String, path: PathBuf },
    /// A tar's entries, each renamed by `rename` (none drops it).
    Tar {
        tar: TarSource,
        rename: Rename,
        /// Keep the tar's owners (ADD of an archive) unless stamped.
        keep_owners: bool,
    },
}

/// Where a tar comes from.
pub enum TarSource {
    /// An archive file, compressed or not (ADD).
    File(PathBuf),
    /// A tar read out of a container (COPY --from).
    Bytes(Vec<u8>),
}

impl TarSource {
    fn open(self) -> std::io::Result<Box<dyn Read>> {
        match self {
            TarSource::File(path) => {
                protocol::compression::decompressed(std::fs::File::open(path)?)
            }
            TarSource::Bytes(bytes) => Ok(Box::new(std::io::Cursor::new(bytes))),
        }
    }
}

/// Writes `items` as one tar to `out`.
pub fn write_tar(out: impl Write, items: Vec<Item>, stamp: Stamp) -> std::io::Result<()> {
    let mut tar = tar::Builder::new(out);
    let owner = stamp.owner.unwrap_or((0, 0));
    for item in items {
        match item {
            Item::NewDir { name } => {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_uid(owner.0);
                header.set_gid(owner.1);
                header.set_mtime(0);
                header.set_size(0);
                tar.append_data(&mut header, &name, std::io::empty())?;
            }
            Item::Host { name, path } => {
                let meta = std::fs::symlink_metadata(&path)?;
                let mut header = tar::Header::new_gnu();
                header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
                header.set_uid(owner.0);
                header.set_gid(owner.1);
                let mode = meta.permissions().mode() & 0o7777;
                header.set_mode(stamp.mode.unwrap_or(mode));
                if meta.is_symlink() {
                    header.set_mode(0o777);
                    tar.append_link(&mut header, &name, std::fs::read_link(&path)?)?;
                } else if meta.is_file() {
                    tar.append_data(&mut header, &name, std::fs::File::open(&path)?)?;
                } else if meta.is_dir() {
                    header.set_size(0);
                    tar.append_data(&mut header, &name, std::io::empty())?;
                }
                // Sockets, fifos and devices in a context are not copied.
            }
            Item::Tar {
                tar: input,
                rename,
                keep_owners,
            } => {
                let mut archive = tar::Archive::new(input.open()?);
                for entry in archive.entries()? {
                    let mut entry = entry?;
                    let original = entry.path()?.to_string_lossy().into_owned();
                    let Some(name) = rename(&original) else {
                        continue;
                    };
                    let mut header = entry.header().clone();
                    if stamp.owner.is_some() || !keep_owners {
                        header.set_uid(owner.0);
                        header.set_gid(owner.1);
                    }
                    if let Some(mode) = stamp.mode {
                        header.set_mode(mode);
                    }
                    let kind = header.entry_type();
                    if kind.is_symlink() || kind.is_hard_link() {
                        let target = entry
                            .link_name()?
                            .map(|t| t.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        // A hard link names another entry, renamed alike.
                        let target = match kind.is_hard_link() {
                            true => rename(&target).unwrap_or(target),
                            false => target,
                        };
                        tar.append_link(&mut header, &name, target)?;
                    } else {
                        tar.append_data(&mut header, &name, &mut entry)?;
                    }
                }
            }
        }
    }
    tar.into_inner()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_tar_cut_after_its_last_data_unpacks() {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(5);
        header.set_mode(0o644);
        tar.append_data(&mut header, "Dockerfile", &b"FROM "[..])
            .unwrap();
        let mut bytes = tar.into_inner().unwrap();
        // As docker's CLI sends it: no padding after the data, no end.
        bytes.truncate(512 + 5);
        let dir = std::env::temp_dir().join(format!("hutch-cut-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        unpack_context(bytes.as_slice(), &dir).unwrap();
        assert_eq!(std::fs::read(dir.join("Dockerfile")).unwrap(), b"FROM ");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn sources_are_picked_within_the_context_past_dockerignore() {
        let root = std::env::temp_dir().join(format!("hutch-context-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        for (name, body) in [
            ("a.txt", "a"),
            ("b.txt", "b"),
            ("secret.txt", "s"),
            ("src/main.rs", "m"),
            ("src/deep/x.log", "x"),
        ] {
            std::fs::write(root.join(name), body).unwrap();
        }
        std::fs::write(root.join(".dockerignore"), "secret.txt\n**/*.log\n").unwrap();
        // Links lead where they would if the context were `/`.
        std::os::unix::fs::symlink("/etc", root.join("etc-link")).unwrap();
        std::os::unix::fs::symlink("../../a.txt", root.join("src/up")).unwrap();
        let context = Context::open(Some(root.clone())).unwrap();
        let names = |source: &str| -> Vec<String> {
            context
                .pick(source)
                .unwrap()
                .into_iter()
                .map(|p| p.rel)
                .collect()
        };
        assert_eq!(names("*.txt"), ["a.txt", "b.txt"]);
        assert_eq!(names("./src/"), ["src"]);
        let up = context.pick("src/up").unwrap();
        assert_eq!(up[0].path, root.join("a.txt"));
        assert!(
            context.pick("etc-link/passwd").is_err(),
            "no /etc/passwd in the context"
        );
        for bad in ["secret.txt", "nothing*", "../outside", "missing"] {
            assert!(context.pick(bad).is_err(), "{bad}");
        }
        let walked: Vec<String> = context
            .walk(&root.join("src"), "src")
            .unwrap()
            .into_iter()
            .map(|(rel, _, _)| rel)
            .collect();
        assert_eq!(walked, ["src/deep", "src/main.rs", "src/up"]);

        // The hash follows contents, not times.
        let before = context.hash(&context.pick("src").unwrap()).unwrap();
        std::fs::write(root.join("src/main.rs"), "m").unwrap();
        assert_eq!(context.hash(&context.pick("src").unwrap()).unwrap(), before);
        std::fs::write(root.join("src/main.rs"), "changed").unwrap();
        assert_ne!(context.hash(&context.pick("src").unwrap()).unwrap(), before);
        let _ = std::fs::remove_dir_all(root);
    }
}
