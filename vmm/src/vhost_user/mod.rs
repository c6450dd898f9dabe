//! Device cores served to QEMU over vhost-user: QEMU runs the guest and
//! the virtio transport, these backends run the devices.

pub mod block;
pub mod vsock;

use crate::devices::virtio::block::BlockError;
use crate::devices::virtio::read_config_bytes;
use crate::devices::virtio::vsock::VsockError;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Vsock(#[from] VsockError),
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("vhost-user daemon: {0}")]
    Daemon(String),
}

/// The bytes of a config space QEMU asked for (the vhost-user library
/// bounds `size`); bytes past its end read as zero.
fn config_slice(config: &[u8], offset: u32, size: u32) -> Vec<u8> {
    let mut out = vec![0u8; size as usize];
    read_config_bytes(config, offset.into(), &mut out);
    out
}
