//! The real `docker` CLI (28.x) against `hutch system service`: the
//! containers it runs are the machine's, its exit codes are docker's, its
//! streams are framed as docker's, and bad requests get docker's errors.

use hutch_tests::docker::Service;
use hutch_tests::pty::Terminal;
use hutch_tests::registry::{docker_archive_with_config, push, Registry};
use hutch_tests::{busybox_rootfs_tar, eventually, import_busybox, Hutch, Piped};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn docker_cli_drives_hutch() {
    let h = Hutch::new("docker-api");
    import_busybox(&h, "busybox");
    let service = Service::start(&h);
    // The machine starts on demand, for the first request that needs it.
    assert_eq!(
        service.docker_ok(&["info", "--format", "{{.OSType}} {{.Images}}"]),
        "linux 1\n"
    );
    let _machine = hutch_tests::MachineGuard::adopt(&h, "default");
    assert_eq!(
        service.docker_ok(&[
            "version",
            "--format",
            "{{.Server.APIVersion}} {{.Server.Os}}"
        ]),
        "1.49 linux\n"
    );
    let mode = std::fs::metadata(&service.socket)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the socket is its owner's only");

    // Attached runs: output, streams kept apart, stdin, exit codes.
    assert_eq!(
        service.docker_ok(&["run", "--rm", "busybox", "echo", "hi"]),
        "hi\n"
    );
    let out = service.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 42",
    ]);
    assert_eq!(out.status.code(), Some(42));
    assert_eq!(stdout_of(&out), "out\n");
    assert_eq!(stderr_of(&out), "err\n");
    let out = service.docker(&["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("executable file not found"),
        "{}",
        stderr_of(&out)
    );
    let out = service.docker(&["run", "--rm", "busybox", "/etc/passwd"]);
    assert_eq!(out.status.code(), Some(126), "{}", stderr_of(&out));
    let out = service.docker(&["run", "--rm", "localhost:1/nothing:here", "true"]);
    assert_eq!(out.status.code(), Some(125), "{}", stderr_of(&out));
    let mut child = service
        .docker_cmd(&["run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"piped\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        stdout_of(&out),
        "piped\ndone\n",
        "stdin's end reaches the container, output goes on"
    );
    assert_eq!(
        service.docker_ok(&[
            "run",
            "--rm",
            "-e",
            "A=1",
            "-w",
            "/tmp",
            "-u",
            "1000",
            "busybox",
            "sh",
            "-c",
            "echo $A $(pwd) $(id -u)"
        ]),
        "1 /tmp 1000\n"
    );
    assert_eq!(
        service.docker_ok(&[
            "run",
            "--rm",
            "--entrypoint",
            "echo",
            "busybox",
            "via",
            "entrypoint"
        ]),
        "via entrypoint\n"
    );
    assert_eq!(
        service.docker_ok(&[
            "run",
            "--rm",
            "-m",
            "64m",
            "busybox",
            "cat",
            "/sys/fs/cgroup/memory.max"
        ]),
        format!("{}\n", 64 << 20)
    );
    // HostConfig's CapAdd/CapDrop/Privileged reach the kernel.
    let status = |flags: &[&str], key: &str| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "grep", key, "/proc/self/status"]);
        service.docker_ok(&args)
    };
    let capabilities = |flags: &[&str]| status(flags, "CapEff");
    assert_eq!(capabilities(&[]), "CapEff:\t00000000a80425fb\n");
    assert_eq!(
        capabilities(&["--cap-drop", "ALL", "--cap-add", "NET_RAW"]),
        "CapEff:\t0000000000002000\n"
    );
    assert_eq!(
        capabilities(&["--privileged"]),
        "CapEff:\t000001ffffffffff\n"
    );
    // SecurityOpt: docker's CLI sends a profile file's JSON, or unconfined.
    let filters = |flags: &[&str]| status(flags, "Seccomp_filters");
    assert_eq!(filters(&[]), "Seccomp_filters:\t3\n");
    assert_eq!(
        filters(&["--security-opt", "seccomp=unconfined"]),
        "Seccomp_filters:\t1\n"
    );
    let profile = h.home.join("allow-all.json");
    std::fs::write(&profile, r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#).unwrap();
    let option = format!("seccomp={}", profile.display());
    assert_eq!(
        filters(&["--security-opt", &option]),
        "Seccomp_filters:\t1\n",
        "a profile that allows everything adds no filter"
    );
    let left = service.docker_ok(&["ps", "-a", "-q"]);
    assert_eq!(left, "", "--rm containers are gone once docker run returns");

    // A detached service: logs, exec, ps, inspect, stop, rm.
    let id = service.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "busybox",
        "sh",
        "-c",
        "echo started; while true; do sleep 1; done",
    ]);
    assert_eq!(id.trim().len(), 64, "{id}");
    eventually("the detached container logs", || {
        service.docker_ok(&["logs", "web"]) == "started\n"
    });
    assert_eq!(
        service.docker_ok(&["exec", "web", "sh", "-c", "echo $((6*7))"]),
        "42\n"
    );
    let out = service.docker(&["exec", "web", "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3));
    let out = service.docker(&["exec", "web", "no-such-command"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr_of(&out));
    let ps = service.docker_ok(&["ps", "--format", "{{.Names}} {{.Status}} {{.Image}}"]);
    assert!(ps.starts_with("web Up "), "{ps}");
    assert!(ps.trim_end().ends_with(" busybox"), "{ps}");
    assert_eq!(
        service.docker_ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.Name}} {{.Config.Tty}}",
            "web"
        ]),
        "running /web false\n"
    );
    let logs = service.docker_ok(&["logs", "-t", "--tail", "1", "web"]);
    assert!(
        logs.ends_with(" started\n") && logs.starts_with("20"),
        "{logs}"
    );
    // pause freezes (the output stops), unpause thaws; rename.
    service.docker_ok(&[
        "run",
        "-d",
        "--name",
        "ticker",
        "busybox",
        "sh",
        "-c",
        "while true; do echo tick; sleep 0.1; done",
    ]);
    service.docker_ok(&["pause", "ticker"]);
    assert_eq!(
        service.docker_ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.Paused}}",
            "ticker"
        ]),
        "paused true\n"
    );
    let ps = service.docker_ok(&[
        "ps",
        "--filter",
        "status=paused",
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    assert!(
        ps.starts_with("ticker Up ") && ps.trim_end().ends_with("(Paused)"),
        "{ps}"
    );
    let out = service.docker(&["exec", "ticker", "true"]);
    assert!(
        !out.status.success() && stderr_of(&out).contains("paused"),
        "{}",
        stderr_of(&out)
    );
    let ticks = || service.docker_ok(&["logs", "ticker"]).lines().count();
    let frozen = ticks();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    assert_eq!(ticks(), frozen, "a paused container writes nothing");
    service.docker_ok(&["unpause", "ticker"]);
    eventually("the unpaused container ticks again", || ticks() > frozen);
    service.docker_ok(&["rename", "ticker", "ticker2"]);
    assert_eq!(
        service.docker_ok(&["inspect", "--format", "{{.Name}}", "ticker2"]),
        "/ticker2\n"
    );
    service.docker_ok(&["pause", "ticker2"]);
    service.docker_ok(&["stop", "-t", "1", "ticker2"]);
    service.docker_ok(&["rm", "ticker2"]);
    service.docker_ok(&["stop", "-t", "1", "web"]);
    assert_eq!(
        service.docker_ok(&[
            "inspect",
            "--format",
            "{{.State.Status}} {{.State.ExitCode}}",
            "web"
        ]),
        "exited 137\n"
    );
    let ps = service.docker_ok(&[
        "ps",
        "-a",
        "--filter",
        "status=exited",
        "--format",
        "{{.Names}} {{.Status}}",
    ]);
    assert!(ps.starts_with("web Exited (137) "), "{ps}");
    assert_eq!(service.docker_ok(&["ps", "-q"]), "");
    service.docker_ok(&["start", "web"]);
    service.docker_ok(&["kill", "web"]);
    assert_eq!(service.docker_ok(&["wait", "web"]), "137\n");
    service.docker_ok(&["rm", "web"]);
    let out = service.docker(&["inspect", "web"]);
    assert!(!out.status.success());
    assert!(
        stderr_of(&out).contains("No such") || stderr_of(&out).contains("no such"),
        "{}",
        stderr_of(&out)
    );

    // docker events: the lifecycle of a --rm run, as it happens.
    let mut events = service
        .docker_cmd(&[
            "events",
            "--format",
            "{{.Action}} {{.Actor.Attributes.name}}",
            "--filter",
            "container=watched",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    service.docker_ok(&["run", "--rm", "--name", "watched", "busybox", "true"]);
    let mut seen = String::new();
    let mut stdout = events.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        use std::io::Read;
        let mut text = String::new();
        let mut buf = [0u8; 256];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if text.contains("destroy watched\n") {
                break;
            }
        }
        text
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !reader.is_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = events.kill();
    let _ = events.wait();
    if reader.is_finished() {
        seen = reader.join().unwrap();
    }
    assert_eq!(
        seen, "create watched\nstart watched\ndie watched\ndestroy watched\n",
        "docker events saw the run's lifecycle"
    );
    // The service hears of events a moment after they happen.
    eventually("past events are kept for --since", || {
        let past = service.docker_ok(&[
            "events",
            "--since",
            "5m",
            "--until",
            "0s",
            "--filter",
            "event=die",
            "--filter",
            "container=watched",
            "--format",
            "{{.Action}} {{.Actor.Attributes.exitCode}}",
        ]);
        past == "die 0\n"
    });

    // docker's legacy event fields, which compose 1.29 reads.
    let (_, body) = service.curl(&[&format!(
        "http://hutch/v1.49/events?since=0&until={}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 1
    )]);
    let first: serde_json::Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert!(
        first["status"].is_string() && first["id"].is_string(),
        "{first}"
    );

    // start -a of an exited container waits for this run's exit, not the last one's.
    service.docker_ok(&[
        "create",
        "--name",
        "counter",
        "busybox",
        "sh",
        "-c",
        "n=$(cat /n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /n; echo run $n; exit $n",
    ]);
    for n in [1, 2] {
        let out = service.docker(&["start", "-a", "counter"]);
        assert_eq!(stdout_of(&out), format!("run {n}\n"));
        assert_eq!(out.status.code(), Some(n));
    }
    service.docker_ok(&["rm", "counter"]);
    let out = service.docker(&["container", "prune", "-f", "--filter", "label=x"]);
    assert!(
        !out.status.success() && stderr_of(&out).contains("not supported"),
        "prune with a filter it cannot apply is refused: {}",
        stderr_of(&out)
    );

    // create + start -a, and rm -f of a running one.
    service.docker_ok(&[
        "create",
        "--name",
        "later",
        "busybox",
        "echo",
        "from create",
    ]);
    assert_eq!(
        service.docker_ok(&["start", "-a", "later"]),
        "from create\n"
    );
    service.docker_ok(&["run", "-d", "--name", "busy", "busybox", "sleep", "600"]);
    service.docker_ok(&["rm", "-f", "busy", "later"]);

    // Images.
    let images = service.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    assert_eq!(images, "busybox:latest\n");
    service.docker_ok(&["tag", "busybox", "mine/box:2"]);
    assert_eq!(
        service.docker_ok(&["run", "--rm", "mine/box:2", "echo", "tagged"]),
        "tagged\n"
    );
    let removed = service.docker_ok(&["rmi", "mine/box:2"]);
    assert!(removed.contains("Untagged: mine/box:2"), "{removed}");
}

#[test]
fn docker_pulls_missing_images_from_a_registry() {
    let h = Hutch::new("docker-api-pull");
    let work = h.home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let registry = Registry::start(&work);
    let layer = busybox_rootfs_tar(&h);
    let archive = docker_archive_with_config(
        &work,
        "app:1",
        &[&layer],
        serde_json::json!({"Cmd": ["echo", "from the registry"]}),
    );
    let name = format!("{}/app:1", registry.host());
    push(&archive, &name);
    let service = Service::start(&h);
    let _ = service.docker_ok(&["info"]);
    let _machine = hutch_tests::MachineGuard::adopt(&h, "default");

    // `docker run` of an image not here: 404, pull, create again.
    let out = service.docker(&["run", "--rm", &name]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "from the registry\n");
    assert!(
        stderr_of(&out).contains("Unable to find image"),
        "{}",
        stderr_of(&out)
    );
    let pulled = service.docker_ok(&["pull", &name]);
    assert!(pulled.contains("Image is up to date"), "{pulled}");
    service.docker_ok(&["rmi", &name]);
    let pulled = service.docker_ok(&["pull", &name]);
    assert!(pulled.contains("Downloaded newer image"), "{pulled}");
}

#[test]
fn bad_requests_get_docker_errors() {
    let h = Hutch::new("docker-api-errors");
    let service = Service::start(&h);
    let (code, body) = service.curl(&["http://hutch/_ping"]);
    assert_eq!((code, body.as_str()), (200, "OK"));
    let (code, body) = service.curl(&["http://hutch/v1.49/no/such/endpoint"]);
    assert_eq!(code, 404);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["message"].as_str().unwrap().contains("page not found"),
        "{body}"
    );
    let (code, body) = service.curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        "{\"Image\": ",
        "http://hutch/v1.49/containers/create",
    ]);
    assert_eq!(code, 400, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["message"].as_str().unwrap().contains("invalid JSON"),
        "{body}"
    );
    let big = h.home.join("big.json");
    std::fs::write(&big, vec![b' '; 8 << 20]).unwrap();
    let (code, _) = service.curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
        &format!("@{}", big.display()),
        "http://hutch/v1.49/containers/create",
    ]);
    assert_eq!(code, 413, "an oversized body is refused");
    let (code, body) = service.curl(&["http://hutch/v1.49/containers/json?filters=nonsense"]);
    assert_eq!(code, 400, "{body}");
    // A second service on the same socket is refused; the first one serves on.
    let out = h.run(&[
        "system",
        "service",
        "--socket",
        service.socket.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(stderr_of(&out).contains("in use"), "{}", stderr_of(&out));
    let (code, _) = service.curl(&["http://hutch/_ping"]);
    assert_eq!(code, 200);
}

#[test]
fn docker_py_drives_hutch() {
    let h = Hutch::new("docker-api-py");
    let layer = busybox_rootfs_tar(&h);
    h.ok(&["import", layer.to_str().unwrap(), "busybox"]);
    let work = h.home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let registry = Registry::start(&work);
    let archive = docker_archive_with_config(&work, "py:1", &[&layer], serde_json::json!({}));
    let pushed = format!("{}/py:1", registry.host());
    push(&archive, &pushed);
    let service = Service::start(&h);
    let _ = service.docker_ok(&["info"]);
    let _machine = hutch_tests::MachineGuard::adopt(&h, "default");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/docker_py.py");
    // Debian's python3 with Debian's docker-py (python3-docker, which
    // docker-compose depends on).
    let out = std::process::Command::new("/usr/bin/python3")
        .arg(&script)
        .arg(&pushed)
        .env("DOCKER_HOST", service.host())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
    assert_eq!(stdout_of(&out), "docker-py ok\n");
}

#[test]
fn docker_run_it_gives_a_real_terminal() {
    let h = Hutch::new("docker-api-tty");
    import_busybox(&h, "busybox");
    let service = Service::start(&h);
    let _ = service.docker_ok(&["info"]);
    let _machine = hutch_tests::MachineGuard::adopt(&h, "default");

    let mut cmd = service.docker_cmd(&["run", "-it", "--rm", "--name", "term", "busybox", "sh"]);
    let mut term = Terminal::spawn(&mut cmd, 30, 100);
    term.wait_for("/ # ");
    term.type_in("echo sum-$((40+2)) $TERM\r");
    term.wait_for("sum-42 xterm");
    assert!(
        term.shows("echo sum-$((40+2))"),
        "typing is echoed by the container's terminal"
    );
    term.type_in("stty size\r");
    term.wait_for("30 100");
    term.resize(40, 120);
    eventually("the resize arrives", || {
        term.type_in("stty size\r");
        std::thread::sleep(std::time::Duration::from_millis(200));
        term.shows("40 120")
    });
    // Ctrl-C travels as a key and interrupts sleep, not the session.
    let status = term.ctrl_c_spares_the_shell(|| service.docker_ok(&["exec", "term", "ps"]));
    assert_eq!(status, Some(5));
    assert_eq!(service.docker_ok(&["ps", "-a", "-q"]), "");

    // docker attach joins a detached container's terminal; Ctrl-P Ctrl-Q
    // leaves it running, and a second attach ends it.
    service.docker_ok(&["run", "-d", "-it", "--name", "held", "busybox", "sh"]);
    let mut first = Terminal::spawn(&mut service.docker_cmd(&["attach", "held"]), 24, 90);
    first.type_in("mark=kept; echo in-$((6*7))\r");
    first.wait_for("in-42");
    first.type_in("\x10\x11");
    first.child.wait().unwrap();
    assert_eq!(
        service.docker_ok(&["inspect", "--format", "{{.State.Status}}", "held"]),
        "running\n"
    );
    let mut second = Terminal::spawn(&mut service.docker_cmd(&["attach", "held"]), 24, 90);
    second.type_in("echo $mark-$((6*7)); exit 7\r");
    second.wait_for("kept-42");
    assert_eq!(second.child.wait().unwrap().code(), Some(7));
    service.docker_ok(&["rm", "held"]);
}

#[test]
fn docker_compose_brings_a_project_up_and_down() {
    let h = Hutch::new("docker-api-compose");
    import_busybox(&h, "busybox");
    let service = Service::start(&h);
    let _ = service.docker_ok(&["info"]);
    let _machine = hutch_tests::MachineGuard::adopt(&h, "default");
    let project = h.home.join("shop");
    std::fs::create_dir_all(&project).unwrap();
    // web serves a page; client finds web by its service name on the
    // project's network, fetches it and logs it.
    std::fs::write(
        project.join("docker-compose.yml"),
        r#"version: "3"
services:
  web:
    image: busybox
    command: ["sh", "-c", "mkdir /www && echo hello-from-web > /www/index.html && httpd -f -p 8080 -h /www"]
  client:
    image: busybox
    depends_on: [web]
    command: ["sh", "-c", "until wget -qO- http://web:8080/; do sleep 0.2; done; sleep 600"]
"#,
    )
    .unwrap();
    let compose = |args: &[&str]| {
        let out = std::process::Command::new("docker-compose")
            .args(args)
            .current_dir(&project)
            .env("DOCKER_HOST", service.host())
            .output()
            .expect("Debian's docker-compose is installed");
        assert!(
            out.status.success(),
            "docker-compose {args:?}: {}",
            stderr_of(&out)
        );
        stdout_of(&out)
    };
    compose(&["up", "-d"]);
    eventually("client fetches web's page by its service name", || {
        compose(&["logs", "--no-color", "client"]).contains("hello-from-web")
    });
    let ps = compose(&["ps"]);
    assert_eq!(ps.matches(" Up ").count(), 2, "{ps}");
    assert!(
        ps.contains("shop_web_1") && ps.contains("shop_client_1"),
        "{ps}"
    );
    let networks = service.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(networks.lines().any(|n| n == "shop_default"), "{networks}");
    compose(&["down", "-t", "1"]);
    assert_eq!(service.docker_ok(&["ps", "-a", "-q"]), "");
    let networks = service.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!networks.contains("shop_default"), "{networks}");
}

#[test]
fn docker_cli_volumes_ports_and_archives() {
    let h = Hutch::new("docker-api-more");
    import_busybox(&h, "busybox");
    let service = Service::start(&h);
    let _ = service.docker_ok(&["info"]);
    let _machine = hutch_tests::MachineGuard::adopt(&h, "default");

    // Named volumes outlive their containers; host directories bind.
    service.docker_ok(&["volume", "create", "data"]);
    service.docker_ok(&[
        "run",
        "--rm",
        "-v",
        "data:/data",
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ]);
    assert_eq!(
        service.docker_ok(&[
            "run",
            "--rm",
            "-v",
            "data:/data:ro",
            "busybox",
            "cat",
            "/data/f"
        ]),
        "kept\n"
    );
    assert_eq!(
        service.docker_ok(&["volume", "ls", "--format", "{{.Name}} {{.Driver}}"]),
        "data local\n"
    );
    assert_eq!(
        service.docker_ok(&["volume", "inspect", "--format", "{{.Name}}", "data"]),
        "data\n"
    );
    service.docker_ok(&["volume", "rm", "data"]);
    let out = service.docker(&["volume", "inspect", "data"]);
    assert!(
        !out.status.success() && stderr_of(&out).contains("no such volume"),
        "{}",
        stderr_of(&out)
    );
    let shared = h.home.join("src");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::write(shared.join("main.txt"), "from the host\n").unwrap();
    let bind = format!("{}:/src", shared.display());
    assert_eq!(
        service.docker_ok(&[
            "run",
            "--rm",
            "-v",
            &bind,
            "busybox",
            "cat",
            "/src/main.txt"
        ]),
        "from the host\n"
    );

    // -p publishes on the host; docker port reads it back.
    service.docker_ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1::8080",
        "busybox",
        "sh",
        "-c",
        "mkdir /www && echo served > /www/index.html && httpd -f -p 8080 -h /www",
    ]);
    let port = service.docker_ok(&["port", "web", "8080"]);
    let address = port.lines().next().unwrap_or_default().to_string();
    assert!(address.starts_with("127.0.0.1:"), "{port}");
    eventually("the published port serves", || {
        std::process::Command::new("curl")
            .args(["-sf", &format!("http://{address}/")])
            .output()
            .is_ok_and(|o| o.stdout == b"served\n")
    });

    // docker attach: a running container's output from then on, its status.
    service.docker_ok(&[
        "run",
        "-d",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        hutch_tests::TICK_UNTIL_GO,
    ]);
    let attach = service.docker_cmd(&["attach", "--no-stdin", "talker"]);
    let (rest, code) = hutch_tests::attach_then_go(attach, || {
        service.docker_ok(&["exec", "talker", "touch", "/tmp/go"]);
    });
    assert!(rest.ends_with("tick\nlate\n") || rest == "late\n", "{rest}");
    assert_eq!(code, Some(4));
    service.docker_ok(&["rm", "talker"]);

    // docker attach with input: a -i container's stdin, joined while it
    // runs, takes what we send; the attachment ends with its status.
    service.docker_ok(&[
        "run",
        "-d",
        "-i",
        "--name",
        "reader",
        "busybox",
        "sh",
        "-c",
        hutch_tests::READ_AFTER_GO,
    ]);
    let mut attached = Piped::spawn(service.docker_cmd(&["attach", "reader"]));
    attached.read_until("tick");
    service.docker_ok(&["exec", "reader", "touch", "/tmp/go"]);
    attached.send("one\ntwo\n");
    let (rest, code) = attached.finish();
    assert!(rest.ends_with("got-one\ngot-two\n"), "{rest}");
    assert_eq!(code, Some(3));
    service.docker_ok(&["rm", "reader"]);

    // docker top and stats of the running server.
    let top = service.docker_ok(&["top", "web"]);
    assert!(
        top.starts_with("UID") && top.contains("httpd -f -p 8080"),
        "{top}"
    );
    let stats = service.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}} {{.PIDs}} {{.MemUsage}}",
        "web",
    ]);
    let fields: Vec<&str> = stats.split_whitespace().collect();
    assert_eq!(fields.first(), Some(&"web"), "{stats}");
    assert!(
        fields[1].parse::<u32>().is_ok_and(|n| n >= 1) && fields[3] == "/",
        "{stats}"
    );

    // docker cp both ways, byte-exact, larger than the API's body limit
    // for JSON; a tree with its symlink; a tar to stdout; a missing path.
    let payload: Vec<u8> = (0..5u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let sent = h.home.join("payload.bin");
    std::fs::write(&sent, &payload).unwrap();
    service.docker_ok(&["cp", sent.to_str().unwrap(), "web:/tmp/payload.bin"]);
    assert_eq!(
        service.docker_ok(&["exec", "web", "sh", "-c", "wc -c < /tmp/payload.bin"]),
        format!("{}\n", payload.len())
    );
    let back = h.home.join("back.bin");
    service.docker_ok(&["cp", "web:/tmp/payload.bin", back.to_str().unwrap()]);
    assert!(
        std::fs::read(&back).unwrap() == payload,
        "the bytes came back"
    );
    service.docker_ok(&[
        "exec",
        "web",
        "sh",
        "-c",
        "mkdir -p /www/sub && echo deep > /www/sub/f && busybox ln -s index.html /www/link",
    ]);
    let tree = h.home.join("www-copy");
    service.docker_ok(&["cp", "web:/www", tree.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(tree.join("sub/f")).unwrap(),
        "deep\n"
    );
    assert_eq!(
        std::fs::read_link(tree.join("link")).unwrap(),
        std::path::Path::new("index.html")
    );
    let tar_out = service.docker(&["cp", "web:/www/index.html", "-"]);
    assert!(tar_out.status.success(), "{}", stderr_of(&tar_out));
    let mut archive = tar::Archive::new(&tar_out.stdout[..]);
    let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
    assert_eq!(entry.path().unwrap().to_str(), Some("index.html"));
    let mut served = String::new();
    std::io::Read::read_to_string(&mut entry, &mut served).unwrap();
    assert_eq!(served, "served\n");
    let missing = service.docker(&["cp", "web:/nope", h.home.to_str().unwrap()]);
    assert!(
        !missing.status.success() && stderr_of(&missing).contains("nope"),
        "{}",
        stderr_of(&missing)
    );
    service.docker_ok(&["rm", "-f", "web"]);

    // commit, diff and history: a container's changes become an image.
    service.docker_ok(&[
        "run",
        "--name",
        "maker",
        "busybox",
        "sh",
        "-c",
        "echo made > /made && rm /etc/group",
    ]);
    assert_eq!(
        service.docker_ok(&["diff", "maker"]),
        "C /etc\nD /etc/group\nA /made\n"
    );
    let id = service.docker_ok(&[
        "commit",
        "-m",
        "by docker",
        "--change",
        "CMD cat /made",
        "maker",
        "made:1",
    ]);
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(service.docker_ok(&["run", "--rm", "made:1"]), "made\n");
    let history = service.docker_ok(&[
        "history",
        "--format",
        "{{.CreatedBy}}|{{.Comment}}",
        "made:1",
    ]);
    assert!(
        history.starts_with("sh -c echo made > /made && rm /etc/group|by docker\n"),
        "{history}"
    );
    // Without a name: docker's dangling image, which `image prune` removes.
    let unnamed = service.docker_ok(&["commit", "maker"]);
    let names = service.docker_ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    assert!(
        names.contains(&format!("<none>:<none> {}", &unnamed.trim()[7..19])),
        "{names}"
    );
    let pruned = service.docker_ok(&["image", "prune", "-f"]);
    assert!(pruned.contains(unnamed.trim()), "{pruned}");
    let exported = h.home.join("maker.tar");
    service.docker_ok(&["export", "-o", exported.to_str().unwrap(), "maker"]);
    let listed = std::process::Command::new("tar")
        .arg("-tf")
        .arg(&exported)
        .output()
        .unwrap();
    let listed = stdout_of(&listed);
    assert!(
        listed.lines().any(|l| l == "made") && !listed.lines().any(|l| l == "etc/group"),
        "{listed}"
    );
    service.docker_ok(&["rm", "maker"]);
    service.docker_ok(&["rmi", "made:1"]);

    // save | load round trip, and system df.
    let archive = h.home.join("busybox.tar");
    service.docker_ok(&["save", "-o", archive.to_str().unwrap(), "busybox"]);
    service.docker_ok(&["rmi", "busybox"]);
    assert_eq!(service.docker_ok(&["images", "-q"]), "");
    let loaded = service.docker_ok(&["load", "-i", archive.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: busybox:latest"), "{loaded}");
    assert_eq!(
        service.docker_ok(&["run", "--rm", "busybox", "echo", "reloaded"]),
        "reloaded\n"
    );
    let df = service.docker_ok(&["system", "df", "--format", "{{.Type}} {{.TotalCount}}"]);
    assert!(df.contains("Images 1"), "{df}");

    // Prunes: what nothing uses goes, what is used stays.
    service.docker_ok(&["network", "create", "spare"]);
    service.docker_ok(&["network", "create", "kept"]);
    service.docker_ok(&["create", "--name", "idle", "busybox", "true"]);
    service.docker_ok(&[
        "run",
        "-d",
        "--name",
        "up",
        "--network",
        "kept",
        "busybox",
        "sleep",
        "600",
    ]);
    let pruned = service.docker_ok(&["system", "prune", "-f"]);
    assert!(
        pruned.contains("Deleted Containers:") && pruned.contains("Deleted Networks:\nspare\n"),
        "{pruned}"
    );
    assert_eq!(
        service.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]),
        "up\n"
    );
    let pruned = service.docker_ok(&["image", "prune", "-a", "-f"]);
    assert!(pruned.contains("Total reclaimed space"), "{pruned}");
    assert_eq!(
        service.docker_ok(&["images", "--format", "{{.Repository}}"]),
        "busybox\n",
        "the image a container uses stays"
    );
    service.docker_ok(&["rm", "-f", "up"]);
    let pruned = service.docker_ok(&["image", "prune", "-a", "-f"]);
    assert!(pruned.contains("untagged: busybox:latest"), "{pruned}");
    assert_eq!(service.docker_ok(&["images", "-q"]), "");
}

#[test]
fn many_clients_and_clients_that_leave() {
    let h = Hutch::new("docker-api-load");
    import_busybox(&h, "busybox");
    let service = Service::start(&h);
    let _ = service.docker_ok(&["info"]);
    let _machine = hutch_tests::MachineGuard::adopt(&h, "default");
    let (code, body) = service.curl(&["-I", "http://hutch/_ping"]);
    assert_eq!(code, 200, "HEAD /_ping");
    assert!(
        body.to_ascii_lowercase().contains("api-version: 1.49"),
        "{body}"
    );

    // 20 clients at once: runs and lists interleaved.
    let outputs: Vec<_> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..20)
            .map(|i| {
                let service = &service;
                scope.spawn(move || match i % 2 {
                    0 => service.docker_ok(&[
                        "run",
                        "--rm",
                        "busybox",
                        "echo",
                        &format!("client-{i}"),
                    ]),
                    _ => service
                        .docker_ok(&["ps", "-a", "--format", "{{.ID}}"])
                        .replace(char::is_alphanumeric, ""),
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    for (i, out) in outputs.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        assert_eq!(out, &format!("client-{i}\n"));
    }
    assert_eq!(service.docker_ok(&["ps", "-a", "-q"]), "");

    // A client attached to a running container goes away: the container
    // lives on, and the service serves on.
    let mut attached = service
        .docker_cmd(&[
            "run",
            "--name",
            "left",
            "busybox",
            "sh",
            "-c",
            "echo up; sleep 600",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    eventually("the attached run starts", || {
        service.docker_ok(&["ps", "--format", "{{.Names}}"]) == "left\n"
    });
    attached.kill().unwrap();
    attached.wait().unwrap();
    assert_eq!(
        service.docker_ok(&["inspect", "--format", "{{.State.Status}}", "left"]),
        "running\n"
    );
    assert_eq!(service.docker_ok(&["logs", "left"]), "up\n");
    service.docker_ok(&["rm", "-f", "left"]);

    // One that attaches to a created container and leaves before the
    // start: a later start -a gets the output all the same.
    service.docker_ok(&["create", "--name", "later", "busybox", "echo", "still here"]);
    let mut curl = std::process::Command::new("curl")
        .args(["-s", "-N", "--unix-socket"])
        .arg(&service.socket)
        .args([
            "-X",
            "POST",
            "-H",
            "Connection: Upgrade",
            "-H",
            "Upgrade: tcp",
            "http://hutch/v1.49/containers/later/attach?stream=1&stdout=1&stderr=1",
        ])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    curl.kill().unwrap();
    curl.wait().unwrap();
    assert_eq!(service.docker_ok(&["start", "-a", "later"]), "still here\n");
    service.docker_ok(&["rm", "later"]);

    // A wait on a created container ends when it is removed from elsewhere.
    service.docker_ok(&["create", "--name", "doomed", "busybox", "true"]);
    let waiter = std::process::Command::new("curl")
        .args(["-s", "--unix-socket"])
        .arg(&service.socket)
        .args([
            "-X",
            "POST",
            "http://hutch/v1.49/containers/doomed/wait?condition=next-exit",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    h.ok(&["rm", "doomed"]);
    let out = waiter.wait_with_output().unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["StatusCode"], 125, "{reply}");
    assert_eq!(
        service.docker_ok(&["run", "--rm", "busybox", "echo", "fine"]),
        "fine\n"
    );
}

#[test]
fn docker_cli_builds_with_the_classic_builder() {
    let h = Hutch::new("docker-api-build");
    import_busybox(&h, "busybox");
    let service = Service::start(&h);
    let _ = service.docker_ok(&["info"]);
    let _machine = hutch_tests::MachineGuard::adopt(&h, "default");
    let context = h.home.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(context.join("app.txt"), "from the context\n").unwrap();
    std::fs::write(context.join("secret.txt"), "never sent\n").unwrap();
    std::fs::write(context.join(".dockerignore"), "secret.txt\n").unwrap();
    // A Dockerfile outside the context: the CLI adds it under a name of
    // its own and names that in `dockerfile=`.
    let dockerfile = h.home.join("Build.dockerfile");
    std::fs::write(
        &dockerfile,
        "FROM busybox\nARG WHO=nobody\nCOPY . /app/\nRUN echo \"built for $WHO\" > /app/who\n\
         CMD [\"sh\", \"-c\", \"cat /app/who /app/app.txt; ls /app\"]\n",
    )
    .unwrap();
    let build = |extra: &[&str]| {
        let mut args = vec!["build", "-f", dockerfile.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.push(context.to_str().unwrap());
        service
            .docker_cmd(&args)
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .unwrap()
    };
    let out = build(&["-t", "built:1", "--build-arg", "WHO=docker"]);
    let text = stdout_of(&out);
    assert!(out.status.success(), "{text}{}", stderr_of(&out));
    for wanted in [
        "Step 1/5 : FROM busybox",
        "Step 4/5 : RUN echo \"built for $WHO\" > /app/who",
        " ---> Running in ",
        "Successfully tagged built:1",
    ] {
        assert!(text.contains(wanted), "{wanted:?} in:\n{text}");
    }
    assert_eq!(
        service.docker_ok(&["run", "--rm", "built:1"]),
        "built for docker\nfrom the context\napp.txt\nwho\n",
        "secret.txt stays out, as does the CLI's own copy of the Dockerfile"
    );

    // The same build again: every step from the cache; -q prints the id.
    let again = build(&["-t", "built:1", "--build-arg", "WHO=docker"]);
    assert_eq!(stdout_of(&again).matches(" ---> Using cache").count(), 4);
    let quiet = build(&["-q", "-t", "built:1", "--build-arg", "WHO=docker"]);
    let id = service.docker_ok(&["image", "inspect", "-f", "{{.Id}}", "built:1"]);
    assert_eq!(stdout_of(&quiet), id);

    // A failing step: docker's message and a failed status; nothing named.
    std::fs::write(&dockerfile, "FROM busybox\nRUN echo trying && exit 5\n").unwrap();
    let failed = build(&["-t", "broken:1"]);
    assert!(!failed.status.success());
    assert!(
        stdout_of(&failed).contains("trying"),
        "{}",
        stdout_of(&failed)
    );
    assert!(
        stderr_of(&failed).contains("returned a non-zero code: 5"),
        "{}",
        stderr_of(&failed)
    );
    assert!(
        service
            .docker(&["image", "inspect", "broken:1"])
            .status
            .code()
            == Some(1)
    );
    assert_eq!(service.docker_ok(&["ps", "-aq"]), "");

    // builder prune empties the cache; the named image stays.
    service.docker_ok(&["builder", "prune", "-f"]);
    std::fs::write(
        &dockerfile,
        "FROM busybox\nARG WHO=nobody\nCOPY . /app/\nRUN echo \"built for $WHO\" > /app/who\n",
    )
    .unwrap();
    let rebuilt = build(&["--build-arg", "WHO=docker"]);
    assert!(
        !stdout_of(&rebuilt).contains("Using cache"),
        "{}",
        stdout_of(&rebuilt)
    );
    assert_eq!(
        service.docker_ok(&["run", "--rm", "built:1", "cat", "/app/who"]),
        "built for docker\n"
    );
}
