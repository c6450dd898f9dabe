//! The `qemu` backend: qemu-system-x86_64 `-M microvm` with our vsock and
//! block device cores served to it over vhost-user.

use super::error::MachineError;
use std::path::{Path, PathBuf};
use std::process::Command;
use vmm::devices::DeviceConfig;
use vmm::hypervisor::Accel;

pub const QEMU_BINARY: &str = "qemu-system-x86_64";
/// The guest's vsock CID (any value ≥ 3 works; there is one guest per socket).
pub const GUEST_CID: u64 = 3;

pub fn find_qemu() -> Result<PathBuf, MachineError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(QEMU_BINARY);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(MachineError::QemuMissing(QEMU_BINARY))
}

pub struct QemuConfig<'a> {
    pub qemu: &'a Path,
    pub kernel: &'a Path,
    pub initramfs: &'a Path,
    pub console_log: &'a Path,
    /// Each device and the vhost-user socket its backend serves.
    pub devices: &'a [(DeviceConfig, PathBuf)],
    /// Each share's virtio-fs tag and the vhost-user socket its file server serves.
    pub shares: &'a [(String, PathBuf)],
    pub cpus: u32,
    pub memory_mib: u32,
    pub accel: Accel,
    pub cmdline: &'a str,
    /// QEMU's own user-mode network (slirp, with these extra `-netdev
    /// user` options) in place of hutch's: the peer its benchmark compares
    /// against. Same addresses (10.0.2.15, host 10.0.2.2, DNS 10.0.2.3).
    pub slirp: Option<&'a str>,
}

/// The environment variable that asks for [`QemuConfig::slirp`].
pub const SLIRP_VAR: &str = "HUTCH_QEMU_SLIRP";

/// QEMU's arguments for one device served over vhost-user at `socket`.
fn device_args(
    index: usize,
    device: &DeviceConfig,
    socket: &Path,
    slirp: Option<&str>,
) -> Vec<String> {
    let id = format!("{}{index}", device.kind());
    if let (DeviceConfig::Net { mac, .. }, Some(options)) = (device, slirp) {
        let mac = mac.map(|b| format!("{b:02x}")).join(":");
        let extra = if options.is_empty() {
            String::new()
        } else {
            format!(",{options}")
        };
        return vec![
            "-netdev".into(),
            format!("user,id={id},net=10.0.2.0/24,host=10.0.2.2,dns=10.0.2.3{extra}"),
            "-device".into(),
            format!("virtio-net-device,netdev={id},mac={mac}"),
        ];
    }
    let chardev = format!("socket,id={id},path={}", socket.display());
    let mut args = vec!["-chardev".into(), chardev];
    match device {
        DeviceConfig::Vsock { .. } => args.extend([
            "-device".into(),
            format!("vhost-user-vsock-device,chardev={id}"),
        ]),
        DeviceConfig::Block { .. } => args.extend([
            "-device".into(),
            format!("vhost-user-blk,chardev={id},num-queues=1"),
        ]),
        DeviceConfig::Net { mac, .. } => {
            let mac = mac.map(|b| format!("{b:02x}")).join(":");
            args.extend([
                "-netdev".into(),
                format!("vhost-user,id={id},chardev={id}"),
                "-device".into(),
                format!("virtio-net-device,netdev={id},mac={mac}"),
            ])
        }
    }
    args
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
    match cfg.accel {
        Accel::Tcg => cmd.args(["-accel", "tcg", "-cpu", "max"]),
        hypervisor => cmd.args(["-accel", hypervisor.name(), "-cpu", "host"]),
    };
    cmd.args(["-nodefaults", "-no-user-config", "-nographic", "-no-reboot"]);
    // Modern (VERSION_1) virtio-mmio, as our own VMM offers: QEMU's default
    // is the legacy interface.
    cmd.args(["-global", "virtio-mmio.force-legacy=false"]);
    cmd.arg("-serial");
    cmd.arg(format!("file:{}", cfg.console_log.display()));
    cmd.arg("-kernel").arg(cfg.kernel);
    cmd.arg("-initrd").arg(cfg.initramfs);
    // The agent powers off by resetting; -no-reboot turns that into an exit.
    cmd.args(["-append", cfg.cmdline]);
    for (index, (device, socket)) in cfg.devices.iter().enumerate() {
        cmd.args(device_args(index, device, socket, cfg.slirp));
    }
    for (index, (tag, socket)) in cfg.shares.iter().enumerate() {
        let id = format!("fs{index}");
        cmd.arg("-chardev")
            .arg(format!("socket,id={id},path={}", socket.display()));
        // The guest's virtqueue is filled faster than one at a time.
        cmd.arg("-device").arg(format!(
            "vhost-user-fs-device,chardev={id},tag={tag},queue-size=1024"
        ));
    }
    cmd
}
