//! Image benchmarks, printed, asserting nothing:
//!
//!   cargo run --release -p hutch-tests --bin hutch-image-bench
//!
//! - pull of a ~100 MiB four-layer image from a local registry: hutch vs
//!   `skopeo copy` to an OCI directory (median of 3, each into an empty store);
//! - bytes stored for two images sharing a base vs the sum of their sizes;
//! - layer delivery into a running machine (`image mount` of that image
//!   into an empty layer cache: upload, unpack, verify) against the raw
//!   vsock stream (`machine exec -i cat > /dev/null` of the same bytes).

use hutch_tests::registry::{docker_archive, push, random_layer, Registry};
use hutch_tests::{median, Hutch};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn main() {
    std::env::set_var("HUTCH_TEST_RELEASE", "1");
    let setup = Hutch::new("image-bench");
    let work = setup.home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let sizes = [30, 30, 20, 20];
    let layers: Vec<_> = sizes
        .iter()
        .enumerate()
        .map(|(i, mib)| random_layer(&work, &format!("layer{i}"), *mib))
        .collect();
    let refs: Vec<&Path> = layers.iter().map(|p| p.as_path()).collect();
    let registry = Registry::start(&work);
    let host = registry.host();
    push(
        &docker_archive(&work, "base:1", &refs[..3]),
        &format!("{host}/base:1"),
    );
    push(
        &docker_archive(&work, "app:1", &refs),
        &format!("{host}/app:1"),
    );
    let total: usize = sizes.iter().sum();

    let hutch_runs: Vec<Duration> = (0..3)
        .map(|i| {
            let h = Hutch::new(&format!("image-bench-pull{i}"));
            let began = Instant::now();
            h.ok(&["pull", &format!("{host}/app:1")]);
            began.elapsed()
        })
        .collect();
    let skopeo_runs: Vec<Duration> = (0..3)
        .map(|i| {
            let dest = work.join(format!("oci-{i}"));
            let began = Instant::now();
            let ok = Command::new("skopeo")
                .args(["copy", "-q", "--src-tls-verify=false"])
                .arg(format!("docker://{host}/app:1"))
                .arg(format!("oci:{}:app", dest.display()))
                .status()
                .expect("skopeo");
            assert!(ok.success());
            began.elapsed()
        })
        .collect();
    let (hutch, skopeo) = (median(hutch_runs), median(skopeo_runs));
    println!("pull of a {total} MiB, 4-layer image from a local registry (median of 3)");
    println!(
        "  hutch pull          {:8.0} ms  {:6.0} MiB/s",
        hutch.as_secs_f64() * 1e3,
        total as f64 / hutch.as_secs_f64()
    );
    println!(
        "  skopeo copy → oci:  {:8.0} ms  {:6.0} MiB/s",
        skopeo.as_secs_f64() * 1e3,
        total as f64 / skopeo.as_secs_f64()
    );
    println!(
        "  ratio hutch/skopeo  {:8.2}x",
        hutch.as_secs_f64() / skopeo.as_secs_f64()
    );

    let h = Hutch::new("image-bench-shared");
    h.ok(&["pull", &format!("{host}/base:1")]);
    h.ok(&["pull", &format!("{host}/app:1")]);
    let inspect: serde_json::Value = serde_json::from_str(&h.ok(&[
        "image",
        "inspect",
        &format!("{host}/base:1"),
        &format!("{host}/app:1"),
    ]))
    .unwrap();
    let sum: u64 = inspect
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["StoredSize"].as_u64().unwrap())
        .sum();
    let stored = dir_bytes(&h.home.join("store/blobs/sha256"));
    println!("two images sharing a 3-layer base");
    println!("  sum of image sizes  {:8.1} MiB", sum as f64 / 1048576.0);
    println!(
        "  bytes stored        {:8.1} MiB ({:.0}% of the sum)",
        stored as f64 / 1048576.0,
        100.0 * stored as f64 / sum as f64
    );

    deliver(&h, &host, &layers, &work);
}

/// Times the delivery of app:1 (already pulled into `h`) into a fresh
/// machine and the raw transport floor for the same bytes.
fn deliver(h: &Hutch, host: &str, layers: &[std::path::PathBuf], work: &Path) {
    let _machine = h.start("default");
    let image = format!("{host}/app:1");
    let began = Instant::now();
    h.ok(&["image", "mount", &image]);
    let cold = began.elapsed();
    let began = Instant::now();
    h.ok(&["image", "mount", &image]);
    let warm = began.elapsed();
    let bytes: u64 = layers
        .iter()
        .map(|l| std::fs::metadata(l).unwrap().len())
        .sum();
    let all = work.join("all-layers.bin");
    let mut out = std::fs::File::create(&all).unwrap();
    for l in layers {
        std::io::copy(&mut std::fs::File::open(l).unwrap(), &mut out).unwrap();
    }
    let began = Instant::now();
    let status = h
        .cmd(&["machine", "exec", "-i", "--", "sh", "-c", "cat > /dev/null"])
        .stdin(std::fs::File::open(&all).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
    let raw = began.elapsed();
    let mib = bytes as f64 / 1048576.0;
    println!("layer delivery of {mib:.0} MiB (4 layers) into a running machine");
    println!(
        "  image mount, cold   {:8.0} ms  {:6.1} MiB/s (upload, unpack, verify)",
        cold.as_secs_f64() * 1e3,
        mib / cold.as_secs_f64()
    );
    println!("  image mount, cached {:8.0} ms", warm.as_secs_f64() * 1e3);
    println!(
        "  raw vsock stream    {:8.0} ms  {:6.1} MiB/s (exec -i cat > /dev/null)",
        raw.as_secs_f64() * 1e3,
        mib / raw.as_secs_f64()
    );
}
