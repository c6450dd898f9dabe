//! `hutch cp`: files, trees and tars between the host and running and
//! stopped containers, docker's landing rules, owners, and symlinks that
//! point out of the container's root staying inside it.

use hutch_tests::{import_busybox, Hutch};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

/// Bytes no one would type: a copy that shifts or drops any shows.
fn payload(len: usize) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `hutch cp` with stdin from `input`, which must succeed.
fn cp_with_stdin(h: &Hutch, args: &[&str], input: &[u8]) {
    let mut child = h
        .cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "hutch {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A tar of one file with the given owner.
fn tar_of(name: &str, data: &[u8], uid: u64) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o640);
    header.set_uid(uid);
    header.set_gid(uid);
    header.set_cksum();
    builder.append_data(&mut header, name, data).unwrap();
    builder.into_inner().unwrap()
}

#[test]
fn cp_copies_both_ways_by_docker_rules() {
    let h = Hutch::new("copy");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");
    h.ok(&["run", "-d", "--name", "web", "bb:1", "sleep", "600"]);
    let host = h.home.join("host");
    std::fs::create_dir_all(host.join("app/conf")).unwrap();
    let big = payload(3 << 20);
    std::fs::write(host.join("big.bin"), &big).unwrap();
    std::fs::write(host.join("app/conf/app.conf"), "port=80\n").unwrap();
    std::os::unix::fs::symlink("conf/app.conf", host.join("app/current")).unwrap();

    // A file into an existing directory keeps its name, byte for byte.
    h.ok(&["cp", path(&host.join("big.bin")), "web:/tmp"]);
    let back = h.home.join("back.bin");
    h.ok(&["cp", "web:/tmp/big.bin", path(&back)]);
    assert!(std::fs::read(&back).unwrap() == big, "the bytes came back");
    // Given to the container's root without -a.
    assert_eq!(
        h.ok(&["exec", "web", "stat", "-c", "%u %s", "/tmp/big.bin"]),
        format!("0 {}\n", big.len())
    );

    // A tree into a missing path becomes that path; symlinks stay links.
    h.ok(&["cp", path(&host.join("app")), "web:/srv"]);
    assert_eq!(
        h.ok(&["exec", "web", "cat", "/srv/current"]),
        "port=80\n",
        "the relative link resolves inside the copy"
    );
    // Into an existing directory it keeps its name; `/.` copies contents.
    h.ok(&["cp", "web:/srv", path(&host)]);
    assert_eq!(
        std::fs::read_to_string(host.join("srv/conf/app.conf")).unwrap(),
        "port=80\n"
    );
    assert_eq!(
        std::fs::read_link(host.join("srv/current")).unwrap(),
        Path::new("conf/app.conf")
    );
    let contents = h.home.join("contents");
    h.ok(&["cp", "web:/srv/.", path(&contents)]);
    assert!(contents.join("conf/app.conf").is_file());
    h.ok(&["cp", path(&host.join("big.bin")), "web:/srv/renamed.bin"]);
    assert_eq!(
        h.ok(&["exec", "web", "wc", "-c", "/srv/renamed.bin"]),
        format!("{} /srv/renamed.bin\n", big.len())
    );

    // Tars on stdin and stdout; -a keeps the archive's owners.
    cp_with_stdin(&h, &["cp", "-", "web:/tmp"], &tar_of("owned", b"x", 1234));
    assert_eq!(
        h.ok(&["exec", "web", "stat", "-c", "%u", "/tmp/owned"]),
        "0\n"
    );
    cp_with_stdin(
        &h,
        &["cp", "-a", "-", "web:/tmp"],
        &tar_of("kept", b"x", 1234),
    );
    assert_eq!(
        h.ok(&["exec", "web", "stat", "-c", "%u:%g", "/tmp/kept"]),
        "1234:1234\n"
    );
    let tar_out = h.run(&["cp", "web:/srv/conf/app.conf", "-"]);
    assert!(tar_out.status.success());
    let mut archive = tar::Archive::new(&tar_out.stdout[..]);
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["app.conf"]);

    // Symlinks that climb out of the root stay in it, both ways.
    h.ok(&[
        "exec",
        "web",
        "busybox",
        "ln",
        "-s",
        "../../../../../..",
        "/tmp/up",
    ]);
    h.exec_ok("default", &["sh", "-c", "echo machine > /machine-only"]);
    h.fails_with(
        &["cp", "web:/tmp/up/machine-only", path(&h.home)],
        1,
        "no such file or directory in the container: /tmp/up/machine-only",
    );
    std::fs::write(host.join("planted"), "inside\n").unwrap();
    h.ok(&["cp", path(&host.join("planted")), "web:/tmp/up/"]);
    assert_eq!(h.ok(&["exec", "web", "cat", "/planted"]), "inside\n");
    let machine_root = h.exec(
        "default",
        &[
            "sh",
            "-c",
            "test -e /planted && echo escaped || echo contained",
        ],
    );
    assert_eq!(String::from_utf8_lossy(&machine_root.stdout), "contained\n");
    // Without -L a link is copied as a link; with it, its target.
    h.ok(&["cp", "web:/srv/current", path(&h.home.join("link"))]);
    assert!(h.home.join("link").is_symlink());
    h.ok(&[
        "cp",
        "-L",
        "web:/srv/current",
        path(&h.home.join("followed")),
    ]);
    assert_eq!(
        std::fs::read_to_string(h.home.join("followed")).unwrap(),
        "port=80\n"
    );

    // With a user namespace of its own, owners are the container's ids
    // both ways (the machine's are shifted by 100000).
    h.ok(&[
        "run", "-d", "--name", "priv", "--userns", "private", "bb:1", "sleep", "600",
    ]);
    cp_with_stdin(&h, &["cp", "-", "priv:/tmp"], &tar_of("owned", b"x", 1234));
    cp_with_stdin(
        &h,
        &["cp", "-a", "-", "priv:/tmp"],
        &tar_of("kept", b"x", 1234),
    );
    assert_eq!(
        h.ok(&[
            "exec",
            "priv",
            "stat",
            "-c",
            "%u",
            "/tmp/owned",
            "/tmp/kept"
        ]),
        "0\n1234\n"
    );
    let tar_out = h.run(&["cp", "priv:/tmp/kept", "-"]);
    let mut archive = tar::Archive::new(&tar_out.stdout[..]);
    let entry = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(entry.header().uid().unwrap(), 1234);
    h.ok(&["rm", "-f", "priv"]);

    // A stopped container: copied into before its first start.
    h.ok(&[
        "create",
        "--name",
        "cold",
        "bb:1",
        "cat",
        "/etc/app/app.conf",
    ]);
    h.ok(&["cp", path(&host.join("app/conf")), "cold:/etc/app"]);
    assert_eq!(h.ok(&["start", "-a", "cold"]), "port=80\n");
    h.ok(&[
        "cp",
        "cold:/etc/app/app.conf",
        path(&h.home.join("cold.conf")),
    ]);
    assert_eq!(
        std::fs::read_to_string(h.home.join("cold.conf")).unwrap(),
        "port=80\n"
    );

    // A stopped container's volumes are not there: copies into them are
    // refused, whether named as the destination or inside a tree.
    h.ok(&[
        "create", "--name", "vols", "-v", "/data", "bb:1", "ls", "/data",
    ]);
    h.fails_with(
        &["cp", path(&host.join("big.bin")), "vols:/data/"],
        1,
        "/data is a mount of this container",
    );
    std::fs::create_dir_all(host.join("tree/data")).unwrap();
    std::fs::write(host.join("tree/data/hidden"), "x").unwrap();
    h.fails_with(
        &["cp", &format!("{}/.", path(&host.join("tree"))), "vols:/"],
        1,
        "/data is a mount of this container",
    );
    assert_eq!(
        h.ok(&["start", "-a", "vols"]),
        "",
        "nothing went under the volume"
    );
    h.ok(&["rm", "vols"]);

    // Bad requests say what is wrong and change nothing.
    h.fails_with(
        &["cp", "web:/nope", path(&h.home)],
        1,
        "no such file or directory in the container: /nope",
    );
    h.fails_with(
        &["cp", "web:/srv", path(&back)],
        1,
        "cannot copy a directory to a file",
    );
    h.fails_with(
        &["cp", path(&host.join("app")), "web:/tmp/big.bin"],
        1,
        "cannot copy a directory to a file",
    );
    h.fails_with(
        &["cp", path(&host.join("big.bin")), "web:/missing/dir/"],
        1,
        "does not exist",
    );
    h.fails_with(&["cp", "web:/tmp", "cold:/tmp"], 1, "between containers");
    h.fails_with(&["cp", "ghost:/tmp", path(&h.home)], 1, "no such container");
    assert!(std::fs::read(&back).unwrap() == big, "nothing was lost");
    h.ok(&["rm", "-f", "web", "cold"]);
}
