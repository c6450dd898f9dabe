//! Reading a file's extended attributes (never through a final symlink).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The value of `name` on `path`, if it has one (of at most 4 KiB).
pub fn get(path: &Path, name: &str) -> Option<Vec<u8>> {
    let (path, name) = (
        CString::new(path.as_os_str().as_bytes()).ok()?,
        CString::new(name).ok()?,
    );
    let mut value = vec![0u8; 4096];
    // SAFETY: NUL-terminated path and name; the buffer and its length
    // describe `value`. lgetxattr does not follow a final symlink.
    let n = unsafe {
        libc::lgetxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_mut_ptr() as *mut libc::c_void,
            value.len(),
        )
    };
    if n < 0 {
        return None;
    }
    value.truncate(n as usize);
    Some(value)
}
