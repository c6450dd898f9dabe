//! A guest driver's view of one virtqueue, for device-core unit tests:
//! descriptor chains written into mock guest memory, used elements read
//! back.

use virtio_bindings::virtio_ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use virtio_queue::desc::{split::Descriptor as SplitDescriptor, RawDescriptor};
use virtio_queue::mock::MockSplitQueue;
use virtio_queue::Queue;
use vm_memory::{Address, Bytes, GuestAddress, GuestMemoryMmap};

pub const QUEUE_LEN: u16 = 256;

/// One virtqueue as the guest driver sees it. The mock lays the rings out
/// once; after that the driver writes descriptors and reads the used ring
/// itself (re-creating the mock would zero the ring indices).
pub struct DriverQueue {
    desc_table: GuestAddress,
    avail: GuestAddress,
    used: GuestAddress,
    pub queue: Queue,
    pub next_desc: u16,
    avail_idx: u16,
    used_seen: u16,
}

impl DriverQueue {
    pub fn new(mem: &GuestMemoryMmap, ring: u64) -> Self {
        let mock = MockSplitQueue::create(mem, GuestAddress(ring), QUEUE_LEN);
        DriverQueue {
            desc_table: mock.desc_table_addr(),
            avail: mock.avail_addr(),
            used: mock.used_addr(),
            queue: mock.create_queue().unwrap(),
            next_desc: 0,
            avail_idx: 0,
            used_seen: 0,
        }
    }

    /// Publishes one chain made of `(addr, len, device_writable)` parts.
    pub fn add_chain(&mut self, mem: &GuestMemoryMmap, parts: &[(u64, u32, bool)]) {
        let base = self.next_desc;
        let descs: Vec<RawDescriptor> = parts
            .iter()
            .enumerate()
            .map(|(i, &(addr, len, write))| {
                let mut flags = if write { VRING_DESC_F_WRITE as u16 } else { 0 };
                let last = i + 1 == parts.len();
                if !last {
                    flags |= VRING_DESC_F_NEXT as u16;
                }
                let next = if last {
                    0
                } else {
                    (base + i as u16 + 1) % QUEUE_LEN
                };
                RawDescriptor::from(SplitDescriptor::new(addr, len, flags, next))
            })
            .collect();
        self.add_raw(mem, &descs);
    }

    /// Writes descriptors from `next_desc` on and makes the first the head
    /// of a new available chain.
    pub fn add_raw(&mut self, mem: &GuestMemoryMmap, descs: &[RawDescriptor]) {
        let head = self.next_desc;
        for d in descs {
            let at = self.desc_table.unchecked_add(16 * self.next_desc as u64);
            mem.write_obj(*d, at).unwrap();
            self.next_desc = (self.next_desc + 1) % QUEUE_LEN;
        }
        let slot = self
            .avail
            .unchecked_add(4 + 2 * (self.avail_idx % QUEUE_LEN) as u64);
        mem.write_obj(head.to_le(), slot).unwrap();
        self.avail_idx = self.avail_idx.wrapping_add(1);
        mem.write_obj(self.avail_idx.to_le(), self.avail.unchecked_add(2))
            .unwrap();
    }

    /// Used elements the device returned since the last call: (head, len).
    pub fn take_used(&mut self, mem: &GuestMemoryMmap) -> Vec<(u16, u32)> {
        let idx: u16 = mem.read_obj(self.used.unchecked_add(2)).unwrap();
        let mut out = Vec::new();
        while self.used_seen != idx {
            let at = self
                .used
                .unchecked_add(4 + 8 * (self.used_seen % QUEUE_LEN) as u64);
            let id: u32 = mem.read_obj(at).unwrap();
            let len: u32 = mem.read_obj(at.unchecked_add(4)).unwrap();
            out.push((id as u16, len));
            self.used_seen = self.used_seen.wrapping_add(1);
        }
        out
    }
}
