//! `inotify-watch PATH`: prints one line per inotify event on PATH (a file
//! or directory), flushed at once, until killed; what a dev server's file
//! watcher does, for tests of host changes reaching containers.

use std::ffi::CString;
use std::io::Write;

fn main() {
    let path = std::env::args().nth(1).expect("usage: inotify-watch PATH");
    let name = CString::new(path.clone()).expect("a path without NUL bytes");
    // SAFETY: inotify_init1 has no preconditions.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    assert!(
        fd >= 0,
        "inotify_init1: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a valid inotify fd and a NUL-terminated path.
    let wd = unsafe { libc::inotify_add_watch(fd, name.as_ptr(), libc::IN_ALL_EVENTS) };
    assert!(
        wd >= 0,
        "watching {path}: {}",
        std::io::Error::last_os_error()
    );
    println!("watching {path}");
    let _ = std::io::stdout().flush();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: reading into a buffer we own, of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        let mut at = 0;
        while at + std::mem::size_of::<libc::inotify_event>() <= n as usize {
            // SAFETY: the kernel wrote whole events; read_unaligned copes with the buffer's alignment.
            let event: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(buf[at..].as_ptr().cast()) };
            println!("event mask={:#x}", event.mask);
            at += std::mem::size_of::<libc::inotify_event>() + event.len as usize;
        }
        let _ = std::io::stdout().flush();
    }
}
