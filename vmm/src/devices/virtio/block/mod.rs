//! virtio-blk over a raw, sparse host file: the guest's layer cache disk.
//!
//! [`request`] parses one request out of a descriptor chain (every address
//! and length the guest hands us is checked there); [`device`] executes
//! requests against the file, turning discards and zeroed writes into
//! holes so that space freed in the guest goes back to the host.

pub mod device;
pub mod mmio_device;
pub mod request;

pub use device::{BlockDevice, BlockError};

/// virtio device id of a block device.
pub const VIRTIO_ID_BLOCK: u32 = 2;
/// The unit of every address and length in the virtio-blk protocol.
pub const SECTOR_SIZE: u64 = 512;
/// Feature bits of virtio spec 5.2.3.
pub const VIRTIO_BLK_F_SEG_MAX: u64 = 1 << 2;
pub const VIRTIO_BLK_F_FLUSH: u64 = 1 << 9;
pub const VIRTIO_BLK_F_DISCARD: u64 = 1 << 13;
pub const VIRTIO_BLK_F_WRITE_ZEROES: u64 = 1 << 14;

#[cfg(test)]
mod tests;
