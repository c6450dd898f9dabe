//! Guest architectures: the one this VMM runs guests of is chosen by the
//! target it is built for, and re-exported here for the runner.

#[cfg(target_arch = "x86_64")]
pub mod x86_64;

#[cfg(target_arch = "x86_64")]
pub use x86_64::{
    boot::{long_mode_state, ram_regions, write_cpu_tables},
    layout, load_linux, BootError,
};
