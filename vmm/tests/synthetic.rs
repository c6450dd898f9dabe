//! Our VMM on this host's KVM with small hand-assembled 64-bit kernel-mode
//! guests: no exceptions or interrupts are needed, so they run even where
//! KVM is paravirtual (PVM). Each guest ends by pulsing the i8042 reset line.

mod support;

use hutch_vmm::runner::MachineExit;
use support::asm::Asm;
use support::run_raw;

fn hello_then_reset() -> Vec<u8> {
    let mut a = Asm::default();
    a.serial_str("hello from the guest\n");
    a.i8042_reset();
    a.code
}

#[test]
fn kernel_mode_guest_writes_serial_and_resets() {
    let (exit, console) = run_raw(hello_then_reset(), 1, Vec::new());
    assert_eq!(console, "hello from the guest\n");
    assert_eq!(exit, MachineExit::Reset);
}

/// Every vCPU prints '0'+its index, counts itself in; vCPU 0 waits for all
/// before resetting.
fn each_cpu_reports(cpus: u32) -> Vec<u8> {
    const COUNTER: u32 = 0x3000;
    let mut a = Asm::default();
    a.serial_char_plus_rdi(b'0');
    a.lock_inc_abs(COUNTER);
    a.jnz_rdi_to_spin();
    a.wait_abs_at_least(COUNTER, cpus as u8);
    a.i8042_reset();
    a.spin_target();
    a.code
}

#[test]
fn two_and_four_vcpus_each_report_in() {
    for cpus in [2u32, 4] {
        let (exit, console) = run_raw(each_cpu_reports(cpus), cpus, Vec::new());
        assert_eq!(exit, MachineExit::Reset, "{cpus} vCPUs");
        let mut seen: Vec<char> = console.chars().collect();
        seen.sort();
        let want: Vec<char> = (0..cpus).map(|i| (b'0' + i as u8) as char).collect();
        assert_eq!(seen, want, "{cpus} vCPUs reported {console:?}");
    }
}
