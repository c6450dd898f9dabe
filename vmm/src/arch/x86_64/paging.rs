//! Identity page tables with 2 MiB pages for the boot vCPU.

use super::layout::{IDENTITY_MAPPED, PDPT_ADDR, PD_ADDR, PML4_ADDR};
use vm_memory::{Bytes, GuestAddress, GuestMemory};

const PRESENT_RW: u64 = 0x3;
const HUGE: u64 = 0x80;

/// Writes PML4 → PDPT → PDs mapping [0, IDENTITY_MAPPED) 1:1.
pub fn write_identity_tables<M: GuestMemory>(mem: &M) -> Result<(), vm_memory::GuestMemoryError> {
    let bits = PRESENT_RW;
    mem.write_obj(PDPT_ADDR | bits, GuestAddress(PML4_ADDR))?;
    let gibs = IDENTITY_MAPPED >> 30;
    for g in 0..gibs {
        let pd = PD_ADDR + g * 0x1000;
        mem.write_obj(pd | bits, GuestAddress(PDPT_ADDR + g * 8))?;
        for i in 0..512u64 {
            let page = (g << 30) | (i << 21);
            mem.write_obj(page | bits | HUGE, GuestAddress(pd + i * 8))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestMemoryMmap;

    #[test]
    fn maps_the_first_gibs_one_to_one() {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x20000)]).unwrap();
        write_identity_tables(&mem).unwrap();
        let pml4: u64 = mem.read_obj(GuestAddress(PML4_ADDR)).unwrap();
        assert_eq!(pml4, PDPT_ADDR | 3);
        let second_gib: u64 = mem.read_obj(GuestAddress(PDPT_ADDR + 8)).unwrap();
        assert_eq!(second_gib, (PD_ADDR + 0x1000) | 3);
        let entry: u64 = mem
            .read_obj(GuestAddress(PD_ADDR + 0x1000 + 5 * 8))
            .unwrap();
        assert_eq!(entry, (1 << 30) | (5 << 21) | 0x83);
    }
}
