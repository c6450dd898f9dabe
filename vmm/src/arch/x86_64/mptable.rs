//! The Intel MultiProcessor table (spec 1.4), so a kernel without ACPI finds
//! every vCPU and the IOAPIC. It lives in the EBDA, which the e820 map
//! leaves out of RAM.

use super::layout::{APIC_ADDR, EBDA_START, IOAPIC_ADDR};
use vm_memory::{Bytes, GuestAddress, GuestMemory};

/// The EBDA holds 1 KiB; 32 processor entries and the rest fit in it.
pub const MAX_CPUS: u32 = 32;
const IOAPIC_PINS: u8 = 24;
const APIC_VERSION: u8 = 0x14;
const IOAPIC_VERSION: u8 = 0x11;

#[derive(Debug, thiserror::Error)]
pub enum MpTableError {
    #[error("the MP table supports 1 to {MAX_CPUS} vCPUs, not {0}")]
    CpuCount(u32),
    #[error("writing the MP table to guest memory: {0}")]
    Write(#[from] vm_memory::GuestMemoryError),
}

fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b)))
}

/// Builds the configuration table (header + entries) for `cpus` vCPUs.
fn config_table(cpus: u32) -> Vec<u8> {
    let ioapic_id = cpus as u8;
    let mut entries = Vec::new();
    let mut count = 0u16;
    for id in 0..cpus {
        let flags = 1 | if id == 0 { 2 } else { 0 }; // enabled, bootstrap processor
        entries.extend_from_slice(&[0, id as u8, APIC_VERSION, flags]);
        entries.extend_from_slice(&0x600u32.to_le_bytes()); // family 6 signature
        entries.extend_from_slice(&0x201u32.to_le_bytes()); // FPU, APIC
        entries.extend_from_slice(&[0; 8]);
        count += 1;
    }
    entries.extend_from_slice(&[1, 0]);
    entries.extend_from_slice(b"ISA   ");
    entries.extend_from_slice(&[2, ioapic_id, IOAPIC_VERSION, 1]);
    entries.extend_from_slice(&IOAPIC_ADDR.to_le_bytes());
    count += 2;
    for pin in 0..IOAPIC_PINS {
        // I/O interrupt: INT type, conforming polarity/trigger, ISA irq → same pin.
        entries.extend_from_slice(&[3, 0, 0, 0, 0, pin, ioapic_id, pin]);
        count += 1;
    }
    // Local interrupts: ExtINT on LINT0, NMI on LINT1, for every local APIC.
    entries.extend_from_slice(&[4, 3, 0, 0, 0, 0, 0xff, 0]);
    entries.extend_from_slice(&[4, 1, 0, 0, 0, 0, 0xff, 1]);
    count += 2;

    let mut table = Vec::with_capacity(44 + entries.len());
    table.extend_from_slice(b"PCMP");
    table.extend_from_slice(&((44 + entries.len()) as u16).to_le_bytes());
    table.push(4); // spec revision 1.4
    table.push(0); // checksum, below
    table.extend_from_slice(b"HUTCH   ");
    table.extend_from_slice(b"000000000000");
    table.extend_from_slice(&[0; 4]); // no OEM table
    table.extend_from_slice(&[0; 2]);
    table.extend_from_slice(&count.to_le_bytes());
    table.extend_from_slice(&APIC_ADDR.to_le_bytes());
    table.extend_from_slice(&[0; 4]); // no extended table
    table.extend_from_slice(&entries);
    table[7] = checksum(&table);
    table
}

pub fn write_mptable<M: GuestMemory>(mem: &M, cpus: u32) -> Result<(), MpTableError> {
    if cpus == 0 || cpus > MAX_CPUS {
        return Err(MpTableError::CpuCount(cpus));
    }
    let table_addr = EBDA_START + 16;
    let mut floating = Vec::with_capacity(16);
    floating.extend_from_slice(b"_MP_");
    floating.extend_from_slice(&(table_addr as u32).to_le_bytes());
    floating.extend_from_slice(&[1, 4, 0, 0, 0, 0, 0, 0]);
    floating[10] = checksum(&floating);
    mem.write_slice(&floating, GuestAddress(EBDA_START))?;
    mem.write_slice(&config_table(cpus), GuestAddress(table_addr))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vm_memory::GuestMemoryMmap;

    #[test]
    fn checksums_are_zero_and_cpus_are_listed() {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
        write_mptable(&mem, 4).unwrap();
        let mut fp = [0u8; 16];
        mem.read_slice(&mut fp, GuestAddress(EBDA_START)).unwrap();
        assert_eq!(&fp[..4], b"_MP_");
        assert_eq!(fp.iter().fold(0u8, |a, b| a.wrapping_add(*b)), 0);
        let table = config_table(4);
        assert_eq!(table.iter().fold(0u8, |a, b| a.wrapping_add(*b)), 0);
        let processors = table[44..].chunks(20).take(4).filter(|e| e[0] == 0).count();
        assert_eq!(processors, 4);
        assert!(EBDA_START + 16 + table.len() as u64 <= 0xa0000);
        assert!(EBDA_START + 16 + config_table(MAX_CPUS).len() as u64 <= 0xa0000);
    }

    #[test]
    fn refuses_impossible_cpu_counts() {
        let mem = GuestMemoryMmap::<()>::from_ranges(&[(GuestAddress(0), 0x10_0000)]).unwrap();
        assert!(matches!(
            write_mptable(&mem, 0),
            Err(MpTableError::CpuCount(0))
        ));
        assert!(write_mptable(&mem, MAX_CPUS + 1).is_err());
    }
}
