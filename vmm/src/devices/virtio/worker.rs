//! The thread that serves an activated device behind our own virtio-mmio
//! transport: it waits on the queue notifications (ioeventfds) and, for
//! devices with a host side, one host fd, lets the device core work, and
//! raises the interrupt (irqfd) when used rings changed.

use super::{read_config_bytes, Interrupt, VirtioDevice};
use std::os::unix::io::{AsRawFd, RawFd};
use std::sync::Arc;
use virtio_queue::Queue;
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
use vmm_sys_util::eventfd::EventFd;

/// What a device core does when its worker wakes up.
pub trait QueueHandler: Send + 'static {
    /// A host-side fd to wait on besides the queue notifications.
    fn host_fd(&self) -> Option<RawFd> {
        None
    }

    /// The host fd became readable.
    fn host_event(&mut self) {}

    /// The driver notified queue `index`; returns whether used rings changed.
    fn queue_notified(&mut self, mem: &GuestMemoryMmap, queues: &mut [Queue], index: usize)
        -> bool;

    /// Runs after every batch of events; returns whether used rings changed.
    fn after_events(&mut self, _mem: &GuestMemoryMmap, _queues: &mut [Queue]) -> bool {
        false
    }
}

/// A device core with an rx queue (0) and a tx queue (1) and one host fd
/// that feeds the rx side: the net and vsock cores share this handling.
pub trait HostLinked: Send + 'static {
    /// Readable when the host side has work for the guest.
    fn link_fd(&self) -> RawFd;
    /// Takes everything the host side has ready.
    fn pull_from_host(&mut self);
    fn process_tx(&mut self, mem: &GuestMemoryMmap, queue: &mut Queue) -> bool;
    fn process_rx(&mut self, mem: &GuestMemoryMmap, queue: &mut Queue) -> bool;
}

const RX_QUEUE: usize = 0;
const TX_QUEUE: usize = 1;

impl<D: HostLinked> QueueHandler for D {
    fn host_fd(&self) -> Option<RawFd> {
        Some(self.link_fd())
    }

    fn host_event(&mut self) {
        self.pull_from_host();
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

/// Stops the worker thread when dropped (with the device that owns it).
struct WorkerStop(EventFd);

impl WorkerStop {
    fn new() -> std::io::Result<Self> {
        Ok(WorkerStop(EventFd::new(libc::EFD_NONBLOCK)?))
    }
}

impl Drop for WorkerStop {
    fn drop(&mut self) {
        let _ = self.0.write(1);
    }
}

/// A device core behind our virtio-mmio transport: what the transport
/// reads before activation, and the core, which activation moves into a
/// worker thread.
pub struct WorkerDevice<H> {
    name: &'static str,
    device_type: u32,
    queue_sizes: Vec<u16>,
    features: u64,
    config: Vec<u8>,
    core: Option<H>,
    stop: WorkerStop,
}

impl<H: QueueHandler> WorkerDevice<H> {
    /// `features` are the device's own bits (the transport adds
    /// VIRTIO_F_VERSION_1); `config` is its configuration space.
    pub fn new(
        name: &'static str,
        device_type: u32,
        queue_sizes: Vec<u16>,
        features: u64,
        config: Vec<u8>,
        core: H,
    ) -> std::io::Result<Self> {
        Ok(WorkerDevice {
            name,
            device_type,
            queue_sizes,
            features,
            config,
            core: Some(core),
            stop: WorkerStop::new()?,
        })
    }
}

impl<H: QueueHandler> VirtioDevice for WorkerDevice<H> {
    fn device_type(&self) -> u32 {
        self.device_type
    }

    fn queue_max_sizes(&self) -> &[u16] {
        &self.queue_sizes
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
        let core = self
            .core
            .take()
            .ok_or_else(|| format!("{} device activated twice", self.name))?;
        spawn_worker(
            self.name,
            core,
            mem,
            queues,
            queue_events,
            interrupt,
            &self.stop,
        )
    }
}

/// Starts the worker thread `name` serving `handler`.
fn spawn_worker<H: QueueHandler>(
    name: &str,
    handler: H,
    mem: GuestMemoryMmap,
    queues: Vec<Queue>,
    queue_events: Vec<EventFd>,
    interrupt: Arc<Interrupt>,
    stop: &WorkerStop,
) -> Result<(), String> {
    let stop = stop.0.try_clone().map_err(|e| e.to_string())?;
    let epoll = Epoll::new().map_err(|e| e.to_string())?;
    let stop_token = queue_events.len() as u64;
    let host_token = stop_token + 1;
    let watch = |fd: RawFd, token: u64| {
        epoll
            .ctl(
                ControlOperation::Add,
                fd,
                EpollEvent::new(EventSet::IN, token),
            )
            .map_err(|e| e.to_string())
    };
    for (i, ev) in queue_events.iter().enumerate() {
        watch(ev.as_raw_fd(), i as u64)?;
    }
    watch(stop.as_raw_fd(), stop_token)?;
    if let Some(fd) = handler.host_fd() {
        watch(fd, host_token)?;
    }
    let worker = Worker {
        handler,
        mem,
        queues,
        queue_events,
        interrupt,
        epoll,
        stop,
        stop_token,
        host_token,
    };
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || worker.run())
        .map_err(|e| e.to_string())?;
    Ok(())
}

struct Worker<H> {
    handler: H,
    mem: GuestMemoryMmap,
    queues: Vec<Queue>,
    queue_events: Vec<EventFd>,
    interrupt: Arc<Interrupt>,
    epoll: Epoll,
    stop: EventFd,
    stop_token: u64,
    host_token: u64,
}

impl<H: QueueHandler> Worker<H> {
    fn run(mut self) {
        let mut events = vec![EpollEvent::default(); 16];
        loop {
            let n = match self.epoll.wait(-1, &mut events) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::error!("virtio worker: {e}");
                    return;
                }
            };
            let mut used = false;
            for ev in &events[..n] {
                let token = ev.data();
                if token == self.stop_token {
                    let _ = self.stop.read();
                    return;
                } else if token == self.host_token {
                    self.handler.host_event();
                } else if let Some(e) = self.queue_events.get(token as usize) {
                    let _ = e.read();
                    used |=
                        self.handler
                            .queue_notified(&self.mem, &mut self.queues, token as usize);
                }
            }
            used |= self.handler.after_events(&self.mem, &mut self.queues);
            if used {
                self.interrupt.signal_used();
            }
        }
    }
}
