//! Terminals for `-t`: a pseudo-terminal pair from the machine's devpts.
//! The process gets the replica as its stdio and controlling terminal; the
//! agent keeps the controller, copies the client's stdin into it and its
//! output out, and resizes it when the client's window changes.

use crate::sys::process::last_error;
use crate::sys::vsock::VsockStream;
use protocol::{AgentError, ErrorKind};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

pub struct Pty {
    pub controller: OwnedFd,
    pub replica: OwnedFd,
}

impl Pty {
    pub fn open() -> Result<Pty, AgentError> {
        // SAFETY: opening the devpts multiplexer; the result is checked.
        let controller =
            unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
        if controller < 0 {
            return Err(last_error("opening a terminal (/dev/ptmx)"));
        }
        // SAFETY: a fresh fd owned by nobody else.
        let controller = unsafe { OwnedFd::from_raw_fd(controller) };
        let mut number: libc::c_uint = 0;
        // SAFETY: TIOCGPTN writes the replica's number into a valid c_uint;
        // TIOCSPTLCK reads a valid c_int (0 = unlock).
        let unlocked = unsafe {
            libc::ioctl(controller.as_raw_fd(), libc::TIOCGPTN, &mut number) == 0
                && libc::ioctl(controller.as_raw_fd(), libc::TIOCSPTLCK, &0 as *const i32) == 0
        };
        if !unlocked {
            return Err(last_error("unlocking the terminal"));
        }
        let replica = File::options()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(format!("/dev/pts/{number}"))
            .map_err(|e| {
                AgentError::new(ErrorKind::Internal, format!("opening the terminal: {e}"))
            })?;
        Ok(Pty {
            controller,
            replica: replica.into(),
        })
    }
}

/// Sets the terminal's window size (the foreground process gets SIGWINCH).
pub fn resize(controller: &OwnedFd, rows: u16, cols: u16) -> Result<(), AgentError> {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one valid winsize.
    if unsafe { libc::ioctl(controller.as_raw_fd(), libc::TIOCSWINSZ, &size) } < 0 {
        return Err(last_error("resizing the terminal"));
    }
    Ok(())
}

/// Copies what the client types into the terminal (`controller`, a copy of
/// the controller's fd), on a thread, until the client's stream ends.
/// Ctrl-C arrives as a byte; the terminal's line discipline turns it into
/// SIGINT for the foreground process.
pub fn feed(controller: OwnedFd, mut stdin: VsockStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut stdin, &mut File::from(controller));
    });
}
