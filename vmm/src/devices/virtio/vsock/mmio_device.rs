//! The vsock device core behind our own VMM's virtio-mmio transport: once
//! the driver is ready, a worker thread waits on the queue notifications
//! (ioeventfds) and the host side, and raises the interrupt (irqfd).

use super::{VsockDevice, VsockError, NUM_QUEUES, RX_QUEUE, TX_QUEUE, VIRTIO_ID_VSOCK};
use crate::devices::virtio::{Interrupt, VirtioDevice};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::Arc;
use virtio_queue::Queue;
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};
use vmm_sys_util::eventfd::EventFd;

const QUEUE_SIZE: u16 = 256;
const HOST_TOKEN: u64 = NUM_QUEUES as u64;
const STOP_TOKEN: u64 = NUM_QUEUES as u64 + 1;

pub struct VsockMmio {
    /// Present until activation moves it into the worker.
    core: Option<VsockDevice>,
    config: [u8; 8],
    stop: EventFd,
}

impl VsockMmio {
    /// Binds the host Unix socket now, so host clients can connect while
    /// the guest is still booting.
    pub fn new(guest_cid: u64, uds_path: &Path) -> Result<Self, VsockError> {
        let core = VsockDevice::new(guest_cid, uds_path)?;
        let config = core.config_space();
        let stop = EventFd::new(libc::EFD_NONBLOCK).map_err(|source| VsockError::Listen {
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

impl Drop for VsockMmio {
    fn drop(&mut self) {
        let _ = self.stop.write(1);
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
        data.fill(0);
        let start = (offset as usize).min(self.config.len());
        let end = start.saturating_add(data.len()).min(self.config.len());
        data[..end - start].copy_from_slice(&self.config[start..end]);
    }

    fn activate(
        &mut self,
        mem: GuestMemoryMmap,
        queues: Vec<Queue>,
        queue_events: Vec<EventFd>,
        interrupt: Arc<Interrupt>,
    ) -> Result<(), String> {
        let core = self.core.take().ok_or("vsock device activated twice")?;
        let stop = self.stop.try_clone().map_err(|e| e.to_string())?;
        let epoll = Epoll::new().map_err(|e| e.to_string())?;
        let watch = |fd: i32, token: u64| {
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
        watch(core.host_event_fd(), HOST_TOKEN)?;
        watch(stop.as_raw_fd(), STOP_TOKEN)?;
        let worker = Worker {
            core,
            mem,
            queues,
            queue_events,
            interrupt,
            epoll,
            stop,
        };
        std::thread::Builder::new()
            .name("vsock".into())
            .spawn(move || worker.run())
            .map_err(|e| e.to_string())?;
        Ok(())
    }
}

struct Worker {
    core: VsockDevice,
    mem: GuestMemoryMmap,
    queues: Vec<Queue>,
    queue_events: Vec<EventFd>,
    interrupt: Arc<Interrupt>,
    epoll: Epoll,
    stop: EventFd,
}

impl Worker {
    fn run(mut self) {
        let mut events = vec![EpollEvent::default(); 16];
        loop {
            let n = match self.epoll.wait(-1, &mut events) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::error!("vsock worker: {e}");
                    return;
                }
            };
            let mut used = false;
            for ev in &events[..n] {
                match ev.data() {
                    STOP_TOKEN => {
                        let _ = self.stop.read();
                        return;
                    }
                    HOST_TOKEN => self.core.handle_host_events(),
                    q => {
                        if let Some(e) = self.queue_events.get(q as usize) {
                            let _ = e.read();
                        }
                        if q as usize == TX_QUEUE {
                            used |= self.core.process_tx(&self.mem, &mut self.queues[TX_QUEUE]);
                        }
                    }
                }
            }
            used |= self.core.process_rx(&self.mem, &mut self.queues[RX_QUEUE]);
            if used {
                self.interrupt.signal_used();
            }
        }
    }
}
