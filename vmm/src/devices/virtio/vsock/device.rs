//! Moves packets between the vsock virtqueues and the [`Muxer`]. Whatever
//! serves the device (vhost-user backend, in-process VMM) calls
//! `process_tx` on a tx kick, `process_rx` on an rx kick or after host
//! events, and signals the guest when they return true.

use super::muxer::Muxer;
use super::packet::{read_tx_packet, RxBuffer};
use std::os::unix::io::RawFd;
use std::path::Path;
use virtio_queue::{Queue, QueueOwnedT, QueueT};
use vm_memory::GuestMemory;

#[derive(Debug, thiserror::Error)]
pub enum VsockError {
    #[error("cannot listen on vsock socket {path}: {source}")]
    Listen {
        path: String,
        source: std::io::Error,
    },
}

pub struct VsockDevice {
    guest_cid: u64,
    muxer: Muxer,
    malformed: u64,
}

impl VsockDevice {
    pub fn new(guest_cid: u64, uds_path: &Path) -> Result<Self, VsockError> {
        let muxer = Muxer::new(guest_cid, uds_path).map_err(|source| VsockError::Listen {
            path: uds_path.display().to_string(),
            source,
        })?;
        Ok(VsockDevice {
            guest_cid,
            muxer,
            malformed: 0,
        })
    }

    pub fn guest_cid(&self) -> u64 {
        self.guest_cid
    }

    /// The device configuration space: `le64 guest_cid`.
    pub fn config_space(&self) -> [u8; 8] {
        self.guest_cid.to_le_bytes()
    }

    /// One fd that becomes readable when the host side has work.
    pub fn host_event_fd(&self) -> RawFd {
        self.muxer.epoll_fd()
    }

    /// Packets from the guest that were rejected as malformed.
    pub fn malformed_packets(&self) -> u64 {
        self.malformed
    }

    pub fn connection_count(&self) -> usize {
        self.muxer.connection_count()
    }

    pub fn handle_host_events(&mut self) {
        self.muxer.handle_host_events();
    }

    /// Consumes every packet the guest queued for sending. Malformed chains
    /// are counted, logged and returned to the guest unprocessed; the device
    /// keeps running. Returns whether the guest should be notified.
    pub fn process_tx<M: GuestMemory<Bitmap = ()>>(&mut self, mem: &M, queue: &mut Queue) -> bool {
        let mut used = false;
        while let Some(chain) = queue.pop_descriptor_chain(mem) {
            let head = chain.head_index();
            let accepted = read_tx_packet(mem, chain)
                .map_err(|e| e.to_string())
                .and_then(|pkt| self.muxer.send_from_guest(pkt).map_err(|e| e.to_string()));
            if let Err(e) = accepted {
                self.malformed += 1;
                tracing::warn!("vsock: dropped tx packet: {e}");
            }
            if let Err(e) = queue.add_used(mem, head, 0) {
                tracing::warn!("vsock: add_used on tx failed: {e}");
            }
            used = true;
        }
        used
    }

    /// Fills the guest's rx buffers with whatever the host side has for it.
    pub fn process_rx<M: GuestMemory<Bitmap = ()>>(&mut self, mem: &M, queue: &mut Queue) -> bool {
        let mut used = false;
        while self.muxer.has_outgoing() {
            let Some(chain) = queue.pop_descriptor_chain(mem) else {
                break;
            };
            let head = chain.head_index();
            let buf = match RxBuffer::new(mem, chain) {
                Ok(b) => b,
                Err(e) => {
                    self.malformed += 1;
                    tracing::warn!("vsock: unusable rx buffer: {e}");
                    let _ = queue.add_used(mem, head, 0);
                    used = true;
                    continue;
                }
            };
            let Some(pkt) = self.muxer.next_for_guest(buf.payload_room()) else {
                // Nothing after all (the host stream would block): give the
                // buffer back for next time.
                queue.go_to_previous_position();
                break;
            };
            let len = match buf.write(&pkt.header, &pkt.payload) {
                Ok(len) => len,
                Err(e) => {
                    self.malformed += 1;
                    tracing::warn!("vsock: rx write failed: {e}");
                    0
                }
            };
            if let Err(e) = queue.add_used(mem, head, len) {
                tracing::warn!("vsock: add_used on rx failed: {e}");
            }
            used = true;
        }
        used
    }
}
