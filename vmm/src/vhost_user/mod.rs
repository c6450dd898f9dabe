//! Device cores served to QEMU over vhost-user: QEMU runs the guest and
//! the virtio transport, these backends run the devices. The protocol side
//! (memory table, config space, daemon) is written once here; each device
//! says what its queues and host side do.

mod block;
mod vsock;

use crate::devices::virtio::block::{BlockDevice, BlockError};
use crate::devices::virtio::read_config_bytes;
use crate::devices::virtio::vsock::{VsockDevice, VsockError};
use crate::devices::DeviceConfig;
use std::io;
use std::os::unix::io::RawFd;
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

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Vsock(#[from] VsockError),
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("vhost-user daemon: {0}")]
    Daemon(String),
}

/// What a device core tells the shared backend.
pub trait VhostDevice: Send + Sync + 'static {
    const NAME: &'static str;
    const NUM_QUEUES: usize;
    /// The queue size QEMU may ask for.
    const MAX_QUEUE_SIZE: usize;
    /// The event id of the host fd: ids up to and including the queue
    /// count are the library's.
    const HOST_EVENT: usize = Self::NUM_QUEUES + 1;
    /// Device feature bits (VERSION_1 and vhost-user's are added).
    fn device_features(&self) -> u64;
    fn config_space(&self) -> Vec<u8>;
    /// A host-side fd to wait on besides the queue kicks.
    fn host_fd(&self) -> Option<RawFd> {
        None
    }
    /// Event `event` arrived: a kick of that queue, or [`Self::HOST_EVENT`].
    fn handle(&mut self, event: usize, queues: &mut QueueRunner<'_>) -> io::Result<()>;
}

/// Runs device work on the queues of one event.
pub struct QueueRunner<'a> {
    vrings: &'a [VringRwLock],
    mem: &'a GuestMemoryMmap,
}

impl QueueRunner<'_> {
    /// Runs `work` on queue `index` if the driver has set it up, and
    /// signals the guest when it returns true.
    pub fn run(
        &mut self,
        index: usize,
        work: impl FnOnce(&GuestMemoryMmap, &mut Queue) -> bool,
    ) -> io::Result<()> {
        let Some(vring) = self.vrings.get(index) else {
            return Ok(());
        };
        if !vring.get_ref().get_queue().ready() {
            return Ok(());
        }
        if work(self.mem, vring.get_mut().get_queue_mut()) {
            vring.signal_used_queue()?;
        }
        Ok(())
    }
}

struct Backend<D> {
    device: D,
    mem: Memory,
}

impl<D: VhostDevice> VhostUserBackendMut for Backend<D> {
    type Bitmap = ();
    type Vring = VringRwLock;

    fn num_queues(&self) -> usize {
        D::NUM_QUEUES
    }

    fn max_queue_size(&self) -> usize {
        D::MAX_QUEUE_SIZE
    }

    fn features(&self) -> u64 {
        (1 << VIRTIO_F_VERSION_1)
            | self.device.device_features()
            | VhostUserVirtioFeatures::PROTOCOL_FEATURES.bits()
    }

    fn protocol_features(&self) -> VhostUserProtocolFeatures {
        // QEMU reads the device's settings from its config space.
        VhostUserProtocolFeatures::CONFIG
    }

    fn set_event_idx(&mut self, _enabled: bool) {}

    fn get_config(&self, offset: u32, size: u32) -> Vec<u8> {
        // The library bounds `size`, and the reply must have exactly that
        // many bytes: past the end of the config space they read as zero.
        let mut out = vec![0u8; size as usize];
        read_config_bytes(&self.device.config_space(), offset.into(), &mut out);
        out
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
        let mem = self.mem.memory();
        let mut queues = QueueRunner { vrings, mem: &mem };
        self.device.handle(device_event as usize, &mut queues)
    }
}

/// A device core ready to be served to QEMU, its host side already open
/// (the vsock socket bound, the disk opened), so that a failure shows
/// before QEMU starts, and host clients can connect while it boots.
pub enum VhostBackend {
    Vsock(Box<VsockDevice>),
    Block(BlockDevice),
}

impl VhostBackend {
    pub fn open(config: &DeviceConfig) -> Result<VhostBackend, ServeError> {
        Ok(match config {
            DeviceConfig::Vsock { guest_cid, uds } => {
                VhostBackend::Vsock(Box::new(VsockDevice::new(*guest_cid, uds)?))
            }
            DeviceConfig::Block { path, serial } => {
                VhostBackend::Block(BlockDevice::open(path, serial)?)
            }
        })
    }

    /// Serves one QEMU connection on `vhost_socket` until QEMU disconnects.
    pub fn serve(self, vhost_socket: &Path) -> Result<(), ServeError> {
        match self {
            VhostBackend::Vsock(device) => serve(vhost_socket, *device),
            VhostBackend::Block(device) => serve(vhost_socket, device),
        }
    }
}

/// Serves `device` to one QEMU connection on `vhost_socket` until QEMU
/// disconnects.
fn serve<D: VhostDevice>(vhost_socket: &Path, device: D) -> Result<(), ServeError> {
    let host_fd = device.host_fd();
    let backend = Arc::new(RwLock::new(Backend {
        device,
        mem: GuestMemoryAtomic::new(GuestMemoryMmap::new()),
    }));
    let mut daemon = VhostUserDaemon::new(
        D::NAME.to_string(),
        backend,
        GuestMemoryAtomic::new(GuestMemoryMmap::new()),
    )
    .map_err(|e| ServeError::Daemon(e.to_string()))?;
    if let Some(fd) = host_fd {
        for handler in daemon.get_epoll_handlers() {
            handler
                .register_listener(fd, EventSet::IN, D::HOST_EVENT as u64)
                .map_err(|e| ServeError::Daemon(format!("registering host events: {e}")))?;
        }
    }
    daemon
        .serve(vhost_socket)
        .map_err(|e| ServeError::Daemon(e.to_string()))
}
