//! Can KVM on this host run a real guest kernel? Having `/dev/kvm` is not
//! enough: under PVM (a paravirtualized KVM) guest kernel code is emulated
//! and exceptions are never delivered through the guest's IDT, so a Linux
//! kernel stops at its first int3 self-test. The probe runs the smallest
//! guest that tells: a 64-bit guest whose `int3` must reach its own handler,
//! which reports through a port write.

use crate::arch::x86_64::boot::{long_mode_state, write_cpu_tables};
use crate::arch::x86_64::gdt::CODE_SELECTOR;
use crate::arch::x86_64::layout::{HIMEM_START, IDT_ADDR};
use crate::hypervisor::{self, Hypervisor, HypervisorError, Vcpu, VcpuExit, Vm};
use crate::runner::map_guest_memory;
use std::sync::mpsc;
use std::time::Duration;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A guest took an exception through its IDT: real kernels can run.
    Usable,
    /// KVM is absent, unreachable or cannot run a kernel; the text says why
    /// and what to do.
    Unusable(String),
}

const MEM_SIZE: usize = 4 << 20;
/// The probe's code, and the int3 handler right after it.
const CODE: u64 = HIMEM_START;
const HANDLER: u64 = HIMEM_START + 0x100;
const INT3_VECTOR: u64 = 3;
const REPORT_PORT: u16 = 0x1234;
const REPORT_VALUE: u8 = 0x42;

/// Runs the probe guest (at most 5 s).
pub fn probe() -> Verdict {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(run_probe());
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(Ok(())) => Verdict::Usable,
        Ok(Err(why)) => Verdict::Unusable(why),
        Err(_) => Verdict::Unusable("the KVM probe guest did not finish in 5 s".into()),
    }
}

fn open_error(e: HypervisorError) -> String {
    let HypervisorError::Call { source, .. } = &e;
    match source.raw_os_error() {
        Some(libc::ENOENT) => "/dev/kvm does not exist: enable virtualization in the firmware and load the kvm module".into(),
        Some(libc::EACCES | libc::EPERM) => "/dev/kvm is not accessible: add your user to the 'kvm' group (usermod -aG kvm $USER, then log in again) or add a udev rule giving it mode 0666".into(),
        _ => format!("/dev/kvm cannot be opened: {e}"),
    }
}

/// The probe on top of the standard boot tables (GDT, identity map): an IDT
/// whose int3 gate points at a handler that writes REPORT_VALUE to
/// REPORT_PORT, and code that executes int3.
fn write_probe(mem: &GuestMemoryMmap) -> Result<(), String> {
    let err = |e: vm_memory::GuestMemoryError| format!("cannot write the probe guest: {e}");
    write_cpu_tables(mem).map_err(|e| e.to_string())?;
    // A 64-bit interrupt gate: offset 15:0, selector, type 0x8e, offset 31:16; then 63:32.
    let gate = (HANDLER & 0xffff)
        | ((CODE_SELECTOR as u64) << 16)
        | (0x8e00 << 32)
        | (((HANDLER >> 16) & 0xffff) << 48);
    let at = GuestAddress(IDT_ADDR + INT3_VECTOR * 16);
    mem.write_obj(gate, at).map_err(err)?;
    mem.write_obj(HANDLER >> 32, GuestAddress(at.0 + 8))
        .map_err(err)?;
    mem.write_slice(&[0xcc, 0xf4], GuestAddress(CODE))
        .map_err(err)?; // int3; hlt
    let [p0, p1] = REPORT_PORT.to_le_bytes();
    // mov dx, port; mov al, value; out dx, al; hlt
    let handler = [0x66, 0xba, p0, p1, 0xb0, REPORT_VALUE, 0xee, 0xf4];
    mem.write_slice(&handler, GuestAddress(HANDLER))
        .map_err(err)
}

fn run_probe() -> Result<(), String> {
    let hv = hypervisor::new().map_err(open_error)?;
    let vm = hv
        .create_vm()
        .map_err(|e| format!("KVM cannot create a VM: {e}"))?;
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM_SIZE)])
        .map_err(|e| format!("cannot allocate probe guest memory: {e}"))?;
    // SAFETY: `mem` outlives the VM: both are dropped at the end of this
    // function, the VM first.
    unsafe { map_guest_memory(&vm, &mem) }.map_err(|e| format!("KVM memory setup failed: {e}"))?;
    write_probe(&mem)?;
    let mut state = long_mode_state(CODE);
    state.idt_limit = (16 * (INT3_VECTOR + 1) - 1) as u16;
    let mut vcpu = vm
        .create_vcpu(0, 1)
        .map_err(|e| format!("KVM cannot create a vCPU: {e}"))?;
    vcpu.set_boot_state(&state)
        .map_err(|e| format!("KVM rejected 64-bit setup: {e}"))?;

    let verdict = match vcpu.run() {
        Ok(VcpuExit::IoOut { port: REPORT_PORT, data }) if data == [REPORT_VALUE] => Ok(()),
        Ok(VcpuExit::InternalError) => Err("KVM here cannot deliver a guest exception through its IDT (a paravirtualized KVM such as PVM); real guest kernels cannot run on it".to_string()),
        Ok(other) => Err(format!("the KVM probe guest stopped unexpectedly ({other:?})")),
        Err(e) => Err(format!("KVM could not run the probe guest: {e}")),
    };
    drop(vcpu);
    drop(vm);
    drop(mem);
    verdict
}
