//! Just enough of the i8042 keyboard controller: status reads that say
//! "nothing pending", and the reset pulse (command 0xfe) a guest sends with
//! `reboot=k`, which hutch treats as the guest powering off.

use crate::devices::bus::{BusDevice, VmAction};

/// Ports 0x60 (data) to 0x64 (command/status).
pub const I8042_BASE: u64 = 0x60;
pub const I8042_LEN: u64 = 5;
const COMMAND_OFFSET: u64 = 4;
const CMD_RESET_CPU: u8 = 0xfe;

#[derive(Default)]
pub struct I8042;

impl BusDevice for I8042 {
    fn read(&mut self, _offset: u64, data: &mut [u8]) {
        data.fill(0);
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Option<VmAction> {
        (offset == COMMAND_OFFSET && data.first() == Some(&CMD_RESET_CPU))
            .then_some(VmAction::Reset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_command_asks_for_reset_and_nothing_else_does() {
        let mut dev = I8042;
        assert_eq!(dev.write(COMMAND_OFFSET, &[0xfe]), Some(VmAction::Reset));
        assert_eq!(dev.write(COMMAND_OFFSET, &[0xd1]), None);
        assert_eq!(dev.write(0, &[0xfe]), None);
        let mut status = [0xffu8];
        dev.read(COMMAND_OFFSET, &mut status);
        assert_eq!(status, [0]);
    }
}
