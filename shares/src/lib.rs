//! A host directory shared with a machine over virtio-fs.
//!
//! One process serves one share: virtiofsd's passthrough file system,
//! sandboxed in a mount namespace whose root is the shared directory (so no
//! request from the guest, `..` or a symlink swapped in mid-lookup included,
//! names a host file outside it), served over vhost-user to QEMU's
//! `vhost-user-fs-device`. The process ends when QEMU disconnects.
//!
//! Ownership follows Docker Desktop: whoever writes in the guest (root or
//! any user), the host file belongs to the user running hutch, and that
//! user's files appear as root's in the guest.

#[cfg(target_os = "linux")]
mod policy;
#[cfg(target_os = "linux")]
mod serve;
#[cfg(target_os = "linux")]
pub use serve::{serve, ShareError};
