//! Mounts and file systems: mount(2), umount2(2), statvfs(2), syncfs(2).

use std::ffi::CString;
use std::io;
use std::path::Path;

fn cstr(s: &str) -> io::Result<CString> {
    CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// mount(2), creating `target` when it does not exist.
pub fn mount(
    source: &str,
    target: &str,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> io::Result<()> {
    if std::fs::symlink_metadata(target).is_err() {
        std::fs::create_dir_all(target)?;
    }
    let (source, target, fstype, data) = (cstr(source)?, cstr(target)?, cstr(fstype)?, cstr(data)?);
    // SAFETY: all pointers are valid NUL-terminated strings for the call's duration.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data.as_ptr() as *const libc::c_void,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// umount2(2) with `flags` (0, or e.g. MNT_DETACH).
pub fn unmount(target: &str, flags: libc::c_int) -> io::Result<()> {
    let target = cstr(target)?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::umount2(target.as_ptr(), flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A read-only bind of `source` at `target`.
pub fn bind_read_only(source: &str, target: &str) -> io::Result<()> {
    mount(source, target, "", libc::MS_BIND, "")?;
    let ro = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
    mount("", target, "", ro, "")
}

/// (size, used) of the file system holding `path`, in bytes.
pub fn disk_space(path: &Path) -> io::Result<(u64, u64)> {
    let p = std::ffi::CString::new(path.to_string_lossy().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: statvfs is plain data; zeroed is valid.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and out-pointer.
    if unsafe { libc::statvfs(p.as_ptr(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    let total = st.f_blocks as u64 * frsize;
    Ok((total, total - st.f_bfree as u64 * frsize))
}

/// Flushes the file system holding `path`, so a stored layer survives a
/// power cut.
pub fn sync_fs(path: &Path) -> io::Result<()> {
    let dir = std::fs::File::open(path)?;
    // SAFETY: syncfs on an fd we own.
    if unsafe { libc::syncfs(std::os::unix::io::AsRawFd::as_raw_fd(&dir)) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
