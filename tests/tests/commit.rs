//! `commit`, `diff`, `history` and `export`: a container's changes (files added,
//! changed, deleted, a directory replaced) become an image on top of its
//! own that runs with them, shares its base's layers, and leaves hutch in
//! an archive skopeo reads.

use hutch_tests::{busybox_rootfs_tar_with, Hutch};
use std::path::Path;
use std::process::Command;

/// The entry names of a tar, as `tar -t` lists them (directories
/// without their trailing slash).
fn tar_names(tar: &[u8]) -> Vec<String> {
    tar::Archive::new(tar)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

fn inspect(h: &Hutch, image: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&h.ok(&["image", "inspect", image])).unwrap();
    v[0].clone()
}

#[test]
fn commit_makes_an_image_of_a_containers_changes() {
    let h = Hutch::new("commit");
    let note = h.home.join("note");
    std::fs::write(&note, "from the image\n").unwrap();
    let tar = busybox_rootfs_tar_with(&h, &[(&note, "srv/old/a"), (&note, "srv/keep/k")]);
    h.ok(&["import", tar.to_str().unwrap(), "bb:1"]);
    let _machine = h.start("default");

    // One file added, one changed, one deleted, a directory replaced.
    h.ok(&[
        "run",
        "--name",
        "maker",
        "bb:1",
        "sh",
        "-c",
        "echo new > /added && echo changed >> /etc/passwd && rm /etc/group \
         && rm -r /srv/old && mkdir /srv/old && echo c > /srv/old/c",
    ]);
    // docker's lines; the runtime's own files (/etc/hosts, /proc, ...)
    // are not changes.
    assert_eq!(
        h.ok(&["diff", "maker"]),
        "A /added\nC /etc\nD /etc/group\nC /etc/passwd\nC /srv\nC /srv/old\nA /srv/old/c\n"
    );

    let id = h.ok(&[
        "commit",
        "-m",
        "made by hand",
        "-a",
        "Jane <jane@example.com>",
        "-c",
        r#"CMD ["cat", "/added"]"#,
        "-c",
        "ENV STAGE=committed",
        "maker",
        "app:2",
    ]);
    assert!(id.trim().starts_with("sha256:"), "{id}");
    assert_eq!(h.ok(&["run", "--rm", "app:2"]), "new\n");
    // The deletion holds, the replaced directory shows only its new file,
    // what was not touched is there.
    assert_eq!(
        h.ok(&[
            "run",
            "--rm",
            "app:2",
            "sh",
            "-c",
            "ls /srv/old; cat /srv/keep/k; test -e /etc/group || echo no-group; \
             grep -c changed /etc/passwd; echo $STAGE",
        ]),
        "c\nfrom the image\nno-group\n1\ncommitted\n"
    );

    // The new image is the old one's layers plus one.
    let (base, app) = (inspect(&h, "bb:1"), inspect(&h, "app:2"));
    let base_layers = base["RootFS"]["Layers"].as_array().unwrap();
    let app_layers = app["RootFS"]["Layers"].as_array().unwrap();
    assert_eq!(app_layers.len(), base_layers.len() + 1, "{app}");
    assert_eq!(&app_layers[..base_layers.len()], &base_layers[..]);
    assert_eq!(app["Id"].as_str(), Some(id.trim()));
    assert_eq!(app["Config"]["Cmd"], serde_json::json!(["cat", "/added"]));
    assert!(
        app["Config"]["Env"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("STAGE=committed")),
        "{app}"
    );

    // history: the commit on top (with its id and message), the import
    // beneath.
    let history = h.ok(&["history", "app:2"]);
    let rows: Vec<&str> = history.lines().collect();
    assert_eq!(rows.len(), 3, "{history}");
    assert!(rows[0].starts_with("IMAGE "), "{history}");
    assert!(
        rows[1].starts_with(&id.trim()["sha256:".len()..][..12]),
        "{history}"
    );
    assert!(rows[1].ends_with("made by hand"), "{history}");
    assert!(
        rows[2].starts_with("<missing>") && rows[2].contains("hutch import"),
        "{history}"
    );

    // export: a stopped container's whole filesystem as a tar.
    let exported = tar_names(&h.cmd(&["export", "maker"]).output().unwrap().stdout);
    for name in [
        "added",
        "bin/busybox",
        "etc/passwd",
        "srv/old/c",
        "srv/keep/k",
    ] {
        assert!(exported.iter().any(|n| n == name), "{name} in {exported:?}");
    }
    assert!(
        !exported
            .iter()
            .any(|n| n == "etc/group" || n == "srv/old/a"),
        "{exported:?}"
    );

    // A running one's, without its volume's files or /proc's (its mount
    // points stay, empty); -o writes a file.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "withvol",
        "-v",
        "store:/data",
        "bb:1",
        "sh",
        "-c",
        "echo v > /data/in-volume; echo r > /in-root; while :; do sleep 1; done",
    ]);
    hutch_tests::eventually("the container writes its files", || {
        h.run(&["exec", "withvol", "cat", "/in-root"])
            .status
            .success()
    });
    let file = h.home.join("withvol.tar");
    h.ok(&["export", "-o", file.to_str().unwrap(), "withvol"]);
    let exported = tar_names(&std::fs::read(&file).unwrap());
    assert!(exported.iter().any(|n| n == "in-root"), "{exported:?}");
    assert!(exported.iter().any(|n| n == "data"), "{exported:?}");
    assert!(exported.iter().any(|n| n == "proc"), "{exported:?}");
    assert!(
        !exported
            .iter()
            .any(|n| n.starts_with("data/") || n.starts_with("proc/")),
        "{exported:?}"
    );
    h.ok(&["rm", "-f", "withvol"]);
    h.fails_with(
        &["export", "-o", file.to_str().unwrap(), "ghost"],
        1,
        "no such container",
    );
    assert_eq!(
        tar_names(&std::fs::read(&file).unwrap()),
        exported,
        "a failed export loses nothing"
    );

    // A running container is committed too, paused while its changes are
    // read and running after.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "bb:1",
        "sh",
        "-c",
        "echo live > /live; while :; do sleep 1; done",
    ]);
    hutch_tests::eventually("the running container writes its file", || {
        h.run(&["exec", "busy", "cat", "/live"]).status.success()
    });
    h.ok(&["commit", "busy", "live:1"]);
    assert_eq!(h.ok(&["run", "--rm", "live:1", "cat", "/live"]), "live\n");
    assert_eq!(h.ok(&["exec", "busy", "echo", "still"]), "still\n");
    h.ok(&["rm", "-f", "busy"]);

    // skopeo reads the committed image out of `hutch save`.
    let saved = h.home.join("app.tar");
    h.ok(&["save", "-o", saved.to_str().unwrap(), "app:2"]);
    let out = Command::new("skopeo")
        .args(["inspect", &format!("docker-archive:{}", saved.display())])
        .output()
        .expect("skopeo is installed (./install.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["Layers"].as_array().unwrap().len(), app_layers.len());

    // A change list larger than any one message of the agent's protocol
    // (5,000 paths of 200-odd bytes) arrives whole.
    let dir = format!("/{}", "d".repeat(200));
    h.ok(&[
        "run",
        "--name",
        "many",
        "bb:1",
        "sh",
        "-c",
        &format!(
            "mkdir {dir} && cd {dir} && i=0; while [ $i -lt 5000 ]; do : > f$i; i=$((i+1)); done"
        ),
    ]);
    let listed = h.ok(&["diff", "many"]);
    assert_eq!(listed.lines().count(), 5001, "{}", &listed[..200]);
    assert!(listed.contains(&format!("A {dir}/f4999\n")));

    // Refusals say what to do and store nothing.
    let images_before = h.ok(&["images"]);
    h.fails_with(
        &["commit", "-c", "RUN make", "maker", "x:1"],
        1,
        "e.g. 'CMD",
    );
    h.fails_with(&["commit", "ghost", "x:1"], 1, "no such container");
    assert_eq!(h.ok(&["images"]), images_before);
    h.fails_with(&["diff", "ghost"], 1, "no such container");

    // Without a name the image is kept as <none> (docker's dangling
    // image): it runs by id, a tag names it, and `image prune` removes an
    // unnamed one that no container uses.
    let unnamed = h.ok(&["commit", "maker"]);
    let short = unnamed.trim()["sha256:".len()..][..12].to_string();
    let listed = h.ok(&["images"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("<none>") && l.contains(&short)),
        "{listed}"
    );
    assert_eq!(h.ok(&["run", "--rm", &short, "cat", "/added"]), "new\n");
    h.ok(&["tag", &short, "named:1"]);
    assert!(!h.ok(&["images"]).contains("<none>"));
    let unnamed = h.ok(&["commit", "-m", "spare", "maker"]);
    assert!(h.ok(&["images"]).contains("<none>"));
    h.ok(&["image", "prune", "-f"]);
    let listed = h.ok(&["images"]);
    assert!(
        !listed.contains("<none>") && listed.contains("named"),
        "{listed}"
    );
    h.fails_with(&["history", unnamed.trim()], 1, "no such image");
    h.fails_with(&["history", "nothing:9"], 1, "no such image");
    assert!(!Path::new(&h.home)
        .join("store/tmp")
        .read_dir()
        .unwrap()
        .any(|_| true));
}
