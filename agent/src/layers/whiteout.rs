//! How deletions look in a layer: in OCI's tar form (`.wh.NAME` files,
//! `.wh..wh..opq` in a directory that hides what is below it) and in
//! overlayfs's directories (a 0/0 character device, the
//! `trusted.overlay.opaque` xattr).

use std::fs::Metadata;
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
    crate::sys::xattr::get(dir, OPAQUE_XATTR).is_some_and(|v| v == b"y")
}
