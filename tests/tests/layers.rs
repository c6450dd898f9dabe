//! Layers delivered into a real machine (QEMU, our virtio-blk and vsock
//! device cores over vhost-user): `image mount` shows the stacked root
//! filesystem with whiteouts applied; layers are sent once and stay cached
//! across restarts; hostile layers and a full disk are clear errors that
//! leave nothing behind; `rmi` gives the disk space back to the host.

use hutch_tests::registry::{docker_archive, random_layer, raw_layer, tar_of, RawEntry};
use hutch_tests::Hutch;
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};

fn layer(work: &Path, name: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let root = work.join(name);
    std::fs::create_dir_all(&root).unwrap();
    build(&root);
    tar_of(&root, &work.join(format!("{name}.tar")));
    work.join(format!("{name}.tar"))
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn base_layer(work: &Path) -> PathBuf {
    layer(work, "base", |r| {
        write(r, "etc/motd", "base\n");
        write(r, "etc/gone", "deleted above\n");
        write(r, "data/a", "a");
        write(r, "data/b", "b");
        write(r, "home/user/file", "private\n");
        std::os::unix::fs::chown(r.join("home/user/file"), Some(1000), Some(1000)).unwrap();
        std::fs::set_permissions(
            r.join("home/user/file"),
            std::os::unix::fs::PermissionsExt::from_mode(0o640),
        )
        .unwrap();
        std::fs::create_dir_all(r.join("bin")).unwrap();
        symlink("../etc/motd", r.join("bin/link")).unwrap();
    })
}

fn top_layer(work: &Path) -> PathBuf {
    layer(work, "top", |r| {
        write(r, "etc/motd", "top\n");
        write(r, "etc/.wh.gone", "");
        write(r, "data/.wh..wh..opq", "");
        write(r, "data/c", "c");
    })
}

fn copies(stderr: &[u8]) -> usize {
    String::from_utf8_lossy(stderr)
        .matches("copying into the machine")
        .count()
}

fn cached_layers(h: &Hutch) -> usize {
    let out = h.exec_ok("default", &["ls", "/var/lib/hutch/layers"]);
    out.split_whitespace().count()
}

#[test]
fn image_mount_stacks_layers_with_whiteouts_and_caches_them() {
    let h = Hutch::new("layers-mount");
    let work = h.home.join("work");
    let (base, top) = (base_layer(&work), top_layer(&work));
    let other = layer(&work, "other", |r| write(r, "other", "other\n"));
    h.ok(&[
        "load",
        "-i",
        docker_archive(&work, "stack:1", &[&base, &top])
            .to_str()
            .unwrap(),
    ]);
    h.ok(&[
        "load",
        "-i",
        docker_archive(&work, "sibling:1", &[&base, &other])
            .to_str()
            .unwrap(),
    ]);
    let machine = h.start("default");

    let out = h.run(&["image", "mount", "stack:1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(copies(&out.stderr), 2);
    let root = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(root.starts_with("/run/hutch/images/"), "{root}");
    let at = |rel: &str| format!("{root}/{rel}");
    assert_eq!(h.exec_ok("default", &["cat", &at("etc/motd")]), "top\n");
    assert!(!h
        .exec("default", &["test", "-e", &at("etc/gone")])
        .status
        .success());
    assert_eq!(h.exec_ok("default", &["ls", &at("data")]).trim(), "c");
    assert_eq!(
        h.exec_ok(
            "default",
            &["stat", "-c", "%u:%g %a", &at("home/user/file")]
        )
        .trim(),
        "1000:1000 640"
    );
    assert_eq!(
        h.exec_ok("default", &["readlink", &at("bin/link")]).trim(),
        "../etc/motd"
    );
    assert!(
        !h.exec("default", &["touch", &at("new")]).status.success(),
        "the root is read-only"
    );

    // Mounting again sends nothing; a sibling sharing the base sends only its own layer.
    let again = h.run(&["image", "mount", "stack:1"]);
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), root);
    assert_eq!(copies(&again.stderr), 0);
    let sibling = h.run(&["image", "mount", "sibling:1"]);
    assert!(sibling.status.success());
    assert_eq!(copies(&sibling.stderr), 1);
    assert_eq!(cached_layers(&h), 3);

    // The cache is on the machine's disk: it survives a restart.
    drop(machine);
    let _machine = h.start("default");
    let after = h.run(&["image", "mount", "stack:1"]);
    assert!(
        after.status.success(),
        "{}",
        String::from_utf8_lossy(&after.stderr)
    );
    assert_eq!(copies(&after.stderr), 0);
    assert_eq!(h.exec_ok("default", &["cat", &at("etc/motd")]), "top\n");
    let df = h.ok(&["system", "df"]);
    assert!(df.contains("Machine cache (default)"), "{df}");
}

#[test]
fn removing_images_gives_machine_disk_space_back() {
    let h = Hutch::new("layers-discard");
    let work = h.home.join("work");
    let big = random_layer(&work, "big", 48);
    h.ok(&[
        "load",
        "-i",
        docker_archive(&work, "big:1", &[&big]).to_str().unwrap(),
    ]);
    let _machine = h.start("default");
    let disk = h.machine_dir("default").join("disk.img");
    let allocated = || std::fs::metadata(&disk).unwrap().blocks() * 512;
    let before = allocated();
    h.ok(&["image", "mount", "big:1"]);
    let filled = allocated();
    assert!(filled >= before + (40 << 20), "{before} -> {filled}");
    h.ok(&["image", "unmount", "big:1"]);
    let out = h.ok(&["rmi", "big:1"]);
    assert!(
        out.contains("Removed 1 cached layers from machine 'default'"),
        "{out}"
    );
    assert_eq!(cached_layers(&h), 0);
    let emptied = allocated();
    assert!(emptied < filled - (40 << 20), "{filled} -> {emptied}");
}

#[test]
fn hostile_layers_are_refused_and_leave_nothing() {
    let h = Hutch::new("layers-hostile");
    let work = h.home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let dotdot = raw_layer(
        &work.join("dotdot.tar"),
        &[RawEntry::File("../../etc/passwd", "root::0:0::/:/bin/sh\n")],
    );
    let escape = raw_layer(
        &work.join("escape.tar"),
        &[
            RawEntry::Symlink("evil", "/etc"),
            RawEntry::File("evil/planted", "x\n"),
        ],
    );
    h.ok(&[
        "load",
        "-i",
        docker_archive(&work, "dotdot:1", &[&dotdot])
            .to_str()
            .unwrap(),
    ]);
    h.ok(&[
        "load",
        "-i",
        docker_archive(&work, "escape:1", &[&escape])
            .to_str()
            .unwrap(),
    ]);
    let _machine = h.start("default");

    let out = h.run(&["image", "mount", "dotdot:1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("../../etc/passwd") && err.contains("leaves the layer"),
        "{err}"
    );

    let out = h.run(&["image", "mount", "escape:1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("symlink evil"), "{err}");
    assert!(!h
        .exec("default", &["test", "-e", "/etc/planted"])
        .status
        .success());

    assert_eq!(cached_layers(&h), 0);
    assert_eq!(
        h.exec_ok("default", &["ls", "-A", "/var/lib/hutch/tmp"]),
        ""
    );
    assert_eq!(
        h.exec_ok("default", &["ls", "/var/lib/hutch"])
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["layers", "lost+found", "tmp"]
    );
}

#[test]
fn a_full_machine_disk_is_a_clear_error_and_the_machine_recovers() {
    let h = Hutch::new("layers-full");
    let work = h.home.join("work");
    let big = random_layer(&work, "huge", 80);
    let small = layer(&work, "small", |r| write(r, "hello", "hello\n"));
    h.ok(&[
        "load",
        "-i",
        docker_archive(&work, "huge:1", &[&big]).to_str().unwrap(),
    ]);
    h.ok(&[
        "load",
        "-i",
        docker_archive(&work, "small:1", &[&small])
            .to_str()
            .unwrap(),
    ]);
    h.ok(&["machine", "start", "--disk-size", "64m"]);
    let _machine = hutch_tests::MachineGuard::adopt(&h, "default");

    let out = h.run(&["image", "mount", "huge:1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains("layer disk is full") && err.contains("--disk-size"),
        "{err}"
    );
    assert_eq!(cached_layers(&h), 0);
    assert_eq!(
        h.exec_ok("default", &["ls", "-A", "/var/lib/hutch/tmp"]),
        ""
    );

    let root = h.ok(&["image", "mount", "small:1"]);
    assert_eq!(
        h.exec_ok("default", &["cat", &format!("{}/hello", root.trim())]),
        "hello\n"
    );
}
