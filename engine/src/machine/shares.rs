//! Shares: the host directories a machine mounts over virtio-fs, each at
//! the same absolute path inside it, fixed when the machine boots. By
//! default the user's home and the temp directory (Docker Desktop's
//! defaults on a Mac are the same idea), more with `machine start --share`.

use super::error::MachineError;
use std::path::{Path, PathBuf};

/// Machine paths a share must not cover or sit inside: the machine's own
/// system and state live there.
const MACHINE_PATHS: [&str; 11] = [
    "/bin",
    "/dev",
    "/etc",
    "/init",
    "/lib",
    "/proc",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/lib/hutch",
];

/// The shares a machine boots with: the defaults that exist plus `extra`,
/// each resolved to its real path; one inside another is dropped (the
/// outer one serves it).
pub fn plan(extra: &[PathBuf]) -> Result<Vec<PathBuf>, MachineError> {
    let mut shares = Vec::new();
    for dir in default_shares() {
        if let Ok(real) = resolve(&dir) {
            shares.push(real);
        }
    }
    for dir in extra {
        shares.push(resolve(dir)?);
    }
    shares.sort();
    shares.dedup();
    let outermost = shares
        .iter()
        .filter(|s| !shares.iter().any(|o| o != *s && s.starts_with(o)))
        .cloned()
        .collect();
    Ok(outermost)
}

fn default_shares() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        dirs.push(PathBuf::from(home));
    }
    dirs.push(std::env::temp_dir());
    dirs
}

fn resolve(dir: &Path) -> Result<PathBuf, MachineError> {
    let bad = |why: String| MachineError::BadShare {
        dir: dir.to_path_buf(),
        why,
    };
    let real = std::fs::canonicalize(dir).map_err(|e| bad(e.to_string()))?;
    if !real.is_dir() {
        return Err(bad("not a directory".into()));
    }
    if real == Path::new("/") {
        return Err(bad("the whole host file system cannot be shared".into()));
    }
    if let Some(taken) = MACHINE_PATHS
        .iter()
        .map(Path::new)
        .find(|m| real.starts_with(m) || m.starts_with(&real))
    {
        return Err(bad(format!(
            "it would cover the machine's own {}",
            taken.display()
        )));
    }
    Ok(real)
}

/// The share that holds `path` (already resolved), if any.
pub fn containing<'a>(shares: &'a [PathBuf], path: &Path) -> Option<&'a PathBuf> {
    shares.iter().find(|s| path.starts_with(s))
}

/// The virtio-fs tag of the `index`th share.
pub fn tag(index: usize) -> String {
    format!("hutch-share{index}")
}

/// `hutch.shares=TAG=PATH,...` for the kernel command line, which the agent
/// reads to mount them. Bytes outside a safe set are %-escaped, so spaces,
/// commas and quotes in paths survive the kernel's parsing.
pub fn cmdline(shares: &[PathBuf]) -> Option<String> {
    if shares.is_empty() {
        return None;
    }
    let list: Vec<String> = shares
        .iter()
        .enumerate()
        .map(|(i, dir)| format!("{}={}", tag(i), escape(dir)))
        .collect();
    Some(format!("hutch.shares={}", list.join(",")))
}

fn escape(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &b in path.as_os_str().as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'.' | b'_' | b'-' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_shares_collapse_into_the_outer_one() {
        let tmp = std::env::temp_dir().join(format!("hutch-shares-{}", std::process::id()));
        let inner = tmp.join("inner");
        std::fs::create_dir_all(&inner).unwrap();
        let shares = plan(&[inner.clone(), tmp.clone()]).unwrap();
        let real = std::fs::canonicalize(&tmp).unwrap();
        assert!(shares.iter().any(|s| real.starts_with(s)));
        assert!(!shares.contains(&std::fs::canonicalize(&inner).unwrap()));
        std::fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn machine_paths_and_the_root_are_refused() {
        for dir in ["/", "/etc", "/var", "/usr/share"] {
            let err = plan(&[PathBuf::from(dir)]).unwrap_err().to_string();
            assert!(err.contains(dir), "{err}");
        }
        let err = plan(&[PathBuf::from("/no/such/dir")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("/no/such/dir"), "{err}");
    }

    #[test]
    fn the_command_line_escapes_what_the_kernel_would_split() {
        let line = cmdline(&[PathBuf::from("/home/a b"), PathBuf::from("/tmp/x,y\"z")]).unwrap();
        assert_eq!(
            line,
            "hutch.shares=hutch-share0=/home/a%20b,hutch-share1=/tmp/x%2Cy%22z"
        );
        assert_eq!(cmdline(&[]), None);
    }
}
