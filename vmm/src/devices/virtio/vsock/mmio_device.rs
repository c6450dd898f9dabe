//! The vsock device core behind our own VMM's virtio-mmio transport, served
//! by a [`worker`](crate::devices::virtio::worker) thread that also waits
//! on the host side.

use super::{VsockDevice, VsockError, NUM_QUEUES, RX_QUEUE, TX_QUEUE, VIRTIO_ID_VSOCK};
use crate::devices::virtio::worker::{spawn_worker, QueueHandler, WorkerStop};
use crate::devices::virtio::{read_config_bytes, Interrupt, VirtioDevice};
use std::os::unix::io::RawFd;
use std::path::Path;
use std::sync::Arc;
use virtio_queue::Queue;
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::EventFd;

const QUEUE_SIZE: u16 = 256;

pub struct VsockMmio {
    /// Present until activation moves it into the worker.
    core: Option<VsockDevice>,
    config: [u8; 8],
    stop: WorkerStop,
}

impl VsockMmio {
    /// Binds the host Unix socket now, so host clients can connect while
    /// the guest is still booting.
    pub fn new(guest_cid: u64, uds_path: &Path) -> Result<Self, VsockError> {
        let core = VsockDevice::new(guest_cid, uds_path)?;
        let config = core.config_space();
        let stop = WorkerStop::new().map_err(|source| VsockError::Listen {
            path: uds_path.display().to_string(),
            source,
        })?;
        Ok(VsockMmio {
            core: Some(core),
            config,
            stop,
        })
    }
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

impl VirtioDevice for VsockMmio {
    fn device_type(&self) -> u32 {
        VIRTIO_ID_VSOCK
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &[QUEUE_SIZE; NUM_QUEUES]
    }

    fn features(&self) -> u64 {
        0
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
        let core = self.core.take().ok_or("vsock device activated twice")?;
        spawn_worker(
            "vsock",
            core,
            mem,
            queues,
            queue_events,
            interrupt,
            &self.stop,
        )
    }
}
