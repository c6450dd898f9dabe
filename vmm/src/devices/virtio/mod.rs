//! virtio devices: the MMIO transport, and device cores that both our VMM
//! (through the transport) and QEMU (through vhost-user) run.

pub mod block;
pub mod mmio;
pub mod net;
pub mod vsock;
pub mod worker;

#[cfg(test)]
pub mod test_driver;

use crate::devices::InterruptLine;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use virtio_queue::Queue;
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::EventFd;

/// VIRTIO_F_VERSION_1: the only transport generation we speak.
pub const VIRTIO_F_VERSION_1: u64 = 1 << 32;
pub const INTERRUPT_USED_RING: u32 = 1;

/// A device's interrupt: the status bits the driver reads, and the line
/// that raises it.
pub struct Interrupt {
    status: AtomicU32,
    line: Arc<dyn InterruptLine>,
}

impl Interrupt {
    pub fn new(line: Arc<dyn InterruptLine>) -> Self {
        Interrupt {
            status: AtomicU32::new(0),
            line,
        }
    }

    /// Tells the driver that used rings changed.
    pub fn signal_used(&self) {
        self.status.fetch_or(INTERRUPT_USED_RING, Ordering::SeqCst);
        if let Err(e) = self.line.raise() {
            tracing::warn!("raising virtio interrupt: {e}");
        }
    }

    pub fn status(&self) -> u32 {
        self.status.load(Ordering::SeqCst)
    }

    pub fn ack(&self, bits: u32) {
        self.status.fetch_and(!bits, Ordering::SeqCst);
    }
}

/// What the MMIO transport needs from a device.
pub trait VirtioDevice: Send {
    fn device_type(&self) -> u32;
    fn queue_max_sizes(&self) -> &[u16];
    fn features(&self) -> u64;
    fn read_config(&self, offset: u64, data: &mut [u8]);
    /// The driver set DRIVER_OK: start serving. `queue_events[i]` is
    /// signalled when the driver notifies queue i.
    fn activate(
        &mut self,
        mem: GuestMemoryMmap,
        queues: Vec<Queue>,
        queue_events: Vec<EventFd>,
        interrupt: Arc<Interrupt>,
    ) -> Result<(), String>;
}

/// Copies the part of a device's configuration space at `offset` into
/// `data`; bytes past its end read as zero.
pub fn read_config_bytes(config: &[u8], offset: u64, data: &mut [u8]) {
    data.fill(0);
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(config.len());
    let end = start.saturating_add(data.len()).min(config.len());
    data[..end - start].copy_from_slice(&config[start..end]);
}
