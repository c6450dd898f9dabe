//! A program run on a pseudo-terminal, driven as a person at a terminal
//! would: keys typed, the screen read, the window resized.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Terminal {
    controller: OwnedFd,
    keys: File,
    seen: Arc<Mutex<String>>,
    pub child: Child,
}

fn set_size(fd: &OwnedFd, rows: u16, cols: u16) {
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one valid winsize.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    assert_eq!(rc, 0);
}

/// A terminal pair: (controller, replica).
fn open_pty() -> (OwnedFd, OwnedFd) {
    let (mut controller, mut replica) = (0, 0);
    // SAFETY: openpty(3) fills two fds; the name and settings may be null.
    let rc = unsafe {
        libc::openpty(
            &mut controller,
            &mut replica,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: both fds are fresh and ours.
    unsafe {
        (
            OwnedFd::from_raw_fd(controller),
            OwnedFd::from_raw_fd(replica),
        )
    }
}

impl Terminal {
    /// Runs `cmd` with a `rows`×`cols` terminal as its controlling one.
    pub fn spawn(cmd: &mut Command, rows: u16, cols: u16) -> Terminal {
        let (controller, replica) = open_pty();
        set_size(&replica, rows, cols);
        cmd.stdin(replica.try_clone().unwrap())
            .stdout(replica.try_clone().unwrap())
            .stderr(replica.try_clone().unwrap());
        // SAFETY: between fork and exec only setsid(2) and ioctl(2), both
        // async-signal-safe: the program gets the pty as its controlling
        // terminal.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                libc::ioctl(0, libc::TIOCSCTTY, 0);
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        drop(replica);
        let seen = Arc::new(Mutex::new(String::new()));
        let mut reader = File::from(controller.try_clone().unwrap());
        let sink = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let keys = File::from(controller.try_clone().unwrap());
        Terminal {
            controller,
            keys,
            seen,
            child,
        }
    }

    pub fn type_in(&mut self, text: &str) {
        self.keys.write_all(text.as_bytes()).unwrap();
    }

    pub fn shows(&self, text: &str) -> bool {
        self.seen.lock().unwrap().contains(text)
    }

    /// Waits (a minute at most) for `text` on the screen.
    pub fn wait_for(&self, text: &str) {
        for _ in 0..600 {
            if self.shows(text) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "{text:?} never appeared in: {:?}",
            self.seen.lock().unwrap()
        );
    }

    /// The window changes size, and the program hears of it (SIGWINCH).
    pub fn resize(&self, rows: u16, cols: u16) {
        set_size(&self.controller, rows, cols);
        // SAFETY: kill(2) on our own child: its terminal changed size.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGWINCH) };
    }

    /// In a shell on this terminal: `sleep 1000` started, Ctrl-C typed once
    /// `ps` (the container's, through `ps`) shows it, and the shell still
    /// answering afterwards; then `exit 5`, the program's status.
    pub fn ctrl_c_spares_the_shell(&mut self, mut ps: impl FnMut() -> String) -> Option<i32> {
        self.type_in("sleep 1000\r");
        // Ctrl-C only once sleep runs, or it would reach the shell instead.
        crate::eventually("sleep starts", || ps().contains("sleep 1000"));
        self.type_in("\x03");
        self.type_in("echo after-$((2+2))\r");
        self.wait_for("after-4");
        self.type_in("exit 5\r");
        self.child.wait().unwrap().code()
    }
}
