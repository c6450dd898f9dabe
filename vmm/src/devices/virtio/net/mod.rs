//! virtio-net: Ethernet frames between the guest and a host-side network
//! (hutch's user-mode network, see the `hutch-net` crate) over a Unix
//! SOCK_SEQPACKET socket, one frame per packet. The device does no
//! offloads: frames cross whole, with their checksums.
//!
//! [`frame`] moves frames in and out of guest descriptor chains (everything
//! the guest hands us is checked there); [`device`] moves frames between
//! the virtqueues and the host link.

pub mod device;
pub mod frame;
pub mod mmio_device;

pub use device::{NetDevice, NetError};

/// virtio device id of a network card.
pub const VIRTIO_ID_NET: u32 = 1;
/// Queue indices of a single-queue device (virtio spec 5.1.2).
pub const RX_QUEUE: usize = 0;
pub const TX_QUEUE: usize = 1;
pub const NUM_QUEUES: usize = 2;
/// Feature bits of virtio spec 5.1.3: the MAC and link status are in the
/// configuration space.
pub const VIRTIO_NET_F_MAC: u64 = 1 << 5;
pub const VIRTIO_NET_F_MRG_RXBUF: u64 = 1 << 15;
pub const VIRTIO_NET_F_STATUS: u64 = 1 << 16;
/// The link is up (config space `status`).
pub const VIRTIO_NET_S_LINK_UP: u16 = 1;

#[cfg(test)]
mod tests;
