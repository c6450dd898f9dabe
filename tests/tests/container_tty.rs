//! `hutch run -it` driven through a pseudo-terminal, as a person at a
//! terminal would: what is typed is echoed, the window size reaches the
//! container and follows resizes, Ctrl-C interrupts the foreground
//! command and not the session; `attach` joins a running container's
//! terminal and its detach keys leave it running.

use hutch_tests::pty::Terminal;
use hutch_tests::{eventually, import_busybox, Hutch};

#[test]
fn run_it_gives_a_real_terminal() {
    let h = Hutch::new("containers-tty");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");

    let mut cmd = h.cmd(&["run", "-it", "--rm", "--name", "term", "bb:1", "sh"]);
    let mut term = Terminal::spawn(&mut cmd, 30, 100);

    // Typed once the prompt shows (our side is raw by then): the
    // arithmetic shows the shell ran it, and the typed line itself can
    // only have been echoed by the container's terminal.
    term.wait_for("/ # ");
    term.type_in("echo sum-$((40+2))\r");
    term.wait_for("sum-42");
    assert!(term.shows("echo sum-$((40+2))"), "typing is echoed");
    term.type_in("stty size\r");
    term.wait_for("30 100");

    term.resize(40, 120);
    eventually("the resize arrives", || {
        term.type_in("stty size\r");
        std::thread::sleep(std::time::Duration::from_millis(200));
        term.shows("40 120")
    });

    let status = term.ctrl_c_spares_the_shell(|| h.ok(&["exec", "term", "ps"]));
    assert_eq!(status, Some(5));
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "");

    // attach joins a detached container's terminal: it takes our window
    // size and keys; Ctrl-P Ctrl-Q leaves it running (the shell keeps
    // what was typed), and a second attach ends it.
    h.ok(&["run", "-d", "-it", "--name", "held", "bb:1", "sh"]);
    let mut first = Terminal::spawn(&mut h.cmd(&["attach", "held"]), 24, 90);
    first.type_in("mark=kept\r");
    eventually("the attachment's window size arrives", || {
        first.type_in("stty size\r");
        std::thread::sleep(std::time::Duration::from_millis(200));
        first.shows("24 90")
    });
    first.type_in("\x10\x11");
    assert_eq!(first.child.wait().unwrap().code(), Some(0));
    assert_eq!(h.ok(&["ps", "-q"]).lines().count(), 1, "still running");
    let mut second = Terminal::spawn(&mut h.cmd(&["attach", "held"]), 24, 90);
    second.type_in("echo $mark-$((6*7)); exit 7\r");
    second.wait_for("kept-42");
    assert_eq!(second.child.wait().unwrap().code(), Some(7));
    h.ok(&["rm", "held"]);
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
