//! Loading Linux for the 64-bit boot protocol: kernel (ELF vmlinux or
//! bzImage), initramfs, command line, zero page with the e820 map, page
//! tables, GDT and MP table.

use super::gdt;
use super::layout::*;
use super::mptable::{write_mptable, MpTableError};
use super::paging::write_identity_tables;
use crate::hypervisor::x86_64::{BootCpuState, RFLAGS_RESERVED};
use linux_loader::cmdline::Cmdline;
use linux_loader::loader::bootparam::{boot_e820_entry, boot_params};
use linux_loader::loader::{bzimage::BzImage, elf::Elf, load_cmdline, KernelLoader};
use std::fs::File;
use std::io::Read;
use vm_memory::{Bytes, GuestAddress, GuestMemoryMmap};

const E820_RAM: u32 = 1;
/// The 64-bit entry point of a bzImage is 0x200 past its load address.
const BZIMAGE_64BIT_ENTRY: u64 = 0x200;

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("kernel image: {0}")]
    Kernel(String),
    #[error("kernel command line: {0}")]
    Cmdline(String),
    #[error("initramfs of {size} bytes does not fit in guest memory below {limit:#x}")]
    InitrdTooLarge { size: u64, limit: u64 },
    #[error("reading initramfs: {0}")]
    InitrdRead(std::io::Error),
    #[error(transparent)]
    MpTable(#[from] MpTableError),
    #[error("writing boot structures to guest memory: {0}")]
    Memory(#[from] vm_memory::GuestMemoryError),
}

/// Guest RAM regions for `size` bytes: below the 32-bit MMIO hole, and the
/// rest above 4 GiB.
pub fn ram_regions(size: u64) -> Vec<(GuestAddress, usize)> {
    if size <= RAM_32BIT_END {
        vec![(GuestAddress(0), size as usize)]
    } else {
        vec![
            (GuestAddress(0), RAM_32BIT_END as usize),
            (GuestAddress(1 << 32), (size - RAM_32BIT_END) as usize),
        ]
    }
}

pub struct LinuxBoot {
    /// State for the boot vCPU; the others wait for the kernel's INIT/SIPI.
    pub boot_cpu: BootCpuState,
}

/// The flat, long-mode state every hutch guest starts in.
pub fn long_mode_state(rip: u64) -> BootCpuState {
    let (code, data, tss) = gdt::kernel_segments();
    BootCpuState {
        rip,
        rsp: BOOT_STACK,
        rflags: RFLAGS_RESERVED,
        cr3: PML4_ADDR,
        gdt_base: GDT_ADDR,
        gdt_limit: (std::mem::size_of_val(&gdt::table()) - 1) as u16,
        idt_base: IDT_ADDR,
        idt_limit: 0,
        code,
        data,
        tss,
        ..Default::default()
    }
}

/// Writes the GDT, an empty IDT and the identity page tables.
pub fn write_cpu_tables(mem: &GuestMemoryMmap) -> Result<(), BootError> {
    for (i, entry) in gdt::table().iter().enumerate() {
        mem.write_obj(*entry, GuestAddress(GDT_ADDR + 8 * i as u64))?;
    }
    mem.write_obj(0u64, GuestAddress(IDT_ADDR))?;
    write_identity_tables(mem)?;
    Ok(())
}

fn load_kernel(
    mem: &GuestMemoryMmap,
    kernel: &mut File,
) -> Result<
    (
        u64,
        u64,
        Option<linux_loader::loader::bootparam::setup_header>,
    ),
    BootError,
> {
    match Elf::load(mem, None, kernel, Some(GuestAddress(HIMEM_START))) {
        Ok(r) => Ok((r.kernel_load.0, r.kernel_end, None)),
        Err(linux_loader::loader::Error::Elf(
            linux_loader::loader::elf::Error::InvalidElfMagicNumber,
        )) => {
            let r =
                BzImage::load(mem, None, kernel, Some(GuestAddress(HIMEM_START))).map_err(|e| {
                    BootError::Kernel(format!("neither an ELF vmlinux nor a bzImage: {e}"))
                })?;
            Ok((
                r.kernel_load.0 + BZIMAGE_64BIT_ENTRY,
                r.kernel_end,
                r.setup_header,
            ))
        }
        Err(e) => Err(BootError::Kernel(e.to_string())),
    }
}

/// Loads everything for a Linux boot into `mem` (`mem_size` bytes of RAM,
/// laid out by [`ram_regions`]) for `cpus` vCPUs.
pub fn load_linux(
    mem: &GuestMemoryMmap,
    mem_size: u64,
    cpus: u32,
    kernel: &mut File,
    initrd: Option<&mut File>,
    cmdline: &str,
) -> Result<LinuxBoot, BootError> {
    let (entry, kernel_end, setup_header) = load_kernel(mem, kernel)?;

    let cmdline =
        Cmdline::try_from(cmdline, CMDLINE_MAX).map_err(|e| BootError::Cmdline(e.to_string()))?;
    load_cmdline(mem, GuestAddress(CMDLINE_ADDR), &cmdline)
        .map_err(|e| BootError::Cmdline(e.to_string()))?;

    let mut params = boot_params::default();
    if let Some(hdr) = setup_header {
        params.hdr = hdr;
    }
    params.hdr.type_of_loader = 0xff;
    params.hdr.boot_flag = 0xaa55;
    params.hdr.header = 0x5372_6448; // "HdrS"
    params.hdr.kernel_alignment = 0x0100_0000;
    params.hdr.cmd_line_ptr = CMDLINE_ADDR as u32;
    params.hdr.cmdline_size = CMDLINE_MAX as u32;

    let low_ram_end = mem_size.min(RAM_32BIT_END);
    if let Some(file) = initrd {
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(BootError::InitrdRead)?;
        let size = data.len() as u64;
        // As high as possible below the 32-bit end, page aligned, above the kernel.
        let addr = low_ram_end
            .checked_sub(size)
            .map(|a| a & !0xfff)
            .filter(|a| *a >= kernel_end)
            .ok_or(BootError::InitrdTooLarge {
                size,
                limit: low_ram_end,
            })?;
        mem.write_slice(&data, GuestAddress(addr))?;
        params.hdr.ramdisk_image = addr as u32;
        params.hdr.ramdisk_size = size as u32;
    }

    let mut e820 = vec![(0, EBDA_START), (HIMEM_START, low_ram_end - HIMEM_START)];
    if mem_size > RAM_32BIT_END {
        e820.push((1 << 32, mem_size - RAM_32BIT_END));
    }
    for (i, (addr, size)) in e820.iter().enumerate() {
        params.e820_table[i] = boot_e820_entry {
            addr: *addr,
            size: *size,
            r#type: E820_RAM,
        };
    }
    params.e820_entries = e820.len() as u8;
    mem.write_obj(params, GuestAddress(ZERO_PAGE))?;

    write_cpu_tables(mem)?;
    write_mptable(mem, cpus)?;

    let mut boot_cpu = long_mode_state(entry);
    boot_cpu.rsi = ZERO_PAGE;
    Ok(LinuxBoot { boot_cpu })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_above_the_hole_moves_past_4g() {
        assert_eq!(ram_regions(256 << 20), vec![(GuestAddress(0), 256 << 20)]);
        let big = ram_regions(RAM_32BIT_END + (1 << 30));
        assert_eq!(big[1], (GuestAddress(1 << 32), 1 << 30));
    }

    #[test]
    fn a_non_kernel_file_is_a_clear_error() {
        let mem = GuestMemoryMmap::<()>::from_ranges(&ram_regions(64 << 20)).unwrap();
        let path = std::env::temp_dir().join(format!("hutch-not-a-kernel-{}", std::process::id()));
        std::fs::write(&path, vec![0x42u8; 8192]).unwrap();
        let mut f = File::open(&path).unwrap();
        let err = load_linux(&mem, 64 << 20, 1, &mut f, None, "console=ttyS0")
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .contains("neither an ELF vmlinux nor a bzImage"),
            "{err}"
        );
        let _ = std::fs::remove_file(path);
    }
}
