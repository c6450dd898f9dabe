//! Host directories the machine mounts over virtio-fs, each at the same
//! path as on the host (`hutch.shares=TAG=PATH,...` on the kernel command
//! line, paths %-escaped). Containers bind-mount from them.

use crate::sys::console::log;
use crate::sys::mount::mount;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

mod changes;
pub use changes::watch_for;

static MOUNTED: OnceLock<Vec<PathBuf>> = OnceLock::new();

/// Mounts every share the kernel command line names; once, at boot.
pub fn mount_all() {
    let mut mounted = Vec::new();
    for (tag, path) in crate::init::kernel_param("hutch.shares")
        .map(|list| parse(&list))
        .unwrap_or_default()
    {
        // Set-user-ID bits and device nodes on the host mean nothing here.
        let flags = libc::MS_NOSUID | libc::MS_NODEV;
        match mount(&tag, &path.to_string_lossy(), "virtiofs", flags, "") {
            Ok(()) => mounted.push(path),
            Err(e) => log(&format!("mounting share {} ({tag}): {e}", path.display())),
        }
    }
    let _ = MOUNTED.set(mounted);
}

/// The mounted share that holds `path`, if any.
pub fn containing(path: &Path) -> Option<&'static Path> {
    MOUNTED
        .get()?
        .iter()
        .find(|share| path.starts_with(share))
        .map(PathBuf::as_path)
}

fn parse(list: &str) -> Vec<(String, PathBuf)> {
    list.split(',')
        .filter_map(|entry| {
            let (tag, path) = entry.split_once('=')?;
            let path = unescape(path)?;
            path.is_absolute().then(|| (tag.to_string(), path))
        })
        .collect()
}

fn unescape(text: &str) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStringExt;
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(PathBuf::from(std::ffi::OsString::from_vec(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_list_is_read_back() {
        assert_eq!(
            parse("hutch-share0=/home/a%20b,hutch-share1=/tmp/x%2Cy%22z,bad,t=relative"),
            vec![
                ("hutch-share0".into(), PathBuf::from("/home/a b")),
                ("hutch-share1".into(), PathBuf::from("/tmp/x,y\"z")),
            ]
        );
        assert_eq!(parse("t=/a%2"), vec![]);
    }
}
