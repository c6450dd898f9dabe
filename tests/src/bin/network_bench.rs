//! Network benchmarks: prints figures, asserts nothing.
//!
//!   cargo run --release -p hutch-tests --bin hutch-network-bench
//!
//! One machine (TCG), booted twice: with hutch's own user-mode network,
//! then with QEMU's (slirp, `HUTCH_QEMU_SLIRP`), the peer. Each figure is
//! the median of a few runs:
//! - 128 MiB each way on one TCP connection to a container: through a
//!   published port (`-p`, the monitor's listener and a vsock stream),
//!   through slirp's `hostfwd` (into a `--network host` container), and
//!   through the raw vsock stream (`exec` stdout / stdin of a container);
//! - connections per second through a published port and through slirp's
//!   `hostfwd` (each connect, one byte echoed, close);
//! - a container's download of 128 MiB from an HTTP server on the host's
//!   loopback (`host.hutch.internal`) through each user-mode network.

use hutch_tests::{busybox_rootfs_tar_with, http_server, median, probe_bin, Hutch};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

const MACHINE: &str = "default";
const MIB: u64 = 1 << 20;
const BULK: u64 = 128 * MIB;
const RUNS: usize = 3;
const CONNECTIONS: usize = 200;
const BULK_PORT: u16 = 7000;
const ECHO_PORT: u16 = 7001;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn timed(mut f: impl FnMut()) -> Duration {
    median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

fn rate(d: Duration) -> f64 {
    BULK as f64 / MIB as f64 / d.as_secs_f64()
}

/// Waits until the server behind `port` answers a `get 1`.
fn wait_for(port: u16) {
    hutch_tests::eventually("the server answers", || {
        let Ok(mut conn) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let mut byte = Vec::new();
        conn.write_all(b"get 1\n").is_ok() && conn.read_to_end(&mut byte).is_ok() && byte.len() == 1
    });
}

/// BULK bytes from the container's bulk-server.
fn get(port: u16) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(format!("get {BULK}\n").as_bytes()).unwrap();
    let copied = std::io::copy(&mut conn, &mut std::io::sink()).unwrap();
    assert_eq!(copied, BULK, "a short transfer");
}

/// BULK bytes to the container's bulk-server, which counts them.
fn put(port: u16) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.write_all(b"put\n").unwrap();
    let chunk = vec![0xa5u8; 256 * 1024];
    for _ in 0..BULK / chunk.len() as u64 {
        conn.write_all(&chunk).unwrap();
    }
    conn.shutdown(Shutdown::Write).unwrap();
    let mut line = String::new();
    BufReader::new(conn).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), BULK.to_string(), "a short transfer");
}

/// Sequential connections to an echo server: connect, one byte each way, close.
fn connections_per_second(port: u16) -> f64 {
    let start = Instant::now();
    for _ in 0..CONNECTIONS {
        let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
        conn.write_all(b"x").unwrap();
        conn.shutdown(Shutdown::Write).unwrap();
        let mut echo = Vec::new();
        conn.read_to_end(&mut echo).unwrap();
        assert_eq!(echo, b"x");
    }
    CONNECTIONS as f64 / start.elapsed().as_secs_f64()
}

/// The container's download of the host's BULK bytes.
fn download(h: &Hutch, container: &str, http_port: u16) -> Duration {
    let url = format!("http://host.hutch.internal:{http_port}/");
    timed(|| {
        h.ok(&["exec", container, "wget", "-q", "-O", "/dev/null", &url]);
    })
}

struct Figures {
    out: Duration,
    into: Duration,
    connections: f64,
    download: Duration,
}

/// Whether the echo server behind `port` echoes.
fn echoes(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port))
        .and_then(|mut c| {
            c.write_all(b"x")?;
            c.shutdown(Shutdown::Write)?;
            let mut echo = Vec::new();
            c.read_to_end(&mut echo)?;
            Ok(echo == b"x")
        })
        .unwrap_or(false)
}

/// Boots the machine (on slirp when given its two forwarded host ports),
/// runs a bulk and an echo server reachable from the host, measures.
fn measure(h: &Hutch, slirp: Option<(u16, u16)>, http_port: u16) -> Figures {
    let mut start = h.cmd(&["machine", "start", "--name", MACHINE]);
    let (bulk, echo) = slirp.unwrap_or_else(|| (free_port(), free_port()));
    if slirp.is_some() {
        let forward = |host: u16, guest: u16| format!("hostfwd=tcp:127.0.0.1:{host}-:{guest}");
        let options = [forward(bulk, BULK_PORT), forward(echo, ECHO_PORT)].join(",");
        start.env("HUTCH_QEMU_SLIRP", options);
    }
    assert!(start.status().unwrap().success(), "machine start");
    // slirp forwards to the machine's own address: host-network containers.
    let reach = |host: u16, container: u16| match slirp {
        Some(_) => vec!["--network".to_string(), "host".into()],
        None => vec!["-p".to_string(), format!("127.0.0.1:{host}:{container}")],
    };
    for (name, host, port, command) in [
        ("bulk", bulk, BULK_PORT, vec!["bulk-server"]),
        ("echo", echo, ECHO_PORT, vec!["echo-server", "tcp"]),
    ] {
        let port_arg = port.to_string();
        let reach = reach(host, port);
        let mut args = vec!["run", "-d", "--name", name];
        args.extend(reach.iter().map(String::as_str));
        args.push("net-bench:1");
        args.extend(command);
        args.push(&port_arg);
        h.ok(&args);
    }
    wait_for(bulk);
    hutch_tests::eventually("the echo server answers", || echoes(echo));
    let figures = Figures {
        out: timed(|| get(bulk)),
        into: timed(|| put(bulk)),
        connections: connections_per_second(echo),
        download: download(h, "bulk", http_port),
    };
    h.ok(&["rm", "-f", "bulk", "echo"]);
    h.ok(&["machine", "stop", "--name", MACHINE]);
    figures
}

/// The raw vsock stream, both ways, with the bulk container running.
fn raw_stream(h: &Hutch) -> (Duration, Duration) {
    let count = (BULK / MIB).to_string();
    let count = format!("count={count}");
    let out = timed(|| {
        let status = h
            .cmd(&["exec", "bulk", "dd", "if=/dev/zero", "bs=1M", &count])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    });
    let input = h.home.join("bulk.bin");
    std::fs::write(&input, vec![0xa5u8; BULK as usize]).unwrap();
    let into = timed(|| {
        let status = h
            .cmd(&["exec", "-i", "bulk", "sh", "-c", "cat > /dev/null"])
            .stdin(std::fs::File::open(&input).unwrap())
            .status()
            .unwrap();
        assert!(status.success());
    });
    (out, into)
}

fn main() {
    std::env::set_var("HUTCH_TEST_RELEASE", "1");
    let h = Hutch::new("network-bench");
    let (bulk, echo) = (probe_bin("bulk-server"), probe_bin("echo-server"));
    let tar = busybox_rootfs_tar_with(
        &h,
        &[(&bulk, "bin/bulk-server"), (&echo, "bin/echo-server")],
    );
    h.ok(&["import", tar.to_str().unwrap(), "net-bench:1"]);
    let http_port = http_server(Arc::new(vec![0x3cu8; BULK as usize]));

    let hutch = measure(&h, None, http_port);
    // The raw stream, in a machine of its own run (hutch's network).
    h.ok(&["machine", "start", "--name", MACHINE]);
    h.ok(&["run", "-d", "--name", "bulk", "net-bench:1", "sleep", "600"]);
    let (raw_out, raw_in) = raw_stream(&h);
    h.ok(&["rm", "-f", "bulk"]);
    h.ok(&["machine", "stop", "--name", MACHINE]);
    let slirp = measure(&h, Some((free_port(), free_port())), http_port);

    println!("one TCP connection, 128 MiB (TCG, median of {RUNS})");
    println!("                          hutch -p     slirp hostfwd   raw vsock stream (exec)");
    println!(
        "  container → host   {:9.1} MiB/s {:9.1} MiB/s {:9.1} MiB/s",
        rate(hutch.out),
        rate(slirp.out),
        rate(raw_out)
    );
    println!(
        "  host → container   {:9.1} MiB/s {:9.1} MiB/s {:9.1} MiB/s",
        rate(hutch.into),
        rate(slirp.into),
        rate(raw_in)
    );
    println!("connections through a published port ({CONNECTIONS} in a row, 1 byte echoed)");
    println!("  hutch -p       {:7.0} /s", hutch.connections);
    println!("  slirp hostfwd  {:7.0} /s", slirp.connections);
    println!("a container downloads 128 MiB from the host's loopback (wget, median of {RUNS})");
    println!("  hutch-net      {:7.1} MiB/s", rate(hutch.download));
    println!("  slirp          {:7.1} MiB/s", rate(slirp.download));
}
