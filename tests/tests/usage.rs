//! `hutch top`, `hutch stats`, `hutch attach` and the prunes (`image`,
//! `network`, `system`) against a real machine.

use std::process::Stdio;
use std::time::{Duration, Instant};

use hutch_tests::{
    attach_then_go, busybox_rootfs_tar_with, import_busybox, Hutch, Piped, READ_AFTER_GO,
    TICK_UNTIL_GO,
};

/// `hutch events --filter container=NAME` lines while `act` runs, up to
/// the container's destroy. Events are live only, so a probe container is
/// created until the stream shows one: it is listening by then.
fn watch_events(h: &Hutch, name: &str, act: impl FnOnce()) -> Vec<String> {
    use std::io::BufRead;
    let mut events = h.cmd(&["events"]).stdout(Stdio::piped()).spawn().unwrap();
    let stdout = events.stdout.take().unwrap();
    let (lines, heard) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let mut listening = false;
    for probe in 0..30 {
        let probe = format!("probe-{probe}");
        h.ok(&["create", "--name", &probe, "bb:1", "true"]);
        h.ok(&["rm", &probe]);
        let marker = format!("name={probe})");
        let deadline = Instant::now() + Duration::from_secs(2);
        while let Ok(line) = heard.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line.contains(&marker) {
                listening = true;
                break;
            }
        }
        if listening {
            break;
        }
    }
    assert!(listening, "hutch events never showed a probe container");
    act();
    let wanted = format!("name={name})");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Ok(line) = heard.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        if line.contains(&wanted) || line.contains(&format!("name={name},")) {
            let done = line.contains(" container destroy ");
            seen.push(line);
            if done {
                break;
            }
        }
    }
    let _ = events.kill();
    let _ = events.wait();
    seen
}

#[test]
fn top_stats_and_prunes() {
    let h = Hutch::new("usage");
    import_busybox(&h, "bb:1");
    // A second image that no container will use (its rootfs built anew).
    std::fs::remove_dir_all(h.home.join("rootfs")).unwrap();
    let marker = h.home.join("marker");
    std::fs::write(&marker, "other\n").unwrap();
    let other = busybox_rootfs_tar_with(&h, &[(&marker, "etc/marker")]);
    h.ok(&["import", other.to_str().unwrap(), "other:1"]);
    let _machine = h.start("default");

    // top: the container's processes, ps -ef's columns.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "busy",
        "-m",
        "64m",
        "bb:1",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    let top = h.ok(&["top", "busy"]);
    let mut lines = top.lines();
    let titles: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        titles,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    assert!(
        lines.any(|l| l.starts_with("0 ") && l.ends_with("sh -c while :; do :; done")),
        "{top}"
    );

    // stats: a busy loop shows as CPU, the limit as the memory limit.
    let stats = h.ok(&["stats", "--no-stream", "busy"]);
    let row = stats
        .lines()
        .find(|l| l.contains(" busy "))
        .unwrap_or_else(|| panic!("no row for busy in {stats}"));
    let cells: Vec<&str> = row
        .split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let cpu: f64 = cells[2].trim_end_matches('%').parse().unwrap();
    assert!(cpu > 20.0, "a busy loop uses CPU: {stats}");
    assert!(cells[3].ends_with(" / 64MiB"), "{stats}");
    assert!(stats.starts_with("CONTAINER ID   NAME"), "{stats}");
    let everything = h.ok(&["stats", "--no-stream"]);
    assert!(everything.contains(" busy "), "{everything}");
    h.ok(&["create", "--name", "idle", "bb:1", "true"]);
    h.fails_with(&["stats", "--no-stream", "idle"], 1, "is not running");
    h.fails_with(&["top", "idle"], 1, "is not running");
    h.fails_with(&["top", "ghost"], 1, "no such container");

    // attach: a running container's output from then on, and its status.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "bb:1",
        "sh",
        "-c",
        TICK_UNTIL_GO,
    ]);
    let (rest, code) = attach_then_go(h.cmd(&["attach", "talker"]), || {
        h.ok(&["exec", "talker", "touch", "/tmp/go"]);
    });
    assert!(rest.ends_with("tick\nlate\n") || rest == "late\n", "{rest}");
    assert_eq!(code, Some(4));
    h.fails_with(&["attach", "talker"], 1, "is not running");

    // Live attach with input: clients join a running -i container's
    // stdio at any time; each gets its output from then on, input from
    // any of them reaches its stdin, and one's EOF does not close it.
    h.ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "reader",
        "bb:1",
        "sh",
        "-c",
        READ_AFTER_GO,
    ]);
    let mut watcher = Piped::spawn(h.cmd(&["attach", "--no-stdin", "reader"]));
    watcher.read_until("tick");
    let mut writer = Piped::spawn(h.cmd(&["attach", "reader"]));
    writer.read_until("tick");
    h.ok(&["exec", "reader", "touch", "/tmp/go"]);
    writer.send("one\n");
    writer.close_input();
    writer.read_until("got-one");
    let mut late = Piped::spawn(h.cmd(&["attach", "reader"]));
    late.send("two\n");
    let (late_rest, late_code) = late.finish();
    assert_eq!((late_rest.as_str(), late_code), ("got-two\n", Some(3)));
    assert_eq!(writer.finish(), ("got-two\n".to_string(), Some(3)));
    let (watched, code) = watcher.finish();
    assert!(watched.ends_with("got-one\ngot-two\n"), "{watched}");
    assert_eq!(code, Some(3));
    let logs = h.ok(&["logs", "reader"]);
    assert!(logs.ends_with("tick\ngot-one\ngot-two\n"), "{logs}");
    h.fails_with(
        &["attach", "--detach-keys", "ctrl-", "reader"],
        1,
        "e.g. ctrl-p,ctrl-q",
    );

    // events: a --rm run's lifecycle, as it happens, in docker's lines.
    let seen = watch_events(&h, "watched", || {
        h.ok(&["run", "--rm", "--name", "watched", "bb:1", "true"]);
    });
    let actions: Vec<&str> = seen
        .iter()
        .map(|l| l.split_whitespace().nth(2).unwrap_or_default())
        .collect();
    assert_eq!(actions, ["create", "start", "die", "destroy"], "{seen:?}");
    assert!(
        seen[2].ends_with(" (exitCode=0, image=bb:1, name=watched)"),
        "{seen:?}"
    );
    h.fails_with(&["events", "--filter", "volume=x"], 1, "the keys are");

    // Prunes ask first, unless -f; what is used stays.
    h.ok(&["network", "create", "spare"]);
    h.fails_with(&["system", "prune"], 1, "Pass -f");
    let pruned = h.ok(&["system", "prune", "-f"]);
    assert!(
        pruned.contains("Deleted Containers:\n") && pruned.contains("Deleted Networks:\nspare\n"),
        "{pruned}"
    );
    let ps = h.ok(&["ps", "-a"]);
    assert!(
        ps.contains("busy") && !ps.contains("idle") && !ps.contains("talker"),
        "{ps}"
    );
    assert_eq!(
        h.ok(&["image", "prune", "-f"]),
        "Total reclaimed space: 0B\n",
        "hutch keeps no dangling images"
    );
    let pruned = h.ok(&["image", "prune", "-a", "-f"]);
    assert!(
        pruned.starts_with("Deleted Images:\nuntagged: other:1\ndeleted: sha256:"),
        "{pruned}"
    );
    let images = h.ok(&["images"]);
    assert!(
        images.contains("bb ") && !images.contains("other"),
        "{images}"
    );
    h.ok(&["rm", "-f", "busy"]);
}
