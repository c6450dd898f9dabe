//! Host directories the machine mounts over virtio-fs, each at the same
//! path as on the host (`hutch.shares=TAG=PATH,...` on the kernel command
//! line, paths %-escaped). Containers bind-mount from them.

use crate::sys::console::log;
use crate::sys::mount::mount;
use crate::sys::vsock::VsockStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static MOUNTED: OnceLock<Vec<PathBuf>> = OnceLock::new();

/// Mounts every share the kernel command line names; once, at boot.
pub fn mount_all() {
    let mut mounted = Vec::new();
    for (tag, path) in crate::init::kernel_param("hutch.shares")
        .map(|list| parse(&list))
        .unwrap_or_default()
    {
        // Set-user-ID bits and device nodes on the host mean nothing here.
        let flags = libc::MS_NOSUID | libc::MS_NODEV;
        match mount(&tag, &path.to_string_lossy(), "virtiofs", flags, "") {
            Ok(()) => mounted.push(path),
            Err(e) => log(&format!("mounting share {} ({tag}): {e}", path.display())),
        }
    }
    let _ = MOUNTED.set(mounted);
}

/// The mounted share that holds `path`, if any.
pub fn containing(path: &Path) -> Option<&'static Path> {
    MOUNTED
        .get()?
        .iter()
        .find(|share| path.starts_with(share))
        .map(PathBuf::as_path)
}

/// For as long as process `pid` (a container's first process) lives,
/// hears from the host of changes under `dirs` (bind mount sources) and
/// sets each changed path's times here, in the machine, to the host's: the
/// guest kernel then refreshes what it cached and wakes the container's
/// inotify watchers (an attribute event; see the monitor's watch.rs).
pub fn watch_for(pid: i32, dirs: Vec<String>) {
    std::thread::spawn(move || {
        if let Err(e) = forward_changes(pid, dirs) {
            log(&format!("host file changes for process {pid}: {e}"));
        }
    });
}

fn forward_changes(pid: i32, dirs: Vec<String>) -> std::io::Result<()> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: pidfd_open(2) with no flags; the result is checked.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh fd that nothing else owns.
    let exited = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    let mut host = VsockStream::connect_host(protocol::WATCH_PORT)?;
    protocol::write_frame(&mut host, &protocol::WatchRequest { dirs }).map_err(to_io)?;
    loop {
        let mut fds = [
            libc::pollfd {
                fd: host.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: exited.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll(2) on two valid pollfds for the call's duration.
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if fds[1].revents != 0 {
            return Ok(()); // the container exited: closing tells the host
        }
        let Some(events) =
            protocol::read_frame::<protocol::WatchEvents, _>(&mut host).map_err(to_io)?
        else {
            return Ok(());
        };
        for change in &events.changed {
            if containing(Path::new(&change.path)).is_some() {
                touch(change);
            }
        }
    }
}

fn to_io(e: protocol::FrameError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Sets a path's times to the host's: no change there, but an attribute
/// event and fresh attributes (and, the modification time having moved,
/// fresh contents) in the machine.
fn touch(change: &protocol::HostChange) {
    let Ok(name) = std::ffi::CString::new(change.path.as_bytes()) else {
        return;
    };
    let times =
        [change.atime, change.mtime].map(|(tv_sec, tv_nsec)| libc::timespec { tv_sec, tv_nsec });
    // SAFETY: utimensat(2) with a valid path and two timespecs.
    unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            name.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
}

fn parse(list: &str) -> Vec<(String, PathBuf)> {
    list.split(',')
        .filter_map(|entry| {
            let (tag, path) = entry.split_once('=')?;
            let path = unescape(path)?;
            path.is_absolute().then(|| (tag.to_string(), path))
        })
        .collect()
}

fn unescape(text: &str) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_list_is_read_back() {
        assert_eq!(
            parse("hutch-share0=/home/a%20b,hutch-share1=/tmp/x%2Cy%22z,bad,t=relative"),
            vec![
                ("hutch-share0".into(), PathBuf::from("/home/a b")),
                ("hutch-share1".into(), PathBuf::from("/tmp/x,y\"z")),
            ]
        );
        assert_eq!(parse("t=/a%2"), vec![]);
    }
}
