//! The block device core behind our own VMM's virtio-mmio transport.

use super::device::CONFIG_LEN;
use super::{BlockDevice, VIRTIO_ID_BLOCK};
use crate::devices::virtio::worker::{spawn_worker, QueueHandler, WorkerStop};
use crate::devices::virtio::{read_config_bytes, Interrupt, VirtioDevice};
use std::sync::Arc;
use virtio_queue::Queue;
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::EventFd;

const QUEUE_SIZE: u16 = 128;

pub struct BlockMmio {
    /// Present until activation moves it into the worker.
    core: Option<BlockDevice>,
    features: u64,
    config: [u8; CONFIG_LEN],
    stop: WorkerStop,
}

impl BlockMmio {
    pub fn new(core: BlockDevice) -> std::io::Result<Self> {
        Ok(BlockMmio {
            features: core.features(),
            config: core.config_space(),
            core: Some(core),
            stop: WorkerStop::new()?,
        })
    }
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

impl VirtioDevice for BlockMmio {
    fn device_type(&self) -> u32 {
        VIRTIO_ID_BLOCK
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE]
    }

    fn features(&self) -> u64 {
        self.features
    }

    fn read_config(&self, offset: u64, data: &mut [u8]) {
        read_config_bytes(&self.config, offset, data);
    }

    fn activate(
        &mut self,
        mem: GuestMemoryMmap,
        queues: Vec<Queue>,
        queue_events: Vec<EventFd>,
        interrupt: Arc<Interrupt>,
    ) -> Result<(), String> {
        let core = self.core.take().ok_or("block device activated twice")?;
        spawn_worker(
            "virtio-blk",
            core,
            mem,
            queues,
            queue_events,
            interrupt,
            &self.stop,
        )
    }
}
