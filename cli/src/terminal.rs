//! The user's terminal: prompts that do not echo what is typed, raw mode
//! for a container's terminal, and the window's size.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, IsTerminal, Write};
use std::os::fd::AsRawFd;

/// Restores the terminal's settings when dropped, whatever happens between.
pub struct SavedMode {
    fd: i32,
    saved: libc::termios,
}

impl SavedMode {
    /// Applies `change` to `fd`'s terminal settings until the guard drops.
    fn change(fd: i32, change: impl FnOnce(&mut libc::termios)) -> std::io::Result<SavedMode> {
        // SAFETY: termios is plain data; tcgetattr fills it or fails.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: `saved` is a valid termios to write into.
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut changed = saved;
        change(&mut changed);
        // SAFETY: `changed` is a valid termios read from this terminal.
        // TCSADRAIN, not TCSAFLUSH: what was typed ahead is kept.
        if unsafe { libc::tcsetattr(fd, libc::TCSADRAIN, &changed) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(SavedMode { fd, saved })
    }
}

impl Drop for SavedMode {
    fn drop(&mut self) {
        // SAFETY: restores settings read from the same fd.
        unsafe { libc::tcsetattr(self.fd, libc::TCSADRAIN, &self.saved) };
    }
}

/// Puts the terminal on `fd` in raw mode (keys pass through unprocessed,
/// Ctrl-C included, for the container's own terminal to interpret) until
/// the guard drops.
pub fn raw_mode(fd: i32) -> std::io::Result<SavedMode> {
    // SAFETY: cfmakeraw edits a valid termios in place.
    SavedMode::change(fd, |t| unsafe { libc::cfmakeraw(t) })
}

/// The window size of the terminal on `fd`: (rows, columns).
pub fn window_size(fd: i32) -> Option<(u16, u16)> {
    // SAFETY: winsize is plain data that TIOCGWINSZ fills in.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize to a valid pointer.
    if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } != 0 || size.ws_row == 0 {
        return None;
    }
    Some((size.ws_row, size.ws_col))
}

/// Asks for a line on the terminal; `secret` turns echo off while typing.
pub fn prompt(question: &str, secret: bool) -> Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "cannot ask for {question:?}: standard input is not a terminal; give it as an option"
        );
    }
    let mut stderr = std::io::stderr();
    write!(stderr, "{question}: ")?;
    stderr.flush()?;
    let guard = if secret {
        Some(SavedMode::change(stdin.as_raw_fd(), |t| {
            t.c_lflag &= !libc::ECHO
        })?)
    } else {
        None
    };
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("reading the terminal")?;
    if guard.is_some() {
        // The user's Enter was not echoed.
        writeln!(stderr)?;
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
