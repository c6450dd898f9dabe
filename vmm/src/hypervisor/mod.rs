//! The boundary between the VMM and a hypervisor. Everything above it speaks
//! these types; KVM's (and later Hypervisor.framework's and WHP's) stay
//! inside their implementation modules, each compiled only where it runs,
//! and [`new`] opens this platform's one.

#[cfg(target_os = "linux")]
mod kvm;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;

use crate::devices::InterruptLine;
use std::sync::Arc;
use vmm_sys_util::eventfd::EventFd;

/// This platform's hypervisor.
#[cfg(target_os = "linux")]
pub type Platform = kvm::KvmHypervisor;

/// Opens this platform's hypervisor. The error carries the OS error, so
/// callers can tell "missing" from "no permission".
#[cfg(target_os = "linux")]
pub fn new() -> Result<Platform> {
    kvm::KvmHypervisor::new()
}

/// How a machine's CPU is run: by a hypervisor, or emulated (QEMU's TCG).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accel {
    /// Linux KVM.
    Kvm,
    /// QEMU's software emulation: no hypervisor needed, much slower.
    Tcg,
    /// macOS Hypervisor.framework.
    Hvf,
    /// Windows Hypervisor Platform.
    Whp,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
            Accel::Hvf => "hvf",
            Accel::Whp => "whp",
        }
    }

    /// The hypervisor this platform offers.
    pub fn native() -> Accel {
        if cfg!(target_os = "macos") {
            Accel::Hvf
        } else if cfg!(target_os = "windows") {
            Accel::Whp
        } else {
            Accel::Kvm
        }
    }
}

impl std::fmt::Display for Accel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Accel {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Accel, String> {
        [Accel::Kvm, Accel::Tcg, Accel::Hvf, Accel::Whp]
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| format!("unknown acceleration {s:?} (kvm, tcg, hvf or whp)"))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HypervisorError {
    #[error("{op}: {source}")]
    Call {
        op: &'static str,
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, HypervisorError>;

/// Why a vCPU stopped running guest code.
#[derive(Debug)]
pub enum VcpuExit<'a> {
    IoOut {
        port: u16,
        data: &'a [u8],
    },
    IoIn {
        port: u16,
        data: &'a mut [u8],
    },
    MmioRead {
        addr: u64,
        data: &'a mut [u8],
    },
    MmioWrite {
        addr: u64,
        data: &'a [u8],
    },
    Halt,
    /// The guest reset itself (e.g. a triple fault).
    Shutdown,
    /// The hypervisor could not go on with the guest (on PVM: an exception
    /// it cannot deliver).
    InternalError,
    /// The call was interrupted (a signal); run again.
    Interrupted,
    Other(String),
}

/// Where a guest write becomes an eventfd notification without an exit.
#[derive(Debug, Clone, Copy)]
pub enum IoEventAddress {
    Pio(u16),
    Mmio(u64),
}

pub trait Hypervisor {
    type Vm: Vm;
    fn create_vm(&self) -> Result<Self::Vm>;
}

pub trait Vm: Send + Sync {
    type Vcpu: Vcpu;

    /// Maps `size` bytes of host memory at `host_addr` into the guest at
    /// `guest_addr`.
    ///
    /// # Safety
    /// The host range must stay mapped and valid for as long as the VM exists.
    unsafe fn map_memory(
        &self,
        slot: u32,
        guest_addr: u64,
        size: u64,
        host_addr: *mut u8,
    ) -> Result<()>;

    /// Creates vCPU `id` of `count` (the topology is reported to the guest).
    fn create_vcpu(&self, id: u32, count: u32) -> Result<Self::Vcpu>;

    /// A guest write to `addr` (of the 32-bit value `datamatch`, if given)
    /// signals `fd` instead of exiting.
    fn register_ioevent(
        &self,
        fd: &EventFd,
        addr: IoEventAddress,
        datamatch: Option<u32>,
    ) -> Result<()>;

    /// Interrupt line `line` of the machine, for a device to raise.
    fn interrupt_line(&self, line: u32) -> Result<Arc<dyn InterruptLine>>;
}

pub trait Vcpu: Send {
    fn run(&mut self) -> Result<VcpuExit<'_>>;

    #[cfg(target_arch = "x86_64")]
    fn set_boot_state(&mut self, state: &x86_64::BootCpuState) -> Result<()>;
}
