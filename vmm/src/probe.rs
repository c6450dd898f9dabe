//! Can KVM on this host run a real guest kernel? Having `/dev/kvm` is not
//! enough: under PVM (a paravirtualized KVM) guest kernel code is emulated
//! and exceptions are never delivered through the guest's IDT, so a Linux
//! kernel stops at its first int3 self-test. The probe runs the smallest
//! guest that tells: a 64-bit guest whose `int3` must reach its own handler,
//! which reports through a port write.

use kvm_bindings::{kvm_segment, kvm_userspace_memory_region};
use kvm_ioctls::{Kvm, VcpuExit};
use std::sync::mpsc;
use std::time::Duration;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvmVerdict {
    /// A guest took an exception through its IDT: real kernels can run.
    Usable,
    /// KVM is absent, unreachable or cannot run a kernel; the text says why
    /// and what to do.
    Unusable(String),
}

const MEM_SIZE: usize = 2 << 20;
const PML4: usize = 0x1000;
const PDPT: usize = 0x2000;
const PD: usize = 0x3000;
const GDT: usize = 0x500;
const IDT: usize = 0x600;
const CODE: usize = 0x8000;
const HANDLER: usize = 0x9000;
const STACK_TOP: u64 = 0x7000;
const REPORT_PORT: u16 = 0x1234;
const REPORT_VALUE: u8 = 0x42;

pub fn probe_kvm() -> KvmVerdict {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(run_probe());
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok(Ok(())) => KvmVerdict::Usable,
        Ok(Err(why)) => KvmVerdict::Unusable(why),
        Err(_) => KvmVerdict::Unusable("the KVM probe guest did not finish in 5 s".into()),
    }
}

fn open_error(e: kvm_ioctls::Error) -> String {
    match e.errno() {
        libc::ENOENT => "/dev/kvm does not exist: enable virtualization in the firmware and load the kvm module".into(),
        libc::EACCES | libc::EPERM => "/dev/kvm is not accessible: add your user to the 'kvm' group (usermod -aG kvm $USER, then log in again) or add a udev rule giving it mode 0666".into(),
        _ => format!("/dev/kvm cannot be opened: {e}"),
    }
}

/// Builds the guest image: identity-mapped first 2 MiB, a GDT, an IDT whose
/// vector 3 points at a handler that writes REPORT_VALUE to REPORT_PORT.
fn guest_image() -> Vec<u8> {
    let mut mem = vec![0u8; MEM_SIZE];
    let put = |mem: &mut [u8], at: usize, v: u64| mem[at..at + 8].copy_from_slice(&v.to_le_bytes());
    put(&mut mem, PML4, PDPT as u64 | 0x3);
    put(&mut mem, PDPT, PD as u64 | 0x3);
    put(&mut mem, PD, 0x83); // 2 MiB page at 0, present + writable + huge
    put(&mut mem, GDT, 0);
    put(&mut mem, GDT + 8, 0x00af_9b00_0000_ffff); // 64-bit code
    put(&mut mem, GDT + 16, 0x00cf_9300_0000_ffff); // data
    let h = HANDLER as u64;
    let low = (h & 0xffff) | (0x8 << 16) | (0x8e00 << 32) | (((h >> 16) & 0xffff) << 48);
    put(&mut mem, IDT + 3 * 16, low);
    put(&mut mem, IDT + 3 * 16 + 8, h >> 32);
    mem[CODE..CODE + 2].copy_from_slice(&[0xcc, 0xf4]); // int3; hlt
    let [p0, p1] = REPORT_PORT.to_le_bytes();
    // mov dx, port; mov al, value; out dx, al; hlt
    mem[HANDLER..HANDLER + 8].copy_from_slice(&[
        0x66,
        0xba,
        p0,
        p1,
        0xb0,
        REPORT_VALUE,
        0xee,
        0xf4,
    ]);
    mem
}

fn segment(selector: u16, type_: u8, long: bool) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_,
        present: 1,
        dpl: 0,
        db: u8::from(!long),
        s: 1,
        l: u8::from(long),
        g: 1,
        ..Default::default()
    }
}

fn run_probe() -> Result<(), String> {
    let kvm = Kvm::new().map_err(open_error)?;
    let vm = kvm
        .create_vm()
        .map_err(|e| format!("KVM cannot create a VM: {e}"))?;
    // KVM needs page-aligned guest memory, which an mmap gives.
    let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), MEM_SIZE)])
        .map_err(|e| format!("cannot allocate probe guest memory: {e}"))?;
    mem.write_slice(&guest_image(), GuestAddress(0))
        .map_err(|e| format!("cannot write probe guest: {e}"))?;
    let host_addr = mem
        .get_host_address(GuestAddress(0))
        .map_err(|e| format!("probe guest memory: {e}"))?;
    let region = kvm_userspace_memory_region {
        slot: 0,
        flags: 0,
        guest_phys_addr: 0,
        memory_size: MEM_SIZE as u64,
        userspace_addr: host_addr as u64,
    };
    // SAFETY: the region is MEM_SIZE bytes of `mem`, which outlives the VM
    // (both are dropped at the end of this function, the VM first).
    unsafe { vm.set_user_memory_region(region) }
        .map_err(|e| format!("KVM memory setup failed: {e}"))?;
    let mut vcpu = vm
        .create_vcpu(0)
        .map_err(|e| format!("KVM cannot create a vCPU: {e}"))?;

    let mut sregs = vcpu
        .get_sregs()
        .map_err(|e| format!("KVM get_sregs: {e}"))?;
    sregs.cs = segment(0x8, 0xb, true);
    let data = segment(0x10, 0x3, false);
    (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data);
    sregs.gdt.base = GDT as u64;
    sregs.gdt.limit = 23;
    sregs.idt.base = IDT as u64;
    sregs.idt.limit = 16 * 4 - 1;
    sregs.cr3 = PML4 as u64;
    sregs.cr4 = 0x20; // PAE
    sregs.cr0 = 0x8000_0011; // PG | ET | PE
    sregs.efer = 0x500; // LMA | LME
    vcpu.set_sregs(&sregs)
        .map_err(|e| format!("KVM rejected 64-bit setup: {e}"))?;
    let mut regs = vcpu.get_regs().map_err(|e| format!("KVM get_regs: {e}"))?;
    regs.rip = CODE as u64;
    regs.rsp = STACK_TOP;
    regs.rflags = 0x2;
    vcpu.set_regs(&regs)
        .map_err(|e| format!("KVM set_regs: {e}"))?;

    let verdict = match vcpu.run() {
        Ok(VcpuExit::IoOut(REPORT_PORT, data)) if data == [REPORT_VALUE] => Ok(()),
        Ok(VcpuExit::InternalError) => Err("KVM here cannot deliver a guest exception through its IDT (a paravirtualized KVM such as PVM); real guest kernels cannot run on it".to_string()),
        Ok(other) => Err(format!("the KVM probe guest stopped unexpectedly ({other:?})")),
        Err(e) => Err(format!("KVM could not run the probe guest: {e}")),
    };
    drop(vcpu);
    drop(vm);
    drop(mem);
    verdict
}
