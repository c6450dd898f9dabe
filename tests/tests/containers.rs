//! `hutch run`, `ps`, `rm` in a real machine (qemu): isolation, limits,
//! users, docker's exit codes, names and `--rm`.

use hutch_tests::{import_busybox, Hutch};
use std::process::Output;

fn image(h: &Hutch) {
    import_busybox(h, "bb:1");
}

fn run(h: &Hutch, args: &[&str]) -> Output {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    h.run(&all)
}

fn run_ok(h: &Hutch, args: &[&str]) -> String {
    let mut all = vec!["run"];
    all.extend_from_slice(args);
    h.ok(&all)
}

#[test]
fn containers_are_isolated_and_limited() {
    let h = Hutch::new("containers-isolation");
    image(&h);
    let _machine = h.start("default");

    let out = run_ok(
        &h,
        &[
            "--rm",
            "--hostname",
            "h1",
            "bb:1",
            "sh",
            "-c",
            "echo $$; hostname; cat /proc/self/cgroup",
        ],
    );
    assert_eq!(
        out, "1\nh1\n0::/\n",
        "PID 1 is the command, the hostname and cgroup are its own"
    );

    // Only the container's own processes; the machine's agent is not there.
    let out = run_ok(&h, &["--rm", "bb:1", "ps", "-o", "pid,comm"]);
    assert!(!out.contains("init") && out.contains("ps"), "{out}");
    let mounts = run_ok(&h, &["--rm", "bb:1", "cat", "/proc/mounts"]);
    assert!(mounts.starts_with("overlay / overlay"), "{mounts}");
    assert!(
        !mounts.contains("/var/lib/hutch "),
        "the machine's disk is not visible: {mounts}"
    );

    // Writes stay in the container that made them.
    run_ok(&h, &["--name", "writer", "bb:1", "touch", "/tmp/mine"]);
    let out = run(&h, &["--rm", "bb:1", "ls", "/tmp/mine"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "another container does not see it"
    );

    // Limits: memory (OOM kill is 137), cpu.max, pids.
    let out = run(
        &h,
        &[
            "--name",
            "hog",
            "-m",
            "32m",
            "bb:1",
            "dd",
            "if=/dev/zero",
            "of=/dev/null",
            "bs=64M",
            "count=1",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(137),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inspect: serde_json::Value = serde_json::from_str(&h.ok(&["inspect", "hog"])).unwrap();
    assert_eq!(inspect[0]["State"]["OOMKilled"], true, "{inspect}");
    assert_eq!(inspect[0]["State"]["ExitCode"], 137);
    assert_eq!(inspect[0]["HostConfig"]["Memory"], 32 << 20);
    let out = run_ok(
        &h,
        &[
            "--rm",
            "--cpus",
            "0.5",
            "--pids-limit",
            "10",
            "bb:1",
            "cat",
            "/sys/fs/cgroup/cpu.max",
            "/sys/fs/cgroup/pids.max",
        ],
    );
    assert_eq!(out, "50000 100000\n10\n");
    let out = run(
        &h,
        &[
            "--rm",
            "--pids-limit",
            "10",
            "bb:1",
            "sh",
            "-c",
            "for i in $(seq 30); do sleep 5 & done; echo spawned",
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("can't fork"),
        "the fork bomb hits the limit"
    );
    assert_eq!(
        h.exec_ok("default", &["echo", "alive"]),
        "alive\n",
        "the machine is fine"
    );

    // Users by number and by name, from the image's own passwd file.
    assert_eq!(
        run_ok(&h, &["--rm", "-u", "1000", "bb:1", "id"]),
        "uid=1000(app) gid=1000(app) groups=1000(app)\n"
    );
    assert_eq!(
        run_ok(&h, &["--rm", "-u", "nobody", "bb:1", "id"]),
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n"
    );
    let out = run_ok(
        &h,
        &[
            "--rm",
            "-e",
            "A=1",
            "-w",
            "/srv",
            "bb:1",
            "sh",
            "-c",
            "echo $A; pwd",
        ],
    );
    assert_eq!(out, "1\n/srv\n");
}

#[test]
fn exit_codes_names_and_removal_follow_docker() {
    let h = Hutch::new("containers-lifecycle");
    image(&h);
    let _machine = h.start("default");

    for (args, code) in [
        (&["--rm", "bb:1", "sh", "-c", "exit 42"][..], 42),
        (&["--rm", "bb:1", "no-such-command"][..], 127),
        (&["--rm", "bb:1", "/etc/passwd"][..], 126),
        (&["--rm", "-m", "1k", "bb:1", "true"][..], 125),
        (&["--rm", "no-such-image:1", "true"][..], 125),
    ] {
        let out = run(&h, args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "run {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let err =
        String::from_utf8_lossy(&run(&h, &["--rm", "bb:1", "no-such-command"]).stderr).into_owned();
    assert!(err.contains("executable file not found"), "{err}");
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "", "--rm leaves nothing");

    assert_eq!(
        run(&h, &["--name", "done", "bb:1", "sh", "-c", "exit 3"])
            .status
            .code(),
        Some(3)
    );
    let ps = h.ok(&["ps", "-a"]);
    let row = ps.lines().find(|l| l.ends_with(" done")).expect(&ps);
    assert!(row.contains("Exited (3)") && row.contains("bb:1"), "{ps}");
    assert!(
        !h.ok(&["ps"]).contains("done"),
        "ps without -a lists running ones"
    );
    h.fails(
        &["run", "--name", "done", "bb:1", "true"],
        "is already in use",
    );

    assert_eq!(h.ok(&["rm", "done"]), "done\n");
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "");
    let out = h.run(&["rm", "done"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such container: done"));

    // Records outlive the machine: after a restart the container is listed.
    run_ok(&h, &["--name", "kept", "bb:1", "true"]);
    h.ok(&["machine", "stop"]);
    h.ok(&["machine", "start"]);
    assert!(h.ok(&["ps", "-a"]).contains("kept"));
}

#[test]
fn a_private_user_namespace_maps_root_away_from_the_machines() {
    let h = Hutch::new("containers-userns");
    image(&h);
    let _machine = h.start("default");

    let out = run_ok(
        &h,
        &[
            "--rm",
            "--userns",
            "private",
            "bb:1",
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; ls -ln /bin/busybox; touch /etc/mine && echo wrote; \
             ls -ln /etc/hosts; echo '10.0.0.9 db' >> /etc/hosts && echo edited",
        ],
    );
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(lines[0], ["0"], "{out}");
    assert_eq!(lines[1], ["0", "100000", "65536"], "{out}");
    assert_eq!(
        (lines[2][2], lines[2][3]),
        ("0", "0"),
        "the image's files are the container root's: {out}"
    );
    assert_eq!(lines[3], ["wrote"], "and it may change them: {out}");
    assert_eq!(
        (lines[4][2], lines[4][3]),
        ("0", "0"),
        "hutch's /etc files are the container root's too: {out}"
    );
    assert_eq!(lines[5], ["edited"], "{out}");

    // Seen from the machine, that root is an unprivileged uid; exec joins
    // the same namespace.
    h.ok(&[
        "run", "-d", "--name", "mapped", "--userns", "private", "bb:1", "sleep", "1000",
    ]);
    let inspect: serde_json::Value = serde_json::from_str(&h.ok(&["inspect", "mapped"])).unwrap();
    let pid = inspect[0]["State"]["Pid"].to_string();
    let status = h.exec_ok("default", &["cat", &format!("/proc/{pid}/status")]);
    assert!(
        status
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["Uid:", "100000", "100000", "100000", "100000"]),
        "{status}"
    );
    assert_eq!(h.ok(&["exec", "mapped", "id", "-u"]), "0\n");
    assert_eq!(
        h.ok(&["exec", "mapped", "cat", "/proc/self/uid_map"])
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    h.ok(&["rm", "-f", "mapped"]);
}
