//! The machine's control plane is the host's alone: a container cannot
//! open vsock sockets (nor io_uring, which could make one), and the agent
//! serves no connection whose peer is not the host, even to a process
//! running as the machine's root outside every container.

use hutch_tests::{busybox_rootfs_tar_with, probe_bin, Hutch};

/// Every way in that a process in the machine could try: the loopback
/// CID, the machine's own CID and the host's, on the control, stream,
/// layer, published-port forward and archive (`cp`) ports.
const TARGETS: [&str; 15] = [
    "1:1024", "1:1025", "1:1026", "1:1027", "1:1029", "3:1024", "3:1025", "3:1026", "3:1027",
    "3:1029", "2:1024", "2:1025", "2:1026", "2:1027", "2:1029",
];

fn probe_image(h: &Hutch) {
    let probe = probe_bin("vsock-probe");
    let tar = busybox_rootfs_tar_with(h, &[(&probe, "bin/vsock-probe")]);
    h.ok(&["import", tar.to_str().unwrap(), "probe:1"]);
}

/// `vsock-probe`'s report, one (target, outcome) per line.
fn outcomes(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .map(|l| {
            let (target, outcome) = l.split_once(' ').unwrap_or((l, ""));
            (target.to_string(), outcome.to_string())
        })
        .collect()
}

/// Runs the probe through `hutch ARGS... vsock-probe TARGETS io_uring` and
/// insists that no socket could even be made.
fn assert_no_vsock(h: &Hutch, how: &[&str]) {
    let mut args = how.to_vec();
    args.push("vsock-probe");
    args.extend_from_slice(&TARGETS);
    args.push("io_uring");
    let out = h.run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{how:?}: the probe got through ({}):\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let report = outcomes(&stdout);
    assert_eq!(report.len(), TARGETS.len() + 1, "{how:?}:\n{stdout}");
    for (target, outcome) in report {
        let expected = if target == "io_uring" {
            "setup: Operation not permitted (os error 1)"
        } else {
            "socket: Operation not permitted (os error 1)"
        };
        assert_eq!(outcome, expected, "{how:?}: {target}");
    }
}

#[test]
fn containers_cannot_reach_the_agent() {
    let h = Hutch::new("control-plane-containers");
    probe_image(&h);
    let _machine = h.start("default");

    assert_no_vsock(&h, &["run", "--rm", "probe:1"]);
    assert_no_vsock(&h, &["run", "--rm", "--userns", "private", "probe:1"]);
    h.ok(&["run", "-d", "--name", "target", "probe:1", "sleep", "600"]);
    assert_no_vsock(&h, &["exec", "target"]);
    h.ok(&[
        "run", "-d", "--name", "private", "--userns", "private", "probe:1", "sleep", "600",
    ]);
    assert_no_vsock(&h, &["exec", "private"]);

    // The containers and the machine keep working.
    assert_eq!(
        h.ok(&["exec", "target", "echo", "still here"]),
        "still here\n"
    );
    h.ok(&["rm", "-f", "target", "private"]);
    assert_eq!(h.exec_ok("default", &["echo", "served"]), "served\n");
}

#[test]
fn the_agent_serves_only_the_host() {
    let h = Hutch::new("control-plane-peers");
    probe_image(&h);
    let _machine = h.start("default");

    // As the machine's root, outside any container and its seccomp filter:
    // the sockets can be made and the connections accepted by the kernel,
    // but the agent closes every one that is not from the host unread.
    let root = h.ok(&["image", "mount", "probe:1"]);
    let probe = format!("{}/bin/vsock-probe", root.trim());
    let mut args = vec![probe.as_str()];
    args.extend_from_slice(&TARGETS);
    let out = h.exec("default", &args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "a port served a guest process:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (target, outcome) in outcomes(&stdout) {
        if target.starts_with("2:") {
            // The host listens on none of the agent's ports for the guest.
            assert!(outcome.starts_with("connect: "), "{target}: {outcome}");
        } else {
            assert_eq!(outcome, "closed", "{target}: refused at accept");
        }
    }
    let console = std::fs::read_to_string(h.machine_dir("default").join("console.log")).unwrap();
    assert!(
        console.contains("refused a vsock connection from CID 1"),
        "the agent says why: {console}"
    );

    // On the host, the machine's sockets are for its user alone.
    use std::os::unix::fs::PermissionsExt;
    let dir = std::fs::metadata(h.machine_dir("default")).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o700);

    // The host is still served, on every port: a command, a container
    // (streams) and the layers that came with the image mount (uploads).
    assert_eq!(h.exec_ok("default", &["echo", "served"]), "served\n");
    assert_eq!(h.ok(&["run", "--rm", "probe:1", "echo", "ok"]), "ok\n");
    h.ok(&["image", "unmount", "probe:1"]);
}
