//! Runs a machine on our own VMM: guest memory, boot, legacy devices, one
//! thread per vCPU, until the guest resets, a vCPU fails, or someone asks it
//! to stop.

use crate::arch::{layout, load_linux, long_mode_state, ram_regions, write_cpu_tables, BootError};
use crate::devices::bus::{Bus, VmAction};
use crate::devices::legacy::i8042::{I8042_BASE, I8042_LEN};
use crate::devices::legacy::{SerialConsole, I8042, SERIAL_IRQ, SERIAL_PORT};
use crate::devices::virtio::block::mmio_device::block_mmio;
use crate::devices::virtio::block::BlockDevice;
use crate::devices::virtio::mmio::{MmioTransport, QUEUE_NOTIFY};
use crate::devices::virtio::net::mmio_device::net_mmio;
use crate::devices::virtio::net::NetDevice;
use crate::devices::virtio::vsock::mmio_device::vsock_mmio;
use crate::devices::virtio::VirtioDevice;
use crate::devices::DeviceConfig;
use crate::hypervisor::{self, Hypervisor, HypervisorError, IoEventAddress, Vcpu, VcpuExit, Vm};
use std::io::Write;
use std::os::unix::thread::JoinHandleExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use vm_memory::{Bytes, GuestAddress, GuestMemoryBackend, GuestMemoryMmap, GuestMemoryRegion};

pub enum Boot {
    /// A Linux kernel (ELF vmlinux or bzImage) with the 64-bit boot protocol.
    Linux {
        kernel: PathBuf,
        initramfs: Option<PathBuf>,
        cmdline: String,
    },
    /// Raw 64-bit kernel-mode code loaded at `load_addr`; every vCPU starts
    /// there with its index in RDI and its own stack (synthetic test guests).
    Raw { code: Vec<u8>, load_addr: u64 },
}

pub struct MachineConfig {
    /// Its virtio devices, each behind a virtio-mmio transport in this
    /// order (the first block device is the guest's /dev/vda).
    pub devices: Vec<DeviceConfig>,
    pub cpus: u32,
    pub memory_mib: u32,
    pub boot: Boot,
    /// Where the serial console goes.
    pub console: Box<dyn Write + Send>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MachineExit {
    /// The guest reset itself: hutch's way of powering off.
    Reset,
    /// Every vCPU halted.
    Halted,
    /// [`StopHandle::stop`] was called.
    Stopped,
    VcpuFailed {
        vcpu: u32,
        reason: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum VmmError {
    #[error(transparent)]
    Hypervisor(#[from] HypervisorError),
    #[error("guest memory: {0}")]
    Memory(String),
    #[error(transparent)]
    Boot(#[from] BootError),
    #[error("opening {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

/// Asks a running machine to stop from another thread.
#[derive(Clone)]
pub struct StopHandle {
    tx: mpsc::Sender<VcpuEvent>,
}

impl StopHandle {
    pub fn stop(&self) {
        let _ = self.tx.send(VcpuEvent::StopRequested);
    }
}

enum VcpuEvent {
    Exited(MachineExit),
    StopRequested,
}

/// Guest RAM size limits: room for the boot structures, and the MP table's
/// CPU limit.
const MIN_MEMORY_MIB: u32 = 16;

fn kick_signal() -> i32 {
    vmm_sys_util::signal::SIGRTMIN()
}

extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {}

pub struct Machine {
    config: MachineConfig,
    tx: mpsc::Sender<VcpuEvent>,
    rx: mpsc::Receiver<VcpuEvent>,
}

impl Machine {
    pub fn new(config: MachineConfig) -> Self {
        let (tx, rx) = mpsc::channel();
        Machine { config, tx, rx }
    }

    pub fn stop_handle(&self) -> StopHandle {
        StopHandle {
            tx: self.tx.clone(),
        }
    }

    /// Boots and runs the machine until it ends; returns why it ended.
    pub fn run(self) -> Result<MachineExit, VmmError> {
        self.run_with_stats().map(|(exit, _)| exit)
    }

    /// Like [`Machine::run`], also reporting how much guest memory the run
    /// touched (for the memory-overhead benchmark).
    pub fn run_with_stats(self) -> Result<(MachineExit, RunStats), VmmError> {
        let Machine { config, tx, rx } = self;
        if config.memory_mib < MIN_MEMORY_MIB {
            return Err(VmmError::Setup(format!(
                "at least {MIN_MEMORY_MIB} MiB of memory are needed"
            )));
        }
        let mem_size = config.memory_mib as u64 * 1024 * 1024;
        let hv = hypervisor::new()?;
        let vm = Arc::new(hv.create_vm()?);
        let mem = GuestMemoryMmap::<()>::from_ranges(&ram_regions(mem_size))
            .map_err(|e| VmmError::Memory(e.to_string()))?;
        // SAFETY: `mem` is kept alive until every vCPU thread has been
        // joined and the VM dropped, at the end of this function.
        unsafe { map_guest_memory(&*vm, &mem)? };

        let devices = config
            .devices
            .iter()
            .map(virtio_device)
            .collect::<Result<Vec<_>, _>>()?;
        let mut mmio = Bus::default();
        let mut device_args = String::new();
        for (slot, device) in devices.into_iter().enumerate() {
            let base = layout::MMIO_START + slot as u64 * layout::MMIO_DEVICE_SIZE;
            let irq = layout::FIRST_DEVICE_IRQ + slot as u32;
            add_virtio_device(&*vm, &mut mmio, &mem, device, base, irq)?;
            let size_k = layout::MMIO_DEVICE_SIZE / 1024;
            device_args.push_str(&format!(" virtio_mmio.device={size_k}K@{base:#x}:{irq}"));
        }

        let mut states = Vec::new();
        match &config.boot {
            Boot::Linux {
                kernel,
                initramfs,
                cmdline,
            } => {
                let cmdline = format!("{cmdline}{device_args}");
                let open = |p: &PathBuf| {
                    std::fs::File::open(p).map_err(|source| VmmError::Open {
                        path: p.clone(),
                        source,
                    })
                };
                let mut kernel = open(kernel)?;
                let mut initrd = initramfs.as_ref().map(open).transpose()?;
                let boot = load_linux(
                    &mem,
                    mem_size,
                    config.cpus,
                    &mut kernel,
                    initrd.as_mut(),
                    &cmdline,
                )?;
                states.push(boot.boot_cpu);
            }
            Boot::Raw { code, load_addr } => {
                mem.write_slice(code, GuestAddress(*load_addr))
                    .map_err(|e| VmmError::Memory(e.to_string()))?;
                write_cpu_tables(&mem)?;
                for id in 0..config.cpus {
                    let mut s = long_mode_state(*load_addr);
                    s.rsp = layout::BOOT_STACK - id as u64 * 0x100;
                    s.rdi = id as u64;
                    states.push(s);
                }
            }
        }

        let mut pio = Bus::default();
        let serial = SerialConsole::new(vm.interrupt_line(SERIAL_IRQ)?, config.console);
        pio.insert(SERIAL_PORT, 8, Arc::new(Mutex::new(serial)))
            .map_err(|e| VmmError::Setup(e.to_string()))?;
        pio.insert(I8042_BASE, I8042_LEN, Arc::new(Mutex::new(I8042)))
            .map_err(|e| VmmError::Setup(e.to_string()))?;

        vmm_sys_util::signal::register_signal_handler(kick_signal(), on_kick)
            .map_err(|e| VmmError::Setup(e.to_string()))?;
        let stopping = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for id in 0..config.cpus {
            let mut vcpu = vm.create_vcpu(id, config.cpus)?;
            if let Some(state) = states.get(id as usize) {
                vcpu.set_boot_state(state)?;
            }
            let (pio, mmio, tx, stopping) =
                (pio.clone(), mmio.clone(), tx.clone(), stopping.clone());
            let handle = std::thread::Builder::new()
                .name(format!("vcpu{id}"))
                .spawn(move || {
                    let exit = run_vcpu(id, &mut vcpu, &pio, &mmio, &stopping);
                    let _ = tx.send(VcpuEvent::Exited(exit));
                })
                .map_err(|e| VmmError::Setup(e.to_string()))?;
            threads.push(handle);
        }
        drop(tx);

        // The first vCPU to end (or a stop request) decides how the machine ends.
        let mut outcome = None;
        let mut running = threads.len();
        while running > 0 {
            let event = if outcome.is_some() {
                // Keep kicking until every vCPU thread has left KVM_RUN.
                for t in &threads {
                    // SAFETY: pthread_kill on a thread we spawned and have not joined.
                    unsafe { libc::pthread_kill(t.as_pthread_t(), kick_signal()) };
                }
                match rx.recv_timeout(Duration::from_millis(10)) {
                    Ok(e) => e,
                    Err(_) => continue,
                }
            } else {
                match rx.recv() {
                    Ok(e) => e,
                    Err(_) => break,
                }
            };
            match event {
                VcpuEvent::Exited(exit) => {
                    running -= 1;
                    let ends_machine = exit != MachineExit::Halted || running == 0;
                    if outcome.is_none() && ends_machine {
                        outcome = Some(exit);
                    }
                }
                VcpuEvent::StopRequested => {
                    outcome.get_or_insert(MachineExit::Stopped);
                }
            }
            if outcome.is_some() {
                stopping.store(true, Ordering::SeqCst);
            }
        }
        for t in threads {
            let _ = t.join();
        }
        drop(vm);
        let stats = RunStats {
            guest_resident_bytes: resident_bytes(&mem),
        };
        drop(mem);
        Ok((outcome.unwrap_or(MachineExit::Halted), stats))
    }
}

#[derive(Debug, Clone, Copy)]
pub struct RunStats {
    /// Guest RAM pages resident in the host at the end of the run.
    pub guest_resident_bytes: u64,
}

/// Resident bytes of guest RAM, page by page (mincore).
fn resident_bytes(mem: &GuestMemoryMmap) -> u64 {
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    let mut total = 0;
    for region in mem.iter() {
        let Ok(host) = mem.get_host_address(region.start_addr()) else {
            continue;
        };
        let pages = region.len().div_ceil(page) as usize;
        let mut vec = vec![0u8; pages];
        // SAFETY: `host` is the page-aligned start of a live mapping of
        // `region.len()` bytes, and `vec` has one byte per page of it.
        let rc = unsafe {
            libc::mincore(
                host as *mut libc::c_void,
                region.len() as usize,
                vec.as_mut_ptr(),
            )
        };
        if rc == 0 {
            total += vec.iter().filter(|b| **b & 1 == 1).count() as u64 * page;
        }
    }
    total
}

/// Maps every region of `mem` into the VM, one memory slot each.
///
/// # Safety
/// `mem` must stay alive for as long as the VM exists.
pub(crate) unsafe fn map_guest_memory<V: Vm>(
    vm: &V,
    mem: &GuestMemoryMmap,
) -> Result<(), VmmError> {
    for (slot, region) in mem.iter().enumerate() {
        let host = mem
            .get_host_address(region.start_addr())
            .map_err(|e| VmmError::Memory(e.to_string()))?;
        // SAFETY: the caller keeps `mem`, and so this region, alive as long
        // as the VM.
        unsafe { vm.map_memory(slot as u32, region.start_addr().0, region.len(), host)? };
    }
    Ok(())
}

/// The device core a config asks for, ready to sit behind virtio-mmio.
fn virtio_device(config: &DeviceConfig) -> Result<Box<dyn VirtioDevice>, VmmError> {
    let setup = |e: &dyn std::fmt::Display| VmmError::Setup(format!("{}: {e}", config.kind()));
    Ok(match config {
        DeviceConfig::Vsock { guest_cid, uds } => {
            Box::new(vsock_mmio(*guest_cid, uds).map_err(|e| setup(&e))?)
        }
        DeviceConfig::Block { path, serial } => {
            let core = BlockDevice::open(path, serial).map_err(|e| setup(&e))?;
            Box::new(block_mmio(core).map_err(|e| setup(&e))?)
        }
        DeviceConfig::Net { mac, network } => {
            let core = NetDevice::connect(*mac, network).map_err(|e| setup(&e))?;
            Box::new(net_mmio(core).map_err(|e| setup(&e))?)
        }
    })
}

/// Puts a virtio device behind an MMIO transport at `base`, with its queue
/// notifications as ioeventfds and its interrupt on line `irq`.
fn add_virtio_device<V: Vm>(
    vm: &V,
    bus: &mut Bus,
    mem: &GuestMemoryMmap,
    device: Box<dyn VirtioDevice>,
    base: u64,
    irq: u32,
) -> Result<(), VmmError> {
    let line = vm.interrupt_line(irq)?;
    let transport = MmioTransport::new(device, mem.clone(), line)
        .map_err(|e| VmmError::Setup(e.to_string()))?;
    for (i, ev) in transport.queue_events().iter().enumerate() {
        vm.register_ioevent(
            ev,
            IoEventAddress::Mmio(base + QUEUE_NOTIFY),
            Some(i as u32),
        )?;
    }
    bus.insert(
        base,
        layout::MMIO_DEVICE_SIZE,
        Arc::new(Mutex::new(transport)),
    )
    .map_err(|e| VmmError::Setup(e.to_string()))
}

fn run_vcpu<V: Vcpu>(
    id: u32,
    vcpu: &mut V,
    pio: &Bus,
    mmio: &Bus,
    stopping: &AtomicBool,
) -> MachineExit {
    loop {
        if stopping.load(Ordering::SeqCst) {
            return MachineExit::Stopped;
        }
        let exit = match vcpu.run() {
            Ok(exit) => exit,
            Err(e) => {
                return MachineExit::VcpuFailed {
                    vcpu: id,
                    reason: e.to_string(),
                }
            }
        };
        let action = match exit {
            VcpuExit::IoOut { port, data } => pio.write(port as u64, data),
            VcpuExit::IoIn { port, data } => {
                if !pio.read(port as u64, data) {
                    data.fill(0xff); // nothing there: an open bus
                }
                None
            }
            VcpuExit::MmioWrite { addr, data } => mmio.write(addr, data),
            VcpuExit::MmioRead { addr, data } => {
                if !mmio.read(addr, data) {
                    data.fill(0xff);
                }
                None
            }
            VcpuExit::Interrupted => None,
            VcpuExit::Halt => return MachineExit::Halted,
            VcpuExit::Shutdown => return MachineExit::Reset,
            VcpuExit::InternalError => {
                return MachineExit::VcpuFailed {
                    vcpu: id,
                    reason: "KVM internal error (the hypervisor could not continue the guest, e.g. an exception a paravirtual KVM cannot deliver)".into(),
                }
            }
            VcpuExit::Other(what) => return MachineExit::VcpuFailed { vcpu: id, reason: format!("unexpected exit: {what}") },
        };
        if action == Some(VmAction::Reset) {
            return MachineExit::Reset;
        }
    }
}
