//! The block device core behind our own VMM's virtio-mmio transport,
//! served by a [`worker`](crate::devices::virtio::worker) thread.

use super::{BlockDevice, VIRTIO_ID_BLOCK};
use crate::devices::virtio::worker::{QueueHandler, WorkerDevice};
use virtio_queue::Queue;
use vm_memory::GuestMemoryMmap;

const QUEUE_SIZE: u16 = 128;

pub fn block_mmio(core: BlockDevice) -> std::io::Result<WorkerDevice<BlockDevice>> {
    let (features, config) = (core.features(), core.config_space().to_vec());
    WorkerDevice::new(
        "virtio-blk",
        VIRTIO_ID_BLOCK,
        vec![QUEUE_SIZE],
        features,
        config,
        core,
    )
}

impl QueueHandler for BlockDevice {
    fn queue_notified(
        &mut self,
        mem: &GuestMemoryMmap,
        queues: &mut [Queue],
        index: usize,
    ) -> bool {
        queues
            .get_mut(index)
            .is_some_and(|q| self.process_queue(mem, q))
    }
}
