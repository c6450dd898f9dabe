//! End to end on the qemu backend: real machines, real guest kernel and
//! agent, our vsock device between them.

use hutch_tests::{process_gone, Hutch};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The deterministic 10 MiB stream both sides generate.
fn pattern(len: usize) -> Vec<u8> {
    b"abcdefghijklmnop\n"
        .iter()
        .copied()
        .cycle()
        .take(len)
        .collect()
}

#[test]
fn exec_in_a_running_machine() {
    let h = Hutch::new("exec");
    let m = h.start("m1");

    // uname shows the guest kernel, not the host's.
    let uname = h.exec_ok("m1", &["uname", "-a"]);
    assert!(uname.starts_with("Linux m1 6.1."), "uname: {uname}");
    let host_release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert!(
        !uname.contains(host_release.trim()),
        "uname shows the host kernel: {uname}"
    );

    // status tells backend, acceleration, vCPUs, memory and kernel.
    let status = h.ok(&["machine", "status", "--name", "m1"]);
    // Backend and devices come from the monitor's control socket, the rest
    // from the agent.
    for want in [
        "state:    running",
        "backend:  qemu",
        "cpus:     2",
        "kernel:   Linux 6.1.",
        "device:   vsock guest cid 3",
        "device:   block ",
    ] {
        assert!(status.contains(want), "status lacks {want:?}:\n{status}");
    }
    use std::os::unix::fs::PermissionsExt;
    let control = std::fs::metadata(h.machine_dir("m1").join("control.sock")).unwrap();
    assert_eq!(
        control.permissions().mode() & 0o777,
        0o600,
        "the control socket is private"
    );

    // 10 MiB of stdout, byte-exact.
    let want = pattern(10 << 20);
    let out = h.exec(
        "m1",
        &["sh", "-c", "yes abcdefghijklmnop | head -c 10485760"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout.len(), want.len());
    assert!(out.stdout == want, "10 MiB of stdout differ");

    // stdin is forwarded: 1 MiB through cat comes back intact, and EOF ends it.
    let input = pattern(1 << 20);
    let mut child = h
        .cmd(&["machine", "exec", "--name", "m1", "-i", "--", "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let feeder = {
        let input = input.clone();
        std::thread::spawn(move || stdin.write_all(&input).unwrap())
    };
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    assert!(out.status.success());
    assert!(out.stdout == input, "cat did not echo stdin back intact");

    // stderr is its own stream.
    let out = h.exec("m1", &["sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(stderr(&out), "err\n");

    // Environment and working directory.
    let out = h.ok(&[
        "machine",
        "exec",
        "--name",
        "m1",
        "-e",
        "GREETING=hi",
        "-w",
        "/tmp",
        "--",
        "sh",
        "-c",
        "echo $GREETING; pwd",
    ]);
    assert_eq!(out, "hi\n/tmp\n");

    // Exit codes.
    let out = h.exec("m1", &["sh", "-c", "exit 42"]);
    assert_eq!(out.status.code(), Some(42));
    let out = h.exec("m1", &["sh", "-c", "kill -9 $$"]);
    assert_eq!(out.status.code(), Some(128 + 9), "killed by SIGKILL → 137");
    let out = h.exec("m1", &["no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        stderr(&out).contains("no-such-command: executable file not found"),
        "{}",
        stderr(&out)
    );
    h.exec_ok("m1", &["sh", "-c", "echo data > /tmp/not-exec"]);
    let out = h.exec("m1", &["/tmp/not-exec"]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    let out = h.run(&[
        "machine", "exec", "--name", "m1", "-w", "/nope", "--", "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("/nope does not exist"),
        "{}",
        stderr(&out)
    );

    // Two execs at once both complete (each sleeps, so they overlap).
    let began = Instant::now();
    let spawn = |word: &str| {
        let script = format!("sleep 1; echo {word}");
        h.cmd(&["machine", "exec", "--name", "m1", "--", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn("a"), spawn("b"));
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert_eq!(
        (a.stdout.as_slice(), b.stdout.as_slice()),
        (&b"a\n"[..], &b"b\n"[..])
    );
    assert!(a.status.success() && b.status.success());
    eprintln!("two overlapping 1 s execs took {:?}", began.elapsed());

    // A malformed frame gets an error reply and a closed connection; the
    // agent keeps serving.
    let mut raw = UnixStream::connect(h.machine_dir("m1").join("vsock.sock")).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    raw.write_all(b"CONNECT 1024\n").unwrap();
    let mut ok = [0u8; 64];
    let n = raw.read(&mut ok).unwrap();
    assert!(ok[..n].starts_with(b"OK "));
    raw.write_all(&[0, 0, 0, 5, b'{', b'x', b'!', b'?', b']'])
        .unwrap();
    let mut reply = Vec::new();
    raw.read_to_end(&mut reply).unwrap();
    let text = String::from_utf8_lossy(&reply);
    assert!(text.contains("malformed frame"), "reply: {text}");
    h.exec_ok("m1", &["true"]);

    // Starting it again says so.
    let out = h.run(&["machine", "start", "--name", "m1"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("machine 'm1' is already running"),
        "{}",
        stderr(&out)
    );

    // Stop leaves nothing behind.
    let (monitor, qemu) = m.pids;
    let out = h.ok(&["machine", "stop", "--name", "m1"]);
    assert!(out.contains("machine 'm1' stopped"), "{out}");
    assert!(process_gone(qemu), "qemu {qemu} still running");
    assert!(process_gone(monitor), "monitor {monitor} still running");
    let status = h.ok(&["machine", "status", "--name", "m1"]);
    assert!(status.contains("state:    stopped"), "{status}");
    let out = h.exec("m1", &["true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr(&out).contains("machine 'm1' is not running"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_machine_whose_qemu_died_says_so() {
    let h = Hutch::new("qemu-died");
    let m = h.start("m2");
    let (_, qemu) = m.pids;
    // SAFETY: kill(2) on the QEMU this test started.
    unsafe { libc::kill(qemu, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        let out = h.exec("m2", &["true"]);
        let err = stderr(&out);
        if err.contains("not running") || Instant::now() > deadline {
            assert_eq!(out.status.code(), Some(125));
            break err;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(err.contains("QEMU was killed by signal 9"), "{err}");
    assert!(err.contains("hutch machine start --name m2"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    // And it can be started again.
    drop(m);
    let again = h.start("m2");
    h.exec_ok("m2", &["true"]);
    drop(again);
}

fn assert_one_line_error(out: &std::process::Output, needle: &str) {
    let err = stderr(out);
    assert!(!out.status.success());
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_environment_gets_one_line_errors() {
    let h = Hutch::new("bad-env");
    // An unwritable HUTCH_HOME (a path below a regular file).
    let out = h
        .cmd(&["machine", "start"])
        .env("HUTCH_HOME", "/dev/null/hutch")
        .output()
        .unwrap();
    assert_one_line_error(&out, "set HUTCH_HOME to a writable directory");

    // A missing kernel image.
    let empty = h.home.join("empty-guest");
    std::fs::create_dir_all(&empty).unwrap();
    let out = h
        .cmd(&["machine", "start"])
        .env("HUTCH_GUEST_DIR", &empty)
        .output()
        .unwrap();
    assert_one_line_error(&out, "vmlinux is missing");

    // No QEMU on PATH.
    let out = h
        .cmd(&["machine", "start"])
        .env("PATH", &empty)
        .output()
        .unwrap();
    assert_one_line_error(&out, "apt-get install qemu-system-x86");

    // A name that would reach outside the machines directory.
    let out = h.run(&["machine", "start", "--name", "../evil"]);
    assert_one_line_error(&out, "invalid machine name");

    // Commands against a machine that never existed.
    let out = h.run(&["machine", "exec", "--", "true"]);
    assert_one_line_error(
        &out,
        "machine 'default' is not running; start it with 'hutch machine start'",
    );
    let out = h.ok(&["machine", "stop"]);
    assert!(out.contains("not running"));
}

/// `--backend native` runs the guest on our own VMM. Where KVM can run a
/// guest kernel it boots like the qemu backend; where it cannot (PVM, as on
/// hutch's CI machine) the probe warns, the kernel stops at its first
/// exception, and start reports the vCPU failure and leaves nothing behind.
#[test]
fn native_backend_boots_or_reports_why_not() {
    let h = Hutch::new("native");
    let out = h.run(&["machine", "start", "--name", "n1", "--backend", "native"]);
    let err = stderr(&out);
    if out.status.success() {
        let uname = h.exec_ok("n1", &["uname", "-r"]);
        assert!(uname.starts_with("6.1."), "{uname}");
        let status = h.ok(&["machine", "status", "--name", "n1"]);
        assert!(status.contains("backend:  native (accel kvm)"), "{status}");
        h.ok(&["machine", "stop", "--name", "n1"]);
    } else {
        assert_eq!(out.status.code(), Some(125));
        assert!(
            err.contains("the native backend was asked for, so it is tried anyway"),
            "{err}"
        );
        assert!(
            err.contains("machine 'n1' failed to start: vCPU 0 failed: KVM internal error"),
            "{err}"
        );
        let status = h.ok(&["machine", "status", "--name", "n1"]);
        assert!(
            status.contains("state:    stopped") && status.contains("vCPU 0 failed"),
            "{status}"
        );
    }
    // Either way, no monitor is left running.
    let lock_free = h.run(&["machine", "exec", "--name", "n1", "--", "true"]);
    assert_eq!(lock_free.status.code(), Some(125));
}
