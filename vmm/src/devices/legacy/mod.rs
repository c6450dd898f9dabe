//! PC legacy devices the guest kernel expects: a 16550 serial port for the
//! console and the i8042 controller, whose reset line ends the machine.

pub mod i8042;
pub mod serial;

pub use i8042::I8042;
pub use serial::{SerialConsole, SERIAL_IRQ, SERIAL_PORT};
