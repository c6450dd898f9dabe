//! What a share lets the guest see and do, on top of virtiofsd's
//! passthrough file system:
//! - every container user may do what the host user may (Docker Desktop's
//!   model): the guest kernel checks permissions itself on virtio-fs
//!   (`default_permissions`), so the group and other bits it is shown
//!   repeat the owner's (a host 0644 file shows as 0666); the host file
//!   keeps its real bits.
//! - no set-user-ID or set-group-ID file and no device node is made on the
//!   host, whoever the guest claims to be.
//!
//! Everything else is handed to the inner file system unchanged.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use virtiofsd::filesystem::{
    Context, Entry, Extensions, FileSystem, FsOptions, GetxattrReply, ListxattrReply, OpenOptions,
    SerializableFileSystem, SetattrValid, SetxattrFlags, ZeroCopyReader, ZeroCopyWriter,
};
use virtiofsd::fuse::{Attr, SetattrIn};

pub struct HostUserPolicy<F>(pub F);

/// The owner's permission bits given to group and others too.
fn widen(mut attr: Attr) -> Attr {
    let owner = attr.mode & 0o700;
    attr.mode |= (owner >> 3) | (owner >> 6);
    attr
}

/// The mode to store for a `chmod` to `requested` of a file whose real
/// mode is `real`: the guest computed `requested` from the widened mode,
/// so a group or other bit it left as shown keeps its real value, and one
/// it changed is taken (`chmod +x` on a 0644 file gives 0755, not 0777).
fn unwiden(requested: u32, real: u32) -> u32 {
    let shown = widen(Attr {
        mode: real,
        ..Default::default()
    })
    .mode;
    let changed = (requested ^ shown) & 0o077;
    (requested & !0o077) | (real & 0o077 & !changed) | (requested & changed)
}

fn widen_entry(mut entry: Entry) -> Entry {
    entry.attr = widen(entry.attr);
    entry
}

const SET_ID_BITS: u32 = libc::S_ISUID | libc::S_ISGID;

/// A new file's or directory's mode without set-ID bits (a directory keeps
/// set-group-ID: it only passes the group on).
fn without_set_id(mode: u32) -> u32 {
    if mode & libc::S_IFMT == libc::S_IFDIR {
        mode & !libc::S_ISUID
    } else {
        mode & !SET_ID_BITS
    }
}

fn refused() -> io::Error {
    io::Error::from_raw_os_error(libc::EPERM)
}

impl<F: FileSystem> FileSystem for HostUserPolicy<F> {
    type Inode = F::Inode;
    type Handle = F::Handle;
    type DirIter = F::DirIter;

    fn init(&self, capable: FsOptions) -> io::Result<FsOptions> {
        self.0.init(capable)
    }
    fn destroy(&self) {
        self.0.destroy()
    }
    fn lookup(&self, ctx: Context, parent: F::Inode, name: &CStr) -> io::Result<Entry> {
        self.0.lookup(ctx, parent, name).map(widen_entry)
    }
    fn forget(&self, ctx: Context, inode: F::Inode, count: u64) {
        self.0.forget(ctx, inode, count)
    }
    fn batch_forget(&self, ctx: Context, requests: Vec<(F::Inode, u64)>) {
        self.0.batch_forget(ctx, requests)
    }
    fn getattr(
        &self,
        ctx: Context,
        inode: F::Inode,
        handle: Option<F::Handle>,
    ) -> io::Result<(Attr, Duration)> {
        let (attr, timeout) = self.0.getattr(ctx, inode, handle)?;
        Ok((widen(attr), timeout))
    }
    fn setattr(
        &self,
        ctx: Context,
        inode: F::Inode,
        mut attr: SetattrIn,
        handle: Option<F::Handle>,
        valid: SetattrValid,
    ) -> io::Result<(Attr, Duration)> {
        if valid.contains(SetattrValid::MODE) {
            let (id, handle_id) = (inode.into(), handle.map(Into::<u64>::into));
            let (current, _) = self.0.getattr(ctx, id.into(), handle_id.map(Into::into))?;
            attr.mode = without_set_id(unwiden(attr.mode, current.mode));
            let (attr, timeout) =
                self.0
                    .setattr(ctx, id.into(), attr, handle_id.map(Into::into), valid)?;
            return Ok((widen(attr), timeout));
        }
        let (attr, timeout) = self.0.setattr(ctx, inode, attr, handle, valid)?;
        Ok((widen(attr), timeout))
    }
    fn readlink(&self, ctx: Context, inode: F::Inode) -> io::Result<Vec<u8>> {
        self.0.readlink(ctx, inode)
    }
    fn symlink(
        &self,
        ctx: Context,
        linkname: &CStr,
        parent: F::Inode,
        name: &CStr,
        extensions: Extensions,
    ) -> io::Result<Entry> {
        self.0
            .symlink(ctx, linkname, parent, name, extensions)
            .map(widen_entry)
    }
    fn mknod(
        &self,
        ctx: Context,
        inode: F::Inode,
        name: &CStr,
        mode: u32,
        rdev: u32,
        umask: u32,
        extensions: Extensions,
    ) -> io::Result<Entry> {
        // FIFOs, sockets and plain files only.
        if matches!(mode & libc::S_IFMT, libc::S_IFCHR | libc::S_IFBLK) {
            return Err(refused());
        }
        self.0
            .mknod(
                ctx,
                inode,
                name,
                without_set_id(mode),
                rdev,
                umask,
                extensions,
            )
            .map(widen_entry)
    }
    fn mkdir(
        &self,
        ctx: Context,
        parent: F::Inode,
        name: &CStr,
        mode: u32,
        umask: u32,
        extensions: Extensions,
    ) -> io::Result<Entry> {
        let mode = without_set_id(mode | libc::S_IFDIR);
        self.0
            .mkdir(ctx, parent, name, mode & !libc::S_IFMT, umask, extensions)
            .map(widen_entry)
    }
    fn unlink(&self, ctx: Context, parent: F::Inode, name: &CStr) -> io::Result<()> {
        self.0.unlink(ctx, parent, name)
    }
    fn rmdir(&self, ctx: Context, parent: F::Inode, name: &CStr) -> io::Result<()> {
        self.0.rmdir(ctx, parent, name)
    }
    fn rename(
        &self,
        ctx: Context,
        olddir: F::Inode,
        oldname: &CStr,
        newdir: F::Inode,
        newname: &CStr,
        flags: u32,
    ) -> io::Result<()> {
        self.0.rename(ctx, olddir, oldname, newdir, newname, flags)
    }
    fn link(
        &self,
        ctx: Context,
        inode: F::Inode,
        newparent: F::Inode,
        newname: &CStr,
    ) -> io::Result<Entry> {
        self.0.link(ctx, inode, newparent, newname).map(widen_entry)
    }
    fn open(
        &self,
        ctx: Context,
        inode: F::Inode,
        kill_priv: bool,
        flags: u32,
    ) -> io::Result<(Option<F::Handle>, OpenOptions)> {
        self.0.open(ctx, inode, kill_priv, flags)
    }
    fn create(
        &self,
        ctx: Context,
        parent: F::Inode,
        name: &CStr,
        mode: u32,
        kill_priv: bool,
        flags: u32,
        umask: u32,
        extensions: Extensions,
    ) -> io::Result<(Entry, Option<F::Handle>, OpenOptions)> {
        let mode = without_set_id(mode);
        let (entry, handle, options) = self
            .0
            .create(ctx, parent, name, mode, kill_priv, flags, umask, extensions)?;
        Ok((widen_entry(entry), handle, options))
    }
    fn read<W: ZeroCopyWriter>(
        &self,
        ctx: Context,
        inode: F::Inode,
        handle: F::Handle,
        w: W,
        size: u32,
        offset: u64,
        lock_owner: Option<u64>,
        flags: u32,
    ) -> io::Result<usize> {
        self.0
            .read(ctx, inode, handle, w, size, offset, lock_owner, flags)
    }
    fn write<R: ZeroCopyReader>(
        &self,
        ctx: Context,
        inode: F::Inode,
        handle: F::Handle,
        r: R,
        size: u32,
        offset: u64,
        lock_owner: Option<u64>,
        delayed_write: bool,
        kill_priv: bool,
        flags: u32,
    ) -> io::Result<usize> {
        self.0.write(
            ctx,
            inode,
            handle,
            r,
            size,
            offset,
            lock_owner,
            delayed_write,
            kill_priv,
            flags,
        )
    }
    fn flush(
        &self,
        ctx: Context,
        inode: F::Inode,
        handle: F::Handle,
        lock_owner: u64,
    ) -> io::Result<()> {
        self.0.flush(ctx, inode, handle, lock_owner)
    }
    fn fsync(
        &self,
        ctx: Context,
        inode: F::Inode,
        datasync: bool,
        handle: F::Handle,
    ) -> io::Result<()> {
        self.0.fsync(ctx, inode, datasync, handle)
    }
    fn fallocate(
        &self,
        ctx: Context,
        inode: F::Inode,
        handle: F::Handle,
        mode: u32,
        offset: u64,
        length: u64,
    ) -> io::Result<()> {
        self.0.fallocate(ctx, inode, handle, mode, offset, length)
    }
    fn release(
        &self,
        ctx: Context,
        inode: F::Inode,
        flags: u32,
        handle: F::Handle,
        flush: bool,
        flock_release: bool,
        lock_owner: Option<u64>,
    ) -> io::Result<()> {
        self.0
            .release(ctx, inode, flags, handle, flush, flock_release, lock_owner)
    }
    fn statfs(&self, ctx: Context, inode: F::Inode) -> io::Result<libc::statvfs64> {
        self.0.statfs(ctx, inode)
    }
    fn setxattr(
        &self,
        ctx: Context,
        inode: F::Inode,
        name: &CStr,
        value: &[u8],
        flags: u32,
        extra_flags: SetxattrFlags,
    ) -> io::Result<()> {
        self.0.setxattr(ctx, inode, name, value, flags, extra_flags)
    }
    fn getxattr(
        &self,
        ctx: Context,
        inode: F::Inode,
        name: &CStr,
        size: u32,
    ) -> io::Result<GetxattrReply> {
        self.0.getxattr(ctx, inode, name, size)
    }
    fn listxattr(&self, ctx: Context, inode: F::Inode, size: u32) -> io::Result<ListxattrReply> {
        self.0.listxattr(ctx, inode, size)
    }
    fn removexattr(&self, ctx: Context, inode: F::Inode, name: &CStr) -> io::Result<()> {
        self.0.removexattr(ctx, inode, name)
    }
    fn opendir(
        &self,
        ctx: Context,
        inode: F::Inode,
        flags: u32,
    ) -> io::Result<(Option<F::Handle>, OpenOptions)> {
        self.0.opendir(ctx, inode, flags)
    }
    fn readdir(
        &self,
        ctx: Context,
        inode: F::Inode,
        handle: F::Handle,
        size: u32,
        offset: u64,
    ) -> io::Result<F::DirIter> {
        self.0.readdir(ctx, inode, handle, size, offset)
    }
    fn fsyncdir(
        &self,
        ctx: Context,
        inode: F::Inode,
        datasync: bool,
        handle: F::Handle,
    ) -> io::Result<()> {
        self.0.fsyncdir(ctx, inode, datasync, handle)
    }
    fn releasedir(
        &self,
        ctx: Context,
        inode: F::Inode,
        flags: u32,
        handle: F::Handle,
    ) -> io::Result<()> {
        self.0.releasedir(ctx, inode, flags, handle)
    }
    fn access(&self, ctx: Context, inode: F::Inode, mask: u32) -> io::Result<()> {
        self.0.access(ctx, inode, mask)
    }
    fn lseek(
        &self,
        ctx: Context,
        inode: F::Inode,
        handle: F::Handle,
        offset: u64,
        whence: u32,
    ) -> io::Result<u64> {
        self.0.lseek(ctx, inode, handle, offset, whence)
    }
    fn copyfilerange(
        &self,
        ctx: Context,
        inode_in: F::Inode,
        handle_in: F::Handle,
        offset_in: u64,
        inode_out: F::Inode,
        handle_out: F::Handle,
        offset_out: u64,
        len: u64,
        flags: u64,
    ) -> io::Result<usize> {
        self.0.copyfilerange(
            ctx, inode_in, handle_in, offset_in, inode_out, handle_out, offset_out, len, flags,
        )
    }
    fn syncfs(&self, ctx: Context, inode: F::Inode) -> io::Result<()> {
        self.0.syncfs(ctx, inode)
    }
}

impl<F: SerializableFileSystem> SerializableFileSystem for HostUserPolicy<F> {
    fn prepare_serialization(&self, cancel: Arc<AtomicBool>) {
        self.0.prepare_serialization(cancel)
    }
    fn serialize(&self, state_pipe: File) -> io::Result<()> {
        self.0.serialize(state_pipe)
    }
    fn deserialize_and_apply(&self, state_pipe: File) -> io::Result<()> {
        self.0.deserialize_and_apply(state_pipe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_and_others_get_the_owners_bits() {
        let attr = |mode| Attr {
            mode,
            ..Default::default()
        };
        assert_eq!(widen(attr(0o100644)).mode, 0o100666);
        assert_eq!(widen(attr(0o040755)).mode, 0o040777);
        assert_eq!(widen(attr(0o100600)).mode, 0o100666);
    }

    #[test]
    fn a_chmod_changes_only_the_bits_it_changed() {
        // chmod +x, chmod 600, chmod u+s (then stripped), chmod g-w
        assert_eq!(unwiden(0o100777, 0o100644), 0o100755);
        assert_eq!(unwiden(0o100600, 0o100644), 0o100600);
        assert_eq!(unwiden(0o104777, 0o100755), 0o104755);
        assert_eq!(unwiden(0o100646, 0o100664), 0o100644);
    }

    #[test]
    fn set_id_bits_never_reach_the_host() {
        assert_eq!(without_set_id(0o104755), 0o100755);
        assert_eq!(without_set_id(0o102755), 0o100755);
        assert_eq!(without_set_id(0o046775), 0o042775);
    }
}
