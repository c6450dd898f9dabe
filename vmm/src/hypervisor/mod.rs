//! The boundary between the VMM and a hypervisor. Everything above it speaks
//! these types; KVM's (and later Hypervisor.framework's and WHP's) stay
//! inside their implementation modules.

pub mod kvm;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;

use vmm_sys_util::eventfd::EventFd;

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

    /// Signalling `fd` raises interrupt line `line`.
    fn register_irqfd(&self, fd: &EventFd, line: u32) -> Result<()>;
}

pub trait Vcpu: Send {
    fn run(&mut self) -> Result<VcpuExit<'_>>;

    #[cfg(target_arch = "x86_64")]
    fn set_boot_state(&mut self, state: &x86_64::BootCpuState) -> Result<()>;
}
