//! Containers on the network, in a real machine (qemu): outbound TCP, UDP
//! and DNS through hutch's user-mode network, the host's loopback under
//! `host.hutch.internal`, and the `--network` modes.

use hutch_tests::{busybox_rootfs_tar_with, probe_bin, Hutch};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};

/// Serves `body` to every HTTP request on the host's loopback; its port.
fn http_server(body: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let body = body.clone();
            std::thread::spawn(move || {
                let mut conn = conn;
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

/// Answers every datagram with "echo: " and what it said; its port.
fn udp_echo() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let reply = [b"echo: ", &buf[..n]].concat();
            let _ = socket.send_to(&reply, from);
        }
    });
    port
}

/// A DNS server that knows one name, `name` → `address`, and refuses the
/// rest: the answer can only come from here. Its address.
fn dns_server(name: &'static str, address: [u8; 4]) -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut buf = [0u8; 512];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            if n < 12 {
                continue;
            }
            let query = &buf[..n];
            // The question: labels up to the zero byte, then type and class.
            let mut at = 12;
            let mut labels = Vec::new();
            while at < n && query[at] != 0 {
                let len = query[at] as usize;
                labels.push(
                    String::from_utf8_lossy(&query[at + 1..(at + 1 + len).min(n)]).into_owned(),
                );
                at += 1 + len;
            }
            let question_end = (at + 5).min(n);
            let qtype = u16::from_be_bytes([query[at + 1], query[at + 2]]);
            let known = labels.join(".") == name && qtype == 1;
            let mut reply = query[..question_end].to_vec();
            reply[2] = 0x81; // response, recursion desired
            reply[3] = if known { 0x80 } else { 0x83 }; // recursion available; NXDOMAIN
            reply[6..8].copy_from_slice(&u16::from(known).to_be_bytes()); // answers
            reply[8..12].fill(0);
            if known {
                reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                reply.extend_from_slice(&address);
            }
            let _ = socket.send_to(&reply, from);
        }
    });
    addr
}

/// The busybox image with the test probes in it.
fn image(h: &Hutch) {
    let probe = probe_bin("udp-probe");
    let tar = busybox_rootfs_tar_with(h, &[(&probe, "bin/udp-probe")]);
    h.ok(&["import", tar.to_str().unwrap(), "bb:1"]);
}

/// Runs `script` in a fresh container of the test image.
fn sh(h: &Hutch, script: &str) -> String {
    h.ok(&["run", "--rm", "bb:1", "sh", "-c", script])
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn containers_reach_the_hosts_loopback_udp_and_dns() {
    let h = Hutch::new("network-outbound");
    image(&h);
    let dns = dns_server("only.hutch-test.example", [10, 1, 2, 3]);
    // The machine's DNS forwarder asks the test's server, not the host's.
    let started = h
        .cmd(&["machine", "start"])
        .env("HUTCH_DNS", &dns)
        .output()
        .unwrap();
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let _machine = hutch_tests::MachineGuard::adopt(&h, "default");

    // 10 MiB from a server on the host's loopback, byte-exact.
    let body: Vec<u8> = (0..10u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let port = http_server(body.clone());
    let url = format!("http://host.hutch.internal:{port}/");
    let out = sh(&h, &format!("wget -q -O - {url} | sha256sum"));
    assert_eq!(
        out.split_whitespace().next(),
        Some(hex_sha256(&body).as_str())
    );
    // Docker Desktop's name reaches the same place.
    let out = sh(
        &h,
        &format!("wget -q -O - http://host.docker.internal:{port}/ | wc -c"),
    );
    assert_eq!(out.trim(), (10u32 << 20).to_string());

    // A UDP round trip to the host.
    let port = udp_echo();
    let out = h.ok(&[
        "run",
        "--rm",
        "bb:1",
        "udp-probe",
        "host.hutch.internal",
        &port.to_string(),
        "ping",
    ]);
    assert_eq!(out.trim(), "echo: ping");

    // A name only the test's DNS server answers resolves in a container.
    let out = h.ok(&["run", "--rm", "bb:1", "nslookup", "only.hutch-test.example"]);
    assert!(out.contains("10.1.2.3"), "{out}");

    // Each container has its own address on the bridge network.
    let a = sh(&h, "ip -4 -o addr show eth0");
    assert!(a.contains("inet 172.17.0."), "{a}");
}

#[test]
fn network_modes_none_and_host() {
    let h = Hutch::new("network-modes");
    image(&h);
    let _machine = h.start("default");
    let links = |mode: &str| {
        h.ok(&[
            "run",
            "--rm",
            "--network",
            mode,
            "bb:1",
            "sh",
            "-c",
            "ls /sys/class/net",
        ])
        .split_whitespace()
        .map(str::to_string)
        .collect::<Vec<_>>()
    };
    let none = links("none");
    assert!(
        none.contains(&"lo".to_string()) && !none.contains(&"eth0".to_string()),
        "{none:?}"
    );
    let host = links("host");
    assert!(
        host.contains(&"eth0".to_string()),
        "the machine's uplink: {host:?}"
    );
    let bridge = links("bridge");
    assert!(bridge.contains(&"eth0".to_string()), "{bridge:?}");
    let inspect = h.ok(&["run", "-d", "--name", "web", "bb:1", "sleep", "600"]);
    let id = inspect.trim();
    let details: serde_json::Value = serde_json::from_str(&h.ok(&["inspect", id])).unwrap();
    let settings = &details[0]["NetworkSettings"];
    assert!(
        settings["IPAddress"]
            .as_str()
            .unwrap()
            .starts_with("172.17.0."),
        "{settings}"
    );
    assert_eq!(settings["Gateway"], "172.17.0.1");
    assert!(settings["Networks"]["bridge"].is_object(), "{settings}");
    h.ok(&["rm", "-f", "web"]);
    let err = h.run(&["run", "--rm", "--network", "nope", "bb:1", "true"]);
    assert_eq!(err.status.code(), Some(125), "a usage error, docker's 125");
}
