//! Harness for end-to-end tests: a private `$HUTCH_HOME` per test, the real
//! `hutch` binary, and a guard that never leaves a machine running.

pub mod docker;
pub mod pty;
pub mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// The `hutch` binary, built once per test run (a no-op when up to date).
pub fn hutch_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let profile_release = std::env::var("HUTCH_TEST_RELEASE").is_ok_and(|v| v == "1");
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace_root())
            .args(["build", "-q", "-p", "hutch-cli"]);
        if profile_release {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("running cargo build");
        assert!(status.success(), "building hutch failed");
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"));
        target
            .join(if profile_release { "release" } else { "debug" })
            .join("hutch")
    })
    .clone()
}

/// A program of the `hutch-test-probes` crate, built static (musl) so it
/// runs in the machine and in any container: once per test run.
pub fn probe_bin(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let target = "x86_64-unknown-linux-musl";
        let status = Command::new(cargo)
            .current_dir(workspace_root())
            .args(["build", "-q", "--release", "-p", "hutch-test-probes", "--target", target])
            .status()
            .expect("running cargo build");
        assert!(
            status.success(),
            "building the test probes failed (is the {target} target installed? ./install.sh adds it)"
        );
        std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target"))
            .join(target)
            .join("release")
    });
    dir.join(name)
}

/// The guest kernel and initramfs that ./install.sh built.
pub fn guest_dir() -> PathBuf {
    let dir = std::env::var_os("HUTCH_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/guest"));
    assert!(
        dir.join("vmlinux").is_file() && dir.join("initramfs.cpio.gz").is_file(),
        "no guest files in {}: run ./install.sh --no-demo (./test.sh does)",
        dir.display()
    );
    dir
}

pub struct Hutch {
    pub home: PathBuf,
}

impl Hutch {
    /// A fresh, empty `$HUTCH_HOME` under the system temp dir.
    pub fn new(test: &str) -> Self {
        let home = std::env::temp_dir().join(format!("hutch-e2e-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(&home).unwrap();
        Hutch { home }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(hutch_bin());
        cmd.args(args)
            .env("HUTCH_HOME", &self.home)
            .env("HUTCH_GUEST_DIR", guest_dir())
            // Not the developer's `docker login`s: hutch falls back to them.
            .env("DOCKER_CONFIG", self.home.join("docker-config"))
            .env_remove("HUTCH_LOG")
            .stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("running hutch")
    }

    /// Runs and insists on success, returning stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "hutch {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and insists on docker's failure status 125 with `expected` in
    /// the message; returns stderr.
    pub fn fails(&self, args: &[&str], expected: &str) -> String {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(125), "hutch {args:?}: {err}");
        assert!(
            err.contains(expected),
            "hutch {args:?}: wanted {expected:?} in: {err}"
        );
        err
    }

    /// Runs and insists on exit status `code` with `expected` in the
    /// message (docker's 1 for most commands' errors, 125 for run's).
    pub fn fails_with(&self, args: &[&str], code: i32, expected: &str) {
        let out = self.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "hutch {args:?}: {err}");
        assert!(
            err.contains(expected),
            "hutch {args:?}: wanted {expected:?} in: {err}"
        );
    }

    /// `hutch machine exec --name NAME -- ARGS...`
    pub fn exec(&self, name: &str, args: &[&str]) -> Output {
        let mut all = vec!["machine", "exec", "--name", name, "--"];
        all.extend_from_slice(args);
        self.run(&all)
    }

    pub fn exec_ok(&self, name: &str, args: &[&str]) -> String {
        let mut all = vec!["machine", "exec", "--name", name, "--"];
        all.extend_from_slice(args);
        self.ok(&all)
    }

    pub fn machine_dir(&self, name: &str) -> PathBuf {
        self.home.join("machines").join(name)
    }

    /// (monitor pid, qemu pid) of a running machine.
    pub fn pids(&self, name: &str) -> (i32, i32) {
        let text = std::fs::read_to_string(self.machine_dir(name).join("state.json"))
            .expect("machine state file");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        (
            v["monitor_pid"].as_i64().unwrap() as i32,
            v["vm_pid"].as_i64().unwrap() as i32,
        )
    }

    /// Starts `name` and returns a guard that stops it when dropped.
    pub fn start(&self, name: &str) -> MachineGuard<'_> {
        self.ok(&["machine", "start", "--name", name]);
        MachineGuard::adopt(self, name)
    }
}

impl Drop for Hutch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.home);
    }
}

/// Whether a process is gone (or only a zombie waiting for its parent).
pub fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

pub struct MachineGuard<'a> {
    hutch: &'a Hutch,
    pub name: String,
    /// (monitor, qemu)
    pub pids: (i32, i32),
}

impl<'a> MachineGuard<'a> {
    /// Takes charge of stopping machine `name`, started by the caller.
    pub fn adopt(hutch: &'a Hutch, name: &str) -> Self {
        MachineGuard {
            hutch,
            name: name.to_string(),
            pids: hutch.pids(name),
        }
    }
}

impl Drop for MachineGuard<'_> {
    fn drop(&mut self) {
        let _ = self.hutch.run(&["machine", "stop", "--name", &self.name]);
        for pid in [self.pids.1, self.pids.0] {
            if !process_gone(pid) {
                // SAFETY: kill(2) on a pid this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// The middle of a set of timings (benchmarks report medians).
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Milliseconds, as benchmarks print them.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The median wall time of `runs` successful `hutch args`.
pub fn median_time(h: &Hutch, runs: usize, args: &[&str]) -> Duration {
    median_command_time(runs, || h.cmd(args))
}

/// The median wall time of `runs` runs of the commands `make` builds,
/// each of which must succeed.
pub fn median_command_time(runs: usize, mut make: impl FnMut() -> Command) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let mut command = make();
                let began = std::time::Instant::now();
                let out = command.output().expect("running a timed command");
                let took = began.elapsed();
                assert!(
                    out.status.success(),
                    "{command:?} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                took
            })
            .collect(),
    )
}

/// A small rootfs from Debian's busybox-static, as a tar: `sh` and the
/// applets as links, root, `nobody` and `app` (1000) users.
pub fn busybox_rootfs_tar(h: &Hutch) -> PathBuf {
    busybox_rootfs_tar_with(h, &[])
}

/// The busybox rootfs plus `extra` files: (file on the host, path in the image).
pub fn busybox_rootfs_tar_with(h: &Hutch, extra: &[(&Path, &str)]) -> PathBuf {
    let root = h.home.join("rootfs");
    for dir in ["bin", "etc", "tmp"] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("busybox-static is installed");
    for applet in [
        "sh",
        "cat",
        "echo",
        "id",
        "hostname",
        "ls",
        "ps",
        "sleep",
        "dd",
        "seq",
        "true",
        "touch",
        "stty",
        "wget",
        "nc",
        "nslookup",
        "ip",
        "sha256sum",
        "httpd",
        "head",
        "wc",
        "grep",
        "stat",
        "rm",
        "mkdir",
    ] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    for (source, path) in extra {
        let to = root.join(path);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(source, to)
            .unwrap_or_else(|e| panic!("copying {} into the image: {e}", source.display()));
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nnogroup:x:65534:\napp:x:1000:\n",
    )
    .unwrap();
    let tar = h.home.join("rootfs.tar");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(ok.success());
    tar
}

/// Imports the busybox rootfs as `reference`.
pub fn import_busybox(h: &Hutch, reference: &str) {
    let tar = busybox_rootfs_tar(h);
    h.ok(&["import", tar.to_str().unwrap(), reference]);
}

/// Serves `body` to every HTTP request on the host's loopback; its port.
pub fn http_server(body: std::sync::Arc<Vec<u8>>) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let body = body.clone();
            std::thread::spawn(move || {
                let mut request = [0u8; 4096];
                let _ = conn.read(&mut request);
                let head = format!(
                    "HTTP/1.0 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = conn.write_all(head.as_bytes());
                let _ = conn.write_all(&body);
            });
        }
    });
    port
}

/// Polls `check` until it holds; panics naming `what` after a generous
/// bound (a condition to reach, not a timing to meet).
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..600 {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} never happened");
}

/// The container script of attach tests: `tick` lines until /tmp/go
/// exists, then `late` and exit 4.
pub const TICK_UNTIL_GO: &str =
    "while [ ! -e /tmp/go ]; do echo tick; sleep 0.2; done; echo late; exit 4";

/// The container script of stdin attach tests: `tick` lines until
/// /tmp/go exists, then two lines read from stdin echoed as `got-LINE`,
/// then exit 3.
pub const READ_AFTER_GO: &str = "while [ ! -e /tmp/go ]; do echo tick; sleep 0.2; done; \
     read a; echo got-$a; read b; echo got-$b; exit 3";

/// Runs an attach command against a [`TICK_UNTIL_GO`] container: once a
/// `tick` shows it is following, `go` lets the container finish. The
/// output after that first tick, and the exit status.
pub fn attach_then_go(attach: Command, go: impl FnOnce()) -> (String, Option<i32>) {
    let mut attached = Piped::spawn(attach);
    attached.read_until("tick");
    go();
    attached.finish()
}

/// A command run with its stdin and stdout on pipes (an attach): its
/// output read a line at a time as it comes, input sent when wanted.
pub struct Piped {
    child: std::process::Child,
    out: std::io::BufReader<std::process::ChildStdout>,
    input: Option<std::process::ChildStdin>,
}

impl Piped {
    pub fn spawn(mut cmd: Command) -> Piped {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        Piped {
            out: std::io::BufReader::new(child.stdout.take().unwrap()),
            input: child.stdin.take(),
            child,
        }
    }

    /// Reads lines until one is `wanted` (it is there: once it shows, a
    /// following attachment has joined).
    pub fn read_until(&mut self, wanted: &str) {
        use std::io::BufRead;
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            let n = self.out.read_line(&mut line).unwrap();
            assert!(n > 0, "output ended before {wanted:?}; it was {seen:?}");
            if line.trim_end() == wanted {
                return;
            }
            seen.push_str(&line);
        }
    }

    pub fn send(&mut self, text: &str) {
        use std::io::Write;
        let input = self.input.as_mut().expect("input still open");
        input.write_all(text.as_bytes()).unwrap();
        input.flush().unwrap();
    }

    /// Its process id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Ends our input (EOF).
    pub fn close_input(&mut self) {
        self.input = None;
    }

    /// The rest of the output, and the exit status.
    pub fn finish(mut self) -> (String, Option<i32>) {
        use std::io::Read;
        self.input = None;
        let mut rest = String::new();
        self.out.read_to_string(&mut rest).unwrap();
        (rest, self.child.wait().unwrap().code())
    }
}
