//! hutch's virtual machine monitor pieces: device cores written once on
//! `virtio-queue` + `vm-memory`, and the ways they are served to a machine.

pub mod arch;
pub mod devices;
pub mod hypervisor;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub mod probe;
pub mod runner;
#[cfg(target_os = "linux")]
pub mod vhost_user;
