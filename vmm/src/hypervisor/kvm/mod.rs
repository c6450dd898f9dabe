//! The hypervisor boundary implemented on Linux KVM (`kvm-ioctls`). KVM's
//! types stay in here; the rest of the VMM speaks the traits of
//! `hypervisor`.

use super::{HypervisorError, IoEventAddress, Result, Vcpu, VcpuExit, Vm};
use crate::devices::InterruptLine;
use kvm_bindings::{kvm_userspace_memory_region, CpuId, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Kvm, VcpuFd, VmFd};
use std::sync::Arc;
use vmm_sys_util::eventfd::EventFd;

fn call<T>(op: &'static str, r: std::result::Result<T, kvm_ioctls::Error>) -> Result<T> {
    r.map_err(|e| HypervisorError::Call {
        op,
        source: std::io::Error::from_raw_os_error(e.errno()),
    })
}

/// Where KVM keeps the TSS for real-mode emulation: three pages just below
/// the 4 GiB boundary, clear of guest RAM and the IOAPIC/LAPIC.
const TSS_ADDRESS: usize = 0xfffb_d000;

pub struct KvmHypervisor {
    kvm: Kvm,
}

impl KvmHypervisor {
    /// Opens `/dev/kvm`. The error carries the errno so callers can tell
    /// "missing" from "no permission".
    pub fn new() -> Result<Self> {
        Ok(KvmHypervisor {
            kvm: call("open /dev/kvm", Kvm::new())?,
        })
    }
}

impl super::Hypervisor for KvmHypervisor {
    type Vm = KvmVm;

    fn create_vm(&self) -> Result<KvmVm> {
        let vm = call("KVM_CREATE_VM", self.kvm.create_vm())?;
        let cpuid = call(
            "KVM_GET_SUPPORTED_CPUID",
            self.kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES),
        )?;
        call("KVM_SET_TSS_ADDR", vm.set_tss_address(TSS_ADDRESS))?;
        call("KVM_CREATE_IRQCHIP", vm.create_irq_chip())?;
        let pit = kvm_bindings::kvm_pit_config {
            flags: kvm_bindings::KVM_PIT_SPEAKER_DUMMY,
            ..Default::default()
        };
        call("KVM_CREATE_PIT2", vm.create_pit2(pit))?;
        Ok(KvmVm { vm, cpuid })
    }
}

pub struct KvmVm {
    vm: VmFd,
    cpuid: CpuId,
}

impl Vm for KvmVm {
    type Vcpu = KvmVcpu;

    unsafe fn map_memory(
        &self,
        slot: u32,
        guest_addr: u64,
        size: u64,
        host_addr: *mut u8,
    ) -> Result<()> {
        let region = kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: guest_addr,
            memory_size: size,
            userspace_addr: host_addr as u64,
        };
        // SAFETY: the caller guarantees the host range outlives the VM.
        call("KVM_SET_USER_MEMORY_REGION", unsafe {
            self.vm.set_user_memory_region(region)
        })
    }

    fn create_vcpu(&self, id: u32, count: u32) -> Result<KvmVcpu> {
        let fd = call("KVM_CREATE_VCPU", self.vm.create_vcpu(id as u64))?;
        let mut cpuid = self.cpuid.clone();
        cpu_topology(&mut cpuid, id, count);
        call("KVM_SET_CPUID2", fd.set_cpuid2(&cpuid))?;
        set_lint(&fd)?;
        Ok(KvmVcpu { fd })
    }

    fn register_ioevent(
        &self,
        fd: &EventFd,
        addr: IoEventAddress,
        datamatch: Option<u32>,
    ) -> Result<()> {
        let addr = match addr {
            IoEventAddress::Pio(p) => kvm_ioctls::IoEventAddress::Pio(p as u64),
            IoEventAddress::Mmio(a) => kvm_ioctls::IoEventAddress::Mmio(a),
        };
        let registered = match datamatch {
            Some(value) => self.vm.register_ioevent(fd, &addr, value),
            None => self.vm.register_ioevent(fd, &addr, kvm_ioctls::NoDatamatch),
        };
        call("KVM_IOEVENTFD", registered)
    }

    fn interrupt_line(&self, line: u32) -> Result<Arc<dyn InterruptLine>> {
        let fd = EventFd::new(libc::EFD_NONBLOCK).map_err(|source| HypervisorError::Call {
            op: "eventfd",
            source,
        })?;
        call("KVM_IRQFD", self.vm.register_irqfd(&fd, line))?;
        Ok(Arc::new(IrqFd(fd)))
    }
}

/// An interrupt line as KVM raises it: signalling the eventfd injects the
/// interrupt in the kernel, without a trip through this process.
struct IrqFd(EventFd);

impl InterruptLine for IrqFd {
    fn raise(&self) -> std::io::Result<()> {
        self.0.write(1)
    }
}

/// Fixes up the CPUID KVM supports so each vCPU reports its own APIC id and
/// the machine's CPU count.
fn cpu_topology(cpuid: &mut CpuId, id: u32, count: u32) {
    for e in cpuid.as_mut_slice() {
        match e.function {
            1 => {
                e.ebx = (e.ebx & 0x0000_ffff) | (id << 24) | ((count & 0xff) << 16);
                e.ecx |= 1 << 31; // running under a hypervisor
                if count > 1 {
                    e.edx |= 1 << 28; // HTT: the count field is valid
                }
            }
            // Deterministic cache parameters: cores sharing the package.
            4 => e.eax = (e.eax & 0x03ff_ffff) | ((count.saturating_sub(1) & 0x3f) << 26),
            // Extended topology: the x2APIC id of this vCPU.
            0xb => {
                e.edx = id;
                e.ebx = if e.index == 0 { 1 } else { count };
            }
            _ => {}
        }
    }
}

/// Local APIC LINT0 as ExtINT (the PIC) and LINT1 as NMI, as a PC has them.
fn set_lint(fd: &VcpuFd) -> Result<()> {
    const APIC_LVT0: usize = 0x350;
    const APIC_LVT1: usize = 0x360;
    const MODE_EXTINT: u32 = 0x7;
    const MODE_NMI: u32 = 0x4;
    let mut lapic = call("KVM_GET_LAPIC", fd.get_lapic())?;
    for (offset, mode) in [(APIC_LVT0, MODE_EXTINT), (APIC_LVT1, MODE_NMI)] {
        let bytes: [u8; 4] = std::array::from_fn(|i| lapic.regs[offset + i] as u8);
        let value = (u32::from_le_bytes(bytes) & !0x700) | (mode << 8);
        for (i, b) in value.to_le_bytes().iter().enumerate() {
            lapic.regs[offset + i] = *b as _;
        }
    }
    call("KVM_SET_LAPIC", fd.set_lapic(&lapic))
}

pub struct KvmVcpu {
    fd: VcpuFd,
}

impl Vcpu for KvmVcpu {
    fn run(&mut self) -> Result<VcpuExit<'_>> {
        use kvm_ioctls::VcpuExit as K;
        match self.fd.run() {
            Ok(exit) => Ok(match exit {
                K::IoOut(port, data) => VcpuExit::IoOut { port, data },
                K::IoIn(port, data) => VcpuExit::IoIn { port, data },
                K::MmioRead(addr, data) => VcpuExit::MmioRead { addr, data },
                K::MmioWrite(addr, data) => VcpuExit::MmioWrite { addr, data },
                K::Hlt => VcpuExit::Halt,
                K::Shutdown => VcpuExit::Shutdown,
                K::InternalError => VcpuExit::InternalError,
                K::Intr => VcpuExit::Interrupted,
                other => VcpuExit::Other(format!("{other:?}")),
            }),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                Ok(VcpuExit::Interrupted)
            }
            Err(e) => call("KVM_RUN", Err(e)),
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn set_boot_state(&mut self, s: &super::x86_64::BootCpuState) -> Result<()> {
        use super::x86_64::*;
        let seg = |g: Segment| kvm_bindings::kvm_segment {
            base: 0,
            limit: if g.system { 0x67 } else { 0xffff_ffff },
            selector: g.selector,
            type_: g.type_,
            present: 1,
            dpl: g.dpl,
            db: u8::from(!g.long && !g.system),
            s: u8::from(!g.system),
            l: u8::from(g.long),
            g: u8::from(!g.system),
            ..Default::default()
        };
        let mut sregs = call("KVM_GET_SREGS", self.fd.get_sregs())?;
        sregs.cs = seg(s.code);
        let data = seg(s.data);
        (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (data, data, data, data, data);
        sregs.tr = seg(s.tss);
        sregs.gdt.base = s.gdt_base;
        sregs.gdt.limit = s.gdt_limit;
        sregs.idt.base = s.idt_base;
        sregs.idt.limit = s.idt_limit;
        sregs.cr0 = CR0_PE | CR0_ET | CR0_PG;
        sregs.cr3 = s.cr3;
        sregs.cr4 = CR4_PAE;
        sregs.efer = EFER_LME | EFER_LMA;
        call("KVM_SET_SREGS", self.fd.set_sregs(&sregs))?;

        let regs = kvm_bindings::kvm_regs {
            rip: s.rip,
            rsp: s.rsp,
            rbp: s.rsp,
            rsi: s.rsi,
            rdi: s.rdi,
            rflags: s.rflags,
            ..Default::default()
        };
        call("KVM_SET_REGS", self.fd.set_regs(&regs))?;
        let fpu = kvm_bindings::kvm_fpu {
            fcw: 0x37f,
            mxcsr: 0x1f80,
            ..Default::default()
        };
        call("KVM_SET_FPU", self.fd.set_fpu(&fpu))?;
        // With an in-kernel LAPIC, vCPUs other than 0 wait for INIT/SIPI;
        // one given a boot state starts right away.
        let runnable = kvm_bindings::kvm_mp_state {
            mp_state: kvm_bindings::KVM_MP_STATE_RUNNABLE,
        };
        call("KVM_SET_MP_STATE", self.fd.set_mp_state(runnable))
    }
}
