//! Host changes under a running container's bind mounts, made visible in
//! the machine: the monitor reports them (see its watch.rs), and each
//! changed path gets its host times set here, which refreshes what the
//! guest kernel cached and wakes the container's inotify watchers.

use super::containing;
use crate::sys::console::log;
use crate::sys::vsock::VsockStream;
use std::path::Path;

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
