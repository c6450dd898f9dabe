//! Shared by the VMM's integration tests.

// Each test binary uses a subset of it.
#![allow(dead_code)]

pub mod asm;

use hutch_vmm::devices::DeviceConfig;
use hutch_vmm::runner::{Boot, Machine, MachineConfig, MachineExit};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A console sink the test can read afterwards.
#[derive(Clone, Default)]
pub struct Console(Arc<Mutex<Vec<u8>>>);

impl Write for Console {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Console {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Where the synthetic guests' code is loaded (and starts).
pub const LOAD_ADDR: u64 = 0x10_0000;

/// Runs raw guest code on `cpus` vCPUs of a 64 MiB machine until it ends;
/// returns how it ended and what it printed.
pub fn run_raw(code: Vec<u8>, cpus: u32, devices: Vec<DeviceConfig>) -> (MachineExit, String) {
    let console = Console::default();
    let machine = Machine::new(MachineConfig {
        devices,
        cpus,
        memory_mib: 64,
        boot: Boot::Raw {
            code,
            load_addr: LOAD_ADDR,
        },
        console: Box::new(console.clone()),
    });
    let exit = machine.run().expect("machine setup");
    (exit, console.text())
}
