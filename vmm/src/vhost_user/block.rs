//! The block device core served to QEMU as a vhost-user backend
//! (`-device vhost-user-blk`). QEMU owns the transport and guest memory
//! mapping; this process owns the requests.

use super::{config_slice, ServeError};
use crate::devices::virtio::block::BlockDevice;
use std::io;
use std::path::Path;
use std::sync::{Arc, RwLock};
use vhost::vhost_user::message::{VhostUserProtocolFeatures, VhostUserVirtioFeatures};
use vhost_user_backend::{VhostUserBackendMut, VhostUserDaemon, VringRwLock, VringT};
use virtio_bindings::virtio_config::VIRTIO_F_VERSION_1;
use virtio_queue::QueueT;
use vm_memory::{GuestAddressSpace, GuestMemoryAtomic, GuestMemoryMmap};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::event::{
    new_event_consumer_and_notifier, EventConsumer, EventFlag, EventNotifier,
};

type Memory = GuestMemoryAtomic<GuestMemoryMmap>;

const QUEUE_SIZE: usize = 1024;

struct BlockBackend {
    device: BlockDevice,
    mem: Memory,
}

impl VhostUserBackendMut for BlockBackend {
    type Bitmap = ();
    type Vring = VringRwLock;

    fn num_queues(&self) -> usize {
        1
    }

    fn max_queue_size(&self) -> usize {
        QUEUE_SIZE
    }

    fn features(&self) -> u64 {
        (1 << VIRTIO_F_VERSION_1)
            | self.device.features()
            | VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits()
    }

    fn protocol_features(&self) -> VhostUserProtocolFeatures {
        // QEMU reads capacity and limits from the config space.
        VhostUserProtocolFeatures::CONFIG
    }

    fn set_event_idx(&mut self, _enabled: bool) {}

    fn get_config(&self, offset: u32, size: u32) -> Vec<u8> {
        config_slice(&self.device.config_space(), offset, size)
    }

    fn update_memory(&mut self, mem: Memory) -> io::Result<()> {
        self.mem = mem;
        Ok(())
    }

    fn exit_event(&self, _thread_index: usize) -> Option<(EventConsumer, EventNotifier)> {
        new_event_consumer_and_notifier(EventFlag::NONBLOCK).ok()
    }

    fn handle_event(
        &mut self,
        device_event: u16,
        _evset: EventSet,
        vrings: &[VringRwLock],
        _thread_id: usize,
    ) -> io::Result<()> {
        let Some(vring) = vrings.get(device_event as usize) else {
            return Ok(());
        };
        if !vring.get_ref().get_queue().ready() {
            return Ok(());
        }
        let mem = self.mem.memory();
        if self
            .device
            .process_queue(&*mem, vring.get_mut().get_queue_mut())
        {
            vring.signal_used_queue()?;
        }
        Ok(())
    }
}

/// Serves `device` to one QEMU connection on `vhost_socket` until QEMU
/// disconnects.
pub fn serve_block(vhost_socket: &Path, device: BlockDevice) -> Result<(), ServeError> {
    let backend = Arc::new(RwLock::new(BlockBackend {
        device,
        mem: GuestMemoryAtomic::new(GuestMemoryMmap::new()),
    }));
    let mut daemon = VhostUserDaemon::new(
        "hutch-blk".to_string(),
        backend,
        GuestMemoryAtomic::new(GuestMemoryMmap::new()),
    )
    .map_err(|e| ServeError::Daemon(e.to_string()))?;
    daemon
        .serve(vhost_socket)
        .map_err(|e| ServeError::Daemon(e.to_string()))
}
