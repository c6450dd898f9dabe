//! hutch's virtual machine monitor pieces: device cores written once on
//! `virtio-queue` + `vm-memory`, and the ways they are served to a machine.

pub mod arch;
pub mod devices;
pub mod hypervisor;
pub mod probe;
pub mod runner;
pub mod vhost_user;
