//! Address ranges (port I/O or MMIO) routed to the devices that own them.

use std::sync::{Arc, Mutex};

/// What a device write asks of the VMM beyond the write itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VmAction {
    /// The guest asked for a reset (i8042 pulse, or triple fault).
    Reset,
}

pub trait BusDevice: Send {
    fn read(&mut self, offset: u64, data: &mut [u8]);
    fn write(&mut self, offset: u64, data: &[u8]) -> Option<VmAction>;
}

pub type SharedDevice = Arc<Mutex<dyn BusDevice>>;

#[derive(Default, Clone)]
pub struct Bus {
    /// (base, length, device), kept sorted by base and never overlapping.
    ranges: Vec<(u64, u64, SharedDevice)>,
}

#[derive(Debug, thiserror::Error)]
#[error("bus range {base:#x}+{len:#x} overlaps an existing device")]
pub struct Overlap {
    pub base: u64,
    pub len: u64,
}

impl Bus {
    pub fn insert(&mut self, base: u64, len: u64, device: SharedDevice) -> Result<(), Overlap> {
        let end = base.checked_add(len).ok_or(Overlap { base, len })?;
        if len == 0 || self.ranges.iter().any(|(b, l, _)| base < b + l && *b < end) {
            return Err(Overlap { base, len });
        }
        let at = self.ranges.partition_point(|(b, _, _)| *b < base);
        self.ranges.insert(at, (base, len, device));
        Ok(())
    }

    /// The device covering `addr` and the offset into it.
    fn find(&self, addr: u64) -> Option<(&SharedDevice, u64)> {
        let i = self
            .ranges
            .partition_point(|(b, _, _)| *b <= addr)
            .checked_sub(1)?;
        let (base, len, dev) = &self.ranges[i];
        (addr - base < *len).then_some((dev, addr - base))
    }

    /// Reads from the device at `addr`; false if nothing is there.
    pub fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        match self.find(addr) {
            Some((dev, offset)) => {
                dev.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .read(offset, data);
                true
            }
            None => false,
        }
    }

    pub fn write(&self, addr: u64, data: &[u8]) -> Option<VmAction> {
        let (dev, offset) = self.find(addr)?;
        dev.lock()
            .unwrap_or_else(|p| p.into_inner())
            .write(offset, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo(u8);
    impl BusDevice for Echo {
        fn read(&mut self, offset: u64, data: &mut [u8]) {
            data.fill(self.0 + offset as u8);
        }
        fn write(&mut self, _: u64, data: &[u8]) -> Option<VmAction> {
            self.0 = data[0];
            None
        }
    }

    #[test]
    fn routes_by_range_and_refuses_overlap() {
        let mut bus = Bus::default();
        bus.insert(0x3f8, 8, Arc::new(Mutex::new(Echo(10))))
            .unwrap();
        bus.insert(0x60, 1, Arc::new(Mutex::new(Echo(20)))).unwrap();
        assert!(bus.insert(0x3fa, 2, Arc::new(Mutex::new(Echo(0)))).is_err());
        assert!(bus
            .insert(u64::MAX, 2, Arc::new(Mutex::new(Echo(0))))
            .is_err());
        let mut b = [0u8];
        assert!(bus.read(0x3f9, &mut b));
        assert_eq!(b[0], 11);
        assert!(!bus.read(0x400, &mut b));
        assert!(!bus.read(0x5f, &mut b));
        bus.write(0x60, &[7]);
        bus.read(0x60, &mut b);
        assert_eq!(b[0], 7);
    }
}
