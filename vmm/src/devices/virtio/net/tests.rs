//! The net device driven as a guest driver would drive it (chains in mock
//! guest memory), its link the other end of a SOCK_SEQPACKET pair.

use super::frame::{HEADER_LEN, LEGACY_HEADER_LEN, MAX_FRAME};
use super::{NetDevice, VIRTIO_NET_F_MAC, VIRTIO_NET_S_LINK_UP};
use crate::devices::virtio::test_driver::DriverQueue;
use socket2::{Domain, Socket, Type};
use std::mem::MaybeUninit;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const MEM_SIZE: usize = 16 << 20;
const RX_RING: u64 = 0;
const TX_RING: u64 = 0x8000;
const TX_AT: u64 = 0x100000;
const RX_AT: u64 = 0x200000;
const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

struct Guest {
    mem: GuestMemoryMmap,
    rx: DriverQueue,
    tx: DriverQueue,
    device: NetDevice,
    /// The network's end of the link.
    network: Socket,
}

impl Guest {
    fn new() -> Guest {
        let (ours, theirs) = Socket::pair(Domain::UNIX, Type::SEQPACKET, None).unwrap();
        ours.set_nonblocking(true).unwrap();
        theirs.set_nonblocking(true).unwrap();
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), MEM_SIZE)]).unwrap();
        Guest {
            rx: DriverQueue::new(&mem, RX_RING),
            tx: DriverQueue::new(&mem, TX_RING),
            device: NetDevice::with_link(MAC, ours),
            network: theirs,
            mem,
        }
    }

    /// The guest sends `frame` in a chain of a header and the frame split
    /// in two descriptors.
    fn send(&mut self, frame: &[u8]) -> bool {
        self.mem
            .write_slice(&[0u8; HEADER_LEN], GuestAddress(TX_AT))
            .unwrap();
        let data = TX_AT + 0x1000;
        self.mem.write_slice(frame, GuestAddress(data)).unwrap();
        let half = frame.len() / 2;
        let parts = [
            (TX_AT, HEADER_LEN as u32, false),
            (data, half as u32, false),
            (data + half as u64, (frame.len() - half) as u32, false),
        ];
        self.tx.add_chain(&self.mem, &parts);
        self.device.process_tx(&self.mem, &mut self.tx.queue)
    }

    /// What the network received, one frame per packet.
    fn network_frames(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        while let Ok(n) = self.network.recv(&mut buf) {
            // SAFETY: recv initialised the first n bytes.
            out.push(
                buf[..n]
                    .iter()
                    .map(|b| unsafe { b.assume_init() })
                    .collect(),
            );
        }
        out
    }

    /// Offers an rx buffer of `len` bytes at slot `i`.
    fn offer(&mut self, i: u64, len: u32) {
        self.rx
            .add_chain(&self.mem, &[(RX_AT + i * 0x1000, len, true)]);
    }

    fn read_rx(&self, i: u64, len: u32) -> Vec<u8> {
        let mut buf = vec![0u8; len as usize];
        self.mem
            .read_slice(&mut buf, GuestAddress(RX_AT + i * 0x1000))
            .unwrap();
        buf
    }
}

fn frame(len: usize, fill: u8) -> Vec<u8> {
    (0..len).map(|i| fill.wrapping_add(i as u8)).collect()
}

#[test]
fn config_space_carries_the_mac_and_link_up() {
    let g = Guest::new();
    let config = g.device.config_space();
    assert_eq!(config[..6], MAC);
    assert_eq!(
        u16::from_le_bytes([config[6], config[7]]),
        VIRTIO_NET_S_LINK_UP
    );
    assert_ne!(g.device.features() & VIRTIO_NET_F_MAC, 0);
}

#[test]
fn guest_frames_reach_the_network_whole() {
    let mut g = Guest::new();
    let (small, full) = (frame(60, 1), frame(1514, 7));
    assert!(g.send(&small));
    assert!(g.send(&full));
    assert_eq!(g.network_frames(), vec![small, full]);
    assert_eq!(g.tx.take_used(&g.mem).len(), 2, "both chains given back");
}

#[test]
fn network_frames_reach_the_guest_after_a_header() {
    let mut g = Guest::new();
    let (a, b) = (frame(100, 3), frame(1500, 9));
    g.network.send(&a).unwrap();
    g.network.send(&b).unwrap();
    g.device.handle_host_events();
    assert!(g.device.has_pending());
    assert!(
        !g.device.process_rx(&g.mem, &mut g.rx.queue),
        "no buffers yet"
    );
    g.offer(0, 2048);
    g.offer(1, 2048);
    assert!(g.device.process_rx(&g.mem, &mut g.rx.queue));
    let used = g.rx.take_used(&g.mem);
    assert_eq!(used.iter().map(|u| u.1).collect::<Vec<_>>(), [112, 1512]);
    for (i, f) in [(0, &a), (1, &b)] {
        let got = g.read_rx(i, (HEADER_LEN + f.len()) as u32);
        assert_eq!(got[10], 1, "num_buffers");
        assert_eq!(&got[HEADER_LEN..], &f[..]);
    }
    assert!(!g.device.has_pending());
}

#[test]
fn hostile_chains_are_dropped_and_the_device_goes_on() {
    let mut g = Guest::new();
    // Only a header; a frame larger than Ethernet allows; memory outside the guest.
    g.tx.add_chain(&g.mem, &[(TX_AT, HEADER_LEN as u32, false)]);
    g.tx.add_chain(
        &g.mem,
        &[(TX_AT, (HEADER_LEN + MAX_FRAME + 1) as u32, false)],
    );
    g.tx.add_chain(&g.mem, &[(MEM_SIZE as u64 + 0x1000, 100, false)]);
    assert!(g.device.process_tx(&g.mem, &mut g.tx.queue));
    assert_eq!(g.device.dropped(), 3);
    assert!(g.network_frames().is_empty());
    assert_eq!(g.tx.take_used(&g.mem).len(), 3, "each chain given back");
    // A buffer too small for the frame: the frame is dropped, not split.
    g.network.send(&frame(1000, 0)).unwrap();
    g.device.handle_host_events();
    g.offer(0, 100);
    assert!(g.device.process_rx(&g.mem, &mut g.rx.queue));
    assert_eq!(g.rx.take_used(&g.mem), [(0, 0)]);
    assert_eq!(g.device.dropped(), 4);
    // And traffic still flows.
    let ok = frame(64, 5);
    assert!(g.send(&ok));
    assert_eq!(g.network_frames(), vec![ok]);
}

#[test]
fn a_legacy_driver_gets_the_short_header() {
    let mut g = Guest::new();
    g.device.negotiated(0);
    let f = frame(80, 2);
    g.network.send(&f).unwrap();
    g.device.handle_host_events();
    g.offer(0, 2048);
    assert!(g.device.process_rx(&g.mem, &mut g.rx.queue));
    assert_eq!(
        g.rx.take_used(&g.mem),
        [(0, (LEGACY_HEADER_LEN + 80) as u32)]
    );
    assert_eq!(&g.read_rx(0, 90)[LEGACY_HEADER_LEN..], &f[..]);
}
