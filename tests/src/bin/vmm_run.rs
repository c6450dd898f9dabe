//! Runs a kernel or bare ELF image on hutch's own VMM (no initramfs, no
//! devices beyond serial and i8042), for the VMM benchmarks:
//!
//!   hutch-vmm-run IMAGE MEMORY_MIB
//!
//! The guest's console goes to stdout; on exit, stderr gets
//! `guest_resident_bytes=N`. Exit status 0 when the guest reset itself.

use std::path::PathBuf;
use vmm::runner::{Boot, Machine, MachineConfig, MachineExit};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(image), Some(Ok(memory_mib))) = (args.get(1), args.get(2).map(|m| m.parse::<u32>()))
    else {
        eprintln!("usage: hutch-vmm-run IMAGE MEMORY_MIB");
        std::process::exit(2);
    };
    let machine = Machine::new(MachineConfig {
        devices: Vec::new(),
        cpus: 1,
        memory_mib,
        boot: Boot::Linux {
            kernel: PathBuf::from(image),
            initramfs: None,
            cmdline: "console=ttyS0".into(),
        },
        console: Box::new(std::io::stdout()),
    });
    match machine.run_with_stats() {
        Ok((exit, stats)) => {
            eprintln!("guest_resident_bytes={}", stats.guest_resident_bytes);
            std::process::exit(if exit == MachineExit::Reset { 0 } else { 1 });
        }
        Err(e) => {
            eprintln!("hutch-vmm-run: {e}");
            std::process::exit(1);
        }
    }
}
