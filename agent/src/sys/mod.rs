//! Thin, safe wrappers over the system calls the agent makes in more than
//! one place. Modules above use these instead of repeating unsafe code.

pub mod console;
pub mod fd;
pub mod mount;
pub mod net;
pub mod netlink;
pub mod process;
pub mod random;
pub mod vsock;
pub mod xattr;
