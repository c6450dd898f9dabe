//! How deletions look in a layer: in OCI's tar form (`.wh.NAME` files,
//! `.wh..wh..opq` in a directory that hides what is below it) and in
//! overlayfs's directories (a 0/0 character device, the
//! `trusted.overlay.opaque` xattr).

use std::ffi::CString;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// An overlayfs whiteout: this name is deleted from the layers below.
pub fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// An overlayfs opaque directory: nothing of the layers below shows in it.
pub fn is_opaque(dir: &Path) -> bool {
    let (Ok(path), Ok(name)) = (
        CString::new(dir.as_os_str().as_bytes()),
        CString::new(OPAQUE_XATTR),
    ) else {
        return false;
    };
    let mut value = [0u8; 1];
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
    n == 1 && value[0] == b'y'
}
