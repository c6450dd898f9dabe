//! What PID 1 does before serving: the standard mounts, the hostname and the
//! loopback interface.

use crate::sys::console::{fatal, log};
use crate::sys::mount::{mount, unmount};
use crate::sys::net::loopback_up;
use std::io;

/// Set in the environment of the re-executed init, once the root is a tmpfs.
const SWITCHED_MARK: &str = "HUTCH_ROOT_SWITCHED";
const NEW_ROOT: &str = "/.root";

/// Moves the machine's root from the initramfs onto a tmpfs and re-executes
/// init there. pivot_root(2) refuses to move the initramfs, and containers
/// need pivot_root (a chroot can be escaped); this is what switch_root does.
pub fn leave_initramfs() {
    if std::env::var_os(SWITCHED_MARK).is_some() {
        return;
    }
    let switched = (|| -> io::Result<()> {
        mount("tmpfs", NEW_ROOT, "tmpfs", 0, "mode=0755")?;
        copy_tree(std::path::Path::new("/"), std::path::Path::new(NEW_ROOT))?;
        std::env::set_current_dir(NEW_ROOT)?;
        mount(".", "/", "", libc::MS_MOVE, "")?;
        std::os::unix::fs::chroot(".")?;
        std::env::set_current_dir("/")
    })();
    if let Err(e) = switched {
        log(&format!(
            "staying on the initramfs (containers cannot start): {e}"
        ));
        return;
    }
    use std::os::unix::process::CommandExt;
    let e = std::process::Command::new("/init")
        .env(SWITCHED_MARK, "1")
        .exec();
    fatal(&format!("re-executing init on the new root: {e}"));
}

/// Copies the initramfs's files (dirs, files, symlinks) into `to`.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if source == std::path::Path::new(NEW_ROOT) {
            continue;
        }
        let meta = std::fs::symlink_metadata(&source)?;
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
        } else if meta.is_dir() {
            std::fs::create_dir_all(&target)?;
            std::fs::set_permissions(
                &target,
                std::fs::Permissions::from_mode(meta.permissions().mode()),
            )?;
            copy_tree(&source, &target)?;
        } else if meta.is_file() {
            std::fs::copy(&source, &target)?;
        }
    }
    Ok(())
}

pub fn prepare_guest() {
    // (source, target, fstype, flags, data)
    let nosuid_nodev = libc::MS_NOSUID | libc::MS_NODEV;
    let mounts: &[(&str, &str, &str, libc::c_ulong, &str)] = &[
        ("proc", "/proc", "proc", nosuid_nodev | libc::MS_NOEXEC, ""),
        ("sysfs", "/sys", "sysfs", nosuid_nodev | libc::MS_NOEXEC, ""),
        ("devtmpfs", "/dev", "devtmpfs", libc::MS_NOSUID, "mode=0755"),
        (
            "devpts",
            "/dev/pts",
            "devpts",
            libc::MS_NOSUID | libc::MS_NOEXEC,
            "gid=5,mode=0620,ptmxmode=0666",
        ),
        ("shm", "/dev/shm", "tmpfs", nosuid_nodev, "mode=1777"),
        ("tmpfs", "/run", "tmpfs", nosuid_nodev, "mode=0755"),
        ("tmpfs", "/tmp", "tmpfs", nosuid_nodev, "mode=1777"),
        (
            "cgroup2",
            "/sys/fs/cgroup",
            "cgroup2",
            nosuid_nodev | libc::MS_NOEXEC,
            "nsdelegate",
        ),
    ];
    for (source, target, fstype, flags, data) in mounts {
        if let Err(e) = mount(source, target, fstype, *flags, data) {
            log(&format!("mount {fstype} on {target}: {e}"));
        }
    }
    let hostname = kernel_param("hutch.hostname").unwrap_or_else(|| "hutch".to_string());
    if let Err(e) = set_hostname(&hostname) {
        log(&format!("sethostname: {e}"));
    }
    if let Err(e) = loopback_up() {
        log(&format!("bringing up lo: {e}"));
    }
}

/// Unmounts image roots and the layer disk, innermost first, so the disk
/// is clean at power-off; what is still busy is detached.
fn unmount_data() {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let targets: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|t| t.starts_with("/run/hutch/") || *t == crate::layers::CACHE_ROOT)
        .collect();
    for target in targets.into_iter().rev() {
        if unmount(target, 0).is_err() {
            let _ = unmount(target, libc::MNT_DETACH);
        }
    }
}

/// `name=value` from the kernel command line.
pub fn kernel_param(name: &str) -> Option<String> {
    let cmdline = std::fs::read_to_string("/proc/cmdline").ok()?;
    let prefix = format!("{name}=");
    cmdline
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&prefix).map(str::to_string))
}

fn set_hostname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes.
    let rc = unsafe { libc::sethostname(name.as_ptr() as *const libc::c_char, name.len()) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Stops everything, flushes filesystems and resets the machine; the VMM
/// treats the reset as power-off.
pub fn power_off() -> ! {
    // SAFETY: signalling every process but ourselves; we are PID 1.
    unsafe { libc::kill(-1, libc::SIGTERM) };
    std::thread::sleep(std::time::Duration::from_millis(200));
    // SAFETY: as above.
    unsafe { libc::kill(-1, libc::SIGKILL) };
    // Unmounting flushes the layer disk; sync flushes the rest.
    unmount_data();
    // SAFETY: sync(2) has no preconditions.
    unsafe { libc::sync() };
    // SAFETY: reboot(2) as root; it only returns on failure.
    unsafe { libc::reboot(libc::RB_AUTOBOOT) };
    fatal("reboot failed")
}
