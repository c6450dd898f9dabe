//! The `qemu` backend: qemu-system-x86_64 `-M microvm` with our vsock and
//! block device cores served to it over vhost-user.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const QEMU_BINARY: &str = "qemu-system-x86_64";
/// The guest's vsock CID (any value ≥ 3 works; there is one guest per socket).
pub const GUEST_CID: u64 = 3;

pub fn find_qemu() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(QEMU_BINARY);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!("{QEMU_BINARY} not found; install it (Debian/Ubuntu: apt-get install qemu-system-x86)")
}

pub struct QemuConfig<'a> {
    pub qemu: &'a Path,
    pub kernel: &'a Path,
    pub initramfs: &'a Path,
    pub console_log: &'a Path,
    pub vhost_vsock: &'a Path,
    pub vhost_disk: &'a Path,
    pub cpus: u32,
    pub memory_mib: u32,
    pub kvm: bool,
    pub cmdline: &'a str,
}

pub fn command(cfg: &QemuConfig) -> Command {
    let mut cmd = Command::new(cfg.qemu);
    let mem = format!("{}M", cfg.memory_mib);
    // Without acpi=off a kernel built without ACPI finds no virtio-mmio
    // devices; QEMU adds them to the command line itself.
    cmd.args(["-M", "microvm,acpi=off,memory-backend=mem"]);
    cmd.args(["-m", &mem, "-smp", &cfg.cpus.to_string()]);
    // vhost-user needs guest memory the backend process can map: memfd, shared.
    cmd.args([
        "-object",
        &format!("memory-backend-memfd,id=mem,size={mem},share=on"),
    ]);
    if cfg.kvm {
        cmd.args(["-accel", "kvm", "-cpu", "host"]);
    } else {
        cmd.args(["-accel", "tcg", "-cpu", "max"]);
    }
    cmd.args(["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"]);
    cmd.arg("-serial");
    cmd.arg(format!("file:{}", cfg.console_log.display()));
    cmd.arg("-kernel").arg(cfg.kernel);
    cmd.arg("-initrd").arg(cfg.initramfs);
    // The agent powers off by resetting; -no-reboot turns that into an exit.
    cmd.args(["-append", cfg.cmdline]);
    cmd.arg("-chardev");
    cmd.arg(format!(
        "socket,id=vsock,path={}",
        cfg.vhost_vsock.display()
    ));
    cmd.args(["-device", "vhost-user-vsock-device,chardev=vsock"]);
    cmd.arg("-chardev");
    cmd.arg(format!("socket,id=disk,path={}", cfg.vhost_disk.display()));
    cmd.args(["-device", "vhost-user-blk,chardev=disk,num-queues=1"]);
    cmd
}
