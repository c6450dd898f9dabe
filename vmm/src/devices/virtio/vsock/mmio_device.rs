//! The vsock device core behind our own VMM's virtio-mmio transport, served
//! by a [`worker`](crate::devices::virtio::worker) thread that also waits
//! on the host side.

use super::{VsockDevice, VsockError, NUM_QUEUES, RX_QUEUE, TX_QUEUE, VIRTIO_ID_VSOCK};
use crate::devices::virtio::worker::{QueueHandler, WorkerDevice};
use std::os::unix::io::RawFd;
use std::path::Path;
use virtio_queue::Queue;
use vm_memory::GuestMemoryMmap;

const QUEUE_SIZE: u16 = 256;

/// The device for guest `guest_cid`. It binds the host Unix socket now, so
/// host clients can connect while the guest is still booting.
pub fn vsock_mmio(
    guest_cid: u64,
    uds_path: &Path,
) -> Result<WorkerDevice<VsockDevice>, VsockError> {
    let core = VsockDevice::new(guest_cid, uds_path)?;
    let config = core.config_space().to_vec();
    WorkerDevice::new(
        "vsock",
        VIRTIO_ID_VSOCK,
        vec![QUEUE_SIZE; NUM_QUEUES],
        0,
        config,
        core,
    )
    .map_err(|source| VsockError::Listen {
        path: uds_path.display().to_string(),
        source,
    })
}

impl QueueHandler for VsockDevice {
    fn host_fd(&self) -> Option<RawFd> {
        Some(self.host_event_fd())
    }

    fn host_event(&mut self) {
        self.handle_host_events();
    }

    fn queue_notified(
        &mut self,
        mem: &GuestMemoryMmap,
        queues: &mut [Queue],
        index: usize,
    ) -> bool {
        // rx buffers are filled after every batch; only tx needs work here.
        index == TX_QUEUE && self.process_tx(mem, &mut queues[TX_QUEUE])
    }

    fn after_events(&mut self, mem: &GuestMemoryMmap, queues: &mut [Queue]) -> bool {
        self.process_rx(mem, &mut queues[RX_QUEUE])
    }
}
