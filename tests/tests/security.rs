//! What a container may do, as docker sets it: capabilities (its default
//! set, `--cap-add`/`--cap-drop`, ALL too, `--privileged`) and seccomp
//! (docker's default profile, `--security-opt seccomp=unconfined` or a
//! profile file, `no-new-privileges`); read back from the kernel
//! (`/proc/self/status`) and felt.

use hutch_tests::{import_busybox, Hutch};

/// The lines of the container's `/proc/self/status` that start with `key`.
fn status(h: &Hutch, flags: &[&str], key: &str) -> String {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(flags);
    args.extend_from_slice(&["bb:1", "grep", key, "/proc/self/status"]);
    h.ok(&args)
}

/// The container's effective capabilities, as the kernel shows them.
fn effective(h: &Hutch, flags: &[&str]) -> String {
    status(h, flags, "CapEff")
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

#[test]
fn seccomp_follows_dockers_profile_and_options() {
    let h = Hutch::new("seccomp");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");

    // Every container runs filtered: hutch's own filter (no vsock, no
    // io_uring) and docker's profile (an allow-list, and clone3's ENOSYS).
    assert_eq!(
        status(&h, &[], "Seccomp"),
        "Seccomp:\t2\nSeccomp_filters:\t3\n"
    );
    assert_eq!(
        status(
            &h,
            &["--security-opt", "seccomp=unconfined"],
            "Seccomp_filters:"
        ),
        "Seccomp_filters:\t1\n",
        "unconfined leaves hutch's own filter only"
    );
    assert_eq!(
        status(&h, &["--privileged"], "Seccomp_filters:"),
        "Seccomp_filters:\t1\n"
    );

    // A new user namespace is refused by the profile, allowed without it.
    let unshare = ["busybox", "unshare", "-U", "true"];
    let refused = h.run(&[&["run", "--rm", "bb:1"][..], &unshare].concat());
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Operation not permitted"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    h.ok(&[
        &[
            "run",
            "--rm",
            "--security-opt",
            "seccomp=unconfined",
            "bb:1",
        ][..],
        &unshare,
    ]
    .concat());

    // A profile file in docker's format, read by the CLI.
    let profile = h.home.join("no-mkdir.json");
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
    )
    .unwrap();
    let option = format!("seccomp={}", profile.display());
    let denied = h.run(&[
        "run",
        "--rm",
        "--security-opt",
        &option,
        "bb:1",
        "sh",
        "-c",
        "echo ran; mkdir /x",
    ]);
    assert_eq!(String::from_utf8_lossy(&denied.stdout), "ran\n");
    assert!(
        String::from_utf8_lossy(&denied.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&denied.stderr)
    );
    // docker's capability-conditional entries hold as docker reads them:
    // here mkdir is refused unless the container has SYS_ADMIN.
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                          "excludes": {"caps": ["CAP_SYS_ADMIN"]}}]}"#,
    )
    .unwrap();
    let mkdir = |flags: &[&str]| {
        let mut args = vec!["run", "--rm", "--security-opt", &option];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["bb:1", "mkdir", "/made"]);
        h.run(&args).status.success()
    };
    assert!(!mkdir(&[]), "refused without SYS_ADMIN");
    assert!(mkdir(&[
        "--cap-add",
        "SYS_ADMIN",
        "--security-opt",
        "apparmor=unconfined"
    ]));

    assert_eq!(
        status(&h, &["--security-opt", "no-new-privileges"], "NoNewPrivs:"),
        "NoNewPrivs:\t1\n"
    );
    assert_eq!(status(&h, &[], "NoNewPrivs:"), "NoNewPrivs:\t0\n");

    // Bad options say what hutch takes, and nothing is created.
    let bad_profile = h.home.join("bad.json");
    std::fs::write(&bad_profile, "{not json").unwrap();
    h.fails(
        &[
            "run",
            "--rm",
            "--security-opt",
            &format!("seccomp={}", bad_profile.display()),
            "bb:1",
            "true",
        ],
        "not docker's JSON",
    );
    h.fails(
        &[
            "run",
            "--rm",
            "--security-opt",
            "systempaths=unconfined",
            "bb:1",
            "true",
        ],
        "seccomp=unconfined|builtin|PROFILE",
    );
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "");
}

/// Makes a node for the machine's disk in `dir` (CAP_MKNOD is docker's
/// default) and reads 512 bytes through it: prints the count read.
fn read_disk_through(dir: &str) -> String {
    format!(
        "dev=$(cat /sys/block/vda/dev) && busybox mknod {dir}/disk b ${{dev%:*}} ${{dev#*:}} \
         && busybox head -c 512 {dir}/disk | busybox wc -c"
    )
}

#[test]
fn a_container_cannot_open_the_devices_it_makes() {
    let h = Hutch::new("devices");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");

    // A node made in the root, in /dev, in a volume or a tmpfs is refused
    // when opened (docker's device rules; here every such mount is nodev).
    for dir in ["", "/dev", "/data", "/scratch"] {
        let out = h.run(&[
            "run",
            "--rm",
            "-v",
            "data:/data",
            "--tmpfs",
            "/scratch",
            "bb:1",
            "sh",
            "-c",
            &read_disk_through(dir),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("Permission denied")
                && !String::from_utf8_lossy(&out.stdout).contains("512"),
            "a disk node in {dir:?}: {err}"
        );
    }
    // The devices a container has still work.
    assert_eq!(
        h.ok(&[
            "run",
            "--rm",
            "bb:1",
            "sh",
            "-c",
            "echo gone > /dev/null && busybox head -c 4 /dev/zero | busybox wc -c \
             && busybox head -c 4 /dev/urandom | busybox wc -c",
        ]),
        "4\n4\n"
    );
    // --privileged: every device, as docker's.
    assert_eq!(
        h.ok(&[
            "run",
            "--rm",
            "--privileged",
            "bb:1",
            "sh",
            "-c",
            &read_disk_through("/tmp")
        ]),
        "512\n"
    );
}
