//! The DNS server of user-defined networks (docker's embedded 127.0.0.11,
//! podman's aardvark-dns): it listens on port 53 of each user network's
//! gateway address, and answers a container's query for
//! the name, alias or short id of a container on the same network. Other
//! names go to the asking container's `--dns` servers or to the host's
//! resolver, and their answers come back unchanged.

use super::registry::{Lookup, Networks};
use simple_dns::rdata::{RData, A};
use simple_dns::{Packet, PacketFlag, ResourceRecord, CLASS, QTYPE, RCODE, TYPE};
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

/// docker's time to live for container names.
const TTL: u32 = 600;
/// Per attempt; a lost datagram is asked again, as resolvers do.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
const UPSTREAM_ATTEMPTS: usize = 2;

/// Serves queries on UDP port 53 of `address` until the machine stops.
pub fn serve(networks: Arc<Networks>, address: Ipv4Addr) -> io::Result<()> {
    let socket = UdpSocket::bind((address, 53))?;
    std::thread::Builder::new()
        .name("dns".into())
        .spawn(move || {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((n, SocketAddr::V4(from))) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let query = &buf[..n];
                let reply = match answer(&networks, *from.ip(), query) {
                    Answer::Ignore => continue,
                    Answer::Reply(bytes) => bytes,
                    Answer::Forward(servers) => {
                        let (query, socket) = (query.to_vec(), socket.try_clone());
                        if let Ok(socket) = socket {
                            std::thread::spawn(move || {
                                let reply =
                                    forward(&query, &servers).unwrap_or_else(|| failure(&query));
                                let _ = socket.send_to(&reply, from);
                            });
                        }
                        continue;
                    }
                };
                let _ = socket.send_to(&reply, from);
            }
        })?;
    Ok(())
}

enum Answer {
    Ignore,
    Reply(Vec<u8>),
    Forward(Vec<Ipv4Addr>),
}

fn answer(networks: &Networks, source: Ipv4Addr, query: &[u8]) -> Answer {
    let Ok(packet) = Packet::parse(query) else {
        return Answer::Ignore;
    };
    let [question] = &packet.questions[..] else {
        return Answer::Forward(Vec::new());
    };
    let name = question
        .qname
        .to_string()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let addresses = match networks.lookup(source, &name) {
        Lookup::NotOurs => return Answer::Ignore,
        Lookup::Forward(servers) => return Answer::Forward(servers),
        Lookup::Found(addresses) => addresses,
    };
    let mut reply = Packet::new_reply(packet.id());
    reply.set_flags(PacketFlag::AUTHORITATIVE_ANSWER | PacketFlag::RECURSION_AVAILABLE);
    if packet.has_flags(PacketFlag::RECURSION_DESIRED) {
        reply.set_flags(PacketFlag::RECURSION_DESIRED);
    }
    reply.questions.push(question.clone());
    // A known name with no address of the asked kind (AAAA, MX, ...):
    // an empty answer, so resolvers do not look elsewhere.
    if question.qtype == QTYPE::TYPE(TYPE::A) || question.qtype == QTYPE::ANY {
        for address in addresses {
            reply.answers.push(ResourceRecord::new(
                question.qname.clone(),
                CLASS::IN,
                TTL,
                RData::A(A::from(address)),
            ));
        }
    }
    match reply.build_bytes_vec() {
        Ok(bytes) => Answer::Reply(bytes),
        Err(_) => Answer::Reply(failure(query)),
    }
}

/// The first answer from `servers`, asked in turn (twice round).
fn forward(query: &[u8], servers: &[Ipv4Addr]) -> Option<Vec<u8>> {
    let rounds = std::iter::repeat_n(servers, UPSTREAM_ATTEMPTS).flatten();
    rounds.into_iter().find_map(|server| {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
        socket.set_read_timeout(Some(UPSTREAM_TIMEOUT)).ok()?;
        socket.connect((IpAddr::V4(*server), 53)).ok()?;
        socket.send(query).ok()?;
        let mut buf = vec![0u8; 4096];
        let n = socket.recv(&mut buf).ok()?;
        buf.truncate(n);
        Some(buf)
    })
}

/// SERVFAIL for a query no one answered.
fn failure(query: &[u8]) -> Vec<u8> {
    let Ok(packet) = Packet::parse(query) else {
        return Vec::new();
    };
    let mut reply = Packet::new_reply(packet.id());
    *reply.rcode_mut() = RCODE::ServerFailure;
    reply.questions = packet.questions;
    reply.build_bytes_vec().unwrap_or_default()
}
