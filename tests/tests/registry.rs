//! `hutch pull` against a real registry (Debian's docker-registry) started
//! on loopback, with images pushed by skopeo.

use hutch_tests::registry::{
    docker_archive, get_manifest, push, put_manifest, random_layer, sha256, tar_of, Registry,
};
use hutch_tests::Hutch;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn manifest_layers(h: &Hutch, name: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(&h.ok(&["image", "inspect", name])).unwrap();
    v[0]["RootFS"]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn pull_fetches_only_the_layers_it_lacks() {
    let h = Hutch::new("registry");
    let work = h.home.join("work");
    for (dir, file, content) in [
        ("base", "bin/busybox", None),
        ("extra", "app/hello.txt", Some("hello\n")),
    ] {
        let root = work.join(dir);
        std::fs::create_dir_all(root.join(Path::new(file).parent().unwrap())).unwrap();
        match content {
            Some(c) => std::fs::write(root.join(file), c).unwrap(),
            None => {
                std::fs::copy("/bin/busybox", root.join(file)).unwrap();
            }
        }
    }
    let base = work.join("base.tar");
    tar_of(&work.join("base"), &base);
    let extra = work.join("extra.tar");
    tar_of(&work.join("extra"), &extra);

    let registry = Registry::start(&work);
    let host = registry.host();
    push(
        &docker_archive(&work, "base:1", &[&base]),
        &format!("{host}/base:1"),
    );
    push(
        &docker_archive(&work, "app:1", &[&base, &extra]),
        &format!("{host}/app:1"),
    );

    let out = h.ok(&["pull", &format!("{host}/base:1")]);
    assert!(
        out.contains("Pull complete") && out.contains("Status: Downloaded newer image"),
        "{out}"
    );
    let base_layer = manifest_layers(&h, &format!("{host}/base:1"))[0].clone();
    assert_eq!(registry.blob_gets(&base_layer), 1);

    // The app image shares the base layer: only its own layer is fetched.
    let out = h.ok(&["pull", &format!("{host}/app:1")]);
    let app_layers = manifest_layers(&h, &format!("{host}/app:1"));
    assert_eq!(app_layers[0], base_layer, "the same base layer");
    assert!(
        out.contains(&format!(
            "{}: Already exists",
            &base_layer["sha256:".len()..][..12]
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{}: Pull complete",
            &app_layers[1]["sha256:".len()..][..12]
        )),
        "{out}"
    );
    assert_eq!(
        registry.blob_gets(&base_layer),
        1,
        "the base layer was not downloaded again"
    );
    assert_eq!(registry.blob_gets(&app_layers[1]), 1);

    // Pulling again is a no-op.
    let out = h.ok(&["pull", &format!("{host}/app:1")]);
    assert!(out.contains("Status: Image is up to date"), "{out}");
    assert_eq!(registry.blob_gets(&app_layers[1]), 1);

    // Errors say what is wrong.
    let out = h.run(&["pull", &format!("{host}/app:nope")]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains(&format!("{host}/app:nope not found in {host}")));
    drop(registry);
    let out = h.run(&["pull", &format!("{host}/app:1")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot reach the registry {host}")),
        "{err}"
    );
}

/// Every blob in the store hashes to its own name.
fn assert_store_verifies(h: &Hutch) {
    for entry in std::fs::read_dir(h.home.join("store/blobs/sha256")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        assert_eq!(
            sha256(&std::fs::read(entry.path()).unwrap()),
            format!("sha256:{name}"),
            "blob {name} is corrupt"
        );
    }
}

#[test]
fn a_pull_killed_midway_leaves_a_clean_store_and_a_rerun_completes() {
    let h = Hutch::new("registry-kill");
    let work = h.home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let layers: Vec<PathBuf> = (0..3)
        .map(|i| random_layer(&work, &format!("l{i}"), 24))
        .collect();
    let refs: Vec<&Path> = layers.iter().map(|p| p.as_path()).collect();
    let registry = Registry::start(&work);
    let image = format!("{}/big:1", registry.host());
    push(&docker_archive(&work, "big:1", &refs), &image);

    for delay_ms in [50u64, 300] {
        let mut child = h
            .cmd(&["pull", &image])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        assert_store_verifies(&h);
    }
    let out = h.ok(&["pull", &image]);
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    assert_store_verifies(&h);
    assert_eq!(
        std::fs::read_dir(h.home.join("store/tmp")).unwrap().count(),
        0,
        "killed pulls' temp files are cleaned up"
    );
    assert_eq!(manifest_layers(&h, &image).len(), 3);
}

#[test]
fn pull_of_a_multi_platform_index_picks_linux_amd64() {
    let h = Hutch::new("registry-index");
    let work = h.home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let amd = random_layer(&work, "amd", 1);
    let arm = random_layer(&work, "arm", 1);
    let registry = Registry::start(&work);
    let host = registry.host();
    push(
        &docker_archive(&work, "amd:1", &[&amd]),
        &format!("{host}/multi:amd"),
    );
    push(
        &docker_archive(&work, "arm:1", &[&arm]),
        &format!("{host}/multi:arm"),
    );

    // Fetch both manifests and publish an index naming them by platform.
    let (amd_manifest, arm_manifest) = (
        get_manifest(&host, "multi", "amd"),
        get_manifest(&host, "multi", "arm"),
    );
    let entry = |m: &[u8], arch: &str| {
        serde_json::json!({
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": sha256(m), "size": m.len(),
            "platform": { "os": "linux", "architecture": arch },
        })
    };
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [entry(&arm_manifest, "arm64"), entry(&amd_manifest, "amd64")],
    });
    put_manifest(&host, "multi", "all", &index, &work);

    h.ok(&["pull", &format!("{host}/multi:all")]);
    let v: serde_json::Value =
        serde_json::from_str(&h.ok(&["image", "inspect", &format!("{host}/multi:all")])).unwrap();
    assert_eq!(
        v[0]["ManifestDigest"].as_str().unwrap(),
        sha256(&amd_manifest),
        "the amd64 image"
    );
}

#[test]
fn pull_by_digest_stores_that_manifest_untagged() {
    let h = Hutch::new("registry-digest");
    let work = h.home.join("work");
    let layer = random_layer(&work, "digest-layer", 1);
    let registry = Registry::start(&work);
    let host = registry.host();
    push(
        &docker_archive(&work, "app:1", &[&layer]),
        &format!("{host}/app:1"),
    );
    let tagged = Hutch::new("registry-digest-tagged");
    let out = tagged.ok(&["pull", &format!("{host}/app:1")]);
    let digest = out
        .lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .expect("pull prints the digest")
        .to_string();

    let by_digest = format!("{host}/app@{digest}");
    let out = h.ok(&["pull", &by_digest]);
    assert!(out.contains("Pull complete"), "{out}");
    let images = h.ok(&["images", "--digests"]);
    let row = images.lines().nth(1).unwrap_or_default();
    assert!(
        row.contains(&format!("{host}/app")) && row.contains("<none>") && row.contains(&digest),
        "{images}"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&h.ok(&["image", "inspect", &by_digest])).unwrap();
    assert_eq!(inspect[0]["ManifestDigest"], digest.as_str());

    // A digest the registry does not have is a clear error.
    let missing = format!("{host}/app@sha256:{}", "0".repeat(64));
    let out = h.run(&["pull", &missing]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not found") || err.contains("unknown"),
        "{err}"
    );
}

#[test]
fn pull_on_a_terminal_draws_a_progress_bar_per_layer() {
    let h = Hutch::new("registry-progress");
    let work = h.home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let layers = [
        random_layer(&work, "bar-a", 2),
        random_layer(&work, "bar-b", 3),
    ];
    let registry = Registry::start(&work);
    let image = format!("{}/bars:1", registry.host());
    push(
        &docker_archive(&work, "bars:1", &[&layers[0], &layers[1]]),
        &image,
    );
    // script(1) gives hutch a terminal and records what it drew.
    let typescript = work.join("typescript");
    let command = h.cmd(&["pull", &image]);
    let line = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let status = Command::new("script")
        .args(["-qec", &line])
        .arg(&typescript)
        .env("HUTCH_HOME", &h.home)
        .env("DOCKER_CONFIG", h.home.join("docker-config"))
        .stdout(Stdio::null())
        .status()
        .expect("script (bsdutils)");
    assert!(status.success());
    let drawn = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    for (digest, size) in manifest_layers(&h, &image).iter().zip(["2.", "3."]) {
        let short = &digest[7..19];
        assert!(
            drawn.contains(&format!("{short}: Downloading [>")),
            "a bar for {short}: {drawn}"
        );
        assert!(
            drawn.contains(&format!("B/{size}")),
            "the layer's size: {drawn}"
        );
        assert!(
            drawn.contains(&format!("{short}: Pull complete")),
            "{drawn}"
        );
    }
    assert!(
        drawn.contains("\x1b[2A"),
        "lines are redrawn in place: {drawn}"
    );
}
