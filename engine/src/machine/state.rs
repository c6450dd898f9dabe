//! A machine's record on disk and whether it is running.
//!
//! "Running" means the monitor process holds the flock on `monitor.lock`;
//! the lock dies with the process, so a crash never leaves a machine that
//! looks alive, and a reused pid never fools us.

use super::error::MachineError;
use crate::home::{replace_file, MachinePaths};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::os::unix::io::AsRawFd;

type Result<T> = std::result::Result<T, MachineError>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineState {
    pub name: String,
    pub backend: String,
    pub accel: String,
    /// Why this acceleration was chosen (the KVM probe's verdict).
    pub accel_reason: String,
    pub cpus: u32,
    pub memory_mib: u32,
    pub monitor_pid: u32,
    /// The process running the guest: QEMU, or the monitor itself (native).
    pub vm_pid: u32,
    pub started_at_ms: u64,
    /// Host directories the machine mounts at the same paths (virtio-fs).
    #[serde(default)]
    pub shares: Vec<std::path::PathBuf>,
}

impl MachineState {
    pub fn load(paths: &MachinePaths) -> Option<MachineState> {
        let text = std::fs::read_to_string(paths.state()).ok()?;
        serde_json::from_str(&text).ok()
    }

    pub fn save(&self, paths: &MachinePaths) -> Result<()> {
        let text = serde_json::to_vec_pretty(self).map_err(|e| MachineError::Io {
            what: "saving machine state".into(),
            source: e.into(),
        })?;
        replace_file(&paths.state(), &text, 0o644).map_err(MachineError::io("saving machine state"))
    }
}

/// Takes the monitor lock, or returns None when another monitor holds it.
pub fn try_lock(paths: &MachinePaths) -> Result<Option<File>> {
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(paths.lock())
        .map_err(MachineError::io(format!(
            "opening {}",
            paths.lock().display()
        )))?;
    // SAFETY: flock(2) on an fd we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(Some(file))
    } else {
        Ok(None)
    }
}

pub fn is_running(paths: &MachinePaths) -> bool {
    if !paths.lock().exists() {
        return false;
    }
    matches!(try_lock(paths), Ok(None))
}

/// Why the machine last stopped, as the monitor recorded it.
pub fn last_exit(paths: &MachinePaths) -> Option<String> {
    std::fs::read_to_string(paths.last_exit())
        .ok()
        .map(|s| s.trim().to_string())
}

/// The last lines of the guest console, for error messages (or where the
/// empty console log is, so the message never ends in nothing).
pub fn console_tail(paths: &MachinePaths, lines: usize) -> String {
    let text = std::fs::read_to_string(paths.console_log()).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    if all.is_empty() {
        return format!(
            "(nothing on the console: {})",
            paths.console_log().display()
        );
    }
    all[all.len().saturating_sub(lines)..].join("\n")
}
