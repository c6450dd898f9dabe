//! `hutch run -it` driven through a pseudo-terminal, as a person at a
//! terminal would: what is typed is echoed, the window size reaches the
//! container and follows resizes, Ctrl-C interrupts the foreground
//! command and not the session.

use hutch_tests::{eventually, import_busybox, Hutch};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::sync::{Arc, Mutex};

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

#[test]
fn run_it_gives_a_real_terminal() {
    let h = Hutch::new("containers-tty");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");

    let (controller, replica) = open_pty();
    set_size(&replica, 30, 100);
    let mut cmd = h.cmd(&["run", "-it", "--rm", "--name", "term", "bb:1", "sh"]);
    cmd.stdin(replica.try_clone().unwrap())
        .stdout(replica.try_clone().unwrap())
        .stderr(replica.try_clone().unwrap());
    // SAFETY: between fork and exec only setsid(2) and ioctl(2), both
    // async-signal-safe: hutch gets the pty as its controlling terminal.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(replica);

    let seen = Arc::new(Mutex::new(String::new()));
    let mut reader = std::fs::File::from(controller.try_clone().unwrap());
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
    let mut keys = std::fs::File::from(controller.try_clone().unwrap());
    let mut type_in = |text: &str| keys.write_all(text.as_bytes()).unwrap();
    let shows = |text: &str| seen.lock().unwrap().contains(text);
    let wait_for = |text: &str| {
        for _ in 0..600 {
            if shows(text) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{text:?} never appeared in: {:?}", seen.lock().unwrap());
    };

    // Typed once the prompt shows (our side is raw by then): the
    // arithmetic shows the shell ran it, and the typed line itself can
    // only have been echoed by the container's terminal.
    wait_for("/ # ");
    type_in("echo sum-$((40+2))\r");
    wait_for("sum-42");
    assert!(shows("echo sum-$((40+2))"), "typing is echoed");
    type_in("stty size\r");
    wait_for("30 100");

    set_size(&controller, 40, 120);
    // SAFETY: kill(2) on our own child: the terminal changed size.
    unsafe { libc::kill(child.id() as i32, libc::SIGWINCH) };
    eventually("the resize arrives", || {
        type_in("stty size\r");
        std::thread::sleep(std::time::Duration::from_millis(200));
        shows("40 120")
    });

    type_in("sleep 1000\r");
    // Ctrl-C only once sleep runs, or it would reach the shell instead.
    eventually("sleep starts", || {
        h.ok(&["exec", "term", "ps"]).contains("sleep 1000")
    });
    type_in("\x03");
    type_in("echo after-$((2+2))\r");
    wait_for("after-4");

    type_in("exit 5\r");
    assert_eq!(child.wait().unwrap().code(), Some(5));
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn exec_it_and_refusals() {
    let h = Hutch::new("containers-tty-exec");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");

    // Without a terminal, -it is refused as docker does; -t alone works
    // and all output arrives on stdout.
    let out = h.run(&["run", "-it", "--rm", "bb:1", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a TTY"));
    let out = h.run(&[
        "run",
        "-t",
        "--rm",
        "bb:1",
        "sh",
        "-c",
        "echo out; echo err >&2; stty size",
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("out\r\nerr\r\n"), "{stdout:?}");
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("err"),
        "with a terminal, all output is on stdout"
    );

    h.ok(&["run", "-d", "--name", "box", "bb:1", "sleep", "1000"]);
    let out = h.run(&[
        "exec",
        "-t",
        "box",
        "sh",
        "-c",
        "test -t 0 && test -t 1 && echo tty",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "tty\r\n");
    let out = h.run(&["exec", "box", "sh", "-c", "test -t 1 || echo pipe"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pipe\n");
    h.ok(&["rm", "-f", "box"]);
}
