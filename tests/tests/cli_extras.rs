//! The CLI keeps pace with the API: `version`, `info`, `restart`,
//! `container prune`, `completion`, `--label`, and docker's TERM with -t.

use hutch_tests::{import_busybox, Hutch};

fn inspect(h: &Hutch, name: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&h.ok(&["inspect", name])).unwrap();
    v[0].clone()
}

#[test]
fn version_info_restart_prune_and_completion() {
    let h = Hutch::new("cli-extras");
    let version = h.ok(&["version"]);
    assert!(version.starts_with("Client: hutch\n"), "{version}");
    assert!(version.contains("is not running"), "{version}");
    import_busybox(&h, "bb:1");
    let _machine = h.start("default");

    let version = h.ok(&["version"]);
    assert!(
        version.contains("Server: machine \"default\"") && version.contains(" Kernel:"),
        "{version}"
    );
    let info = h.ok(&["info"]);
    for line in [
        "Containers: 0\n",
        "Images: 1\n",
        "OSType: linux\n",
        "Cgroup Version: 2\n",
    ] {
        assert!(info.contains(line), "{line:?} in {info}");
    }
    assert!(
        info.contains("\nCPUs: ") && info.contains("\nTotal Memory: "),
        "{info}"
    );

    // restart: a new run of the same container.
    h.ok(&[
        "run", "-d", "--name", "rr", "--label", "tier=web", "bb:1", "sleep", "600",
    ]);
    let before = inspect(&h, "rr");
    assert_eq!(before["Config"]["Labels"]["tier"], "web");
    h.ok(&["restart", "-t", "1", "rr"]);
    let after = inspect(&h, "rr");
    assert_eq!(after["State"]["Status"], "running");
    assert_ne!(before["State"]["StartedAt"], after["State"]["StartedAt"]);
    assert_ne!(before["State"]["Pid"], serde_json::Value::Null);

    // pause / unpause / rename from the CLI.
    h.ok(&["pause", "rr"]);
    assert_eq!(inspect(&h, "rr")["State"]["Status"], "paused");
    assert!(h.ok(&["ps"]).contains("(Paused)"));
    h.fails_with(&["exec", "rr", "true"], 125, "paused");
    h.ok(&["unpause", "rr"]);
    assert_eq!(inspect(&h, "rr")["State"]["Status"], "running");
    h.ok(&["rename", "rr", "web1"]);
    assert_eq!(inspect(&h, "web1")["Name"], "/web1");
    h.fails_with(&["rename", "web1", "x"], 1, "at least two characters");
    h.ok(&["rename", "web1", "rr"]);

    // prune: what is not running goes, after a confirmation.
    h.ok(&["run", "--name", "done", "bb:1", "true"]);
    h.ok(&["create", "--name", "never", "bb:1", "true"]);
    h.fails_with(&["container", "prune"], 125, "Pass -f");
    let pruned = h.ok(&["container", "prune", "-f"]);
    assert!(pruned.starts_with("Deleted Containers:\n"), "{pruned}");
    assert_eq!(
        pruned.lines().filter(|l| l.len() == 64).count(),
        2,
        "{pruned}"
    );
    assert_eq!(
        h.ok(&["ps", "-a", "-q"]).lines().count(),
        1,
        "only rr is left"
    );

    // With -t, TERM is docker's.
    assert_eq!(
        h.ok(&["run", "--rm", "-t", "bb:1", "sh", "-c", "echo $TERM"]),
        "xterm\r\n"
    );
    assert_eq!(
        h.ok(&["run", "--rm", "bb:1", "sh", "-c", "echo ${TERM:-unset}"]),
        "unset\n"
    );

    let pages = h.home.join("man");
    h.ok(&["man", "--dir", pages.to_str().unwrap()]);
    let run_page = std::fs::read_to_string(pages.join("hutch-run.1")).unwrap();
    assert!(
        run_page.contains(".TH hutch-run 1") && run_page.contains("\\-\\-rm"),
        "{run_page}"
    );
    assert!(pages.join("hutch-system-service.1").exists());

    // docker-env: the DOCKER_HOST line, or a docker context.
    let socket = h.home.join("api.sock");
    let env = h.ok(&["docker-env", "--socket", socket.to_str().unwrap()]);
    assert_eq!(
        env,
        format!("export DOCKER_HOST=unix://{}\n", socket.display())
    );
    h.ok(&[
        "docker-env",
        "--socket",
        socket.to_str().unwrap(),
        "--context",
    ]);
    let host = std::process::Command::new("docker")
        .args([
            "context",
            "inspect",
            "hutch",
            "--format",
            "{{.Endpoints.docker.Host}}",
        ])
        .env("DOCKER_CONFIG", h.home.join("docker-config"))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&host.stdout),
        format!("unix://{}\n", socket.display())
    );

    let bash = h.ok(&["completion", "bash"]);
    assert!(
        bash.contains("_hutch()") && bash.contains("complete "),
        "bash completion"
    );
    assert!(h.ok(&["completion", "zsh"]).starts_with("#compdef hutch"));
    assert!(h.ok(&["completion", "fish"]).contains("complete -c hutch"));
    h.ok(&["rm", "-f", "rr"]);
}
