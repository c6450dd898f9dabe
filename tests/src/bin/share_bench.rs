//! Bind-mount benchmarks: prints figures, asserts nothing.
//!
//!   cargo run --release -p hutch-tests --bin hutch-share-bench
//!
//! One machine (TCG). A developer's workload, the same busybox commands in
//! three places: a host directory shared over virtio-fs (what `-v
//! /host:/ctr` mounts), the machine's own disk, and natively on the host:
//! unpack a source tree of 10,000 files (100 directories), stat every
//! file, read every file, write 1,000 files, delete them all. Then 128 MiB
//! written and read back (caches dropped) sequentially on the share and on
//! the machine's disk, next to the raw vsock stream (a machine `exec`'s
//! stdin). Each phase runs in the machine through `machine exec`, whose
//! own cost (`exec true`, printed) is in every machine figure. Each
//! figure is the median of 3 runs (HUTCH_BENCH_RUNS).

use hutch_tests::{median, Hutch};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs per figure (HUTCH_BENCH_RUNS overrides).
fn runs() -> usize {
    std::env::var("HUTCH_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
}
const MIB: u64 = 1 << 20;
const BIG: u64 = 128 * MIB;

/// Makes a tar of 10,000 files of 1-4 KiB in 100 directories.
fn source_tree_tar(home: &Path) -> std::path::PathBuf {
    let tree = home.join("tree-src");
    let mut x: u64 = 0x9e37_79b9;
    for d in 0..100 {
        let dir = tree.join(format!("pkg{d:03}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1024 + (x % 3072) as usize;
            std::fs::write(
                dir.join(format!("m{f:03}.js")),
                vec![b'a' + (f % 26) as u8; len],
            )
            .unwrap();
        }
    }
    let tar = home.join("tree.tar");
    let ok = Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&tree)
        .arg(".")
        .status()
        .unwrap()
        .success();
    assert!(ok, "tar");
    std::fs::remove_dir_all(&tree).unwrap();
    tar
}

/// The workload's phases as shell commands on directory `{d}`.
fn phases(tar: &Path) -> Vec<(&'static str, String)> {
    let tar = tar.display();
    vec![
        ("unpack 10,000 files", format!("mkdir -p {{d}}/tree && tar -xf {tar} -C {{d}}/tree")),
        ("stat every file", "find {d}/tree -type f | xargs stat -c %s > /dev/null".into()),
        ("read every file", "find {d}/tree -type f | xargs cat > /dev/null".into()),
        (
            "write 1,000 files",
            "mkdir -p {d}/w && i=0 && while [ $i -lt 1000 ]; do echo $i > {d}/w/$i; i=$((i+1)); done"
                .into(),
        ),
        ("delete them all", "rm -rf {d}/tree {d}/w".into()),
    ]
}

fn timed(mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn in_machine(h: &Hutch, script: &str) {
    let out = h.run(&["machine", "exec", "sh", "-c", script]);
    assert!(out.status.success(), "{script}: {out:?}");
}

fn on_host(script: &str) {
    let ok = Command::new("/bin/busybox")
        .args(["sh", "-c", script])
        .status()
        .unwrap()
        .success();
    assert!(ok, "{script}");
}

/// The median time of each phase, the phases run in order each time.
fn workload(tar: &Path, dir: &Path, mut run: impl FnMut(&str)) -> Vec<Duration> {
    let phases = phases(tar);
    let mut times = vec![Vec::new(); phases.len()];
    for _ in 0..runs() {
        for (i, (_, script)) in phases.iter().enumerate() {
            let script = script.replace("{d}", &dir.display().to_string());
            times[i].push(timed(|| run(&script)));
        }
    }
    times.into_iter().map(median).collect()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn rate(d: Duration) -> f64 {
    BIG as f64 / MIB as f64 / d.as_secs_f64()
}

fn main() {
    // The file server is the hutch binary: measure the release build.
    std::env::set_var("HUTCH_TEST_RELEASE", "1");
    let h = Hutch::new("share-bench");
    let _machine = h.start("default");
    let tar = source_tree_tar(&h.home);
    let share_dir = h.home.join("work");
    std::fs::create_dir_all(&share_dir).unwrap();
    let disk_dir = Path::new("/var/lib/hutch/bench");
    let native_dir = h.home.join("native");

    let floor = median(
        (0..runs())
            .map(|_| timed(|| in_machine(&h, "true")))
            .collect(),
    );
    println!(
        "machine exec true (in every machine figure): {:.2} s",
        secs(floor)
    );
    let shared = workload(&tar, &share_dir, |s| in_machine(&h, s));
    let disk = workload(&tar, disk_dir, |s| in_machine(&h, s));
    let native = workload(&tar, &native_dir, on_host);
    println!(
        "{:<22} {:>10} {:>12} {:>10} {:>14}",
        "phase (median)", "bind", "machine disk", "host", "bind / disk"
    );
    let mut totals = [Duration::ZERO; 3];
    for (i, (name, _)) in phases(&tar).iter().enumerate() {
        totals[0] += shared[i];
        totals[1] += disk[i];
        totals[2] += native[i];
        println!(
            "{name:<22} {:>8.2} s {:>10.2} s {:>8.2} s {:>13.2}x",
            secs(shared[i]),
            secs(disk[i]),
            secs(native[i]),
            secs(shared[i]) / secs(disk[i])
        );
    }
    println!(
        "{:<22} {:>8.2} s {:>10.2} s {:>8.2} s {:>13.2}x",
        "total",
        secs(totals[0]),
        secs(totals[1]),
        secs(totals[2]),
        secs(totals[0]) / secs(totals[1])
    );

    // Large-file sequential I/O, caches dropped before the read.
    let count = BIG / MIB;
    let io = |dir: &Path| {
        let file = dir.join("big");
        let file = file.display();
        let write = median(
            (0..runs())
                .map(|_| {
                    timed(|| {
                        in_machine(
                            &h,
                            &format!("dd if=/dev/zero of={file} bs=1M count={count} conv=fsync 2>/dev/null"),
                        )
                    })
                })
                .collect(),
        );
        let read = median(
            (0..runs())
                .map(|_| {
                    in_machine(&h, "sync; echo 3 > /proc/sys/vm/drop_caches");
                    timed(|| {
                        in_machine(&h, &format!("dd if={file} of=/dev/null bs=1M 2>/dev/null"))
                    })
                })
                .collect(),
        );
        in_machine(&h, &format!("rm -f {file}"));
        (write, read)
    };
    let (share_w, share_r) = io(&share_dir);
    in_machine(&h, &format!("mkdir -p {}", disk_dir.display()));
    let (disk_w, disk_r) = io(disk_dir);
    let big = h.home.join("big");
    std::fs::write(&big, vec![0u8; BIG as usize]).unwrap();
    let stream = median(
        (0..runs())
            .map(|_| {
                timed(|| {
                    let file = std::fs::File::open(&big).unwrap();
                    let ok = h
                        .cmd(&["machine", "exec", "-i", "sh", "-c", "cat > /dev/null"])
                        .stdin(Stdio::from(file))
                        .status()
                        .unwrap()
                        .success();
                    assert!(ok);
                })
            })
            .collect(),
    );
    println!("128 MiB sequential      write MiB/s   read MiB/s");
    println!(
        "bind mount (virtio-fs) {:>12.1} {:>12.1}",
        rate(share_w),
        rate(share_r)
    );
    println!(
        "machine disk           {:>12.1} {:>12.1}",
        rate(disk_w),
        rate(disk_r)
    );
    println!(
        "raw vsock stream       {:>12.1}   (host → machine)",
        rate(stream)
    );
}
