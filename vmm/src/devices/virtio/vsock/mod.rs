//! virtio-vsock (stream sockets only), host side in the "hybrid" style: the
//! machine exposes one Unix socket; a host client writes `CONNECT <port>\n`,
//! reads `OK <port>\n`, and the stream is then the guest port. A guest
//! connection to CID 2 port P is forwarded to the Unix socket `<path>_P`.
//!
//! Layers: [`packet`] parses and writes packets in guest memory (everything
//! the guest hands us is checked there), [`connection`] keeps one stream's
//! state and credit, [`muxer`] owns the host sockets, and [`device`] moves
//! packets between the virtqueues and the muxer.

pub mod connection;
pub mod device;
pub mod mmio_device;
pub mod muxer;
pub mod packet;

pub use device::{VsockDevice, VsockError};

/// The host's CID, as seen by the guest.
pub const HOST_CID: u64 = 2;
/// Queue indices fixed by the virtio specification.
pub const RX_QUEUE: usize = 0;
pub const TX_QUEUE: usize = 1;
pub const EVENT_QUEUE: usize = 2;
pub const NUM_QUEUES: usize = 3;
/// virtio device id of vsock.
pub const VIRTIO_ID_VSOCK: u32 = 19;

#[cfg(test)]
mod tests;
