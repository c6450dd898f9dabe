//! Published ports on a real machine: docker's `-p`/`-P`, `hutch port`,
//! `ps` and `inspect`, many connections and bulk data byte-exact both
//! ways, half-close, UDP, ports in use, and listeners that follow the
//! container's runs and the machine.

use hutch_tests::registry::docker_archive_with_config;
use hutch_tests::{busybox_rootfs_tar_with, eventually, probe_bin, Hutch};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

/// The busybox image with the echo server and a web page in it.
fn image_tar(h: &Hutch) -> std::path::PathBuf {
    let page = h.home.join("index.html");
    std::fs::write(&page, "hello from a published port\n").unwrap();
    let echo = probe_bin("echo-server");
    busybox_rootfs_tar_with(h, &[(&echo, "bin/echo-server"), (&page, "tmp/index.html")])
}

/// Where `hutch port NAME PORT` says the container port is published.
fn host_address(h: &Hutch, name: &str, port: &str) -> SocketAddr {
    let out = h.ok(&["port", name, port]);
    let line = out.lines().next().unwrap_or_default();
    let port: u16 = line.rsplit(':').next().unwrap().parse().unwrap();
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn http_get(address: SocketAddr) -> Option<String> {
    let mut conn = TcpStream::connect(address).ok()?;
    conn.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    conn.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply).ok()?;
    Some(reply)
}

/// Sends `data`, shuts our write side, reads to EOF: what came back.
fn echo_round_trip(address: SocketAddr, data: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut conn = TcpStream::connect(address)?;
    conn.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut reader = conn.try_clone()?;
    let sent = data.to_vec();
    let writer = std::thread::spawn(move || {
        conn.write_all(&sent)?;
        conn.shutdown(Shutdown::Write)
    });
    let mut back = Vec::new();
    reader.read_to_end(&mut back)?;
    writer.join().unwrap()?;
    Ok(back)
}

/// Whether the echo server behind `address` answers yet.
fn echo_ready(address: SocketAddr) -> bool {
    echo_round_trip(address, b"ready?").is_ok_and(|b| b == b"ready?")
}

fn refused(address: SocketAddr) -> bool {
    TcpStream::connect(address).is_err()
}

fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_add(seed).wrapping_mul(2654435761) >> 24) as u8)
        .collect()
}

fn udp_echo(address: SocketAddr, message: &[u8]) -> Option<Vec<u8>> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 2048];
    // The server may still be starting: a datagram before it binds is lost.
    for _ in 0..12 {
        socket.send_to(message, address).unwrap();
        if let Ok(n) = socket.recv(&mut buf) {
            return Some(buf[..n].to_vec());
        }
    }
    None
}

#[test]
fn published_ports_reach_containers_and_follow_their_runs() {
    let h = Hutch::new("ports");
    let tar = image_tar(&h);
    h.ok(&["import", tar.to_str().unwrap(), "bb:1"]);
    let _machine = h.start("default");

    // A web server on a port the host picked, on the host's loopback.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "web",
        "-p",
        "127.0.0.1::80",
        "bb:1",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/tmp",
    ]);
    let web = host_address(&h, "web", "80");
    eventually("the web server answers through its port", || {
        http_get(web).is_some_and(|r| r.contains("hello from a published port"))
    });
    let ps = h.ok(&["ps"]);
    assert!(
        ps.contains(&format!("127.0.0.1:{}->80/tcp", web.port())),
        "{ps}"
    );
    let inspect: serde_json::Value = serde_json::from_str(&h.ok(&["inspect", "web"])).unwrap();
    let published = &inspect[0]["NetworkSettings"]["Ports"]["80/tcp"][0];
    assert_eq!(published["HostIp"], "127.0.0.1");
    assert_eq!(published["HostPort"], web.port().to_string());
    let asked = &inspect[0]["HostConfig"]["PortBindings"]["80/tcp"][0];
    assert_eq!(
        (&asked["HostIp"], &asked["HostPort"]),
        (&"127.0.0.1".into(), &"".into())
    );

    // The echo server: TCP and UDP.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "echo",
        "-p",
        "127.0.0.1::7000",
        "-p",
        "127.0.0.1::7001/udp",
        "bb:1",
        "sh",
        "-c",
        "echo-server udp 7001 & exec echo-server tcp 7000",
    ]);
    let tcp = host_address(&h, "echo", "7000/tcp");
    let udp = host_address(&h, "echo", "7001/udp");
    eventually("the echo server answers", || echo_ready(tcp));

    // 100 connections at once, each its own bytes back, whole; each
    // client half-closes and still gets the reply.
    let clients: Vec<_> = (0..100)
        .map(|i| {
            std::thread::spawn(move || {
                let data = pattern(32 * 1024, i);
                let back = echo_round_trip(tcp, &data).expect("an echo connection");
                assert!(back == data, "connection {i} came back different");
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }

    // 100 MiB each way on one connection, byte-exact.
    let big = pattern(100 << 20, 7);
    let back = echo_round_trip(tcp, &big).unwrap();
    assert_eq!(back.len(), big.len());
    assert_eq!(Sha256::digest(&back), Sha256::digest(&big));

    // A published UDP port.
    assert_eq!(
        udp_echo(udp, b"over udp").as_deref(),
        Some(&b"over udp"[..])
    );

    // stop releases the ports; start publishes again (any port: a new one
    // may be picked) and the listeners are back.
    h.ok(&["stop", "-t", "1", "echo"]);
    assert!(refused(tcp), "the port closes when its container stops");
    h.ok(&["start", "echo"]);
    let tcp = host_address(&h, "echo", "7000/tcp");
    eventually("the echo server answers after start", || echo_ready(tcp));

    // A container that ends by itself releases its ports too.
    h.ok(&[
        "run",
        "-d",
        "--name",
        "brief",
        "-p",
        "127.0.0.1::7000",
        "bb:1",
        "sh",
        "-c",
        "echo-server tcp 7000 & sleep 3",
    ]);
    let brief = host_address(&h, "brief", "7000");
    h.ok(&["wait", "brief"]);
    eventually("the ended container's port closes", || refused(brief));
    assert_eq!(
        h.ok(&["port", "brief"]),
        "",
        "an exited container has no ports"
    );

    // A host port in use: 125, a message naming it, and nothing left.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let before = h.ok(&["ps", "-a", "-q"]);
    let out = h.run(&[
        "run",
        "-d",
        "--name",
        "clash",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "bb:1",
        "httpd",
        "-f",
    ]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{port}/tcp")) && err.contains("in use"),
        "{err}"
    );
    assert_eq!(
        h.ok(&["ps", "-a", "-q"]),
        before,
        "no container left behind"
    );
    drop(taken);

    // The machine stopping closes every listener.
    h.ok(&["machine", "stop"]);
    assert!(refused(web) && refused(tcp));
}

#[test]
fn publish_all_uses_the_images_exposed_ports_and_bad_values_are_refused() {
    let h = Hutch::new("ports-exposed");
    let tar = image_tar(&h);
    let archive = docker_archive_with_config(
        &h.home,
        "exposing:1",
        &[&tar],
        serde_json::json!({ "ExposedPorts": { "7000/tcp": {} } }),
    );
    h.ok(&["load", "-i", archive.to_str().unwrap()]);
    let _machine = h.start("default");
    h.ok(&[
        "run",
        "-d",
        "--name",
        "exposed",
        "-P",
        "exposing:1",
        "echo-server",
        "tcp",
        "7000",
    ]);
    let ports = h.ok(&["port", "exposed"]);
    assert!(ports.starts_with("7000/tcp -> 0.0.0.0:"), "{ports}");
    let tcp = host_address(&h, "exposed", "7000");
    eventually("the exposed port answers", || echo_ready(tcp));
    // docker's default address listens on IPv6's too, the same port.
    let v6 = format!("7000/tcp -> [::]:{}", tcp.port());
    assert!(ports.lines().any(|l| l == v6), "{ports}");
    let v6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, tcp.port()));
    assert!(echo_ready(v6), "the echo server through [::1]");

    // A host range for one container port takes its first free port.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let first = taken.local_addr().unwrap().port();
    let range = format!("127.0.0.1:{first}-{}:7000", first + 5);
    h.ok(&[
        "run",
        "-d",
        "--name",
        "ranged",
        "-p",
        &range,
        "exposing:1",
        "echo-server",
        "tcp",
        "7000",
    ]);
    let ranged = host_address(&h, "ranged", "7000");
    assert!(
        (first + 1..=first + 5).contains(&ranged.port()),
        "{ranged} from {range}"
    );
    eventually("the ranged port answers", || echo_ready(ranged));
    let inspect: serde_json::Value = serde_json::from_str(&h.ok(&["inspect", "ranged"])).unwrap();
    let asked = &inspect[0]["HostConfig"]["PortBindings"]["7000/tcp"][0]["HostPort"];
    assert_eq!(asked, &format!("{first}-{}", first + 5));
    drop(taken);

    // Malformed -p values: docker's 125 and what is wrong, nothing created.
    for (value, says) in [
        ("80/sctp", "unknown protocol"),
        ("abc", "not a port"),
        ("1.2.3:80:80", "not an IP address"),
        ("8000-8001:80-82", "same length"),
    ] {
        let out = h.run(&["run", "-d", "-p", value, "exposing:1", "true"]);
        assert_eq!(out.status.code(), Some(125), "-p {value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "-p {value}: {err}");
    }
    // Only `exposed` and `ranged`.
    assert_eq!(h.ok(&["ps", "-a", "-q"]).lines().count(), 2);

    // docker ignores published ports on the host network, with a warning.
    let out = h.run(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-p",
        "9999:80",
        "exposing:1",
        "true",
    ]);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("WARNING: published ports are discarded"),
        "{err}"
    );
}
