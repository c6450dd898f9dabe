pub mod bus;
pub mod config;
pub mod interrupt;
pub mod legacy;
pub mod virtio;

pub use config::DeviceConfig;
pub use interrupt::InterruptLine;
