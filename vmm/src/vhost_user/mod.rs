//! Device cores served to QEMU over vhost-user: QEMU runs the guest and
//! the virtio transport, these backends run the devices. The protocol side
//! (memory table, config space, daemon) is written once here; each device
//! says what its queues and host side do.

mod block;
mod net;
mod protocol_ack;
mod vsock;

use crate::devices::virtio::block::{BlockDevice, BlockError};
use crate::devices::virtio::net::{NetDevice, NetError};
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
    #[error(transparent)]
    Net(#[from] NetError),
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
    /// Whether QEMU reads the device's config space from us (vhost-user's
    /// CONFIG protocol feature); virtio-net keeps its own.
    const CONFIG: bool = true;
    /// Whether QEMU's SET_FEATURES forgets to ack the protocol features it
    /// uses (see `protocol_ack`).
    const FIX_PROTOCOL_ACK: bool = false;
    /// Device feature bits (VERSION_1 and vhost-user's are added).
    fn device_features(&self) -> u64;
    fn config_space(&self) -> Vec<u8>;
    /// A host-side fd to wait on besides the queue kicks.
    fn host_fd(&self) -> Option<RawFd> {
        None
    }
    /// The driver's features, as the frontend acked them.
    fn negotiated(&mut self, _features: u64) {}
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
        match D::CONFIG {
            true => VhostUserProtocolFeatures::CONFIG,
            false => VhostUserProtocolFeatures::empty(),
        }
    }

    fn set_event_idx(&mut self, _enabled: bool) {}

    fn acked_features(&mut self, features: u64) {
        self.device.negotiated(features);
    }

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
    Net(NetDevice),
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
            DeviceConfig::Net { mac, network } => {
                VhostBackend::Net(NetDevice::connect(*mac, network)?)
            }
        })
    }

    /// Serves one QEMU connection on `vhost_socket` until QEMU disconnects.
    pub fn serve(self, vhost_socket: &Path) -> Result<(), ServeError> {
        match self {
            VhostBackend::Vsock(device) => serve(vhost_socket, *device),
            VhostBackend::Block(device) => serve(vhost_socket, device),
            VhostBackend::Net(device) => serve(vhost_socket, device),
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
    if !D::FIX_PROTOCOL_ACK {
        return daemon
            .serve(vhost_socket)
            .map_err(|e| ServeError::Daemon(e.to_string()));
    }
    let inner = vhost_socket.with_extension("backend.sock");
    let (public, shim_inner) = (vhost_socket.to_path_buf(), inner.clone());
    std::thread::spawn(move || {
        if let Err(e) = protocol_ack::relay(&public, &shim_inner) {
            tracing::error!("{}: vhost-user relay: {e}", D::NAME);
        }
    });
    let served = daemon.serve(&inner);
    let _ = std::fs::remove_file(&inner);
    served.map_err(|e| ServeError::Daemon(e.to_string()))
}
