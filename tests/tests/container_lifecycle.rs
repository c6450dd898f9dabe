//! Detached containers and what acts on them in a real machine (qemu):
//! `run -d`, `create`, `start`, `stop`, `kill`, `wait`, `logs`, `inspect`,
//! `exec`, and `run` passing SIGTERM on.

use hutch_tests::{eventually, import_busybox, Hutch};
use std::io::{BufRead, BufReader};
use std::process::Stdio;

/// A shell loop that says when it starts and ends on SIGTERM with `code`.
fn polite(code: u8) -> String {
    format!("trap 'echo bye; exit {code}' TERM; echo started; while true; do sleep 1; done")
}

fn inspect(h: &Hutch, name: &str) -> serde_json::Value {
    let all: serde_json::Value = serde_json::from_str(&h.ok(&["inspect", name])).unwrap();
    all[0].clone()
}

fn logs(h: &Hutch, args: &[&str]) -> String {
    let mut all = vec!["logs"];
    all.extend_from_slice(args);
    h.ok(&all)
}

#[test]
fn detached_containers_are_managed_like_docker() {
    let h = Hutch::new("containers-detached");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");

    let script = polite(0);
    let id = h.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-e",
        "A=1",
        "-w",
        "/srv",
        "--hostname",
        "h1",
        "bb:1",
        "sh",
        "-c",
        &script,
    ]);
    let id = id.trim();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert!(h.ok(&["ps"]).contains(" web"));
    eventually("the log shows the start", || {
        logs(&h, &["web"]) == "started\n"
    });
    let state = inspect(&h, "web");
    assert_eq!(state["State"]["Status"], "running");
    assert_eq!(state["Name"], "/web");
    assert_eq!(state["Id"], id);
    assert_eq!(state["Config"]["Hostname"], "h1");

    // exec joins the container: its processes, files, environment, user.
    let ps = h.ok(&["exec", "web", "ps", "-o", "pid,comm"]);
    let first = ps.lines().nth(1).unwrap_or_default();
    assert!(
        first.trim() == "1 sh",
        "PID 1 is the container's shell: {ps}"
    );
    h.ok(&["exec", "web", "sh", "-c", "echo kept > state"]);
    assert_eq!(h.ok(&["exec", "web", "cat", "/srv/state"]), "kept\n");
    assert_eq!(
        h.ok(&[
            "exec",
            "-e",
            "B=2",
            "web",
            "sh",
            "-c",
            "echo $A$B; pwd; hostname"
        ]),
        "12\n/srv\nh1\n"
    );
    assert_eq!(h.ok(&["exec", "-u", "app", "web", "id", "-u"]), "1000\n");
    let out = h.run(&["exec", "-i", "web", "cat"]);
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "stdin EOF ends cat"
    );
    let out = h.run(&["exec", "web", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        h.run(&["exec", "web", "sh", "-c", "exit 9"]).status.code(),
        Some(9)
    );

    // stop: SIGTERM reaches the trap, which ends it with 0.
    assert_eq!(h.ok(&["stop", "web"]), "web\n");
    assert_eq!(h.ok(&["wait", "web"]), "0\n");
    assert_eq!(logs(&h, &["web"]), "started\nbye\n");
    assert_eq!(logs(&h, &["--tail", "1", "web"]), "bye\n");
    let stamped = logs(&h, &["-t", "web"]);
    let first = stamped.lines().next().unwrap();
    assert!(
        first.len() > 31 && first.as_bytes()[10] == b'T' && first.ends_with("Z started"),
        "{stamped}"
    );
    let out = h.run(&["exec", "web", "true"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not running"));
    let out = h.run(&["kill", "web"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not running"));

    // start again: the same container, its files kept, its log appended.
    assert_eq!(h.ok(&["start", "web"]), "web\n");
    assert_eq!(
        h.ok(&["start", "web"]),
        "web\n",
        "already running is no error"
    );
    assert_eq!(h.ok(&["exec", "web", "cat", "/srv/state"]), "kept\n");
    assert_eq!(h.ok(&["kill", "-s", "KILL", "web"]), "web\n");
    assert_eq!(h.ok(&["wait", "web"]), "137\n");
    assert_eq!(inspect(&h, "web")["State"]["ExitCode"], 137);
    eventually("the restart's output is logged", || {
        logs(&h, &["web"]).starts_with("started\nbye\nstarted\n")
    });

    // A command that ignores SIGTERM is killed after the timeout.
    h.ok(&["run", "-d", "--name", "stubborn", "bb:1", "sleep", "1000"]);
    assert_eq!(h.ok(&["stop", "-t", "1", "stubborn"]), "stubborn\n");
    assert_eq!(inspect(&h, "stubborn")["State"]["ExitCode"], 137);

    // create, then start attached.
    let id = h.ok(&[
        "create",
        "--name",
        "later",
        "bb:1",
        "echo",
        "created then ran",
    ]);
    assert_eq!(id.trim().len(), 64);
    let ps = h.ok(&["ps", "-a"]);
    assert!(
        ps.lines()
            .any(|l| l.ends_with(" later") && l.contains("Created")),
        "{ps}"
    );
    assert_eq!(h.ok(&["start", "-a", "later"]), "created then ran\n");

    // logs -f follows until the container ends.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "counter",
        "bb:1",
        "sh",
        "-c",
        "for i in 1 2 3; do echo $i; sleep 1; done; echo oops >&2",
    ]);
    let out = h.cmd(&["logs", "-f", "counter"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n2\n3\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "oops\n");

    // run -d --rm: gone once it exits.
    h.ok(&["run", "-d", "--rm", "--name", "brief", "bb:1", "true"]);
    eventually("the --rm container is removed", || {
        !h.ok(&["ps", "-a"]).contains("brief")
    });
    let out = h.run(&["run", "-d", "--rm", "bb:1", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        out.stdout.is_empty(),
        "no id for a container that never ran"
    );

    // Bad input: clear errors.
    let out = h.run(&["kill", "-s", "NOPE", "later"]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "a bad flag value is a usage error (docker's 125)"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid signal"));
    let out = h.run(&["logs", "no-such"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such container: no-such"));
    let out = h.run(&["rm", "stubborn", "later", "counter", "web"]);
    assert!(out.status.success());
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn run_passes_sigterm_to_the_container() {
    let h = Hutch::new("containers-signals");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");

    let script = polite(7);
    let mut child = h
        .cmd(&["run", "--rm", "bb:1", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "started");
    // SAFETY: kill(2) on our own child, not yet waited for.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_eq!(lines.next().unwrap().unwrap(), "bye");
    assert_eq!(child.wait().unwrap().code(), Some(7));
}
