//! Where things go in guest physical memory.

/// The GDT, then an empty IDT right after it.
pub const GDT_ADDR: u64 = 0x500;
pub const IDT_ADDR: u64 = 0x520;
/// The boot vCPU's stack top (grows down, below the zero page).
pub const BOOT_STACK: u64 = 0x8ff0;
/// The Linux "zero page" (struct boot_params).
pub const ZERO_PAGE: u64 = 0x7000;
/// Identity page tables: PML4, PDPT, then one PD per GiB mapped.
pub const PML4_ADDR: u64 = 0x9000;
pub const PDPT_ADDR: u64 = 0xa000;
pub const PD_ADDR: u64 = 0xb000;
/// How much is identity-mapped for the boot vCPU (the kernel sets up its
/// own tables right away; it only needs itself and the zero page mapped).
pub const IDENTITY_MAPPED: u64 = 4 << 30;
/// Kernel command line.
pub const CMDLINE_ADDR: u64 = 0x20000;
pub const CMDLINE_MAX: usize = 4096;
/// Extended BIOS data area: the MP table lives here, reserved in the e820 map.
pub const EBDA_START: u64 = 0x9fc00;
/// Start of high memory; the kernel loads at its own physical address above.
pub const HIMEM_START: u64 = 0x10_0000;
/// MMIO devices live in the 32-bit hole below the IOAPIC.
pub const MMIO_START: u64 = 0xd000_0000;
pub const MMIO_DEVICE_SIZE: u64 = 0x1000;
/// Guest RAM below 4 GiB ends here; more goes above 4 GiB.
pub const RAM_32BIT_END: u64 = MMIO_START;
pub const IOAPIC_ADDR: u32 = 0xfec0_0000;
pub const APIC_ADDR: u32 = 0xfee0_0000;
/// First legacy IRQ free for virtio-mmio devices (0–4 are PIT, keyboard, cascade, serial).
pub const FIRST_DEVICE_IRQ: u32 = 5;
