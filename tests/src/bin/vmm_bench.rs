//! Benchmarks of hutch's own VMM against QEMU, printed, asserting nothing:
//!
//!   cargo run --release -p hutch-tests --bin hutch-vmm-bench
//!
//! - start → first guest instruction → exit: a guest that writes one byte
//!   to the serial port and resets, as a PVH ELF that both hutch's VMM and
//!   `qemu-system-x86_64 -M microvm` (KVM and TCG) boot directly (median
//!   of 20 each);
//! - memory overhead: peak RSS of the VMM process minus the guest memory
//!   the run touched, for 128 MiB and 1 GiB machines (QEMU's peak RSS for
//!   the same guest, on KVM, alongside).

use hutch_tests::{median, ms};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const LOAD: u64 = 0x10_0000;

/// Writes '!' to the serial port, then 0 to port 0xf4 (QEMU's
/// isa-debug-exit: QEMU exits; our VMM has nothing there), then pulses the
/// i8042 reset (our VMM exits). The bytes mean the same in 32-bit (PVH
/// entry) and 64-bit mode.
fn guest() -> Vec<u8> {
    let mut code = Vec::new();
    for (port, value) in [(0x3f8u16, b'!'), (0xf4, 0), (0x64, 0xfe)] {
        let [lo, hi] = port.to_le_bytes();
        code.extend_from_slice(&[0x66, 0xba, lo, hi, 0xb0, value, 0xee]); // mov dx; mov al; out
    }
    code.extend_from_slice(&[0xeb, 0xfe]); // jmp $
    code
}

/// An ELF64 image: one PT_LOAD at LOAD, and a PT_NOTE with the Xen PVH
/// entry point (XEN_ELFNOTE_PHYS32_ENTRY) so QEMU boots it directly.
fn pvh_elf(code: &[u8]) -> Vec<u8> {
    let mut note = Vec::new();
    note.extend_from_slice(&4u32.to_le_bytes()); // namesz
    note.extend_from_slice(&4u32.to_le_bytes()); // descsz
    note.extend_from_slice(&18u32.to_le_bytes()); // XEN_ELFNOTE_PHYS32_ENTRY
    note.extend_from_slice(b"Xen\0");
    note.extend_from_slice(&(LOAD as u32).to_le_bytes());
    let note_off = 64 + 2 * 56u64;
    let code_off = 0x1000u64;

    let mut e = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    e.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    e.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    e.extend_from_slice(&1u32.to_le_bytes());
    e.extend_from_slice(&LOAD.to_le_bytes()); // entry
    e.extend_from_slice(&64u64.to_le_bytes()); // phoff
    e.extend_from_slice(&0u64.to_le_bytes()); // shoff
    e.extend_from_slice(&0u32.to_le_bytes()); // flags
    for v in [64u16, 56, 2, 64, 0, 0] {
        e.extend_from_slice(&v.to_le_bytes()); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    }
    let phdr =
        |e: &mut Vec<u8>, kind: u32, flags: u32, off: u64, addr: u64, size: u64, align: u64| {
            e.extend_from_slice(&kind.to_le_bytes());
            e.extend_from_slice(&flags.to_le_bytes());
            for v in [off, addr, addr, size, size, align] {
                e.extend_from_slice(&v.to_le_bytes());
            }
        };
    phdr(&mut e, 1, 5, code_off, LOAD, code.len() as u64, 0x1000);
    phdr(&mut e, 4, 4, note_off, 0, note.len() as u64, 4);
    e.extend_from_slice(&note);
    e.resize(code_off as usize, 0);
    e.extend_from_slice(code);
    e
}

fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .expect("own path")
        .with_file_name(name)
}

fn qemu(image: &Path, memory_mib: u32, accel: &str) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    let memory = format!("{memory_mib}M");
    cmd.args(["-M", "microvm,acpi=off", "-m", &memory, "-accel", accel])
        .args(["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"])
        .args([
            "-serial",
            "stdio",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=4",
        ])
        .arg("-kernel")
        .arg(image);
    cmd
}

fn hutch_vmm(image: &Path, memory_mib: u32) -> Command {
    let mut cmd = Command::new(sibling("hutch-vmm-run"));
    cmd.arg(image).arg(memory_mib.to_string());
    cmd
}

/// Runs to completion; returns (wall time, peak RSS in bytes, stdout, stderr).
// The child is reaped with wait4 (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn measure(mut cmd: Command) -> (Duration, u64, String, String) {
    use std::io::Read;
    let began = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let errs = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut stdout = String::new();
    let _ = out.read_to_string(&mut stdout);
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 reaps our own child and fills it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; valid out-pointers for the call's duration.
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let took = began.elapsed();
    (
        took,
        usage.ru_maxrss as u64 * 1024,
        stdout,
        errs.join().unwrap_or_default(),
    )
}

/// Builds the command for one run of a contender.
type Launcher<'a> = Box<dyn Fn() -> Command + 'a>;

fn main() {
    let image = std::env::temp_dir().join(format!("hutch-pvh-guest-{}.elf", std::process::id()));
    std::fs::write(&image, pvh_elf(&guest())).expect("writing the guest image");

    let mut runs = Vec::new();
    let contenders: [(&str, Launcher); 3] = [
        ("hutch native (KVM)", Box::new(|| hutch_vmm(&image, 128))),
        ("qemu microvm (KVM)", Box::new(|| qemu(&image, 128, "kvm"))),
        ("qemu microvm (TCG)", Box::new(|| qemu(&image, 128, "tcg"))),
    ];
    for (name, make) in &contenders {
        let times: Vec<Duration> = (0..20)
            .map(|_| {
                let (t, _, out, err) = measure(make());
                assert_eq!(out, "!", "{name}: guest output {out:?}, stderr {err}");
                t
            })
            .collect();
        runs.push((name, median(times)));
    }
    println!("VMM start → guest writes a byte → reset → exit (median of 20)");
    for (name, t) in &runs {
        println!("  {name:<22} {:8.2} ms", ms(*t));
    }
    for (name, t) in &runs[1..] {
        println!(
            "  {name} / hutch: {:.1}x",
            t.as_secs_f64() / runs[0].1.as_secs_f64()
        );
    }

    println!("VMM memory overhead (peak RSS minus touched guest memory)");
    for memory in [128u32, 1024] {
        let (_, rss, _, err) = measure(hutch_vmm(&image, memory));
        let touched: u64 = err
            .lines()
            .find_map(|l| l.strip_prefix("guest_resident_bytes="))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let (_, qemu_rss, _, _) = measure(qemu(&image, memory, "kvm"));
        println!(
            "  {memory:>5} MiB guest: hutch {:6.1} MiB ({:.1} MiB RSS − {:.1} MiB guest)   qemu (KVM) peak RSS {:6.1} MiB",
            rss.saturating_sub(touched) as f64 / 1048576.0,
            rss as f64 / 1048576.0,
            touched as f64 / 1048576.0,
            qemu_rss as f64 / 1048576.0,
        );
    }
    let _ = std::fs::remove_file(&image);
}
