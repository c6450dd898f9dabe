//! Volumes and tmpfs on a real machine (qemu): named volumes made by hand
//! and on first use, read-only mounts, `--volumes-from`, anonymous volumes
//! and `rm -v`, an image's `VOLUME` filled from the image, `--tmpfs` and
//! its size limit, `volume rm` of a volume in use, prune, and volumes
//! surviving a machine restart.

use hutch_tests::registry::docker_archive_with_config;
use hutch_tests::{busybox_rootfs_tar_with, Hutch};

fn sh(h: &Hutch, flags: &[&str], script: &str) -> String {
    h.ok(&[&["run", "--rm"], flags, &["bb:1", "sh", "-c", script]].concat())
}

fn volume_names(h: &Hutch) -> Vec<String> {
    h.ok(&["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn volumes_outlive_containers_and_machines() {
    let h = Hutch::new("volumes");
    // An image whose config declares VOLUME /seed, with a file there.
    let seed = h.home.join("seed.txt");
    std::fs::write(&seed, "from the image\n").unwrap();
    let tar = busybox_rootfs_tar_with(&h, &[(&seed, "seed/seed.txt")]);
    let archive = docker_archive_with_config(
        &h.home,
        "bb:1",
        &[&tar],
        serde_json::json!({ "Volumes": { "/seed": {} } }),
    );
    h.ok(&["load", "-i", archive.to_str().unwrap()]);
    let _machine = h.start("default");

    // A named volume, written by one container and read by the next.
    assert_eq!(h.ok(&["volume", "create", "data"]).trim(), "data");
    sh(&h, &["-v", "data:/data"], "echo kept > /data/f");
    assert_eq!(sh(&h, &["-v", "data:/data:ro"], "cat /data/f"), "kept\n");
    let out = h.run(&[
        "run",
        "--rm",
        "-v",
        "data:/data:ro",
        "bb:1",
        "sh",
        "-c",
        "echo x > /data/g",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Read-only file system"),
        "{out:?}"
    );

    // A user-namespaced container's root may write to a new volume.
    assert_eq!(
        sh(
            &h,
            &["--userns", "private", "-v", "fresh:/fresh"],
            "echo ok > /fresh/f && cat /fresh/f"
        ),
        "ok\n"
    );
    h.ok(&["volume", "rm", "fresh"]);

    // Made on first use; --volumes-from shares a container's volumes.
    h.ok(&[
        "create",
        "--name",
        "holder",
        "-v",
        "made:/made",
        "bb:1",
        "true",
    ]);
    assert!(volume_names(&h).contains(&"made".to_string()));
    sh(&h, &["--volumes-from", "holder"], "echo shared > /made/s");
    assert_eq!(sh(&h, &["-v", "made:/m"], "cat /m/s"), "shared\n");
    let out = h.run(&[
        "run",
        "--rm",
        "--volumes-from",
        "holder:ro",
        "bb:1",
        "touch",
        "/made/t",
    ]);
    assert!(
        !out.status.success(),
        "read-only through --volumes-from holder:ro"
    );

    // inspect: the container's Mounts; the volume's place.
    let details: serde_json::Value = serde_json::from_str(&h.ok(&["inspect", "holder"])).unwrap();
    let mount = &details[0]["Mounts"][0];
    assert_eq!(
        (&mount["Type"], &mount["Name"], &mount["Destination"]),
        (&"volume".into(), &"made".into(), &"/made".into())
    );
    assert_eq!(mount["RW"], true);
    let volume: serde_json::Value =
        serde_json::from_str(&h.ok(&["volume", "inspect", "made"])).unwrap();
    assert_eq!(volume[0]["Driver"], "local");
    assert!(
        volume[0]["Mountpoint"]
            .as_str()
            .unwrap()
            .ends_with("/made/_data"),
        "{volume}"
    );

    // In use (by a container that is not running): refused, docker's status 1.
    h.fails_with(&["volume", "rm", "made"], 1, "in use by holder");
    h.fails_with(&["volume", "rm", "nope"], 1, "no such volume");
    h.ok(&["volume", "rm", "-f", "nope"]);
    h.ok(&["rm", "holder"]);
    assert_eq!(h.ok(&["volume", "rm", "made"]).trim(), "made");

    // The image's VOLUME: an anonymous volume filled from the image once,
    // removed with the container by rm -v.
    let before = volume_names(&h);
    h.ok(&["run", "-d", "--name", "seeded", "bb:1", "sleep", "600"]);
    assert_eq!(
        h.ok(&["exec", "seeded", "cat", "/seed/seed.txt"]),
        "from the image\n"
    );
    let mounts = h.ok(&["exec", "seeded", "cat", "/proc/mounts"]);
    assert!(
        mounts
            .lines()
            .any(|l| l.split_whitespace().nth(1) == Some("/seed")),
        "{mounts}"
    );
    let anonymous: Vec<String> = volume_names(&h)
        .into_iter()
        .filter(|n| !before.contains(n))
        .collect();
    assert_eq!(anonymous.len(), 1, "{anonymous:?}");
    assert_eq!(anonymous[0].len(), 64, "a random name, as docker's");
    h.ok(&["rm", "-f", "-v", "seeded"]);
    assert!(
        !volume_names(&h).contains(&anonymous[0]),
        "rm -v removed it"
    );

    // -v /path without -v on rm: left behind (with holder's), then pruned;
    // named volumes stay.
    h.ok(&["run", "--name", "left", "-v", "/scratch", "bb:1", "true"]);
    h.ok(&["rm", "left"]);
    assert_eq!(
        volume_names(&h).len(),
        4,
        "data, holder's /seed, left's /seed and /scratch"
    );
    let pruned = h.ok(&["volume", "prune", "-f"]);
    assert!(pruned.contains("Total reclaimed volumes: 3"), "{pruned}");
    assert_eq!(volume_names(&h), ["data"]);
    // --rm takes its anonymous volumes with it.
    sh(&h, &["-v", "/gone"], "true");
    assert_eq!(volume_names(&h), ["data"]);

    // tmpfs, with its size limit.
    let out = sh(
        &h,
        &["--tmpfs", "/t:size=1m"],
        "grep ' /t ' /proc/mounts; dd if=/dev/zero of=/t/big bs=1k count=2048 2>&1; true",
    );
    assert!(out.contains("tmpfs /t tmpfs"), "{out}");
    assert!(out.contains("No space left on device"), "{out}");
    let out = sh(
        &h,
        &["--mount", "type=tmpfs,target=/m,tmpfs-mode=700"],
        "stat -c %a /m",
    );
    assert_eq!(out.trim(), "700");

    // Bad values: docker's 125 and what is wrong, nothing created.
    for (flags, says) in [
        (["-v", "/etc:/host-etc"], "mounts denied"),
        (["-v", "data:relative"], "must be absolute"),
        (["--tmpfs", "/t:size=lots"], "invalid size"),
        (["--mount", "type=bind,dst=/t"], "needs source="),
    ] {
        h.fails_with(
            &[&["run", "--rm"], &flags[..], &["bb:1", "true"]].concat(),
            125,
            says,
        );
    }
    h.fails_with(
        &["run", "--rm", "-v", "a1:/d", "-v", "a2:/d", "bb:1", "true"],
        125,
        "duplicate mount point",
    );
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "");

    // Named volumes survive the machine.
    h.ok(&["machine", "stop"]);
    h.ok(&["machine", "start"]);
    assert_eq!(sh(&h, &["-v", "data:/data"], "cat /data/f"), "kept\n");
}
