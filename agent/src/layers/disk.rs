//! The layer disk (/dev/vda): formatted on the machine's first boot with
//! the guest's own mke2fs (the host needs no file-system tools), mounted
//! with online discard so freed blocks become holes in the host's file.

use crate::sys::console::log;
use crate::sys::mount::mount;
use std::io::{self, Read};
use std::path::Path;
use std::time::{Duration, Instant};

const DEVICE: &str = "/dev/vda";
/// Offset of the ext2/3/4 superblock magic (0xEF53, little-endian).
const EXT_MAGIC_OFFSET: usize = 1024 + 56;

/// Formats the disk if it holds no file system yet and mounts it at
/// `target`.
pub fn mount_layer_disk(target: &Path) -> Result<(), String> {
    wait_for_device()?;
    if !has_ext_superblock().map_err(|e| format!("reading {DEVICE}: {e}"))? {
        log("formatting the layer disk (first boot)");
        let status = std::process::Command::new("/sbin/mke2fs")
            // One inode per 64 KiB keeps the inode tables small; no blocks
            // reserved for root: everything here is root's.
            .args(["-q", "-F", "-b", "4096", "-i", "65536", "-m", "0"])
            .args(["-L", "hutch-layers", DEVICE])
            .status()
            .map_err(|e| format!("running mke2fs: {e}"))?;
        if !status.success() {
            return Err(format!("mke2fs {DEVICE} failed ({status})"));
        }
    }
    let target_str = target.to_string_lossy();
    mount(DEVICE, &target_str, "ext4", libc::MS_NOATIME, "discard")
        .map_err(|e| format!("mounting {DEVICE} on {target_str}: {e}"))
}

/// devtmpfs creates the node asynchronously after the driver probes.
fn wait_for_device() -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !Path::new(DEVICE).exists() {
        if Instant::now() > deadline {
            return Err(format!(
                "the machine has no layer disk ({DEVICE} is missing)"
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

fn has_ext_superblock() -> io::Result<bool> {
    let mut head = vec![0u8; EXT_MAGIC_OFFSET + 2];
    std::fs::File::open(DEVICE)?.read_exact(&mut head)?;
    Ok(head[EXT_MAGIC_OFFSET..] == [0x53, 0xef])
}
