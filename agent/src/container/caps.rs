//! Capabilities: the bounding set is cut to what the spec keeps, and a
//! root process gets exactly those as effective/permitted/inheritable.

use oci_spec::runtime::{Capabilities, Capability};
use std::io;

fn number(cap: &Capability) -> Option<u32> {
    let name = cap.to_string();
    protocol::CAPABILITY_NAMES
        .iter()
        .position(|n| *n == name)
        .map(|n| n as u32)
}

/// The set as the kernel's two 32-bit words.
fn mask(caps: Option<&Capabilities>) -> u64 {
    caps.into_iter()
        .flatten()
        .filter_map(number)
        .fold(0, |m, n| m | 1 << n)
}

/// Drops every capability outside `bounding` from the bounding set, so
/// nothing run later (setuid binaries included) can regain it.
pub fn limit_bounding(bounding: Option<&Capabilities>) -> io::Result<()> {
    let keep = mask(bounding);
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(protocol::CAPABILITY_NAMES.len() as u32 - 1);
    for cap in 0..=last {
        if keep & (1 << cap) == 0 {
            // SAFETY: prctl with plain integer arguments.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Sets this process's effective, permitted and inheritable sets.
pub fn set(
    effective: Option<&Capabilities>,
    permitted: Option<&Capabilities>,
    inheritable: Option<&Capabilities>,
) -> io::Result<()> {
    const VERSION_3: u32 = 0x2008_0522;
    let (e, p, i) = (mask(effective), mask(permitted), mask(inheritable));
    let header = CapHeader {
        version: VERSION_3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: e as u32,
            permitted: p as u32,
            inheritable: i as u32,
        },
        CapData {
            effective: (e >> 32) as u32,
            permitted: (p >> 32) as u32,
            inheritable: (i >> 32) as u32,
        },
    ];
    // SAFETY: capset(2) reads one header and two data words, all valid here.
    if unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_kernel_numbers() {
        assert_eq!(number(&Capability::Chown), Some(0));
        assert_eq!(number(&Capability::NetBindService), Some(10));
        assert_eq!(number(&Capability::AuditWrite), Some(29));
        assert_eq!(number(&Capability::CheckpointRestore), Some(40));
        let set: Capabilities = [Capability::Kill, Capability::Bpf].into_iter().collect();
        assert_eq!(mask(Some(&set)), 1 << 5 | 1 << 39);
    }
}
