//! The net device core behind our own VMM's virtio-mmio transport, served
//! by a [`worker`](crate::devices::virtio::worker) thread that also waits
//! on the host link.

use super::{NetDevice, NUM_QUEUES, VIRTIO_ID_NET};
use crate::devices::virtio::worker::{HostLinked, WorkerDevice};
use std::os::unix::io::RawFd;
use virtio_queue::Queue;
use vm_memory::GuestMemoryMmap;

const QUEUE_SIZE: u16 = 256;

pub fn net_mmio(core: NetDevice) -> std::io::Result<WorkerDevice<NetDevice>> {
    let (features, config) = (core.features(), core.config_space().to_vec());
    WorkerDevice::new(
        "virtio-net",
        VIRTIO_ID_NET,
        vec![QUEUE_SIZE; NUM_QUEUES],
        features,
        config,
        core,
    )
}

impl HostLinked for NetDevice {
    fn link_fd(&self) -> RawFd {
        self.host_fd()
    }

    fn pull_from_host(&mut self) {
        self.handle_host_events();
    }

    fn process_tx(&mut self, mem: &GuestMemoryMmap, queue: &mut Queue) -> bool {
        NetDevice::process_tx(self, mem, queue)
    }

    fn process_rx(&mut self, mem: &GuestMemoryMmap, queue: &mut Queue) -> bool {
        NetDevice::process_rx(self, mem, queue)
    }
}
