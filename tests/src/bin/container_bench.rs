//! Container benchmarks: prints figures, asserts nothing.
//!
//!   cargo run --release -p hutch-tests --bin hutch-container-bench
//!
//! In one running machine (TCG):
//! - `hutch run --rm <busybox> true` (median of 20), next to `machine exec
//!   true` (the floor: one process, no container) and to Debian's crun
//!   running the same image's root in the same machine through `machine
//!   exec` (crun and its libraries delivered as an image, started through
//!   their own dynamic loader);
//! - memory per container: the machine's used memory with 10 idle
//!   containers, less what it used before, divided by 10.

use hutch_tests::{import_busybox, median_time, ms, Hutch};
use std::path::Path;
use std::process::{Command, Stdio};

const MACHINE: &str = "default";
const RUNS: usize = 20;

/// MemTotal - MemAvailable in the machine, in KiB.
fn used_kib(h: &Hutch) -> u64 {
    let meminfo = h.exec_ok(MACHINE, &["cat", "/proc/meminfo"]);
    let field = |name: &str| {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field("MemTotal:") - field("MemAvailable:")
}

/// A rootfs tar holding /usr/bin/crun and the libraries ldd lists, at
/// their own paths.
fn crun_rootfs(h: &Hutch) -> Result<std::path::PathBuf, String> {
    let crun = Path::new("/usr/bin/crun");
    if !crun.exists() {
        return Err("crun is not installed (apt install crun)".into());
    }
    let ldd = Command::new("ldd")
        .arg(crun)
        .output()
        .map_err(|e| format!("ldd: {e}"))?;
    let root = h.home.join("crun-root");
    let mut files = vec![crun.to_path_buf()];
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        if let Some(path) = line.split_whitespace().find(|w| w.starts_with('/')) {
            files.push(path.into());
        }
    }
    for file in &files {
        let to = root.join(file.strip_prefix("/").unwrap());
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        // Resolved: the loader is a symlink on Debian.
        std::fs::copy(std::fs::canonicalize(file).unwrap(), &to).map_err(|e| e.to_string())?;
    }
    let tar = h.home.join("crun-root.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .args(["-cf"])
        .arg(&tar)
        .arg(".")
        .status()
        .map_err(|e| e.to_string())?;
    ok.success()
        .then_some(tar)
        .ok_or_else(|| "tar failed".to_string())
}

/// The crun command line (as a `machine exec` argument list) running
/// `true` from the busybox image's root, or why it cannot be measured.
fn crun_in_machine(h: &Hutch) -> Result<Vec<String>, String> {
    let tar = crun_rootfs(h)?;
    h.ok(&["import", tar.to_str().unwrap(), "crun-peer:1"]);
    let mount = |image: &str| h.ok(&["image", "mount", image]).trim().to_string();
    let (crun_root, bb_root) = (mount("crun-peer:1"), mount("bb:1"));
    let spec_dir = h.home.join("crun-spec");
    std::fs::create_dir_all(&spec_dir).unwrap();
    let made = Command::new("crun")
        .args(["spec", "--rootless"])
        .current_dir(&spec_dir)
        .status()
        .map_err(|e| e.to_string())?;
    if !made.success() {
        return Err("crun spec failed".into());
    }
    let text = std::fs::read_to_string(spec_dir.join("config.json")).unwrap();
    let mut spec: serde_json::Value = serde_json::from_str(&text).unwrap();
    spec["process"]["terminal"] = false.into();
    spec["process"]["args"] = serde_json::json!(["true"]);
    spec["root"] = serde_json::json!({ "path": bb_root, "readonly": true });
    // Rootful in the machine: the same namespaces hutch uses, no user namespace.
    spec["linux"]["namespaces"] = serde_json::json!([
        {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
        {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
    ]);
    // No user mappings (rootful), and no device rules: crun enforces
    // those with eBPF, which the machine's kernel leaves out.
    let linux = spec["linux"].as_object_mut().unwrap();
    for key in ["uidMappings", "gidMappings", "resources"] {
        linux.remove(key);
    }
    let mounts: Vec<serde_json::Value> = spec["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["destination"] != "/sys")
        .cloned()
        .collect();
    spec["mounts"] = mounts.into();
    let mut put = h
        .cmd(&[
            "machine",
            "exec",
            "-i",
            "--name",
            MACHINE,
            "--",
            "sh",
            "-c",
            "mkdir -p /tmp/bundle && cat > /tmp/bundle/config.json",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    put.stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    put.wait().unwrap();
    let libs = ["lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu", "lib64"]
        .map(|d| format!("{crun_root}/{d}"))
        .join(":");
    let command = vec![
        format!("{crun_root}/lib64/ld-linux-x86-64.so.2"),
        "--library-path".into(),
        libs,
        format!("{crun_root}/usr/bin/crun"),
        "--root".into(),
        "/tmp/crun-state".into(),
        "run".into(),
        "--bundle".into(),
        "/tmp/bundle".into(),
        "peer".into(),
    ];
    let mut check = vec!["machine", "exec", "--name", MACHINE, "--"];
    check.extend(command.iter().map(String::as_str));
    let out = h.run(&check);
    if !out.status.success() {
        return Err(format!(
            "crun failed in the machine: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(command)
}

fn main() {
    std::env::set_var("HUTCH_TEST_RELEASE", "1");
    let h = Hutch::new("container-bench");
    import_busybox(&h, "bb:1");
    let machine = h.start(MACHINE);
    // Delivers the image's layer once, outside the timing.
    h.ok(&["run", "--rm", "bb:1", "true"]);

    let run = median_time(&h, RUNS, &["run", "--rm", "bb:1", "true"]);
    let exec = median_time(&h, RUNS, &["machine", "exec", "--", "true"]);
    println!("container start → exit round trip (TCG, median of {RUNS})");
    println!("  hutch run --rm busybox true   {:8.1} ms", ms(run));
    println!(
        "  hutch machine exec true       {:8.1} ms  (floor: no container)",
        ms(exec)
    );
    match crun_in_machine(&h) {
        Ok(command) => {
            let mut args = vec!["machine", "exec", "--"];
            args.extend(command.iter().map(String::as_str));
            let crun = median_time(&h, RUNS, &args);
            println!(
                "  machine exec crun run true    {:8.1} ms  (peer, same machine)",
                ms(crun)
            );
        }
        Err(why) => println!("  crun run true: not measured: {why}"),
    }

    const IDLE: u64 = 10;
    let before = used_kib(&h);
    for i in 0..IDLE {
        h.ok(&[
            "run",
            "-d",
            "--name",
            &format!("idle{i}"),
            "bb:1",
            "sleep",
            "1000",
        ]);
    }
    let after = used_kib(&h);
    println!(
        "memory per idle container (sleep; {IDLE} running): {:.0} KiB",
        after.saturating_sub(before) as f64 / IDLE as f64
    );
    drop(machine);
}
