//! The vsock device core behind our own VMM's virtio-mmio transport, served
//! by a [`worker`](crate::devices::virtio::worker) thread that also waits
//! on the host side.

use super::{VsockDevice, VsockError, NUM_QUEUES, VIRTIO_ID_VSOCK};
use crate::devices::virtio::worker::{HostLinked, WorkerDevice};
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

impl HostLinked for VsockDevice {
    fn link_fd(&self) -> RawFd {
        self.host_event_fd()
    }

    fn pull_from_host(&mut self) {
        self.handle_host_events();
    }

    fn process_tx(&mut self, mem: &GuestMemoryMmap, queue: &mut Queue) -> bool {
        VsockDevice::process_tx(self, mem, queue)
    }

    fn process_rx(&mut self, mem: &GuestMemoryMmap, queue: &mut Queue) -> bool {
        VsockDevice::process_rx(self, mem, queue)
    }
}
