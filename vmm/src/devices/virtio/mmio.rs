//! The virtio-mmio transport, version 2 (virtio spec 4.2.2). Everything the
//! driver writes is checked: queue sizes against the device's maximum and
//! powers of two, queue addresses against guest memory at activation.

use super::{Interrupt, VirtioDevice, VIRTIO_F_VERSION_1};
use crate::devices::bus::{BusDevice, VmAction};
use crate::devices::InterruptLine;
use std::sync::Arc;
use virtio_queue::{Queue, QueueT};
use vm_memory::GuestMemoryMmap;
use vmm_sys_util::eventfd::EventFd;

const MAGIC: u32 = 0x7472_6976; // "virt"
const VERSION: u32 = 2;
const VENDOR: u32 = 0x4854_4348; // "HTCH"
/// Offset of QueueNotify, where ioeventfds are registered.
pub const QUEUE_NOTIFY: u64 = 0x50;
const CONFIG_SPACE: u64 = 0x100;

pub const STATUS_ACKNOWLEDGE: u32 = 1;
pub const STATUS_DRIVER: u32 = 2;
pub const STATUS_DRIVER_OK: u32 = 4;
pub const STATUS_FEATURES_OK: u32 = 8;
pub const STATUS_FAILED: u32 = 0x80;

pub struct MmioTransport {
    device: Box<dyn VirtioDevice>,
    mem: GuestMemoryMmap,
    queues: Vec<Queue>,
    queue_events: Vec<EventFd>,
    interrupt: Arc<Interrupt>,
    queue_sel: u32,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    status: u32,
    activated: bool,
}

impl MmioTransport {
    pub fn new(
        device: Box<dyn VirtioDevice>,
        mem: GuestMemoryMmap,
        line: Arc<dyn InterruptLine>,
    ) -> std::io::Result<Self> {
        let mut queues = Vec::new();
        let mut queue_events = Vec::new();
        for &max in device.queue_max_sizes() {
            queues.push(Queue::new(max).map_err(|e| std::io::Error::other(e.to_string()))?);
            queue_events.push(EventFd::new(libc::EFD_NONBLOCK)?);
        }
        Ok(MmioTransport {
            device,
            mem,
            queues,
            queue_events,
            interrupt: Arc::new(Interrupt::new(line)),
            queue_sel: 0,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            status: 0,
            activated: false,
        })
    }

    /// One eventfd per queue, to register as ioeventfds on QueueNotify
    /// (datamatch = queue index).
    pub fn queue_events(&self) -> &[EventFd] {
        &self.queue_events
    }

    fn selected_queue(&mut self) -> Option<&mut Queue> {
        // Queues cannot be changed once the device runs.
        if self.activated {
            return None;
        }
        self.queues.get_mut(self.queue_sel as usize)
    }

    fn read_register(&self, offset: u64) -> u32 {
        let queue = self.queues.get(self.queue_sel as usize);
        match offset {
            0x00 => MAGIC,
            0x04 => VERSION,
            0x08 => self.device.device_type(),
            0x0c => VENDOR,
            0x10 => {
                let features = self.device.features() | VIRTIO_F_VERSION_1;
                match self.device_features_sel {
                    0 => features as u32,
                    1 => (features >> 32) as u32,
                    _ => 0,
                }
            }
            0x34 => queue.map_or(0, |q| q.max_size() as u32),
            0x44 => queue.map_or(0, |q| q.ready() as u32),
            0x60 => self.interrupt.status(),
            0x70 => self.status,
            0xfc => 0, // config generation: the config never changes
            _ => 0,
        }
    }

    fn set_address(&mut self, offset: u64, value: u32) {
        let Some(q) = self.selected_queue() else {
            return;
        };
        let (lo, hi) = if offset.is_multiple_of(8) {
            (Some(value), None)
        } else {
            (None, Some(value))
        };
        match offset {
            0x80 | 0x84 => q.set_desc_table_address(lo, hi),
            0x90 | 0x94 => q.set_avail_ring_address(lo, hi),
            0xa0 | 0xa4 => q.set_used_ring_address(lo, hi),
            _ => {}
        }
    }

    fn write_register(&mut self, offset: u64, value: u32) {
        match offset {
            0x14 => self.device_features_sel = value,
            0x20 => {
                let shift = match self.driver_features_sel {
                    0 => 0,
                    1 => 32,
                    _ => return,
                };
                let offered = self.device.features() | VIRTIO_F_VERSION_1;
                // The driver may only accept what we offered.
                self.driver_features |= ((value as u64) << shift) & offered;
            }
            0x24 => self.driver_features_sel = value,
            0x30 => self.queue_sel = value,
            0x38 => {
                if let Some(q) = self.selected_queue() {
                    let size = value.min(u16::MAX as u32) as u16;
                    if size.is_power_of_two() && size <= q.max_size() {
                        q.set_size(size);
                    }
                }
            }
            0x44 => {
                if let Some(q) = self.selected_queue() {
                    q.set_ready(value == 1);
                }
            }
            QUEUE_NOTIFY => {
                // Reached only when no ioeventfd caught the write.
                if let Some(ev) = self.queue_events.get(value as usize) {
                    let _ = ev.write(1);
                }
            }
            0x64 => self.interrupt.ack(value),
            0x70 => self.write_status(value),
            0x80 | 0x84 | 0x90 | 0x94 | 0xa0 | 0xa4 => self.set_address(offset, value),
            _ => {}
        }
    }

    fn write_status(&mut self, value: u32) {
        if value == 0 {
            // A reset after activation would need the device thread torn
            // down; hutch's guests never do it, so it is refused (FAILED).
            if self.activated {
                self.status |= STATUS_FAILED;
            } else {
                self.status = 0;
                self.driver_features = 0;
                self.queues.iter_mut().for_each(|q| q.reset());
            }
            return;
        }
        if value & STATUS_FEATURES_OK != 0 && self.driver_features & VIRTIO_F_VERSION_1 == 0 {
            // A legacy driver: refuse by not accepting FEATURES_OK.
            self.status = value & !STATUS_FEATURES_OK;
            return;
        }
        self.status = value;
        if value & STATUS_DRIVER_OK != 0 && !self.activated {
            self.activate();
        }
    }

    /// Copies of the queues (as the driver configured them) and their
    /// notification eventfds, for the device to own from now on.
    fn hand_over(&self) -> Result<(Vec<Queue>, Vec<EventFd>), String> {
        if self
            .queues
            .iter()
            .any(|q| q.ready() && !q.is_valid(&self.mem))
        {
            return Err("a queue's rings lie outside guest memory".into());
        }
        let queues = self
            .queues
            .iter()
            .map(|q| Queue::try_from(q.state()).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let events = self
            .queue_events
            .iter()
            .map(|e| e.try_clone().map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((queues, events))
    }

    fn activate(&mut self) {
        let result = self.hand_over().and_then(|(queues, events)| {
            self.device
                .activate(self.mem.clone(), queues, events, self.interrupt.clone())
        });
        match result {
            Ok(()) => self.activated = true,
            Err(e) => {
                tracing::warn!(
                    "virtio device {} failed to activate: {e}",
                    self.device.device_type()
                );
                self.status |= STATUS_FAILED;
            }
        }
    }
}

impl BusDevice for MmioTransport {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        if offset >= CONFIG_SPACE {
            self.device.read_config(offset - CONFIG_SPACE, data);
        } else if data.len() == 4 && offset.is_multiple_of(4) {
            data.copy_from_slice(&self.read_register(offset).to_le_bytes());
        } else {
            data.fill(0);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Option<VmAction> {
        if offset < CONFIG_SPACE && data.len() == 4 && offset.is_multiple_of(4) {
            let value = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            self.write_register(offset, value);
        }
        None
    }
}
