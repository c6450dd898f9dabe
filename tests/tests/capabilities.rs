//! Capabilities as docker sets them: its default set, `--cap-add` and
//! `--cap-drop` (ALL too), `--privileged`; read back from the kernel
//! (`/proc/self/status`) and felt (chown, mount, /proc/sys).

use hutch_tests::{import_busybox, Hutch};

/// The container's effective set, as the kernel shows it.
fn effective(h: &Hutch, flags: &[&str]) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["bb:1", "grep", "CapEff", "/proc/self/status"]);
    h.ok(&args)
}

#[test]
fn capabilities_follow_dockers_flags() {
    let h = Hutch::new("capabilities");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");

    // docker's default set (CHOWN ... SETFCAP): the same bits docker shows.
    assert_eq!(effective(&h, &[]), "CapEff:\t00000000a80425fb\n");
    assert_eq!(
        effective(&h, &["--cap-add", "sys_admin"]),
        "CapEff:\t00000000a82425fb\n"
    );
    assert_eq!(
        effective(&h, &["--cap-drop", "ALL", "--cap-add", "CAP_CHOWN"]),
        "CapEff:\t0000000000000001\n"
    );
    assert_eq!(
        effective(&h, &["--privileged"]),
        "CapEff:\t000001ffffffffff\n",
        "every capability of the machine's kernel"
    );

    // Felt, not only listed: chown needs CHOWN, mount needs SYS_ADMIN.
    let chown = h.run(&[
        "run",
        "--rm",
        "--cap-drop",
        "CHOWN",
        "bb:1",
        "busybox",
        "chown",
        "1",
        "/etc/passwd",
    ]);
    assert_eq!(chown.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&chown.stderr).contains("Operation not permitted"));
    let mount = "mkdir -p /m && busybox mount -t tmpfs none /m && echo mounted";
    let refused = h.run(&["run", "--rm", "bb:1", "sh", "-c", mount]);
    assert!(!refused.status.success(), "no mount without SYS_ADMIN");
    assert_eq!(
        h.ok(&[
            "run",
            "--rm",
            "--cap-add",
            "SYS_ADMIN",
            "bb:1",
            "sh",
            "-c",
            mount
        ]),
        "mounted\n"
    );

    // --privileged also unmasks /proc: /proc/sys is writable.
    let write_sys = "echo 1 > /proc/sys/vm/drop_caches && echo wrote";
    assert!(!h
        .run(&["run", "--rm", "bb:1", "sh", "-c", write_sys])
        .status
        .success());
    assert_eq!(
        h.ok(&["run", "--rm", "--privileged", "bb:1", "sh", "-c", write_sys]),
        "wrote\n"
    );

    // A name the kernel does not have is refused before anything runs.
    h.fails(
        &["run", "--rm", "--cap-add", "FLY", "bb:1", "true"],
        "unknown capability \"FLY\"",
    );
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "");
}
