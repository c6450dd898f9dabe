//! The device driven as a guest driver would drive it: descriptor chains
//! written into mock guest memory, real Unix sockets on the host side.

use super::connection::BUF_ALLOC;
use super::packet::{Header, Op, HEADER_LEN, SHUTDOWN_RCV, SHUTDOWN_SEND, TYPE_STREAM};
use super::{VsockDevice, HOST_CID};
use crate::devices::virtio::test_driver::DriverQueue;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use virtio_bindings::virtio_ring::VRING_DESC_F_NEXT;
use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const GUEST_CID: u64 = 3;
const MEM_SIZE: usize = 16 << 20;
const RX_RING: u64 = 0;
const TX_RING: u64 = 0x10000;
const BUFFERS: u64 = 0x100000;
const RX_BUF_LEN: u32 = 4096 + HEADER_LEN as u32;

fn temp_socket() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "hutch-vsock-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("vsock.sock")
}

/// A guest driver for the device, with its own simple buffer allocator.
struct Guest {
    mem: GuestMemoryMmap,
    rx: DriverQueue,
    tx: DriverQueue,
    next_buf: u64,
    /// rx head index → buffer address
    rx_bufs: std::collections::HashMap<u16, u64>,
    device: VsockDevice,
    uds: PathBuf,
}

impl Guest {
    fn new() -> Self {
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM_SIZE)]).unwrap();
        let uds = temp_socket();
        let device = VsockDevice::new(GUEST_CID, &uds).unwrap();
        Guest {
            rx: DriverQueue::new(&mem, RX_RING),
            tx: DriverQueue::new(&mem, TX_RING),
            mem,
            next_buf: BUFFERS,
            rx_bufs: Default::default(),
            device,
            uds,
        }
    }

    fn alloc(&mut self, len: u64) -> u64 {
        if self.next_buf + len > MEM_SIZE as u64 {
            self.next_buf = BUFFERS;
        }
        let at = self.next_buf;
        self.next_buf += len.next_multiple_of(16);
        at
    }

    /// Puts `n` empty buffers on the rx queue.
    fn post_rx(&mut self, n: usize) {
        for _ in 0..n {
            let at = self.alloc(RX_BUF_LEN as u64);
            let head = self.rx.next_desc;
            self.rx.add_chain(&self.mem, &[(at, RX_BUF_LEN, true)]);
            self.rx_bufs.insert(head, at);
        }
    }

    fn header(&self, op: Op, src_port: u32, dst_port: u32, len: usize) -> Header {
        Header {
            src_cid: GUEST_CID,
            dst_cid: HOST_CID,
            src_port,
            dst_port,
            len: len as u32,
            type_: TYPE_STREAM,
            op: op as u16,
            flags: 0,
            buf_alloc: 64 * 1024,
            fwd_cnt: 0,
        }
    }

    /// Sends a packet on the tx queue (header and payload in two descriptors).
    fn send(&mut self, header: Header, payload: &[u8]) {
        let h = self.alloc(HEADER_LEN as u64);
        self.mem
            .write_slice(&header.to_bytes(), GuestAddress(h))
            .unwrap();
        if payload.is_empty() {
            self.tx
                .add_chain(&self.mem, &[(h, HEADER_LEN as u32, false)]);
        } else {
            let p = self.alloc(payload.len() as u64);
            self.mem.write_slice(payload, GuestAddress(p)).unwrap();
            self.tx.add_chain(
                &self.mem,
                &[
                    (h, HEADER_LEN as u32, false),
                    (p, payload.len() as u32, false),
                ],
            );
        }
        self.device.process_tx(&self.mem, &mut self.tx.queue);
        self.device.process_rx(&self.mem, &mut self.rx.queue);
    }

    /// Lets the device handle host events and fill rx; returns the packets.
    fn receive(&mut self) -> Vec<(Header, Vec<u8>)> {
        self.device.handle_host_events();
        self.device.process_rx(&self.mem, &mut self.rx.queue);
        let mut out = Vec::new();
        for (head, len) in self.rx.take_used(&self.mem) {
            let at = self
                .rx_bufs
                .remove(&head)
                .expect("device used an unknown rx head");
            assert!(
                len as usize >= HEADER_LEN,
                "rx packet shorter than a header"
            );
            let mut raw = [0u8; HEADER_LEN];
            self.mem.read_slice(&mut raw, GuestAddress(at)).unwrap();
            let header = Header::parse(&raw);
            assert_eq!(len as usize, HEADER_LEN + header.len as usize);
            let mut payload = vec![0u8; header.len as usize];
            self.mem
                .read_slice(&mut payload, GuestAddress(at + HEADER_LEN as u64))
                .unwrap();
            out.push((header, payload));
        }
        out
    }

    /// Host connects to guest `port`; the guest accepts. Returns the host
    /// stream (after `OK`) and the host-side port.
    fn host_connect(&mut self, port: u32) -> (UnixStream, u32) {
        let mut host = UnixStream::connect(&self.uds).unwrap();
        host.write_all(format!("CONNECT {port}\n").as_bytes())
            .unwrap();
        self.post_rx(4);
        let pkts = self.receive();
        assert_eq!(pkts.len(), 1, "expected one REQUEST, got {pkts:?}");
        let req = pkts[0].0;
        assert_eq!(req.op(), Some(Op::Request));
        assert_eq!(
            (req.src_cid, req.dst_cid, req.dst_port),
            (HOST_CID, GUEST_CID, port)
        );
        let local = req.src_port;
        self.send(self.header(Op::Response, port, local, 0), &[]);
        let mut line = [0u8; 64];
        let n = host.read(&mut line).unwrap();
        assert_eq!(
            std::str::from_utf8(&line[..n]).unwrap(),
            format!("OK {local}\n")
        );
        (host, local)
    }
}

#[test]
fn host_connect_handshake_and_data_both_ways() {
    let mut g = Guest::new();
    let (mut host, local) = g.host_connect(1024);

    host.write_all(b"ping").unwrap();
    let pkts = g.receive();
    assert_eq!(pkts.len(), 1);
    assert_eq!(pkts[0].0.op(), Some(Op::Rw));
    assert_eq!(pkts[0].1, b"ping");
    assert_eq!(pkts[0].0.buf_alloc, BUF_ALLOC);

    g.send(g.header(Op::Rw, 1024, local, 4), b"pong");
    let mut buf = [0u8; 4];
    host.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"pong");
    assert_eq!(g.device.malformed_packets(), 0);
}

#[test]
fn data_to_guest_stops_at_its_credit_and_resumes_on_update() {
    let mut g = Guest::new();
    let (host, local) = g.host_connect(1024);
    // The guest advertised 64 KiB; the host sends 200 KiB.
    let data: Vec<u8> = (0..200 * 1024).map(|i| (i % 251) as u8).collect();
    let writer = {
        let mut h = host.try_clone().unwrap();
        let d = data.clone();
        std::thread::spawn(move || h.write_all(&d).unwrap())
    };
    // A lazy guest: it consumes what arrives but tells the device only
    // when asked (CREDIT_REQUEST).
    let mut got = Vec::new();
    let mut credit_requests = 0;
    let mut told_fwd = 0usize;
    while got.len() < data.len() {
        g.post_rx(8);
        std::thread::sleep(std::time::Duration::from_millis(2));
        for (h, p) in g.receive() {
            match h.op() {
                Some(Op::Rw) => got.extend_from_slice(&p),
                Some(Op::CreditRequest) => {
                    credit_requests += 1;
                    let mut update = g.header(Op::CreditUpdate, 1024, local, 0);
                    update.fwd_cnt = got.len() as u32;
                    told_fwd = got.len();
                    g.send(update, &[]);
                }
                other => panic!("unexpected {other:?}"),
            }
            assert!(
                got.len() - told_fwd <= 64 * 1024,
                "device sent past the guest's window"
            );
        }
    }
    writer.join().unwrap();
    assert_eq!(got, data, "bytes arrive in order and intact");
    assert!(
        credit_requests > 0,
        "the device asked for credit when the window closed"
    );
    drop(host.shutdown(std::net::Shutdown::Both));
}

#[test]
fn data_from_guest_past_the_window_gets_credit_updates() {
    let mut g = Guest::new();
    let (host, local) = g.host_connect(1024);
    let reader = {
        let mut h = host.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut all = vec![0u8; 1024 * 1024];
            h.read_exact(&mut all).unwrap();
            all
        })
    };
    g.post_rx(64);
    let chunk: Vec<u8> = (0..32 * 1024).map(|i| (i % 253) as u8).collect();
    let mut last_fwd = 0;
    let mut updates = 0;
    for _ in 0..32 {
        g.send(g.header(Op::Rw, 1024, local, chunk.len()), &chunk);
        std::thread::sleep(std::time::Duration::from_millis(1));
        for (h, _) in g.receive() {
            if h.op() == Some(Op::CreditUpdate) {
                assert!(h.fwd_cnt >= last_fwd);
                last_fwd = h.fwd_cnt;
                updates += 1;
            }
        }
        g.post_rx(2);
    }
    // Let the rest drain to the host.
    for _ in 0..100 {
        g.receive();
        g.post_rx(1);
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let all = reader.join().unwrap();
    assert!(all.chunks(chunk.len()).all(|c| c == chunk.as_slice()));
    assert!(
        updates >= 2,
        "1 MiB through a 256 KiB window needs credit updates, saw {updates}"
    );
    assert!(g.device.connection_count() == 1);
    drop(host);
}

#[test]
fn shutdown_both_ways_ends_in_rst_and_host_eof() {
    let mut g = Guest::new();
    let (mut host, local) = g.host_connect(1024);
    host.shutdown(std::net::Shutdown::Write).unwrap();
    let pkts = g.receive();
    assert_eq!(pkts.len(), 1);
    assert_eq!(pkts[0].0.op(), Some(Op::Shutdown));
    assert_eq!(pkts[0].0.flags, SHUTDOWN_SEND);

    g.send(g.header(Op::Rw, 1024, local, 3), b"end");
    let mut shut = g.header(Op::Shutdown, 1024, local, 0);
    shut.flags = SHUTDOWN_SEND | SHUTDOWN_RCV;
    g.send(shut, &[]);
    let pkts = g.receive();
    assert!(
        pkts.iter().any(|(h, _)| h.op() == Some(Op::Rst)),
        "got {pkts:?}"
    );
    let mut rest = Vec::new();
    host.read_to_end(&mut rest).unwrap();
    assert_eq!(
        rest, b"end",
        "data sent before the shutdown is delivered, then EOF"
    );
    assert_eq!(g.device.connection_count(), 0);
}

#[test]
fn guest_connect_to_a_port_nobody_listens_on_is_reset() {
    let mut g = Guest::new();
    g.post_rx(2);
    g.send(g.header(Op::Request, 40000, 5555, 0), &[]);
    let pkts = g.receive();
    assert_eq!(pkts.len(), 1);
    let h = pkts[0].0;
    assert_eq!(h.op(), Some(Op::Rst));
    assert_eq!((h.src_port, h.dst_port), (5555, 40000));
}

#[test]
fn guest_connect_reaches_host_listener() {
    let mut g = Guest::new();
    let mut path = g.uds.clone().into_os_string();
    path.push("_5000");
    let listener = UnixListener::bind(&path).unwrap();
    g.post_rx(2);
    g.send(g.header(Op::Request, 40001, 5000, 0), &[]);
    let pkts = g.receive();
    assert_eq!(pkts[0].0.op(), Some(Op::Response));
    let (mut conn, _) = listener.accept().unwrap();
    g.send(g.header(Op::Rw, 40001, 5000, 5), b"hello");
    let mut buf = [0u8; 5];
    conn.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
}

#[test]
fn packet_for_unknown_connection_is_reset() {
    let mut g = Guest::new();
    g.post_rx(2);
    g.send(g.header(Op::Rw, 1, 2, 3), b"abc");
    let pkts = g.receive();
    assert_eq!(pkts[0].0.op(), Some(Op::Rst));
}

#[test]
fn malformed_chains_are_rejected_and_the_device_keeps_working() {
    let mut g = Guest::new();
    let outside = MEM_SIZE as u64 + 0x1000;
    // Header pointing outside guest memory.
    g.tx.add_chain(&g.mem, &[(outside, HEADER_LEN as u32, false)]);
    // Shorter than a header, and zero length.
    let small = g.alloc(16);
    g.tx.add_chain(&g.mem, &[(small, 16, false)]);
    g.tx.add_chain(&g.mem, &[(small, 0, false)]);
    // Header claiming more payload than the chain holds.
    let h = g.alloc(HEADER_LEN as u64);
    g.mem
        .write_slice(&g.header(Op::Rw, 1, 2, 1000).to_bytes(), GuestAddress(h))
        .unwrap();
    g.tx.add_chain(&g.mem, &[(h, HEADER_LEN as u32, false)]);
    // Header claiming a payload over the limit.
    let h2 = g.alloc(HEADER_LEN as u64);
    g.mem
        .write_slice(
            &g.header(Op::Rw, 1, 2, 10 << 20).to_bytes(),
            GuestAddress(h2),
        )
        .unwrap();
    g.tx.add_chain(&g.mem, &[(h2, HEADER_LEN as u32, false)]);
    // A length that wraps the address space.
    g.tx.add_chain(&g.mem, &[(u64::MAX - 8, 64, false)]);
    // A chain whose descriptor points back at itself (a loop).
    let loop_at = g.tx.next_desc;
    g.tx.add_raw(
        &g.mem,
        &[RawDescriptor::from(SplitDescriptor::new(
            small,
            8,
            VRING_DESC_F_NEXT as u16,
            loop_at,
        ))],
    );
    g.device.process_tx(&g.mem, &mut g.tx.queue);
    assert_eq!(
        g.tx.take_used(&g.mem).len(),
        7,
        "every chain is returned to the guest"
    );
    assert_eq!(g.device.malformed_packets(), 7);

    // rx buffers that are too small or outside memory are returned unused.
    g.rx.add_chain(&g.mem, &[(small, 8, true)]);
    g.rx.add_chain(&g.mem, &[(outside, RX_BUF_LEN, true)]);
    // A read-only rx buffer (no WRITE flag) holds no room for a packet.
    g.rx.add_chain(&g.mem, &[(small, RX_BUF_LEN, false)]);
    g.send(g.header(Op::Request, 40000, 5555, 0), &[]);
    let used = g.rx.take_used(&g.mem);
    assert_eq!(used, vec![(0, 0), (1, 0), (2, 0)]);
    // The answer waits for a usable buffer.
    g.post_rx(1);
    let pkts = g.receive();
    assert_eq!(pkts.len(), 1);
    assert_eq!(pkts[0].0.op(), Some(Op::Rst));

    // Still healthy: a proper connection works end to end.
    let (mut host, local) = g.host_connect(1024);
    g.send(g.header(Op::Rw, 1024, local, 2), b"ok");
    let mut buf = [0u8; 2];
    host.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ok");
}

#[test]
fn wrong_cids_and_bad_handshakes_are_ignored() {
    let mut g = Guest::new();
    g.post_rx(2);
    let mut spoofed = g.header(Op::Request, 40000, 1024, 0);
    spoofed.src_cid = 99;
    g.send(spoofed, &[]);
    assert!(g.receive().is_empty(), "spoofed source CID gets no answer");

    let mut bad = UnixStream::connect(&g.uds).unwrap();
    bad.write_all(b"HELLO there\n").unwrap();
    g.receive();
    let mut reply = String::new();
    bad.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("ERROR"), "got {reply:?}");
    assert_eq!(g.device.connection_count(), 0);
}
