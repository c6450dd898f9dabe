//! Where hutch keeps things. Everything lives under one directory,
//! `$HUTCH_HOME` (default `$XDG_DATA_HOME/hutch`), so a test can use a
//! temporary one; the guest kernel and initramfs may live elsewhere
//! (`$HUTCH_GUEST_DIR`).

use crate::kind::ErrorKind;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("neither HUTCH_HOME nor HOME is set; set HUTCH_HOME to a writable directory")]
    NotSet,
    #[error("cannot create {}; set HUTCH_HOME to a writable directory", .dir.display())]
    Create { dir: PathBuf, source: io::Error },
    #[error("{} is not writable; set HUTCH_HOME to a writable directory", .dir.display())]
    NotWritable { dir: PathBuf, source: io::Error },
    #[error("invalid machine name {0:?}: use up to 32 letters, digits, '_', '.' or '-', starting with a letter or digit")]
    InvalidMachineName(String),
}

impl HomeError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            HomeError::NotSet | HomeError::InvalidMachineName(_) => ErrorKind::InvalidInput,
            HomeError::Create { .. } | HomeError::NotWritable { .. } => ErrorKind::Internal,
        }
    }
}

/// hutch's directory and the guest files' directory.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
    guest: PathBuf,
}

impl Home {
    /// From the environment: `$HUTCH_HOME`, else `$XDG_DATA_HOME/hutch`,
    /// else `~/.local/share/hutch`; guest files from `$HUTCH_GUEST_DIR`,
    /// else `<home>/guest`.
    pub fn from_env() -> Result<Home, HomeError> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        let root = if let Some(h) = var("HUTCH_HOME") {
            PathBuf::from(h)
        } else if let Some(x) = var("XDG_DATA_HOME") {
            PathBuf::from(x).join("hutch")
        } else if let Some(home) = var("HOME") {
            PathBuf::from(home).join(".local/share/hutch")
        } else {
            return Err(HomeError::NotSet);
        };
        let guest = var("HUTCH_GUEST_DIR").map_or_else(|| root.join("guest"), PathBuf::from);
        Ok(Home { root, guest })
    }

    /// A home at `root` with its guest files in `guest`.
    pub fn at(root: PathBuf, guest: PathBuf) -> Home {
        Home { root, guest }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The guest kernel (`vmlinux`) and initramfs (`initramfs.cpio.gz`).
    pub fn guest_dir(&self) -> &Path {
        &self.guest
    }

    /// The image store.
    pub fn store_dir(&self) -> PathBuf {
        self.root.join("store")
    }

    /// Registry credentials, docker's format.
    pub fn config_json(&self) -> PathBuf {
        self.root.join("config.json")
    }

    pub fn machines_dir(&self) -> PathBuf {
        self.root.join("machines")
    }

    /// Machine `name`'s files. Names become directory names: letters,
    /// digits, `_ . -`, no leading punctuation, so a name can never reach
    /// outside `machines/`.
    pub fn machine(&self, name: &str) -> Result<MachinePaths, HomeError> {
        let valid = name.len() <= 32
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if !valid {
            return Err(HomeError::InvalidMachineName(name.to_string()));
        }
        Ok(MachinePaths {
            name: name.to_string(),
            dir: self.machines_dir().join(name),
        })
    }
}

/// Creates `dir` (and parents) and checks it can be written to.
pub fn ensure_dir(dir: &Path) -> Result<(), HomeError> {
    std::fs::create_dir_all(dir).map_err(|source| HomeError::Create {
        dir: dir.to_path_buf(),
        source,
    })?;
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"").map_err(|source| HomeError::NotWritable {
        dir: dir.to_path_buf(),
        source,
    })?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Replaces `path` with `bytes` all at once (temp file, fsync, rename), so a
/// reader or a crash sees the old or the new content, never half. `mode`
/// applies from creation: credentials are never readable by others.
pub fn replace_file(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?
        .to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> io::Result<()> {
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
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// One machine's files under `machines/<name>/`.
#[derive(Debug, Clone)]
pub struct MachinePaths {
    name: String,
    pub dir: PathBuf,
}

impl MachinePaths {
    pub fn name(&self) -> &str {
        &self.name
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
    /// Where the machine's network listens for its card.
    pub fn network(&self) -> PathBuf {
        self.dir.join("net.sock")
    }
    /// The monitor's control socket.
    pub fn control(&self) -> PathBuf {
        self.dir.join("control.sock")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_names_stay_inside_machines() {
        let home = Home::at("/h".into(), "/g".into());
        assert_eq!(
            home.machine("dev-1").unwrap().dir,
            Path::new("/h/machines/dev-1")
        );
        for bad in ["", "../x", ".hidden", "a/b", &"x".repeat(33)] {
            assert!(home.machine(bad).is_err(), "{bad:?}");
        }
    }
}
