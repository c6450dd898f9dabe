//! Where hutch keeps things. Everything lives under `$HUTCH_HOME`
//! (default `$XDG_DATA_HOME/hutch`), so a test can use a temporary one.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

pub fn hutch_home() -> Result<PathBuf> {
    if let Some(h) = std::env::var_os("HUTCH_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h));
    }
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|x| !x.is_empty()) {
        return Ok(PathBuf::from(x).join("hutch"));
    }
    match std::env::var_os("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/hutch")),
        None => bail!("neither HUTCH_HOME nor HOME is set; set HUTCH_HOME to a writable directory"),
    }
}

/// Creates `dir` (and parents) or explains what to do about it.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| {
        format!(
            "cannot create {}; set HUTCH_HOME to a writable directory",
            dir.display()
        )
    })?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"").with_context(|| {
        format!(
            "{} is not writable; set HUTCH_HOME to a writable directory",
            dir.display()
        )
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Replaces `path` with `bytes` all at once (temp file, fsync, rename), so a
/// reader or a crash sees the old or the new content, never half. `mode`
/// applies from creation: credentials are never readable by others.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = path.file_name().context("no file name")?.to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        anyhow::Error::new(e).context(format!("writing {}", path.display()))
    })
}

/// The guest kernel and initramfs: `$HUTCH_GUEST_DIR`, else `$HUTCH_HOME/guest`.
pub fn guest_dir() -> Result<PathBuf> {
    match std::env::var_os("HUTCH_GUEST_DIR").filter(|d| !d.is_empty()) {
        Some(d) => Ok(PathBuf::from(d)),
        None => Ok(hutch_home()?.join("guest")),
    }
}

pub struct MachinePaths {
    pub dir: PathBuf,
}

impl MachinePaths {
    /// Names become directory names: letters, digits, `_ . -`, no leading
    /// punctuation, so a name can never reach outside `machines/`.
    pub fn new(name: &str) -> Result<Self> {
        let valid = name.len() <= 32
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !valid {
            bail!("invalid machine name {name:?}: use up to 32 letters, digits, '_', '.' or '-', starting with a letter or digit");
        }
        Ok(MachinePaths {
            dir: hutch_home()?.join("machines").join(name),
        })
    }
    pub fn state(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn lock(&self) -> PathBuf {
        self.dir.join("monitor.lock")
    }
    pub fn last_exit(&self) -> PathBuf {
        self.dir.join("last-exit")
    }
    pub fn console_log(&self) -> PathBuf {
        self.dir.join("console.log")
    }
    pub fn monitor_log(&self) -> PathBuf {
        self.dir.join("monitor.log")
    }
    /// The hybrid vsock socket host clients connect to.
    pub fn vsock(&self) -> PathBuf {
        self.dir.join("vsock.sock")
    }
    /// The vhost-user socket of the machine's device `index`, for QEMU.
    pub fn vhost_socket(&self, index: usize) -> PathBuf {
        self.dir.join(format!("vhost-{index}.sock"))
    }
    /// The machine's persistent, sparse layer-cache disk.
    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk.img")
    }
}
