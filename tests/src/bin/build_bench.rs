//! The cost of `build`: prints figures, asserts nothing.
//!
//!   cargo run --release -p hutch-tests --bin hutch-build-bench
//!
//! A 10-step Dockerfile (two COPYs, one of a 32 MiB directory of 64
//! files, two RUNs and config steps). Medians: the build from nothing
//! (`--no-cache`), a rebuild with nothing changed (every step from the
//! cache: the context is hashed, nothing reaches the machine), and a
//! rebuild after one small copied file changed (that COPY and the 4 steps
//! after it run again). Next to them, in the same run: `hutch run --rm
//! busybox true` (one container's life, what each RUN costs at least)
//! and `hutch images` (the CLI and store alone, the floor of any
//! command).

use hutch_tests::{import_busybox, median, median_time, ms, Hutch};
use std::time::{Duration, Instant};

const DOCKERFILE: &str = "FROM busybox
ENV APP=/srv/app
WORKDIR /srv/app
COPY data/ ./data/
RUN du -s data > /srv/size
COPY app.txt .
RUN cat app.txt > /srv/seen
LABEL bench=build
EXPOSE 8080
CMD [\"cat\", \"/srv/seen\"]
";

fn main() {
    std::env::set_var("HUTCH_TEST_RELEASE", "1");
    let h = Hutch::new("build-bench");
    import_busybox(&h, "busybox");
    let _machine = h.start("default");
    let context = h.home.join("context");
    std::fs::create_dir_all(context.join("data")).unwrap();
    std::fs::write(context.join("Dockerfile"), DOCKERFILE).unwrap();
    std::fs::write(context.join("app.txt"), "version 0\n").unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for n in 0..64 {
        // Incompressible bytes: the copy's and the layer's worst case.
        let bytes: Vec<u8> = (0..512 * 1024)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        std::fs::write(context.join(format!("data/{n:02}.bin")), bytes).unwrap();
    }
    let ctx = context.to_str().unwrap();
    let timed = |args: &[&str]| {
        let began = Instant::now();
        h.ok(args);
        began.elapsed()
    };
    let full = median(
        (0..3)
            .map(|_| timed(&["build", "--no-cache", "-q", "-t", "bench:1", ctx]))
            .collect(),
    );
    let cached = median_time(&h, 5, &["build", "-q", "-t", "bench:1", ctx]);
    let changed: Vec<Duration> = (1..=3)
        .map(|n| {
            std::fs::write(context.join("app.txt"), format!("version {n}\n")).unwrap();
            timed(&["build", "-q", "-t", "bench:1", ctx])
        })
        .collect();
    let changed = median(changed);
    let container = median_time(&h, 5, &["run", "--rm", "busybox", "true"]);
    let images = median_time(&h, 5, &["images"]);
    println!("build of a 10-step Dockerfile (a 32 MiB COPY, 2 RUNs), medians");
    println!(
        "  from nothing (--no-cache), 3 runs     {:8.0} ms",
        ms(full)
    );
    println!(
        "  nothing changed (all cached), 5 runs  {:8.0} ms",
        ms(cached)
    );
    println!(
        "  one COPY source changed, 3 runs       {:8.0} ms  (5 steps run)",
        ms(changed)
    );
    println!(
        "  peer: hutch run --rm busybox true     {:8.0} ms",
        ms(container)
    );
    println!(
        "  peer: hutch images                    {:8.0} ms",
        ms(images)
    );
}
