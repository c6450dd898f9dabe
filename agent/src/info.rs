//! Facts about the guest for `machine status`.

use protocol::GuestInfo;

pub fn guest_info() -> GuestInfo {
    // SAFETY: utsname and sysinfo are plain data filled in by the kernel.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid out-pointer.
    unsafe { libc::uname(&mut uts) };
    // SAFETY: as above.
    let mut si: libc::sysinfo = unsafe { std::mem::zeroed() };
    // SAFETY: `si` is a valid out-pointer.
    unsafe { libc::sysinfo(&mut si) };
    // SAFETY: sysconf has no preconditions.
    let cpus = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let text = |field: &[libc::c_char]| {
        let bytes: Vec<u8> = field
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let uptime_ms = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map(|secs| (secs * 1000.0) as u64)
        .unwrap_or(0);
    GuestInfo {
        kernel: format!("{} {}", text(&uts.sysname), text(&uts.release)),
        hostname: text(&uts.nodename),
        uptime_ms,
        cpus: cpus.max(0) as u32,
        memory_bytes: si.totalram as u64 * si.mem_unit as u64,
    }
}
