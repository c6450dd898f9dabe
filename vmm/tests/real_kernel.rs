//! Our VMM boots the real guest kernel far enough to prove the boot
//! protocol: the version banner, our exact command line, and the e820 map we
//! built. On a KVM that cannot deliver guest exceptions (PVM, as on hutch's
//! CI machine) the kernel then stops at its int3 self-test, which the test
//! accepts and documents; on hardware KVM it would go on booting, and the
//! test stops the machine once it has seen what it needs.

use hutch_vmm::runner::{Boot, Machine, MachineConfig, MachineExit};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Collects console output and wakes the test when a line arrives.
#[derive(Clone, Default)]
struct Console(Arc<(Mutex<Vec<u8>>, Condvar)>);

impl Write for Console {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 .0.lock().unwrap().extend_from_slice(buf);
        self.0 .1.notify_all();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn guest_kernel() -> PathBuf {
    let dir = std::env::var_os("HUTCH_GUEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guest"));
    let kernel = dir.join("vmlinux");
    assert!(
        kernel.is_file(),
        "no guest kernel at {}: run ./install.sh --no-demo",
        kernel.display()
    );
    kernel
}

#[test]
fn real_kernel_prints_banner_cmdline_and_our_e820_map() {
    const CMDLINE: &str =
        "console=ttyS0 earlyprintk=serial,ttyS0,115200 reboot=k panic=-1 hutch.test=early-boot";
    let console = Console::default();
    let machine = Machine::new(MachineConfig {
        devices: Vec::new(),
        cpus: 1,
        memory_mib: 256,
        boot: Boot::Linux {
            kernel: guest_kernel(),
            initramfs: None,
            cmdline: CMDLINE.into(),
        },
        console: Box::new(console.clone()),
    });
    let stop = machine.stop_handle();
    let runner = std::thread::spawn(move || machine.run());

    let wanted = [
        "Linux version 6.1".to_string(),
        format!("Command line: {CMDLINE}"),
        // Our e820 map: low RAM up to the EBDA, then 1 MiB to the end of RAM.
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable".to_string(),
        "BIOS-e820: [mem 0x0000000000100000-0x000000000fffffff] usable".to_string(),
        // And our MP table, where we put it.
        "found SMP MP-table at [mem 0x0009fc00-0x0009fc0f]".to_string(),
    ];
    let deadline = Instant::now() + Duration::from_secs(120);
    let (lock, cv) = &*console.0;
    let mut text = String::new();
    let mut out = lock.lock().unwrap();
    while Instant::now() < deadline {
        text = String::from_utf8_lossy(&out).into_owned();
        if wanted.iter().all(|w| text.contains(w.as_str())) || runner.is_finished() {
            break;
        }
        out = cv.wait_timeout(out, Duration::from_millis(500)).unwrap().0;
    }
    drop(out);
    stop.stop();
    let exit = runner.join().unwrap().expect("machine setup");
    for w in &wanted {
        assert!(
            text.contains(w.as_str()),
            "console lacks {w:?} (exit {exit:?}):\n{text}"
        );
    }
    // Either we stopped it, or (PVM) it died at the first exception it took.
    assert!(
        matches!(exit, MachineExit::Stopped | MachineExit::VcpuFailed { .. }),
        "unexpected end: {exit:?}"
    );
    eprintln!("machine ended with {exit:?}");
}
