//! A flat GDT for 64-bit boot: null, code, data, TSS.

use crate::hypervisor::x86_64::Segment;

pub const CODE_SELECTOR: u16 = 0x08;
pub const DATA_SELECTOR: u16 = 0x10;
pub const TSS_SELECTOR: u16 = 0x18;

/// Packs a descriptor from (flags, base, limit) as the CPU reads it.
fn descriptor(flags: u16, base: u32, limit: u32) -> u64 {
    let (flags, base, limit) = (flags as u64, base as u64, limit as u64);
    ((base & 0xff00_0000) << 32)
        | ((flags & 0xf0ff) << 40)
        | ((limit & 0x000f_0000) << 32)
        | ((base & 0x00ff_ffff) << 16)
        | (limit & 0x0000_ffff)
}

/// The table, in order: null, code, data, TSS.
pub fn table() -> [u64; 4] {
    [
        0,
        descriptor(0xa09b, 0, 0xfffff), // 64-bit code, DPL 0
        descriptor(0xc093, 0, 0xfffff), // data, DPL 0
        descriptor(0x808b, 0, 0xfffff), // busy 64-bit TSS
    ]
}

pub fn kernel_segments() -> (Segment, Segment, Segment) {
    (
        Segment {
            selector: CODE_SELECTOR,
            type_: 0xb,
            dpl: 0,
            long: true,
            system: false,
        },
        Segment {
            selector: DATA_SELECTOR,
            type_: 0x3,
            dpl: 0,
            long: false,
            system: false,
        },
        Segment {
            selector: TSS_SELECTOR,
            type_: 0xb,
            dpl: 0,
            long: false,
            system: true,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_match_the_architecture_manual() {
        let t = table();
        assert_eq!(t[1], 0x00af_9b00_0000_ffff);
        assert_eq!(t[2], 0x00cf_9300_0000_ffff);
        assert_eq!(t[3], 0x008f_8b00_0000_ffff);
    }
}
