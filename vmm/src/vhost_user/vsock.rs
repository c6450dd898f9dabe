//! The vsock device core served to QEMU as a vhost-user backend
//! (`-device vhost-user-vsock-device`). QEMU owns the transport and guest
//! memory mapping; this process owns the queues' contents.

use super::{config_slice, ServeError};
use crate::devices::virtio::vsock::{VsockDevice, EVENT_QUEUE, NUM_QUEUES, RX_QUEUE, TX_QUEUE};
use std::io;
use std::path::Path;
use std::sync::{Arc, RwLock};
use vhost::vhost_user::message::{VhostUserProtocolFeatures, VhostUserVirtioFeatures};
use vhost_user_backend::{VhostUserBackendMut, VhostUserDaemon, VringRwLock, VringT};
use virtio_bindings::virtio_config::VIRTIO_F_VERSION_1;
use virtio_queue::{Queue, QueueT};
use vm_memory::{GuestAddressSpace, GuestMemoryAtomic, GuestMemoryMmap};
use vmm_sys_util::epoll::EventSet;
use vmm_sys_util::event::{
    new_event_consumer_and_notifier, EventConsumer, EventFlag, EventNotifier,
};

type Memory = GuestMemoryAtomic<GuestMemoryMmap>;

/// Event id under which the device's host-side fd is registered; ids up to
/// and including the queue count are the library's.
const HOST_EVENT: u16 = NUM_QUEUES as u16 + 1;
/// QEMU asks for 1024-entry queues for vhost-user-vsock.
const QUEUE_SIZE: usize = 1024;

struct VsockBackend {
    device: VsockDevice,
    mem: Memory,
}

/// Whether the driver has set the queue up; before that there is nothing
/// to process and nowhere to put packets.
fn is_ready(vring: &VringRwLock) -> bool {
    vring.get_ref().get_queue().ready()
}

impl VsockBackend {
    /// Runs `process` on one queue (if the driver has set it up) and signals
    /// the guest when buffers were used.
    fn run_queue(
        &mut self,
        vrings: &[VringRwLock],
        index: usize,
        process: fn(&mut VsockDevice, &GuestMemoryMmap, &mut Queue) -> bool,
    ) -> io::Result<()> {
        let vring = &vrings[index];
        if !is_ready(vring) {
            return Ok(());
        }
        let mem = self.mem.memory();
        let used = process(&mut self.device, &mem, vring.get_mut().get_queue_mut());
        if used {
            vring.signal_used_queue()?;
        }
        Ok(())
    }

    fn fill_rx(&mut self, vrings: &[VringRwLock]) -> io::Result<()> {
        self.run_queue(vrings, RX_QUEUE, |d, m, q| d.process_rx(m, q))
    }

    fn drain_tx(&mut self, vrings: &[VringRwLock]) -> io::Result<()> {
        self.run_queue(vrings, TX_QUEUE, |d, m, q| d.process_tx(m, q))
    }
}

impl VhostUserBackendMut for VsockBackend {
    type Bitmap = ();
    type Vring = VringRwLock;

    fn num_queues(&self) -> usize {
        NUM_QUEUES
    }

    fn max_queue_size(&self) -> usize {
        QUEUE_SIZE
    }

    fn features(&self) -> u64 {
        (1 << VIRTIO_F_VERSION_1) | VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits()
    }

    fn protocol_features(&self) -> VhostUserProtocolFeatures {
        // QEMU reads the guest CID from the config space.
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
        match device_event as usize {
            TX_QUEUE => {
                self.drain_tx(vrings)?;
                self.fill_rx(vrings)
            }
            RX_QUEUE => self.fill_rx(vrings),
            // The event queue carries only transport resets, which we never send.
            EVENT_QUEUE => Ok(()),
            _ if device_event == HOST_EVENT => {
                self.device.handle_host_events();
                self.fill_rx(vrings)
            }
            _ => Ok(()),
        }
    }
}

/// Serves one QEMU connection on `vhost_socket` until QEMU disconnects.
/// Host clients reach the guest through the Unix socket `uds_path`.
pub fn serve_vsock(vhost_socket: &Path, uds_path: &Path, guest_cid: u64) -> Result<(), ServeError> {
    let device = VsockDevice::new(guest_cid, uds_path)?;
    let host_fd = device.host_event_fd();
    let backend = Arc::new(RwLock::new(VsockBackend {
        device,
        mem: GuestMemoryAtomic::new(GuestMemoryMmap::new()),
    }));
    let mut daemon = VhostUserDaemon::new(
        "hutch-vsock".to_string(),
        backend,
        GuestMemoryAtomic::new(GuestMemoryMmap::new()),
    )
    .map_err(|e| ServeError::Daemon(e.to_string()))?;
    for handler in daemon.get_epoll_handlers() {
        handler
            .register_listener(host_fd, EventSet::IN, HOST_EVENT as u64)
            .map_err(|e| ServeError::Daemon(format!("registering host events: {e}")))?;
    }
    daemon
        .serve(vhost_socket)
        .map_err(|e| ServeError::Daemon(e.to_string()))
}
