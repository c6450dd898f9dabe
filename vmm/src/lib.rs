//! hutch's virtual machine monitor pieces: device cores written once on
//! `virtio-queue` + `vm-memory`, and the ways they are served to a machine.

pub mod devices;
pub mod probe;
pub mod vhost_user;
