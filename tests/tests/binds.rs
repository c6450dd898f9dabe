//! Host directories bind-mounted into containers on a real machine (qemu,
//! shares over virtio-fs): both directions byte-exact (10 MiB and 10,000
//! small files), ownership on the host of what containers write, `:ro`,
//! symlinks that point out of a share, a path outside every share, `-v`
//! making a missing directory and `--mount` refusing one, an inotify
//! watcher in a container waking on a host write, and all of it owned by
//! an unprivileged host user when hutch runs without root.

use hutch_tests::{
    busybox_rootfs_tar, eventually, guest_dir, hutch_bin, import_busybox, probe_bin, Hutch,
    MachineGuard,
};
use sha2::{Digest, Sha256};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

fn sh(h: &Hutch, flags: &[&str], script: &str) -> String {
    h.ok(&[&["run", "--rm"], flags, &["bb:1", "sh", "-c", script]].concat())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Deterministic bytes that do not compress into a pattern.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// 10,000 small files in 100 directories; the sha256 of their contents
/// concatenated in sorted path order.
fn write_small_files(root: &Path) -> String {
    let mut all = Vec::new();
    for d in 0..100 {
        let dir = root.join(format!("d{d:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            let body = format!("file {d}/{f}\n");
            std::fs::write(dir.join(format!("f{f:03}")), &body).unwrap();
            all.extend_from_slice(body.as_bytes());
        }
    }
    sha256_hex(&all)
}

fn sorted_contents_hash(root: &Path) -> (usize, String) {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(root).unwrap() {
        for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
            files.push(f.unwrap().path());
        }
    }
    files.sort();
    let mut all = Vec::new();
    for f in &files {
        all.extend(std::fs::read(f).unwrap());
    }
    (files.len(), sha256_hex(&all))
}

#[test]
fn host_directories_are_shared_both_ways() {
    let h = Hutch::new("binds");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");
    let src = h.home.join("src");
    std::fs::create_dir_all(src.join("small")).unwrap();
    let big = noise(10 << 20, 7);
    std::fs::write(src.join("big"), &big).unwrap();
    let small_hash = write_small_files(&src.join("small"));
    let v = format!("{}:/src", src.display());

    // Host → container.
    let out = sh(
        &h,
        &["-v", &v],
        "sha256sum /src/big | cut -d' ' -f1; find /src/small -type f | wc -l; \
         find /src/small -type f | sort | xargs cat | sha256sum | cut -d' ' -f1",
    );
    assert_eq!(
        out,
        format!("{}\n10000\n{small_hash}\n", sha256_hex(&big)),
        "what the container reads"
    );

    // Container → host, as root and as another user: the host user owns it all.
    let out_dir = h.home.join("out");
    let o = format!("{}:/out", out_dir.display());
    let reported = sh(
        &h,
        &["-v", &o],
        "set -e; head -c 10485760 /dev/urandom > /out/big && sha256sum /out/big | cut -d' ' -f1; \
         i=0; while [ $i -lt 100 ]; do mkdir /out/small/d$i -p; j=0; \
         while [ $j -lt 100 ]; do echo \"$i.$j\" > /out/small/d$i/f$j; j=$((j+1)); done; i=$((i+1)); done",
    );
    assert!(out_dir.is_dir(), "-v made the missing host directory");
    let written = std::fs::read(out_dir.join("big")).unwrap();
    assert_eq!(written.len(), 10 << 20);
    assert_eq!(format!("{}\n", sha256_hex(&written)), reported);
    let (count, _) = sorted_contents_hash(&out_dir.join("small"));
    assert_eq!(count, 10_000);
    assert_eq!(
        std::fs::read_to_string(out_dir.join("small/d42/f7")).unwrap(),
        "42.7\n"
    );
    sh(
        &h,
        &["-u", "1234:1234", "-v", &o],
        "echo mine > /out/by-user",
    );
    // SAFETY: geteuid/getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    for name in ["big", "small/d1/f1", "by-user"] {
        let meta = std::fs::metadata(out_dir.join(name)).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (uid, gid), "owner of {name}");
    }

    // No set-user-ID file and no device node reach the host.
    let out = sh(
        &h,
        &["-v", &o],
        "cp /bin/busybox /out/suid && chmod u+s /out/suid; mknod /out/null c 1 3 2>&1; \
         chmod 600 /out/by-user; chmod +x /out/by-user; true",
    );
    assert!(out.contains("Operation not permitted"), "{out}");
    let suid = std::fs::metadata(out_dir.join("suid")).unwrap();
    assert_eq!(suid.mode() & 0o7000, 0, "mode {:o}", suid.mode());
    assert!(!out_dir.join("null").exists());
    let mode = std::fs::metadata(out_dir.join("by-user")).unwrap().mode();
    assert_eq!(mode & 0o7777, 0o711, "chmod 600 then +x on the host file");

    // Read-only.
    let out = h.run(&[
        "run",
        "--rm",
        "-v",
        &format!("{v}:ro"),
        "bb:1",
        "sh",
        "-c",
        "echo x > /src/new",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Read-only file system"),
        "{out:?}"
    );
    assert!(!src.join("new").exists());
}

#[test]
fn shares_are_a_boundary() {
    let h = Hutch::new("binds-boundary");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");
    let dir = h.home.join("share");
    std::fs::create_dir_all(&dir).unwrap();
    // Symlinks a host user might have, pointing out of the bind mount.
    std::os::unix::fs::symlink("/", dir.join("to-root")).unwrap();
    std::os::unix::fs::symlink("../..", dir.join("up")).unwrap();
    let marker = h.home.join("host-only-marker");
    std::fs::write(&marker, "secret").unwrap();
    let out = sh(
        &h,
        &["-v", &format!("{}:/s", dir.display())],
        &format!(
            "ls /s/to-root/; ls /s/up/; cat {} /s/up/{}/host-only-marker 2>&1; true",
            marker.display(),
            h.home.file_name().unwrap().to_string_lossy()
        ),
    );
    assert!(!out.contains("secret"), "a host file leaked: {out}");
    assert!(
        out.contains("bin"),
        "the links resolve in the container: {out}"
    );

    // Outside every share: refused, and nothing is left behind.
    h.fails(
        &["run", "--rm", "-v", "/etc:/x", "bb:1", "true"],
        "mounts denied: /etc is not shared",
    );
    h.fails(
        &[
            "run",
            "--rm",
            "--mount",
            "type=bind,src=/usr/share,dst=/x",
            "bb:1",
            "true",
        ],
        "--share DIR",
    );
    let missing = h.home.join("missing");
    h.fails(
        &[
            "run",
            "--rm",
            "--mount",
            &format!("type=bind,source={},target=/x", missing.display()),
            "bb:1",
            "true",
        ],
        "bind source path does not exist",
    );
    assert!(!missing.exists(), "--mount does not make its source");
    assert_eq!(h.ok(&["ps", "-a", "-q"]), "");
}

#[test]
fn a_host_write_wakes_a_watcher_in_the_container() {
    let h = Hutch::new("binds-inotify");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");
    let dir = h.home.join("watched");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.js"), "v1\n").unwrap();
    std::fs::copy(probe_bin("inotify-watch"), dir.join("inotify-watch")).unwrap();
    let v = format!("{}:/app", dir.display());
    // The probe prints a line per inotify event on the file, as a dev
    // server's watcher would react to one.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "watcher",
        "-v",
        &v,
        "bb:1",
        "sh",
        "-c",
        "/app/inotify-watch /app/app.js > /app/events.log",
    ]);
    let log = || std::fs::read_to_string(dir.join("events.log")).unwrap_or_default();
    eventually("the watcher to start", || log().contains("watching"));
    std::fs::write(dir.join("app.js"), "v2\n").unwrap();
    eventually("an inotify event in the container", || {
        log().contains("event")
    });
    assert_eq!(h.ok(&["exec", "watcher", "cat", "/app/app.js"]), "v2\n");
    let inspect: serde_json::Value = serde_json::from_str(&h.ok(&["inspect", "watcher"])).unwrap();
    let mount = &inspect[0]["Mounts"][0];
    assert_eq!(mount["Type"], "bind", "{mount}");
    assert_eq!(mount["Source"], dir.to_str().unwrap(), "{mount}");
    assert_eq!(mount["Destination"], "/app", "{mount}");
    assert_eq!(mount["RW"], true, "{mount}");
    h.ok(&["rm", "-f", "watcher"]);
}

/// The unprivileged user the rootless test runs hutch as (nobody).
const NOBODY: u32 = 65534;

/// hutch run as [`NOBODY`], with `home` as its home directory (a default
/// share) and its own copy of the guest files.
fn as_nobody(h: &Hutch, home: &Path, args: &[&str]) -> Output {
    let id = NOBODY.to_string();
    Command::new("setpriv")
        .args([
            &format!("--reuid={id}"),
            &format!("--regid={id}"),
            "--clear-groups",
        ])
        .arg(hutch_bin())
        .args(args)
        .env("HOME", home)
        .env("HUTCH_HOME", &h.home)
        .env("HUTCH_GUEST_DIR", h.home.join("guest"))
        .env("DOCKER_CONFIG", h.home.join("docker-config"))
        .env_remove("HUTCH_LOG")
        .output()
        .expect("running hutch through setpriv")
}

fn nobody_ok(h: &Hutch, home: &Path, args: &[&str]) -> String {
    let out = as_nobody(h, home, args);
    assert!(out.status.success(), "hutch {args:?} as nobody: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn without_root_files_belong_to_the_user_running_hutch() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        // Not root: every other test here already runs unprivileged.
        return;
    }
    let h = Hutch::new("binds-rootless");
    let tar = busybox_rootfs_tar(&h);
    let guest = h.home.join("guest");
    std::fs::create_dir_all(&guest).unwrap();
    for file in ["vmlinux", "initramfs.cpio.gz"] {
        std::fs::copy(guest_dir().join(file), guest.join(file)).unwrap();
    }
    let home = h.home.join("home");
    std::fs::create_dir_all(home.join("proj")).unwrap();
    std::fs::write(home.join("proj/mine"), "from the host\n").unwrap();
    let ok = Command::new("chown")
        .args(["-R", &format!("{NOBODY}:{NOBODY}")])
        .arg(&h.home)
        .status()
        .unwrap()
        .success();
    assert!(ok, "chown");

    nobody_ok(&h, &home, &["import", tar.to_str().unwrap(), "bb:1"]);
    nobody_ok(&h, &home, &["machine", "start"]);
    let _machine = MachineGuard::adopt(&h, "default");
    let v = format!("{}:/p", home.join("proj").display());
    let out = nobody_ok(
        &h,
        &home,
        &[
            "run",
            "--rm",
            "-v",
            &v,
            "bb:1",
            "sh",
            "-c",
            "cat /p/mine; stat -c %u /p/mine; echo a > /p/root-wrote; mkdir /p/dir",
        ],
    );
    assert_eq!(
        out, "from the host\n0\n",
        "the host user's file, as the guest's root's"
    );
    nobody_ok(
        &h,
        &home,
        &[
            "run",
            "--rm",
            "-u",
            "1234",
            "-v",
            &v,
            "bb:1",
            "sh",
            "-c",
            "echo b > /p/user-wrote",
        ],
    );
    for name in ["root-wrote", "user-wrote", "dir"] {
        let meta = std::fs::metadata(home.join("proj").join(name)).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (NOBODY, NOBODY),
            "owner of {name}"
        );
    }
    nobody_ok(&h, &home, &["machine", "stop"]);
}
