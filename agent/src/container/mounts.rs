//! The container's file system view: OCI mounts under the new root, the
//! standard device nodes, masked and read-only paths. Every target is
//! resolved inside the root, so a symlink in an (untrusted) image cannot
//! send a mount outside it.

use crate::sys::mount::mount;
use oci_spec::runtime::{LinuxDeviceType, Mount, Spec};
use std::io;
use std::path::{Component, Path, PathBuf};

/// `path` (absolute, as seen inside the container) resolved under `root`,
/// following the image's symlinks as if `root` were `/`.
pub fn resolve_in(root: &Path, path: &Path) -> io::Result<PathBuf> {
    let mut resolved = PathBuf::from("/");
    let mut pending: Vec<PathBuf> = path
        .components()
        .rev()
        .map(|c| c.as_os_str().into())
        .collect();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match Path::new(&part).components().next() {
            None | Some(Component::RootDir) | Some(Component::CurDir) => continue,
            Some(Component::ParentDir) => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = resolved.join(&part);
        let on_disk = root.join(candidate.strip_prefix("/").unwrap_or(&candidate));
        match std::fs::read_link(&on_disk) {
            Ok(target) => {
                links += 1;
                if links > 40 {
                    return Err(io::Error::other(format!(
                        "too many symlinks in {}",
                        path.display()
                    )));
                }
                if target.is_absolute() {
                    resolved = PathBuf::from("/");
                }
                pending.extend(target.components().rev().map(|c| c.as_os_str().into()));
            }
            Err(_) => resolved = candidate,
        }
    }
    Ok(root.join(resolved.strip_prefix("/").unwrap_or(&resolved)))
}

struct Options {
    flags: libc::c_ulong,
    /// Propagation changes (private, slave, ...) are separate mount calls.
    propagation: libc::c_ulong,
    data: Vec<String>,
    bind: bool,
}

fn parse_options(options: &[String]) -> Options {
    let mut o = Options {
        flags: 0,
        propagation: 0,
        data: Vec::new(),
        bind: false,
    };
    for opt in options {
        let (set, clear): (libc::c_ulong, libc::c_ulong) = match opt.as_str() {
            "ro" => (libc::MS_RDONLY, 0),
            "rw" => (0, libc::MS_RDONLY),
            "nosuid" => (libc::MS_NOSUID, 0),
            "suid" => (0, libc::MS_NOSUID),
            "nodev" => (libc::MS_NODEV, 0),
            "dev" => (0, libc::MS_NODEV),
            "noexec" => (libc::MS_NOEXEC, 0),
            "exec" => (0, libc::MS_NOEXEC),
            "sync" => (libc::MS_SYNCHRONOUS, 0),
            "async" => (0, libc::MS_SYNCHRONOUS),
            "dirsync" => (libc::MS_DIRSYNC, 0),
            "noatime" => (libc::MS_NOATIME, 0),
            "atime" => (0, libc::MS_NOATIME),
            "nodiratime" => (libc::MS_NODIRATIME, 0),
            "diratime" => (0, libc::MS_NODIRATIME),
            "relatime" => (libc::MS_RELATIME, 0),
            "norelatime" => (0, libc::MS_RELATIME),
            "strictatime" => (libc::MS_STRICTATIME, 0),
            "nostrictatime" => (0, libc::MS_STRICTATIME),
            "bind" => {
                o.bind = true;
                (libc::MS_BIND, 0)
            }
            "rbind" => {
                o.bind = true;
                (libc::MS_BIND | libc::MS_REC, 0)
            }
            "private" => {
                o.propagation |= libc::MS_PRIVATE;
                (0, 0)
            }
            "rprivate" => {
                o.propagation |= libc::MS_PRIVATE | libc::MS_REC;
                (0, 0)
            }
            "slave" => {
                o.propagation |= libc::MS_SLAVE;
                (0, 0)
            }
            "rslave" => {
                o.propagation |= libc::MS_SLAVE | libc::MS_REC;
                (0, 0)
            }
            other => {
                o.data.push(other.to_string());
                (0, 0)
            }
        };
        o.flags = (o.flags | set) & !clear;
    }
    o
}

/// Whether the spec lets the container use every device (`--privileged`:
/// a device rule that allows all). Otherwise it has only the devices
/// hutch puts in its /dev: the guest kernel has no BPF for cgroup v2
/// device rules, so every other mount is `nodev` instead, and a node the
/// container makes (CAP_MKNOD) cannot be opened.
pub fn all_devices(spec: &Spec) -> bool {
    let linux = spec.linux().as_ref();
    let rules = linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().as_ref());
    rules.into_iter().flatten().any(|rule| {
        rule.allow()
            && rule.typ().is_none_or(|t| t == LinuxDeviceType::A)
            && rule.major().is_none()
            && rule.minor().is_none()
    })
}

/// Mounts one OCI mount under `root`; with `nodev`, no device node on it
/// can be opened (devpts, whose nodes are the container's ptys, aside).
pub fn mount_one(root: &Path, m: &Mount, nodev: bool) -> io::Result<()> {
    let target = resolve_in(root, m.destination())?;
    let mut o = parse_options(m.options().as_deref().unwrap_or_default());
    // The guest has only cgroup v2: a "cgroup" mount is the unified one.
    let fstype = match m.typ().as_deref().unwrap_or("none") {
        "cgroup" => "cgroup2",
        other => other,
    };
    if nodev && fstype != "devpts" {
        o.flags |= libc::MS_NODEV;
    }
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| fstype.to_string());
    let source_is_file = o.bind && Path::new(&source).is_file();
    if source_is_file {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        if !target.exists() {
            std::fs::write(&target, b"")?;
        }
    } else {
        std::fs::create_dir_all(&target)?;
    }
    let target_str = target.to_string_lossy();
    let data = o.data.join(",");
    if o.bind {
        mount(
            &source,
            &target_str,
            "",
            o.flags & (libc::MS_BIND | libc::MS_REC),
            "",
        )?;
        // Bind mounts take their other flags only on a remount.
        let rest = o.flags & !(libc::MS_BIND | libc::MS_REC);
        if rest != 0 {
            mount(
                "",
                &target_str,
                "",
                libc::MS_REMOUNT | libc::MS_BIND | rest,
                "",
            )?;
        }
    } else {
        mount(&source, &target_str, fstype, o.flags, &data)?;
    }
    if o.propagation != 0 {
        mount("", &target_str, "", o.propagation, "")?;
    }
    Ok(())
}

/// The device nodes every container gets (OCI's default devices) in the
/// container's /dev tmpfs, and the usual links. Each is the machine's own
/// node bound in: a bind mount keeps its source's device access even when
/// the /dev it sits in is `nodev`.
pub fn create_devices(root: &Path) -> io::Result<()> {
    let dev = resolve_in(root, Path::new("/dev"))?;
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
        let node = dev.join(name);
        if std::fs::symlink_metadata(&node).is_err() {
            std::fs::write(&node, b"")?;
        }
        mount(
            &format!("/dev/{name}"),
            &node.to_string_lossy(),
            "",
            libc::MS_BIND,
            "",
        )?;
    }
    for (link, target) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        let _ = std::os::unix::fs::symlink(target, dev.join(link));
    }
    Ok(())
}

/// Hides a path (after pivot_root): /dev/null over files, an empty
/// read-only tmpfs over directories. Missing paths are fine.
pub fn mask(path: &str) -> io::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => mount("tmpfs", path, "tmpfs", libc::MS_RDONLY, "size=0"),
        Ok(_) => mount("/dev/null", path, "", libc::MS_BIND, ""),
        Err(_) => Ok(()),
    }
}

/// Makes a path read-only (after pivot_root). Missing paths are fine.
pub fn read_only(path: &str) -> io::Result<()> {
    if std::fs::symlink_metadata(path).is_err() {
        return Ok(());
    }
    mount(path, path, "", libc::MS_BIND | libc::MS_REC, "")?;
    mount(
        "",
        path,
        "",
        libc::MS_REMOUNT
            | libc::MS_BIND
            | libc::MS_RDONLY
            | libc::MS_NOSUID
            | libc::MS_NODEV
            | libc::MS_NOEXEC,
        "",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let root = std::env::temp_dir().join(format!("hutch-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("real/dir")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", root.join("up")).unwrap();
        std::os::unix::fs::symlink("real/dir", root.join("rel")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(
            resolve_in(&root, Path::new("/abs/x")).unwrap(),
            root.join("etc/x")
        );
        assert_eq!(
            resolve_in(&root, Path::new("/up/passwd")).unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            resolve_in(&root, Path::new("/rel/y")).unwrap(),
            root.join("real/dir/y")
        );
        assert_eq!(
            resolve_in(&root, Path::new("/../../proc")).unwrap(),
            root.join("proc")
        );
        assert!(resolve_in(&root, Path::new("/loop")).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn options_split_into_flags_and_data() {
        let o = parse_options(&[
            "nosuid".into(),
            "ro".into(),
            "mode=755".into(),
            "size=65536k".into(),
            "rprivate".into(),
        ]);
        assert_eq!(o.flags, libc::MS_NOSUID | libc::MS_RDONLY);
        assert_eq!(o.data, ["mode=755", "size=65536k"]);
        assert_eq!(o.propagation, libc::MS_PRIVATE | libc::MS_REC);
        assert!(!o.bind);
        assert!(parse_options(&["rbind".into()]).bind);
    }
}
