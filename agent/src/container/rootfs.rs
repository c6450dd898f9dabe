//! A container's root: overlayfs over the image's cached layers (seen
//! through idmapped mounts with a user namespace of its own) and its
//! private upper layer.

use super::record::storage;
use super::userns::UserNamespace;
use super::Container;
use crate::sys::mount::{mount, unmount};
use protocol::{AgentError, Digest, ErrorKind};
use std::path::Path;

impl Container {
    /// The overlay root: the image's layers (seen through the user
    /// namespace's mappings when it has one) under the private upper.
    pub(super) fn mount_root(
        &self,
        diff_ids: &[Digest],
        userns: Option<&UserNamespace>,
    ) -> Result<(), AgentError> {
        let mut lower = self.cache.lower_dirs(diff_ids)?;
        for sub in ["upper", "work", "rootfs"] {
            std::fs::create_dir_all(self.dir.join(sub))
                .map_err(|e| storage("creating the container's directories", e))?;
        }
        if let Some(userns) = userns {
            lower = self.shift_layers(&lower, userns)?;
        }
        // No redirects, metadata-only copies or index: the upper layer
        // stays a plain diff of the image (whole files, renamed
        // directories copied), which `diff` and `commit` read.
        let options = format!(
            "lowerdir={},upperdir={},workdir={},redirect_dir=off,metacopy=off,index=off",
            lower.join(":"),
            self.dir.join("upper").display(),
            self.dir.join("work").display()
        );
        mount(
            "overlay",
            &self.rootfs().to_string_lossy(),
            "overlay",
            0,
            &options,
        )
        .map_err(|e| {
            AgentError::new(
                ErrorKind::Storage,
                format!("assembling the container's root: {e}"),
            )
        })
    }

    /// Idmapped views of the layers under `lower/`, and the upper layer's
    /// root owned by the container's root, so that `/` is its own.
    fn shift_layers(
        &self,
        layers: &[String],
        userns: &UserNamespace,
    ) -> Result<Vec<String>, AgentError> {
        let mut shifted = Vec::new();
        for (i, layer) in layers.iter().enumerate() {
            let target = self.dir.join("lower").join(i.to_string());
            std::fs::create_dir_all(&target)
                .and_then(|()| userns.idmapped_bind(Path::new(layer), &target))
                .map_err(|e| {
                    AgentError::new(
                        ErrorKind::Storage,
                        format!("mapping the image's layers into the user namespace: {e}"),
                    )
                })?;
            shifted.push(target.to_string_lossy().into_owned());
        }
        let (uid, gid) = userns.root_in_machine();
        std::os::unix::fs::chown(self.dir.join("upper"), Some(uid), Some(gid))
            .map_err(|e| storage("handing the upper layer to the container's root", e))?;
        Ok(shifted)
    }

    /// Undoes `mount_root`; harmless when parts are not mounted.
    pub(super) fn unmount_root(&self) {
        let _ = unmount(&self.rootfs().to_string_lossy(), libc::MNT_DETACH);
        for entry in std::fs::read_dir(self.dir.join("lower"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let _ = unmount(&entry.path().to_string_lossy(), libc::MNT_DETACH);
        }
    }
}
