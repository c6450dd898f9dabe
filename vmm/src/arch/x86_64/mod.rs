//! x86_64 boot: guest memory layout, GDT, identity page tables, the MP
//! table and the Linux zero page.

pub mod boot;
pub mod gdt;
pub mod layout;
pub mod mptable;
pub mod paging;

pub use boot::{load_linux, BootError, LinuxBoot};
