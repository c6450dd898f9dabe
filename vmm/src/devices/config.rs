//! The devices a machine is given, declared once for every backend: our
//! VMM turns each into a device behind virtio-mmio (`runner`), the QEMU
//! backend serves each to QEMU over vhost-user (`vhost_user::serve_device`)
//! and names it on QEMU's command line. A new device kind is a new variant
//! here and one arm in each of those places.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceConfig {
    /// virtio-vsock; host clients reach the guest through the hybrid Unix
    /// socket `uds` (`CONNECT <port>`).
    Vsock { guest_cid: u64, uds: PathBuf },
    /// virtio-blk serving the file `path`; the guest reads `serial` as the
    /// disk's id.
    Block { path: PathBuf, serial: String },
    /// virtio-net with address `mac`, its frames carried to the network
    /// listening on the SOCK_SEQPACKET socket `network`.
    Net { mac: [u8; 6], network: PathBuf },
}

impl DeviceConfig {
    /// A short name for logs and messages.
    pub fn kind(&self) -> &'static str {
        match self {
            DeviceConfig::Vsock { .. } => "vsock",
            DeviceConfig::Block { .. } => "block",
            DeviceConfig::Net { .. } => "net",
        }
    }
}
