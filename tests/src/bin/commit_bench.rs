//! The cost of `commit`: prints figures, asserts nothing.
//!
//!   cargo run --release -p hutch-tests --bin hutch-commit-bench
//!
//! A container writes 100 MiB of random bytes (which do not compress,
//! the worst case for the gzip pass). Median of 3: `hutch commit` of it
//! (freeze, read the writable layer as a tar over vsock, gzip and hash
//! into the store), next to the raw vsock stream of the same file
//! (`machine exec cat` of it out of the layer) and to the host's own
//! `gzip -1` of the same bytes.

use hutch_tests::{import_busybox, median, median_command_time, median_time, ms, Hutch};
use std::process::{Command, Stdio};
use std::time::Instant;

const MIB: u64 = 100;

fn main() {
    std::env::set_var("HUTCH_TEST_RELEASE", "1");
    let h = Hutch::new("commit-bench");
    import_busybox(&h, "busybox");
    let _machine = h.start("default");
    let count = format!("count={MIB}");
    h.ok(&[
        "run",
        "--name",
        "big",
        "busybox",
        "dd",
        "if=/dev/urandom",
        "of=/big",
        "bs=1M",
        &count,
    ]);
    let details: serde_json::Value = serde_json::from_str(&h.ok(&["inspect", "big"])).unwrap();
    let id = details[0]["Id"].as_str().expect("inspect gives the id");
    let in_machine = format!("/var/lib/hutch/containers/{id}/upper/big");

    let mut n = 0;
    let commit = median(
        (0..3)
            .map(|_| {
                n += 1;
                let name = format!("big:{n}");
                let began = Instant::now();
                h.ok(&["commit", "big", &name]);
                began.elapsed()
            })
            .collect(),
    );
    let raw = median_time(&h, 3, &["machine", "exec", "cat", &in_machine]);
    let copy = h.home.join("big.bin");
    let out = h
        .cmd(&["machine", "exec", "cat", &in_machine])
        .output()
        .unwrap();
    std::fs::write(&copy, &out.stdout).unwrap();
    let gzip = median_command_time(3, || {
        let mut gzip = Command::new("gzip");
        gzip.args(["-1", "-c"])
            .stdin(std::fs::File::open(&copy).unwrap())
            .stdout(Stdio::null());
        gzip
    });
    let rate = |d: std::time::Duration| MIB as f64 / d.as_secs_f64();
    println!("commit of a {MIB} MiB writable layer (random bytes), median of 3");
    println!(
        "  hutch commit                {:8.0} ms  {:6.1} MiB/s",
        ms(commit),
        rate(commit)
    );
    println!(
        "  raw vsock stream            {:8.0} ms  {:6.1} MiB/s (machine exec cat)",
        ms(raw),
        rate(raw)
    );
    println!(
        "  host gzip -1 of the bytes   {:8.0} ms  {:6.1} MiB/s",
        ms(gzip),
        rate(gzip)
    );
    println!(
        "  commit / raw stream: {:.2}x",
        commit.as_secs_f64() / raw.as_secs_f64()
    );
}
