//! The host image store through the `hutch` binary: import, images, tag,
//! inspect, rmi, shared layers, bad input and concurrent writers.

use hutch_tests::{busybox_rootfs_tar, Hutch};
use std::path::Path;
use std::process::Command;

fn blob_count(h: &Hutch) -> usize {
    std::fs::read_dir(h.home.join("store/blobs/sha256"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn temp_count(h: &Hutch) -> usize {
    std::fs::read_dir(h.home.join("store/tmp"))
        .map(|d| d.count())
        .unwrap_or(0)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn import_list_tag_inspect_and_remove() {
    let h = Hutch::new("images");
    let tar = busybox_rootfs_tar(&h);
    let id = h.ok(&["import", path(&tar), "busybox:1"]);
    assert!(
        id.trim().starts_with("sha256:") && id.trim().len() == 71,
        "{id}"
    );
    let short_id = &id.trim()["sha256:".len()..][..12];

    let list = h.ok(&["images"]);
    let mut lines = list.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    );
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..3], ["busybox", "1", short_id]);
    assert!(
        list.contains("Less than a second ago") || list.contains("seconds ago"),
        "{list}"
    );

    h.ok(&["tag", "busybox:1", "localhost:5000/bb:v2"]);
    let list = h.ok(&["images", "--digests"]);
    assert!(
        list.contains("localhost:5000/bb") && list.contains("DIGEST"),
        "{list}"
    );
    assert_eq!(
        h.ok(&["images", "-q"]).trim(),
        short_id,
        "one image, two names"
    );

    let inspect: serde_json::Value =
        serde_json::from_str(&h.ok(&["image", "inspect", "busybox:1"])).unwrap();
    let img = &inspect[0];
    assert_eq!(img["Id"], id.trim());
    assert_eq!(img["Os"], "linux");
    assert_eq!(img["Architecture"], "amd64");
    assert_eq!(img["RootFS"]["DiffIDs"].as_array().unwrap().len(), 1);
    // Size is what the layer unpacks to, as docker counts it; the store
    // keeps it gzipped.
    let tar_bytes = std::fs::metadata(&tar).unwrap().len();
    assert_eq!(img["Size"].as_u64().unwrap(), tar_bytes);
    assert!(img["StoredSize"].as_u64().unwrap() < tar_bytes);
    let shown: f64 = row[row.len() - 1].trim_end_matches("MB").parse().unwrap();
    assert!(
        (shown - tar_bytes as f64 / 1e6).abs() < 0.001,
        "{row:?}: {tar_bytes} bytes"
    );
    let tags: Vec<&str> = img["RepoTags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(tags, ["busybox:1", "localhost:5000/bb:v2"]);
    // By id prefix too.
    let by_id: serde_json::Value =
        serde_json::from_str(&h.ok(&["image", "inspect", short_id])).unwrap();
    assert_eq!(by_id[0]["Id"], id.trim());

    assert_eq!(blob_count(&h), 3, "layer, config, manifest");
    let out = h.ok(&["rmi", "busybox:1"]);
    assert_eq!(out.trim(), "Untagged: busybox:1");
    assert_eq!(blob_count(&h), 3, "still used by localhost:5000/bb:v2");
    let out = h.ok(&["rmi", "localhost:5000/bb:v2"]);
    assert!(out.contains("Deleted: sha256:"), "{out}");
    assert_eq!(blob_count(&h), 0);
    assert_eq!(h.ok(&["images", "-q"]), "");
}

#[test]
fn images_share_layers_and_rmi_keeps_what_others_use() {
    let h = Hutch::new("shared");
    let tar = busybox_rootfs_tar(&h);
    h.ok(&["import", path(&tar), "a:1"]);
    std::thread::sleep(std::time::Duration::from_millis(1100)); // a different creation time
    h.ok(&["import", path(&tar), "b:1"]);
    // The same rootfs gives the same layer: stored once.
    assert_eq!(
        blob_count(&h),
        5,
        "1 shared layer + 2 configs + 2 manifests"
    );
    let a: serde_json::Value =
        serde_json::from_str(&h.ok(&["image", "inspect", "a:1", "b:1"])).unwrap();
    assert_eq!(a[0]["RootFS"]["Layers"], a[1]["RootFS"]["Layers"]);
    assert_ne!(a[0]["Id"], a[1]["Id"]);
    h.ok(&["rmi", "a:1"]);
    assert_eq!(blob_count(&h), 3);
    h.ok(&["rmi", "b:1"]);
    assert_eq!(blob_count(&h), 0);
}

#[test]
fn bad_input_is_refused_and_nothing_is_stored() {
    let h = Hutch::new("images-bad");
    let tar = busybox_rootfs_tar(&h);

    let not_tar = h.home.join("notes.txt");
    std::fs::write(&not_tar, "just text\n".repeat(100)).unwrap();
    let out = h.run(&["import", path(&not_tar), "x:1"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a tar archive"));

    // A gzip stream cut short.
    let gz = h.home.join("rootfs.tar.gz");
    let ok = Command::new("gzip").arg("-kf").arg(&tar).status().unwrap();
    assert!(ok.success());
    std::fs::rename(tar.with_extension("tar.gz"), &gz).unwrap();
    let bytes = std::fs::read(&gz).unwrap();
    let cut = h.home.join("cut.tar.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let out = h.run(&["import", path(&cut), "x:1"]);
    assert_eq!(
        out.status.code(),
        Some(125),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = h.run(&["import", path(&tar), "Bad:Name"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid image name"));
    let out = h.run(&["rmi", "never-was"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such image: never-was"));

    assert_eq!(blob_count(&h), 0, "nothing stored");
    assert_eq!(temp_count(&h), 0, "no temp files left");
    assert_eq!(h.ok(&["images", "-q"]), "");

    // A whole gzipped rootfs imports fine.
    h.ok(&["import", path(&gz), "ok:1"]);
    assert_eq!(h.ok(&["images", "-q"]).lines().count(), 1);
}

#[test]
fn concurrent_imports_all_land() {
    let h = Hutch::new("concurrent");
    let tar = busybox_rootfs_tar(&h);
    let children: Vec<_> = (0..6)
        .map(|i| {
            h.cmd(&["import", path(&tar), &format!("img:{i}")])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let list = h.ok(&["images"]);
    for i in 0..6 {
        assert!(
            list.lines()
                .any(|l| l.split_whitespace().take(2).eq(["img", &i.to_string()])),
            "img:{i} missing:\n{list}"
        );
    }
    assert_eq!(temp_count(&h), 0);
}

fn skopeo(args: &[&str]) {
    let out = Command::new("skopeo")
        .args(args)
        .output()
        .expect("skopeo is installed (./install.sh)");
    assert!(
        out.status.success(),
        "skopeo {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn manifest_digest(h: &Hutch, name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&h.ok(&["image", "inspect", name])).unwrap();
    v[0]["ManifestDigest"].as_str().unwrap().to_string()
}

#[test]
fn save_is_read_by_skopeo_and_load_reads_what_skopeo_writes() {
    let h = Hutch::new("archives");
    let tar = busybox_rootfs_tar(&h);
    h.ok(&["import", path(&tar), "busybox:1"]);
    let saved = h.home.join("saved.tar");
    h.ok(&["save", "-o", path(&saved), "busybox:1"]);

    // skopeo reads both views of our archive and rewrites them in its own way.
    let docker = h.home.join("docker.tar");
    let oci = h.home.join("oci.tar");
    skopeo(&[
        "copy",
        "-q",
        &format!("docker-archive:{}", path(&saved)),
        &format!("docker-archive:{}:foo:2", path(&docker)),
    ]);
    skopeo(&[
        "copy",
        "-q",
        &format!("oci-archive:{}", path(&saved)),
        &format!("oci-archive:{}:bar:3", path(&oci)),
    ]);

    // A fresh store loads skopeo's docker-archive (legacy layout, symlinked layer) and OCI layout.
    let fresh = Hutch::new("archives-fresh");
    let out = fresh.ok(&["load", "-i", path(&docker)]);
    assert_eq!(out.trim(), "Loaded image: foo:2");
    let out = fresh.ok(&["load", "-i", path(&oci)]);
    assert_eq!(out.trim(), "Loaded image: bar:3");
    let a: serde_json::Value =
        serde_json::from_str(&fresh.ok(&["image", "inspect", "foo:2", "bar:3"])).unwrap();
    let b: serde_json::Value =
        serde_json::from_str(&h.ok(&["image", "inspect", "busybox:1"])).unwrap();
    for img in [&a[0], &a[1]] {
        assert_eq!(
            img["RootFS"]["DiffIDs"], b[0]["RootFS"]["DiffIDs"],
            "the same filesystem content"
        );
    }

    // save → load keeps digests.
    let again = Hutch::new("archives-again");
    assert_eq!(
        again.ok(&["load", "-i", path(&saved)]).trim(),
        "Loaded image: busybox:1"
    );
    assert_eq!(
        manifest_digest(&again, "busybox:1"),
        manifest_digest(&h, "busybox:1")
    );
}

/// Rewrites a tar, letting `edit` change each (path, bytes) or add entries.
fn rewrite_tar(src: &Path, dst: &Path, edit: impl Fn(&str, &mut Vec<u8>)) {
    let dir = dst.with_extension("d");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-xf")
        .arg(src)
        .status()
        .unwrap()
        .success());
    let files = Command::new("tar").arg("-tf").arg(src).output().unwrap();
    for name in String::from_utf8_lossy(&files.stdout).lines() {
        let p = dir.join(name);
        if p.is_file() {
            let mut bytes = std::fs::read(&p).unwrap();
            edit(name, &mut bytes);
            std::fs::write(&p, bytes).unwrap();
        }
    }
    assert!(Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(dst)
        .arg(".")
        .status()
        .unwrap()
        .success());
}

#[test]
fn damaged_archives_are_refused_and_nothing_is_stored() {
    let h = Hutch::new("archives-bad");
    let tar = busybox_rootfs_tar(&h);
    h.ok(&["import", path(&tar), "busybox:1"]);
    let saved = h.home.join("saved.tar");
    h.ok(&["save", "-o", path(&saved), "busybox:1"]);
    let layer = {
        let v: serde_json::Value =
            serde_json::from_str(&h.ok(&["image", "inspect", "busybox:1"])).unwrap();
        v[0]["RootFS"]["Layers"][0].as_str().unwrap()["sha256:".len()..].to_string()
    };

    let fresh = Hutch::new("archives-bad-fresh");
    let load_fails = |archive: &Path, needle: &str| {
        let out = fresh.run(&["load", "-i", path(archive)]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(125), "{err}");
        assert!(err.contains(needle), "expected {needle:?} in {err}");
        assert_eq!(blob_count(&fresh), 0, "nothing stored after: {err}");
        assert_eq!(temp_count(&fresh), 0);
    };

    // A layer whose bytes do not match its digest.
    let tampered = h.home.join("tampered.tar");
    rewrite_tar(&saved, &tampered, |name, bytes| {
        if name.ends_with(&layer) {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
        }
    });
    load_fails(&tampered, "digest mismatch");

    // A truncated archive.
    let bytes = std::fs::read(&saved).unwrap();
    let cut = h.home.join("cut.tar");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    load_fails(&cut, "damaged");

    // Not an image archive at all.
    load_fails(&tar, "neither a docker-archive");

    // An entry that climbs out of the archive.
    let evil = h.home.join("evil.tar");
    let ok = Command::new("tar")
        .arg("-cf")
        .arg(&evil)
        .arg("--absolute-names")
        .arg("-C")
        .arg(&h.home)
        .arg("--transform=s,^,../../,")
        .arg("rootfs.tar")
        .status()
        .unwrap();
    assert!(ok.success());
    load_fails(&evil, "unsafe path");
}

#[test]
fn a_reader_that_goes_away_ends_the_listing_quietly() {
    // `hutch images | head -0`, made certain: the pipe's read end is closed
    // before hutch writes its first line.
    let h = Hutch::new("images-closed-pipe");
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = h.cmd(&["images"]).stdout(writer).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
