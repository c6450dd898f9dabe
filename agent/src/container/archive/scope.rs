//! Paths in a container's root resolved as the container would resolve
//! them: a symlink's target is followed inside the root (an absolute
//! target starts at the root, `..` stops there), never on the machine.
//! (Nothing in the container may change the tree meanwhile: a running
//! container is frozen while it is copied, see mod.rs.)

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Symlinks followed before giving up, as the kernel's ELOOP limit.
const MAX_LINKS: u32 = 40;

/// Where a requested path is, and what docker calls it.
#[derive(Debug, PartialEq, Eq)]
pub struct Located {
    /// Relative to the root; no symlink before its last component.
    pub resolved: PathBuf,
    /// The requested path's last component (`.` for `dir/.`, `/` for the
    /// root), the name its copy starts with.
    pub name: String,
}

/// docker's rules: the directory part is resolved in the root and the
/// last component taken as it is, unless the path ends in `/` or `/.`,
/// which follows it.
pub fn locate(root: &Path, path: &str) -> io::Result<Located> {
    let follow_last = path.ends_with('/') || path.ends_with("/.");
    let resolved = resolve(root, path, follow_last)?;
    let name = if path.ends_with("/.") {
        ".".to_string()
    } else {
        Path::new(path)
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
                _ => None,
            })
            .next_back()
            .filter(|_| !resolved.as_os_str().is_empty())
            .unwrap_or_else(|| "/".to_string())
    };
    Ok(Located { resolved, name })
}

/// The components to walk: names and `..`; `/` and `.` are dropped.
fn parts(path: &Path) -> impl DoubleEndedIterator<Item = OsString> + '_ {
    path.components().filter_map(|c| match c {
        Component::Normal(n) => Some(n.to_os_string()),
        Component::ParentDir => Some(OsString::from("..")),
        _ => None,
    })
}

/// `path` (a path in the container) resolved inside `root`, relative to
/// it. Its last component is followed only with `follow_last`; a missing
/// component ends the resolution (what is left is taken as it is).
pub fn resolve(root: &Path, path: &str, follow_last: bool) -> io::Result<PathBuf> {
    // Pending components, next one last.
    let mut pending: Vec<OsString> = parts(Path::new(path)).rev().collect();
    let mut resolved = PathBuf::new();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let candidate = resolved.join(&part);
        if pending.is_empty() && !follow_last {
            resolved = candidate;
            break;
        }
        let on_machine = root.join(&candidate);
        match fs::symlink_metadata(&on_machine) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = fs::read_link(&on_machine)?;
                if target.is_absolute() {
                    resolved = PathBuf::new();
                }
                pending.extend(parts(&target).rev());
            }
            _ => resolved = candidate,
        }
    }
    Ok(resolved)
}

/// Where a symlink at `link` (relative to the root) finally leads, as an
/// absolute path in the container (docker's `linkTarget`).
pub fn link_target(root: &Path, link: &Path) -> io::Result<String> {
    let resolved = resolve(root, &link.to_string_lossy(), true)?;
    Ok(format!("/{}", resolved.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    struct Root(PathBuf);

    impl Root {
        fn new() -> Root {
            use std::sync::atomic::{AtomicU32, Ordering};
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "hutch-scope-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(p.join("etc/app")).unwrap();
            fs::write(p.join("etc/app/conf"), b"x").unwrap();
            symlink("/etc/app", p.join("abs")).unwrap();
            symlink("etc/app", p.join("rel")).unwrap();
            symlink("../../../../..", p.join("etc/up")).unwrap();
            symlink("/", p.join("etc/top")).unwrap();
            symlink("loop", p.join("loop")).unwrap();
            Root(p)
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let r = Root::new();
        let at = |p: &str| resolve(&r.0, p, true).unwrap();
        assert_eq!(at("/abs/conf"), Path::new("etc/app/conf"));
        assert_eq!(at("/rel/conf"), Path::new("etc/app/conf"));
        assert_eq!(at("/etc/up/etc/passwd"), Path::new("etc/passwd"));
        assert_eq!(at("/etc/top"), Path::new(""));
        assert_eq!(at("/../../etc/app/../app/conf"), Path::new("etc/app/conf"));
        assert_eq!(at("/missing/deeper"), Path::new("missing/deeper"));
        assert_eq!(
            resolve(&r.0, "/loop", true).unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
    }

    #[test]
    fn the_last_component_is_followed_only_when_asked() {
        let r = Root::new();
        let plain = locate(&r.0, "/abs").unwrap();
        assert_eq!(plain.resolved, Path::new("abs"));
        assert_eq!(plain.name, "abs");
        let followed = locate(&r.0, "/abs/").unwrap();
        assert_eq!(followed.resolved, Path::new("etc/app"));
        assert_eq!(followed.name, "abs");
        let contents = locate(&r.0, "/abs/.").unwrap();
        assert_eq!(contents.resolved, Path::new("etc/app"));
        assert_eq!(contents.name, ".");
        assert_eq!(locate(&r.0, "/").unwrap().name, "/");
        assert_eq!(
            link_target(&r.0, Path::new("etc/up")).unwrap(),
            "/".to_string()
        );
        assert_eq!(link_target(&r.0, Path::new("rel")).unwrap(), "/etc/app");
    }
}
