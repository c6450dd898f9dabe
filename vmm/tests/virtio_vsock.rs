//! A synthetic guest drives our VMM's virtio-mmio vsock device the way a
//! driver would, with polling instead of interrupts: the register handshake,
//! then a connection to a host Unix socket, a message out and the answer
//! back. Descriptor rings and packets are laid out by the test in the guest
//! image; the guest code only pokes registers and ring indices.

mod support;

use hutch_vmm::devices::DeviceConfig;
use hutch_vmm::runner::MachineExit;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use support::asm::Asm;
use support::{run_raw, LOAD_ADDR as LOAD};

const MMIO_BASE: u64 = 0xd000_0000;
const QUEUE_LEN: u16 = 16;
const GUEST_CID: u64 = 3;
const HOST_PORT: u32 = 5000;
const GUEST_PORT: u32 = 1234;
/// Per queue q: descriptors, avail ring and used ring, one page apart.
const fn ring(q: u64) -> (u64, u64, u64) {
    let base = 0x10_2000 + q * 0x1000;
    (base, base + 0x100, base + 0x200)
}
const RX_BUFS: u64 = 0x11_0000;
const RX_BUF_LEN: u32 = 4096;
const TX_PKTS: u64 = 0x12_0000;
const OP_REQUEST: u16 = 1;
const OP_RESPONSE: u16 = 2;
const OP_RW: u16 = 5;

/// The guest image: code at LOAD, data at fixed addresses above it.
struct Image(Vec<u8>);

impl Image {
    fn put(&mut self, addr: u64, bytes: &[u8]) {
        let at = (addr - LOAD) as usize;
        if self.0.len() < at + bytes.len() {
            self.0.resize(at + bytes.len(), 0);
        }
        self.0[at..at + bytes.len()].copy_from_slice(bytes);
    }

    fn desc(&mut self, q: u64, index: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let mut d = addr.to_le_bytes().to_vec();
        d.extend_from_slice(&len.to_le_bytes());
        d.extend_from_slice(&flags.to_le_bytes());
        d.extend_from_slice(&next.to_le_bytes());
        self.put(ring(q).0 + 16 * index as u64, &d);
    }

    fn avail_entry(&mut self, q: u64, slot: u16, head: u16) {
        self.put(ring(q).1 + 4 + 2 * slot as u64, &head.to_le_bytes());
    }
}

fn header(op: u16, len: u32) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(&GUEST_CID.to_le_bytes());
    h.extend_from_slice(&2u64.to_le_bytes());
    h.extend_from_slice(&GUEST_PORT.to_le_bytes());
    h.extend_from_slice(&HOST_PORT.to_le_bytes());
    h.extend_from_slice(&len.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // stream
    h.extend_from_slice(&op.to_le_bytes());
    h.extend_from_slice(&0u32.to_le_bytes()); // flags
    h.extend_from_slice(&65536u32.to_le_bytes()); // buf_alloc
    h.extend_from_slice(&0u32.to_le_bytes()); // fwd_cnt
    h
}

/// The register handshake of virtio spec 3.1.1 over MMIO.
fn handshake(a: &mut Asm) {
    a.mov_rbx(MMIO_BASE);
    a.expect32_rbx(0x00, 0x7472_6976); // "virt"
    a.expect32_rbx(0x04, 2); // version 2
    a.expect32_rbx(0x08, 19); // vsock
    a.expect32_rbx(0x100, GUEST_CID as u32); // config: guest_cid
    a.write32_rbx(0x70, 1); // ACKNOWLEDGE
    a.write32_rbx(0x70, 3); // DRIVER
    a.write32_rbx(0x14, 1);
    a.expect32_rbx(0x10, 1); // VIRTIO_F_VERSION_1 offered
    a.write32_rbx(0x24, 1);
    a.write32_rbx(0x20, 1); // ... and accepted
    a.write32_rbx(0x70, 0xb); // FEATURES_OK
    a.expect32_rbx(0x70, 0xb); // still set: features accepted
    for q in 0..3u32 {
        let (desc, avail, used) = ring(q as u64);
        a.write32_rbx(0x30, q);
        a.expect32_rbx(0x34, 256);
        a.write32_rbx(0x38, QUEUE_LEN as u32);
        a.write32_rbx(0x80, desc as u32);
        a.write32_rbx(0x84, 0);
        a.write32_rbx(0x90, avail as u32);
        a.write32_rbx(0x94, 0);
        a.write32_rbx(0xa0, used as u32);
        a.write32_rbx(0xa4, 0);
        a.write32_rbx(0x44, 1);
        a.expect32_rbx(0x44, 1);
    }
    a.write32_rbx(0x70, 0xf); // DRIVER_OK
    a.expect32_rbx(0x70, 0xf);
}

/// Guest: handshake, then (with `exchange`) connect to HOST_PORT, send
/// "ping", print the answer. With `hostile`, two broken tx chains go first.
fn guest(exchange: bool, hostile: bool) -> Vec<u8> {
    let mut a = Asm::default();
    handshake(&mut a);
    if !exchange {
        a.serial_str("handshake ok");
        a.i8042_reset();
    } else {
        let (tx_avail_idx, rx_used_idx) = ((ring(1).1 + 2) as u32, (ring(0).2 + 2) as u32);
        let mut published = 0;
        if hostile {
            published = 2;
            a.write16_abs(tx_avail_idx, published);
            a.write32_rbx(0x50, 1); // notify tx
        }
        a.write16_abs(tx_avail_idx, published + 1); // REQUEST
        a.write32_rbx(0x50, 1);
        a.wait16_abs_at_least(rx_used_idx, 1);
        a.expect16_abs((RX_BUFS + 30) as u32, OP_RESPONSE);
        a.write16_abs(tx_avail_idx, published + 2); // RW "ping"
        a.write32_rbx(0x50, 1);
        a.wait16_abs_at_least(rx_used_idx, 2);
        a.expect16_abs((RX_BUFS + RX_BUF_LEN as u64 + 30) as u32, OP_RW);
        a.serial_from_mem((RX_BUFS + RX_BUF_LEN as u64 + 44) as u32, 4);
        a.i8042_reset();
    }
    a.fail_target();

    let mut img = Image(a.code);
    // rx: four empty, device-writable buffers, all published.
    for i in 0..4u16 {
        img.desc(
            0,
            i,
            RX_BUFS + i as u64 * RX_BUF_LEN as u64,
            RX_BUF_LEN,
            2,
            0,
        );
        img.avail_entry(0, i, i);
    }
    img.put(ring(0).1 + 2, &4u16.to_le_bytes());
    // tx: REQUEST (desc 0), RW "ping" (desc 1); the guest publishes them.
    img.put(TX_PKTS, &header(OP_REQUEST, 0));
    let mut rw = header(OP_RW, 4);
    rw.extend_from_slice(b"ping");
    img.put(TX_PKTS + 0x100, &rw);
    img.desc(1, 0, TX_PKTS, 44, 0, 0);
    img.desc(1, 1, TX_PKTS + 0x100, 48, 0, 0);
    let mut slot = 0;
    if hostile {
        // Outside guest memory, and a descriptor whose `next` is itself.
        img.desc(1, 2, 0x7fff_0000_0000, 44, 0, 0);
        img.desc(1, 3, TX_PKTS, 8, 1, 3);
        img.avail_entry(1, 0, 2);
        img.avail_entry(1, 1, 3);
        slot = 2;
    }
    img.avail_entry(1, slot, 0);
    img.avail_entry(1, slot + 1, 1);
    img.0
}

fn socket_path(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hutch-vmm-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("vsock.sock")
}

fn run(code: Vec<u8>, uds: PathBuf) -> (MachineExit, String) {
    let vsock = DeviceConfig::Vsock {
        uds,
        guest_cid: GUEST_CID,
    };
    run_raw(code, 1, vec![vsock])
}

#[test]
fn virtio_mmio_register_handshake() {
    let (exit, console) = run(guest(false, false), socket_path("handshake"));
    assert_eq!(console, "handshake ok");
    assert_eq!(exit, MachineExit::Reset);
}

fn exchange(hostile: bool) {
    let uds = socket_path(if hostile { "hostile" } else { "exchange" });
    let mut port = uds.clone().into_os_string();
    port.push(format!("_{HOST_PORT}"));
    let _ = std::fs::remove_file(&port);
    let listener = UnixListener::bind(&port).unwrap();
    let host = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = [0u8; 4];
        conn.read_exact(&mut got).unwrap();
        conn.write_all(b"pong").unwrap();
        got
    });
    let (exit, console) = run(guest(true, hostile), uds);
    assert_eq!(console, "pong", "the guest printed the host's answer");
    assert_eq!(exit, MachineExit::Reset);
    assert_eq!(
        &host.join().unwrap(),
        b"ping",
        "the host received the guest's message"
    );
}

#[test]
fn polled_guest_driver_talks_to_a_host_unix_socket() {
    exchange(false);
}

#[test]
fn hostile_descriptor_chains_are_survived() {
    exchange(true);
}
