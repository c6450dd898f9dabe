//! The Docker API's cost: prints figures, asserts nothing.
//!
//!   cargo run --release -p hutch-tests --bin hutch-api-bench
//!
//! In one running machine (TCG), median of HUTCH_BENCH_RUNS (default 20):
//! `docker run --rm busybox true` through `hutch system service`, next to
//! `hutch run --rm busybox true` (the same work without the API) and to
//! `hutch machine exec true` (the floor: one process in the machine, no
//! container).

use hutch_tests::docker::Service;
use hutch_tests::{import_busybox, median_command_time, median_time, ms, Hutch};

fn main() {
    std::env::set_var("HUTCH_TEST_RELEASE", "1");
    let runs: usize = std::env::var("HUTCH_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let h = Hutch::new("api-bench");
    import_busybox(&h, "busybox");
    let _machine = h.start("default");
    let service = Service::start(&h);
    // Warm: the image's layers reach the machine's cache once.
    service.docker_ok(&["run", "--rm", "busybox", "true"]);
    h.ok(&["run", "--rm", "busybox", "true"]);

    let docker = median_command_time(runs, || {
        service.docker_cmd(&["run", "--rm", "busybox", "true"])
    });
    let hutch = median_time(&h, runs, &["run", "--rm", "busybox", "true"]);
    let floor = median_time(&h, runs, &["machine", "exec", "true"]);
    println!("container start → exit, median of {runs} (ms):");
    println!(
        "  docker run --rm busybox true (via hutch's API)  {:8.1}",
        ms(docker)
    );
    println!(
        "  hutch run --rm busybox true                     {:8.1}",
        ms(hutch)
    );
    println!(
        "  hutch machine exec true (floor)                 {:8.1}",
        ms(floor)
    );
    println!(
        "  the API adds {:.1} ms ({:.2}x hutch run)",
        ms(docker) - ms(hutch),
        docker.as_secs_f64() / hutch.as_secs_f64()
    );
}
