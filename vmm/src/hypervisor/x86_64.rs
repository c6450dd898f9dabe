//! x86_64 register state a vCPU starts from, in hutch's own terms.

/// A flat segment as loaded into a segment register's hidden part.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Segment {
    pub selector: u16,
    /// Descriptor type bits (e.g. 0xb execute/read accessed code, 0x3 data).
    pub type_: u8,
    /// Descriptor privilege level 0..=3.
    pub dpl: u8,
    /// 64-bit code segment.
    pub long: bool,
    /// System segment (TSS) rather than code/data.
    pub system: bool,
}

/// Everything a boot vCPU needs: long mode with paging on, flat segments.
#[derive(Debug, Clone, Default)]
pub struct BootCpuState {
    pub rip: u64,
    pub rsp: u64,
    /// Boot protocol argument (Linux: the zero page address).
    pub rsi: u64,
    pub rdi: u64,
    pub rflags: u64,
    pub cr3: u64,
    pub gdt_base: u64,
    pub gdt_limit: u16,
    pub idt_base: u64,
    pub idt_limit: u16,
    pub code: Segment,
    pub data: Segment,
    pub tss: Segment,
}

pub const CR0_PE: u64 = 1;
pub const CR0_ET: u64 = 1 << 4;
pub const CR0_PG: u64 = 1 << 31;
pub const CR4_PAE: u64 = 1 << 5;
pub const EFER_LME: u64 = 1 << 8;
pub const EFER_LMA: u64 = 1 << 10;
/// RFLAGS bit 1 is always set.
pub const RFLAGS_RESERVED: u64 = 0x2;
