//! hutch benchmarks: prints figures, asserts nothing.
//!
//!   cargo run --release -p hutch-tests --bin hutch-bench
//!
//! - machine start → agent ready (median of 5), next to the same kernel and
//!   initramfs booted by bare QEMU to the agent's "ready" console line: the
//!   difference is hutch's own cost (probe, monitor, vsock device, handshake);
//! - `machine exec true` round trip (median of 20);
//! - `machine exec` stdout throughput (MiB/s, median of 3 × 256 MiB), next
//!   to the guest producing the same bytes into /dev/null (the floor TCG
//!   sets, without our transport).

use hutch_tests::{guest_dir, median, median_time, ms, Hutch};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Bare QEMU with the same machine type, kernel and initramfs, until the
/// agent prints "ready" on the serial console.
fn bare_qemu_boot() -> Duration {
    let guest = guest_dir();
    let began = Instant::now();
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-M",
            "microvm,acpi=off",
            "-m",
            "512M",
            "-smp",
            "2",
            "-accel",
            "tcg",
            "-cpu",
            "max",
        ])
        .args([
            "-nodefaults",
            "-no-user-config",
            "-nographic",
            "-no-reboot",
            "-serial",
            "stdio",
        ])
        .arg("-kernel")
        .arg(guest.join("vmlinux"))
        .arg("-initrd")
        .arg(guest.join("initramfs.cpio.gz"))
        .args(["-append", "console=ttyS0 reboot=k panic=-1 quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("qemu-system-x86_64");
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        if line
            .map(|l| l.contains("hutch-agent: ready"))
            .unwrap_or(true)
        {
            break;
        }
    }
    let took = began.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    took
}

fn main() {
    std::env::set_var("HUTCH_TEST_RELEASE", "1");
    let h = Hutch::new("bench");

    let mut starts = Vec::new();
    for _ in 0..5 {
        let began = Instant::now();
        h.ok(&["machine", "start", "--name", "bench"]);
        starts.push(began.elapsed());
        h.ok(&["machine", "stop", "--name", "bench"]);
    }
    let bare: Vec<Duration> = (0..5).map(|_| bare_qemu_boot()).collect();
    let (hutch_start, bare_start) = (median(starts), median(bare));
    println!("machine start → agent ready (TCG, median of 5)");
    println!("  hutch machine start      {:8.1} ms", ms(hutch_start));
    println!("  bare qemu to agent line  {:8.1} ms", ms(bare_start));
    println!(
        "  ratio                    {:8.2}x",
        hutch_start.as_secs_f64() / bare_start.as_secs_f64()
    );

    let m = h.start("bench");
    let round_trip = median_time(
        &h,
        20,
        &["machine", "exec", "--name", "bench", "--", "true"],
    );
    println!(
        "machine exec true round trip (median of 20): {:.1} ms",
        ms(round_trip)
    );

    const BYTES: usize = 256 << 20;
    let dd = [
        "dd",
        "if=/dev/zero",
        "bs=65536",
        "count=4096",
        "status=none",
    ];
    let mut streamed = vec!["machine", "exec", "--name", "bench", "--"];
    streamed.extend(dd);
    let to_null = format!("{} > /dev/null", dd.join(" "));
    let guest_only = [
        "machine", "exec", "--name", "bench", "--", "sh", "-c", &to_null,
    ];
    let time_runs = |args: &[&str], expect: usize| {
        median(
            (0..3)
                .map(|_| {
                    let began = Instant::now();
                    let out = h.cmd(args).stdout(Stdio::piped()).output().unwrap();
                    assert_eq!(out.stdout.len(), expect, "short read in throughput run");
                    began.elapsed()
                })
                .collect(),
        )
    };
    let mib_s = |d: Duration| (BYTES >> 20) as f64 / d.as_secs_f64();
    let (through, floor) = (time_runs(&streamed, BYTES), time_runs(&guest_only, 0));
    println!("machine exec stdout throughput (dd 256 MiB, median of 3)");
    println!("  streamed to the host     {:8.1} MiB/s", mib_s(through));
    println!("  guest alone to /dev/null {:8.1} MiB/s", mib_s(floor));
    drop(m);
}
