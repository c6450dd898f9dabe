//! Moves frames between the net virtqueues and the host link. Whatever
//! serves the device (vhost-user backend, in-process VMM) calls
//! `process_tx` on a tx kick, `handle_host_events` when the link is
//! readable, `process_rx` after either, and signals the guest when they
//! return true.

use super::frame::{read_tx_frame, write_rx_frame, HEADER_LEN, LEGACY_HEADER_LEN, MAX_FRAME};
use super::{VIRTIO_NET_F_MAC, VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_STATUS, VIRTIO_NET_S_LINK_UP};
use crate::devices::virtio::VIRTIO_F_VERSION_1;
use socket2::{Domain, SockAddr, Socket, Type};
use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::io::{AsRawFd, RawFd};
use std::path::Path;
use virtio_queue::{Queue, QueueT};
use vm_memory::GuestMemory;

/// Frames held for the guest while it has no rx buffers; beyond this they
/// are dropped, as a full NIC ring would (TCP sends them again). Reading
/// on rather than leaving them in the link keeps the link's readiness
/// from waking the device in a loop.
const MAX_PENDING: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot reach the machine's network at {path}")]
    Connect { path: String, source: io::Error },
}

pub struct NetDevice {
    mac: [u8; 6],
    /// The driver's `virtio_net_hdr` length (see [`Self::negotiated`]).
    header_len: usize,
    link: Socket,
    to_guest: VecDeque<Vec<u8>>,
    dropped: u64,
}

impl NetDevice {
    /// A card with address `mac`, linked to the network listening on the
    /// SOCK_SEQPACKET socket `path`.
    pub fn connect(mac: [u8; 6], path: &Path) -> Result<NetDevice, NetError> {
        let connect = || -> io::Result<Socket> {
            let link = Socket::new(Domain::UNIX, Type::SEQPACKET.cloexec(), None)?;
            link.connect(&SockAddr::unix(path)?)?;
            link.set_nonblocking(true)?;
            Ok(link)
        };
        let link = connect().map_err(|source| NetError::Connect {
            path: path.display().to_string(),
            source,
        })?;
        Ok(NetDevice::with_link(mac, link))
    }

    /// A card on an already connected link (tests use a socket pair).
    pub fn with_link(mac: [u8; 6], link: Socket) -> NetDevice {
        NetDevice {
            mac,
            header_len: HEADER_LEN,
            link,
            to_guest: VecDeque::new(),
            dropped: 0,
        }
    }

    /// The driver accepted `features`: a legacy one without MRG_RXBUF uses
    /// the 10-byte header. (Our own transport always negotiates VERSION_1.)
    pub fn negotiated(&mut self, features: u64) {
        let modern = features & (VIRTIO_F_VERSION_1 | VIRTIO_NET_F_MRG_RXBUF) != 0;
        self.header_len = if modern {
            HEADER_LEN
        } else {
            LEGACY_HEADER_LEN
        };
    }

    pub fn features(&self) -> u64 {
        VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS
    }

    /// `u8 mac[6]; le16 status`.
    pub fn config_space(&self) -> [u8; 8] {
        let mut config = [0u8; 8];
        config[..6].copy_from_slice(&self.mac);
        config[6..].copy_from_slice(&VIRTIO_NET_S_LINK_UP.to_le_bytes());
        config
    }

    /// Readable when the network has frames for the guest.
    pub fn host_fd(&self) -> RawFd {
        self.link.as_raw_fd()
    }

    /// Frames lost: malformed ones from the guest, ones the link refused,
    /// ones the guest had no room for.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Takes every frame the network has for the guest.
    pub fn handle_host_events(&mut self) {
        let mut buf = [MaybeUninit::<u8>::uninit(); MAX_FRAME + 1];
        loop {
            match self.link.recv(&mut buf) {
                Ok(0) => return,
                Ok(n) if n > MAX_FRAME || self.to_guest.len() >= MAX_PENDING => self.dropped += 1,
                Ok(n) => {
                    // SAFETY: recv initialised the first n bytes.
                    let frame = buf[..n]
                        .iter()
                        .map(|b| unsafe { b.assume_init() })
                        .collect();
                    self.to_guest.push_back(frame);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    /// Sends every frame the guest queued. Malformed chains are dropped and
    /// given back; a full link drops the frame, as a busy wire would (TCP
    /// sends it again). Returns whether the guest should be notified.
    pub fn process_tx<M: GuestMemory<Bitmap = ()>>(&mut self, mem: &M, queue: &mut Queue) -> bool {
        let mut used = false;
        while let Some(chain) = queue.pop_descriptor_chain(mem) {
            let head = chain.head_index();
            match read_tx_frame(mem, chain, self.header_len) {
                Ok(frame) => {
                    if self.link.send(&frame).is_err() {
                        self.dropped += 1;
                    }
                }
                Err(e) => {
                    self.dropped += 1;
                    tracing::warn!("net: dropped tx frame: {e}");
                }
            }
            if let Err(e) = queue.add_used(mem, head, 0) {
                tracing::warn!("net: add_used on tx failed: {e}");
            }
            used = true;
        }
        used
    }

    /// Fills the guest's rx buffers with the frames waiting for it.
    pub fn process_rx<M: GuestMemory<Bitmap = ()>>(&mut self, mem: &M, queue: &mut Queue) -> bool {
        let mut used = false;
        while let Some(frame) = self.to_guest.front() {
            let Some(chain) = queue.pop_descriptor_chain(mem) else {
                break;
            };
            let head = chain.head_index();
            let len = write_rx_frame(mem, chain, frame, self.header_len).unwrap_or_else(|e| {
                self.dropped += 1;
                tracing::warn!("net: rx frame dropped: {e}");
                0
            });
            self.to_guest.pop_front();
            if let Err(e) = queue.add_used(mem, head, len) {
                tracing::warn!("net: add_used on rx failed: {e}");
            }
            used = true;
        }
        used
    }

    /// Whether frames wait for the guest's rx buffers.
    pub fn has_pending(&self) -> bool {
        !self.to_guest.is_empty()
    }
}
