//! Containers on the network, in a real machine (qemu): outbound TCP, UDP
//! and DNS through hutch's user-mode network, the host's loopback under
//! `host.hutch.internal`, and the `--network` modes.

use hutch_tests::{busybox_rootfs_tar_with, http_server, probe_bin, Hutch};
use sha2::{Digest, Sha256};
use std::net::UdpSocket;

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
            let known = labels.join(".") == name;
            let answer = known && qtype == 1;
            let mut reply = query[..question_end].to_vec();
            reply[2] = 0x81; // response, recursion desired
                             // Recursion available; the name's other types have no data
                             // (NOERROR, no answer), other names do not exist (NXDOMAIN).
            reply[3] = if known { 0x80 } else { 0x83 };
            reply[6..8].copy_from_slice(&u16::from(answer).to_be_bytes()); // answers
            reply[8..12].fill(0);
            if answer {
                reply.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                reply.extend_from_slice(&address);
            }
            let _ = socket.send_to(&reply, from);
        }
    });
    addr
}

/// The busybox image with the test probes in it (`fetch` resolves names
/// through DNS, which busybox's static glibc cannot do).
fn image(h: &Hutch) {
    let (udp, fetch, echo) = (
        probe_bin("udp-probe"),
        probe_bin("fetch"),
        probe_bin("echo-server"),
    );
    let probes = [
        (&udp, "bin/udp-probe"),
        (&fetch, "bin/fetch"),
        (&echo, "bin/echo-server"),
    ];
    let probes = probes.map(|(file, path)| (file.as_path(), path));
    let tar = busybox_rootfs_tar_with(h, &probes);
    h.ok(&["import", tar.to_str().unwrap(), "bb:1"]);
}

/// Starts the machine with its DNS forwarder asking a server of the
/// test's (which knows only.hutch-test.example as 10.1.2.3), not the host's.
fn start_with_test_dns(h: &Hutch) -> hutch_tests::MachineGuard<'_> {
    let dns = dns_server("only.hutch-test.example", [10, 1, 2, 3]);
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
    hutch_tests::MachineGuard::adopt(h, "default")
}

/// A container on `network` resolves the name only the test's DNS server
/// knows. One query (`-type=a`): busybox's nslookup can take an AAAA
/// reply that overtakes the A reply for the answer to both.
fn assert_resolves(h: &Hutch, network: &str) {
    let lookup = ["run", "--rm", "--network", network, "bb:1"];
    let query = ["nslookup", "-type=a", "only.hutch-test.example"];
    let out = h.ok(&[&lookup[..], &query[..]].concat());
    assert!(out.contains("10.1.2.3"), "{out}");
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
    let _machine = start_with_test_dns(&h);

    // 10 MiB from a server on the host's loopback, byte-exact.
    let body: Vec<u8> = (0..10u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 24) as u8)
        .collect();
    let port = http_server(std::sync::Arc::new(body.clone()));
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
    assert_resolves(&h, "bridge");

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
    // With no user-defined network, no DNS server holds the machine's
    // port 53: a host-network container can serve DNS.
    let bind53 = "echo-server udp 53 & p=$!; sleep 1; kill $p && echo bound";
    let out = h.ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "bb:1",
        "sh",
        "-c",
        bind53,
    ]);
    assert_eq!(out.trim(), "bound");
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
    h.fails(
        &["run", "--rm", "--network", "nope", "bb:1", "true"],
        "network nope not found",
    );
}

fn inspect(h: &Hutch, what: &[&str]) -> serde_json::Value {
    let out = h.ok(&[what, &[]].concat());
    serde_json::from_str::<serde_json::Value>(&out).unwrap()[0].clone()
}

#[test]
fn user_defined_networks_resolve_names_and_keep_apart() {
    let h = Hutch::new("network-user");
    image(&h);
    let _machine = start_with_test_dns(&h);

    let front = h.ok(&["network", "create", "front"]);
    assert_eq!(front.trim().len(), 64, "{front}");
    h.ok(&["network", "create", "--subnet", "172.30.0.0/24", "back"]);
    let listed = h.ok(&["network", "ls"]);
    let names: Vec<&str> = listed
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(
        names,
        ["bridge", "host", "none", "back", "front"],
        "{listed}"
    );
    h.fails_with(&["network", "create", "front"], 1, "already exists");
    h.fails_with(
        &["network", "create", "--subnet", "10.5.0.0/16", "x"],
        1,
        "172.16.0.0/12",
    );

    // A web server on `front`, known there as db and database.
    let serve = "mkdir -p /www && echo db-here > /www/index.html && httpd -f -p 8080 -h /www";
    let db = h.ok(&[
        "run",
        "-d",
        "--name",
        "db",
        "--network",
        "front",
        "--network-alias",
        "database",
        "bb:1",
        "sh",
        "-c",
        serve,
    ]);
    let short = &db.trim()[..12];
    let on = |network: &str, script: &str| {
        h.run(&[
            "run",
            "--rm",
            "--network",
            network,
            "bb:1",
            "sh",
            "-c",
            script,
        ])
    };
    let fetch = format!("for n in db database {short} DB; do fetch $n 8080 || exit 1; done");
    hutch_tests::eventually("db serves on front", || {
        String::from_utf8_lossy(&on("front", &fetch).stdout)
            .matches("db-here")
            .count()
            == 4
    });
    // Other names still resolve there, through the host's resolver.
    assert_resolves(&h, "front");
    let out = on("front", "cat /etc/resolv.conf");
    let out = String::from_utf8_lossy(&out.stdout);
    assert!(out.contains("nameserver 172.18.0.1"), "{out}");

    // Neither by name nor by address from another network or the default bridge.
    let details = inspect(&h, &["inspect", "db"]);
    let endpoint = &details["NetworkSettings"]["Networks"]["front"];
    let address = endpoint["IPAddress"].as_str().unwrap().to_string();
    assert!(address.starts_with("172.18.0."), "{details}");
    assert_eq!(endpoint["Aliases"], serde_json::json!(["database"]));
    assert_eq!(
        details["NetworkSettings"]["IPAddress"], "",
        "set only on the default bridge"
    );
    for network in ["back", "bridge"] {
        let out = on(network, "fetch db 8080");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("resolving db"),
            "{network}: {err}"
        );
        // The machine refuses to route between networks (ICMP unreachable).
        let out = on(network, &format!("fetch {address} 8080"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("unreachable"),
            "{network}: {err}"
        );
    }

    // Connected to `back` while it runs: reachable there by name at once.
    h.ok(&["network", "connect", "--alias", "store", "back", "db"]);
    let out = on("back", "fetch store 8080");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("db-here"),
        "{out:?}"
    );
    let interfaces = h.ok(&["exec", "db", "ip", "-4", "-o", "addr"]);
    assert!(
        interfaces.contains("eth1") && interfaces.contains("172.30.0."),
        "{interfaces}"
    );
    let back = inspect(&h, &["network", "inspect", "back"]);
    let member = &back["Containers"][db.trim()];
    assert_eq!(member["Name"], "db", "{back}");
    assert!(
        member["IPv4Address"].as_str().unwrap().ends_with("/24"),
        "{back}"
    );
    h.fails_with(
        &["network", "connect", "back", "db"],
        1,
        "already exists in network back",
    );
    h.ok(&["network", "disconnect", "back", "db"]);
    assert!(!on("back", "fetch store 8080").status.success());
    h.fails_with(&["network", "disconnect", "back", "db"], 1, "not connected");

    // Bad input: docker's statuses and messages.
    h.fails_with(&["network", "rm", "front"], 1, "in use by container db");
    h.fails_with(&["network", "rm", "bridge"], 1, "pre-defined");
    h.fails_with(&["network", "rm", "nope"], 1, "network nope not found");
    h.fails_with(
        &["network", "connect", "nope", "db"],
        1,
        "network nope not found",
    );
    h.fails(
        &["run", "--rm", "--network", "nope", "bb:1", "true"],
        "network nope not found",
    );
    h.fails(
        &["run", "--rm", "--network-alias", "x", "bb:1", "true"],
        "only on user-defined networks",
    );
    h.fails(
        &["run", "--rm", "--add-host", "nocolon", "bb:1", "true"],
        "NAME:ADDRESS",
    );

    // --add-host and --dns, as docker writes them.
    let out = h.ok(&[
        "run",
        "--rm",
        "--add-host",
        "files:10.9.8.7",
        "--add-host",
        "gw:host-gateway",
        "--dns",
        "10.0.2.3",
        "bb:1",
        "sh",
        "-c",
        "cat /etc/hosts /etc/resolv.conf",
    ]);
    assert!(
        out.contains("10.9.8.7\tfiles") && out.contains("10.0.2.2\tgw"),
        "{out}"
    );
    assert!(out.contains("nameserver 10.0.2.3"), "{out}");

    // Once db is gone the network can go; the others outlive a machine restart.
    h.ok(&["rm", "-f", "db"]);
    assert_eq!(h.ok(&["network", "rm", "front"]).trim(), "front");
    h.ok(&["machine", "stop"]);
    h.ok(&["machine", "start"]);
    let listed = h.ok(&["network", "ls"]);
    assert!(
        listed.contains(" back ") && !listed.contains(" front "),
        "{listed}"
    );
    let out = on("back", "ip -4 -o addr show eth0");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("inet 172.30.0.2/24"),
        "{out:?}"
    );
}
