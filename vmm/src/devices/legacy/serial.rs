//! COM1 (`vm-superio`'s 16550), its output to the machine's console log and
//! its interrupt on an [`InterruptLine`].

use crate::devices::bus::{BusDevice, VmAction};
use crate::devices::InterruptLine;
use std::io::Write;
use std::sync::Arc;
use vm_superio::{Serial, Trigger};

pub const SERIAL_PORT: u64 = 0x3f8;
pub const SERIAL_IRQ: u32 = 4;

/// vm-superio's trigger: raises the serial port's line.
pub struct IrqTrigger(Arc<dyn InterruptLine>);

impl Trigger for IrqTrigger {
    type E = std::io::Error;
    fn trigger(&self) -> std::io::Result<()> {
        self.0.raise()
    }
}

pub struct SerialConsole<W: Write + Send> {
    serial: Serial<IrqTrigger, vm_superio::serial::NoEvents, W>,
}

impl<W: Write + Send> SerialConsole<W> {
    pub fn new(irq: Arc<dyn InterruptLine>, out: W) -> Self {
        SerialConsole {
            serial: Serial::new(IrqTrigger(irq), out),
        }
    }
}

impl<W: Write + Send> BusDevice for SerialConsole<W> {
    fn read(&mut self, offset: u64, data: &mut [u8]) {
        if data.len() == 1 && offset < 8 {
            data[0] = self.serial.read(offset as u8);
        } else {
            data.fill(0xff);
        }
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Option<VmAction> {
        if data.len() == 1 && offset < 8 {
            // A console that cannot be written (full disk) must not stop the guest.
            let _ = self.serial.write(offset as u8, data[0]);
            let _ = self.serial.writer_mut().flush();
        }
        None
    }
}
